"""The memory system passes the contract it is the reference for."""

from __future__ import annotations

import itertools
from typing import Any

from sync.connectors import memory
from sync.connectors.base import Connector
from sync.sandbox.base import Emulator
from tests.connectors.contract import ConnectorContract

_stores = itertools.count()


class MemoryEmulator(Emulator):
    """Stands in for a vendor: the memory store is the 'server'."""

    def __init__(self) -> None:
        super().__init__()
        self.store = f"contract-{next(_stores)}"


class TestMemoryContract(ConnectorContract):
    def emulator(self) -> Emulator:
        return MemoryEmulator()

    def table(self) -> dict[str, Any]:
        return {"connector": "memory"}

    def connect(self, emu: Emulator, settings: Any = None) -> Connector:
        assert isinstance(emu, MemoryEmulator)
        settings = settings or self.settings(store=emu.store)
        return memory.MemoryConnector(settings)

    def env(self) -> dict[str, str]:
        return {}

    def person(self) -> dict[str, Any]:
        return {
            "email": "ada@example.org",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "title": "Analyst",
            "active": True,
        }

    async def test_bad_credentials_are_an_auth_error(self) -> None:
        """Memory systems have no credentials."""

    async def test_reads_survive_transient_faults(self, pair: Any) -> None:
        """Memory systems have no transport."""
