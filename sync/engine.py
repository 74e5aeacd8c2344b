"""One run: recover, poll, load, decide, journal, push, commit.

The engine moves data between the connectors, the store and the pure steps, and decides
nothing itself: recovery.py reads what a crash left in flight, poll.py lists and normalises,
the store loads the run's view, decide.py makes every decision over plain data, pipeline.py
journals the plan part by part while later contacts are decided and push.py sends each part
once it is journalled, commit.py works out what the answers change, and the store commits it.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import TYPE_CHECKING

from sync import commit
from sync.config import Settings
from sync.connectors import connector_class
from sync.connectors.base import Connector
from sync.decide import Round
from sync.decision import Rules
from sync.diff import record_hash
from sync.pipeline import decide_and_push
from sync.plan import Target
from sync.poll import full_listings, poll
from sync.progress import SILENT, Progress
from sync.push import Pusher
from sync.recovery import recover
from sync.report import RunReport
from sync.states import RunStatus
from sync.store.repo import Store, now

if TYPE_CHECKING:
    import httpx  # only for a type: a CSV-only run never loads an HTTP client

    from sync.store.run import Fence

CRASH_ENV = "CONTACTSYNC_TEST_CRASH_AT"


def checkpoint(phase: str) -> None:
    """Test seam, off by default: with $CONTACTSYNC_TEST_CRASH_AT set to this phase
    (recovered, journalled, pushed) the process dies here by SIGKILL, as in a crash."""
    if os.environ.get(CRASH_ENV) == phase:
        os.kill(os.getpid(), signal.SIGKILL)


def _journalled() -> None:
    checkpoint("journalled")  # looked up when called: tests replace `checkpoint`


class Engine:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        transports: dict[str, httpx.AsyncBaseTransport] | None = None,
        holder: str | None = None,
        fence: Fence | None = None,
        stop: threading.Event | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.transports = transports or {}
        self.holder = holder
        self.fence = fence  # asked before every commit of the run (the lease)
        self.stop = stop  # set (SIGTERM): requests in flight finish, no new one starts
        self.progress = progress or SILENT

    def connect(self) -> dict[str, Connector]:
        out = {}
        for name, sys in self.settings.systems.items():
            cls = connector_class(sys.connector)
            assert cls is not None
            out[name] = cls.build(sys, self.transports.get(name))
            out[name].progress = self.progress
        return out

    async def run(
        self, *, dry_run: bool = False, allow_mass_delete: bool = False, full_scan: bool = False
    ) -> RunReport:
        connectors = self.connect()
        for conn in connectors.values():
            conn.dry_run = dry_run  # a dry run's listings change nothing either
        try:
            return await self._run(connectors, dry_run, allow_mass_delete, full_scan)
        finally:
            for conn in connectors.values():
                await conn.aclose()

    async def _run(
        self, connectors: dict[str, Connector], dry_run: bool, allow_mass: bool, full_scan: bool
    ) -> RunReport:
        settings, progress = self.settings, self.progress
        report = RunReport(dry_run=dry_run)
        for name in connectors:
            report.system(name)
        with self.store.run(self.fence) as db:
            planned_with = db.planned_with()
            run_id = report.run_id = db.start_run(self.holder)
            recovery = await recover(db.unfinished(), connectors, settings)
            db.recovered(run_id, recovery.dirty)
            report.notes += recovery.warnings
            checkpoint("recovered")
            at, cursors = now(), db.cursors()
            full = full_listings(
                connectors,
                cursors,
                full_scan=full_scan,
                interval=settings.full_scan_interval,
                at=at,
            )
            plan_key = self.plan_key(connectors)
            # a full listing (or none) evaluates every contact: a full planning
            plans_all = not full or any(full.values())
            # trusted: records as last read are skipped unread, page by page (observe.py)
            trusted = bool(full) and plans_all and planned_with == plan_key
            seen = await poll(
                connectors,
                cursors,
                full,
                settings=settings,
                known=db if trusted else None,
                report=report,
                progress=progress,
            )
            seen.emails |= {email for _, email in recovery.found.adopted}
            view = db.view(
                everything=plans_all and not trusted,
                by_system=seen.changed if trusted else seen.listed_ids(),
                emails=seen.emails,
                linked=seen.linked,
                count={s for s, listed in seen.systems.items() if listed.complete_full},
            )
            rules = self.rules(connectors, allow_mass)
            round_ = Round(view, seen, rules, at, recovery.found, run_id)
            ids = round_.start(plans_all)
            decision = round_.d
            if plans_all:
                planned_with = plan_key  # every contact was planned, or is as planned
            if dry_run:
                round_.contacts(ids)
                report.take(decision)
                report.plan = [a.describe() for a in decision.actions]
                report.status = RunStatus.DRY_RUN
                db.finish_dry(run_id, report.to_dict())
                return report
            pusher = Pusher(connectors, db.finish_actions, settings.schema, self.stop, progress)
            await decide_and_push(round_, ids, db, run_id, pusher, progress, _journalled)
            report.take(decision)
            outcomes = await pusher.finish()
            checkpoint("pushed")
            for system, why in pusher.failures.items():
                r = report.system(system)
                r.failure = r.failure or why
            final = commit.settle(decision, outcomes, view, report)
            final.cursors = commit.cursors(seen, decision.read_failed, cursors, pusher.failures, at)
            report.status = RunStatus.PARTIAL if report.exit_code else RunStatus.OK
            report.open_conflicts = decision.open_conflicts(view)
            summary = {**report.to_dict(), "planned_with": planned_with}
            db.finish(run_id, decision, final, recovery.settle, report.status, summary)
        progress.finished()
        return report

    def rules(self, connectors: dict[str, Connector], allow_mass: bool) -> Rules:
        settings = self.settings
        systems = settings.systems
        return Rules(
            schema=settings.schema,
            mappings={name: sys.mapping for name, sys in systems.items()},
            targets={
                name: Target(name, systems[name].mapping, c.can_create, c.can_update, c.can_delete)
                for name, c in connectors.items()
                if c.writable
            },
            ignore_deletes=frozenset(
                n for n, sys in systems.items() if sys.spec.deletes == "ignore"
            ),
            policy=settings.sync.conflict_policy,
            priority=tuple(settings.sync.priority),
            max_delete_fraction=settings.sync.max_delete_fraction,
            allow_mass_delete=allow_mass,
        )

    def plan_key(self, connectors: dict[str, Connector]) -> str:
        """What planning depends on besides the data: the mappings, what each system can do,
        the schema and the conflict policy. A full scan skips a contact whose records all
        equal their snapshots only if the last full planning used the same key."""
        settings = self.settings
        systems = {}
        for name, sys in settings.systems.items():
            conn = connectors.get(name)
            caps = [conn.can_create, conn.can_update, conn.can_delete] if conn else None
            systems[name] = [sys.mapping.fingerprint, sys.connector, caps, sys.spec.deletes]
        key = {
            "systems": systems,
            "schema": settings.schema.identity,
            "policy": [settings.sync.conflict_policy, settings.sync.priority],
        }
        return record_hash(key)
