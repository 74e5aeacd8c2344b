"""The CSV connector's group commit: writes in flight together cost one rewrite, and no write
is answered before the rewrite that holds it is on disk."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path
from typing import Any

import pytest

from sync.connectors import csvfile, csvtable
from sync.connectors.csvfile import CsvConnector
from sync.errors import NotFound, TransientError
from tests.helpers import system_settings


def connector(folder: Path, **extra: Any) -> CsvConnector:
    table = {"connector": "csv", "path": "people.csv", **extra}
    conn = CsvConnector(system_settings("people", table, root=folder))
    conn.first_listing = True  # the file is made by the first write
    return conn


def rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return {r["id"]: r for r in csv.DictReader(fh)}


def person(i: int) -> dict[str, str]:
    return {"email": f"p{i}@example.org", "first_name": "P", "last_name": str(i)}


async def test_concurrent_creates_are_one_rewrite_each_durable_before_its_answer(
    tmp_path: Path,
) -> None:
    conn = connector(tmp_path)
    path = tmp_path / "people.csv"
    on_disk_when_answered: list[bool] = []

    def check(task: asyncio.Task[Any]) -> None:
        on_disk_when_answered.append(task.result().vendor_id in rows(path))

    tasks = []
    for i in range(200):
        task = asyncio.create_task(conn.create(person(i)))
        task.add_done_callback(check)
        tasks.append(task)
    written = await asyncio.gather(*tasks)
    assert conn.rewrites == 1
    assert on_disk_when_answered == [True] * 200
    ids = [w.vendor_id for w in written]
    assert len(set(ids)) == 200
    held = rows(path)
    emails = {held[w.vendor_id]["email"] for w in written}
    assert emails == {f"p{i}@example.org" for i in range(200)}


async def test_a_failing_write_fails_alone_in_its_group(tmp_path: Path) -> None:
    conn = connector(tmp_path)
    first = await conn.create(person(1))
    second = await conn.create(person(2))
    assert conn.rewrites == 2
    results = await asyncio.gather(
        conn.update(first.vendor_id, {"title": "Countess"}, {}),
        conn.update("csv-999", {"title": "Nobody"}, {}),
        conn.delete(second.vendor_id),
        conn.create(person(3)),
        return_exceptions=True,
    )
    assert isinstance(results[1], NotFound)
    assert results[0]["title"] == "Countess"
    assert conn.rewrites == 3
    held = rows(tmp_path / "people.csv")
    assert held[first.vendor_id]["title"] == "Countess"
    assert second.vendor_id not in held
    assert results[3].vendor_id in held and len(held) == 2


async def test_a_rewrite_that_fails_answers_every_write_with_an_error_and_keeps_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = connector(tmp_path)
    kept = await conn.create(person(0))

    def broken(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(csvtable.os, "replace", broken)
    results = await asyncio.gather(
        *(conn.create(person(i)) for i in range(1, 4)), return_exceptions=True
    )
    assert all(isinstance(r, TransientError) and "No space" in str(r) for r in results)
    monkeypatch.undo()
    later = await conn.create(person(9))
    held = rows(tmp_path / "people.csv")
    assert set(held) == {kept.vendor_id, later.vendor_id}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".people.csv.")]


async def test_an_edit_made_by_someone_else_between_groups_is_kept(tmp_path: Path) -> None:
    conn = connector(tmp_path)
    await conn.create(person(0))
    path = tmp_path / "people.csv"
    path.write_text(path.read_text() + "by-hand,hand@example.org,Hand,Made\n")
    await conn.create(person(1))
    assert "by-hand" in rows(path) and len(rows(path)) == 3


async def test_many_deletes_in_one_group_keep_the_rest_in_order(tmp_path: Path) -> None:
    conn = connector(tmp_path)
    made = await asyncio.gather(*(conn.create(person(i)) for i in range(10)))
    await asyncio.gather(*(conn.delete(w.vendor_id) for w in made[::2]), conn.delete("csv-77"))
    assert conn.rewrites == 2
    assert list(rows(tmp_path / "people.csv")) == [w.vendor_id for w in made[1::2]]


def test_csv_keeps_every_write_in_flight_unless_told_otherwise(tmp_path: Path) -> None:
    assert connector(tmp_path).concurrency == csvfile.GROUP_CONCURRENCY
    assert connector(tmp_path, concurrency=2).concurrency == 2
