"""What the run's last commit writes, worked out from the decision and the answers (pure).

Links and snapshots (what a listing showed, then what each write's answer says), links to
drop (deletes that went through, edits that beat a delete), new contacts with the dirty mark
of a failed write, and cursors, which move only past complete listings whose every record
was read. The store executes the result in one transaction (RunTx.finish).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sync.contact import Record
from sync.decision import Decision
from sync.diff import record_hash
from sync.observe import Observations
from sync.push import Outcome
from sync.report import RunReport
from sync.rows import ContactRow, CursorRow, LinkRow, View
from sync.states import JournalState, Kind


@dataclass
class Final:
    dropped: list[int] = field(default_factory=list)  # link IDs, deleted first
    raw_fixes: list[tuple[str, str, str]] = field(default_factory=list)
    link_updates: list[dict[str, Any]] = field(default_factory=list)  # "id" + what changed
    new_links: list[dict[str, Any]] = field(default_factory=list)
    new_contacts: list[ContactRow] = field(default_factory=list)
    dirty: list[str] = field(default_factory=list)  # existing contacts a write failed for
    cursors: list[dict[str, Any]] = field(default_factory=list)  # "new": insert, else update


def settle(decision: Decision, outcomes: list[Outcome], view: View, report: RunReport) -> Final:
    at = decision.at
    links = _Links(view, set(decision.gone), at)
    for ln in decision.dropped:
        links.drop(ln.contact_id, ln.system)
    for (cid, system), seen in decision.links.items():
        links.set(cid, system, seen.vendor_id, seen.snapshot, seen.raw)
        if seen.updated is not None:
            links.updated(cid, system, seen.updated)
    dirty: set[str] = set()
    for o in outcomes:
        a = o.action
        r = report.system(a.system)
        if o.warning:
            report.notes.append(f"{a.system}: {a.email or a.contact_id}: {o.warning}")
        if o.state != JournalState.DONE:
            if o.stopped:
                r.not_sent += 1  # the system's failure is reported once, not per record
            else:
                r.fail(f"{a.kind} failed: {o.error}", a.vendor_id, a.email)
            if o.state != JournalState.UNLINKED:  # nothing to retry there: a person links it
                dirty.add(a.contact_id)
            continue
        if a.kind == Kind.DELETE:
            r.deleted += 1
            links.drop(a.contact_id, a.system)
            continue
        if a.kind == Kind.CREATE:
            r.created += 1
        else:
            r.updated += 1
        links.set(a.contact_id, a.system, o.vendor_id, o.snapshot or {}, o.raw)
    final = Final(raw_fixes=list(decision.raw_fixes))
    links.emit(final)
    for cid in sorted(decision.new):
        contact = decision.contacts[cid]
        final.new_contacts.append(replace(contact, dirty=contact.dirty or cid in dirty))
    final.dirty = sorted(dirty - decision.new)
    return final


def cursors(
    seen: Observations,
    read_failed: set[str],
    stored: dict[str, CursorRow],
    failures: dict[str, str],
    at: datetime,
) -> list[dict[str, Any]]:
    """Each listed system's cursor and health after this run; `failures`: systems that
    failed as a whole while being written (credentials, outage, quota), listed or not."""
    out = []
    for system in sorted(set(seen.systems) | set(failures)):
        row: dict[str, Any] = {"system": system, "updated_at": at, "new": system not in stored}
        listed = seen.systems.get(system)
        if listed is None:  # written only: its health is what its writes said
            row["last_error"] = failures[system]
        elif not listed.complete:
            row["last_error"] = "; ".join(listed.problems) or listed.failure or "listing incomplete"
        else:
            row["last_error"] = failures.get(system)
            if system not in failures:
                row["last_success"] = at
            if system not in read_failed:  # else the failed records are read again next time
                if listed.cursor is not None:
                    row["value"] = listed.cursor
                if listed.full:
                    row["last_full_scan"] = at
        out.append(row)
    for system, old in stored.items():  # a write-only system that failed before and works now
        if system not in seen.systems and system not in failures and old.last_error:
            out.append({"system": system, "updated_at": at, "new": False, "last_error": None})
    return out


class _Links:
    """The links of the touched (contact, system) pairs as this commit leaves them: working
    copies of the stored rows, new rows, and the IDs of rows to delete."""

    def __init__(self, view: View, gone: set[int], at: datetime) -> None:
        self.view, self.gone, self.at = view, gone, at
        self.work: dict[tuple[str, str], dict[str, Any] | None] = {}
        self.origin: dict[tuple[str, str], LinkRow] = {}
        self.new: dict[tuple[str, str], dict[str, Any]] = {}
        self.dropped: list[int] = []

    def _current(self, key: tuple[str, str]) -> dict[str, Any] | None:
        if key in self.work:
            return self.work[key]
        ln = self.view.by_contact.get(key[0], {}).get(key[1])
        if ln is None:
            return None
        self.origin[key] = ln
        row = self.work[key] = _fields(ln, ln.id in self.gone)
        return row

    def drop(self, cid: str, system: str) -> None:
        key = (cid, system)
        if self.new.pop(key, None) is not None:
            return
        if self._current(key) is not None:
            self.dropped.append(self.origin[key].id)
            self.work[key] = None

    def set(
        self, cid: str, system: str, vendor_id: str | None, snapshot: Record, raw: str | None
    ) -> None:
        """The link of (contact, system) now shows `snapshot`. `raw`: the hash of the raw
        record it was read from; a snapshot from anything else (a write's answer) clears the
        hash, since the record it belonged to no longer gives it."""
        key = (cid, system)
        pending = self.new.get(key)
        if pending is not None:
            if vendor_id:
                pending["vendor_id"] = vendor_id
            if pending["snapshot"] != snapshot or raw is not None:
                pending["raw_hash"] = raw
            pending["snapshot"], pending["snapshot_hash"] = snapshot, record_hash(snapshot)
            return
        link = self._current(key)
        if link is None:
            assert vendor_id is not None
            self.new[key] = {
                "contact_id": cid,
                "system": system,
                "vendor_id": vendor_id,
                "snapshot": snapshot,
                "snapshot_hash": record_hash(snapshot),
                "raw_hash": raw,
                "vendor_updated": None,
                "gone": False,
                "updated_at": self.at,
            }
            return
        link["gone"] = False  # a record seen or written again: the system holds it once more
        if (not vendor_id or link["vendor_id"] == vendor_id) and link["snapshot"] == snapshot:
            if raw is not None:
                link["raw_hash"] = raw  # the same snapshot, read from a record of a new shape
            return  # unchanged: a no-op run writes no row
        if vendor_id:
            link["vendor_id"] = vendor_id
        link["snapshot"], link["raw_hash"] = snapshot, raw

    def updated(self, cid: str, system: str, when: datetime) -> None:
        key = (cid, system)
        pending = self.new.get(key)
        if pending is not None:
            pending["vendor_updated"] = when
            return
        link = self._current(key)
        if link is not None:
            link["vendor_updated"] = when

    def emit(self, final: Final) -> None:
        final.dropped = self.dropped
        for key, row in self.work.items():
            if row is None:
                continue
            ln = self.origin[key]
            before = _fields(ln, ln.id in self.gone)
            changed = {k: v for k, v in row.items() if v != before[k]}
            if "snapshot" in changed:  # a new snapshot always says which raw record it is
                changed["snapshot_hash"] = record_hash(row["snapshot"])
                changed["raw_hash"] = row["raw_hash"]
            if {"vendor_id", "snapshot"} & set(changed):
                changed["updated_at"] = self.at
            if changed:
                final.link_updates.append({"id": ln.id, **changed})
        final.new_links = list(self.new.values())


def _fields(ln: LinkRow, gone: bool) -> dict[str, Any]:
    return {
        "vendor_id": ln.vendor_id,
        "snapshot": ln.snapshot,
        "raw_hash": ln.raw_hash,
        "vendor_updated": ln.vendor_updated,
        "gone": gone,
    }
