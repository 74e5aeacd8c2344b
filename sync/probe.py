"""`contactsync check --connect`: open the store and every system, one line each.

Each system is built as a run builds it, logs in, and makes the cheapest real read there is:
looking up an address that cannot exist (find_by_email), else a listing. A write-only system
has no read to try, and says so. Nothing is written anywhere, the store included.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from sqlalchemy import text

from sync.config import Settings, SystemSettings
from sync.connectors import connector_class
from sync.errors import ConnectorError, StoreError
from sync.store.db import current_revision, head_revision, shown, store_error

NOBODY = "contactsync-check@nobody.invalid"  # .invalid is reserved: no such address exists


def check_store(settings: Settings) -> tuple[bool, str]:
    from sqlalchemy.engine import make_url

    from sync.store.repo import Store

    url = settings.state_connect_url
    try:
        head = head_revision()
    except StoreError as exc:  # a broken installation, whatever the database
        return False, str(exc)
    if make_url(url).get_backend_name() == "sqlite":
        db = make_url(url).database
        if db and db != ":memory:" and not Path(db).exists():
            return True, f"ok: {db} does not exist yet; the first run creates it"
    try:
        store = Store(url, migrate=False)
        try:
            with store.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
                at = current_revision(conn)
        finally:
            store.dispose()
    except StoreError as exc:
        return False, str(exc)
    except Exception as exc:  # SQLAlchemy's, from the first query
        return False, str(store_error(exc, url))
    state = "up to date" if at == head else "migrated at the next start"
    return True, f"ok: {shown(url)} (schema {state})"


async def check_system(system: SystemSettings) -> tuple[bool, str]:
    cls = connector_class(system.connector)
    if cls is None:  # load_config refused it already
        return False, f"unknown connector {system.connector!r}"
    connector = cls.build(system)
    try:
        if connector.can_find_by_email:
            await connector.find_by_email(NOBODY)
            return True, "ok"
        if connector.can_list:
            listing = await connector.list_all()
            if not listing.complete:
                return False, "; ".join(listing.problems) or "listing incomplete"
            return True, f"ok ({len(listing.records)} records)"
        return True, "not checked: a write-only system has no read to try"
    except ConnectorError as exc:
        return False, str(exc) or type(exc).__name__
    except Exception as exc:  # anything else is still this system's line, not a traceback
        return False, f"{type(exc).__name__}: {exc}"
    finally:
        await connector.aclose()


async def _systems(settings: Settings) -> list[tuple[bool, str]]:
    return list(await asyncio.gather(*(check_system(s) for s in settings.systems.values())))


def main(settings: Settings, console: Console) -> int:
    results = [("state", *check_store(settings))]
    answers = asyncio.run(_systems(settings))
    results += [(name, ok, why) for name, (ok, why) in zip(settings.systems, answers, strict=True)]
    width = max(len(name) for name, _, _ in results)
    for name, ok, why in results:
        mark = "[green]ok[/green]" if ok else "[red]failed[/red]"
        line = why.removeprefix("ok").lstrip(": ") if ok else why
        console.print(f"{name:<{width}}  {mark}" + (f"  {escape(line)}" if line else ""))
    return 0 if all(ok for _, ok, _ in results) else 1
