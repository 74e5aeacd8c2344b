"""The store: the one door to the state database. Every query contactsync makes is here or in
the modules beside it (run.py: one run's reads and commits; leases.py: the lease's SQL).

Readers (status, conflicts, explain, metrics, the review page) call methods that open a
session of their own and hand back frozen rows (sync/rows.py); nothing outside sync/store/
sees a session or an ORM object.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session, sessionmaker

from sync.diff import record_hash
from sync.errors import UsageError
from sync.rows import (
    FIRST_SEEN,
    ConflictRow,
    ContactRow,
    CursorRow,
    HeldDeletion,
    HistoryRow,
    JournalRow,
    LinkRow,
    RunRow,
    Unlinked,
)
from sync.states import FINISHED, ConflictStatus, JournalState, Kind
from sync.store.convert import (
    aware,
    conflict_row,
    cursor_row,
    journal_row,
    link_row,
    maybe_aware,
    new_id,
    now,
    run_row,
)
from sync.store.db import head_revision, make_engine, translated, upgrade
from sync.store.leases import Leases
from sync.store.models import Conflict, Contact, Cursor, FieldChange, JournalEntry, Link, Run

if TYPE_CHECKING:
    from sync.store.run import Fence, RunTx

__all__ = ["Store", "aware", "new_id", "now"]


class Store:
    def __init__(self, url: str | URL, *, migrate: bool = True) -> None:
        with translated(url):  # cannot connect, cannot migrate: a StoreError naming state.url
            if migrate:
                head_revision()  # migrations missing (a broken installation): before any file
            self.engine: Engine = make_engine(url)
            if migrate:
                upgrade(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.leases = Leases(self.sessions)

    def session(self) -> Session:
        """A session of the store's own modules (and of tests that look at raw tables)."""
        return self.sessions()

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def run(self, fence: Fence | None = None) -> Iterator[RunTx]:
        """One run's reads and commits in one session; `fence` is asked before each commit."""
        from sync.store.run import RunTx

        with self.sessions() as s:
            yield RunTx(s, fence)

    def _read(self, work: Callable[[Session], Any]) -> Any:
        with self.sessions() as s:
            return work(s)

    # --- runs, cursors, health -----------------------------------------------------------

    def recent_runs(self, limit: int = 10) -> list[RunRow]:
        q = select(Run).order_by(Run.id.desc()).limit(limit)
        return self._read(lambda s: [run_row(r) for r in s.scalars(q)])

    def last_finished_run(self) -> RunRow | None:
        q = select(Run).where(Run.status.in_(FINISHED)).order_by(Run.id.desc()).limit(1)
        return self._read(lambda s: next((run_row(r) for r in s.scalars(q)), None))

    def cursors(self) -> dict[str, CursorRow]:
        return self._read(lambda s: {c.system: cursor_row(c) for c in s.scalars(select(Cursor))})

    # --- conflicts ---------------------------------------------------------------------------

    def conflicts(
        self, status: str | None = ConflictStatus.OPEN
    ) -> list[tuple[ConflictRow, str | None]]:
        """Conflicts (all of them when `status` is None) with their contact's email."""
        q = select(Conflict, Contact.email).join(Contact, Contact.id == Conflict.contact_id)
        if status:
            q = q.where(Conflict.status == status)
        q = q.order_by(Conflict.id)
        return self._read(lambda s: [(conflict_row(c), email) for c, email in s.execute(q)])

    def conflict(self, conflict_id: int) -> tuple[ConflictRow, str | None] | None:
        q = (
            select(Conflict, Contact.email)
            .join(Contact, Contact.id == Conflict.contact_id)
            .where(Conflict.id == conflict_id)
        )
        found = self._read(lambda s: s.execute(q).first())
        return None if found is None else (conflict_row(found[0]), found[1])

    def count_conflicts(self, status: str = ConflictStatus.OPEN) -> int:
        q = select(func.count()).select_from(Conflict).where(Conflict.status == status)
        return int(self._read(lambda s: s.scalar(q)) or 0)

    def resolve_conflict(self, conflict_id: int, resolution: Any, resolved_by: str) -> bool:
        """A person's choice for an open conflict (pushed by the next run); False if it is
        no longer open."""
        q = (
            update(Conflict)
            .where(Conflict.id == conflict_id, Conflict.status == ConflictStatus.OPEN)
            .values(
                resolution=resolution,
                resolved_by=resolved_by,
                status=ConflictStatus.RESOLVED,
                resolved_at=now(),
            )
        )
        with self.sessions() as s:
            done = s.execute(q).rowcount  # type: ignore[attr-defined]
            s.commit()
        return bool(done)

    # --- one contact (explain, the review page) ----------------------------------------------

    def contact_by_email(self, email: str) -> ContactRow | None:
        q = select(Contact).where(Contact.email == email).order_by(Contact.deleted_at.is_not(None))
        found = self._read(lambda s: s.scalars(q).first())
        if found is None:
            return None
        return ContactRow(
            found.id, found.email, found.base or {}, found.dirty, maybe_aware(found.deleted_at)
        )

    def contact_links(self, contact_id: str) -> list[LinkRow]:
        q = select(Link).where(Link.contact_id == contact_id).order_by(Link.system)
        return self._read(lambda s: [link_row(ln) for ln in s.scalars(q)])

    def contact_conflicts(self, contact_id: str) -> list[ConflictRow]:
        q = select(Conflict).where(Conflict.contact_id == contact_id).order_by(Conflict.id)
        return self._read(lambda s: [conflict_row(c) for c in s.scalars(q)])

    def history(self, contact_id: str) -> list[HistoryRow]:
        """One row per field and change; a FIRST_SEEN row comes back as one row per field."""
        q = select(FieldChange).where(FieldChange.contact_id == contact_id)
        out: list[HistoryRow] = []
        for h in self._read(lambda s: list(s.scalars(q.order_by(FieldChange.id)))):
            fields = (
                h.new_value if h.field == FIRST_SEEN and isinstance(h.new_value, dict) else None
            )
            pairs = fields.items() if fields is not None else [(h.field, h.new_value)]
            for name, value in pairs:
                old = None if fields is not None else h.old_value
                out.append(
                    HistoryRow(
                        h.id,
                        h.contact_id,
                        h.run_id,
                        name,
                        old,
                        value,
                        h.source,
                        h.how,
                        h.conflict_id,
                        aware(h.at),
                    )
                )
        return out

    # --- held deletions and what a person allows ---------------------------------------------

    def held_deletions(self) -> list[HeldDeletion]:
        """The deletions the last real run held (a dry or crashed run holds nothing)."""
        q = _held_in_last_run(
            select(JournalEntry, Contact.email).outerjoin(
                Contact, Contact.id == JournalEntry.contact_id
            )
        ).order_by(JournalEntry.id)
        rows = self._read(lambda s: list(s.execute(q)))
        return [
            HeldDeletion(e.id, e.system, e.contact_id, e.vendor_id, email, e.error)
            for e, email in rows
        ]

    def count_held_deletions(self) -> int:
        q = _held_in_last_run(select(func.count()).select_from(JournalEntry))
        return int(self._read(lambda s: s.scalar(q)) or 0)

    def allowed_deletions(self) -> list[JournalRow]:
        q = select(JournalEntry).where(JournalEntry.state == JournalState.ALLOWED)
        return self._read(lambda s: [journal_row(e) for e in s.scalars(q)])

    def allow_deletion(self, entry_id: int) -> bool:
        """Mark a held deletion allowed: the next run that lists its system carries it out."""
        return self.allow_deletions([entry_id]) == 1

    def allow_deletions(self, entry_ids: list[int]) -> int:
        """Allow these held deletions in one transaction; how many were held."""
        if not entry_ids:
            return 0
        q = (
            update(JournalEntry)
            .where(
                JournalEntry.id.in_(entry_ids),
                JournalEntry.state == JournalState.HELD,
                JournalEntry.kind == Kind.DELETE,
            )
            .values(state=JournalState.ALLOWED)
        )
        with self.sessions() as s:
            done = s.execute(q).rowcount  # type: ignore[attr-defined]
            s.commit()
        return int(done)

    # --- records a system holds unlinked, and linking by hand --------------------------------

    def unlinked(self) -> list[Unlinked]:
        q = (
            select(JournalEntry)
            .where(JournalEntry.state == JournalState.UNLINKED)
            .order_by(JournalEntry.id)
        )
        rows = self._read(lambda s: list(s.scalars(q)))
        return [
            Unlinked(e.id, e.system, e.contact_id, e.email, e.error, maybe_aware(e.finished_at))
            for e in rows
        ]

    def link(self, email: str, system: str, vendor_id: str) -> str:
        """Link a contact to a record a person found in `system`: the next run writes the
        contact's values to it (its snapshot starts empty). Settles what the journal knew of
        the contact there unlinked. The contact's ID."""
        with self.sessions() as s:
            contact = _live_contact(s, email)
            mine = s.scalars(
                select(Link).where(Link.contact_id == contact.id, Link.system == system)
            ).first()
            if mine is not None:
                raise UsageError(
                    f"{email} is linked to {system} record {mine.vendor_id} already; "
                    f"unlink it first (contactsync unlink {email} {system})"
                )
            taken = s.scalars(
                select(Link).where(Link.system == system, Link.vendor_id == vendor_id)
            ).first()
            if taken is not None:
                other = s.get(Contact, taken.contact_id)
                who = other.email if other is not None else taken.contact_id
                raise UsageError(f"{system} record {vendor_id} is linked to {who} already")
            stamp = now()
            s.add(
                Link(
                    contact_id=contact.id,
                    system=system,
                    vendor_id=vendor_id,
                    snapshot={},
                    snapshot_hash=record_hash({}),
                    raw_hash=None,
                    vendor_updated=None,
                    gone=False,
                    updated_at=stamp,
                )
            )
            _settle_unlinked(s, contact.id, system)
            contact.dirty = True  # the next run writes the contact's values to the record
            s.commit()
            return contact.id

    def unlink(self, email: str, system: str) -> bool:
        """Forget the contact's record in `system` (a link, or what the journal knew of it
        unlinked): the next run creates it there again. False if there was nothing."""
        with self.sessions() as s:
            contact = _live_contact(s, email)
            gone = s.execute(
                delete(Link).where(Link.contact_id == contact.id, Link.system == system)
            ).rowcount  # type: ignore[attr-defined]
            settled = _settle_unlinked(s, contact.id, system)
            contact.dirty = True
            s.commit()
            return bool(gone or settled)


def _live_contact(s: Session, email: str) -> Contact:
    wanted = email.strip().lower()
    q = select(Contact).where(Contact.email == wanted, Contact.deleted_at.is_(None))
    contact = s.scalars(q).first()
    if contact is None:
        raise UsageError(f"no contact with email {email!r}")
    return contact


def _settle_unlinked(s: Session, contact_id: str, system: str) -> int:
    q = (
        update(JournalEntry)
        .where(
            JournalEntry.contact_id == contact_id,
            JournalEntry.system == system,
            JournalEntry.state == JournalState.UNLINKED,
        )
        .values(state=JournalState.RELEASED, finished_at=now())
    )
    return int(s.execute(q).rowcount)  # type: ignore[attr-defined]


def _held_in_last_run(q: Any) -> Any:
    last = select(Run.id).where(Run.status.in_(FINISHED)).order_by(Run.id.desc()).limit(1)
    return q.where(
        JournalEntry.run_id == last.scalar_subquery(), JournalEntry.state == JournalState.HELD
    )
