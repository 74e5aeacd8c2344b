"""`contactsync status`: last runs, cursors and health, conflicts, held deletions.

Exit status 1 when the last run of any system failed (its listing failed or was cut short,
or records of it failed in the last run), so that cron and monitoring probes can use it.
Times carry their time zone (UTC) everywhere."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from sync import lease
from sync.config import Settings
from sync.report import clip
from sync.store.repo import Store, aware


def collect(store: Store, settings: Settings) -> dict[str, Any]:
    runs = [
        {
            "id": r.id,
            "started_at": aware(r.started_at).isoformat(),
            "seconds": (r.finished_at - r.started_at).total_seconds() if r.finished_at else None,
            "status": r.status,
            "holder": r.holder,
            "writes": {
                n: {k: v.get(k) for k in ("created", "updated", "deleted")}
                for n, v in (r.summary.get("systems") or {}).items()
            },
            "failed": sum(
                len(v.get("failed") or []) for v in (r.summary.get("systems") or {}).values()
            ),
            "failed_by_system": {
                n: len(v.get("failed") or []) for n, v in (r.summary.get("systems") or {}).items()
            },
            # a system that failed as a whole (credentials, outage, daily quota), said once
            "system_failures": {
                n: v["failure"]
                for n, v in (r.summary.get("systems") or {}).items()
                if v.get("failure")
            },
        }
        for r in store.recent_runs(10)
    ]
    cursors = {
        c.system: {
            "cursor": c.value,
            "last_full_scan": _iso(c.last_full_scan),
            "last_success": _iso(c.last_success),
            "last_error": c.last_error,
        }
        for c in store.cursors().values()
    }
    held = [
        {"system": h.system, "vendor_id": h.vendor_id, "email": h.email, "why": h.why}
        for h in store.held_deletions()
    ]
    unlinked = [
        {
            "system": u.system,
            "email": u.email,
            "why": u.why,
            "since": _iso(u.at),
        }
        for u in store.unlinked()
    ]
    holder = lease.current(store)
    return {
        "lease": {
            "holder": holder.holder,
            "token": holder.token,
            "expires_at": aware(holder.expires_at).isoformat(),
            "live": holder.live,
        }
        if holder
        else None,
        "systems": list(settings.systems),
        "runs": runs,
        "cursors": cursors,
        "open_conflicts": store.count_conflicts(),
        "held_deletions": held,
        "failing": failing(runs, cursors, list(settings.systems)),
        "unlinked": unlinked,
    }


def failing(
    runs: list[dict[str, Any]], cursors: dict[str, dict[str, Any]], systems: list[str]
) -> dict[str, str]:
    """{system: why} for each system whose last run failed: as a whole (credentials, outage,
    daily quota), its listing, or records."""
    last = next((r for r in runs if r["status"] in ("ok", "partial")), None)
    out = {n: why for n, why in (last or {}).get("system_failures", {}).items() if n in systems}
    for n in systems:
        if cursors.get(n, {}).get("last_error"):
            out.setdefault(n, f"listing: {cursors[n]['last_error']}")
    for name, count in (last or {}).get("failed_by_system", {}).items():
        if count and name in systems:
            out.setdefault(name, f"{count} record(s) failed in run {last['id']}")  # type: ignore[index]
    return out


def _iso(value: Any) -> str | None:
    return aware(value).isoformat() if value else None


def show(store: Store, settings: Settings, fmt: str, console: Console) -> int:
    data = collect(store, settings)
    code = 1 if data["failing"] else 0
    if fmt == "json":
        print(json.dumps(data, indent=2, default=str))
        return code
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
        systems.add_row(  # vendor text as it is: never read as markup
            name,
            Text(clip(c.get("cursor") or "-", 60)),  # whole in the JSON
            _short(c.get("last_full_scan")),
            _short(c.get("last_success")),
            Text(clip(c.get("last_error") or "", 2000)),
        )
    console.print(systems)
    console.print(
        f"open conflicts: {data['open_conflicts']}; held deletions: {len(data['held_deletions'])}"
    )
    for u in data["unlinked"]:
        console.print(
            Text.assemble(
                ("unlinked", "yellow"),
                f" {u['system']} holds {u['email']} under an ID we cannot read: link it with "
                f"`contactsync link {u['email']} {u['system']} ID`",
            ),
            highlight=False,
        )
    held = data["lease"]
    if held:
        state = "held by" if held["live"] else "free; last held by"
        console.print(f"sync lease: {state} {held['holder']} (token {held['token']})")
    for name, why in data["failing"].items():
        console.print(Text.assemble(("failing", "red"), f" {name}: {clip(why, 2000)}"))
    return code


def _short(iso: str | None) -> str:
    """An ISO time as the table shows it: to the second, UTC."""
    return iso[:19].replace("T", " ") if iso else "-"
