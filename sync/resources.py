"""Files contactsync ships beside its code: the migrations, the mapping files, the vendor files
and the sample sync.toml. In a checkout they are the repository's top-level folders; an
installed wheel carries them under sync/_data (see pyproject.toml). Code asks here, never
builds such a path itself."""

from __future__ import annotations

from pathlib import Path

_PACKAGED = Path(__file__).resolve().parent / "_data"
_CHECKOUT = Path(__file__).resolve().parent.parent


def shipped(name: str) -> Path:
    """The shipped file or folder `name`, like "migrations" or "mappings/oracle_b2b.toml"."""
    for root in (_PACKAGED, _CHECKOUT):
        path = root / name
        if path.exists():
            return path
    return _PACKAGED / name
