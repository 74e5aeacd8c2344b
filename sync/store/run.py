"""One run's reads and commits, in one session whose every commit the lease fences.

start_run      the run row                                  (commit)
unfinished     journal entries an interrupted run left
recovered      their contacts marked dirty, dead runs crashed (commit)
cursors, link_hashes, view    what the run decides over (link hashes page by page)
journal        one part of the plan, and the changes to what exists its contacts'
               decisions make, with the history that explains them; the
               first part also the held deletions (commit per part)
finish_actions each batch of answers                         (commit)
finish         links, new contacts, conflicts, history, cursors, the run's summary
               (one commit: the commit of the run)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Select, and_, bindparam, event, func, insert, or_, select, update
from sqlalchemy.orm import Session

from sync.commit import Final
from sync.decision import Decision, Part
from sync.observe import KnownLink
from sync.plan import Action
from sync.rows import CursorRow, JournalRow
from sync.states import FINISHED, JournalState, Kind, RunStatus
from sync.store.bulk import insert_rows, update_grouped, update_rows
from sync.store.convert import (
    CONFLICTS,
    CONTACTS,
    CURSORS,
    HISTORY,
    JOURNAL,
    LINKS,
    among,
    among_values,
    chunks,
    cursor_row,
    journal_row,
    now,
)
from sync.store.leases import Claim, extend
from sync.store.load import load_view
from sync.store.models import (
    Contact,
    Cursor,
    JournalEntry,
    Run,
)

# called before every commit with that commit's `extend`; raises LeaseLost to refuse it
Fence = Callable[[Callable[[Claim], bool]], None]
P = ParamSpec("P")
R = TypeVar("R")


def on_session(
    query: Callable[Concatenate[Session, P], R],
) -> Callable[Concatenate[RunTx, P], R]:
    """A query of sync/store/ as a RunTx method: called with the run's session."""

    def method(tx: RunTx, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return query(tx.s, *args, **kwargs)

    return method


@functools.cache
def _link_hashes(dialect: str) -> Select[Any]:
    """A page's kept link hashes, one statement per backend built once (building and
    compiling a select per page of a listing was ~1 ms a page)."""
    c = LINKS.c
    q = select(c.vendor_id, c.id, c.snapshot_hash, c.raw_hash, c.gone)
    return q.where(c.system == bindparam("system"), among(c.vendor_id, dialect))


class RunTx:
    def __init__(self, s: Session, fence: Fence | None) -> None:
        self.s = s
        if fence is not None:
            event.listen(s, "before_commit", lambda sess: fence(lambda c: extend(sess, c)))

    # --- the run row and recovery ----------------------------------------------------------

    def planned_with(self) -> str | None:
        """The plan key of the last finished full planning (see Engine.plan_key)."""
        q = select(Run.summary).where(Run.status.in_(FINISHED)).order_by(Run.id.desc()).limit(1)
        summary = self.s.scalar(q) or {}
        value = summary.get("planned_with")
        return value if isinstance(value, str) else None

    def start_run(self, holder: str | None) -> int:
        run = Run(started_at=now(), status=RunStatus.RUNNING, summary={}, holder=holder)
        self.s.add(run)
        self.s.commit()
        return run.id

    def unfinished(self) -> list[JournalRow]:
        """Journal entries of runs that never committed (what was in flight at a crash) and
        that no later run has settled, and creates of any run whose outcome is unknown."""
        crashed = and_(
            Run.status.in_((RunStatus.RUNNING, RunStatus.CRASHED)),
            JournalEntry.state.in_((JournalState.PENDING, JournalState.UNKNOWN, JournalState.DONE)),
        )
        q = (
            select(JournalEntry)
            .join(Run, Run.id == JournalEntry.run_id)
            .where(or_(crashed, JournalEntry.state == JournalState.UNKNOWN))
            .order_by(JournalEntry.id)
        )
        return [journal_row(e) for e in self.s.scalars(q)]

    def recovered(self, run_id: int, dirty: Iterable[str]) -> None:
        for part in chunks(sorted(dirty)):
            self.s.execute(update(Contact).where(Contact.id.in_(part)).values(dirty=True))
        self.s.execute(
            update(Run)
            .where(Run.status == RunStatus.RUNNING, Run.id != run_id)
            .values(status=RunStatus.CRASHED, finished_at=now())
        )
        self.s.commit()

    # --- what the run decides over ---------------------------------------------------------

    def cursors(self) -> dict[str, CursorRow]:
        return {c.system: cursor_row(c) for c in self.s.scalars(select(Cursor))}

    def link_hashes(self, system: str, vendor_ids: list[str]) -> dict[str, KnownLink]:
        """{vendor ID: (link ID, snapshot hash or "" if gone, raw record hash)} of the links
        of one page of a listing: what a trusted full scan compares that page with."""
        out: dict[str, KnownLink] = {}
        conn = self.s.connection()
        dialect = conn.dialect.name
        q = _link_hashes(dialect)
        for part in among_values(vendor_ids, dialect):
            for vendor_id, link_id, digest, raw, gone in conn.execute(
                q, {"system": system, **part}
            ):
                out[vendor_id] = (link_id, "" if gone else digest, None if gone else raw)
        return out

    def linked_count(self, system: str) -> int:
        """Live links of one system: the mass-delete guard's denominator."""
        q = select(func.count()).where(LINKS.c.system == system, LINKS.c.gone.is_(False))
        return int(self.s.connection().execute(q).scalar() or 0)

    def unshown(self, system: str, shown: Callable[[int, str], bool]) -> list[str]:
        """Vendor IDs of the live links of one system that `shown(link ID, vendor ID)` says a
        listing did not show, read in a stream (a million links are not held at once)."""
        q = select(LINKS.c.id, LINKS.c.vendor_id).where(
            LINKS.c.system == system, LINKS.c.gone.is_(False)
        )
        rows = self.s.connection().execute(q, execution_options={"yield_per": 10_000})
        return [vendor_id for link_id, vendor_id in rows if not shown(link_id, vendor_id)]

    # the View over this run's session, with load_view's keywords (sync/store/load.py)
    view = on_session(load_view)

    # --- the journal -----------------------------------------------------------------------

    def journal(self, run_id: int, part: Part) -> list[int]:
        """One part of the plan (pending), with every change its contacts' decisions make to
        what already exists (and, in the first part, the held deletions, ignored deletions
        and used allowances); the entries' IDs in the order of `part.actions`."""
        s, conn, stamp = self.s, self.s.connection(), now()
        ids = self._insert_entries(run_id, [_entry(a) for a in part.actions], stamp)
        held: list[dict[str, Any]] = [
            {
                "system": h.system,
                "contact_id": h.contact_id,
                "email": None,
                "kind": Kind.DELETE,
                "vendor_id": h.vendor_id,
                "fields": {},
                "state": JournalState.HELD,
                "error": h.why,
            }
            for h in part.held
        ]
        self._insert_entries(run_id, held, stamp)
        at = part.at
        for stamped in (True, False):
            rows = [
                {
                    "id": c.id,
                    "email": c.email,
                    "base": c.base,
                    "dirty": c.dirty,
                    "deleted_at": c.deleted_at,
                    **({"updated_at": at} if stamped else {}),
                }
                for c in part.changed
                if (c.id in part.stamped) is stamped
            ]
            update_rows(conn, CONTACTS, rows)
        update_rows(conn, LINKS, [{"id": i, "gone": True} for i in part.gone])
        changes: list[dict[str, Any]] = []
        for ch in part.conflict_changes:
            row: dict[str, Any] = {"id": ch.id}
            if ch.status is not None:
                row |= {"status": ch.status, "resolved_at": ch.resolved_at}
            if ch.values is not None:
                row["values"] = ch.values
            changes.append(row)
        update_grouped(conn, CONFLICTS, changes)
        released = [{"id": i, "state": JournalState.RELEASED} for i in part.released]
        update_rows(conn, JOURNAL, released)
        insert_rows(conn, HISTORY, part.history)
        s.commit()
        return ids

    def _insert_entries(self, run_id: int, rows: list[dict[str, Any]], stamp: Any) -> list[int]:
        """One executemany (no ORM objects: an initial sync journals one per create)."""
        if not rows:
            return []
        values = [{**row, "run_id": run_id, "created_at": stamp} for row in rows]
        q = insert(JOURNAL).returning(JOURNAL.c.id, sort_by_parameter_order=True)
        return list(self.s.connection().execute(q, values).scalars())

    def finish_actions(self, results: list[tuple[int, str, str | None, str | None]]) -> None:
        """A batch of answers, one executemany."""
        stamp = now()
        rows = [
            {"id": i, "state": st, "vendor_id": vid, "error": err, "finished_at": stamp}
            for i, st, vid, err in results
        ]
        update_rows(self.s.connection(), JOURNAL, rows)
        self.s.commit()

    # --- the commit of the run -------------------------------------------------------------

    def finish(
        self,
        run_id: int,
        decision: Decision,
        final: Final,
        settle: dict[int, str],
        status: str,
        summary: dict[str, Any],
    ) -> None:
        """Everything the run learnt, in one transaction. Deleted links go first (a re-created
        link may take a dropped one's place), changed links before new ones (a vendor ID may
        move between them), new contacts before the rows that point at them."""
        conn, stamp = self.s.connection(), now()
        for part in chunks(final.dropped):
            conn.execute(LINKS.delete().where(LINKS.c.id.in_(part)))
        if final.raw_fixes:
            q = (
                update(LINKS)
                .where(
                    LINKS.c.system == bindparam("b_system"), LINKS.c.vendor_id == bindparam("b_vid")
                )
                .values(raw_hash=bindparam("b_raw"))
            )
            conn.execute(
                q, [{"b_system": a, "b_vid": v, "b_raw": r} for a, v, r in final.raw_fixes]
            )
        update_grouped(conn, LINKS, final.link_updates)
        contacts = [
            {
                "id": c.id,
                "email": c.email,
                "base": c.base,
                "dirty": c.dirty,
                "deleted_at": c.deleted_at,
                "created_at": decision.at,
                "updated_at": decision.at,
            }
            for c in final.new_contacts
        ]
        insert_rows(conn, CONTACTS, contacts)
        for part in chunks(final.dirty):
            conn.execute(update(CONTACTS).where(CONTACTS.c.id.in_(part)).values(dirty=True))
        conflicts = [
            {
                "contact_id": c.contact_id,
                "field": c.field,
                "base_value": c.base_value,
                "values": c.values,
                "status": c.status,
                "resolution": c.resolution,
                "resolved_by": c.resolved_by,
                "run_id": c.run_id,
                "created_at": c.created_at,
                "resolved_at": c.resolved_at,
            }
            for c in decision.new_conflicts
        ]
        insert_rows(conn, CONFLICTS, conflicts)
        insert_rows(conn, HISTORY, decision.history_later())
        insert_rows(conn, LINKS, final.new_links)
        for row in final.cursors:
            values = {k: v for k, v in row.items() if k not in ("new", "system")}
            if row["new"]:
                conn.execute(insert(CURSORS).values(system=row["system"], **values))
            else:
                conn.execute(
                    update(CURSORS).where(CURSORS.c.system == row["system"]).values(**values)
                )
        update_rows(conn, JOURNAL, [{"id": i, "state": st} for i, st in settle.items()])
        self._end(run_id, status, summary, stamp)

    def finish_dry(self, run_id: int, summary: dict[str, Any]) -> None:
        self._end(run_id, RunStatus.DRY_RUN, summary, now())

    def _end(self, run_id: int, status: str, summary: dict[str, Any], stamp: Any) -> None:
        self.s.execute(
            update(Run)
            .where(Run.id == run_id)
            .values(status=status, finished_at=stamp, summary=summary)
        )
        self.s.commit()


def _entry(a: Action) -> dict[str, Any]:
    return {
        "system": a.system,
        "contact_id": a.contact_id,
        "email": a.email,
        "kind": a.kind,
        "vendor_id": a.vendor_id,
        "fields": a.fields,
        "state": JournalState.PENDING,
        "error": None,
    }
