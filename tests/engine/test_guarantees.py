"""DESIGN.md's guarantees that the scenario tests do not already try to break."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from sync.connectors import memory
from sync.connectors.base import Listing
from sync.store.models import Cursor, JournalEntry
from sync.store.repo import now
from tests.engine_helpers import World, cut_short

# every scenario runs on SQLite and on PostgreSQL
pytestmark = pytest.mark.usefixtures("backend")


def test_an_incomplete_listing_never_deletes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = World(tmp_path, ["crm", "desk"], max_delete_fraction=1.0)
    for i in range(4):
        w.add("crm", email=f"p{i}@example.org")
    w.sync()
    cut_short(monkeypatch, "crm")
    report = w.sync()
    assert len(w.records("desk")) == 4
    assert report.system("desk").deleted == 0
    assert "page 2 failed" in report.system("crm").failed[0]["reason"]


def test_a_record_that_cannot_be_mapped_fails_alone(tmp_path: Path) -> None:
    w = World(tmp_path, ["crm", "desk"])
    w.add("crm", email="not an email", first_name="Broken")
    w.add("crm", email="ada@example.org", first_name="Ada")
    report = w.sync()
    assert report.exit_code == 1
    [failure] = report.system("crm").failed
    assert "email" in failure["reason"] and "not valid" in failure["reason"]
    assert [r["email"] for r in w.records("desk").values()] == ["ada@example.org"]


def test_the_cursor_does_not_move_past_a_failed_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def changed(self: memory.MemoryConnector, cursor: str | None) -> Listing:
        listing = await self.list_all()
        listing.cursor = f"after-{len(listing.records)}"
        return listing

    monkeypatch.setattr(memory.MemoryConnector, "can_list_changes", True)
    monkeypatch.setattr(memory.MemoryConnector, "list_changed", changed, raising=False)
    w = World(tmp_path, ["crm", "desk"])
    w.add("crm", email="ada@example.org")
    w.sync()

    def cursor() -> str | None:
        with w.store.session() as s:
            return s.scalars(select(Cursor.value).where(Cursor.system == "crm")).one()

    assert cursor() is None  # a full listing of memory carries no cursor
    with w.store.session() as s:  # a cursor and a recent full scan: the next run is incremental
        s.execute(update(Cursor).values(value="start", last_full_scan=now()))
        s.commit()
    w.add("crm", email="broken")
    report = w.sync()
    assert report.system("crm").listing == "changes"
    assert cursor() == "start"  # the failed record will be read again
    w.edit("crm", "broken", email="bob@example.org")
    w.sync()
    assert cursor() == "after-2"


def test_the_whole_plan_is_journalled_before_the_first_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = World(tmp_path, ["crm", "desk"])
    for i in range(3):
        w.add("crm", email=f"p{i}@example.org")
    seen: list[int] = []
    original = memory.MemoryConnector.create

    async def spy(self: Any, payload: dict[str, Any], *, email: str | None = None) -> Any:
        if not seen:
            with w.store.session() as s:
                pending = s.scalars(
                    select(JournalEntry).where(JournalEntry.state == "pending")
                ).all()
                seen.append(len(pending))
        return await original(self, payload, email=email)

    monkeypatch.setattr(memory.MemoryConnector, "create", spy)
    w.sync()
    assert seen == [3]


def test_a_second_record_seen_in_an_incremental_listing_is_a_duplicate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = World(tmp_path, ["crm", "desk"])
    first = w.add("crm", email="ada@example.org", title="A")
    w.sync()

    async def only_new(self: memory.MemoryConnector, cursor: str | None) -> Listing:
        listing = await self.list_all()
        listing.records = [r for r in listing.records if r.id != first]
        listing.cursor = "next"
        return listing

    monkeypatch.setattr(memory.MemoryConnector, "can_list_changes", True)
    monkeypatch.setattr(memory.MemoryConnector, "list_changed", only_new, raising=False)
    with w.store.session() as s:
        s.execute(update(Cursor).values(value="start", last_full_scan=now()))
        s.commit()
    w.add("crm", email="ADA@example.org", title="B")
    report = w.sync()
    reasons = [f["reason"] for f in report.system("crm").failed]
    assert any(f"record {first} already holds this email" in r for r in reasons)
    assert w.one("desk", "ada@example.org")["title"] == "A"


def test_a_record_deleted_and_added_again_in_one_system_is_not_created_twice(
    tmp_path: Path,
) -> None:
    """Found by the long state machine: the new record takes over the link of the one that
    vanished, so the vanished one is no deletion to beat with an edit and re-create."""
    w = World(tmp_path, ["a", "b"])
    w.add("a", email="p2@example.org", first_name="P")
    w.sync()
    w.remove("b", "p2@example.org")
    w.add("b", email="p2@example.org", first_name="P")
    w.edit("a", "p2@example.org", last_name="x")
    first = w.sync(allow_mass_delete=True)  # the one vanished record is all of b: past the guard
    assert first.exit_code == 0, first.systems["b"].failed  # written to the new record at once
    w.sync(allow_mass_delete=True)
    in_b = [r for r in w.records("b").values() if r["email"] == "p2@example.org"]
    assert len(in_b) == 1, in_b
    assert in_b[0].get("last_name") == "x"
    assert w.sync().writes == 0
