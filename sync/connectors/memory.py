"""A system held in memory: the test fake, and the reference for the connector contract.

Options: `write_only = true` makes it behave like OneContact (no list, no lookup).
"""

from __future__ import annotations

import copy
import itertools
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from sync.connectors.base import Connector, Listing, VendorRecord, Written
from sync.errors import NotFound
from sync.paths import get_path, parse_path

# memory systems outlive one engine run: tests look at them between runs
STORES: dict[str, dict[str, dict[str, Any]]] = {}
_ids = itertools.count(1)


class MemoryOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    store: str | None = None
    write_only: bool = False


class MemoryConnector(Connector):
    kind = "memory"
    Options: ClassVar[type[BaseModel]] = MemoryOptions
    can_create = can_update = can_delete = True

    def __init__(self, settings: Any, http: Any = None) -> None:
        super().__init__(settings, http)
        key = self.options.store or settings.name
        self.records = STORES.setdefault(key, {})
        self.can_list = self.can_find_by_email = not self.options.write_only

    async def list_all(self) -> Listing:
        return Listing([VendorRecord(i, copy.deepcopy(r)) for i, r in self.records.items()])

    async def create(self, payload: dict[str, Any], *, email: str | None = None) -> Written:
        vendor_id = f"m{next(_ids)}"
        self.records[vendor_id] = {**copy.deepcopy(payload), "id": vendor_id}
        return Written(vendor_id)

    async def update(
        self, vendor_id: str, changes: dict[str, Any], full: dict[str, Any]
    ) -> dict[str, Any] | None:
        if vendor_id not in self.records:
            raise NotFound(f"no record {vendor_id}")
        self.records[vendor_id].update(copy.deepcopy(changes))
        return None

    async def delete(self, vendor_id: str) -> None:
        self.records.pop(vendor_id, None)

    async def find_by_email(self, email: str) -> VendorRecord | None:
        field = self.settings.mapping.fields.get("email")
        path = field.path if field else parse_path("email")
        for vendor_id, record in self.records.items():
            if str(get_path(record, path) or "").strip().lower() == email:
                return VendorRecord(vendor_id, copy.deepcopy(record))
        return None
