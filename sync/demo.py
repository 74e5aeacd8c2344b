"""`contactsync demo`: the six vendor emulators on loopback, sample people, two full runs.

The people overlap across systems, one of them was edited differently in two systems (a
conflict), one exists twice in Lightening (a duplicate), and one has a name too long for
Lightening (a failed record with its reason). The second run writes nothing.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import tomllib
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from sync.config import load_config
from sync.engine import Engine
from sync.report import print_run
from sync.resources import shipped
from sync.sandbox.serve import VENDORS, Served, emulator_for, serve
from sync.store.repo import Store

LONG_NAME = "Maximilian-Alexander Konstantin Bartholomew-Featherstonehaugh Wolfeschlegel"

PEOPLE: dict[str, list[dict[str, Any]]] = {
    "oracle_b2b": [
        {
            "email": "craig.daniels@example.com",
            "first_name": "Craig",
            "last_name": "Daniels",
            "phone": "+1 720 340 1313",
            "city": "Denver",
            "street": "110 Main St",
            "postal_code": "80207",
            "region": "CO",
            "country": "US",
            "title": "Driver",
        },
        {
            "email": "ada@example.org",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "phone": "+44 20 7946 0000",
            "title": "Countess",
        },
    ],
    "serviceops": [
        {
            "email": "grace@example.org",
            "first_name": "Grace",
            "last_name": "Hopper",
            "phone": "+1 202 555 0100",
            "department": "Navy",
        },
        {
            "email": "ada@example.org",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "phone": "+44 20 7946 0000",
            "department": "Engines",
        },
    ],
    "superoffice": [
        {
            "email": "alan@example.org",
            "first_name": "Alan",
            "last_name": "Turing",
            "phone": "+44 161 496 0000",
            "title": "Analyst",
        },
        {
            "email": "ada@example.org",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "phone": "+44 20 7946 0000",
            "title": "Duchess",
        },
        {
            "email": "max@example.org",
            "first_name": LONG_NAME.split()[0],
            "last_name": " ".join(LONG_NAME.split()[1:]),
            "phone": "+49 30 901820",
        },
    ],
    "lightening": [
        {
            "email": "linus@example.org",
            "first_name": "Linus",
            "last_name": "Torvalds",
            "phone": "+358 9 1234567",
            "department": "Kernel",
        },
        {"email": "dup@example.org", "first_name": "Dee", "last_name": "Plicate"},
        {"email": "dup@example.org", "first_name": "Dee", "last_name": "Plicate-Again"},
    ],
    "onecontact": [],
    "hubspot": [
        {
            "email": "katherine@example.org",
            "first_name": "Katherine",
            "last_name": "Johnson",
            "phone": "+1 757 555 0142",
            "company": "NASA Langley",
        },
    ],
}


def start_all() -> dict[str, Served]:
    return {vendor: serve(vendor, emulator_for(vendor)) for vendor in VENDORS}


def write_config(
    folder: Path,
    served: dict[str, Served],
    *,
    state_url: str | None = None,
    sections: dict[str, dict[str, Any]] | None = None,
) -> Path:
    """The shipped sync.toml with these emulators' ports; `sections` override its tables."""
    folder = folder.resolve()  # paths in the file must not depend on the reader's folder
    sample = tomllib.loads(shipped("sync.toml").read_text())
    tables = {"sync": sample.get("sync", {}), "review": sample.get("review", {})}
    for name, values in (sections or {}).items():
        tables[name] = {**tables.get(name, {}), **values}
    url = state_url or f"sqlite:///{folder / 'state.db'}"
    lines = [f"[state]\nurl = {toml_value(url)}\n"]
    for name, values in tables.items():
        lines += [f"[{name}]", *[f"{k} = {toml_value(v)}" for k, v in values.items()], ""]
    for vendor, s in served.items():
        table = s.emulator.system_table(s.url)  # type: ignore[attr-defined]
        table["mapping"] = str(shipped(table["mapping"]))
        if isinstance(table.get("auth"), dict):
            table["auth"] = _credential_files(folder, table["auth"], s.emulator)
        # secrets that are options (SuperOffice's app_token_env) go to files the same way
        table = _credential_files(folder, table, s.emulator)
        lines.append(f"[systems.{vendor}]")
        nested = {k: v for k, v in table.items() if isinstance(v, dict)}
        lines += [f"{k} = {toml_value(v)}" for k, v in table.items() if k not in nested]
        for key, sub in nested.items():
            lines.append(f"[systems.{vendor}.{key}]")
            lines += [f"{k} = {toml_value(v)}" for k, v in sub.items()]
        lines.append("")
    path = folder / "sync.toml"
    path.write_text("\n".join(lines))
    return path


def _credential_files(folder: Path, auth: dict[str, Any], emulator: Any) -> dict[str, Any]:
    """The sandbox credentials as owner-only files beside the demo's configuration, so that
    `contactsync --config <demo>/sync.toml once` works from any shell, without exports."""
    values = getattr(emulator, "DEFAULT_ENV", {})
    out = {}
    for key, value in auth.items():
        if key.endswith("_env") and isinstance(value, str) and value in values:
            path = folder / "secrets" / value
            path.parent.mkdir(mode=0o700, exist_ok=True)
            fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(values[value])
            out[key.removesuffix("_env") + "_file"] = str(path)
        else:
            out[key] = value
    return out


def toml_value(value: Any) -> str:
    """A TOML value of a plain one (bool, number, list, else a string); also for tests and
    the benchmark's configurations."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def main(folder: Path, *, runs: int = 2, console: Console | None = None, keep: bool = False) -> int:
    console = console or Console()
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    served = start_all()
    try:
        for vendor, people in PEOPLE.items():
            for person in people:
                served[vendor].emulator.seed_person(person)
            env = getattr(served[vendor].emulator, "DEFAULT_ENV", {})
            os.environ.update(env)
        config = write_config(folder, served)
        console.print(f"emulators on 127.0.0.1; configuration in {config}")
        settings = load_config(config)
        store = Store(settings.state_url)
        code = 0  # the demo's failed records are on purpose: it succeeded if its runs ran
        for i in range(runs):
            console.rule(f"run {i + 1}")
            report = asyncio.run(Engine(settings, store).run())
            print_run(report, console)
            if report.status not in ("ok", "partial"):
                code = 1
        store.dispose()
        table = Table(title="what each system holds now")
        table.add_column("system")
        table.add_column("contacts", justify="right")
        table.add_column("emails")
        for vendor, s in served.items():
            people = s.emulator.people()
            emails = sorted({str(p.get("email") or p.get("phone")) for p in people})
            table.add_row(vendor, str(len(people)), ", ".join(emails))
        console.print(table)
        console.print(f"see the conflict: contactsync --config {config} conflicts list")
        if keep:
            _keep_serving(config, console)
        return code
    finally:
        for s in served.values():
            s.stop()


def _keep_serving(config: Path, console: Console) -> None:
    """`demo --keep`: the emulators stay up, so the review page and `once` can be tried."""
    console.print(
        "the emulators keep running until Ctrl-C; in another shell:\n"
        "  export CONTACTSYNC_REVIEW_TOKEN=<a token of your choice>\n"
        f"  contactsync --config {config} serve      # then open http://127.0.0.1:8470/\n"
        f"  contactsync --config {config} once       # pushes what you resolved"
    )
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
