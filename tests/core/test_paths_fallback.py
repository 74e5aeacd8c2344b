"""Fallback selectors in paths: `tel[type~=cell].value`, `adr[type~=work|0].street`,
`email[pref|0].value`, and paths ending in a position (`org[1]`)."""

from __future__ import annotations

from typing import Any

import pytest

from sync.paths import PathError, get_path, parse_path, set_path


def card() -> dict[str, Any]:
    return {
        "email": [
            {"value": "home@example.org", "type": ["home"]},
            {"value": "w@x.org", "pref": True},
        ],
        "tel": [
            {"value": "+1 1", "type": ["work"]},
            {"value": "+1 2", "type": ["CELL", "voice"]},
        ],
        "adr": [
            {"type": ["home"], "street": "1 Home Rd"},
            {"type": "work", "street": "2 Office St"},
        ],
        "org": ["Acme"],
    }


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("tel[type~=cell].value", "+1 2"),  # contains, ignoring case
        ("tel[type~=work|type~=voice].value", "+1 1"),  # the first alternative that fits
        ("tel[type~=fax|type~=voice].value", "+1 2"),
        ("tel[type~=fax].value", None),
        ("adr[type~=work|0].street", "2 Office St"),  # a plain string counts as one type
        ("adr[type~=other|0].street", "1 Home Rd"),  # else the first
        ("email[pref|0].value", "w@x.org"),  # a bare key: the element where it is true
        ("org[0]", "Acme"),
        ("org[1]", None),
        ("nothing[type~=x|0].value", None),
    ],
)
def test_fallback_selectors_read(path: str, expected: Any) -> None:
    assert get_path(card(), parse_path(path)) == expected


def test_an_empty_list_falls_through_every_alternative() -> None:
    assert get_path({"adr": []}, parse_path("adr[type~=work|0].street")) is None


def test_writing_changes_the_element_the_selector_picks() -> None:
    data = card()
    set_path(data, parse_path("tel[type~=cell].value"), "+1 9")
    set_path(data, parse_path("adr[type~=work|0].city"), "Springfield")
    assert data["tel"][1] == {"value": "+1 9", "type": ["CELL", "voice"]}
    assert data["adr"][1]["city"] == "Springfield" and "city" not in data["adr"][0]
    assert len(data["tel"]) == 2 and len(data["adr"]) == 2


def test_writing_creates_a_missing_element_from_the_first_alternative() -> None:
    data: dict[str, Any] = {}
    set_path(data, parse_path("adr[type~=work|0].street"), "S")
    set_path(data, parse_path("adr[type~=work|0].city"), "C")  # the same element again
    set_path(data, parse_path("tel[type~=cell].value"), "+1")
    set_path(data, parse_path("email[pref|0].value"), "a@b.org")
    set_path(data, parse_path("kind[kind=x].value"), "v")
    assert data == {
        "adr": [{"type": ["work"], "street": "S", "city": "C"}],
        "tel": [{"type": ["cell"], "value": "+1"}],
        "email": [{"pref": True, "value": "a@b.org"}],
        "kind": [{"kind": "x", "value": "v"}],
    }


def test_a_path_may_end_in_a_position_in_a_list_of_values() -> None:
    data: dict[str, Any] = {}
    set_path(data, parse_path("org[1]"), "Research")
    assert data == {"org": ["", "Research"]}
    set_path(data, parse_path("org[0]"), "Acme")
    assert data == {"org": ["Acme", "Research"]}


@pytest.mark.parametrize("bad", ["tel[type~=].value", "tel[|0].value", "tel[a=1,b|0].value"])
def test_malformed_fallbacks_are_refused(bad: str) -> None:
    with pytest.raises(PathError):
        parse_path(bad)


def test_the_existing_key_value_selector_is_unchanged() -> None:
    path = parse_path("Metadata[Name=Email,Type=string].Value")
    assert not path[0].choices and path[0].match == (("Name", "Email"), ("Type", "string"))
    data: dict[str, Any] = {}
    set_path(data, path, "x")
    assert data == {"Metadata": [{"Name": "Email", "Type": "string", "Value": "x"}]}
