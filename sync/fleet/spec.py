"""fleet.toml's keys, as pydantic models (settings.py loads the file and its configurations)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator

from sync.config_spec import checked_duration, checked_listen, database_url, parse_duration
from sync.validation import Strict

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class QueueSpec(Strict):
    """The queue's database. Its password comes from the environment or a file, never here."""

    url: str
    password_env: str | None = None
    password_file: str | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if database_url(v, "postgresql://host/db").get_backend_name() != "postgresql":
            raise ValueError("the queue needs PostgreSQL (postgresql://user@host:port/db)")
        return v


class WorkerSpec(Strict):
    concurrency: int = Field(4, ge=1, le=256)
    name: str | None = None
    listen: str | None = None
    tick: str = "5s"
    heartbeat: str = "10s"
    stalled_after: str = "30s"
    max_backoff: str = "1h"
    unhealthy_after: int = Field(3, ge=1)

    _durations = field_validator("heartbeat", "stalled_after", "max_backoff")(checked_duration)
    _listen = field_validator("listen")(checked_listen)

    @field_validator("tick")
    @classmethod
    def _tick(cls, v: str) -> str:
        seconds = parse_duration(v)
        if seconds != int(seconds) or not 1 <= seconds <= 60 or 60 % int(seconds):
            raise ValueError("tick must be a whole number of seconds that divides 60 (1s..60s)")
        return v


class BudgetSpec(Strict):
    """One credential's limit, shared by every worker: the systems whose base_url starts with
    `base_url` (in the configurations `configs` names, all by default) draw from it."""

    base_url: str = Field(min_length=1)
    configs: list[str] = ["*"]
    rate: float = Field(gt=0)
    burst: float = Field(1.0, ge=1)
    daily_quota: int | None = Field(None, ge=1)


class ConfigsSpec(Strict):
    paths: list[str] = Field(min_length=1)


class FleetSpec(Strict):
    queue: QueueSpec
    configs: ConfigsSpec
    worker: WorkerSpec = WorkerSpec()
    defaults: dict[str, dict[str, Any]] = {}
    budgets: dict[str, BudgetSpec] = {}

    @field_validator("defaults")
    @classmethod
    def _defaults(cls, v: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for table in v:
            if table not in ("sync", "daemon", "review"):
                raise ValueError(f"[defaults.{table}]: only sync, daemon and review tables")
        return v
