"""Shared test helpers: settings from plain dicts, repository paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sync.config import Settings, SystemSettings, build_settings

REPO = Path(__file__).resolve().parent.parent
# copies of the vendor documents (tests/fixtures/seeds/README.md names each)
FIXTURES = REPO / "tests" / "fixtures"
SEEDS = FIXTURES / "seeds"
SPECS = FIXTURES / "specs"


def settings_from(
    raw: dict[str, Any], root: Path = REPO, env: dict[str, str] | None = None
) -> Settings:
    return build_settings(raw, "(test config)", root, env or {})


def system_settings(
    name: str, table: dict[str, Any], env: dict[str, str] | None = None, root: Path = REPO
) -> SystemSettings:
    return settings_from({"systems": {name: table}}, root, env).systems[name]


TWO_CSV = """
[systems.crm]
connector = "csv"
path = "crm.csv"
[systems.desk]
connector = "csv"
path = "desk.csv"
"""


def two_csv(folder: Path, crm: str, desk: str, head: str = "") -> Path:
    """A sync.toml over crm.csv and desk.csv in `folder`, holding these rows; its path.
    `head` goes before the systems ([state], [sync] tables)."""
    (folder / "sync.toml").write_text(head + TWO_CSV)
    (folder / "crm.csv").write_text(crm)
    (folder / "desk.csv").write_text(desk)
    return folder / "sync.toml"
