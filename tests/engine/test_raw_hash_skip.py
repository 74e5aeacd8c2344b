"""A full scan does not normalise a record whose raw form is the one its link last read
(links.raw_hash), unless the mapping or schema changed or a write replaced the snapshot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.engine_helpers import World
from tests.helpers import settings_from

pytestmark = pytest.mark.usefixtures("backend")

PLAIN = '[fields]\nemail = { path = "mail" }\nfirst_name = { path = "first" }\n'
SHORT = (
    '[fields]\nemail = { path = "mail" }\n'
    'first_name = { path = "first", from_system = [{ max_length = 3 }] }\n'
)


def world(tmp_path: Path, crm_mapping: str = PLAIN) -> World:
    (tmp_path / "crm.toml").write_text(crm_mapping)
    return World(tmp_path, {"crm": {"mapping": "crm.toml"}, "desk": {}})


def remap(w: World, tmp_path: Path, crm_mapping: str) -> None:
    """The same world after the crm mapping file changed and contactsync restarted."""
    (tmp_path / "crm.toml").write_text(crm_mapping)
    raw = {
        "state": {"url": w.settings.state_url},
        "sync": {"max_delete_fraction": 0.5},
        "systems": {
            "crm": {"connector": "memory", "store": w.stores["crm"], "mapping": "crm.toml"},
            "desk": {"connector": "memory", "store": w.stores["desk"]},
        },
    }
    w.settings = settings_from(raw, tmp_path)


def test_a_quiet_full_scan_normalises_nothing(tmp_path: Path, normalised: list[Any]) -> None:
    w = world(tmp_path)
    ids = [w.add("crm", mail=f"p{i}@example.org", first="Ada") for i in range(4)]
    w.sync()
    w.sync()  # reads back what the first run wrote
    w.sync(full_scan=True)  # records first read back as snapshots keep their raw hash here
    normalised.clear()
    report = w.sync(full_scan=True)
    assert report.exit_code == 0 and report.writes == 0
    assert normalised == []
    # a changed record is normalised (and only it) and carried over
    w.records("crm")[ids[2]]["first"] = "Grace"
    report = w.sync(full_scan=True)
    listed = [d for d in normalised if d.get("first") == "Grace" or d.get("first_name") == "Grace"]
    assert report.system("desk").updated == 1 and listed
    assert w.one("desk", "p2@example.org")["first_name"] == "Grace"
    # the update's answer replaced the desk snapshot: that record is read once more, then
    # quiet again
    w.sync(full_scan=True)
    normalised.clear()
    assert w.sync(full_scan=True).writes == 0 and normalised == []


def test_a_write_clears_the_hash_so_a_reverted_record_is_seen(tmp_path: Path) -> None:
    """Desk's record is updated by a sync, then someone puts back exactly the record the hash
    was taken from: it must not pass as unchanged (its snapshot is the written one)."""
    w = world(tmp_path)
    ada = w.add("crm", mail="ada@example.org", first="Ada")
    w.sync()
    w.sync(full_scan=True)
    w.sync(full_scan=True)
    before = dict(w.by_email("desk", "ada@example.org") or {})
    w.records("crm")[ada]["first"] = "Bea"
    assert w.sync(full_scan=True).system("desk").updated == 1
    w.edit("desk", "ada@example.org", **before)  # desk goes back to the old record
    report = w.sync(full_scan=True)
    assert report.system("crm").updated == 1
    assert w.records("crm")[ada]["first"] == "Ada"


def test_a_record_failing_under_a_new_mapping_keeps_failing(tmp_path: Path) -> None:
    """The raw hash kept under the old mapping must not let a record that no longer maps
    pass as unchanged on the next full scan."""
    w = world(tmp_path)
    w.add("crm", mail="ada@example.org", first="Ada")
    w.add("crm", mail="grace@example.org", first="Grace")
    w.sync()
    w.sync(full_scan=True)
    w.sync(full_scan=True)
    remap(w, tmp_path, SHORT)
    for _ in range(2):
        report = w.sync(full_scan=True)
        reasons = [f["reason"] for f in report.system("crm").failed]
        assert any(r.startswith("field first_name (first): 'Grace'") for r in reasons), reasons
        assert report.exit_code == 1
