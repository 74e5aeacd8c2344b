"""What each system changed for one contact, and the conflict rows a merge leaves (pure).

Against the link's snapshot, a record says what its system changed. A record seen for the
first time (a new link) has no snapshot: its values that differ from the agreed base are set
against a system that holds the base and did not change that field, so a newcomer cannot
silently overwrite an agreed value.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sync.contact import Record
from sync.decision import ConflictChange, NewConflict
from sync.diff import changed_fields
from sync.mapping import Mapping
from sync.match import Observed
from sync.merge import Change, MergeResult
from sync.rows import ConflictRow, ContactRow, LinkRow
from sync.states import ConflictStatus

Changes = dict[str, dict[str, Change]]


def changes(
    contact: ContactRow,
    links: dict[str, LinkRow],
    seen: dict[str, Observed],
    mappings: dict[str, Mapping],
) -> Changes:
    out: Changes = {}
    base = contact.base
    newcomers = []
    for system, ob in seen.items():
        if ob.new_link or system not in links:
            newcomers.append((system, ob))
            continue
        diff = changed_fields(links[system].snapshot, ob.record, mappings[system].read_fields)
        if diff:
            out[system] = {f: Change(system, v, ob.updated) for f, v in diff.items()}
    for system, ob in newcomers:
        read = mappings[system].read_fields
        found = {f: v for f, v in ob.record.items() if f in read and v != base.get(f)}
        if not found:
            continue
        out[system] = {f: Change(system, v, ob.updated) for f, v in found.items()}
        # no common ancestor: a differing value already agreed is the other side
        for f in found:
            if base.get(f) is None:
                continue
            holder = next(
                (
                    s
                    for s, ln in links.items()
                    if s != system
                    and not ln.gone
                    and ln.snapshot.get(f) == base[f]
                    and f not in out.get(s, {})
                    and not (s in seen and seen[s].new_link)
                ),
                None,
            )
            if holder:
                at = links[holder].vendor_updated
                out.setdefault(holder, {})[f] = Change(holder, base[f], at)
    return out


def snapshots(
    links: dict[str, LinkRow], seen: dict[str, Observed], mappings: dict[str, Mapping]
) -> dict[str, Record]:
    """The new snapshot of each observed link: what it showed, plus the fields it never
    shows (written only), carried over from the old snapshot. With nothing to carry it is
    the observed record itself (records and snapshots are never changed in place): a run
    holds every listed record until its commit, and a copy of each beside it."""
    out = {}
    for system, ob in seen.items():
        read = mappings[system].read_fields
        old = links[system].snapshot if system in links and not ob.new_link else {}
        carried = {f: v for f, v in old.items() if f not in read}
        out[system] = {**carried, **ob.record} if carried else ob.record
    return out


def conflict_rows(
    cid: str,
    result: MergeResult,
    live: dict[str, ConflictRow],
    *,
    policy: str,
    run_id: int | None,
    at: datetime,
) -> tuple[list[ConflictChange], list[NewConflict]]:
    """Conflicts the merge settled or changed, and the new ones it found."""
    changed: list[ConflictChange] = []
    new: list[NewConflict] = []
    per = dict(live)
    for conflict_id, status in result.settled.items():
        for f, c in list(per.items()):
            if c.id == conflict_id:
                changed.append(ConflictChange(c.id, status=status, resolved_at=c.resolved_at or at))
                del per[f]
    for fc in result.conflicts:
        values: dict[str, Any] = {
            s: {"value": ch.value, "changed_at": ch.at.isoformat() if ch.at else None}
            for s, ch in fc.changes.items()
        }
        if fc.existing is not None:
            row = per.get(fc.field)
            if row is not None:
                before = row.values or {}
                for s, v in values.items():  # an unchanged value keeps when it changed
                    if v["changed_at"] is None and before.get(s, {}).get("value") == v["value"]:
                        v["changed_at"] = before[s].get("changed_at")
                if values != before:  # a no-op run writes no row
                    changed.append(ConflictChange(row.id, values=values))
            continue
        won = fc.winner is not None
        new.append(
            NewConflict(
                contact_id=cid,
                field=fc.field,
                base_value=fc.base,
                values=values,
                status=ConflictStatus.OPEN if fc.held else ConflictStatus.AUTO,
                run_id=run_id,
                created_at=at,
                resolution=fc.changes[fc.winner].value if fc.winner is not None else None,
                resolved_by=f"policy {policy}: {fc.winner}" if won else None,
                resolved_at=at if won else None,
            )
        )
    return changed, new
