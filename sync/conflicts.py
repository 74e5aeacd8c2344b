"""`contactsync conflicts`: list, show and resolve what two systems disagree on."""

from __future__ import annotations

import csv
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from sync.config import Settings
from sync.errors import RecordError, UsageError
from sync.masking import mask
from sync.rows import ConflictRow
from sync.states import ConflictStatus
from sync.store.repo import Store, aware


def as_dict(conflict: ConflictRow, email: str | None) -> dict[str, Any]:
    return {
        "id": conflict.id,
        "email": email,
        "field": conflict.field,
        "base": conflict.base_value,
        "values": conflict.values,
        "status": conflict.status,
        "resolution": conflict.resolution,
        "resolved_by": conflict.resolved_by,
        "created_at": aware(conflict.created_at).isoformat() if conflict.created_at else None,
    }


def rows(store: Store, include_all: bool = False) -> list[dict[str, Any]]:
    found = store.conflicts(status=None if include_all else ConflictStatus.OPEN)
    return [as_dict(c, email) for c, email in found]


def render(items: list[dict[str, Any]], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(items, indent=2, default=str)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "email", "field", "base", "system", "value", "changed_at", "status"])
    for item in items:
        for system, v in item["values"].items():
            writer.writerow(
                [
                    item["id"],
                    item["email"],
                    item["field"],
                    item["base"],
                    system,
                    v.get("value"),
                    v.get("changed_at"),
                    item["status"],
                ]
            )
    return out.getvalue()


def list_conflicts(store: Store, fmt: str, include_all: bool, console: Console) -> int:
    items = rows(store, include_all)
    if fmt != "table":
        print(render(items, fmt), end="" if fmt == "csv" else "\n")
        return 0
    if not items:
        console.print("no open conflicts")
        return 0
    table = Table(title="conflicts")
    for col in ("id", "email", "field", "base", "values", "status"):
        table.add_column(col)
    for item in items:
        values = "\n".join(
            f"{s}: {v.get('value')!r} ({v.get('changed_at') or 'time unknown'})"
            for s, v in item["values"].items()
        )
        table.add_row(
            str(item["id"]),
            item["email"] or "",
            item["field"],
            repr(item["base"]),
            values,
            item["status"],
        )
    console.print(table)
    return 0


def show(store: Store, conflict_id: int, console: Console) -> int:
    found = store.conflict(conflict_id)
    if found is None:
        raise UsageError(f"no conflict with ID {conflict_id}")
    console.print_json(json.dumps(as_dict(*found), default=str))
    return 0


@dataclass(frozen=True)
class Resolution:
    conflict_id: int
    email: str | None
    field: str
    chosen: Any


def apply_resolution(
    store: Store,
    settings: Settings,
    conflict_id: int,
    *,
    take: str | None = None,
    value: str | None = None,
    dismiss: bool = False,
) -> Resolution:
    """Store a person's choice for an open conflict; the next run pushes it everywhere.
    The one code path behind `conflicts resolve` and the review page."""
    found = store.conflict(conflict_id)
    if found is None:
        raise UsageError(f"no conflict with ID {conflict_id}")
    conflict, email = found
    if conflict.status != ConflictStatus.OPEN:
        raise UsageError(f"conflict {conflict_id} is {conflict.status}, not open")
    if take is not None:
        if take not in conflict.values:
            valid = ", ".join(conflict.values)
            raise UsageError(f"system {take!r} has no value in this conflict (valid: {valid})")
        chosen, by = conflict.values[take]["value"], f"take {take}"
    elif dismiss:
        chosen, by = conflict.base_value, "dismissed: keep base"
    elif value is not None:
        kind = settings.schema.types.get(conflict.field, "str")
        try:
            chosen = settings.schema.normalise({conflict.field: value}).get(conflict.field)
        except RecordError as exc:
            raise UsageError(str(exc)) from None
        if kind == "bool" and chosen is None:
            raise UsageError(f"{value!r} is not a yes/no value")
        by = "value"
    else:
        raise UsageError("choose a system's value, enter a value, or dismiss")
    if not store.resolve_conflict(conflict_id, chosen, by):
        raise UsageError(f"conflict {conflict_id} was settled meanwhile; it is no longer open")
    return Resolution(conflict_id, email, conflict.field, chosen)


def resolve(
    store: Store,
    settings: Settings,
    conflict_id: int,
    take: str | None,
    value: str | None,
    dismiss: bool,
    console: Console,
) -> int:
    r = apply_resolution(store, settings, conflict_id, take=take, value=value, dismiss=dismiss)
    console.print(
        f"conflict {conflict_id} ({r.email} {r.field}) resolved to {r.chosen!r}; "
        "it is pushed to every system on the next run"
    )
    return 0


def export(store: Store, fmt: str, include_all: bool, output: str | None) -> int:
    """`conflicts export`: a self-contained report to read or mail (html, csv or json)."""
    items = rows(store, include_all)
    if fmt == "html":
        from sync.web.templating import render_export

        text = render_export(items, include_all)
    else:
        text = render(items, fmt)
        text += "" if text.endswith("\n") else "\n"
    text = mask(text)  # an export leaves the process like a log does
    if output is None:
        sys.stdout.write(text)
        return 0
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror}") from None
    return 0
