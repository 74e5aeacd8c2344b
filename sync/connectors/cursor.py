"""Change cursors: a time with overlap and boundary memory, or the vendor's own token.

A time cursor is the newest update time a listing saw, as the vendor wrote it. The next
listing asks from that time less an overlap (a save stamped before the cursor may commit
after it), so it reads the boundary again; the records at the boundary that the last listing
already handed out are remembered (ID -> time) and left out, so a quiet system lists nothing
and a record that changed at the very same time as the cursor is still listed.

A record is remembered only when its time is a whole second older than the server's clock
(the answer's Date header): a vendor that keeps whole seconds gives a later edit in that same
second the same time, which must not be mistaken for the remembered one. Without a Date header
nothing is remembered, and the boundary is read again each time (no gap, some repeats).

The cursor text is the time alone when nothing is remembered (readable, as before), else JSON:
{"at": "<time>", "seen": {"<id>": "<time>"}}.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from sync.times import parse_time


class Stamped(NamedTuple):
    """One listed item: its ID and update time, as written and as read (a tuple: one is
    made per listed record)."""

    id: str
    text: str | None
    at: datetime | None


@dataclass(frozen=True)
class TimeCursor:
    at: datetime | None = None
    text: str | None = None
    seen: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, value: str | None) -> TimeCursor:
        if not value:
            return cls()
        if value.lstrip().startswith("{"):
            try:
                data = json.loads(value)
                text = str(data["at"])
                seen = {str(k): str(v) for k, v in dict(data.get("seen") or {}).items()}
            except (ValueError, KeyError, TypeError):
                return cls()
            return cls(parse_time(text), text, seen)
        return cls(parse_time(value), value)

    def render(self) -> str | None:
        if self.text is None:
            return None
        if not self.seen:
            return self.text
        return json.dumps({"at": self.text, "seen": self.seen}, sort_keys=True)

    def since(self, overlap: timedelta) -> datetime | None:
        """Where the next listing starts: the cursor less the overlap."""
        return None if self.at is None else self.at - overlap

    def wanted(self, item: Stamped, overlap: timedelta) -> bool:
        """Whether a listed item is news: not older than the overlap window (a coarse vendor
        filter lists more), and not an item this cursor already handed out unchanged."""
        if self.at is None or item.at is None:
            return True
        if item.at < self.at - overlap:
            return False
        return self.seen.get(item.id) != item.text


class Window:
    """The listed items advance() can still need, kept as a listing goes on: the newest, and
    those within `overlap` of the newest time so far (older ones can never be remembered),
    so that a listing of a million records does not keep a million stamps."""

    def __init__(self, old: TimeCursor, overlap: timedelta) -> None:
        self.old, self.overlap = old, overlap
        self.kept: list[Stamped] = []
        self.newest: datetime | None = old.at
        self.limit = 1024

    def add(self, item: Stamped) -> None:
        self.kept.append(item)
        if item.at is not None and (self.newest is None or item.at > self.newest):
            self.newest = item.at
        if len(self.kept) >= self.limit:
            self._prune()

    def _prune(self) -> None:
        # an item without a time is never the newest nor remembered (see advance)
        low = None if self.newest is None else self.newest - self.overlap
        self.kept = [i for i in self.kept if i.at is not None and low is not None and i.at >= low]
        self.limit = max(1024, 2 * len(self.kept))

    def items(self) -> list[Stamped]:
        self._prune()
        return self.kept


def advance(
    old: TimeCursor,
    items: list[Stamped],
    overlap: timedelta,
    server_now: datetime | None,
    render: str = "iso",
) -> TimeCursor:
    """The cursor after a complete listing of `items` (every item listed, news or not).
    An empty listing starts the cursor at the server's clock, so that the next run lists
    changes only, not everything again."""
    newest = max((i for i in items if i.at is not None), key=lambda i: i.at, default=None)  # type: ignore[arg-type, return-value]
    at, text = old.at, old.text
    if newest is not None and newest.at is not None and (at is None or newest.at > at):
        at, text = newest.at, newest.text
    if at is None and server_now is not None:
        at = server_now.replace(microsecond=0)
        text = _render(at, render)
    if at is None:
        return TimeCursor()
    seen: dict[str, str] = {}
    if server_now is not None:
        safe = server_now.astimezone(UTC).replace(microsecond=0)
        for item in items:
            if item.at is None or item.text is None or item.at < at - overlap:
                continue
            if item.at.astimezone(UTC).replace(microsecond=0) < safe:
                seen[item.id] = item.text
    return TimeCursor(at, text, seen)


def _render(moment: datetime, how: str) -> str:
    moment = moment.astimezone(UTC)
    if how == "epoch_ms":
        return str(int(moment.timestamp() * 1000))
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
