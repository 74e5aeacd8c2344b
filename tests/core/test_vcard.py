"""vCards read into records and changed line by line (sync/vcard), and the built-in mapping
mappings/vcard.toml over them. Pure: no server, no file."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sync.contact import Schema
from sync.mapping_file import load_mapping
from sync.resources import shipped
from sync.vcard import CardError, apply, new_card, parse, present

SCHEMA = Schema()
MAPPING = load_mapping(shipped("mappings/vcard.toml"))
PHOTO_4 = (
    "PHOTO:data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk\r\n"
    " +M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==\r\n"
)
# vCard 4.0 in the style of RFC 6350 section 8's example, with what contactsync must keep
V4 = (
    "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:urn:uuid:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1\r\n"
    "FN:Simon Perreault\r\nN:Perreault;Simon;;;ing. jr,M.Sc.\r\n"
    "BDAY:--0203\r\nGENDER:M\r\n"
    "EMAIL;TYPE=work;PREF=2:simon.perreault@viagenie.ca\r\n"
    "EMAIL;TYPE=home;PREF=1:simon@example.org\r\n"
    'TEL;VALUE=uri;TYPE="work,voice";PREF=1:tel:+1-418-656-9254;ext=102\r\n'
    'TEL;VALUE=uri;TYPE="work,cell,voice,video,text":tel:+1-418-262-6501\r\n'
    "ADR;TYPE=home:;;1 Home Lane;Lévis;QC;G6V 1A1;Canada\r\n"
    "ADR;TYPE=work:;Suite D2-630;2875 Laurier;Quebec;QC;G1V 2M2;Canada\r\n"
    "ORG:Viagenie;R&D;Lab\r\nTITLE:Researcher\r\n"
    + PHOTO_4
    + "NOTE:Two lines\\nand a comma\\, kept\r\nitem1.X-ABLABEL:Assistant\r\n"
    "CATEGORIES:work,friends\r\nEND:VCARD\r\n"
)
V3 = (
    "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:v3\r\nFN:Grace Hopper\r\nN:Hopper;Grace;;;\r\n"
    "EMAIL;TYPE=INTERNET:first@example.org\r\nEMAIL;TYPE=INTERNET,PREF:pref@example.org\r\n"
    "TEL;TYPE=CELL:+1 202 555 0100\r\nTEL;TYPE=WORK,VOICE:+1 202 555 0111\r\n"
    "ORG:US Navy\r\nEND:VCARD\r\n"
)


def test_a_4_0_card_reads_as_a_record() -> None:
    r = present(parse(V4))
    assert r["version"] == "4.0" and r["fn"] == "Simon Perreault"
    assert r["n"]["family"] == "Perreault" and r["n"]["suffix"] == "ing. jr,M.Sc."
    assert [e["value"] for e in r["email"] if e.get("pref")] == ["simon@example.org"]
    assert r["tel"][0] == {"value": "+1-418-656-9254;ext=102", "type": ["work", "voice"],
                           "pref": True}  # fmt: skip
    assert r["adr"][1]["street"] == "2875 Laurier" and r["adr"][0]["city"] == "Lévis"
    assert r["org"] == {"name": "Viagenie", "unit": "R&D"}
    assert r["note"] == "Two lines\nand a comma, kept"
    assert r["categories"] == ["work", "friends"]


def test_the_built_in_mapping_reads_a_4_0_card() -> None:
    canon = MAPPING.from_system(present(parse(V4)), SCHEMA)
    assert canon == {
        "first_name": "Simon",
        "last_name": "Perreault",
        "email": "simon@example.org",  # the preferred one (PREF=1), not the first
        "phone": "+14186569254",  # TYPE holds work (or voice)
        "mobile": "+14182626501",  # TYPE holds cell
        "company": "Viagenie",
        "department": "R&D",
        "title": "Researcher",
        "street": "2875 Laurier",  # the work address, not the first
        "city": "Quebec",
        "region": "QC",
        "postal_code": "G1V 2M2",
        "country": "CANADA",
    }


def test_the_built_in_mapping_reads_a_3_0_card() -> None:
    canon = MAPPING.from_system(present(parse(V3)), SCHEMA)
    assert canon["email"] == "pref@example.org"  # TYPE=PREF in 3.0
    assert canon["mobile"] == "+12025550100" and canon["phone"] == "+12025550111"
    assert canon["company"] == "US Navy" and "department" not in canon


def test_a_card_without_n_takes_its_name_from_fn() -> None:
    card = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ada King Lovelace\r\nEND:VCARD\r\n"
    canon = MAPPING.from_system(present(parse(card)), SCHEMA)
    assert canon == {"first_name": "Ada King", "last_name": "Lovelace"}


def edit(text: str, **canon: Any) -> str:
    """`text` after contactsync writes these canonical fields into it."""
    card = parse(text)
    record = present(card)
    payload = MAPPING.to_system(canon, list(canon))
    from sync.connectors.cards import overlay, written_paths

    return apply(card, overlay(record, written_paths(MAPPING, payload)))


def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    a, b = before.split("\r\n"), after.split("\r\n")
    return [x for x in a if x not in b], [x for x in b if x not in a]


def test_an_edit_rewrites_only_the_lines_of_changed_mapped_properties() -> None:
    after = edit(V4, mobile="+14185550000", city="Montreal", title="Director")
    gone, added = changed_lines(V4, after)
    assert gone == [
        'TEL;VALUE=uri;TYPE="work,cell,voice,video,text":tel:+1-418-262-6501',
        "ADR;TYPE=work:;Suite D2-630;2875 Laurier;Quebec;QC;G1V 2M2;Canada",
        "TITLE:Researcher",
    ]
    assert added == [
        'TEL;VALUE=uri;TYPE="work,cell,voice,video,text":tel:+14185550000',  # params kept
        "ADR;TYPE=work:;Suite D2-630;2875 Laurier;Montreal;QC;G1V 2M2;Canada",
        "TITLE:Director",
    ]
    assert PHOTO_4 in after  # the 4.0 data: URI that vobject would cut at its comma
    assert after.startswith("BEGIN:VCARD\r\nVERSION:4.0\r\n")


def test_an_edit_with_nothing_changed_is_the_card_itself() -> None:
    assert edit(V4, title="Researcher", email="simon@example.org") == V4


def test_fn_follows_n() -> None:
    after = edit(V3, last_name="Murray")
    assert "N:Murray;Grace;;;\r\n" in after and "FN:Grace Murray\r\n" in after


def test_a_cleared_value_removes_its_line_and_a_new_one_adds_a_typed_line() -> None:
    after = edit(V3, mobile=None, department="Computing", street="1 Navy Yard")
    assert "CELL" not in after and "TEL;TYPE=WORK,VOICE:+1 202 555 0111" in after
    assert "ORG:US Navy;Computing\r\n" in after
    assert "ADR;TYPE=WORK:;;1 Navy Yard;;;;\r\n" in after  # 3.0 types in capitals
    assert after.count("EMAIL") == 2


def test_a_new_card_holds_the_mapped_fields_and_reads_back_equal() -> None:
    person = {"email": "ada@example.org", "first_name": "Ada", "last_name": "Lovelace",
              "mobile": "+14155550100", "company": "Acme", "city": "London"}  # fmt: skip
    for version in ("3.0", "4.0"):
        text = new_card(MAPPING.to_system(person, create=True), "u-1", version)
        record = present(parse(text))
        assert record["uid"] == "u-1" and record["version"] == version
        assert record["fn"] == "Ada Lovelace"
        assert MAPPING.from_system(record, SCHEMA) == person


def test_folded_and_grouped_lines_are_kept_as_they_were() -> None:
    card = (
        "BEGIN:VCARD\n"
        "VERSION:3.0\nFN:A B\nN:B;A;;;\n"
        "NOTE:a long note that was folded\n  by another client\n"
        "item2.EMAIL;TYPE=INTERNET:a@example.org\nitem2.X-ABLabel:Office\n"
        "END:VCARD"
    )
    after = edit(card, email="new@example.org")
    assert "item2.EMAIL;TYPE=INTERNET:new@example.org\n" in after  # its group kept
    assert "NOTE:a long note that was folded\n  by another client\n" in after
    assert after.endswith("END:VCARD")  # no line end was added where there was none


def test_a_record_is_not_changed_by_editing_its_card() -> None:
    card = parse(V3)
    record = present(card)
    before = copy.deepcopy(record)
    edit(V3, title="x")
    assert present(card) == before


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("VERSION:3.0\r\nFN:x\r\nEND:VCARD\r\n", "does not begin with BEGIN:VCARD"),
        ("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:x\r\n", "END:VCARD is missing"),
        ("BEGIN:VCARD\r\nFN:x\r\nEND:VCARD\r\n", "VERSION is missing"),
        ("BEGIN:VCARD\r\nVERSION:3.0\r\nno colon here\r\nEND:VCARD\r\n", "line 3 cannot be read"),
        ("BEGIN:VCARD\r\nVERSION:3.0\r\nEND:VCARD\r\nBEGIN:VCARD\r\nEND:VCARD\r\n", "than one"),
    ],
)
def test_a_malformed_card_is_refused_with_its_reason(text: str, reason: str) -> None:
    with pytest.raises(CardError, match=reason):
        parse(text)
