"""Where each agreed value came from: the field history rows of one merged contact (pure).

One row per field whose base value the merge changed, naming the systems the value came
from, or "review" when it is a person's resolution of a conflict. The engine inserts the
rows of a whole run in one batch; `contactsync explain` reads them back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sync.contact import Record
from sync.merge import Change, MergeResult
from sync.rows import FIRST_SEEN, ConflictRow
from sync.states import ConflictStatus


def field_rows(
    contact_id: str,
    before: Record,
    result: MergeResult,
    changes: dict[str, dict[str, Change]],
    live: dict[str, ConflictRow],
    policy: str,
    run_id: int | None,
    at: datetime,
) -> list[dict[str, Any]]:
    if not before and not result.settled and all(fc.winner is None for fc in result.conflicts):
        return _first_sight(contact_id, result.values, changes, run_id, at)
    by_id = {c.id: c for c in live.values()}
    settled = {by_id[i].field: (by_id[i], st) for i, st in result.settled.items() if i in by_id}
    won = {fc.field: fc for fc in result.conflicts if fc.winner is not None}
    rows: list[dict[str, Any]] = []
    for name in sorted(set(before) | set(result.values)):
        old, new = before.get(name), result.values.get(name)
        if old == new:
            continue
        conflict_id = None
        if name in settled and settled[name][1] == ConflictStatus.APPLIED:
            row, _ = settled[name]
            source, how, conflict_id = "review", f"conflict resolved: {row.resolved_by}", row.id
        elif name in won:
            fc = won[name]
            others = ", ".join(sorted(s for s in fc.changes if s != fc.winner))
            source, how = str(fc.winner), f"conflict with {others} settled by policy {policy}"
        else:
            systems = sorted(s for s, f in changes.items() if name in f and f[name].value == new)
            source = ", ".join(systems) or "sync"
            how = "changed" if old is not None else "first seen"
            if name in settled:
                row, _ = settled[name]
                how, conflict_id = "the systems came to agree", row.id
        rows.append(
            {
                "contact_id": contact_id,
                "run_id": run_id,
                "field": name,
                "old_value": old,
                "new_value": new,
                "source": source[:255],
                "how": how[:255],
                "conflict_id": conflict_id,
                "at": at,
            }
        )
    return _first_seen_together(rows)


def _first_sight(
    contact_id: str,
    values: Record,
    changes: dict[str, dict[str, Change]],
    run_id: int | None,
    at: datetime,
) -> list[dict[str, Any]]:
    """A contact without a base yet: every value is first seen, one row per set of systems
    it came from (what the general path gives, without a row per field first)."""
    by_source: dict[str, dict[str, Any]] = {}
    for name in sorted(values):
        new = values[name]
        systems = sorted(s for s, f in changes.items() if name in f and f[name].value == new)
        source = (", ".join(systems) or "sync")[:255]
        group = by_source.get(source)
        if group is None:
            group = by_source[source] = {
                "contact_id": contact_id,
                "run_id": run_id,
                "field": FIRST_SEEN,
                "old_value": None,
                "new_value": {},
                "source": source,
                "how": "first seen",
                "conflict_id": None,
                "at": at,
            }
        group["new_value"][name] = new
    return list(by_source.values())


def _first_seen_together(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The fields a run saw first from one source in one row (an initial sync writes one
    row per contact instead of one per field); `Store.history` reads them back per field."""
    out: list[dict[str, Any]] = []
    by_source: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["how"] != "first seen":
            out.append(row)
            continue
        group = by_source.get(row["source"])
        if group is None:
            group = by_source[row["source"]] = {**row, "field": FIRST_SEEN, "new_value": {}}
            out.append(group)
        group["new_value"][row["field"]] = row["new_value"]
    return out
