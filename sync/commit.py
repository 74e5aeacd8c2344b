"""The last step of a run: what was decided and what the systems answered, into the store.
Links, snapshots, new contacts, conflicts and history are written here; cursors move only
past complete listings whose every record was read."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sync.connectors.base import Listing
from sync.contact import Record
from sync.diff import record_hash
from sync.push import Outcome
from sync.report import RunReport
from sync.runstate import RunState, Touched
from sync.store.models import Cursor
from sync.store.repo import Store, aware, now


def apply(outcomes: list[Outcome], state: RunState, touched: Touched, report: RunReport) -> None:
    """New contacts, links and history rows go in as executemany inserts, not ORM objects (an
    initial sync makes tens of thousands); what already existed is changed through the ORM.
    Contacts go in last of the in-memory changes (a failed push marks one dirty) and first to
    the database (links and history point at them)."""
    stamp = now()
    session = state.session
    for link in touched.dropped:
        state.drop_link(link)
    session.flush()  # deletions first: a re-created link may take a dropped one's place
    # before the links' own changes are flushed: a snapshot replaced below clears its hash
    Store.set_raw_hashes(session, state.raw_fixes)
    new_links: dict[tuple[str, str], dict[str, Any]] = {}
    for (cid, system), (vid, snap) in touched.links.items():
        raw = touched.raw.get((cid, system))
        set_link(state, new_links, cid, system, vid, snap, stamp, raw)
        when = touched.updated.get((cid, system))
        if when is None:
            continue
        pending = new_links.get((cid, system))
        if pending is not None:
            pending["vendor_updated"] = when
            continue
        link = state.by_contact[cid][system]
        old = link.vendor_updated
        if old is None or aware(old) != when:
            link.vendor_updated = when
    for o in outcomes:
        a = o.action
        r = report.system(a.system)
        if o.state != "done":
            r.fail(f"{a.kind} failed: {o.error}", a.vendor_id, a.email)
            state.contacts[a.contact_id].dirty = True
            continue
        if a.kind == "delete":
            r.deleted += 1
            gone = state.by_contact.get(a.contact_id, {}).get(a.system)
            if gone is not None:
                state.drop_link(gone)
            continue
        if a.kind == "create":
            r.created += 1
        else:
            r.updated += 1
        snap = o.snapshot or {}
        set_link(state, new_links, a.contact_id, a.system, o.vendor_id, snap, stamp, o.raw)
    Store.add_contacts(session, state.new_contacts)
    session.add_all(state.new_conflicts)
    Store.add_history(session, state.history)
    session.flush()  # changed links before new ones: a vendor ID may move between them
    Store.add_links(session, list(new_links.values()))


def set_link(
    state: RunState,
    new_links: dict[tuple[str, str], dict[str, Any]],
    cid: str,
    system: str,
    vendor_id: str | None,
    snapshot: Record,
    stamp: datetime,
    raw: str | None = None,
) -> None:
    """The link of (contact, system) now shows `snapshot`: an existing link is changed in
    place, a new one is collected in `new_links` (inserted together at the end). `raw`: the
    hash of the raw record the snapshot was read from; a snapshot from anything else (a
    write's answer) clears the hash, since the record it belonged to no longer gives it."""
    pending = new_links.get((cid, system))
    if pending is not None:
        if vendor_id:
            pending["vendor_id"] = vendor_id
        if pending["snapshot"] != snapshot or raw is not None:
            pending["raw_hash"] = raw
        pending["snapshot"] = snapshot
        pending["snapshot_hash"] = record_hash(snapshot)
        return
    link = state.by_contact.get(cid, {}).get(system)
    if link is None:
        assert vendor_id is not None
        new_links[(cid, system)] = {
            "contact_id": cid,
            "system": system,
            "vendor_id": vendor_id,
            "snapshot": snapshot,
            "snapshot_hash": record_hash(snapshot),
            "raw_hash": raw,
            "vendor_updated": None,
            "gone": False,
            "updated_at": stamp,
        }
        return
    if link.gone:  # a record seen or written again: the system holds it once more
        link.gone = False
    if (not vendor_id or link.vendor_id == vendor_id) and link.snapshot == snapshot:
        if raw is not None and link.raw_hash != raw:
            link.raw_hash = raw  # the same snapshot, read from a record of a new shape
        return  # unchanged: a no-op run writes no row
    if vendor_id and link.vendor_id != vendor_id:
        link.vendor_id = vendor_id
    link.snapshot = snapshot
    link.snapshot_hash = record_hash(snapshot)
    link.raw_hash = raw
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
