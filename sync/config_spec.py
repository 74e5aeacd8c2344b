"""The schema of sync.toml: one pydantic model per table, types and ranges only. What needs
more than one table (connectors, mapping files, credentials) is checked in sync/config.py."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sync.auth_kinds import KINDS as AUTH_KINDS
from sync.validation import Strict

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

DEFAULT_STATE_URL = "sqlite:///.contactsync/state.db"
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$")


def parse_duration(text: str | float | int) -> float:
    """'5m' -> 300.0 seconds."""
    if isinstance(text, int | float):
        return float(text)
    m = _DURATION.match(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not a duration like 30s, 5m, 1h")
    scale = {"ms": 0.001, "s": 1, None: 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    seconds = float(m.group(1)) * scale
    if not seconds < 10**9:  # about 30 years; more overflows the scheduler's clock
        raise ValueError(f"{text!r} is longer than any schedule needs")
    return seconds


def parse_listen(text: str) -> tuple[str, int]:
    """'127.0.0.1:9464' -> ('127.0.0.1', 9464)."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r}: expected HOST:PORT, like 127.0.0.1:9464")
    return host.strip("[]"), int(port)


def checked_duration(v: str) -> str:
    """A field validator: a duration parse_duration reads."""
    parse_duration(v)
    return v


def checked_listen(v: str | None) -> str | None:
    """A field validator: HOST:PORT, when given."""
    if v is not None:
        parse_listen(v)
    return v


def database_url(v: str, like: str) -> URL:
    """`v` as SQLAlchemy reads it; ValueError when it is no URL (`like`: an example) or when
    it holds a password, which belongs in password_env or password_file (never repeated)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(v)
    except ArgumentError:
        raise ValueError(f"{v!r} is not a database URL SQLAlchemy knows, like {like}") from None
    if url.password:
        raise ValueError("holds a password: give it with password_env or password_file instead")
    return url


class StateSpec(Strict):
    """The state database; its password by reference (merged into the URL at connect time)."""

    url: str = DEFAULT_STATE_URL
    password_env: str | None = None
    password_file: str | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        from sqlalchemy.exc import NoSuchModuleError

        try:
            database_url(v, DEFAULT_STATE_URL).get_dialect()
        except NoSuchModuleError:
            raise ValueError(
                f"{v!r} is not a database URL SQLAlchemy knows, like {DEFAULT_STATE_URL}"
            ) from None
        return v


class SyncSpec(Strict):
    conflict_policy: Literal["manual", "newest", "priority"] = "manual"
    priority: list[str] = []
    max_delete_fraction: float = Field(0.2, ge=0, le=1)
    phone_region: str | None = None
    interval: str = "5m"
    full_scan_interval: str = "1h"

    _durations = field_validator("interval", "full_scan_interval")(checked_duration)


class DaemonSpec(Strict):
    listen: str | None = None
    unhealthy_after: int = Field(3, ge=1)
    lease_ttl: str = "60s"
    name: str | None = None

    _listen = field_validator("listen")(checked_listen)

    @field_validator("lease_ttl")
    @classmethod
    def _duration(cls, v: str) -> str:
        if parse_duration(v) < 1:
            raise ValueError("lease_ttl must be at least 1s")
        return v


class ReviewSpec(Strict):
    token_env: str | None = None
    listen: str = "127.0.0.1:8470"

    _listen = field_validator("listen")(checked_listen)


class AuthSpec(Strict):
    """Credentials by reference: `<name>_env` names a variable, `<name>_file` a file. The
    kinds and what each needs are sync/auth.py's registry."""

    kind: str
    username_env: str | None = None
    username_file: str | None = None
    password_env: str | None = None
    password_file: str | None = None
    token_env: str | None = None
    token_file: str | None = None
    client_id_env: str | None = None
    client_id_file: str | None = None
    client_secret_env: str | None = None
    client_secret_file: str | None = None
    key_env: str | None = None
    key_file: str | None = None
    token_url: str | None = None
    header: str | None = None
    param: str | None = None
    scope: str | None = None

    @field_validator("kind")
    @classmethod
    def _kind(cls, v: str) -> str:
        if v not in AUTH_KINDS:
            raise ValueError(f"unknown auth kind {v!r} (valid: {', '.join(AUTH_KINDS)})")
        return v


AUTH_NEEDS: dict[str, tuple[str, ...]] = {name: k.needs for name, k in AUTH_KINDS.items()}


class SystemSpec(BaseModel):
    """Keys common to every system; the connector's own options are checked by its model."""

    model_config = ConfigDict(extra="allow", frozen=True)
    connector: str
    mapping: str | None = None
    deletes: Literal["propagate", "ignore"] = "propagate"
    base_url: str | None = None
    auth: AuthSpec = AuthSpec(kind="none")
    timeout: float = Field(30.0, gt=0, le=3600)  # seconds; sockets refuse much more
    retries: int = Field(4, ge=0, le=10)
    backoff: float = Field(0.5, ge=0, le=60)
    rate_limit: float | None = Field(None, gt=0)
    concurrency: int = Field(4, ge=1, le=256)
    verify_tls: bool = True
    ca_bundle: str | None = None
    enabled: bool = True


class ConfigSpec(Strict):
    state: StateSpec = StateSpec()
    sync: SyncSpec = SyncSpec()
    daemon: DaemonSpec = DaemonSpec()
    review: ReviewSpec = ReviewSpec()
    systems: dict[str, SystemSpec] = {}
