"""sync.toml -> validated, frozen settings. Every problem is reported at once, with file and key."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from sync.connectors import connector_class, known_connectors
from sync.contact import Schema
from sync.errors import ConfigError, Problem
from sync.mapping import Mapping, identity_mapping, load_mapping
from sync.validation import loc_text, problems_from

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
    return float(m.group(1)) * scale


def parse_listen(text: str) -> tuple[str, int]:
    """'127.0.0.1:9464' -> ('127.0.0.1', 9464)."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r}: expected HOST:PORT, like 127.0.0.1:9464")
    return host.strip("[]"), int(port)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StateSpec(_Strict):
    url: str = DEFAULT_STATE_URL

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        try:
            make_url(v).get_dialect()
        except (ArgumentError, NoSuchModuleError):
            raise ValueError(
                f"{v!r} is not a database URL SQLAlchemy knows, like {DEFAULT_STATE_URL}"
            ) from None
        return v


class SyncSpec(_Strict):
    conflict_policy: Literal["manual", "newest", "priority"] = "manual"
    priority: list[str] = []
    max_delete_fraction: float = Field(0.2, ge=0, le=1)
    phone_region: str | None = None
    interval: str = "5m"
    full_scan_interval: str = "1h"

    @field_validator("interval", "full_scan_interval")
    @classmethod
    def _duration(cls, v: str) -> str:
        parse_duration(v)
        return v


class DaemonSpec(_Strict):
    listen: str | None = None
    unhealthy_after: int = Field(3, ge=1)
    lease_ttl: str = "60s"
    name: str | None = None

    @field_validator("lease_ttl")
    @classmethod
    def _duration(cls, v: str) -> str:
        if parse_duration(v) < 1:
            raise ValueError("lease_ttl must be at least 1s")
        return v

    @field_validator("listen")
    @classmethod
    def _listen(cls, v: str | None) -> str | None:
        if v is not None:
            parse_listen(v)
        return v


class ReviewSpec(_Strict):
    token_env: str | None = None
    listen: str = "127.0.0.1:8470"

    @field_validator("listen")
    @classmethod
    def _listen(cls, v: str) -> str:
        parse_listen(v)
        return v


class AuthSpec(_Strict):
    """Credentials by reference: `<name>_env` names a variable, `<name>_file` a file."""

    kind: Literal["none", "basic", "bearer", "oauth_password", "soticket"]
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
    token_url: str | None = None


AUTH_NEEDS: dict[str, tuple[str, ...]] = {
    "none": (),
    "basic": ("username", "password"),
    "bearer": ("token",),
    "soticket": ("token",),
    "oauth_password": ("client_id", "client_secret", "username", "password"),
}


class SystemSpec(BaseModel):
    """Keys common to every system; the connector's own options are checked by its model."""

    model_config = ConfigDict(extra="allow", frozen=True)
    connector: str
    mapping: str | None = None
    deletes: Literal["propagate", "ignore"] = "propagate"
    base_url: str | None = None
    auth: AuthSpec = AuthSpec(kind="none")
    timeout: float = Field(30.0, gt=0)
    retries: int = Field(4, ge=0, le=10)
    backoff: float = Field(0.5, ge=0, le=60)
    rate_limit: float | None = Field(None, gt=0)
    concurrency: int = Field(4, ge=1, le=256)
    verify_tls: bool = True
    ca_bundle: str | None = None
    enabled: bool = True


class ConfigSpec(_Strict):
    state: StateSpec = StateSpec()
    sync: SyncSpec = SyncSpec()
    daemon: DaemonSpec = DaemonSpec()
    review: ReviewSpec = ReviewSpec()
    systems: dict[str, SystemSpec] = {}


@dataclass(frozen=True)
class Credentials:
    kind: str
    values: dict[str, SecretStr] = field(default_factory=dict)
    token_url: str | None = None

    def get(self, name: str) -> str:
        return self.values[name].get_secret_value()


@dataclass(frozen=True)
class SystemSettings:
    name: str
    spec: SystemSpec
    mapping: Mapping
    options: BaseModel
    credentials: Credentials
    root: Path

    @property
    def connector(self) -> str:
        return self.spec.connector

    def resolve(self, path: str) -> Path:
        return _under(self.root, path)


@dataclass(frozen=True)
class Settings:
    path: Path | None
    root: Path
    state_url: str
    sync: SyncSpec
    daemon: DaemonSpec
    review: ReviewSpec
    systems: dict[str, SystemSettings]
    schema: Schema

    @property
    def interval(self) -> float:
        return parse_duration(self.sync.interval)

    @property
    def full_scan_interval(self) -> float:
        return parse_duration(self.sync.full_scan_interval)

    @property
    def lease_ttl(self) -> float:
        return parse_duration(self.daemon.lease_ttl)


