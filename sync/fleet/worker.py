"""`contactsync worker --fleet fleet.toml`: one process of the fleet; start any number of them
on any number of machines that reach the queue database and the configurations' stores.

Each process runs two procrastinate workers on one event loop: the sync queue with
[worker] concurrency runs at once (each in a thread with its own event loop), and the
control queue (the tick that defers due runs, the retry of stalled jobs) with one, so that
scheduling never waits behind sync runs. SIGTERM or SIGINT: no new job is taken, the runs in
flight send nothing new, journal and commit what they did, release their leases, and the
process exits 0 (the rest goes at each configuration's next run).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rich.console import Console
from sqlalchemy import text

from sync import http, lease
from sync.config import parse_listen
from sync.fleet.app import (
    CONTROL_QUEUE,
    QUEUE_ERRORS,
    SYNC_QUEUE,
    FleetApp,
    WorkerContext,
    queue_unreachable,
)
from sync.fleet.budget import Limiters
from sync.fleet.observe import FleetMetrics, WorkerHealth
from sync.fleet.queue import QueueDb
from sync.fleet.runner import Outcome
from sync.fleet.settings import Fleet
from sync.monitor import Listener

log = logging.getLogger("sync.fleet.worker")


class Worker:
    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.holder = lease.default_holder(fleet.worker.name)
        self.db = QueueDb(fleet.queue_url(), pool_size=fleet.worker.concurrency + 2)
        self.stop = threading.Event()
        self.health = WorkerHealth(fleet.worker.unhealthy_after)
        self.metrics = FleetMetrics()
        self._running = 0
        self._count = threading.Lock()
        context = WorkerContext(
            self.db, self.holder, self.stop, self._metrics_for, on_outcome=self._outcome
        )
        self.fleet_app = FleetApp(fleet, context)

    def _metrics_for(self, config: str) -> Any:
        with self._count:
            self._running += 1
            self.metrics.in_flight.set(self._running)
        return self.metrics.for_config(config)

    def _outcome(self, config: str, outcome: Outcome) -> None:
        with self._count:
            self._running -= 1
            self.metrics.in_flight.set(self._running)

    def prepare(self) -> None:
        """The queue's schema, a schedule row per configuration, the budgets as configured."""
        self.fleet_app.ensure_schema(self.db)
        self.db.enrol(self.fleet.members.values())
        self.db.set_budgets(self.fleet.budgets.values())

    def serve(self) -> int:
        try:
            self.prepare()
        except QUEUE_ERRORS as exc:
            self.db.dispose()
            raise queue_unreachable(self.fleet, exc) from None
        http.set_limiter_factory(Limiters(self.fleet, self.db))
        listener = None
        if self.fleet.worker.listen:
            listener = Listener(self.fleet.worker.listen, self.health, self.metrics)
            listener.start()
        probe = threading.Thread(target=self._probe, name="queue-probe", daemon=True)
        probe.start()
        try:
            code = asyncio.run(self._main())
        finally:
            self.stop.set()
            http.set_limiter_factory(None)
            if listener is not None:
                listener.stop()
            self.db.dispose()
        log.info("worker %s stopped", self.holder)
        return code

    async def _main(self) -> int:
        """0 after a signal; 1 if procrastinate's worker stopped by itself (the queue
        database went away, say), so that systemd's Restart=on-failure starts it again."""
        app = self.fleet_app.app
        options: dict[str, Any] = {
            "install_signal_handlers": False,  # ours below also tells the runs to stop
            "update_heartbeat_interval": self.fleet.seconds("heartbeat"),
            "stalled_worker_timeout": self.fleet.seconds("stalled_after"),
        }
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        # procrastinate runs each sync job on the loop's default executor, whose own size is
        # cores + 4: on two cores six runs at most, and the tick's database calls waiting
        # behind them. One thread per run, and room for the control queue's calls.
        loop.set_default_executor(
            ThreadPoolExecutor(self.fleet.worker.concurrency + 4, thread_name_prefix="fleet")
        )

        def on_signal(signum: int) -> None:
            log.info("signal %d: finishing the runs in flight, then stopping", signum)
            self.stop.set()
            stopping.set()

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, on_signal, signum)
        async with app.open_async():
            workers = [
                asyncio.create_task(
                    app.run_worker_async(
                        queues=[SYNC_QUEUE],
                        concurrency=self.fleet.worker.concurrency,
                        name=f"{self.holder}/sync",
                        **options,
                    )
                ),
                asyncio.create_task(
                    app.run_worker_async(
                        queues=[CONTROL_QUEUE],
                        concurrency=1,
                        name=f"{self.holder}/control",
                        **options,
                    )
                ),
            ]
            waiting = asyncio.create_task(stopping.wait())
            log.info(
                "worker %s: %d configuration(s), %d run(s) at once",
                self.holder,
                len(self.fleet.members),
                self.fleet.worker.concurrency,
            )
            done, _ = await asyncio.wait([*workers, waiting], return_when=asyncio.FIRST_COMPLETED)
            code = 0 if waiting in done else 1
            for task in done:
                if task is not waiting:
                    log.error("a procrastinate worker stopped: %s", task.exception())
            self.stop.set()
            for task in workers:
                task.cancel()  # procrastinate then waits for the jobs in flight
            await asyncio.gather(*workers, return_exceptions=True)
            waiting.cancel()
        return code

    def _probe(self) -> None:
        """/healthz: can this worker reach the queue database?"""
        every = self.fleet.seconds("tick")
        while not self.stop.is_set():
            try:
                with self.db.engine.connect() as c:
                    c.execute(text("SELECT 1"))
                self.health.ok()
            except Exception as exc:
                self.health.failed(f"queue database: {type(exc).__name__}")
            self.stop.wait(every)


def listening(fleet: Fleet, listen: str) -> Fleet:
    """The fleet with this worker's own /healthz and /metrics address (--listen)."""
    from sync.errors import UsageError

    try:
        parse_listen(listen)
    except ValueError as exc:
        raise UsageError(f"--listen: {exc}") from None
    return dataclasses.replace(fleet, worker=fleet.worker.model_copy(update={"listen": listen}))


def main(fleet: Fleet, console: Console) -> int:
    listen = fleet.worker.listen
    console.print(
        f"contactsync worker: {len(fleet.members)} configuration(s) from {fleet.path}, "
        f"{fleet.worker.concurrency} run(s) at once"
        + (f", health and metrics on {listen}" if listen else "")
    )
    return Worker(fleet).serve()
