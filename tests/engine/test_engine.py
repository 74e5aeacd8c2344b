"""Engine scenarios over memory systems: the path of a run and the guarantees of DESIGN.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from sync.store.models import Contact, Link
from tests.engine_helpers import World, held_deletions_world

# every scenario runs on SQLite and on PostgreSQL
pytestmark = pytest.mark.usefixtures("backend")


def emails(world: World, system: str) -> list[str]:
    return sorted(r["email"].strip().lower() for r in world.records(system).values())


def test_first_sync_of_two_populated_systems_makes_no_duplicates(tmp_path: Path) -> None:
    w = World(tmp_path, ["crm", "desk"])
    w.add("crm", email="ada@example.org", first_name="Ada")
    w.add("crm", email="bob@example.org", first_name="Bob")
    w.add("desk", email="ADA@example.org ", last_name="Lovelace")
    w.add("desk", email="cy@example.org", first_name="Cy")
    report = w.sync()
    assert report.exit_code == 0
    assert (
        emails(w, "crm")
        == emails(w, "desk")
        == ["ada@example.org", "bob@example.org", "cy@example.org"]
    )
    assert w.one("crm", "ada@example.org")["last_name"] == "Lovelace"
    assert w.one("desk", "ada@example.org")["first_name"] == "Ada"


def test_second_run_writes_nothing(tmp_path: Path) -> None:
    w = World(tmp_path, ["crm", "desk"])
    w.add("crm", email="ada@example.org", first_name="Ada", phone="+44 20 7946 0000")
    w.add("desk", email="bob@example.org", first_name="Bob", active="1")
    assert w.sync().writes == 2
    again = w.sync()
    assert again.writes == 0
    assert again.exit_code == 0


@pytest.mark.parametrize(("src", "dst"), [("crm", "desk"), ("desk", "crm")])
def test_create_update_delete_flow_each_way(tmp_path: Path, src: str, dst: str) -> None:
    w = World(tmp_path, ["crm", "desk"])
    for i in range(4):
        w.add(src, email=f"p{i}@example.org", first_name=f"P{i}")
    w.sync()
    assert len(w.records(dst)) == 4
    w.edit(src, "p1@example.org", title="Chief")
    assert w.sync().system(dst).updated == 1
    assert w.one(dst, "p1@example.org")["title"] == "Chief"
    w.remove(src, "p2@example.org")
    report = w.sync()
    assert report.system(dst).deleted == 1
    assert w.by_email(dst, "p2@example.org") is None
    assert w.sync().writes == 0


def test_edits_to_different_fields_both_survive(tmp_path: Path) -> None:
    w = World(tmp_path, ["crm", "desk"])
    w.add("crm", email="ada@example.org", first_name="Ada", city="London")
    w.sync()
    w.edit("crm", "ada@example.org", title="Countess")
    w.edit("desk", "ada@example.org", city="Paris")
    w.sync()
    for system in ("crm", "desk"):
        rec = w.one(system, "ada@example.org")
        assert (rec["title"], rec["city"]) == ("Countess", "Paris")


def _conflicted(tmp_path: Path, **sync: Any) -> World:
    w = World(tmp_path, ["crm", "desk"], **sync)
    w.add("crm", email="ada@example.org", title="Analyst", updated_at="2024-01-01T00:00:00Z")
    w.sync()
    w.edit("crm", "ada@example.org", title="Countess", updated_at="2024-02-01T00:00:00Z")
    w.edit("desk", "ada@example.org", title="Duchess", updated_at="2024-03-01T00:00:00Z")
    return w


def test_manual_conflict_holds_the_field_and_resolution_propagates(tmp_path: Path) -> None:
    w = _conflicted(tmp_path)
    w.edit("crm", "ada@example.org", city="Rome")
    report = w.sync()
    assert report.open_conflicts == 1
    # nobody's edit is overwritten while the conflict waits; other fields keep syncing
    assert w.one("crm", "ada@example.org")["title"] == "Countess"
    assert w.one("desk", "ada@example.org")["title"] == "Duchess"
    assert w.one("desk", "ada@example.org")["city"] == "Rome"
    [(conflict, _)] = w.store.conflicts()
    assert conflict.base_value == "Analyst"
    assert set(conflict.values) == {"crm", "desk"}
    assert w.store.resolve_conflict(conflict.id, "Duchess", "test")
    w.sync()
    assert w.one("crm", "ada@example.org")["title"] == "Duchess"
    assert w.sync().writes == 0


def test_newest_policy_takes_the_later_edit(tmp_path: Path) -> None:
    w = _conflicted(tmp_path, conflict_policy="newest")
    report = w.sync()
    assert report.open_conflicts == 0
    assert w.one("crm", "ada@example.org")["title"] == "Duchess"


def test_priority_policy_takes_the_first_listed_system(tmp_path: Path) -> None:
    w = _conflicted(tmp_path, conflict_policy="priority", priority=["crm", "desk"])
    w.sync()
    assert w.one("desk", "ada@example.org")["title"] == "Countess"


def test_edit_against_delete_keeps_the_contact(tmp_path: Path) -> None:
    w = World(tmp_path, ["crm", "desk"], max_delete_fraction=1.0)
    w.add("crm", email="ada@example.org", title="Analyst")
    w.add("crm", email="bob@example.org")
    w.sync()
    w.remove("crm", "ada@example.org")
    w.edit("desk", "ada@example.org", title="Countess")
    w.sync()
    assert w.one("desk", "ada@example.org")["title"] == "Countess"
    assert w.one("crm", "ada@example.org")["title"] == "Countess"


def test_email_case_and_spaces_do_not_split_a_contact(tmp_path: Path) -> None:
    w = World(tmp_path, ["crm", "desk"])
    w.add("crm", email="  Ada@Example.ORG", first_name="Ada")
    w.add("desk", email="ada@example.org ", last_name="Lovelace")
    w.sync()
    assert len(w.records("crm")) == len(w.records("desk")) == 1


def test_changed_email_keeps_identity_through_the_link(tmp_path: Path) -> None:
    w = World(tmp_path, ["crm", "desk"])
    w.add("crm", email="ada@example.org", first_name="Ada")
    w.sync()
    w.edit("crm", "ada@example.org", email="ada@newmail.org")
    w.sync()
    assert emails(w, "desk") == ["ada@newmail.org"]
    assert len(w.records("desk")) == 1


def test_two_records_with_one_email_are_reported_not_merged(tmp_path: Path) -> None:
    w = World(tmp_path, ["crm", "desk"])
    w.add("crm", email="ada@example.org", first_name="Ada")
    w.add("crm", email="ADA@example.org", first_name="Ada2")
    report = w.sync()
    assert report.exit_code == 1
    assert len(report.system("crm").failed) == 2
    assert all("duplicate" in f["reason"] for f in report.system("crm").failed)
    assert w.records("desk") == {}


def test_a_system_that_suddenly_lists_nothing_holds_deletions(tmp_path: Path) -> None:
    w = World(tmp_path, ["crm", "desk"])
    for i in range(3):
        w.add("crm", email=f"p{i}@example.org")
    w.sync()
    w.records("crm").clear()
    report = w.sync()
    assert report.exit_code == 1
    assert "listed no contacts" in report.system("crm").held[0]
    assert len(w.records("desk")) == 3
    report = w.sync(allow_mass_delete=True)
    assert len(w.records("desk")) == 0


def test_deletions_above_the_fraction_are_held(tmp_path: Path) -> None:
    w = held_deletions_world(tmp_path)
    report = w.sync()
    assert report.system("crm").held and len(w.records("desk")) == 8
    assert "3 of 8 contacts vanished" in report.system("crm").held[0]
    # one more vanishes: still held, all four now, and nothing deleted in desk
    w.remove("crm", "p3@example.org")
    again = w.sync()
    assert "4 of 8 contacts vanished" in again.system("crm").held[0]
    assert len(w.records("desk")) == 8 and again.system("desk").deleted == 0
    assert len(w.store.held_deletions()) == 4


def test_an_empty_system_on_the_first_run_is_normal(tmp_path: Path) -> None:
    w = World(tmp_path, ["crm", "desk"])
    w.add("crm", email="ada@example.org")
    report = w.sync()
    assert report.exit_code == 0
    assert len(w.records("desk")) == 1


def test_ignored_deletes_unlink_without_propagating(tmp_path: Path) -> None:
    w = World(tmp_path, {"crm": {"deletes": "ignore"}, "desk": {}}, max_delete_fraction=1.0)
    w.add("crm", email="ada@example.org")
    w.add("crm", email="bob@example.org")
    w.sync()
    w.remove("crm", "ada@example.org")
    w.sync()
    assert w.by_email("desk", "ada@example.org") is not None
    assert w.by_email("crm", "ada@example.org") is None
    assert w.sync().writes == 0


def test_a_record_back_after_an_ignored_delete_gets_edits_again(tmp_path: Path) -> None:
    """The gone link is taken over by the record that came back: it is no longer gone."""
    w = World(tmp_path, {"crm": {"deletes": "ignore"}, "desk": {}}, max_delete_fraction=1.0)
    w.add("crm", email="ada@example.org", title="Analyst")
    w.add("crm", email="bob@example.org")
    w.sync()
    w.remove("crm", "ada@example.org")
    w.sync()
    w.add("crm", email="ada@example.org", title="Analyst")
    assert w.sync().exit_code == 0
    w.edit("desk", "ada@example.org", title="Countess")
    report = w.sync()
    assert report.system("crm").updated == 1
    assert w.one("crm", "ada@example.org")["title"] == "Countess"
    assert w.sync().writes == 0


def test_dry_run_sends_nothing_records_nothing_and_prints_the_plan(tmp_path: Path) -> None:
    w = World(tmp_path, ["crm", "desk"])
    w.add("crm", email="ada@example.org", title="Analyst")
    w.add("crm", email="bob@example.org")
    w.sync()
    w.edit("crm", "ada@example.org", title="Countess")
    w.add("crm", email="cy@example.org")

    def stored() -> tuple[list[Any], list[Any]]:
        with w.store.session() as s:
            contacts = sorted((c.email, c.base, c.dirty) for c in s.scalars(select(Contact)))
            links = sorted((k.system, k.vendor_id, k.snapshot) for k in s.scalars(select(Link)))
        return contacts, links

    before = stored()
    report = w.sync(dry_run=True)
    assert sorted((a["kind"], a["email"]) for a in report.plan) == [
        ("create", "cy@example.org"),
        ("update", "ada@example.org"),
    ]
    assert stored() == before, "a dry run changed the store"
    assert w.by_email("desk", "cy@example.org") is None
    assert w.one("desk", "ada@example.org")["title"] == "Analyst"
    real = w.sync()
    assert (real.system("desk").created, real.system("desk").updated) == (1, 1)


def test_write_only_system_receives_only_writes(tmp_path: Path) -> None:
    w = World(tmp_path, {"crm": {}, "dialer": {"write_only": True}}, max_delete_fraction=1.0)
    w.add("crm", email="ada@example.org", phone="+1 202 555 0100")
    w.add("crm", email="bob@example.org")
    w.sync()
    assert len(w.records("dialer")) == 2
    w.edit("crm", "ada@example.org", phone="+1 202 555 0199")
    assert w.sync().system("dialer").updated == 1
    assert w.sync().writes == 0
    w.remove("crm", "ada@example.org")
    w.sync()
    assert [r["email"] for r in w.records("dialer").values()] == ["bob@example.org"]


def test_a_failed_write_is_retried_on_the_next_run(tmp_path: Path) -> None:
    from sync.connectors import memory

    w = World(tmp_path, ["crm", "desk"])
    w.add("crm", email="ada@example.org")
    original = memory.MemoryConnector.create

    async def refuse(self, payload, *, email=None):
        from sync.errors import Rejected

        raise Rejected("desk is read-only today")

    memory.MemoryConnector.create = refuse  # type: ignore[method-assign]
    try:
        report = w.sync()
    finally:
        memory.MemoryConnector.create = original  # type: ignore[method-assign]
    assert report.exit_code == 1
    assert "read-only today" in report.system("desk").failed[0]["reason"]
    assert w.sync().system("desk").created == 1


def test_a_conflict_keeps_when_each_value_changed_across_quiet_runs(tmp_path: Path) -> None:
    """The review page shows when each system's value changed: the vendor's own time, kept
    while nothing changes, and stored on the link for the first sight of a record."""
    w = World(tmp_path, ["crm", "desk"])
    w.add("crm", email="ada@example.org", title="Countess", updated_at="2024-02-01T00:00:00Z")
    w.add("desk", email="ada@example.org", title="Duchess", updated_at="2024-03-01T00:00:00Z")
    w.sync()
    w.sync()  # a quiet run: the open conflict is carried, its times must survive
    [(conflict, _)] = w.store.conflicts()
    times = {sys: v["changed_at"][:10] for sys, v in conflict.values.items()}
    with w.store.session() as s:
        updated = {ln.system: ln.vendor_updated for ln in s.scalars(select(Link))}
    assert times == {"crm": "2024-02-01", "desk": "2024-03-01"}
    assert all(v is not None and v.year == 2024 for v in updated.values()), updated


def test_a_dry_run_does_not_hide_the_held_deletions(tmp_path: Path) -> None:
    """Status, metrics and the review page show the last real run's held deletions."""
    w = held_deletions_world(tmp_path)
    w.sync()
    held = [h.vendor_id for h in w.store.held_deletions()]
    assert len(held) == 3 and w.store.count_held_deletions() == 3
    w.sync(dry_run=True)
    assert [h.vendor_id for h in w.store.held_deletions()] == held
    assert w.store.count_held_deletions() == 3
