"""The CSV connector reads from the table it keeps (parsed once while the file is unchanged),
hands out copies, and never shows a write that is not on disk yet."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from sync.connectors import csvtable
from sync.connectors.csvfile import CsvConnector
from tests.helpers import system_settings

ADA = {"email": "ada@example.org", "first_name": "Ada", "last_name": "Lovelace"}


def connector(folder: Path) -> CsvConnector:
    table = {"connector": "csv", "path": "people.csv"}
    conn = CsvConnector(system_settings("people", table, root=folder))
    conn.first_listing = True  # the file is made by the first write
    return conn


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts how often the file is parsed."""
    count = [0]
    real = csvtable.parse_bytes

    def counting(*args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(csvtable, "parse_bytes", counting)
    return count


async def test_reads_do_not_parse_an_unchanged_file_again(
    tmp_path: Path, parses: list[int]
) -> None:
    conn = connector(tmp_path)
    written = await conn.create(ADA)
    before = parses[0]
    for _ in range(3):
        assert [r.id for r in (await conn.list_all()).records] == [written.vendor_id]
        found = await conn.find_by_email("ada@example.org")
        assert found is not None and found.id == written.vendor_id
    assert parses[0] == before
    # someone else edits the file: it is read again
    path = tmp_path / "people.csv"
    path.write_text(path.read_text() + "csv-99,grace@example.org,Grace,Hopper,\n")
    listed = await conn.list_all()
    assert parses[0] == before + 1
    assert sorted(r.id for r in listed.records) == sorted([written.vendor_id, "csv-99"])
    assert (await conn.find_by_email("grace@example.org")) is not None


async def test_listed_records_do_not_change_with_later_updates(tmp_path: Path) -> None:
    conn = connector(tmp_path)
    written = await conn.create(ADA)
    (listed,) = (await conn.list_all()).records
    found = await conn.find_by_email("ada@example.org")
    assert found is not None
    await conn.update(written.vendor_id, {"first_name": "Augusta"}, {})
    assert listed.data["first_name"] == found.data["first_name"] == "Ada"
    (now,) = (await conn.list_all()).records
    assert now.data["first_name"] == "Augusta"


async def test_a_read_waits_for_the_write_in_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = connector(tmp_path)
    writing, release = threading.Event(), threading.Event()
    real = conn._write

    def slow_write(*args: Any) -> Any:
        writing.set()
        release.wait(5)
        return real(*args)

    monkeypatch.setattr(conn, "_write", slow_write)
    create = asyncio.create_task(conn.create(ADA))
    await asyncio.to_thread(writing.wait, 5)
    listing = asyncio.create_task(conn.list_all())
    lookup = asyncio.create_task(conn.find_by_email("ada@example.org"))
    await asyncio.sleep(0.05)
    assert not listing.done() and not lookup.done()  # the row is not on disk yet
    release.set()
    written = await create
    assert [r.id for r in (await listing).records] == [written.vendor_id]
    found = await lookup
    assert found is not None and found.id == written.vendor_id
