"""A synced world's store written directly: the state an initial sync leaves, fast at 1,000,000.

With `--synced` every person is in every system, and the initial sync only lists and links
(3 N links, every contact new): at a million that is an hour and gigabytes of decisions.
`seed` writes the same rows itself: each system listed once through its real connector, page
by page, each record normalised as a run reads it; one contact per email whose base is what
the systems agree on, one link per record with its snapshot, snapshot hash and raw-record
hash; and a finished run whose plan key is the engine's, so that the next run is a trusted
full scan that finds everything as last read. No field history and no journal: a no-op does
not read them. The links wait in a temporary file until their contacts are in.
"""

from __future__ import annotations

import asyncio
import marshal
import tempfile
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert

from sync.config import Settings
from sync.connectors.base import Listing
from sync.diff import record_hash
from sync.engine import Engine
from sync.observe import RawHashes
from sync.states import RunStatus
from sync.store.convert import CONTACTS, LINKS, RUNS
from sync.store.repo import Store

BATCH = 5_000


def seed(settings: Settings, store: Store, transports: Any = None) -> dict[str, int]:
    """Contacts and links as an initial sync of a synced world leaves them; their counts."""
    return asyncio.run(_seed(settings, store, transports))


async def _seed(settings: Settings, store: Store, transports: Any) -> dict[str, int]:
    engine = Engine(settings, store, transports=transports)
    connectors = engine.connect()
    at = datetime.now(UTC)
    contacts: dict[str, tuple[str, dict[str, Any]]] = {}  # email -> (ID, base)
    links = 0
    with tempfile.TemporaryFile() as spool:
        try:
            for name, conn in connectors.items():
                mapping = settings.systems[name].mapping
                hashes = RawHashes(mapping.fingerprint, settings.schema)
                into = Listing()
                async for page in conn.pages(None, into):
                    for vr in page:
                        record = mapping.from_system(vr.data, settings.schema)
                        cid, base = contacts.setdefault(record["email"], (str(uuid.uuid4()), {}))
                        base.update(record)
                        updated = mapping.vendor_updated(vr.data)
                        row = (cid, name, vr.id, record, record_hash(record))
                        raw = hashes.of(vr.listed())  # as a trusted full listing hashes it
                        stamp = updated.timestamp() if updated is not None else None
                        marshal.dump((*row, raw, stamp), spool)
                        links += 1
                if not into.complete:
                    raise RuntimeError(f"seeding: {name} listed incompletely: {into.problems}")
        finally:
            for conn in connectors.values():
                await conn.aclose()
        spool.seek(0)
        with store.engine.begin() as db:
            rows = [
                {
                    "id": cid,
                    "email": email,
                    "base": base,
                    "dirty": False,
                    "deleted_at": None,
                    "created_at": at,
                    "updated_at": at,
                }
                for email, (cid, base) in contacts.items()
            ]
            contacts.clear()
            for start in range(0, len(rows), BATCH):
                db.execute(insert(CONTACTS), rows[start : start + BATCH])
            count = len(rows)
            del rows
            batch: list[dict[str, Any]] = []
            for _ in range(links):
                cid, system, vid, snapshot, digest, raw, stamp = marshal.load(spool)
                batch.append(
                    {
                        "contact_id": cid,
                        "system": system,
                        "vendor_id": vid,
                        "snapshot": snapshot,
                        "snapshot_hash": digest,
                        "raw_hash": raw,
                        "vendor_updated": (
                            None if stamp is None else datetime.fromtimestamp(stamp, UTC)
                        ),
                        "gone": False,
                        "updated_at": at,
                    }
                )
                if len(batch) == BATCH:
                    db.execute(insert(LINKS), batch)
                    batch = []
            if batch:
                db.execute(insert(LINKS), batch)
            summary = {"seeded": count, "planned_with": engine.plan_key(connectors)}
            db.execute(
                insert(RUNS).values(
                    started_at=at,
                    finished_at=at,
                    status=RunStatus.OK,
                    summary=summary,
                    holder="bench-seed",
                )
            )
    return {"contacts": count, "links": links}
