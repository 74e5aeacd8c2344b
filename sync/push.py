"""Sending the journalled plan as it is journalled: concurrent within each system's limit,
every answer journalled as it lands (batched every 0.1 s), and nothing new sent once the run
is asked to stop.

What an error means for the journal is one table, by kind (sync/errors.py draws the tree):

    kind                              create     update, delete   and then
    OutcomeUnknown                    unknown    unknown          looked up before a resend
    AlreadyExists (the vendor's       unlinked   failed           never resent: `status`
      duplicate check refused it)                                 shows it, a person links it
    TransientError (after retries)    unknown    failed           decided again next run
    SystemFailure (auth, outage,      failed     failed           the system's other actions
      quota)                                                      are not sent this run
    Rejected, NotFound, RecordError,  failed     failed           that record fails alone
      any other ConnectorError

A create that lands gets its follow-up (`after_create`: Oracle's incident, ServiceOps'
request) before its answer is journalled; a follow-up that fails is reported, never undoes
the create.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sync.connectors.base import Connector
from sync.contact import Record, Schema
from sync.diff import raw_hash, raw_salt
from sync.errors import (
    AlreadyExists,
    ConnectorError,
    OutcomeUnknown,
    QuotaExhausted,
    RecordError,
    SystemFailure,
    TransientError,
)
from sync.plan import Action
from sync.progress import SILENT, Progress
from sync.states import JournalState, Kind

log = logging.getLogger("sync.push")

STOPPED = "not sent: contactsync was stopping; it is sent at the next run"

REPEAT_REFUSED = (
    "an earlier create of this contact may have landed (its answer was lost) and the system's"
    " own duplicate check refused it again: the system holds it under an ID that cannot be"
    " read back. It is not sent again: link it with `contactsync link EMAIL SYSTEM ID`, or,"
    " after deleting it there, have it created anew with `contactsync unlink EMAIL SYSTEM`"
)

HELD_UNLINKED = (
    "It is not sent again: link it with `contactsync link EMAIL SYSTEM ID`, or, after deleting"
    " it there, have it created anew with `contactsync unlink EMAIL SYSTEM`"
)

# (error kind, journal state of a create, of an update or delete, stops the system)
TABLE: tuple[tuple[type[Exception], JournalState, JournalState, bool], ...] = (
    (OutcomeUnknown, JournalState.UNKNOWN, JournalState.UNKNOWN, False),
    (TransientError, JournalState.UNKNOWN, JournalState.FAILED, False),
    (SystemFailure, JournalState.FAILED, JournalState.FAILED, True),
    (AlreadyExists, JournalState.UNLINKED, JournalState.FAILED, False),
    (ConnectorError, JournalState.FAILED, JournalState.FAILED, False),
    (RecordError, JournalState.FAILED, JournalState.FAILED, False),
)
# journal entry ID, state, vendor ID, error
Result = tuple[int, str, str | None, str | None]


def on_error(exc: Exception, kind: str) -> tuple[JournalState, bool]:
    """The journal state of an action that raised `exc`, and whether its system stops."""
    for cls, create, other, stops in TABLE:
        if isinstance(exc, cls):
            return (create if kind == Kind.CREATE else other), stops
    raise exc


def system_failure(exc: Exception) -> str:
    """How a system failure reads in the report and in `status`."""
    text = str(exc)
    if isinstance(exc, QuotaExhausted) and "daily quota exhausted" not in text.lower():
        return f"daily quota exhausted: {text}"
    return text


@dataclass
class Outcome:
    action: Action
    state: JournalState
    error: str | None = None
    vendor_id: str | None = None
    snapshot: Record | None = None
    raw: str | None = None  # raw hash of the answer, when it is the record as listed
    stopped: bool = False  # not sent (or refused) because its system failed as a whole
    warning: str | None = None  # the follow-up of a create failed


class Pusher:
    """Sends actions as they are handed over (`add`, once journalled), each system's within
    its concurrency; `finish` waits for the last answer. Outcomes keep the order of `add`."""

    def __init__(
        self,
        connectors: dict[str, Connector],
        journal: Callable[[list[Result]], None],
        schema: Schema,
        stop: threading.Event | None = None,
        progress: Progress = SILENT,
    ) -> None:
        self.connectors = connectors
        self.journal = journal  # records a batch of results
        self.schema = schema
        self.stop = stop
        self.progress = progress
        self.failures: dict[str, str] = {}  # systems that failed as a whole: why
        self.outcomes: list[Outcome | None] = []
        self._salts: dict[str, str] = {}  # raw_salt by mapping fingerprint: once, not per answer
        self._queues: dict[str, deque[tuple[int, int, Action]]] = {}
        self._running: Counter[str] = Counter()  # workers per system
        # running workers and those that failed, so that finish sees every error
        self._workers: set[asyncio.Task[None]] = set()
        self._buffer: list[Result] = []
        self._room = asyncio.Event()  # set when the waiting actions fell to `room`'s limit
        self._limit = 0
        self._broken = False  # a worker failed: finish raises what stopped it
        self._flusher: asyncio.Task[None] | None = None

    def add(self, work: Iterable[tuple[int, Action]]) -> None:
        """(journal entry ID, action) pairs, journalled pending: send them."""
        for entry_id, action in work:
            queue = self._queues.setdefault(action.system, deque())
            queue.append((len(self.outcomes), entry_id, action))
            self.outcomes.append(None)
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_every())
        for system, queue in self._queues.items():
            spare = self.connectors[system].concurrency - self._running[system]
            for _ in range(min(len(queue), spare)):
                self._running[system] += 1
                task = asyncio.create_task(self._worker(system, queue))
                self._workers.add(task)
                task.add_done_callback(self._ended)

    async def room(self, limit: int) -> None:
        """Wait until at most `limit` added actions wait to be sent, or a worker failed
        (finish raises it): what is decided ahead of the sending, and held in memory with
        its bodies, stays bounded."""
        while self._waiting() > limit and not self._broken:
            self._limit = limit
            self._room.clear()
            await self._room.wait()

    def _waiting(self) -> int:
        """Actions added and not yet taken by a worker."""
        return sum(len(queue) for queue in self._queues.values())

    def _ended(self, task: asyncio.Task[None]) -> None:
        """A worker that ended well is let go (one is started per free slot as actions come
        in: a run of 100,000 creates kept 100,000 finished tasks)."""
        if not task.cancelled() and task.exception() is None:
            self._workers.discard(task)
        else:
            self._broken = True  # it sends nothing more: nobody waits for it
            self._room.set()

    async def finish(self) -> list[Outcome]:
        """Every answer, journalled; the outcomes in the order the actions were added."""
        try:
            await asyncio.gather(*self._workers)
        except BaseException:
            await self.abort()
            raise
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher  # raises what stopped it, if anything did (LeaseLost)
        self._flush()
        assert all(o is not None for o in self.outcomes)
        return self.outcomes  # type: ignore[return-value]

    async def abort(self) -> None:
        """Stop at once (the run failed): requests in flight are given up, not journalled;
        the next run's recovery looks them up as after a crash."""
        tasks = [t for t in [*self._workers, self._flusher] if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _worker(self, system: str, queue: deque[tuple[int, int, Action]]) -> None:
        try:
            while queue:
                i, entry_id, action = queue.popleft()
                if self._waiting() <= self._limit:
                    self._room.set()
                self.outcomes[i] = await self._one(entry_id, action)
        finally:
            self._running[system] -= 1

    async def _one(self, entry_id: int, action: Action) -> Outcome:
        down = self.failures.get(action.system)
        if self.stop is not None and self.stop.is_set():
            outcome = Outcome(action, JournalState.FAILED, error=STOPPED)
        elif down is not None:
            why = f"not sent: {action.system} failed ({down}); it is sent at the next run"
            outcome = Outcome(action, JournalState.FAILED, error=why, stopped=True)
        else:
            outcome = await self.send(self.connectors[action.system], action)
        action.sent()
        self._buffer.append((entry_id, outcome.state, outcome.vendor_id, outcome.error))
        self.progress.sent(action.system, action.kind, outcome.state == JournalState.DONE)
        return outcome

    async def _flush_every(self) -> None:
        while True:
            await asyncio.sleep(0.1)
            self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        batch, self._buffer = self._buffer, []
        try:
            self.journal(batch)
        except BaseException:
            self._buffer = batch + self._buffer  # not journalled: kept for the next try
            raise

    async def send(self, conn: Connector, action: Action) -> Outcome:
        try:
            if action.kind == Kind.CREATE:
                return await self._create(conn, action)
            if action.kind == Kind.UPDATE:
                assert action.vendor_id is not None
                answer = await conn.update(action.vendor_id, action.payload, action.full)
                snap, raw = self._answered(conn, answer, action)
                return Outcome(
                    action, JournalState.DONE, vendor_id=action.vendor_id, snapshot=snap, raw=raw
                )
            assert action.vendor_id is not None
            await conn.delete(action.vendor_id)
            return Outcome(action, JournalState.DONE, vendor_id=action.vendor_id)
        except (ConnectorError, RecordError) as exc:
            state, stops = on_error(exc, action.kind)
            if stops:
                self.failures.setdefault(action.system, system_failure(exc))
            said = f"{exc}. {HELD_UNLINKED}" if state == JournalState.UNLINKED else str(exc)
            return Outcome(action, state, error=said, stopped=stops)

    async def _create(self, conn: Connector, action: Action) -> Outcome:
        if action.unless_exists:
            written = await conn.create_unless_exists(action.payload, email=action.email)
            if written is None:
                return Outcome(action, JournalState.UNLINKED, error=REPEAT_REFUSED)
        else:
            written = await conn.create(action.payload, email=action.email)
        snap, raw = self._answered(conn, written.record, action)
        warning = await follow_up(conn, written.vendor_id, action.payload)
        return Outcome(
            action,
            JournalState.DONE,
            vendor_id=written.vendor_id,
            snapshot=snap,
            raw=raw,
            warning=warning,
        )

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


async def follow_up(conn: Connector, vendor_id: str, payload: dict[str, Any]) -> str | None:
    """A new record's follow-up; what went wrong, if anything (it never fails the create)."""
    try:
        await conn.after_create(vendor_id, payload)
    except Exception as exc:  # a follow-up must not undo a create that landed
        log.warning("follow-up of %s record %s failed: %s", conn.settings.name, vendor_id, exc)
        return f"the follow-up of new record {vendor_id} failed: {exc}"
    return None
