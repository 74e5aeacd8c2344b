"""The CSV connector passes the connector contract: the file in a test's own folder is its
'vendor'."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sync.connectors.base import Connector
from sync.connectors.csvfile import CsvConnector
from sync.sandbox.base import Emulator
from tests.connectors.contract import ConnectorContract


class CsvFolder(Emulator):
    """Stands in for a vendor: a folder holding the system's file."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder


class TestCsvContract(ConnectorContract):
    name = "people"

    @pytest.fixture(autouse=True)
    def _folder(self, tmp_path: Path) -> None:
        self.folder = tmp_path

    def emulator(self) -> Emulator:
        return CsvFolder(self.folder)

    def table(self) -> dict[str, Any]:
        return {"connector": "csv", "path": "people.csv"}

    def settings(self, env: dict[str, str] | None = None, **extra: Any) -> Any:
        from tests.helpers import system_settings

        return system_settings(self.name, {**self.table(), **extra}, env, root=self.folder)

    def connect(self, emu: Emulator, settings: Any = None) -> Connector:
        conn = CsvConnector(settings or self.settings())
        conn.first_listing = True  # a new file: the system's first listing or write makes it
        return conn

    async def test_bad_credentials_are_an_auth_error(self) -> None:
        pytest.skip("a CSV file has no credentials")

    async def test_reads_survive_transient_faults(self, pair: Any) -> None:
        pytest.skip("a CSV file has no transport to fail")
