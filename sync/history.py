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
    by_id = {c.id: c for c in live.values()}
    settled = {by_id[i].field: (by_id[i], st) for i, st in result.settled.items() if i in by_id}
    won = {fc.field: fc for fc in result.conflicts if fc.winner is not None}
    rows: list[dict[str, Any]] = []
    # the fields a run saw first from one source share one row (an initial sync writes a row
    # per contact, not one per field); `Store.history` reads them back per field
    first: dict[str, dict[str, Any]] = {}
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
        source = source[:255]
        seen_first = how == "first seen"
        if seen_first and source in first:
            first[source]["new_value"][name] = new
            continue
        entry = {
            "contact_id": contact_id,
            "run_id": run_id,
            "field": FIRST_SEEN if seen_first else name,
            "old_value": old,
            "new_value": {name: new} if seen_first else new,
            "source": source,
            "how": how[:255],
            "conflict_id": conflict_id,
            "at": at,
        }
        if seen_first:
            first[source] = entry
        rows.append(entry)
    return rows
