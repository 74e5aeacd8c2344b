"""What each review page shows, read from the store as plain data (no HTTP here)."""

from __future__ import annotations

from typing import Any

from sync import conflicts, status
from sync.config import Settings
from sync.store.repo import Store


def open_conflicts(store: Store) -> list[dict[str, Any]]:
    return conflicts.rows(store)


def problems(store: Store) -> dict[str, Any]:
    """Failed records of the last finished run, and the deletions it held."""
    run = store.last_finished_run()
    failed = []
    if run is not None:
        for system, r in (run.summary.get("systems") or {}).items():
            failed += [{"system": system, **f} for f in r.get("failed") or []]
    held = [
        {
            "id": h.entry_id,
            "system": h.system,
            "vendor_id": h.vendor_id,
            "email": h.email,
            "why": h.why,
        }
        for h in store.held_deletions()
    ]
    allowed = [
        {"id": a.id, "system": a.system, "vendor_id": a.vendor_id}
        for a in store.allowed_deletions()
    ]
    return {
        "run_id": run.id if run else None,
        "run_at": run.started_at if run else None,
        "failed": failed,
        "held": held,
        "allowed": allowed,
    }


def runs_and_health(store: Store, settings: Settings) -> dict[str, Any]:
    """Recent runs with what each did per system, and each system's health."""
    data = status.collect(store, settings)
    recent = store.recent_runs(20)
    runs: list[dict[str, Any]] = [
        {
            "id": r.id,
            "started_at": r.started_at,
            "finished_at": r.finished_at,
            "status": r.status,
            "systems": {
                n: {
                    "listing": v.get("listing"),
                    "read": v.get("read", 0),
                    "created": v.get("created", 0),
                    "updated": v.get("updated", 0),
                    "deleted": v.get("deleted", 0),
                    "conflicts": v.get("conflicts", 0),
                    "failed": len(v.get("failed") or []),
                    "held": len(v.get("held") or []),
                }
                for n, v in (r.summary.get("systems") or {}).items()
            },
        }
        for r in recent
    ]
    health = []
    last = runs[0]["systems"] if runs else {}
    for name in settings.systems:
        c = data["cursors"].get(name, {})
        state = "never run"
        if last.get(name, {}).get("listing") == "write-only":
            state = "write-only: written, never listed"
        if c.get("last_error"):
            state = "failing"
        elif c.get("last_success"):
            state = "ok"
        health.append({"system": name, "state": state, **c})
    return {"runs": runs, "health": health, "open_conflicts": data["open_conflicts"]}
