"""`contactsync daemon`: the same run as `once`, on a schedule. The only importer of APScheduler.

Missed runs are coalesced and one sync never runs twice at once (max_instances=1). A run that
fails is logged and tried again at the next tick; SIGTERM and SIGINT let the run in flight
finish and be committed, start nothing new, and exit 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from rich.console import Console

from sync.config import Settings
from sync.engine import Engine
from sync.store.repo import Store

log = logging.getLogger("sync.daemon")


class Daemon:
    def __init__(self, settings: Settings, transports: dict[str, Any] | None = None) -> None:
        self.settings = settings
        self.store = Store(settings.state_url)
        self.transports = transports
        self.stopping = threading.Event()
        self.runs = 0
        self.failures = 0
        self._last_full = datetime.min.replace(tzinfo=UTC)

    def tick(self) -> None:
        if self.stopping.is_set():
            return
        full = datetime.now(UTC) - self._last_full >= timedelta(
            seconds=self.settings.full_scan_interval
        )
        try:
            engine = Engine(self.settings, self.store, transports=self.transports)
            report = asyncio.run(engine.run(full_scan=full))
        except Exception:  # a vendor outage or a bug must not kill the daemon
            self.failures += 1
            log.exception("run failed; trying again at the next tick")
            return
        self.runs += 1
        if full:
            self._last_full = datetime.now(UTC)
        log.info("run %s: %s, %d write(s)", report.run_id, report.status, report.writes)

    def serve(self) -> int:
        scheduler = BackgroundScheduler(timezone="UTC")
        scheduler.add_job(
            self.tick,
            "interval",
            seconds=self.settings.interval,
            next_run_time=datetime.now(UTC),
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            id="sync",
        )

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
            self.store.dispose()
        return 0


def main(settings: Settings, console: Console) -> int:
    console.print(
        f"contactsync daemon: every {settings.sync.interval}, "
        f"full scan every {settings.sync.full_scan_interval}"
    )
    return Daemon(settings).serve()
