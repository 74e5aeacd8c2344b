"""`contactsync status`: last runs, cursors and health, conflicts, held deletions."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from sync import lease
from sync.config import Settings
from sync.store.repo import Store


def collect(store: Store, settings: Settings) -> dict[str, Any]:
    with store.session() as s:
        runs = [
            {
                "id": r.id,
                "started_at": r.started_at.isoformat(),
                "seconds": (r.finished_at - r.started_at).total_seconds()
                if r.finished_at
                else None,
                "status": r.status,
                "holder": r.holder,
                "writes": {
                    n: {k: v.get(k) for k in ("created", "updated", "deleted")}
                    for n, v in (r.summary.get("systems") or {}).items()
                },
                "failed": sum(
                    len(v.get("failed") or []) for v in (r.summary.get("systems") or {}).values()
                ),
            }
            for r in Store.recent_runs(s, 10)
        ]
        cursors = {
            c.system: {
                "cursor": c.value,
                "last_full_scan": c.last_full_scan.isoformat() if c.last_full_scan else None,
                "last_success": c.last_success.isoformat() if c.last_success else None,
                "last_error": c.last_error,
            }
            for c in Store.cursors(s).values()
        }
        open_conflicts = Store.count_conflicts(s)
        held = [
            {"system": a.system, "vendor_id": a.vendor_id, "why": a.error}
            for a in Store.held_deletions(s)
        ]
    holder = lease.current(store)
    return {
        "lease": {
            "holder": holder.holder,
            "token": holder.token,
            "expires_at": holder.expires_at.isoformat(),
            "live": holder.live,
        }
        if holder
        else None,
        "systems": list(settings.systems),
        "runs": runs,
        "cursors": cursors,
        "open_conflicts": open_conflicts,
        "held_deletions": held,
    }


def show(store: Store, settings: Settings, fmt: str, console: Console) -> int:
    data = collect(store, settings)
    if fmt == "json":
        print(json.dumps(data, indent=2, default=str))
        return 0
    runs = Table(title="recent runs")
    for col in ("id", "started", "seconds", "status", "writes", "failed", "by"):
        runs.add_column(col)
    for r in data["runs"]:
        writes = sum(sum(v or 0 for v in w.values()) for w in r["writes"].values())
        secs = f"{r['seconds']:.1f}" if r["seconds"] is not None else "-"
        runs.add_row(
            str(r["id"]),
            _short(r["started_at"]),
            secs,
            r["status"],
            str(writes),
            str(r["failed"]),
            r["holder"] or "",
        )
    console.print(runs)
    systems = Table(title="systems")
    for col in ("system", "cursor", "last full scan", "last success", "last error"):
        systems.add_column(col)
    for name in data["systems"]:
        c = data["cursors"].get(name, {})
        systems.add_row(
            name,
            str(c.get("cursor") or "-"),
            _short(c.get("last_full_scan")),
            _short(c.get("last_success")),
            str(c.get("last_error") or ""),
        )
    console.print(systems)
    console.print(
        f"open conflicts: {data['open_conflicts']}; held deletions: {len(data['held_deletions'])}"
    )
    held = data["lease"]
    if held:
        state = "held by" if held["live"] else "free; last held by"
        console.print(f"sync lease: {state} {held['holder']} (token {held['token']})")
    return 0


def _short(iso: str | None) -> str:
    """An ISO time as the table shows it: to the second, UTC."""
    return iso[:19].replace("T", " ") if iso else "-"
