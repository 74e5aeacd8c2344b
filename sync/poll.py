"""The run's second step: every listable system lists, side by side, and what each listing
showed is normalised into observations.

A system lists changes since its cursor, or everything when it has no incremental listing,
no cursor yet, or its full scan is due. A listing that failed or came back cut short is
incomplete: nothing is inferred from it and its cursor stays. A system failure while listing
(credentials refused, out of reach, daily quota used up) is reported once for the system.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sync.config import Settings
from sync.connectors.base import Connector, Listing
from sync.errors import ConnectorError, SystemFailure
from sync.observe import Hashes, Listed, Observations, normalise
from sync.progress import Progress
from sync.push import system_failure
from sync.report import RunReport
from sync.rows import CursorRow


async def poll(
    connectors: dict[str, Connector],
    cursors: dict[str, CursorRow],
    *,
    full_scan: bool,
    interval: float,
    at: datetime,
    report: RunReport,
    progress: Progress,
) -> dict[str, tuple[Listing, Listed]]:
    async def one(name: str, conn: Connector) -> tuple[str, Listing, Listed]:
        cursor = cursors.get(name)
        # never listed completely: a CSV file may be missing yet (it is created then)
        conn.first_listing = cursor is None or cursor.last_success is None
        full = (
            full_scan
            or not conn.can_list_changes
            or cursor is None
            or cursor.value is None
            or cursor.last_full_scan is None
            or at - cursor.last_full_scan >= timedelta(seconds=interval)
        )
        failure = None
        try:
            if full:
                listing = await conn.list_all()
            else:
                assert cursor is not None
                listing = await conn.list_changed(cursor.value)
        except SystemFailure as exc:  # said once, for the system: not a failed record
            failure = system_failure(exc)
            listing = Listing(complete=False)
        except (ConnectorError, OSError) as exc:
            listing = Listing(complete=False, problems=[f"listing failed: {exc}"])
        listed = Listed(name, full, listing.complete, cursor=listing.cursor, failure=failure)
        listed.problems = list(listing.problems)
        progress.listed(name, len(listing.records), listing.complete)
        return name, listing, listed

    results = await asyncio.gather(*(one(n, c) for n, c in connectors.items() if c.can_list))
    out = {}
    for name, listing, listed in results:
        r = report.system(name)
        r.read = len(listing.records)
        r.listing = ("full" if listed.full else "changes") + (
            "" if listed.complete else " (incomplete)"
        )
        r.listed = listed.complete
        if listed.failure:
            r.failure = listed.failure
        for problem in listed.problems:
            r.fail(problem)
        out[name] = (listing, listed)
    for name, conn in connectors.items():
        if not conn.can_list:
            report.system(name).listing = "write-only"
    return out


def observe(
    listings: dict[str, tuple[Listing, Listed]],
    settings: Settings,
    hashes: Hashes | None,
) -> Observations:
    """Each listing normalised (see sync/observe.py); the vendor's dicts are let go of as
    soon as they are read, so a run does not hold every record twice."""
    out = Observations()
    for system, (listing, listed) in listings.items():
        known = hashes.get(system, {}) if hashes is not None else None
        records = [(vr.id, vr.data, vr.where, vr.error) for vr in listing.records]
        listing.records = []
        normalise(listed, records, settings.systems[system].mapping, settings.schema, known, out)
        out.systems[system] = listed
    return out
