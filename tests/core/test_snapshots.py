"""changes.snapshots: the new snapshot of each observed link, with the fields its system
never shows carried over from the old one."""

from __future__ import annotations

from sync.changes import snapshots
from sync.mapping_file import compile_mapping
from sync.match import Observed
from sync.rows import LinkRow

MAPPING = compile_mapping(
    {
        "id": "id",
        "fields": {
            "email": {"path": "email"},
            "title": {"path": "role"},
            "company": {"path": "org", "direction": "to_system"},  # written, never read
        },
    },
    "m.toml",
)


def test_a_first_seen_record_is_its_snapshot_and_written_only_fields_are_carried() -> None:
    fresh = {"email": "a@b.org", "title": "T"}
    again = {"email": "c@d.org", "title": "U"}
    old = LinkRow(1, "c2", "crm", "v2", {"email": "c@d.org", "title": "X", "company": "Co"})
    out = snapshots(
        {"crm": old},
        {"crm": Observed("v2", again, None)},
        {"crm": MAPPING},
    )
    assert out == {"crm": {"email": "c@d.org", "title": "U", "company": "Co"}}
    assert again == {"email": "c@d.org", "title": "U"}  # the observed record is not changed
    first = snapshots({}, {"crm": Observed("v1", fresh, None, new_link=True)}, {"crm": MAPPING})
    assert first == {"crm": fresh}
    assert first["crm"] is fresh  # not a copy: a run holds every listed record already
