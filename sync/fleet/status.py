"""`contactsync fleet status`: per configuration its last run and result, its next run, the
worker running it now, its open conflicts and held deletions; and each budget's use today."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import URL
from sqlalchemy.exc import ProgrammingError, SQLAlchemyError

from sync.errors import StoreError, UsageError
from sync.fleet.app import QUEUE_ERRORS, SYNC_QUEUE, FleetApp, queue_unreachable
from sync.fleet.queue import QueueDb
from sync.fleet.settings import Fleet
from sync.store.db import store_error
from sync.store.repo import Store


def collect(fleet: Fleet) -> dict[str, Any]:
    db = QueueDb(fleet.queue_url(), pool_size=1)
    try:
        schedule = db.schedule()
        budgets = db.usage()
        doing = asyncio.run(_running(fleet))
    except ProgrammingError:
        raise UsageError(
            f"{fleet.path}: the queue database has no fleet tables yet: start a worker first"
        ) from None
    except QUEUE_ERRORS as exc:
        raise queue_unreachable(fleet, exc) from None
    finally:
        db.dispose()
    out = []
    for name, member in sorted(fleet.members.items()):
        row = schedule.get(name)
        counts = _counts(member.settings.state_connect_url)  # with its [state] password
        out.append(
            {
                "config": name,
                "path": str(member.path),
                "last_run": {
                    "run_id": row.last_run_id,
                    "finished_at": _iso(row.finished_at),
                    "status": row.last_status,
                    "error": row.last_error,
                }
                if row and row.finished_at
                else None,
                "next_run": _iso(row.next_at) if row else None,
                "failures_in_row": row.failures if row else 0,
                "running_on": row.running_on if row and name in doing else None,
                **counts,
            }
        )
    return {"configs": out, "budgets": budgets}


async def _running(fleet: Fleet) -> set[str]:
    """The configurations with a sync job in `doing` now (procrastinate's own record)."""
    app = FleetApp(fleet).app
    async with app.open_async():
        jobs = await app.job_manager.list_jobs_async(queue=SYNC_QUEUE, status="doing")
        return {str(j.task_kwargs.get("config")) for j in jobs}


def _counts(url: str | URL) -> dict[str, Any]:
    try:
        store = Store(url, migrate=False)
    except StoreError as exc:
        return {"open_conflicts": None, "held_deletions": None, "store_error": str(exc)}
    try:
        return {
            "open_conflicts": store.count_conflicts(),
            "held_deletions": store.count_held_deletions(),
        }
    except SQLAlchemyError as exc:  # not created yet (no run so far) or away
        why = str(store_error(exc, url))
        return {"open_conflicts": None, "held_deletions": None, "store_error": why}
    finally:
        store.dispose()


def show(fleet: Fleet, fmt: str, console: Console) -> int:
    data = collect(fleet)
    if fmt == "json":
        print(json.dumps(data, indent=2, default=str))
        return 0
    table = Table(title=f"fleet {fleet.path}")
    for col in ("config", "last run", "result", "next run", "running on", "conflicts", "held"):
        table.add_column(col)
    for c in data["configs"]:
        last = c["last_run"] or {}
        result = last.get("status") or "-"
        if c["failures_in_row"]:
            result += f" ({c['failures_in_row']} failed in a row)"
        if last.get("error"):
            result += f": {last['error']}"
        table.add_row(
            c["config"],
            _short(last.get("finished_at")),
            result,
            _short(c["next_run"]),
            c["running_on"] or "",
            _count(c["open_conflicts"]),
            _count(c["held_deletions"]),
        )
    console.print(table)
    for name, b in sorted(data["budgets"].items()):
        quota = f" of {b['daily_quota']}" if b["daily_quota"] else ""
        console.print(f"budget {name}: {b['rate']:g}/s, {b['used_today']}{quota} used today")
    return 0


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _short(iso: str | None) -> str:
    return iso[:19].replace("T", " ") if iso else "-"


def _count(value: int | None) -> str:
    return "?" if value is None else str(value)
