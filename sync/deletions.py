"""`contactsync deletions list|allow`: the held deletions, as the review page shows them."""

from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table

from sync.config import Settings
from sync.errors import UsageError
from sync.store.repo import Store


def list_held(store: Store, fmt: str, console: Console) -> int:
    held = [
        {"id": h.entry_id, "system": h.system, "vendor_id": h.vendor_id, "why": h.why}
        for h in store.held_deletions()
    ]
    if fmt == "json":
        print(json.dumps(held, indent=2))
        return 0
    if not held:
        console.print("no held deletions")
        return 0
    table = Table(
        title="held deletions (allow: contactsync deletions allow ID ... | --system NAME)"
    )
    for col in ("id", "system", "record", "why held"):
        table.add_column(col)
    for h in held:
        table.add_row(
            str(h["id"]), str(h["system"]), str(h["vendor_id"] or ""), str(h["why"] or "")
        )
    console.print(table)
    return 0


def allow(
    store: Store, settings: Settings, ids: list[int], system: str | None, console: Console
) -> int:
    """Allow held deletions by ID, or all of one system's; the next run that lists that
    system completely carries them out (as the review page's Allow does)."""
    if bool(ids) == bool(system):
        raise UsageError("deletions allow: give held deletion IDs or --system NAME (not both)")
    if system is not None and system not in settings.systems:
        valid = ", ".join(settings.systems) or "none"
        raise UsageError(f"--system {system}: no such system (configured: {valid})")
    held = store.held_deletions()
    wanted = [h.entry_id for h in held if h.system == system] if system else ids
    unknown = sorted(set(wanted) - {h.entry_id for h in held})
    if unknown:
        listed = ", ".join(map(str, unknown))
        raise UsageError(f"no held deletion with ID {listed} (see contactsync deletions list)")
    store.allow_deletions(wanted)
    if not wanted:
        console.print(f"{system}: no held deletions")
        return 0
    console.print(
        f"allowed {len(wanted)} deletion(s); the next run that lists their system in full "
        "carries them out"
    )
    return 0
