"""`contactsync daemon`: the same run as `once`, on a schedule. The only importer of APScheduler.

Missed runs are coalesced and one sync never runs twice at once: within a process through
max_instances=1, across replicas through the lease (sync/lease.py), which a second job renews
every third of its time-to-live. A run that fails is logged and tried again at the next tick;
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
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from rich.console import Console

from sync import lease
from sync.config import Settings
from sync.engine import Engine
from sync.errors import LeaseLost
from sync.lease import LeaseKeeper
from sync.metrics import Metrics
from sync.monitor import Health, Listener
from sync.store.repo import Store

log = logging.getLogger("sync.daemon")


class Daemon:
    def __init__(self, settings: Settings, transports: dict[str, Any] | None = None) -> None:
        self.settings = settings
        self.store = Store(settings.state_url)
        self.transports = transports
        self.keeper = LeaseKeeper(
            self.store, lease.default_holder(settings.daemon.name), settings.lease_ttl
        )
        self.health = Health(settings.daemon.unhealthy_after)
        self.metrics = Metrics()
        self.stopping = threading.Event()

    def tick(self) -> None:
        if self.stopping.is_set():
            return
        if not self.keeper.acquire():
            self._standby()
            return
        self.metrics.lease.set(1)
        started = time.monotonic()
        try:
            engine = Engine(
                self.settings,
                self.store,
                transports=self.transports,
                holder=self.keeper.holder,
                fence=self.keeper.fence,
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
        except Exception as exc:  # a vendor outage or a bug must not kill the daemon
            self.health.failed(f"{type(exc).__name__}: {exc}")
            self.metrics.run_failed("failed", time.monotonic() - started)
            log.exception("run failed; trying again at the next tick")
            return
        finally:
            self._refresh_gauges()
        if report.unlisted:  # a system out of reach: the run went on, but it is not healthy
            self.health.failed(f"could not list {', '.join(report.unlisted)}")
        else:
            self.health.ok()
        self.metrics.run_finished(report, time.monotonic() - started)
        log.info("run %s: %s, %d write(s)", report.run_id, report.status, report.writes)

    def _standby(self) -> None:
        self.health.standby()
        self.metrics.lease.set(0)
        info = lease.current(self.store)
        if info is not None:
            log.info("standby: the lease is held by %s until %s", info.holder, info.expires_at)
        self._refresh_gauges()

    def _refresh_gauges(self) -> None:
        try:
            self.metrics.refresh(self.store)
        except Exception:  # the store being briefly away is a failed run's business, not ours
            log.warning("could not read the store for metrics", exc_info=True)

    def renew(self) -> None:
        if self.keeper.held and not self.keeper.renew():
            self.health.lost()
            self.metrics.lease.set(0)

    def serve(self) -> int:
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
        listener = None
        if self.settings.daemon.listen:
            listener = Listener(self.settings.daemon.listen, self.health, self.metrics)
            listener.start()

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
            self.keeper.release()
            if listener is not None:
                listener.stop()
            self.store.dispose()
        return 0


def main(settings: Settings, console: Console) -> int:
    console.print(
        f"contactsync daemon: every {settings.sync.interval}, "
        f"full scan every {settings.sync.full_scan_interval}"
        + (f", health and metrics on {settings.daemon.listen}" if settings.daemon.listen else "")
    )
    return Daemon(settings).serve()
