"""history.field_rows for a contact seen for the first time: one row per set of systems its
values came from, and the general rows as soon as a policy settled a conflict."""

from __future__ import annotations

from datetime import UTC, datetime

from sync.history import field_rows
from sync.merge import Change, merge
from sync.rows import FIRST_SEEN

AT = datetime(2026, 1, 2, tzinfo=UTC)


def rows_for(changes: dict[str, dict[str, str]], policy: str = "manual") -> list[dict]:
    ch = {s: {f: Change(s, v) for f, v in fields.items()} for s, fields in changes.items()}
    result = merge({}, ch, policy=policy, priority=["crm", "desk"])
    return field_rows("c1", {}, result, ch, {}, policy, 7, AT)


def first_seen(source: str, values: dict[str, str]) -> dict:
    return {
        "contact_id": "c1",
        "run_id": 7,
        "field": FIRST_SEEN,
        "old_value": None,
        "new_value": values,
        "source": source,
        "how": "first seen",
        "conflict_id": None,
        "at": AT,
    }


def test_first_values_are_one_row_per_set_of_sources() -> None:
    rows = rows_for(
        {
            "crm": {"email": "a@b.org", "title": "T", "city": "X"},
            "desk": {"email": "a@b.org", "title": "T", "mobile": "+1"},
        }
    )
    assert rows == [
        first_seen("crm", {"city": "X"}),
        first_seen("crm, desk", {"email": "a@b.org", "title": "T"}),
        first_seen("desk", {"mobile": "+1"}),
    ]


def test_a_conflict_a_policy_settled_keeps_its_own_row() -> None:
    rows = rows_for(
        {"crm": {"email": "a@b.org", "title": "T"}, "desk": {"email": "a@b.org", "title": "U"}},
        policy="priority",
    )
    assert rows == [
        first_seen("crm, desk", {"email": "a@b.org"}),
        {
            **first_seen("crm", {}),
            "field": "title",
            "new_value": "T",
            "how": "conflict with desk settled by policy priority",
        },
    ]


def test_a_manual_conflict_leaves_its_field_out() -> None:
    rows = rows_for(
        {"crm": {"email": "a@b.org", "title": "T"}, "desk": {"email": "a@b.org", "title": "U"}}
    )
    assert rows == [first_seen("crm, desk", {"email": "a@b.org"})]
