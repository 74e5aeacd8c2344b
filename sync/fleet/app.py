"""procrastinate's App and the fleet's three tasks. The only module that imports procrastinate,
with worker.py and status.py beside it.

- `contactsync.sync(config)`: one run of one configuration (sync queue). Deferred with
  lock=config (never two runs of it at once, whichever workers hold them) and
  queueing_lock=config (one waiting at most: a run that overruns does not pile up jobs).
- `contactsync.tick`: periodic, every [worker] tick seconds (control queue): defers a sync
  job for each configuration whose [sync] interval has come round (queue.take_due).
- `contactsync.retry_stalled`: periodic too: jobs still `doing` on a worker whose heartbeat
  stopped (killed, its machine gone) are put back to `todo` (procrastinate's
  get_stalled_jobs + retry_job), and another worker takes them up.

The control queue has a worker of its own in every process, so that scheduling never waits
behind long sync runs.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import procrastinate
import psycopg
from procrastinate import exceptions, jobs
from sqlalchemy.exc import SQLAlchemyError

from sync.errors import UsageError
from sync.fleet.queue import QueueDb
from sync.fleet.runner import Outcome, run_member
from sync.fleet.settings import Fleet
from sync.metrics import Metrics

log = logging.getLogger("sync.fleet")

SYNC_QUEUE = "contactsync_sync"
CONTROL_QUEUE = "contactsync_control"
SYNC_TASK = "contactsync.sync"
SCHEMA_LOCK = 0x70726F63  # advisory lock around applying procrastinate's schema ("proc")


def queue_unreachable(fleet: Fleet, exc: BaseException) -> UsageError:
    """The clear message for a queue database that cannot be reached (never its password)."""
    where = fleet.queue_url().render_as_string(hide_password=True)
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return UsageError(f"{fleet.path}: queue.url: cannot use the queue database {where}: {first}")


QUEUE_ERRORS: tuple[type[BaseException], ...] = (
    SQLAlchemyError,
    psycopg.Error,
    exceptions.ConnectorException,
    OSError,
)


@dataclass
class WorkerContext:
    """What the tasks need on a worker: the queue tables, who we are, the stop signal."""

    db: QueueDb
    holder: str
    stop: threading.Event
    metrics_for: Callable[[str], Metrics] | None = None
    on_outcome: Callable[[str, Outcome], None] | None = None


class FleetApp:
    def __init__(self, fleet: Fleet, context: WorkerContext | None = None) -> None:
        self.fleet = fleet
        self.context = context
        pool_args: dict[str, Any] = {"conninfo": fleet.conninfo(), "min_size": 1}
        pool_args["max_size"] = fleet.worker.concurrency + 4
        if fleet.password is not None:
            pool_args["kwargs"] = {"password": fleet.password.get_secret_value()}
        self.app = procrastinate.App(connector=procrastinate.PsycopgConnector(**pool_args))
        self._register()

    def _register(self) -> None:
        app, fleet = self.app, self.fleet
        seconds = int(fleet.seconds("tick"))
        cron = f"* * * * * */{seconds}"  # croniter's sixth field is seconds

        @app.task(name=SYNC_TASK, queue=SYNC_QUEUE)
        def sync(config: str) -> dict[str, Any]:
            # a plain function: procrastinate runs it in a thread, and the engine gets an
            # event loop of its own there
            return self.run_sync(config)

        @app.periodic(cron=cron, periodic_id="tick")
        @app.task(name="contactsync.tick", queue=CONTROL_QUEUE, queueing_lock="tick")
        async def tick(timestamp: int) -> int:
            return await self.defer_due()

        @app.periodic(cron=cron, periodic_id="retry_stalled")
        @app.task(name="contactsync.retry_stalled", queue=CONTROL_QUEUE, queueing_lock="stalled")
        async def retry_stalled(timestamp: int) -> int:
            return await self.retry_stalled()

        self.sync_task = sync

    # --- the tasks --------------------------------------------------------------------------

    def run_sync(self, config: str) -> dict[str, Any]:
        ctx = self.context
        if ctx is None:
            raise RuntimeError("sync jobs run on a worker")
        member = self.fleet.members.get(config)
        interval = member.interval if member else 300.0
        ctx.db.started(config, ctx.holder)
        metrics = ctx.metrics_for(config) if ctx.metrics_for else None
        outcome = run_member(self.fleet, config, ctx.holder, ctx.stop, metrics)
        ctx.db.finished(
            config,
            status=outcome.status,
            error=outcome.error,
            run_id=outcome.run_id,
            failed=outcome.failed,
            interval=interval,
            max_backoff=self.fleet.seconds("max_backoff"),
        )
        if ctx.on_outcome:
            ctx.on_outcome(config, outcome)
        log.info(
            "%s: run %s %s in %.1fs%s",
            config,
            outcome.run_id,
            outcome.status,
            outcome.seconds,
            f" ({outcome.error})" if outcome.error else "",
        )
        return {"status": outcome.status, "run_id": outcome.run_id, "error": outcome.error}

    async def defer_due(self) -> int:
        ctx = self.context
        if ctx is None or ctx.stop.is_set():
            return 0
        due = await asyncio.to_thread(ctx.db.take_due, self.fleet.members.values())
        deferred = 0
        for config in due:
            if await self.defer(config):
                deferred += 1
        return deferred

    async def defer(self, config: str) -> bool:
        """One sync job for a configuration, unless one is waiting already."""
        job = self.sync_task.configure(lock=config, queueing_lock=config, queue=SYNC_QUEUE)
        try:
            await job.defer_async(config=config)
        except exceptions.AlreadyEnqueued:
            log.debug("%s: a run is waiting already; none added", config)
            return False
        return True

    async def retry_stalled(self) -> int:
        manager = self.app.job_manager
        after = self.fleet.seconds("stalled_after")
        stalled = await manager.get_stalled_jobs(queue=SYNC_QUEUE, seconds_since_heartbeat=after)
        count = 0
        for job in stalled:
            log.warning(
                "job %s (%s) was running on a worker that stopped: retried",
                job.id,
                job.task_kwargs.get("config"),
            )
            try:
                await manager.retry_job(job)
            except exceptions.UniqueViolation:
                # a later run of the configuration is waiting already: it does the work (and
                # recovers what this one had in flight), so this one ends here
                await manager.finish_job(job, status=jobs.Status.FAILED, delete_job=False)
            count += 1
        # a tick or a retry that died with its worker: the next one does its work, so it
        # only needs ending (retried later it would do nothing that needs doing)
        control = await manager.get_stalled_jobs(queue=CONTROL_QUEUE, seconds_since_heartbeat=after)
        for job in control:
            await manager.finish_job(job, status=jobs.Status.FAILED, delete_job=False)
        return count

    # --- the schema -------------------------------------------------------------------------

    def ensure_schema(self, db: QueueDb) -> None:
        """procrastinate's schema on a new queue database, then the fleet's tables; workers
        starting together take turns through an advisory lock."""
        from sqlalchemy import text

        with db.engine.begin() as c:
            c.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCHEMA_LOCK})
            if c.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar() is None:
                log.info("applying procrastinate's schema to the queue database")
                raw: Any = c.connection.driver_connection
                raw.execute(self.app.schema_manager.get_schema())
        db.ensure_tables()
