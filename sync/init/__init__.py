"""`contactsync init`: a commented sync.toml for the chosen connectors, the shipped mapping
files it refers to copied beside it, and the environment variables to set. Never overwrites
a file: one that exists already is a usage error naming it, and nothing is written."""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

from rich.console import Console

from sync.errors import UsageError
from sync.resources import shipped

TEMPLATES = Path(__file__).resolve().parent / "templates"
# the shipped mapping file of each vendor (CSV and memory systems use canonical names)
MAPPINGS = {
    "oracle_b2b": "oracle_b2b.toml",
    "serviceops": "serviceops.toml",
    "superoffice": "superoffice_person.toml",
    "lightening": "lightening.toml",
    "onecontact": "onecontact.toml",
    "hubspot": "hubspot.toml",
    "carddav": "vcard.toml",
}
_ENV = re.compile(r'^\w+_env = "(\w+)"', re.MULTILINE)


def names(connectors: list[str]) -> list[tuple[str, str]]:
    """(system name, connector): a connector's name, numbered when it comes again."""
    seen: Counter[str] = Counter()
    out = []
    for connector in connectors:
        seen[connector] += 1
        n = seen[connector]
        out.append((connector if n == 1 else f"{connector}{n}", connector))
    return out


def render(connectors: list[str]) -> tuple[str, dict[str, str]]:
    """The sync.toml text and {mapping path in it: shipped mapping name} it refers to."""
    systems = names(connectors)
    listed = ", ".join(f'"{name}"' for name, _ in systems)
    text = (TEMPLATES / "head.toml").read_text(encoding="utf-8").replace("{names}", listed)
    mappings: dict[str, str] = {}
    for name, connector in systems:
        template = TEMPLATES / f"{connector}.toml"
        if not template.is_file():
            template = TEMPLATES / "generic.toml"
        mapping = ""
        if connector in MAPPINGS and shipped(f"mappings/{MAPPINGS[connector]}").is_file():
            mapping = f"mappings/{MAPPINGS[connector]}"
            mappings[mapping] = MAPPINGS[connector]
        part = template.read_text(encoding="utf-8")
        for key, value in {
            "{name}": name,
            "{NAME}": name.upper(),
            "{connector}": connector,
            "{mapping}": mapping,
        }.items():
            part = part.replace(key, value)
        text += part
    return text, mappings


def main(target: Path, connectors: list[str], console: Console) -> int:
    text, mappings = render(connectors)
    files = {target: text}
    for relative, name in mappings.items():
        files[target.parent / relative] = shipped(f"mappings/{name}").read_text(encoding="utf-8")
    existing = [str(p) for p in files if p.exists() or p.is_symlink()]
    if existing:
        raise UsageError(
            f"{', '.join(existing)} exists already; init never overwrites a file "
            "(move it away or give --config ANOTHER.toml)"
        )
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "x", encoding="utf-8") as fh:  # "x": never over a file made meanwhile
            fh.write(content)
        console.print(f"wrote {path}")
    variables = sorted(set(_ENV.findall(text)) - set(os.environ))
    if variables:
        console.print("set these environment variables (or use *_file keys) before a run:")
        for var in variables:
            console.print(f"  export {var}=...")
    console.print(
        f"then: edit {target} (base_url, ...), `contactsync --config {target} check --connect`, "
        f"and `contactsync --config {target} once --dry-run`"
    )
    return 0
