"""`contactsync daemon`: the same run as `once`, on a schedule. The only importer of APScheduler.

Missed runs are coalesced and one sync never runs twice at once: within a process through
max_instances=1, across replicas through the lease (sync/lease.py), which a second job renews
every third of its time-to-live. A run that fails is logged and tried again at the next tick;
the state database being away (at start or in a run) is logged with its cause, turns /healthz
503 with that reason, and is tried again with backoff (1 s doubling up to the interval) until
it answers, then the sync goes on;
SIGTERM and SIGINT let the requests in flight finish and be journalled, send nothing new (the
rest goes at the next run), commit, release the lease so a standby takes over at once, and
exit 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from rich.console import Console
from sqlalchemy.exc import SQLAlchemyError

from sync import lease
from sync.config import Settings
from sync.engine import Engine
from sync.errors import LeaseLost, StoreError
from sync.lease import LeaseKeeper
from sync.metrics import Metrics
from sync.monitor import Health, Listener
from sync.store.db import store_error
from sync.store.leases import Clock
from sync.store.repo import Store

log = logging.getLogger("sync.daemon")


class Daemon:
    def __init__(
        self,
        settings: Settings,
        transports: dict[str, Any] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.transports = transports
        self.holder = lease.default_holder(settings.daemon.name)
        self.store: Store | None = None  # opened at the first tick, again after it was away
        self.keeper: LeaseKeeper | None = None
        # `clock`: what the lease's expiry is judged by (tests move it on instead of waiting)
        self.clock = clock
        self.health = Health(settings.daemon.unhealthy_after)
        self.metrics = Metrics()
        self.stopping = threading.Event()
        self.scheduler: BackgroundScheduler | None = None
        self.backoff = 0.0  # seconds before the next try while the store is away (0: it is not)

    def _open(self) -> tuple[Store, LeaseKeeper]:
        if self.store is None:
            self.store = Store(self.settings.state_connect_url)
        if self.keeper is None:
            self.keeper = LeaseKeeper(self.store, self.holder, self.settings.lease_ttl, self.clock)
        self.keeper.store = self.store  # the same keeper (and token) across a reconnect
        return self.store, self.keeper

    def tick(self) -> None:
        if self.stopping.is_set():
            return
        started = time.monotonic()
        try:
            store, keeper = self._open()
            if not keeper.acquire():
                self._standby(store)
                self._store_back()
                return
            self.metrics.lease.set(1)
            engine = Engine(
                self.settings,
                store,
                transports=self.transports,
                holder=keeper.holder,
                fence=keeper.fence,
                stop=self.stopping,
            )
            # full scans fall due per system from the stored last_full_scan, so a restart or
            # a failover does not bring one forward
            report = asyncio.run(engine.run())
        except LeaseLost as exc:
            log.warning("%s; standing by", exc)
            self.health.lost()
            self.metrics.lease.set(0)
            self.metrics.run_failed("lease_lost", time.monotonic() - started)
            return
        except (StoreError, SQLAlchemyError) as exc:
            self._store_away(store_error(exc, self.settings.state_connect_url), started)
            return
        except Exception as exc:  # a vendor outage or a bug must not kill the daemon
            self.health.failed(f"{type(exc).__name__}: {exc}")
            self.metrics.run_failed("failed", time.monotonic() - started)
            log.exception("run failed; trying again at the next tick")
            return
        finally:
            self._refresh_gauges()
        self._store_back()
        if report.unlisted:  # a system out of reach: the run went on, but it is not healthy
            self.health.failed(f"could not list {', '.join(report.unlisted)}")
        else:
            self.health.ok()
        self.metrics.run_finished(report, time.monotonic() - started)
        log.info("run %s: %s, %d write(s)", report.run_id, report.status, report.writes)

    def _store_away(self, error: StoreError, started: float) -> None:
        """Log the cause (no traceback: it is not a bug), answer 503 with it, and try again
        soon, backing off: 1 s, 2 s, 4 s ... up to the interval."""
        if self.store is not None:
            self.store.dispose()
        self.store = None
        self.backoff = min(max(self.backoff * 2, 1.0), max(self.settings.interval, 1.0))
        self.health.store_away(str(error))
        self.metrics.lease.set(0)
        self.metrics.run_failed("failed", time.monotonic() - started)
        log.error("%s; trying again in %.0f s", error, self.backoff)
        if self.scheduler is not None and not self.stopping.is_set():
            when = datetime.now(UTC) + timedelta(seconds=self.backoff)
            self.scheduler.modify_job("sync", next_run_time=when)

    def _store_back(self) -> None:
        self.health.store_error = None
        if self.backoff:
            log.info("the state database answers again")
            self.backoff = 0.0

    def _standby(self, store: Store) -> None:
        self.health.standby()
        self.metrics.lease.set(0)
        info = lease.current(store)
        if info is not None:
            log.info("standby: the lease is held by %s until %s", info.holder, info.expires_at)
        self._refresh_gauges()

    def _refresh_gauges(self) -> None:
        if self.store is None:
            return
        try:
            self.metrics.refresh(self.store)
        except Exception as exc:  # the store being away is the tick's business, not ours
            log.warning("could not read the store for metrics: %s", type(exc).__name__)

    def renew(self) -> None:
        keeper = self.keeper
        try:
            if keeper is not None and keeper.held and not keeper.renew():
                self.health.lost()
                self.metrics.lease.set(0)
        except (StoreError, SQLAlchemyError) as exc:  # the next tick reports it and backs off
            log.warning(
                "could not renew the lease: %s", store_error(exc, self.settings.state_connect_url)
            )

    def serve(self, listener: Listener | None = None) -> int:
        """Sync on the schedule until SIGTERM/SIGINT. `listener` (bound already, so a port in
        use stopped us before anything started) serves /healthz and /metrics meanwhile."""
        if listener is not None:
            listener.start()
        scheduler = BackgroundScheduler(timezone="UTC")
        jobs: dict[str, Any] = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
        scheduler.add_job(
            self.tick,
            "interval",
            seconds=self.settings.interval,
            next_run_time=datetime.now(UTC),
            id="sync",
            **jobs,
        )
        scheduler.add_job(
            self.renew, "interval", seconds=self.settings.lease_ttl / 3, id="lease", **jobs
        )
        self.scheduler = scheduler

        def stop(signum: int, _frame: Any) -> None:
            log.info("signal %d: finishing the run in flight, then stopping", signum)
            self.stopping.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        scheduler.start()
        try:
            self.stopping.wait()
        finally:
            scheduler.shutdown(wait=True)
            try:
                if self.keeper is not None:
                    self.keeper.release()
            except (StoreError, SQLAlchemyError) as exc:  # away: the lease expires by itself
                log.warning(
                    "could not release the lease: %s",
                    store_error(exc, self.settings.state_connect_url),
                )
            if listener is not None:
                listener.stop()
            if self.store is not None:
                self.store.dispose()
        return 0


def main(settings: Settings, console: Console) -> int:
    daemon = Daemon(settings)
    listener = None
    if settings.daemon.listen:  # first: a port in use is exit 2 before anything starts
        listener = Listener(settings.daemon.listen, daemon.health, daemon.metrics)
    console.print(
        f"contactsync daemon: every {settings.sync.interval}, "
        f"full scan every {settings.sync.full_scan_interval}"
        + (f", health and metrics on {settings.daemon.listen}" if settings.daemon.listen else "")
    )
    return daemon.serve(listener)
