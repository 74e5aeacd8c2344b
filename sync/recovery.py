"""The first step of a run: what an interrupted run left in flight, read from the journal.

Creates that landed are adopted, never resent: a create with a known answer is taken from the
journal, one without is looked up by email (and, found, gets the follow-up it missed); when
the lookup fails it is not sent this run. A system that cannot be searched but refuses
repeats gets the create again through that check. One that can do neither, for a create whose
outcome is known to be unknown, is told to a person instead (journal `unlinked`). Updates and
deletes that did not finish make their contact dirty, so they are decided again.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from sync.config import Settings
from sync.connectors.base import Connector
from sync.contact import Record
from sync.decision import Recovered
from sync.errors import ConnectorError, RecordError
from sync.push import follow_up
from sync.rows import JournalRow
from sync.states import JournalState, Kind

log = logging.getLogger("sync.engine")

UNCHECKABLE = (
    "an earlier create may have landed (its answer was lost) and {system} can neither be"
    " searched nor refuse a repeat: if it holds the contact, link it with `contactsync link"
    " EMAIL SYSTEM ID`; if not, `contactsync unlink EMAIL SYSTEM` has it created again"
)


@dataclass
class Recovery:
    found: Recovered
    # each journal entry read, and the state it takes when this run commits (not before:
    # a run that dies after its recovery must find the same entries again)
    settle: dict[int, str] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)  # contacts to decide again
    warnings: list[str] = field(default_factory=list)


async def recover(
    entries: list[JournalRow], connectors: dict[str, Connector], settings: Settings
) -> Recovery:
    adopted: dict[tuple[str, str], tuple[str, Record]] = {}
    blocked: dict[tuple[str, str], str] = {}
    recheck: set[tuple[str, str]] = set()
    out = Recovery(Recovered())
    out.dirty = {e.contact_id for e in entries if e.state != JournalState.DONE}
    lookups: list[tuple[JournalRow, Connector]] = []
    for entry in entries:
        done = entry.state == JournalState.DONE
        out.settle[entry.id] = JournalState.LANDED if done else JournalState.RECOVERED
        if entry.kind != Kind.CREATE or not entry.email:
            continue
        key = (entry.system, entry.email)
        conn = connectors.get(entry.system)
        if entry.vendor_id:
            adopted[key] = (entry.vendor_id, dict(entry.fields))
        elif conn is None:
            continue
        elif conn.can_find_by_email:
            lookups.append((entry, conn))
        elif conn.can_refuse_repeats:
            recheck.add(key)
        elif entry.state == JournalState.UNKNOWN:  # it may have landed, and nobody can tell
            why = UNCHECKABLE.format(system=entry.system)
            blocked[key] = why
            out.settle[entry.id] = JournalState.UNLINKED
    # side by side, within each system's own concurrency limit
    limits = {n: asyncio.Semaphore(c.concurrency) for n, c in connectors.items()}

    async def look_up(entry: JournalRow, conn: Connector) -> None:
        key = (entry.system, entry.email or "")
        try:
            async with limits[entry.system]:
                found = await conn.find_by_email(entry.email or "")
        except ConnectorError as exc:
            log.warning("could not look up %s in %s: %s", entry.email, entry.system, exc)
            out.settle[entry.id] = JournalState.UNKNOWN  # looked up again next run
            blocked[key] = f"an earlier create may have landed; looking it up failed: {exc}"
            return
        if found is None:
            return
        mapping = settings.systems[entry.system].mapping
        try:
            adopted[key] = (found.id, mapping.from_system(found.data, settings.schema))
        except RecordError:
            adopted[key] = (found.id, dict(entry.fields))
        # the answer was lost, so the follow-up the create should have had never happened
        try:
            payload = mapping.to_system(dict(entry.fields), create=True)
        except RecordError:
            payload = {}
        warning = await follow_up(conn, found.id, payload)
        if warning:
            out.warnings.append(f"{entry.system}: {entry.email}: {warning}")

    await asyncio.gather(*(look_up(e, c) for e, c in lookups))
    out.found = Recovered(adopted, blocked, frozenset(recheck))
    return out
