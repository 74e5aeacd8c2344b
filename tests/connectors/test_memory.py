"""The memory system passes the contract it is the reference for."""

from __future__ import annotations

import itertools
from typing import Any

from sync.connectors import memory
from sync.connectors.base import Connector
from sync.sandbox.base import Emulator, LoggedRequest
from tests.connectors.contract import ConnectorContract

_stores = itertools.count()


class MemoryEmulator(Emulator):
    """Stands in for a vendor: the memory store is the 'server'."""

    def __init__(self) -> None:
        super().__init__()
        self.store = f"contract-{next(_stores)}"

    def restamp(self, vendor_id: str, like: str) -> None:
        stamps = memory.STAMPS[self.store]
        stamps[vendor_id] = (stamps[like][0], stamps[vendor_id][1])

    def writes(self) -> list[LoggedRequest]:
        return []


class TestMemoryContract(ConnectorContract):
    def emulator(self) -> Emulator:
        return MemoryEmulator()

    def table(self) -> dict[str, Any]:
        return {"connector": "memory", "changes": True}

    def connect(self, emu: Emulator, settings: Any = None) -> Connector:
        assert isinstance(emu, MemoryEmulator)
        settings = settings or self.settings(store=emu.store)
        return memory.MemoryConnector(settings)


def test_a_record_changed_by_hand_is_listed_as_changed() -> None:
    """Tests edit memory stores directly: the next change listing shows the edit."""
    import asyncio

    from tests.helpers import system_settings

    conn = memory.MemoryConnector(
        system_settings("m", {"connector": "memory", "store": "by-hand", "changes": True})
    )
    memory.STORES["by-hand"]["a"] = {"id": "a", "email": "a@example.org"}
    first = asyncio.run(conn.list_changed(None))
    assert [r.id for r in first.records] == ["a"]
    assert asyncio.run(conn.list_changed(first.cursor)).records == []
    memory.STORES["by-hand"]["a"]["title"] = "Changed"
    again = asyncio.run(conn.list_changed(first.cursor))
    assert [r.data.get("title") for r in again.records] == ["Changed"]
