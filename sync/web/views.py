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
    held: list[dict[str, Any]] = [
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
    groups: dict[str, dict[str, Any]] = {}
    for h in held:  # one guard holds a system's deletions: its reason is said once
        group = groups.setdefault(h["system"], {"system": h["system"], "why": [], "items": []})
        group["items"].append(h)
        if h["why"] not in group["why"]:
            group["why"].append(h["why"])
    return {
        "held_groups": list(groups.values()),
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
            "why": why(r.summary.get("systems") or {}),
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


def why(systems: dict[str, Any]) -> list[str]:
    """What kept a run from being ok, one line per system that had trouble."""
    out = []
    for name, r in systems.items():
        parts = []
        if r.get("failure"):  # the system as a whole (credentials, outage, quota)
            parts.append(str(r["failure"]))
        elif r.get("listed") is False:
            parts.append(f"listing {r.get('listing') or 'failed'}")
        failed = r.get("failed") or []
        if failed:
            first = failed[0].get("reason", "")
            more = f" (first: {first})" if len(failed) > 1 else f": {first}"
            parts.append(f"{len(failed)} record(s) failed{more}")
        held = r.get("held") or []
        if held:
            parts.append("deletions held: " + "; ".join(map(str, held)))
        if parts:
            out.append(f"{name}: " + "; ".join(parts))
    return out


def allow_system(store: Store, system: str) -> int:
    """Allow every deletion held in one system; how many there were."""
    return store.allow_deletions([h.entry_id for h in store.held_deletions() if h.system == system])
