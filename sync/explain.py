"""`contactsync explain EMAIL`: why each field of a contact holds the value it holds.

For every field: the agreed value, the system that set it and in which run, what each linked
system held when last seen, and the history of changes and conflicts behind it. The review
page shows the same data (sync/web).
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from sync.config import Settings
from sync.errors import UsageError
from sync.rows import ConflictRow, HistoryRow
from sync.store.repo import Store, aware


def _iso(value: Any) -> str | None:
    return aware(value).isoformat() if value is not None else None  # SQLite drops the zone


def _change(row: HistoryRow) -> dict[str, Any]:
    return {
        "run_id": row.run_id,
        "at": _iso(row.at),
        "from": row.old_value,
        "to": row.new_value,
        "source": row.source,
        "how": row.how,
        "conflict_id": row.conflict_id,
    }


def _conflict(c: ConflictRow) -> dict[str, Any]:
    return {
        "id": c.id,
        "run_id": c.run_id,
        "status": c.status,
        "base": c.base_value,
        "values": c.values,
        "resolution": c.resolution,
        "resolved_by": c.resolved_by,
        "created_at": _iso(c.created_at),
    }


def collect(store: Store, settings: Settings, email: str) -> dict[str, Any]:
    wanted = email.strip().lower()
    contact = store.contact_by_email(wanted)
    if contact is None:
        raise UsageError(f"no contact with email {email!r}")
    history = store.history(contact.id)
    conflicts = store.contact_conflicts(contact.id)
    links = store.contact_links(contact.id)
    order = settings.schema.fields
    names = set(contact.base) | {h.field for h in history} | {c.field for c in conflicts}
    names |= {f for ln in links for f, v in ln.snapshot.items() if v is not None}
    fields = []
    for name in sorted(names, key=lambda n: (order.index(n) if n in order else len(order), n)):
        changes = [_change(h) for h in history if h.field == name]
        last = changes[-1] if changes else None
        fields.append(
            {
                "field": name,
                "value": contact.base.get(name),
                "set_by": last["source"] if last else None,
                "run_id": last["run_id"] if last else None,
                "systems": {
                    ln.system: ln.snapshot.get(name)
                    for ln in links
                    if not ln.gone and _carries(settings, ln.system, name)
                },
                "history": changes,
                "conflicts": [_conflict(c) for c in conflicts if c.field == name],
            }
        )
    return {
        "email": contact.email,
        "contact_id": contact.id,
        "deleted_at": _iso(contact.deleted_at),
        "links": {ln.system: ln.vendor_id for ln in links},
        "fields": fields,
    }


def _carries(settings: Settings, system: str, name: str) -> bool:
    """Whether the system's mapping holds this field at all (else it has no opinion)."""
    found = settings.systems.get(system)
    if found is None:
        return False
    return name in found.mapping.read_fields or name in found.mapping.write_fields


def _show(value: Any) -> str:
    return "-" if value is None else str(value)


def show(store: Store, settings: Settings, email: str, fmt: str, console: Console) -> int:
    data = collect(store, settings, email)
    if fmt == "json":
        print(json.dumps(data, indent=2, default=str))
        return 0
    gone = f" (deleted {data['deleted_at']})" if data["deleted_at"] else ""
    linked = ", ".join(f"{s} {v}" for s, v in data["links"].items()) or "none"
    console.print(f"[bold]{data['email']}[/bold]{gone}; linked: {linked}")
    table = Table(title="why each value")
    for col in ("field", "value", "set by", "run", "systems that differ"):
        table.add_column(col)
    for f in data["fields"]:
        differ = [f"{s}: {_show(v)}" for s, v in f["systems"].items() if v != f["value"]]
        table.add_row(
            f["field"],
            _show(f["value"]),
            f["set_by"] or "-",
            _show(f["run_id"]),
            "\n".join(differ) or "none",
        )
    console.print(table)
    for f in data["fields"]:
        if not (f["history"] or f["conflicts"]):
            continue
        console.print(f"[bold]{f['field']}[/bold]")
        for h in f["history"]:
            console.print(
                f"  run {h['run_id']}: {_show(h['from'])} -> {_show(h['to'])}, "
                f"{h['source']} ({h['how']})",
                highlight=False,
            )
        for c in f["conflicts"]:
            values = ", ".join(f"{s}={_show(v.get('value'))}" for s, v in c["values"].items())
            settled = (
                f" -> {_show(c['resolution'])} ({c['resolved_by']})"
                if c["resolution"] is not None or c["status"] != "open"
                else ""
            )
            console.print(
                f"  conflict {c['id']} (run {c['run_id']}, {c['status']}): {values}{settled}",
                highlight=False,
            )
    return 0
