"""The first step of a run: what an interrupted run left in flight, read from the journal.

Creates that landed are adopted, never resent: a create with a known answer is taken from the
journal, one without is looked up; when the lookup fails it is not sent this run. Updates and
deletes that did not finish make their contact dirty, so they are decided again.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from sync.config import Settings
from sync.connectors.base import Connector
from sync.contact import Record
from sync.errors import ConnectorError, RecordError
from sync.store.models import Action as JournalEntry
from sync.store.repo import Store

log = logging.getLogger("sync.engine")


@dataclass
class Recovered:
    """Creates left in flight, by (system, email): landed ones to adopt (vendor ID and
    snapshot), ones not to send this run (outcome unknown, lookup failed: the reason), and
    ones to resend through the vendor's own duplicate check (no lookup exists)."""

    adopted: dict[tuple[str, str], tuple[str, Record]] = field(default_factory=dict)
    blocked: dict[tuple[str, str], str] = field(default_factory=dict)
    recheck: set[tuple[str, str]] = field(default_factory=set)
    # each journal entry read, and the state it takes when this run commits (not before:
    # a run that dies after its recovery must find the same entries again)
    settle: dict[JournalEntry, str] = field(default_factory=dict)


async def recover(
    s: Session, connectors: dict[str, Connector], run_id: int, settings: Settings
) -> Recovered:
    out = Recovered()
    adopted = out.adopted
    entries = Store.unfinished_actions(s)
    # what did not finish is decided again, even if nothing lists it this run
    Store.mark_dirty(s, {e.contact_id for e in entries if e.state != "done"})
    lookups: list[tuple[JournalEntry, Connector]] = []
    for entry in entries:
        out.settle[entry] = "landed" if entry.state == "done" else "recovered"
        if entry.kind != "create" or not entry.email:
            continue
        key = (entry.system, entry.email)
        conn = connectors.get(entry.system)
        if entry.vendor_id:
            adopted[key] = (entry.vendor_id, dict(entry.fields))
        elif conn is not None and conn.can_find_by_email:
            lookups.append((entry, conn))
        elif conn is not None and conn.can_refuse_repeats:
            out.recheck.add(key)
    # side by side, within each system's own concurrency limit
    limits = {n: asyncio.Semaphore(c.concurrency) for n, c in connectors.items()}

    async def look_up(entry: JournalEntry, conn: Connector) -> None:
        key = (entry.system, entry.email or "")
        try:
            async with limits[entry.system]:
                found = await conn.find_by_email(entry.email or "")
        except ConnectorError as exc:
            log.warning("could not look up %s in %s: %s", entry.email, entry.system, exc)
            out.settle[entry] = "unknown"  # looked up again next run
            out.blocked[key] = f"an earlier create may have landed; looking it up failed: {exc}"
            return
        if found is not None:
            mapping = settings.systems[entry.system].mapping
            try:
                adopted[key] = (found.id, mapping.from_system(found.data, settings.schema))
            except RecordError:
                adopted[key] = (found.id, dict(entry.fields))

    await asyncio.gather(*(look_up(e, c) for e, c in lookups))
    Store.abandon_runs(s, run_id)
    s.commit()
    return out
