"""What review needs from the engine: allowed held deletions are carried out, and every
agreed value keeps a history of where it came from."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from sync import conflicts, explain
from tests.engine_helpers import World, held_deletions_world


def _held(w: World) -> list[tuple[int, str]]:
    return [(h.entry_id, h.vendor_id or "") for h in w.store.held_deletions()]


def test_an_allowed_deletion_is_carried_out_by_the_next_run_and_only_once(
    tmp_path: Path,
) -> None:
    w = held_deletions_world(tmp_path)
    w.sync()
    held = _held(w)
    assert len(held) == 3 and len(w.records("desk")) == 8
    first_id, first_vendor = held[0]
    assert w.store.allow_deletion(first_id)
    report = w.sync()
    assert len(w.records("desk")) == 7  # the allowed one, everywhere; the others still held
    assert report.system("crm").held
    assert sorted(v for _, v in _held(w)) == sorted(v for _, v in held[1:])
    assert w.store.allowed_deletions() == []  # used up: it allows nothing more
    w.sync()
    assert len(w.records("desk")) == 7
    assert first_vendor not in {v for _, v in _held(w)}


def test_only_a_held_deletion_can_be_allowed(tmp_path: Path) -> None:
    w = World(tmp_path, ["crm", "desk"])
    w.add("crm", email="ada@example.org")
    w.sync()
    assert not w.store.allow_deletion(1)  # a done create, not a held deletion
    assert not w.store.allow_deletion(999)


def test_history_names_the_system_and_run_behind_each_value(tmp_path: Path) -> None:
    w = World(tmp_path, ["crm", "desk"])
    w.add("crm", email="ada@example.org", title="Analyst", city="London")
    first = w.sync()
    w.edit("desk", "ada@example.org", title="Engineer")
    second = w.sync()
    data = explain.collect(w.store, w.settings, "ADA@example.org ")
    fields = {f["field"]: f for f in data["fields"]}
    assert fields["city"]["value"] == "London"
    assert (fields["city"]["set_by"], fields["city"]["run_id"]) == ("crm", first.run_id)
    title = fields["title"]
    assert (title["value"], title["set_by"], title["run_id"]) == ("Engineer", "desk", second.run_id)
    assert [(h["from"], h["to"], h["source"]) for h in title["history"]] == [
        (None, "Analyst", "crm"),
        ("Analyst", "Engineer", "desk"),
    ]
    assert title["systems"] == {"crm": "Engineer", "desk": "Engineer"}


def test_history_shows_a_conflict_and_the_person_who_settled_it(tmp_path: Path) -> None:
    w = World(tmp_path, ["crm", "desk"])
    w.add("crm", email="ada@example.org", title="Analyst")
    w.sync()
    w.edit("crm", "ada@example.org", title="Countess")
    w.edit("desk", "ada@example.org", title="Duchess")
    w.sync()
    [item] = conflicts.rows(w.store)
    before = explain.collect(w.store, w.settings, "ada@example.org")
    title = next(f for f in before["fields"] if f["field"] == "title")
    assert title["value"] == "Analyst"
    assert [c["status"] for c in title["conflicts"]] == ["open"]
    conflicts.apply_resolution(w.store, w.settings, item["id"], take="desk")
    third = w.sync()
    assert w.one("crm", "ada@example.org")["title"] == "Duchess"
    after = explain.collect(w.store, w.settings, "ada@example.org")
    title = next(f for f in after["fields"] if f["field"] == "title")
    last = title["history"][-1]
    assert (last["to"], last["source"], last["run_id"]) == ("Duchess", "review", third.run_id)
    assert last["conflict_id"] == item["id"] and "take desk" in last["how"]
    assert title["conflicts"][0]["status"] == "applied"


def test_explain_table_reads_as_text(tmp_path: Path) -> None:
    import io

    w = World(tmp_path, ["crm", "desk"])
    w.add("crm", email="ada@example.org", title="Analyst")
    w.sync()
    out = io.StringIO()
    explain.show(w.store, w.settings, "ada@example.org", "table", Console(file=out, width=160))
    text = out.getvalue()
    assert "ada@example.org" in text and "Analyst" in text and "first seen" in text
