"""What every emulator is built from: a refusal, JSON bodies, a clock, a record store.

- `Refused`: the one exception an emulator raises for a request its vendor refuses; the
  emulator base turns it into the vendor's own error answer (`Emulator.refusal`).
- `json_body`: the request's JSON, refused as the vendor would when it is not.
- `Clock`: the emulator's time. Update stamps strictly increase at the vendor's resolution
  (two writes never share a stamp unless a test says so) and answers carry a Date header
  from it; tests move it forward (`advance`) instead of sleeping.
- `Records`: records by ID with an index of their emails, so a lookup or a duplicate check
  costs one step, not a scan (benchmarks hold 100,000).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request


class Refused(Exception):
    """A request the vendor refuses: its status, message and the vendor's own error code;
    `detail` carries whatever else the vendor's error body holds."""

    def __init__(
        self,
        message: str,
        status: int = 400,
        code: str = "",
        *,
        headers: dict[str, str] | None = None,
        detail: Any = None,
    ) -> None:
        super().__init__(message)
        self.message, self.status, self.code = message, status, code
        self.headers = headers or {}
        self.detail = detail


async def json_body(
    request: Request,
    types: tuple[str, ...] = ("application/json",),
    *,
    media: Callable[[str], Refused] | None = None,
    malformed: Callable[[], Refused] | None = None,
) -> Any:
    """The body as JSON. A Content-Type outside `types` raises `media(type)` (default 415), a
    body that is not JSON `malformed()` (default 400)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in types:
        raise (media or _unsupported)(ctype)
    try:
        return json.loads(await request.body())
    except ValueError:
        raise (malformed or _malformed)() from None


def _unsupported(ctype: str) -> Refused:
    return Refused(f"Content-Type {ctype or '(none)'} is not supported", 415)


def _malformed() -> Refused:
    return Refused("the request body is not valid JSON")


class Clock:
    """The emulator's time: the real clock moved by `advance`, and stamps that strictly
    increase at a resolution (a vendor that keeps milliseconds stamps milliseconds)."""

    def __init__(self, resolution: timedelta = timedelta(microseconds=1)) -> None:
        self.resolution = resolution
        self.offset = timedelta()
        self._last = datetime(2000, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)

    def stamp(self) -> datetime:
        """A time later than every stamp before it, at the clock's resolution."""
        step = self.resolution
        now = self.now()
        now -= (now - datetime(2000, 1, 1, tzinfo=UTC)) % step
        self._last = max(now, self._last + step)
        return self._last

    def timestamp(self) -> float:
        return self.now().timestamp()


class Records:
    """Records by ID, with an index from each lower-cased email to the IDs holding it."""

    def __init__(self, email_of: Callable[[dict[str, Any]], str | None]) -> None:
        self._email_of = email_of
        self.by_id: dict[Any, dict[str, Any]] = {}
        self._by_email: dict[str, set[Any]] = {}
        self.version = 0  # changes at every write: a cached search knows it is stale

    def __contains__(self, key: Any) -> bool:
        return key in self.by_id

    def __len__(self) -> int:
        return len(self.by_id)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(list(self.by_id.values()))

    def get(self, key: Any) -> dict[str, Any] | None:
        return self.by_id.get(key)

    def put(self, key: Any, record: dict[str, Any]) -> dict[str, Any]:
        """Store (or replace) a record, re-indexing its email."""
        self.remove(key)
        self.by_id[key] = record
        email = (self._email_of(record) or "").strip().lower()
        if email:
            self._by_email.setdefault(email, set()).add(key)
        return record

    def remove(self, key: Any) -> dict[str, Any] | None:
        self.version += 1
        record = self.by_id.pop(key, None)
        if record is not None:
            email = (self._email_of(record) or "").strip().lower()
            self._by_email.get(email, set()).discard(key)
        return record

    def with_email(self, email: str, but: Any = None) -> list[Any]:
        """The IDs holding this email (ignoring case and spaces), in ID order."""
        ids = self._by_email.get(email.strip().lower(), set())
        return sorted(i for i in ids if i != but)
