"""A full scan plans only the contacts whose records changed since their snapshots, unless
what planning depends on (a mapping, a system's capabilities) changed since the last full
planning: then it plans everyone again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import sync.decide
from tests.engine_helpers import World
from tests.helpers import settings_from

pytestmark = pytest.mark.usefixtures("backend")

NAME_ONLY = '[fields]\nemail = { path = "mail" }\nfirst_name = { path = "first" }\n'
WITH_TITLE = NAME_ONLY + 'title = { path = "job" }\n'


@pytest.fixture
def planned(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The contact of every plan_contact call."""
    calls: list[str] = []
    real = sync.decide.plan_contact

    def counting(contact_id: str, *args: Any, **kw: Any) -> Any:
        calls.append(contact_id)
        return real(contact_id, *args, **kw)

    monkeypatch.setattr(sync.decide, "plan_contact", counting)
    return calls


def world(tmp_path: Path, mapping: str) -> World:
    (tmp_path / "dialer.toml").write_text(mapping)
    w = World(tmp_path, {"crm": {}, "dialer": {"mapping": "dialer.toml"}})
    return w


def reload(w: World, tmp_path: Path) -> None:
    """The same world with the mapping files read again, as a restart would."""
    raw = {
        "state": {"url": w.settings.state_url},
        "sync": {"max_delete_fraction": 0.5},
        "systems": {
            "crm": {"connector": "memory", "store": w.stores["crm"]},
            "dialer": {
                "connector": "memory",
                "store": w.stores["dialer"],
                "mapping": "dialer.toml",
            },
        },
    }
    w.settings = settings_from(raw, tmp_path)


def test_a_quiet_full_scan_plans_nobody(tmp_path: Path, planned: list[str]) -> None:
    w = world(tmp_path, NAME_ONLY)
    for i in range(5):
        w.add("crm", email=f"p{i}@example.org", first_name="Ada", title="Driver")
    w.sync()
    w.sync()  # reads back what the first run wrote
    planned.clear()
    report = w.sync(full_scan=True)
    assert report.exit_code == 0 and report.writes == 0
    assert planned == []
    w.edit("crm", "p3@example.org", first_name="Grace")
    report = w.sync(full_scan=True)
    assert len(planned) == 1 and report.writes == 1
    assert [r["first"] for r in w.records("dialer").values() if r["mail"] == "p3@example.org"] == [
        "Grace"
    ]


def test_a_changed_mapping_plans_everyone_again(tmp_path: Path, planned: list[str]) -> None:
    w = world(tmp_path, NAME_ONLY)
    for i in range(3):
        w.add("crm", email=f"p{i}@example.org", first_name="Ada", title="Driver")
    w.sync()
    w.sync()
    assert all("job" not in r for r in w.records("dialer").values())
    (tmp_path / "dialer.toml").write_text(WITH_TITLE)
    reload(w, tmp_path)
    planned.clear()
    report = w.sync(full_scan=True)
    assert len(set(planned)) == 3 and report.exit_code == 0
    assert [r.get("job") for r in w.records("dialer").values()] == ["Driver"] * 3
    planned.clear()
    w.sync(full_scan=True)  # read back; then quiet again
    planned.clear()
    assert w.sync(full_scan=True).writes == 0 and planned == []


def test_a_vanished_record_is_still_a_deletion(tmp_path: Path) -> None:
    w = world(tmp_path, NAME_ONLY)
    for i in range(4):
        w.add("crm", email=f"p{i}@example.org", first_name="Ada")
    w.sync()
    w.sync()
    w.remove("crm", "p2@example.org")
    report = w.sync(full_scan=True)
    assert report.system("dialer").deleted == 1
    assert sorted(r["mail"] for r in w.records("dialer").values()) == [
        "p0@example.org",
        "p1@example.org",
        "p3@example.org",
    ]
