"""What `check` (and every command, as the configuration loads) says about a CSV system:
its path, and the columns its mapping names against the file's header."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sync.connectors import csvtable
from sync.errors import SystemFailure

if TYPE_CHECKING:
    from sync.config import SystemSettings


def problems(settings: SystemSettings) -> list[str]:
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
        if not path.exists():
            return out  # the first run creates it (a note of `check` says so)
        header = csvtable.header_of(path)
    except SystemFailure as exc:
        return [*out, f"path = {text!r}: {exc}"]
    except (OSError, ValueError) as exc:
        return [*out, f"path = {text!r}: {_why(exc)}"]
    if settings.spec.mapping and header:
        wanted = {column(mapping.id_path): "the ID"}
        wanted |= {column(fm.path): name for name, fm in mapping.fields.items() if fm.reads}
        for col, what in wanted.items():
            if col and col not in header:
                out.append(
                    f"{path.name} has no column {col!r} ({what} in {settings.spec.mapping}); "
                    f"its header: {', '.join(header)}"
                    + (" (add the column empty: contactsync fills it)" if what == "the ID" else "")
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
