"""Every query contactsync makes. No SQL elsewhere; reads and writes are batched per phase."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Select, Table, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session, sessionmaker

from sync.store.db import make_engine, translated, upgrade
from sync.store.models import (
    FIRST_SEEN,
    Action,
    Base,
    Conflict,
    Contact,
    Cursor,
    FieldChange,
    Link,
    Run,
)

OPEN_STATES = ("open", "resolved")
FINISHED = ("ok", "partial")  # runs that committed what they did (not dry, not crashed)


def now() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def new_id() -> str:
    return str(uuid.uuid4())


class Store:
    def __init__(self, url: str | URL, *, migrate: bool = True) -> None:
        with translated(url):  # cannot connect, cannot migrate: a StoreError naming state.url
            self.engine: Engine = make_engine(url)
            if migrate:
                upgrade(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> Session:
        return self.sessions()

    def dispose(self) -> None:
        self.engine.dispose()

    # --- loading the state a run works on -------------------------------------------------

    @staticmethod
    def contacts(s: Session) -> dict[str, Contact]:
        return {c.id: c for c in s.scalars(select(Contact))}

    @staticmethod
    def links(s: Session) -> list[Link]:
        return list(s.scalars(select(Link)))

    @staticmethod
    def link_hashes(s: Session) -> dict[str, dict[str, tuple[str, str | None]]]:
        """{system: {vendor ID: (snapshot hash, raw record hash)}, ("", None) if gone} for
        every link, without loading the links: what a full scan compares each listed record
        with."""
        out: dict[str, dict[str, tuple[str, str | None]]] = {}
        q = select(Link.system, Link.vendor_id, Link.snapshot_hash, Link.raw_hash, Link.gone)
        for system, vendor_id, digest, raw, gone in s.execute(q):
            out.setdefault(system, {})[vendor_id] = ("", None) if gone else (digest, raw)
        return out

    @staticmethod
    def set_raw_hashes(s: Session, rows: list[tuple[str, str, str]]) -> None:
        """(system, vendor ID, raw hash) of links whose snapshot the listed record matched:
        the next full scan skips the record before normalising it."""
        if not rows:
            return
        t = _table(Link)
        q = (
            update(t)
            .where(t.c.system == bindparam("b_system"), t.c.vendor_id == bindparam("b_vid"))
            .values(raw_hash=bindparam("b_raw"))
        )
        params = [{"b_system": sy, "b_vid": v, "b_raw": r} for sy, v, r in rows]
        s.connection().execute(q, params)

    @staticmethod
    def links_by_vendor(s: Session, system: str, vendor_ids: Iterable[str]) -> list[Link]:
        """The links of these records of one system (an incremental run's listing)."""
        out: list[Link] = []
        for part in _chunks(vendor_ids):
            q = select(Link).where(Link.system == system, Link.vendor_id.in_(part))
            out += s.scalars(q)
        return out

    @staticmethod
    def contacts_by_ids(s: Session, ids: Iterable[str]) -> list[Contact]:
        out: list[Contact] = []
        for part in _chunks(ids):
            out += s.scalars(select(Contact).where(Contact.id.in_(part)))
        return out

    @staticmethod
    def contact_ids_by_email(s: Session, emails: Iterable[str]) -> set[str]:
        out: set[str] = set()
        for part in _chunks(emails):
            out.update(s.scalars(select(Contact.id).where(Contact.email.in_(part))))
        return out

    @staticmethod
    def links_of_contacts(s: Session, ids: Iterable[str]) -> list[Link]:
        out: list[Link] = []
        for part in _chunks(ids):
            out += s.scalars(select(Link).where(Link.contact_id.in_(part)))
        return out

    @staticmethod
    def dirty_contact_ids(s: Session) -> set[str]:
        return set(s.scalars(select(Contact.id).where(Contact.dirty.is_(True))))

    @staticmethod
    def cursors(s: Session) -> dict[str, Cursor]:
        return {c.system: c for c in s.scalars(select(Cursor))}

    @staticmethod
    def live_conflicts(s: Session) -> list[Conflict]:
        return list(s.scalars(select(Conflict).where(Conflict.status.in_(OPEN_STATES))))

    # --- runs and the journal ---------------------------------------------------------------

    @staticmethod
    def start_run(s: Session, holder: str | None = None) -> Run:
        run = Run(started_at=now(), status="running", summary={}, holder=holder)
        s.add(run)
        s.flush()
        return run

    @staticmethod
    def unfinished_actions(s: Session) -> list[Action]:
        """Journal entries of runs that never committed (what was in flight at a crash) and
        that no later run has settled, and creates of any run whose outcome is still unknown
        (their answer was lost)."""
        crashed = and_(
            Run.status.in_(("running", "crashed")),
            Action.state.in_(("pending", "unknown", "done")),
        )
        q = (
            select(Action)
            .join(Run, Run.id == Action.run_id)
            .where(or_(crashed, Action.state == "unknown"))
            .order_by(Action.id)
        )
        return list(s.scalars(q))

    @staticmethod
    def mark_dirty(s: Session, contact_ids: Iterable[str]) -> None:
        for part in _chunks(contact_ids):
            s.execute(update(Contact).where(Contact.id.in_(part)).values(dirty=True))

    @staticmethod
    def abandon_runs(s: Session, current: int) -> None:
        s.execute(
            update(Run)
            .where(Run.status == "running", Run.id != current)
            .values(status="crashed", finished_at=now())
        )

    @staticmethod
    def journal(s: Session, run_id: int, rows: Iterable[dict[str, Any]]) -> list[int]:
        """Journal entries, one executemany (no ORM objects: an initial sync journals one
        per create); their IDs in the order of `rows`."""
        stamp = now()
        values = [{**row, "run_id": run_id, "created_at": stamp} for row in rows]
        if not values:
            return []
        table = _table(Action)
        q = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        return list(s.connection().execute(q, values).scalars())

    @staticmethod
    def finish_actions(
        s: Session, results: Iterable[tuple[int, str, str | None, str | None]]
    ) -> None:
        """Each action's result, in one executemany (ORM bulk update by primary key)."""
        stamp = now()
        rows = [
            {"id": i, "state": st, "vendor_id": vid, "error": err, "finished_at": stamp}
            for i, st, vid, err in results
        ]
        if rows:
            s.execute(update(Action), rows)

    @staticmethod
    def recent_runs(s: Session, limit: int = 10) -> list[Run]:
        return list(s.scalars(select(Run).order_by(Run.id.desc()).limit(limit)))

    @staticmethod
    def conflicts(s: Session, *, status: str | None = "open") -> list[tuple[Conflict, Contact]]:
        q = select(Conflict, Contact).join(Contact, Contact.id == Conflict.contact_id)
        if status:
            q = q.where(Conflict.status == status)
        return [(row[0], row[1]) for row in s.execute(q.order_by(Conflict.id))]

    @staticmethod
    def conflict(s: Session, conflict_id: int) -> tuple[Conflict, Contact] | None:
        row = s.execute(
            select(Conflict, Contact)
            .join(Contact, Contact.id == Conflict.contact_id)
            .where(Conflict.id == conflict_id)
        ).first()
        return None if row is None else (row[0], row[1])

    @staticmethod
    def held_deletions(s: Session) -> list[Action]:
        """The deletions the last real run held (a dry or crashed run holds nothing)."""
        return list(s.scalars(_held_in_last_run(select(Action))))

    @staticmethod
    def count_held_deletions(s: Session) -> int:
        return int(s.scalar(_held_in_last_run(select(func.count()).select_from(Action))) or 0)

    @staticmethod
    def count_conflicts(s: Session, status: str = "open") -> int:
        q = select(func.count()).select_from(Conflict).where(Conflict.status == status)
        return int(s.scalar(q) or 0)

    # --- review: allowed deletions, field history, one contact -------------------------------

    @staticmethod
    def allow_deletion(s: Session, action_id: int) -> Action | None:
        """Mark a held deletion allowed: the next run that lists its system carries it out."""
        entry = s.get(Action, action_id)
        if entry is None or entry.state != "held" or entry.kind != "delete":
            return None
        entry.state = "allowed"
        return entry

    @staticmethod
    def allowed_deletions(s: Session) -> list[Action]:
        return list(s.scalars(select(Action).where(Action.state == "allowed")))

    @staticmethod
    def add_history(s: Session, rows: list[dict[str, Any]]) -> None:
        if rows:
            s.connection().execute(insert(_table(FieldChange)), rows)

    @staticmethod
    def add_contacts(s: Session, contacts: list[Contact]) -> None:
        """New contacts in one executemany; the objects stay out of the session (the run is
        done with them)."""
        rows = [
            {
                "id": c.id,
                "email": c.email,
                "base": c.base,
                "dirty": bool(c.dirty),
                "deleted_at": c.deleted_at,
                "created_at": c.created_at,
                "updated_at": c.updated_at,
            }
            for c in contacts
        ]
        if rows:
            s.connection().execute(insert(_table(Contact)), rows)

    @staticmethod
    def add_links(s: Session, rows: list[dict[str, Any]]) -> None:
        if rows:
            s.connection().execute(insert(_table(Link)), rows)

    @staticmethod
    def contact_by_email(s: Session, email: str) -> Contact | None:
        q = select(Contact).where(Contact.email == email).order_by(Contact.deleted_at.is_not(None))
        return s.scalars(q).first()

    @staticmethod
    def history(s: Session, contact_id: str) -> list[FieldChange]:
        """One row per field and change; a FIRST_SEEN row comes back as one (unsaved) row per
        field it holds."""
        q = select(FieldChange).where(FieldChange.contact_id == contact_id)
        out: list[FieldChange] = []
        for h in s.scalars(q.order_by(FieldChange.id)):
            if h.field != FIRST_SEEN or not isinstance(h.new_value, dict):
                out.append(h)
                continue
            for name, value in h.new_value.items():
                out.append(
                    FieldChange(
                        id=h.id,
                        contact_id=h.contact_id,
                        run_id=h.run_id,
                        field=name,
                        old_value=None,
                        new_value=value,
                        source=h.source,
                        how=h.how,
                        conflict_id=h.conflict_id,
                        at=h.at,
                    )
                )
        return out

    @staticmethod
    def contact_conflicts(s: Session, contact_id: str) -> list[Conflict]:
        q = select(Conflict).where(Conflict.contact_id == contact_id).order_by(Conflict.id)
        return list(s.scalars(q))

    @staticmethod
    def contact_links(s: Session, contact_id: str) -> list[Link]:
        return list(s.scalars(select(Link).where(Link.contact_id == contact_id)))

    @staticmethod
    def last_finished_run(s: Session) -> Run | None:
        q = select(Run).where(Run.status.in_(FINISHED)).order_by(Run.id.desc())
        return s.scalars(q).first()


def _held_in_last_run(q: Select[Any]) -> Select[Any]:
    last = select(Run.id).where(Run.status.in_(FINISHED)).order_by(Run.id.desc()).limit(1)
    return q.where(Action.run_id == last.scalar_subquery(), Action.state == "held")


def _table(model: type[Base]) -> Table:
    """A model's Core table: executemany inserts of many rows skip the ORM's per-object cost."""
    return Base.metadata.tables[model.__tablename__]


def _chunks(values: Iterable[str], size: int = 900) -> Iterator[list[str]]:
    """IN-lists of at most `size` values: under every backend's bound-parameter limit."""
    part: list[str] = []
    for value in values:
        part.append(value)
        if len(part) == size:
            yield part
            part = []
    if part:
        yield part
