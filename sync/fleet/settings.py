"""fleet.toml -> a validated Fleet: the queue database, the worker options, the rate budgets,
and every configuration it names, each an ordinary sync.toml with its own store.

Every problem is reported at once, each with the file it is in: fleet.toml's own keys, and
each configuration's problems under that configuration's file. Two configurations that name
one store (the same database and schema, or the same SQLite file) are refused: one
organisation's contacts never share tables with another's.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from sync import masking
from sync.config import Settings, build_settings, parse_duration, secret_from, under
from sync.errors import ConfigError, Problem
from sync.fleet.spec import NAME, BudgetSpec, FleetSpec, QueueSpec, WorkerSpec
from sync.inputfiles import read_toml
from sync.validation import problems_from


@dataclass(frozen=True)
class Member:
    """One configuration of the fleet."""

    name: str
    path: Path
    settings: Settings

    @property
    def interval(self) -> float:
        return self.settings.interval


@dataclass(frozen=True)
class Budget:
    name: str
    spec: BudgetSpec

    def covers(self, config: str, base_url: str | None) -> bool:
        return bool(base_url and base_url.startswith(self.spec.base_url)) and any(
            fnmatch.fnmatchcase(config, pattern) for pattern in self.spec.configs
        )


@dataclass(frozen=True)
class Fleet:
    path: Path
    queue: QueueSpec
    password: SecretStr | None
    worker: WorkerSpec
    budgets: dict[str, Budget]
    members: dict[str, Member]
    defaults: dict[str, dict[str, Any]]

    def queue_url(self) -> URL:
        """The queue's URL for SQLAlchemy (psycopg 3), with the password filled in."""
        url = make_url(self.queue.url).set(drivername="postgresql+psycopg")
        return url.set(password=self.password.get_secret_value()) if self.password else url

    def conninfo(self) -> str:
        """The queue's URL for psycopg (procrastinate's connector), without the password."""
        return make_url(self.queue.url).set(drivername="postgresql").render_as_string()

    def budget_for(self, config: str, base_url: str | None) -> Budget | None:
        found = [b for b in self.budgets.values() if b.covers(config, base_url)]
        return max(found, key=lambda b: len(b.spec.base_url)) if found else None

    def seconds(self, key: str) -> float:
        return parse_duration(getattr(self.worker, key))


def member_name(path: Path) -> str:
    """A configuration's name: its file's stem, or its folder's name for a `sync.toml`."""
    return path.parent.name if path.stem == "sync" else path.stem


def load_fleet(path: Path, env: dict[str, str] | None = None) -> Fleet:
    env = dict(os.environ) if env is None else env
    where = str(path)
    raw = read_toml(path, where, "fleet")
    root = path.resolve().parent
    problems: list[Problem] = []
    try:
        spec = FleetSpec.model_validate(raw)
    except ValidationError as exc:
        # fleet.toml is wrong; its configurations are checked all the same, so that one
        # `fleet check` lists everything there is to fix
        problems = problems_from(exc, where, FleetSpec)
        paths = (raw.get("configs") or {}).get("paths") if isinstance(raw, dict) else None
        if isinstance(paths, list) and all(isinstance(p, str) for p in paths):
            found = raw.get("defaults")
            defaults: dict[str, dict[str, Any]] = (
                {k: v for k, v in (found or {}).items() if isinstance(v, dict)}
                if isinstance(found, dict)
                else {}
            )
            for file in _files(paths, root, where, problems):
                _member(file, defaults, env, problems)
        raise ConfigError(problems, title=f"{where}: {len(problems)} problem(s):") from None
    queue = spec.queue
    password = secret_from(
        "password", queue.password_env, queue.password_file, env, root, f"{where}: queue", problems
    )
    masking.add(password.get_secret_value() if password else None)  # never in a log line
    files = _files(spec.configs.paths, root, where, problems)
    members: dict[str, Member] = {}
    stores: dict[str, str] = {}
    for file in files:
        name = member_name(file)
        if not NAME.match(name):
            problems.append(
                Problem(
                    str(file),
                    f"configuration name {name!r}: use letters, "
                    "digits, '.', '_' and '-' (the file or folder name)",
                )
            )
            continue
        if name in members:
            problems.append(
                Problem(
                    str(file),
                    f"configuration name {name!r} is taken by "
                    f"{members[name].path}: rename the file or its folder",
                )
            )
            continue
        settings = _member(file, spec.defaults, env, problems)
        if settings is None:
            continue
        key = store_key(settings.state_url)
        if key in stores:
            problems.append(
                Problem(
                    f"{file}: state.url",
                    f"the store of {stores[key]} too: "
                    "each configuration needs its own database or schema",
                )
            )
            continue
        if key == store_key(spec.queue.url):
            problems.append(
                Problem(
                    f"{file}: state.url",
                    "is the queue's database: give the configuration its own database or schema",
                )
            )
            continue
        stores[key] = name
        members[name] = Member(name, file, settings)
    budgets = {n: Budget(n, b) for n, b in spec.budgets.items()}
    fleet = Fleet(path, spec.queue, password, spec.worker, budgets, members, spec.defaults)
    problems += _ambiguous_budgets(fleet)
    if problems:
        raise ConfigError(problems, title=f"{where}: {len(problems)} problem(s):")
    return fleet


