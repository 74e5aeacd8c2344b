"""A crash between push and commit (the worst moment) must not create anything twice."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from sync import commit
from sync.store.models import Contact
from tests.engine_helpers import World

# every scenario runs on SQLite and on PostgreSQL
pytestmark = pytest.mark.usefixtures("backend")


class Crash(Exception):
    pass


def crash_before_commit(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_a: object, **_k: object) -> None:
        raise Crash

    monkeypatch.setattr(commit, "settle", boom)


@pytest.mark.parametrize("dialer", [{}, {"write_only": True}])
def test_crash_after_push_then_rerun_creates_nothing_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dialer: dict[str, object]
) -> None:
    w = World(tmp_path, {"crm": {}, "dialer": dialer})
    for i in range(5):
        w.add("crm", email=f"p{i}@example.org", title="T")
    with monkeypatch.context() as m:
        crash_before_commit(m)
        with pytest.raises(Crash):
            w.sync()
    assert len(w.records("dialer")) == 5  # the writes landed, the commit did not
    with w.store.run() as db:
        in_flight = db.unfinished()
    assert {a.state for a in in_flight} == {"done"}
    assert len(in_flight) == 5
    report = w.sync()
    assert report.exit_code == 0
    assert len(w.records("dialer")) == 5
    emails = sorted(r["email"] for r in w.records("dialer").values())
    assert emails == [f"p{i}@example.org" for i in range(5)]
    w.edit("crm", "p1@example.org", title="Changed")
    w.sync()
    assert [r["title"] for r in w.records("dialer").values() if r["email"] == "p1@example.org"] == [
        "Changed"
    ]
    assert w.sync().writes == 0


def test_a_crash_after_the_journal_keeps_the_history_of_the_base_it_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The journal's commit carries the contacts' new base values; the history that explains
    them must go with it, or `explain` shows a reason the data no longer has."""
    from sync import engine as engine_module

    w = World(tmp_path, ["crm", "desk"])
    w.add("crm", email="ada@example.org", first_name="P")
    w.sync()
    w.edit("crm", "ada@example.org", first_name="Q")

    def die(phase: str) -> None:
        if phase == "journalled":
            raise Crash(phase)

    with monkeypatch.context() as m:
        m.setattr(engine_module, "checkpoint", die)
        with pytest.raises(Crash):
            w.sync()
    w.sync()
    assert w.one("desk", "ada@example.org")["first_name"] == "Q"
    with w.store.session() as s:
        [contact] = s.scalars(select(Contact)).all()
    changes = [(h.field, h.new_value) for h in w.store.history(contact.id)]
    assert ("first_name", "Q") in changes, changes


def test_a_create_that_landed_and_was_deleted_before_the_rerun_is_not_adopted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the state machine: the journal says the create landed, but a full listing
    no longer shows the record. Adopting it linked a record that was gone, the run wrote
    nothing and the systems disagreed until a later run."""
    w = World(tmp_path, ["crm", "desk"])
    w.add("crm", email="ada@example.org", first_name="Ada")
    with monkeypatch.context() as m:
        crash_before_commit(m)
        with pytest.raises(Crash):
            w.sync()
    w.remove("desk", "ada@example.org")  # someone deletes what the crashed run created
    w.sync()
    assert w.one("desk", "ada@example.org")["first_name"] == "Ada"
    assert len(w.records("desk")) == 1
    assert w.sync().writes == 0
