"""What `check` says about a CSV system: its path as the configuration loads (every
command), and the file's header against the columns its mapping names (`check`, and each
listing)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sync.connectors import csvtable
from sync.errors import SystemFailure

if TYPE_CHECKING:
    from sync.config import SystemSettings


def problems(settings: SystemSettings) -> list[str]:
    """What is wrong with the configuration itself (exit 2, before anything runs)."""
    from sync.connectors.csvfile import column

    mapping = settings.mapping
    out = []
    if column(mapping.id_path) is None:
        out.append("mapping id: a CSV file's ID is a plain column name (no dots or brackets)")
    for name, fm in mapping.fields.items():
        if column(fm.path) is None:
            out.append(
                f"mapping fields.{name}.path = {fm.path_text!r}: a CSV column is a plain name "
                "(no dots or brackets)"
            )
    text = settings.options.path  # type: ignore[attr-defined]
    if "\x00" in text:
        return [*out, "path holds a NUL character"]
    path = settings.resolve(text)
    try:
        if path.is_dir():
            return [*out, f"path = {text!r} is a folder; name the CSV file in it"]
        if not path.parent.is_dir():
            return [*out, f"path = {text!r}: the folder {path.parent} does not exist"]
        path.exists()  # a name too long for the file system says so here
    except (OSError, ValueError) as exc:
        return [*out, f"path = {text!r}: {_why(exc)}"]
    return out


def inspect(settings: SystemSettings) -> list[str]:
    """What is wrong with the file as it is now: `check` reports it (exit 1), and a run
    fails this system's listing for it while the other systems go on."""
    path: Path = settings.resolve(settings.options.path)  # type: ignore[attr-defined]
    try:
        if not path.is_file():
            return []
        header = csvtable.header_of(path)
    except SystemFailure as exc:
        return [str(exc)]
    except (OSError, ValueError) as exc:
        return [f"{path}: {_why(exc)}"]
    return missing_columns(settings, path, header)


def missing_columns(settings: SystemSettings, path: Path, header: list[str]) -> list[str]:
    """The columns a mapping file names that the header lacks (none without a mapping file,
    whose canonical columns are all optional, or for an empty file)."""
    from sync.connectors.csvfile import column

    if not settings.spec.mapping or not header:
        return []
    mapping = settings.mapping
    wanted = {column(mapping.id_path): "the ID"}
    wanted |= {column(fm.path): name for name, fm in mapping.fields.items() if fm.reads}
    out = []
    for col, what in wanted.items():
        if col and col not in header:
            fix = " (add the column empty: contactsync fills it)" if what == "the ID" else ""
            out.append(
                f"{path.name} has no column {col!r} ({what} in {settings.spec.mapping}); "
                f"its header: {', '.join(header)}{fix}"
            )
    return out


def notes(settings: SystemSettings) -> list[str]:
    path: Path = settings.resolve(settings.options.path)  # type: ignore[attr-defined]
    try:
        missing = path.parent.is_dir() and not path.exists()
    except (OSError, ValueError):
        return []
    if not missing:
        return []
    return [
        f"{path.name} does not exist yet: the first run creates it with a header; once "
        "contactsync has listed it, a missing file is an outage of this system"
    ]


def _why(exc: OSError | ValueError) -> str:
    return getattr(exc, "strerror", None) or str(exc)