def find_config(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get("CONTACTSYNC_CONFIG")
    return Path(env) if env else Path("sync.toml")


def load_config(path: Path, env: dict[str, str] | None = None) -> Settings:
    where = str(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([Problem(where, "configuration file not found")]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(where, f"not valid TOML: {exc}")]) from None
    return build_settings(raw, where, path.resolve().parent, env)


def build_settings(
    raw: dict[str, Any], where: str, root: Path, env: dict[str, str] | None = None
) -> Settings:
    env = dict(os.environ) if env is None else env
    try:
        spec = ConfigSpec.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(problems_from(exc, where, ConfigSpec)) from None
    problems: list[Problem] = []
    mappings: dict[str, Mapping] = {}
    for name, system in spec.systems.items():
        if system.mapping:
            try:
                mappings[name] = load_mapping(_under(root, system.mapping), system.mapping)
            except ConfigError as exc:
                problems += exc.problems
    custom: dict[str, str] = {}
    for m in mappings.values():
        for fname, kind in m.custom.items():
            if custom.setdefault(fname, kind) != kind:
                problems.append(Problem(f"{m.source}: custom.{fname}", "declared with two types"))
    schema = Schema(custom, spec.sync.phone_region)
    systems: dict[str, SystemSettings] = {}
    for name, system in spec.systems.items():
        key = f"{where}: systems.{name}"
        if not system.enabled:
            continue
        cls = connector_class(system.connector)
        if cls is None:
            valid = ", ".join(known_connectors())
            problems.append(Problem(f"{key}.connector", f"unknown connector (valid: {valid})"))
            continue
        try:
            options = cls.Options.model_validate(system.model_extra or {})
        except ValidationError as exc:
            valid = ", ".join([*SystemSpec.model_fields, *cls.Options.model_fields])
            for err in exc.errors():
                unknown = err["type"] == "extra_forbidden"
                msg = f"unknown key (valid: {valid})" if unknown else err["msg"]
                problems.append(Problem(f"{key}.{loc_text(tuple(err['loc']))}", msg))
            continue
        creds = _credentials(system.auth, env, root, f"{key}.auth", problems)
        if system.ca_bundle and not _under(root, system.ca_bundle).is_file():
            problems.append(Problem(f"{key}.ca_bundle", f"no such file: {system.ca_bundle}"))
        mapping = mappings.get(name) or identity_mapping(schema)
        systems[name] = SystemSettings(name, system, mapping, options, creds, root)
        problems += [Problem(key, msg) for msg in cls.check(systems[name])]
    for i, name in enumerate(spec.sync.priority):
        if name not in spec.systems:
            problems.append(Problem(f"{where}: sync.priority[{i}]", f"no system named {name!r}"))
    if problems:
        raise ConfigError(problems, title=f"{where} has {len(problems)} problem(s):")
    return Settings(
        path=None if where.startswith("(") else Path(where),
        root=root,
        state_url=_state_url(spec.state.url, root),
        sync=spec.sync,
        daemon=spec.daemon,
        review=spec.review,
        systems=systems,
        schema=schema,
    )


def _state_url(url: str, root: Path) -> str:
    prefix = "sqlite:///"
    if url.startswith(prefix) and url != "sqlite:///:memory:":
        rest = url[len(prefix) :]
        if not rest.startswith("/"):
            return prefix + str(_under(root, rest))
    return url


def _under(root: Path, path: str) -> Path:
    """A path from the config: `~` is the user's home, a relative one is under the config's
    folder (not the working directory, which differs under systemd and cron)."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else root / p


def _credentials(
    auth: AuthSpec, env: dict[str, str], root: Path, key: str, problems: list[Problem]
) -> Credentials:
    values: dict[str, SecretStr] = {}
    for item in AUTH_NEEDS[auth.kind]:
        var = getattr(auth, f"{item}_env")
        file = getattr(auth, f"{item}_file")
        if var:
            if var not in env:
                problems.append(
                    Problem(f"{key}.{item}_env", f"environment variable {var} is not set")
                )
                continue
            values[item] = SecretStr(env[var])
        elif file:
            p = _under(root, file)
            try:
                values[item] = SecretStr(p.read_text(encoding="utf-8").strip())
            except OSError as exc:
                problems.append(Problem(f"{key}.{item}_file", f"cannot read {p}: {exc.strerror}"))
        else:
            problems.append(Problem(key, f"kind {auth.kind!r} needs {item}_env (or {item}_file)"))
    return Credentials(auth.kind, values, auth.token_url)
