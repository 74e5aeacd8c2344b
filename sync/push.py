"""Sending the journalled plan: concurrent within each system's limit, every answer journalled
as it lands (batched every 0.1 s), and nothing new sent once the run is asked to stop."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from sync.connectors.base import Connector
from sync.contact import Record, Schema
from sync.diff import raw_hash, raw_salt
from sync.errors import ConnectorError, RecordError, TransientError
from sync.plan import Action
from sync.report import RunReport
from sync.store.models import Contact
from sync.store.repo import Store

STOPPED = "not sent: contactsync was stopping; it is sent at the next run"

REPEAT_REFUSED = (
    "an earlier create of this contact landed but its answer was lost, and the system's own"
    " duplicate check refused it again; its ID cannot be read back: link or remove it by hand"
)


@dataclass
class Outcome:
    action: Action
    state: str
    error: str | None = None
    vendor_id: str | None = None
    snapshot: Record | None = None
    raw: str | None = None  # raw hash of the answer, when it is the record as listed


def hold_uncertain(
    actions: list[Action],
    blocked: dict[tuple[str, str], str],
    contacts: dict[str, Contact],
    report: RunReport,
) -> list[Action]:
    """Drop creates whose earlier attempt may have landed (lookup failed): never resend blind."""
    kept = []
    for a in actions:
        why = blocked.get((a.system, a.email or "")) if a.kind == "create" else None
        if why is None:
            kept.append(a)
            continue
        report.system(a.system).fail(f"create held: {why}", email=a.email)
        contacts[a.contact_id].dirty = True
    return kept


class Pusher:
    """`recheck`: (system, email) of creates to resend only through the vendor's own duplicate
    check, because an earlier attempt may have landed and the system cannot be searched."""

    def __init__(
        self,
        schema: Schema,
        recheck: set[tuple[str, str]],
        stop: threading.Event | None = None,
    ) -> None:
        self.schema = schema
        self.recheck = recheck
        self.stop = stop
        self._salts: dict[str, str] = {}  # raw_salt by mapping fingerprint: once, not per answer

    async def push(
        self, s: Session, connectors: dict[str, Connector], work: list[tuple[int, Action]]
    ) -> list[Outcome]:
        """`work`: (journal entry ID, action) pairs."""
        limits = {n: asyncio.Semaphore(c.concurrency) for n, c in connectors.items()}
        buffer: list[tuple[int, str, str | None, str | None]] = []

        async def one(entry_id: int, action: Action) -> Outcome:
            async with limits[action.system]:
                if self.stop is not None and self.stop.is_set():
                    outcome = Outcome(action, "failed", error=STOPPED)
                else:
                    outcome = await self.send(connectors[action.system], action)
            buffer.append((entry_id, outcome.state, outcome.vendor_id, outcome.error))
            return outcome

        async def flusher() -> None:
            while True:
                await asyncio.sleep(0.1)
                _flush(s, buffer)

        task = asyncio.create_task(flusher())
        try:
            outcomes = await asyncio.gather(*(one(r, a) for r, a in work))
        finally:
            task.cancel()
        _flush(s, buffer)
        return list(outcomes)

    async def send(self, conn: Connector, action: Action) -> Outcome:
        try:
            if action.kind == "create":
                if (action.system, action.email or "") in self.recheck:
                    again = await conn.create_unless_exists(action.payload, email=action.email)
                    if again is None:
                        return Outcome(action, "unknown", error=REPEAT_REFUSED)
                    written = again
                else:
                    written = await conn.create(action.payload, email=action.email)
                snap, raw = self._answered(conn, written.record, action)
                return Outcome(action, "done", vendor_id=written.vendor_id, snapshot=snap, raw=raw)
            if action.kind == "update":
                assert action.vendor_id is not None
                answer = await conn.update(action.vendor_id, action.payload, action.full)
                snap, raw = self._answered(conn, answer, action)
                return Outcome(action, "done", vendor_id=action.vendor_id, snapshot=snap, raw=raw)
            assert action.vendor_id is not None
            await conn.delete(action.vendor_id)
            return Outcome(action, "done", vendor_id=action.vendor_id)
        except TransientError as exc:
            # a create whose answer was lost may have landed: look it up before resending
            state = "unknown" if action.kind == "create" else "failed"
            return Outcome(action, state, error=str(exc))
        except (ConnectorError, RecordError) as exc:
            return Outcome(action, "failed", error=str(exc))

    def _answered(
        self, conn: Connector, record: dict[str, Any] | None, action: Action
    ) -> tuple[Record, str | None]:
        """The snapshot after a write: what the system answered, else what we sent; and the
        answer's raw hash if the connector answers with the record as listed."""
        mapping = conn.settings.mapping
        if not record:
            return action.echo, None
        try:
            shown = mapping.from_system(record, self.schema)
        except RecordError:
            return action.echo, None
        carried = {f: v for f, v in action.echo.items() if f not in mapping.read_fields}
        raw = None
        if conn.answers_as_listed:
            salt = self._salts.get(mapping.fingerprint)
            if salt is None:
                salt = self._salts[mapping.fingerprint] = raw_salt(mapping.fingerprint, self.schema)
            raw = raw_hash(salt, record)
        return {**carried, **shown}, raw


def _flush(s: Session, buffer: list[tuple[int, str, str | None, str | None]]) -> None:
    if not buffer:
        return
    batch = buffer[:]
    del buffer[: len(batch)]
    Store.finish_actions(s, batch)
    s.commit()
