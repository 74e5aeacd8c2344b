"""The pure core: normalisation, mapping both ways, diff, merge under each policy, plan."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sync.contact import Schema
from sync.diff import changed_fields, record_hash
from sync.errors import ConfigError, RecordError
from sync.mapping_file import compile_mapping
from sync.merge import Change, OpenConflict, merge
from sync.plan import LinkState, Target, plan_contact

schema = Schema(phone_region="US")


def test_normalise_email_phone_country_bool_and_empties() -> None:
    out = schema.normalise(
        {
            "email": "  Ada@Example.ORG ",
            "phone": "(202) 555-0100",
            "country": "us",
            "active": "0",
            "city": "  ",
            "title": None,
        }
    )
    assert out == {
        "email": "ada@example.org",
        "phone": "+12025550100",
        "country": "US",
        "active": False,
    }


def test_bad_email_fails_the_record_naming_the_field() -> None:
    with pytest.raises(RecordError, match="field email"):
        schema.normalise({"email": "not an email"})


def test_unparseable_phone_is_kept_as_text() -> None:
    assert schema.normalise({"phone": "ext. 12"})["phone"] == "ext. 12"


MAPPING = {
    "id": "ContactId",
    "updated": "UpdatedDate",
    "custom": {"vip": "bool"},
    "filter": {"require": ["phone"]},
    "create": {"Source": 7},
    "fields": {
        "email": {"path": "Emails[0].Value", "from_system": ["trim", "lower"]},
        "first_name": {"path": "name", "from_system": [{"split_name": "first"}]},
        "last_name": {"path": "name", "from_system": [{"split_name": "last"}]},
        "phone": {"path": "Metadata[Name=Phone,Type=string].Value"},
        "country": {"path": "address.country.lookupName", "lookup": {"GB": "United Kingdom"}},
        "vip": {"path": "vip", "to_system": [{"bool": ["1", "0"]}]},
        "title": {"path": "role", "to_system": [{"max_length": 5}]},
        "company": {"path": "company", "direction": "from_system"},
    },
}


def test_mapping_both_ways() -> None:
    m = compile_mapping(MAPPING, "m.toml")
    canon = Schema({"vip": "bool"})
    record = {
        "email": "ada@example.org",
        "first_name": "Ada King",
        "last_name": "Lovelace",
        "phone": "+442079460000",
        "country": "GB",
        "vip": True,
        "company": "X",
    }
    payload = m.to_system(record, create=True)
    assert payload == {
        "Emails": [{"Value": "ada@example.org"}],
        "name": "Ada King Lovelace",
        "Metadata": [{"Name": "Phone", "Type": "string", "Value": "+442079460000"}],
        "address": {"country": {"lookupName": "United Kingdom"}},
        "vip": "1",
        "Source": 7,
    }
    back = m.from_system({**payload, "company": "Y"}, canon)
    assert back == {**record, "company": "Y"}
    assert m.passes_filter(record) and not m.passes_filter({"email": "x@y.org"})


def test_mapping_limits_fail_the_record_before_sending() -> None:
    m = compile_mapping(MAPPING, "m.toml")
    with pytest.raises(RecordError, match="title"):
        m.to_system({"title": "Chief Executive"})


def test_mapping_errors_name_file_and_key_all_at_once() -> None:
    bad = {
        "fields": {
            "emial": {"path": "x"},
            "email": {"path": "e", "to_system": ["lowr"], "bogus": 1},
        }
    }
    with pytest.raises(ConfigError) as exc:
        compile_mapping(bad, "mappings/bad.toml")
    text = str(exc.value)
    assert "mappings/bad.toml: fields.email.bogus: unknown key (valid: path, direction" in text


def test_mapping_semantic_errors_listed_together() -> None:
    bad = {"fields": {"emial": {"path": "x"}, "email": {"path": "e", "to_system": ["lowr"]}}}
    with pytest.raises(ConfigError) as exc:
        compile_mapping(bad, "mappings/bad.toml")
    assert len(exc.value.problems) == 2
    assert "fields.emial: unknown canonical field" in str(exc.value)
    assert "fields.email.to_system[0]: unknown transform 'lowr'" in str(exc.value)


def test_diff_reports_changed_added_and_removed_fields() -> None:
    assert changed_fields({"a": 1, "b": 2}, {"a": 3, "c": 4}, {"a", "b", "c"}) == {
        "a": 3,
        "b": None,
        "c": 4,
    }
    assert changed_fields({"a": 1}, {"a": 1, "z": 9}, {"a"}) == {}
    assert record_hash({"a": 1, "b": 2}) == record_hash({"b": 2, "a": 1})


def t(day: int) -> datetime:
    return datetime(2024, 1, day, tzinfo=UTC)


def test_merge_one_side_and_alike_changes_are_taken() -> None:
    base = {"title": "A", "city": "X"}
    out = merge(base, {"crm": {"title": Change("crm", "B")}, "desk": {"city": Change("desk", "Y")}})
    assert out.values == {"title": "B", "city": "Y"} and not out.conflicts
    alike = merge(
        base, {"crm": {"title": Change("crm", "B")}, "desk": {"title": Change("desk", "B")}}
    )
    assert alike.values["title"] == "B" and not alike.conflicts


@pytest.mark.parametrize(
    ("policy", "winner"), [("manual", None), ("newest", "desk"), ("priority", "crm")]
)
def test_merge_conflict_under_each_policy(policy: str, winner: str | None) -> None:
    changes = {
        "crm": {"title": Change("crm", "B", t(1))},
        "desk": {"title": Change("desk", "C", t(2))},
    }
    out = merge({"title": "A"}, changes, policy=policy, priority=["crm"])
    [conflict] = out.conflicts
    assert conflict.winner == winner
    expected = {"manual": "A", "newest": "C", "priority": "B"}[policy]
    assert out.values["title"] == expected
    assert out.held == ({"title"} if policy == "manual" else set())


def test_merge_open_conflict_closes_when_systems_agree() -> None:
    old = OpenConflict(1, "title", {"crm": "B", "desk": "C"})
    out = merge({"title": "A"}, {"desk": {"title": Change("desk", "B")}}, existing={"title": old})
    assert out.settled == {1: "agreed"} and out.values["title"] == "B"


def test_merge_resolution_becomes_the_value() -> None:
    old = OpenConflict(1, "title", {"crm": "B", "desk": "C"}, resolution="C", resolved=True)
    out = merge({"title": "A"}, {}, existing={"title": old})
    assert out.values["title"] == "C" and out.settled == {1: "applied"}


def test_plan_create_update_delete_and_nothing() -> None:
    m = compile_mapping(
        {
            "filter": {"require": ["phone"]},
            "fields": {
                "email": {"path": "email"},
                "phone": {"path": "tel"},
                "title": {"path": "role"},
            },
        },
        "m.toml",
    )
    target = {"t": Target("t", m, True, True, True)}
    values = {"email": "a@b.org", "phone": "+12025550100", "title": "X"}
    acts, _ = plan_contact("c1", values, held=set(), links={}, targets=target, schema=schema)
    assert [a.kind for a in acts] == ["create"]
    assert acts[0].payload == {"email": "a@b.org", "tel": "+12025550100", "role": "X"}
    acts, _ = plan_contact(
        "c1", {"email": "a@b.org"}, held=set(), links={}, targets=target, schema=schema
    )
    assert acts == []  # filtered out: no phone
    link = {"t": LinkState("9", {**values, "title": "Y"})}
    acts, _ = plan_contact("c1", values, held=set(), links=link, targets=target, schema=schema)
    assert [(a.kind, a.payload) for a in acts] == [("update", {"role": "X"})]
    acts, _ = plan_contact("c1", values, held={"title"}, links=link, targets=target, schema=schema)
    assert acts == []
    acts, _ = plan_contact(
        "c1", values, held=set(), links=link, targets=target, schema=schema, deleted=True
    )
    assert [(a.kind, a.vendor_id) for a in acts] == [("delete", "9")]
