"""The run's second step: every listable system lists, side by side, and each page of each
listing is normalised into observations as it arrives (sync/observe.py), so that no run holds
a whole listing.

A system lists changes since its cursor, or everything when it has no incremental listing,
no cursor yet, or its full scan is due. A listing that failed or came back cut short is
incomplete: nothing is inferred from it and its cursor stays. A system failure while listing
(credentials refused, out of reach, daily quota used up) is reported once for the system, and
nothing its listing showed is used.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sync.config import Settings
from sync.connectors.base import Connector, Listing
from sync.errors import ConnectorError, SystemFailure
from sync.observe import KnownLinks, Listed, Observations, Observer
from sync.progress import Progress
from sync.push import system_failure
from sync.report import RunReport
from sync.rows import CursorRow


def full_listings(
    connectors: dict[str, Connector],
    cursors: dict[str, CursorRow],
    *,
    full_scan: bool,
    interval: float,
    at: datetime,
) -> dict[str, bool]:
    """Each listable system: whether it lists everything this run (else its changes)."""
    out = {}
    for name, conn in connectors.items():
        if not conn.can_list:
            continue
        cursor = cursors.get(name)
        # never listed completely: a CSV file may be missing yet (it is created then)
        conn.first_listing = cursor is None or cursor.last_success is None
        out[name] = (
            full_scan
            or not conn.can_list_changes
            or cursor is None
            or cursor.value is None
            or cursor.last_full_scan is None
            or at - cursor.last_full_scan >= timedelta(seconds=interval)
        )
    return out


async def poll(
    connectors: dict[str, Connector],
    cursors: dict[str, CursorRow],
    full: dict[str, bool],
    *,
    settings: Settings,
    known: KnownLinks | None,
    report: RunReport,
    progress: Progress,
) -> Observations:
    """The listings of the systems in `full` (see full_listings), observed page by page.
    `known`: the store, on a trusted full scan (sync/observe.py)."""
    out = Observations()
    for name in connectors:  # in the order of the configuration
        if name in full:
            out.systems[name] = Listed(name, full[name], True)

    async def one(name: str, conn: Connector) -> None:
        listed = out.systems[name]
        mapping = settings.systems[name].mapping
        observer = Observer(listed, mapping, settings.schema, known, out)
        into = Listing()
        cursor = None if full[name] else cursors[name].value
        try:
            async for records in conn.pages(cursor, into):
                observer.page([(vr.id, vr.listed(), vr.where, vr.error) for vr in records])
        except SystemFailure as exc:  # said once, for the system: not a failed record
            listed.failure = system_failure(exc)
            into = Listing(complete=False)
            observer.discard()
        except (ConnectorError, OSError) as exc:
            into = Listing(complete=False, problems=[f"listing failed: {exc}"])
            observer.discard()
        listed.complete, listed.cursor = into.complete, into.cursor
        listed.problems = list(into.problems)
        observer.done()
        progress.listed(name, listed.listed, listed.complete)

    await asyncio.gather(*(one(n, c) for n, c in connectors.items() if n in full))
    for name, listed in out.systems.items():
        r = report.system(name)
        r.read = listed.listed
        r.listing = ("full" if listed.full else "changes") + (
            "" if listed.complete else " (incomplete)"
        )
        r.listed = listed.complete
        if listed.failure:
            r.failure = listed.failure
        for problem in listed.problems:
            r.fail(problem)
    for name, conn in connectors.items():
        if not conn.can_list:
            report.system(name).listing = "write-only"
    return out
