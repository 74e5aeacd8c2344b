"""A system held in memory: the test fake, and the reference for the connector contract.

Options: `store` names the store (default: the system's name; tests read STORES between
runs), `write_only = true` makes it behave like OneContact (no list, no lookup), `changes =
true` gives it a change listing (runs then list what changed since their cursor, and only a
full scan sees deletions, as with a vendor's change feed).

Every write stamps its record with a strictly increasing time (kept beside the record, not
in it), and so does an edit a test makes in the store by hand (the listing notices the
record differs from what was stamped), so change listings work as a vendor's do: a time
cursor with its boundary remembered (sync/connectors/cursor.py), the memory systems' own
clock standing for the server's.
"""

from __future__ import annotations

import copy
import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from sync.connectors.base import Connector, Listing, VendorRecord, Written
from sync.connectors.cursor import Stamped, TimeCursor, advance
from sync.errors import NotFound
from sync.paths import get_path, parse_path

# memory systems outlive one engine run: tests look at them between runs
STORES: dict[str, dict[str, dict[str, Any]]] = {}
# store -> record ID -> (its last write, what the record was then)
STAMPS: dict[str, dict[str, tuple[datetime, str]]] = {}
_ids = itertools.count(1)
_last = datetime(2000, 1, 1, tzinfo=UTC)


def stamp() -> datetime:
    """A time later than every one before it (the memory systems' shared clock)."""
    global _last
    _last = max(datetime.now(UTC), _last + timedelta(microseconds=1))
    return _last


def _print(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, default=str)


class MemoryOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    store: str | None = None
    write_only: bool = False
    changes: bool = False


class MemoryConnector(Connector):
    kind = "memory"
    Options: ClassVar[type[BaseModel]] = MemoryOptions
    can_create = can_update = can_delete = True

    def __init__(self, settings: Any, http: Any = None) -> None:
        super().__init__(settings, http)
        key = self.options.store or settings.name
        self.records = STORES.setdefault(key, {})
        self.stamps = STAMPS.setdefault(key, {})
        self.can_list = self.can_find_by_email = not self.options.write_only
        if self.options.changes:
            self.can_list_changes = self.can_list

    def _touch(self, vendor_id: str) -> None:
        self.stamps[vendor_id] = (stamp(), _print(self.records[vendor_id]))

    def _stamped(self, vendor_id: str) -> Stamped:
        held = self.stamps.get(vendor_id)
        if held is None or held[1] != _print(self.records[vendor_id]):
            self._touch(vendor_id)  # put in or changed by hand: written now
        at = self.stamps[vendor_id][0]
        return Stamped(vendor_id, at.isoformat(), at)

    async def list_all(self) -> Listing:
        return self._listing(TimeCursor())

    async def list_changed(self, cursor: str | None) -> Listing:
        return self._listing(TimeCursor.parse(cursor))

    def _listing(self, old: TimeCursor) -> Listing:
        items = [self._stamped(i) for i in self.records]
        wanted = [i for i in items if old.wanted(i, timedelta())]
        records = [VendorRecord(i.id, copy.deepcopy(self.records[i.id])) for i in wanted]
        if not self.options.changes:
            return Listing(records)  # no change listing: no cursor to keep
        # nothing is written after this listing without a later stamp: remember everything
        cursor = advance(old, items, timedelta(), datetime.max.replace(tzinfo=UTC))
        return Listing(records, cursor=cursor.render())

    async def create(self, payload: dict[str, Any], *, email: str | None = None) -> Written:
        vendor_id = f"m{next(_ids)}"
        self.records[vendor_id] = {**copy.deepcopy(payload), "id": vendor_id}
        self._touch(vendor_id)
        return Written(vendor_id)

    async def update(
        self, vendor_id: str, changes: dict[str, Any], full: dict[str, Any]
    ) -> dict[str, Any] | None:
        if vendor_id not in self.records:
            raise NotFound(f"no record {vendor_id}")
        self.records[vendor_id].update(copy.deepcopy(changes))
        self._touch(vendor_id)
        return None

    async def delete(self, vendor_id: str) -> None:
        self.records.pop(vendor_id, None)
        self.stamps.pop(vendor_id, None)

    async def find_by_email(self, email: str) -> VendorRecord | None:
        field = self.settings.mapping.fields.get("email")
        path = field.path if field else parse_path("email")
        wanted = email.strip().lower()
        for vendor_id, record in self.records.items():
            if str(get_path(record, path) or "").strip().lower() == wanted:
                return VendorRecord(vendor_id, copy.deepcopy(record))
        return None
