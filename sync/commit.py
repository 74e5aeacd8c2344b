"""The last step of a run: what was decided and what the systems answered, into the store.
Links, snapshots, new contacts, conflicts and history are written here; cursors move only
past complete listings whose every record was read."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from sync.connectors.base import Listing
from sync.contact import Record
from sync.diff import record_hash
from sync.push import Outcome
from sync.report import RunReport
from sync.runstate import RunState, Touched
from sync.store.models import Cursor, Link
from sync.store.repo import Store, aware, now


def apply(outcomes: list[Outcome], state: RunState, touched: Touched, report: RunReport) -> None:
    stamp = now()
    session = state.session
    session.add_all(state.new_contacts)
    session.flush()  # contacts before the rows that point at them
    session.add_all(state.new_conflicts)
    Store.add_history(session, state.history)
    for link in touched.dropped:
        state.by_contact.get(link.contact_id, {}).pop(link.system, None)
        state.links.pop((link.system, link.vendor_id), None)
        session.delete(link)
    session.flush()
    for (cid, system), (vid, snap) in touched.links.items():
        set_link(session, state, cid, system, vid, snap, stamp)
        when = touched.updated.get((cid, system))
        link = state.by_contact[cid][system]
        old = link.vendor_updated
        if when is not None and (old is None or aware(old) != when):
            link.vendor_updated = when
    for o in outcomes:
        a = o.action
        r = report.system(a.system)
        if o.state != "done":
            r.failed.append(
                {
                    "vendor_id": a.vendor_id,
                    "email": a.email,
                    "reason": f"{a.kind} failed: {o.error}",
                }
            )
            state.contacts[a.contact_id].dirty = True
            continue
        if a.kind == "delete":
            r.deleted += 1
            gone = state.by_contact.get(a.contact_id, {}).pop(a.system, None)
            if gone is not None:
                state.links.pop((gone.system, gone.vendor_id), None)
                session.delete(gone)
            continue
        if a.kind == "create":
            r.created += 1
        else:
            r.updated += 1
        set_link(session, state, a.contact_id, a.system, o.vendor_id, o.snapshot or {}, stamp)


def set_link(
    session: Session,
    state: RunState,
    cid: str,
    system: str,
    vendor_id: str | None,
    snapshot: Record,
    stamp: datetime,
) -> None:
    link = state.by_contact.get(cid, {}).get(system)
    if link is None:
        assert vendor_id is not None
        link = Link(
            contact_id=cid,
            system=system,
            vendor_id=vendor_id,
            snapshot=snapshot,
            snapshot_hash=record_hash(snapshot),
            gone=False,
            updated_at=stamp,
        )
        session.add(link)
        state.by_contact.setdefault(cid, {})[system] = link
        state.links[(system, vendor_id)] = link
        return
    if (not vendor_id or link.vendor_id == vendor_id) and link.snapshot == snapshot:
        return  # unchanged: a no-op run writes no row
    if vendor_id and link.vendor_id != vendor_id:
        link.vendor_id = vendor_id
    link.snapshot = snapshot
    link.snapshot_hash = record_hash(snapshot)
    link.updated_at = stamp


def advance_cursors(
    listings: dict[str, tuple[Listing, bool]], read_failed: set[str], state: RunState
) -> None:
    session = state.session
    stamp = now()
    for system, (listing, full) in listings.items():
        cur = state.cursors.get(system)
        if cur is None:
            cur = Cursor(system=system, updated_at=stamp)
            session.add(cur)
            state.cursors[system] = cur
        cur.updated_at = stamp
        if not listing.complete:
            cur.last_error = "; ".join(listing.problems) or "listing incomplete"
            continue
        cur.last_success = stamp
        cur.last_error = None
        if system in read_failed:
            continue  # re-read the failed records next time
        if listing.cursor is not None:
            cur.value = listing.cursor
        if full:
            cur.last_full_scan = stamp
