"""Lightening: the contract, the document's samples, the emulator's strictness, the quirks."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sync.connectors import connector_class
from sync.connectors.base import Connector
from sync.contact import Schema
from sync.errors import ConfigError, NotFound, RecordError, Rejected, TransientError
from sync.sandbox.base import Faults
from sync.sandbox.lightening import LighteningEmulator
from tests.connectors.contract import ConnectorContract
from tests.helpers import system_settings

LighteningConnector: Any = connector_class("lightening")
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "lightening"
BASE = "http://lightening.test/api"
SAMPLE_LIST = json.loads((FIXTURES / "list_response.json").read_text())
RESPONSES = json.loads((FIXTURES / "responses.json").read_text())
SCHEMA = Schema()


class TestLighteningContract(ConnectorContract):
    name = "lightening"
    emulator_cls = LighteningEmulator

    def person(self) -> dict[str, Any]:
        return {
            "email": "ada@example.org",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "phone": "+14155550100",
            "department": "Research",
            "title": "Analyst",
            "locale": "en_GB",
            "active": True,
        }


CONTRACT = TestLighteningContract()


@pytest.fixture
async def pair() -> AsyncIterator[tuple[Connector, LighteningEmulator]]:
    emu = LighteningEmulator()
    conn = CONTRACT.connect(emu)
    yield conn, emu
    await conn.aclose()


def mocked(handler: Any) -> Connector:
    """A connector whose requests are answered by `handler` (document sample responses)."""
    return LighteningConnector.build(CONTRACT.settings(), transport=httpx.MockTransport(handler))


def answering(body: Any, seen: list[httpx.Request] | None = None) -> Connector:
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(200, json=body)

    return mocked(handler)


def raw_client(emu: LighteningEmulator, token: str | None = "default") -> httpx.AsyncClient:
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {emu.token if token == 'default' else token}"
    return httpx.AsyncClient(transport=emu.transport(), base_url=BASE, headers=headers)


def sample_entity(**changes: Any) -> dict[str, Any]:
    return {**SAMPLE_LIST["entities"][0], **changes}


# --- the document's samples ---


async def test_sample_list_response_parses_into_records() -> None:
    seen: list[httpx.Request] = []
    conn = answering(SAMPLE_LIST, seen)
    listing = await conn.list_all()
    await conn.aclose()
    assert listing.complete and not listing.problems
    assert [r.id for r in listing.records] == ["Internal Id"]
    assert seen[0].method == "GET" and seen[0].url.path == "/api/contact"
    assert seen[0].url.params.get_list("customer_id[]") == ["1", "2"]
    mapping = conn.settings.mapping
    # the sample's email is a placeholder, not an address: that record fails, by name
    with pytest.raises(RecordError, match="email"):
        mapping.from_system(listing.records[0].data, SCHEMA)
    canon = mapping.from_system(sample_entity(email="Contact@Example.org"), SCHEMA)
    assert canon == {
        "first_name": "Contact",
        "last_name": "Name",
        "email": "contact@example.org",
        "phone": "123456789",
        "department": "Department name",
        "title": "User Role",
        "locale": "en_US",
        "active": True,
    }


async def test_create_body_for_the_sample_person_matches_the_sample() -> None:
    emu = LighteningEmulator()
    conn = CONTRACT.connect(emu)
    mapping = conn.settings.mapping
    entity = sample_entity(email="contact@example.org")
    person = mapping.from_system(entity, SCHEMA)
    written = await conn.create(mapping.to_system(person, create=True), email=person["email"])
    await conn.aclose()
    (post,) = [r for r in emu.log if r.method == "POST"]
    assert post.path == "/api/contact"
    assert post.headers["authorization"] == "Bearer " + emu.token
    body = post.json()
    carried = {fm.path_text for fm in mapping.fields.values()}
    assert carried == {
        "name",
        "email",
        "tel",
        "mobile",
        "department",
        "role",
        "locale",
        "is_active",
    }
    for key in carried:
        assert body.get(key, "") == entity[key], key
    assert body["customer_id"] == 1 and "create_method" not in body
    assert all(isinstance(v, str) for k, v in body.items() if k != "customer_id")
    # the record read back after the write is the stored one, in the listing's shape
    assert written.record is not None and written.record["name"] == "Contact Name"
    assert set(written.record) == set(entity)


async def test_documented_create_and_update_answers() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path == "/api/contact":
            return httpx.Response(200, json=RESPONSES["create_success"])
        if request.method == "POST":
            return httpx.Response(200, json=RESPONSES["update_success"])
        return httpx.Response(200, json={"entity": sample_entity(id="1"), "result": True})

    conn = mocked(handler)
    written = await conn.create({"name": "Ada Lovelace"})
    assert written.vendor_id == "1" and written.record and written.record["id"] == "1"
    assert await conn.update("1", {"role": "Boss"}, {"name": "Ada Lovelace"}) is not None
    await conn.aclose()


@pytest.mark.parametrize(
    ("sample", "reason"),
    [
        ("empty_request", "Nothing sent for request."),
        ("field_errors", "name: Field is required.; email: validation error"),
    ],
)
async def test_documented_failures_are_rejected_with_the_vendors_reason(
    sample: str, reason: str
) -> None:
    conn = answering(RESPONSES[sample])
    with pytest.raises(Rejected) as create_failed:
        await conn.create({"name": "Ada Lovelace"})
    with pytest.raises(Rejected) as update_failed:
        await conn.update("1", {"role": "x"}, {"name": "Ada Lovelace"})
    await conn.aclose()
    assert str(create_failed.value) == str(update_failed.value) == reason


@pytest.mark.parametrize("sample", ["delete_success", "delete_not_found"])
async def test_documented_delete_answers_both_mean_deleted(sample: str) -> None:
    seen: list[httpx.Request] = []
    conn = answering(RESPONSES[sample], seen)
    await conn.delete("7")
    await conn.aclose()
    assert seen[0].method == "GET" and seen[0].url.path == "/api/contact/7/delete"


async def test_delete_with_another_failure_is_rejected() -> None:
    conn = answering({"error": "Permission denied.", "result": False})
    with pytest.raises(Rejected, match="Permission denied"):
        await conn.delete("7")
    await conn.aclose()


# --- the emulator is as strict as the document ---


async def test_emulator_refuses_wrong_verbs() -> None:
    emu = LighteningEmulator()
    vendor_id = emu.seed_person({"first_name": "Ada", "last_name": "Lovelace"})
    async with raw_client(emu) as http:
        assert (await http.put(f"contact/{vendor_id}", json={"name": "X"})).status_code == 405
        assert (await http.delete(f"contact/{vendor_id}")).status_code == 405
        assert (await http.post(f"contact/{vendor_id}/delete")).status_code == 405
        assert (await http.delete("contact")).status_code == 405
    assert vendor_id in emu.store


async def test_emulator_refuses_missing_or_bad_authorization() -> None:
    emu = LighteningEmulator()
    for token in (None, "wrong"):
        async with raw_client(emu, token) as http:
            answer = await http.get("contact", params={"customer_id[]": 1})
            assert answer.status_code == 401 and answer.json()["result"] is False
            answer = await http.post("contact", json={"name": "Ada", "customer_id": 1})
            assert answer.status_code == 401
    assert emu.store == {}


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"nickname": "Ada"}, "nickname", "Unknown field."),
        ({"create_method": "api"}, "create_method", "Not allowed."),
        ({"name": "x" * 65}, "name", "May not be greater than 64 characters."),
        ({"email": "a" * 180 + "@example.org"}, "email", "May not be greater than 191"),
        ({"tel": "1" * 33}, "tel", "May not be greater than 32 characters."),
        ({"role": "r" * 33}, "role", "May not be greater than 32 characters."),
        ({"department": "d" * 65}, "department", "May not be greater than 64"),
        ({"customer_custom_identifier": "c" * 17}, "customer_custom_identifier", "16"),
        ({"email": "not-an-address"}, "email", "valid email"),
        ({"is_active": "yes"}, "is_active", "1 or 0"),
        ({"is_active": True}, "is_active", "1 or 0"),
        ({"locale": "english"}, "locale", "valid locale"),
        ({"portal_password": "short"}, "portal_password", "between 8 and 32"),
        ({"customer_portal_profile_id": -1}, "customer_portal_profile_id", "unsigned"),
        ({"tel": 123456}, "tel", "string"),
    ],
)
async def test_emulator_refuses_what_the_document_forbids(
    body: dict[str, Any], field: str, message: str
) -> None:
    emu = LighteningEmulator()
    vendor_id = emu.seed_person({"first_name": "Ada", "last_name": "Lovelace"})
    before = dict(emu.store[vendor_id])
    async with raw_client(emu) as http:
        for path, full in [
            ("contact", {"name": "Ada Lovelace", "customer_id": 1, **body}),
            (f"contact/{vendor_id}", {"name": "Ada Lovelace", **body}),
        ]:
            answer = await http.post(path, json=full)
            assert answer.status_code == 200
            assert answer.json()["result"] is False
            assert message in answer.json()["errors"][field]
    assert list(emu.store) == [vendor_id] and emu.store[vendor_id] == before


async def test_emulator_requires_name_on_create_and_update() -> None:
    emu = LighteningEmulator()
    vendor_id = emu.seed_person({"first_name": "Ada", "last_name": "Lovelace"})
    async with raw_client(emu) as http:
        for path in ("contact", f"contact/{vendor_id}"):
            answer = (await http.post(path, json={"role": "Boss", "customer_id": 1})).json()
            assert answer == {"errors": {"name": "Field is required."}, "result": False}


async def test_emulator_answers_nothing_sent_for_an_empty_body() -> None:
    emu = LighteningEmulator()
    async with raw_client(emu) as http:
        for content in (b"", b"{}"):
            answer = await http.post("contact", content=content)
            assert answer.json() == RESPONSES["empty_request"]


async def test_emulator_list_requires_customer_ids_and_filters_by_them() -> None:
    emu = LighteningEmulator()
    first = emu.seed_person({"first_name": "Ada", "last_name": "Lovelace"})
    async with raw_client(emu) as http:
        answer = (await http.get("contact")).json()
        assert answer == {"errors": {"customer_id": "Field is required."}, "result": False}
        other = (await http.post("contact", json={"name": "Bo", "customer_id": 2})).json()
        only_two = (await http.get("contact", params={"customer_id[]": 2})).json()
        both = await http.get("contact", params=[("customer_id[]", 1), ("customer_id[]", 2)])
    assert [e["id"] for e in only_two["entities"]] == [other["id"]]
    assert {e["id"] for e in both.json()["entities"]} == {first, other["id"]}
    assert set(both.json()["entities"][0]) == set(SAMPLE_LIST["entities"][0])


# --- quirks ---


async def test_successful_delete_answers_result_false_and_is_success(pair: Any) -> None:
    conn, emu = pair
    vendor_id = emu.seed_person({"first_name": "Ada", "last_name": "Lovelace"})
    await conn.delete(vendor_id)
    assert vendor_id not in emu.store
    (call,) = [r for r in emu.log if r.path.endswith("/delete")]
    assert call.method == "GET" and call.status == 200
    await conn.delete(vendor_id)  # "Entity not found." is success too


async def test_errors_object_is_the_rejection_reason(pair: Any) -> None:
    conn, emu = pair
    with pytest.raises(Rejected) as failed:
        await conn.create({"name": "Ada Lovelace", "email": "nope", "is_active": "yes"})
    reasons = set(str(failed.value).split("; "))
    assert reasons == {
        "email: Must be a valid email address.",
        "is_active: Must be a boolean (1 or 0).",
    }
    assert emu.store == {}


async def test_limits_fail_the_record_before_anything_is_sent(pair: Any) -> None:
    conn, emu = pair
    mapping = conn.settings.mapping
    person = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.org"}
    with pytest.raises(RecordError, match=r"phone \(tel\).*limit is 32"):
        mapping.to_system({**person, "phone": "ext. 1234 5678 9012 3456 7890 1234 5"}, create=True)
    with pytest.raises(RecordError, match=r"email.*limit is 191"):
        mapping.to_system({**person, "email": "a" * 64 + "@" + "b" * 130 + ".org"}, create=True)
    # the 64-character name limit applies to the joined name, the locale has a form, and a
    # name is required: the mapping says so ([joined.name], pattern), no code
    long_name = {**person, "first_name": "Maximiliana Alexandrina Theodora", "last_name": "x" * 35}
    with pytest.raises(RecordError, match=r"first_name \+ last_name \(name\).*68 characters"):
        mapping.to_system(long_name, create=True)
    with pytest.raises(RecordError, match=r"locale.*'en-US' does not have the form"):
        mapping.to_system({**person, "locale": "en-US"}, create=True)
    with pytest.raises(RecordError, match=r"\(name\) is required"):
        mapping.to_system({"email": "ada@example.org"}, create=True)
    # and a payload without a name is refused by the vendor file before sending
    with pytest.raises(RecordError, match="name is required by Lightening"):
        await conn.create({"email": "ada@example.org"})
    assert emu.log == []


async def test_harmless_overflows_are_truncated_and_accepted(pair: Any) -> None:
    conn, emu = pair
    mapping = conn.settings.mapping
    person = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "department": "D" * 80,
        "title": "T" * 40,
    }
    written = await conn.create(mapping.to_system(person, create=True))
    stored = emu.store[written.vendor_id]
    assert stored["department"] == "D" * 64 and stored["role"] == "T" * 32
    # what we hold as written is what comes back: no echo on the next run
    assert mapping.from_system(stored, SCHEMA) == mapping.roundtrip(person, SCHEMA)


async def test_update_carries_the_required_name_from_full(pair: Any) -> None:
    conn, emu = pair
    vendor_id = emu.seed_person({"first_name": "Ada", "last_name": "Lovelace", "phone": "+1 415"})
    record = await conn.update(vendor_id, {"role": "Boss", "tel": None}, {"name": "Ada Lovelace"})
    (post,) = [r for r in emu.log if r.method == "POST"]
    assert post.path == f"/api/contact/{vendor_id}"
    assert post.json() == {"role": "Boss", "tel": "", "name": "Ada Lovelace"}
    assert record is not None and record["role"] == "Boss" and record["tel"] == ""


async def test_update_of_a_missing_contact_is_not_found(pair: Any) -> None:
    conn, _emu = pair
    with pytest.raises(NotFound):
        await conn.update("999", {"role": "Boss"}, {"name": "Ada Lovelace"})


async def test_create_method_is_never_sent(pair: Any) -> None:
    conn, emu = pair
    await conn.create({"name": "Ada Lovelace", "create_method": "api"})
    (post,) = [r for r in emu.log if r.method == "POST"]
    assert "create_method" not in post.json()


async def test_find_by_email_lists_and_matches(pair: Any) -> None:
    conn, emu = pair
    vendor_id = emu.seed_person({"first_name": "Ada", "email": "Ada@Example.org"})
    emu.seed_person({"first_name": "Bo", "email": "bo@example.org"})
    found = await conn.find_by_email("ada@example.org")
    assert found is not None and found.id == vendor_id
    assert all(r.method == "GET" and r.path == "/api/contact" for r in emu.log)


async def test_a_cut_list_is_incomplete_and_lookups_fail_loudly(pair: Any) -> None:
    conn, emu = pair
    emu.seed_person({"first_name": "Ada", "email": "ada@example.org"})
    emu.faults = Faults(rate=1.0, kinds=("truncate",))
    listing = await conn.list_all()
    assert not listing.complete and listing.records == []
    assert "malformed" in listing.problems[0]
    with pytest.raises(TransientError):
        await conn.find_by_email("ada@example.org")


async def test_a_refused_list_is_incomplete() -> None:
    conn = answering({"errors": {"customer_id": "Field is required."}, "result": False})
    listing = await conn.list_all()
    await conn.aclose()
    assert not listing.complete and "customer_id: Field is required." in listing.problems[0]


def test_options_are_checked() -> None:
    table = CONTRACT.table()
    with pytest.raises(ConfigError, match="customer_ids"):
        system_settings("l", {**table, "customer_ids": []}, CONTRACT.env())
    with pytest.raises(ConfigError, match="customer_id 3 is not one of customer_ids"):
        system_settings("l", {**table, "customer_id": 3}, CONTRACT.env())
    with pytest.raises(
        ConfigError, match="'none' will not do: Lightening needs an Authorization header"
    ):
        system_settings("l", {**table, "auth": {"kind": "none"}}, CONTRACT.env())


async def test_creates_go_to_the_configured_customer() -> None:
    emu = LighteningEmulator()
    conn = CONTRACT.connect(emu, CONTRACT.settings(customer_id=2))
    written = await conn.create({"name": "Ada Lovelace"})
    await conn.aclose()
    assert emu.store[written.vendor_id]["customer_id"] == 2


def test_emulator_people_and_edits_use_canonical_names() -> None:
    emu = LighteningEmulator()
    vendor_id = emu.seed_person(
        {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": "ada@example.org",
            "title": "Analyst",
            "active": False,
        }
    )
    before = emu.store[vendor_id]["updated_at"]
    emu.edit(vendor_id, last_name="Byron", title="Countess")
    assert emu.store[vendor_id]["updated_at"] > before
    assert emu.people() == [
        {
            "id": vendor_id,
            "first_name": "Ada",
            "last_name": "Byron",
            "email": "ada@example.org",
            "title": "Countess",
            "locale": "en_US",
            "active": False,
        }
    ]
    emu.remove(vendor_id)
    assert emu.people() == []
