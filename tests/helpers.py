"""Shared test helpers: settings from plain dicts, repository paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sync.config import Settings, SystemSettings, build_settings

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO.parent / "shared" / "seeds"
SPECS = REPO.parent / "shared" / "specs"


def settings_from(
    raw: dict[str, Any], root: Path = REPO, env: dict[str, str] | None = None
) -> Settings:
    return build_settings(raw, "(test config)", root, env or {})


def system_settings(
    name: str, table: dict[str, Any], env: dict[str, str] | None = None, root: Path = REPO
) -> SystemSettings:
    return settings_from({"systems": {name: table}}, root, env).systems[name]
