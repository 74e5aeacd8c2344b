"""sync.toml -> validated, frozen settings. Every problem is reported at once, with file and key."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, SecretStr, ValidationError

from sync import masking
from sync.auth_kinds import SETTINGS as AUTH_SETTINGS
from sync.config_spec import (
    AUTH_NEEDS,
    DEFAULT_STATE_URL,
    AuthSpec,
    ConfigSpec,
    DaemonSpec,
    ReviewSpec,
    StateSpec,
    SyncSpec,
    SystemSpec,
    parse_duration,
    parse_listen,
)
from sync.connectors import connector_class, known_connectors
from sync.contact import Schema
from sync.errors import ConfigError, Problem
from sync.inputfiles import ca_bundle_problem, path_problem, read_toml, tree_problems
from sync.mapping import Mapping
from sync.mapping_file import identity_mapping, load_mapping
from sync.resources import shipped
from sync.validation import loc_text, validate_all

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

__all__ = [
    "AUTH_NEEDS",
    "DEFAULT_STATE_URL",
    "ConfigSpec",
    "Credentials",
    "ReviewSpec",
    "Settings",
    "SystemSettings",
    "build_settings",
    "find_config",
    "load_config",
    "parse_duration",
    "parse_listen",
    "secret_from",
    "under",
]


@dataclass(frozen=True)
class Credentials:
    kind: str
    values: dict[str, SecretStr] = field(default_factory=dict)
    token_url: str | None = None
    settings: dict[str, str] = field(default_factory=dict)  # token_url, header, param, scope

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
        return under(self.root, path)


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
    state_password: SecretStr | None = None

    @property
    def state_connect_url(self) -> URL:
        """state_url with the password merged in: what the store connects with. A URL object
        prints its password as ***, so this one is safe in any message."""
        from sqlalchemy.engine import make_url

        url = make_url(self.state_url)
        if self.state_password is not None:
            url = url.set(password=self.state_password.get_secret_value())
        return url

    @property
    def interval(self) -> float:
        return parse_duration(self.sync.interval)

    @property
    def full_scan_interval(self) -> float:
        return parse_duration(self.sync.full_scan_interval)

    @property
    def lease_ttl(self) -> float:
        return parse_duration(self.daemon.lease_ttl)


def system_notes(settings: Settings) -> tuple[list[str], list[str]]:
    """What `check` tells about the systems beyond configuration errors: notes (a CSV file
    not made yet) and problems with what they hold (a CSV file that is not UTF-8)."""
    notes, problems = [], []
    for name, system in settings.systems.items():
        cls = connector_class(system.connector)
        if cls is not None:
            notes += [f"systems.{name}: {n}" for n in cls.notes(system)]
            problems += [f"systems.{name}: {p}" for p in cls.inspect(system)]
    return notes, problems


def find_config(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get("CONTACTSYNC_CONFIG")
    return Path(env) if env else Path("sync.toml")


def load_config(path: Path, env: dict[str, str] | None = None) -> Settings:
    where = str(path)
    raw = read_toml(path, where, "configuration")
    return build_settings(raw, where, path.resolve().parent, env)


def build_settings(
    raw: dict[str, Any], where: str, root: Path, env: dict[str, str] | None = None
) -> Settings:
    """Validate every part of the configuration and raise one ConfigError listing every
    problem found: a part that fails its schema is left out of the later checks (and only
    those), so a bad value in [sync] does not hide an unknown key or a mapping field."""
    env = dict(os.environ) if env is None else env
    # before pydantic: nesting too deep would end in RecursionError, inf in OverflowError
    problems: list[Problem] = tree_problems(raw, where)
    if any("nested too deeply" in p.message for p in problems):
        raise ConfigError(problems, title=f"{where} has {len(problems)} problem(s):")
    spec = validate_all(ConfigSpec, raw, where, problems) or ConfigSpec()
    mappings: dict[str, Mapping] = {}
    for name, file in _mapping_files(raw).items():  # also of systems whose table failed
        try:
            mappings[name] = load_mapping(under(root, file), file)
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
        if system.enabled:
            mapping = (
                mappings.get(name) or _shipped_mapping(system.connector) or identity_mapping(schema)
            )
            key = f"{where}: systems.{name}"
            built = _system(name, system, mapping, key, env, root, problems)
            if built is not None:
                systems[name] = built
    # a system left out for its own problems is still a system priority may name
    named = raw.get("systems") if isinstance(raw, dict) else None
    for i, name in enumerate(spec.sync.priority):
        if not isinstance(named, dict) or name not in named:
            problems.append(Problem(f"{where}: sync.priority[{i}]", f"no system named {name!r}"))
    state_password = _state_password(spec.state, env, root, f"{where}: state", problems)
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
        state_password=state_password,
    )


def _mapping_files(raw: Any) -> dict[str, str]:
    systems = raw.get("systems") if isinstance(raw, dict) else None
    if not isinstance(systems, dict):
        return {}
    return {
        name: table["mapping"]
        for name, table in systems.items()
        if isinstance(table, dict) and isinstance(table.get("mapping"), str) and table["mapping"]
    }


def _shipped_mapping(connector: str) -> Mapping | None:
    """The mapping a connector ships for systems that name none (carddav, vdir: vcard.toml)."""
    cls = connector_class(connector)
    if cls is None or not cls.default_mapping:
        return None
    return load_mapping(shipped(cls.default_mapping), cls.default_mapping)


def _system(
    name: str,
    system: SystemSpec,
    mapping: Mapping,
    key: str,
    env: dict[str, str],
    root: Path,
    problems: list[Problem],
) -> SystemSettings | None:
    """One system's settings, its problems appended (None if it cannot be built)."""
    try:
        cls = connector_class(system.connector, root)
    except ConfigError as exc:  # its vendor file is wrong: those problems join the others
        problems += exc.problems
        return None
    if cls is None:
        valid = ", ".join(known_connectors(root))
        problems.append(Problem(f"{key}.connector", f"unknown connector (valid: {valid})"))
        return None
    options: BaseModel | None
    try:
        options = cls.Options.model_validate(system.model_extra or {})
    except ValidationError as exc:
        options = None
        valid = ", ".join([*SystemSpec.model_fields, *cls.Options.model_fields])
        for err in exc.errors():
            unknown = err["type"] == "extra_forbidden"
            msg = f"unknown key (valid: {valid})" if unknown else err["msg"]
            problems.append(Problem(f"{key}.{loc_text(tuple(err['loc']))}", msg))
    creds = _credentials(system.auth, env, root, f"{key}.auth", problems)
    for item, (var, file) in cls.secret_options(options).items() if options else ():
        secret = secret_from(item, var, file, env, root, key, problems)
        if secret is not None:
            creds.values[item] = secret  # an option that is a secret (SO-AppToken)
            masking.add(secret.get_secret_value())
    bundle = system.ca_bundle and ca_bundle_problem(under(root, system.ca_bundle))
    if bundle:
        problems.append(Problem(f"{key}.ca_bundle", f"{bundle}: {system.ca_bundle}"))
    if options is None:
        return None
    built = SystemSettings(name, system, mapping, options, creds, root)
    problems += [Problem(key, msg) for msg in cls.check(built)]
    return built


