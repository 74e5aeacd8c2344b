"""A crash between push and commit (the worst moment) must not create anything twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync import commit
from sync.store.repo import Store
from tests.engine_helpers import World

# every scenario runs on SQLite and on PostgreSQL
pytestmark = pytest.mark.usefixtures("backend")


class Crash(Exception):
    pass


def crash_before_commit(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_a: object, **_k: object) -> None:
        raise Crash

    monkeypatch.setattr(commit, "apply", boom)


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
    with w.store.session() as s:
        in_flight = Store.unfinished_actions(s)
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
