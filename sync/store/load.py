"""Loading the View a run decides over: the contacts its listings touch (or all of them),
their links, live conflicts, allowances, unlinked records and the links per system."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from sync.rows import View
from sync.states import LIVE, JournalState
from sync.store.convert import (
    CONTACT_COLS,
    CONTACTS,
    LINK_COLS,
    LINKS,
    among,
    among_values,
    chunks,
    conflict_row,
    contact_row,
    link_row,
)
from sync.store.models import Conflict, Contact, JournalEntry, Link


def load_view(
    s: Session,
    *,
    everything: bool,
    by_system: dict[str, list[str]],
    emails: set[str],
    linked: dict[str, int] | None = None,
    count: Iterable[str] = (),
) -> View:
    """`everything`: every contact and link. Else the contacts with a listed record (by
    vendor ID in `by_system`, or by email) and those with work pending (dirty, live
    conflicts), with all their links: an incremental run costs what changed. `linked`: live
    links per system already counted; the systems in `count` (those whose deletions may be
    inferred) are counted if they are not."""
    conflicts = [
        conflict_row(c) for c in s.scalars(select(Conflict).where(Conflict.status.in_(LIVE)))
    ]
    if everything:
        contacts = [contact_row(r) for r in s.execute(select(*CONTACT_COLS))]
        links = [link_row(r) for r in s.execute(select(*LINK_COLS))]
    else:
        ids = set(s.scalars(select(Contact.id).where(Contact.dirty.is_(True))))
        ids |= {c.contact_id for c in conflicts}
        dialect = s.get_bind().dialect.name
        q = select(Contact.id).where(among(Contact.email, dialect))
        for values in among_values(sorted(emails), dialect):
            ids.update(s.scalars(q, values))
        q = select(Link.contact_id).where(Link.system == bindparam("system"))
        q = q.where(among(Link.vendor_id, dialect))
        for system, vendor_ids in by_system.items():
            for values in among_values(vendor_ids, dialect):
                ids.update(s.scalars(q, {"system": system, **values}))
        contacts, links = [], []
        for part in chunks(sorted(ids)):
            q = select(*CONTACT_COLS).where(CONTACTS.c.id.in_(part))
            contacts += [contact_row(r) for r in s.execute(q)]
            links += [
                link_row(r)
                for r in s.execute(select(*LINK_COLS).where(LINKS.c.contact_id.in_(part)))
            ]
    allowed = s.execute(
        select(JournalEntry.id, JournalEntry.system, JournalEntry.vendor_id).where(
            JournalEntry.state == JournalState.ALLOWED
        )
    )
    unlinked = s.execute(
        select(JournalEntry.system, JournalEntry.contact_id).where(
            JournalEntry.state == JournalState.UNLINKED
        )
    )
    linked = dict(linked or {})
    wanted = sorted(set(count) - set(linked))
    if wanted:  # an incremental run needs no count: counting a million links costs a scan
        counted = (
            select(Link.system, func.count())
            .where(Link.gone.is_(False), Link.system.in_(wanted))
            .group_by(Link.system)
        )
        found = {system: int(n) for system, n in s.execute(counted)}
        linked |= dict.fromkeys(wanted, 0) | found
    return View.of(
        contacts,
        links,
        conflicts,
        allowed={(system, vid or ""): i for i, system, vid in allowed},
        unlinked={(system, cid) for system, cid in unlinked},
        linked=linked,
    )