def _state_url(url: str, root: Path) -> str:
    prefix = "sqlite:///"
    if url.startswith(prefix) and url != "sqlite:///:memory:":
        rest = url[len(prefix) :]
        if not rest.startswith("/"):
            return prefix + str(under(root, rest))
    return url


def under(root: Path, path: str) -> Path:
    """A path from the config: `~` is the user's home, a relative one is under the config's
    folder (not the working directory, which differs under systemd and cron)."""
    p = Path(path)
    with contextlib.suppress(RuntimeError):  # ~user of no such user: left as written
        p = p.expanduser()
    return p if p.is_absolute() else root / p


def _state_password(
    state: StateSpec, env: dict[str, str], root: Path, key: str, problems: list[Problem]
) -> SecretStr | None:
    secret = secret_from(
        "password", state.password_env, state.password_file, env, root, key, problems
    )
    masking.add(secret.get_secret_value() if secret else None)
    return secret


def _read_secret(path: Path, key: str, problems: list[Problem]) -> SecretStr | None:
    try:
        return SecretStr(path.read_text(encoding="utf-8").strip())
    except UnicodeDecodeError:
        problems.append(Problem(key, f"{path} is not UTF-8 text"))
    except (OSError, ValueError) as exc:
        problems.append(Problem(key, f"{path}: {path_problem(exc)}"))
    return None


def _credentials(
    auth: AuthSpec, env: dict[str, str], root: Path, key: str, problems: list[Problem]
) -> Credentials:
    values: dict[str, SecretStr] = {}
    for item in AUTH_NEEDS[auth.kind]:
        var = getattr(auth, f"{item}_env")
        file = getattr(auth, f"{item}_file")
        if not var and not file:
            problems.append(Problem(key, f"kind {auth.kind!r} needs {item}_env (or {item}_file)"))
            continue
        secret = secret_from(item, var, file, env, root, key, problems)
        if secret is not None:
            values[item] = secret
    masking.add_credentials({k: v.get_secret_value() for k, v in values.items()})
    settings = {s: getattr(auth, s) for s in AUTH_SETTINGS if getattr(auth, s)}
    return Credentials(auth.kind, values, auth.token_url, settings)


def secret_from(
    item: str,
    var: str | None,
    file: str | None,
    env: dict[str, str],
    root: Path,
    key: str,
    problems: list[Problem],
) -> SecretStr | None:
    """A secret named by `<item>_env` (a variable) or `<item>_file` (under `root`); None,
    with a problem under `key` when it is named but cannot be had."""
    if var:
        if var not in env:
            problems.append(Problem(f"{key}.{item}_env", f"environment variable {var} is not set"))
            return None
        return SecretStr(env[var])
    if file:
        return _read_secret(under(root, file), f"{key}.{item}_file", problems)
    return None
