"""One configuration's run on a fleet worker: the same run as `contactsync once`, on the
configuration's own store, under that store's lease, with the fleet's shared budgets.

procrastinate's lock keeps two jobs of one configuration apart; the lease keeps the fleet
apart from anything else on the store (a daemon, a `once`) and fences every commit, so a
worker presumed dead that comes back cannot commit over the one that took its job. A worker
killed mid-run leaves its lease behind: the next run waits for it to lapse (or for
sync/lease.py to see that its holder is dead) and then recovers the journal as any run does.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from sync import lease
from sync.config import Settings
from sync.engine import Engine
from sync.errors import ConfigError, LeaseLost, StoreError, SyncError
from sync.fleet.budget import running
from sync.fleet.settings import Fleet, Member, reload_member
from sync.metrics import Metrics
from sync.report import RunReport
from sync.store.repo import Store

log = logging.getLogger("sync.fleet.run")
SCHEMA = re.compile(r"search_path\s*=\s*([A-Za-z_][A-Za-z0-9_]*)")
_ensured: set[str] = set()  # stores whose schema this process has seen to
_stores: dict[str, Store] = {}
_stores_lock = threading.Lock()


@dataclass
class Outcome:
    status: str  # ok, partial (the engine's), failed, busy (lease held), lease_lost
    failed: bool  # counts towards this configuration's backoff
    error: str | None = None
    run_id: int | None = None
    report: RunReport | None = None
    seconds: float = 0.0


def run_member(
    fleet: Fleet, name: str, holder: str, stop: threading.Event, metrics: Metrics | None = None
) -> Outcome:
    started = time.monotonic()
    member = fleet.members.get(name)
    if member is None:
        why = f"no configuration {name!r} in this worker's {fleet.path} (restart it after adding)"
        return Outcome("failed", True, why)
    try:
        member = reload_member(fleet, member)  # an edited sync.toml counts from its next run
    except ConfigError as exc:
        return Outcome("failed", True, exc.render())
    try:
        outcome = _run(member, holder, stop, metrics)
    except StoreError as exc:  # its store away or refusing: said in one line, named
        log.warning("%s: its store cannot be used: %s", name, exc)
        outcome = Outcome("failed", True, f"store: {exc}")
    except SyncError as exc:  # the store away, a mapping gone wrong: this configuration's fault
        outcome = Outcome("failed", True, f"{type(exc).__name__}: {exc}")
    except SQLAlchemyError as exc:  # its store's database away or refusing: said in one line
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        log.warning("%s: its store cannot be used: %s", name, first)
        outcome = Outcome("failed", True, f"store: {first}")
    except Exception as exc:  # a bug must not take the worker down; the job records it
        log.exception("%s: run failed", name)
        outcome = Outcome("failed", True, f"{type(exc).__name__}: {exc}")
    outcome.seconds = time.monotonic() - started
    if metrics is not None:
        if outcome.report is not None:
            metrics.run_finished(outcome.report, outcome.seconds)
        elif outcome.status != "busy":
            metrics.run_failed(outcome.status, outcome.seconds)
    return outcome


def _run(member: Member, holder: str, stop: threading.Event, metrics: Metrics | None) -> Outcome:
    settings = member.settings
    store = _open(_store_url(settings))
    try:
        keeper = lease.LeaseKeeper(store, holder, settings.lease_ttl)
        deadline = time.monotonic() + settings.lease_ttl + 5
        while not keeper.acquire():
            if stop.is_set() or time.monotonic() > deadline:
                info = lease.current(store)
                who = info.holder if info else "?"
                return Outcome("busy", False, f"the sync lease is held by {who}")
            stop.wait(0.5)
        try:
            with keeper.kept(), running(member.name):
                engine = Engine(settings, store, holder=holder, fence=keeper.fence, stop=stop)
                report = asyncio.run(engine.run())
        except LeaseLost as exc:
            return Outcome("lease_lost", True, str(exc))
        if metrics is not None:
            try:
                metrics.refresh(store)
            except Exception:  # the gauges can wait for the next run
                log.warning("%s: could not read the store for metrics", member.name)
    finally:
        store.dispose()  # its connections; the engine and its compiled statements stay
    # what `fleet status` says of the run, and what counts towards its backoff: systems that
    # failed as a whole (credentials, outage, daily quota: their reason) or were not listed
    failures = [f"{n}: {r.failure}" for n, r in report.systems.items() if r.failure]
    unlisted = [n for n in report.unlisted if not report.systems[n].failure]
    said = ([f"could not list {', '.join(unlisted)}"] if unlisted else []) + failures
    error = "; ".join(said) or None
    return Outcome(report.status, bool(said), error, report.run_id, report)


def _open(url: Any) -> Store:
    """The configuration's store, made once per process: SQLAlchemy compiles statements once
    per engine, which is most of a run's database CPU when each run makes a new one (~25 ms
    a run), and the migrations are checked once. Its connections are closed after each run
    (store.dispose), so a worker holds none to the stores it is not running."""
    key = make_url(url).render_as_string(hide_password=False)
    with _stores_lock:
        store = _stores.get(key)
    if store is None:  # made outside the lock: a migration may take a while
        ensure_schema(url)
        made = Store(url)
        with _stores_lock:
            store = _stores.setdefault(key, made)
        if store is not made:
            made.dispose()
    return store


def _store_url(settings: Settings) -> Any:
    """The URL to open the store with: with its password where the configuration gives one
    ([state] password_env/password_file, where the config loader offers it)."""
    return getattr(settings, "state_connect_url", None) or settings.state_url


def ensure_schema(url: Any) -> None:
    """A PostgreSQL store named by its schema (options=-csearch_path=NAME) gets the schema
    created if it is missing, so that a new organisation's configuration is all it takes."""
    u = make_url(url)
    key = u.render_as_string()  # the password hidden: this set is kept in memory only
    if u.get_backend_name() != "postgresql" or key in _ensured:
        return
    options = u.query.get("options", "")
    found = SCHEMA.search(" ".join(options) if isinstance(options, tuple) else options)
    if not found:
        return
    engine = create_engine(u.difference_update_query(["options"]))
    try:
        with engine.begin() as c:
            c.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{found.group(1)}"'))
    finally:
        engine.dispose()
    _ensured.add(key)
