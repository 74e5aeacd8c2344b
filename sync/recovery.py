"""The first step of a run: what an interrupted run left in flight, read from the journal.

Creates that landed are adopted, never resent: a create with a known answer is taken from the
journal, one without is looked up; when the lookup fails it is not sent this run. Updates and
deletes that did not finish make their contact dirty, so they are decided again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from sync.config import Settings
from sync.connectors.base import Connector
from sync.contact import Record
from sync.errors import ConnectorError, RecordError
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
    settle: dict[Any, str] = field(default_factory=dict)


async def recover(
    s: Session, connectors: dict[str, Connector], run_id: int, settings: Settings
) -> Recovered:
    out = Recovered()
    adopted = out.adopted
    entries = Store.unfinished_actions(s)
    # what did not finish is decided again, even if nothing lists it this run
    Store.mark_dirty(s, {e.contact_id for e in entries if e.state != "done"})
    for entry in entries:
        out.settle[entry] = "landed" if entry.state == "done" else "recovered"
        if entry.kind != "create" or not entry.email:
            continue
        key = (entry.system, entry.email)
        if entry.vendor_id:
            adopted[key] = (entry.vendor_id, dict(entry.fields))
            continue
        conn = connectors.get(entry.system)
        if conn is None:
            continue
        if not conn.can_find_by_email:
            if conn.can_refuse_repeats:
                out.recheck.add(key)
            continue
        try:
            found = await conn.find_by_email(entry.email)
        except ConnectorError as exc:
            log.warning("could not look up %s in %s: %s", entry.email, entry.system, exc)
            out.settle[entry] = "unknown"  # looked up again next run
            out.blocked[key] = f"an earlier create may have landed; looking it up failed: {exc}"
            continue
        if found is not None:
            mapping = settings.systems[entry.system].mapping
            try:
                adopted[key] = (found.id, mapping.from_system(found.data, settings.schema))
            except RecordError:
                adopted[key] = (found.id, dict(entry.fields))
    Store.abandon_runs(s, run_id)
    s.commit()
    return out