def reload_member(fleet: Fleet, member: Member) -> Member:
    """The configuration as its file says now (a worker reads it again before each run)."""
    problems: list[Problem] = []
    settings = _member(member.path, fleet.defaults, dict(os.environ), problems)
    if settings is None:
        raise ConfigError(problems, title=f"{member.path} has {len(problems)} problem(s):")
    if store_key(settings.state_url) != store_key(member.settings.state_url):
        where = f"{member.path}: state.url"
        raise ConfigError([Problem(where, "changed since the worker started: restart it")])
    return Member(member.name, member.path, settings)


def store_key(url: str) -> str:
    """What identifies a store: backend, host, port, database and schema; never a password."""
    try:
        u = make_url(url)
    except ArgumentError:
        return url
    if u.get_backend_name() == "sqlite":
        return f"sqlite:{Path(u.database or '').resolve()}"
    options = u.query.get("options", "")
    text = " ".join(options) if isinstance(options, tuple) else options
    found = re.search(r"search_path\s*=\s*([^\s]+)", text)
    schema = found.group(1) if found else "public"
    return f"{u.get_backend_name()}://{u.host or ''}:{u.port or ''}/{u.database}#{schema}"


def _files(patterns: list[str], root: Path, where: str, problems: list[Problem]) -> list[Path]:
    files: list[Path] = []
    for i, pattern in enumerate(patterns):
        found = sorted(Path(p) for p in glob.glob(str(under(root, pattern)), recursive=True))
        found = [p for p in found if p.is_file()]
        if not found:
            problems.append(Problem(f"{where}: configs.paths[{i}]", f"no file matches {pattern}"))
        files += [p for p in found if p not in files]
    return files


def _member(
    file: Path, defaults: dict[str, dict[str, Any]], env: dict[str, str], problems: list[Problem]
) -> Settings | None:
    """One configuration, with fleet.toml's [defaults] under whatever the file sets itself."""
    where = str(file)
    try:
        raw = read_toml(file, where, "configuration")
    except ConfigError as exc:
        problems += exc.problems
        return None
    for table, values in defaults.items():
        own = raw.get(table)
        if own is None or isinstance(own, dict):
            raw[table] = {**values, **(own or {})}
    try:
        return build_settings(raw, where, file.resolve().parent, env)
    except ConfigError as exc:
        problems += exc.problems
        return None


def _ambiguous_budgets(fleet: Fleet) -> list[Problem]:
    """A system two budgets of the same base_url claim: which limit holds would be a guess."""
    problems = []
    for member in fleet.members.values():
        for name, system in member.settings.systems.items():
            url = system.spec.base_url
            found = [b for b in fleet.budgets.values() if b.covers(member.name, url)]
            longest = max((len(b.spec.base_url) for b in found), default=0)
            tied = sorted(b.name for b in found if len(b.spec.base_url) == longest)
            if len(tied) > 1:
                problems.append(
                    Problem(
                        f"{member.path}: systems.{name}",
                        f"budgets {', '.join(tied)} both cover {url}",
                    )
                )
    return problems
