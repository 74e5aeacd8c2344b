"""What the mapping language says for the vendor documents (issue 12.3): selectors on nested
keys, a pattern check, checks on a value after its parts are joined, `also` when cleared."""

from __future__ import annotations

from typing import Any

import pytest

from sync.contact import Schema
from sync.errors import ConfigError, RecordError
from sync.mapping_file import compile_mapping
from sync.paths import find_all, get_path, parse_path, parse_query, set_path

SCHEMA = Schema()


def mapping(fields: dict[str, Any], **extra: Any) -> Any:
    return compile_mapping({"fields": fields, **extra}, "test.toml")


def test_a_selector_looks_into_nested_keys_and_writes_their_types() -> None:
    record = {
        "phones": [
            {"phoneType": {"id": 0, "lookupName": "Office Phone"}, "number": "+1 303 555 0100"},
            {"phoneType": {"id": 1, "lookupName": "Mobile Phone"}, "number": "+1 303 555 0199"},
        ]
    }
    assert get_path(record, parse_path("phones[phoneType.id=1].number")) == "+1 303 555 0199"
    assert get_path(record, parse_path("phones[phoneType.id=0].number")) == "+1 303 555 0100"
    out: dict[str, Any] = {}
    set_path(out, parse_path("phones[phoneType.id=1].number"), "+1")
    set_path(out, parse_path("phones[phoneType.id=0].number"), "+2")
    # a new element carries its selector, the number written as a number
    assert out == {
        "phones": [
            {"phoneType": {"id": 1}, "number": "+1"},
            {"phoneType": {"id": 0}, "number": "+2"},
        ]
    }
    quoted: dict[str, Any] = {}
    set_path(quoted, parse_path("Metadata[Name=URL,Type='231'].Value"), "x")
    assert quoted == {"Metadata": [{"Name": "URL", "Type": "231", "Value": "x"}]}


def test_oracle_carries_the_office_phone_and_the_mobile() -> None:
    from sync.mapping_file import load_mapping
    from sync.resources import shipped

    oracle = load_mapping(shipped("mappings/oracle_b2b.toml"))
    person = {"email": "a@example.org", "phone": "+13035550100", "mobile": "+13035550199"}
    payload = oracle.to_system(person, create=True)
    assert oracle.from_system(payload, SCHEMA) == {**person, "active": True}


def test_queries_reach_every_value_and_quoted_keys() -> None:
    answer = {"items": [{"rows": [["7"], ["8"]]}, {"rows": [["9"]]}], "a.b": {"c": 1}}
    assert find_all(answer, parse_query("items[*].rows[*][0]")) == ["7", "8", "9"]
    assert find_all(answer, parse_query("'a.b'.c")) == [1]
    assert find_all(answer, parse_query("items[*].nothing")) == []


def test_a_pattern_refuses_another_form() -> None:
    m = mapping({"locale": {"path": "locale", "to_system": [{"pattern": "^[a-z]{2}_[A-Z]{2}$"}]}})
    assert m.to_system({"locale": "en_GB"}) == {"locale": "en_GB"}
    with pytest.raises(RecordError, match=r"locale \(locale\): 'en-GB' does not have the form"):
        m.to_system({"locale": "en-GB"})
    with pytest.raises(ConfigError, match=r"fields\.locale\.to_system\[0\].*pattern"):
        mapping({"locale": {"path": "locale", "to_system": [{"pattern": "(unclosed"}]}})


NAME = {
    "first_name": {"path": "name", "from_system": [{"split_name": "first"}]},
    "last_name": {"path": "name", "from_system": [{"split_name": "last"}]},
}


def test_max_length_applies_to_the_joined_value() -> None:
    m = mapping(NAME, joined={"name": {"to_system": [{"max_length": 10}], "required": True}})
    assert m.to_system({"first_name": "Ada", "last_name": "Byron"}) == {"name": "Ada Byron"}
    with pytest.raises(RecordError, match=r"first_name \+ last_name \(name\).*12 characters"):
        m.to_system({"first_name": "Ada", "last_name": "Lovelace"})  # each part is short
    with pytest.raises(RecordError, match="is required"):
        m.to_system({"email": "a@example.org"}, create=True)
    assert m.to_system({}, ["first_name"]) == {"name": None}  # an update may clear it


def test_joined_names_a_path_several_fields_share() -> None:
    with pytest.raises(ConfigError, match=r"joined\.title: fewer than two fields write this path"):
        mapping({"title": {"path": "title"}}, joined={"title": {"required": True}})


def test_also_is_written_when_a_value_is_cleared() -> None:
    m = mapping({"email": {"path": "emails.address", "also": {"emails.addressType.id": 0}}})
    assert m.to_system({"email": None}) == {"emails": {"address": None, "addressType": {"id": 0}}}
    assert m.to_system({"email": None}, create=True) == {}  # nothing to clear in a create
