"""Oracle B2B Service: the contract, the vendor document's samples, emulator strictness and
the quirks (ROQL escaping, PATCH via POST, the context header, keyset paging, incidents)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from sync.connectors import connector_class, envelope
from sync.connectors.base import Connector
from sync.connectors.template import render
from sync.contact import Schema
from sync.errors import ConfigError, Rejected
from sync.sandbox.base import Emulator, Faults, LoggedRequest
from sync.sandbox.oracle_b2b import PREFIX, OracleB2BEmulator
from tests.connectors.contract import ConnectorContract
from tests.helpers import SEEDS, system_settings

OracleB2BConnector: Any = connector_class("oracle_b2b")
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "oracle_b2b"
SEED = SEEDS / "000_2c5c1f25ef22ab09.txt"
BASE = "http://oracle.test"
SAMPLE_PERSON: dict[str, Any] = {
    "email": "newuser@domain.com",
    "first_name": "Craig",
    "last_name": "Daniels",
    "mobile": "720-340-1313",
    "city": "Denver",
    "street": "110 Main St",
    "country": "US",
    "postal_code": "80207",
    "region": "CO",
    "has_cdl": True,
    "driving_preference": "Solo Driving",
    "cdl_type": "Class A",
}


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def contact_record(item: dict[str, Any]) -> dict[str, Any]:
    """A contact as Oracle answers it, read as the vendor file says."""
    vendor = OracleB2BConnector.vendor
    return envelope.reshape(item, vendor.records)


def settings(**extra: Any) -> Any:
    emu = OracleB2BEmulator()
    table = {**emu.system_table(BASE), "retries": 0, "backoff": 0, **extra}
    return system_settings("oracle", table, dict(OracleB2BEmulator.DEFAULT_ENV))


def connect(emu: Emulator | None = None, transport: Any = None, **extra: Any) -> Connector:
    emu = emu or OracleB2BEmulator()
    return OracleB2BConnector.build(settings(**extra), transport=transport or emu.transport())


def raw_client(emu: OracleB2BEmulator, **headers: str) -> httpx.AsyncClient:
    """A client that sends exactly what a test says, to probe the emulator."""
    token = base64.b64encode(b"sandbox-agent:sandbox-password").decode()
    sent = {
        "Authorization": f"Basic {token}",
        "Content-Type": "application/json",
        "OSvC-CREST-Application-Context": "tests",
        **headers,
    }
    sent = {k: v for k, v in sent.items() if v}
    return httpx.AsyncClient(transport=emu.transport(), base_url=BASE + PREFIX, headers=sent)


class TestOracleContract(ConnectorContract):
    name = "oracle"
    emulator_cls = OracleB2BEmulator

    def person(self) -> dict[str, Any]:
        return {
            "email": "ada@example.org",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "mobile": "+13035550100",
            "title": "Analyst",
            "street": "1 Engine Way",
            "city": "Denver",
            "postal_code": "80202",
            "region": "CO",
            "country": "US",
            "active": True,
            "has_cdl": False,
            "cdl_type": "Class B",
        }


# --- the vendor document's samples ---


def _seed_blocks() -> list[Any]:
    text = SEED.read_text()
    decoder, found, i = json.JSONDecoder(), [], 0
    while (j := text.find("\n{", i)) >= 0:
        try:
            block, i = decoder.raw_decode(text, j + 1)
            found.append(block)
        except ValueError:
            i = j + 1
    return found


@pytest.mark.skipif(not SEED.exists(), reason="vendor document not checked out")
def test_fixtures_are_the_documents_samples() -> None:
    names = ["query_found", "query_empty", "create_contact_request"]
    names += ["create_contact_response", "create_incident_request"]
    assert [fixture(n) for n in names] == _seed_blocks()


async def test_create_sends_the_documents_body_and_headers() -> None:
    emu = OracleB2BEmulator()
    conn = connect(emu)
    payload = conn.settings.mapping.to_system(SAMPLE_PERSON, create=True)
    written = await conn.create(payload, email=SAMPLE_PERSON["email"])
    await conn.aclose()
    (sent,) = emu.writes()
    assert (sent.method, sent.path) == ("POST", PREFIX + "/contacts")
    # the document's body, and `disabled: false`: the default Oracle sets itself, which the
    # mapping writes so that the snapshot and Oracle agree (no change on the next run)
    assert sent.json() == {**fixture("create_contact_request"), "disabled": False}
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["osvc-crest-application-context"] == "contactsync"
    assert sent.headers["authorization"].startswith("Basic ")
    assert written.vendor_id == str(2**53 + 1)  # a 64-bit ID kept exact, as text


async def test_lookup_sends_the_documents_query_and_reads_its_answers() -> None:
    seen: list[httpx.Request] = []
    # the GET asks to expand emails: the create answer's links stand expanded here, since a
    # lookup checks the address it found
    primary = {"address": "contact@craigdaniels.me", "addressType": {"id": 0}}
    contact = {**fixture("create_contact_response"), "id": 51717, "emails": {"items": [primary]}}

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/queryResults/"):
            found = "contact@craigdaniels.me" in request.url.params["query"]
            return httpx.Response(200, json=fixture("query_found" if found else "query_empty"))
        assert request.url.path.endswith("/contacts/51717")
        return httpx.Response(200, json=contact)

    conn = connect(transport=httpx.MockTransport(answer))
    found = await conn.find_by_email("contact@craigdaniels.me")
    missing = await conn.find_by_email("nobody@example.org")
    await conn.aclose()
    assert found is not None and found.id == "51717"
    assert missing is None
    query = seen[0].url.params["query"]
    assert query == "SELECT ID FROM Contacts WHERE Emails.Address='contact@craigdaniels.me'"
    assert seen[0].url.path == PREFIX + "/queryResults/"


async def test_create_response_sample_parses() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, json=fixture("create_contact_response"))

    conn = connect(transport=httpx.MockTransport(answer))
    written = await conn.create({"name": {"first": "Craig"}})
    await conn.aclose()
    assert written.vendor_id == "51718"
    mapping = conn.settings.mapping
    canon = mapping.from_system(
        contact_record(fixture("create_contact_response")), Schema(mapping.custom)
    )
    # emails, phones and country come back as links: they are simply not read from this answer
    assert canon == {
        "first_name": "Craig",
        "last_name": "Daniels",
        "city": "Denver",
        "street": "110 Main St",
        "postal_code": "80207",
        "region": "CO",
        "has_cdl": True,
        "driving_preference": "Solo Driving",
        "cdl_type": "Class A",
    }


async def test_incident_is_opened_like_the_documents_sample() -> None:
    sample = fixture("create_incident_request")
    custom = {k: v["lookupName"] for k, v in sample["customFields"]["c"].items()}
    emu = OracleB2BEmulator()
    conn = connect(emu, incident={"subject": sample["subject"], "custom_fields": custom})
    payload = conn.settings.mapping.to_system(SAMPLE_PERSON, create=True)
    written = await conn.create(payload)
    await conn.after_create(written.vendor_id, payload)  # the engine's call after a create
    await conn.aclose()
    contact, incident = emu.writes()
    assert contact.path == PREFIX + "/contacts"
    assert incident.path == PREFIX + "/incidents" and incident.status == 201
    assert incident.json() == {**sample, "primaryContact": {"id": int(written.vendor_id)}}
    assert emu.incidents[0]["primaryContact"] == int(written.vendor_id)
    assert emu.incidents[0]["custom"] == custom


async def test_a_refused_incident_keeps_the_contact() -> None:
    emu = OracleB2BEmulator()
    conn = connect(emu, incident={"subject": "x", "custom_fields": {"truck_type": "Rocket"}})
    payload = conn.settings.mapping.to_system(SAMPLE_PERSON, create=True)
    written = await conn.create(payload)
    await conn.after_create(written.vendor_id, payload)
    await conn.aclose()
    assert int(written.vendor_id) in emu.contacts
    assert [w.status for w in emu.writes()] == [201, 400]
    assert emu.incidents == []


# --- the emulator is as strict as Oracle ---


async def test_emulator_refuses_put_with_oracles_error_shape() -> None:
    emu = OracleB2BEmulator()
    vendor_id = emu.seed_person({"email": "a@example.org"})
    async with raw_client(emu) as client:
        response = await client.put(f"contacts/{vendor_id}", json={"title": "x"})
    assert response.status_code == 405
    body = response.json()
    assert set(body) == {"type", "title", "status", "detail", "instance", "o:errorCode"}
    assert body["status"] == 405 and body["type"].endswith(body["o:errorCode"])


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"OSvC-CREST-Application-Context": ""}, 400),
        ({"OSvC-CREST-Application-Context": "x" * 41}, 400),
        ({"Authorization": "Basic " + base64.b64encode(b"sandbox-agent:nope").decode()}, 401),
        ({"Authorization": ""}, 401),
    ],
)
async def test_emulator_refuses_missing_context_and_bad_auth(
    headers: dict[str, str], status: int
) -> None:
    async with raw_client(OracleB2BEmulator(), **headers) as client:
        response = await client.get("contacts")
    assert response.status_code == status
    assert response.json()["o:errorCode"].startswith("OSC-CREST-")


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"nickname": "Ada"}, "'nickname' is not a valid field"),
        ({"name": {"first": "A" * 81}}, "exceeds its maximum length of 80"),
        ({"emails": {"addressType": {"id": 0}, "address": "not-an-email"}}, "not a valid email"),
        ({"customFields": {"c": {"cdl_type": {"lookupName": "Class Z"}}}}, "menu's options"),
        ({"address": {"country": {"lookupName": "United States"}}}, "not a valid country"),
    ],
)
async def test_emulator_refuses_unknown_fields_and_bad_values(
    body: dict[str, Any], detail: str
) -> None:
    emu = OracleB2BEmulator()
    async with raw_client(emu) as client:
        response = await client.post("contacts", json=body)
    assert response.status_code == 400
    assert response.json()["o:errorCode"] == "OSC-CREST-00002"
    assert detail in response.json()["detail"]
    assert emu.contacts == {}


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=1001",
        "fields=name.first",
        "fields=nickname",
        "expand=threads",
        "q=updatedTime>'yesterday'",
        "q=id>",
        "sort=id",
    ],
)
async def test_emulator_refuses_bad_list_parameters(query: str) -> None:
    async with raw_client(OracleB2BEmulator()) as client:
        response = await client.get(f"contacts?{query}")
    assert response.status_code == 400


async def test_emulator_needs_json_content_type_for_bodies() -> None:
    async with raw_client(OracleB2BEmulator(), **{"Content-Type": "text/plain"}) as client:
        response = await client.post("contacts", content=b'{"title": "x"}')
    assert response.status_code == 415


async def test_emulator_answers_emails_and_phones_as_links_unless_expanded() -> None:
    emu = OracleB2BEmulator()
    vendor_id = emu.seed_person({"email": "a@example.org", "mobile": "+13035550100"})
    async with raw_client(emu) as client:
        plain = (await client.get(f"contacts/{vendor_id}")).json()
        full = (await client.get(f"contacts/{vendor_id}?expand=emails,phones")).json()
        listed = (await client.get("contacts")).json()
    assert set(plain["emails"]) == {"links"} and set(plain["phones"]) == {"links"}
    assert full["emails"]["items"][0]["address"] == "a@example.org"
    assert full["phones"]["items"][0]["phoneType"] == {"id": 1, "lookupName": "Mobile Phone"}
    assert full["id"] == 2**53 + 1  # a 64-bit integer in JSON
    assert set(listed["items"][0]) == {"id", "lookupName", "createdTime", "updatedTime", "links"}


# --- quirks ---


def test_roql_literals_double_their_quotes() -> None:
    """ROQL, like SQL, doubles a quote inside a literal; a backslash is an ordinary
    character (OSC-CREST-00007 answered the backslash-escaped form)."""
    assert render("{x|quoted}", {"x": "o'brien@example.com"}) == "'o''brien@example.com'"
    assert render("{x|quoted}", {"x": "a\\'b"}) == "'a\\''b'"


async def test_lookup_cannot_be_injected() -> None:
    emu = OracleB2BEmulator()
    emu.seed_person({"email": "a@example.org"})
    quoted = emu.seed_person({"email": "o'hara@example.org"})
    conn = connect(emu)
    assert await conn.find_by_email("x' OR 1=1 --@y.z") is None
    assert await conn.find_by_email("x' OR 'a'='a") is None
    found = await conn.find_by_email("o'hara@example.org")
    await conn.aclose()
    assert found is not None and found.id == quoted
    # the emulator parses like ROQL: the same text pasted in unescaped is obeyed, or refused
    async with raw_client(emu) as client:
        naive = "SELECT ID FROM Contacts WHERE Emails.Address='x' OR 'a'='a'"
        injected = (await client.get("queryResults/", params={"query": naive})).json()
        broken = "SELECT ID FROM Contacts WHERE Emails.Address='x' OR 1=1 --@y.z'"
        refused = await client.get("queryResults/", params={"query": broken})
    assert injected["items"][0]["count"] == 2
    assert refused.status_code == 400


async def test_patch_via_post_sends_the_method_override() -> None:
    emu = OracleB2BEmulator()
    vendor_id = emu.seed_person({"email": "a@example.org", "title": "Before"})
    conn = connect(emu, patch_via_post=True)
    await conn.update(vendor_id, {"title": "After"}, {})
    await conn.aclose()
    (sent,) = emu.writes()
    assert sent.method == "POST" and sent.headers["x-http-method-override"] == "PATCH"
    assert sent.path == f"{PREFIX}/contacts/{vendor_id}" and sent.status == 200
    assert emu.people()[0]["title"] == "After"


async def test_plain_update_is_a_patch_and_clears_what_is_cleared() -> None:
    emu = OracleB2BEmulator()
    vendor_id = emu.seed_person(
        {"email": "a@example.org", "mobile": "+13035550100", "country": "US"}
    )
    conn = connect(emu)
    changes = conn.settings.mapping.to_system({"email": "a@example.org"}, ["mobile", "country"])
    await conn.update(vendor_id, changes, {})
    await conn.aclose()
    (sent,) = emu.writes()
    assert sent.method == "PATCH"
    assert sent.json() == {
        "phones": {"number": None, "phoneType": {"id": 1}},
        "address": {"country": None},
    }
    assert "mobile" not in emu.people()[0] and "country" not in emu.people()[0]


def test_application_context_longer_than_40_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"application_context: .* at most 40 characters"):
        settings(application_context="x" * 41)
    assert settings(application_context="x" * 40).options.application_context == "x" * 40


async def test_vendor_error_becomes_the_failure_reason() -> None:
    emu = OracleB2BEmulator()
    conn = connect(emu)
    with pytest.raises(Rejected, match=r"exceeds its maximum length .*\(OSC-CREST-00002\)"):
        await conn.create({"title": "x" * 81})
    await conn.aclose()


async def test_full_scan_pages_by_id_so_a_delete_mid_scan_skips_nothing() -> None:
    emu = OracleB2BEmulator()
    ids = [emu.seed_person({"email": f"p{i}@example.org"}) for i in range(7)]
    inner = emu.transport()
    pages = 0

    class DeleteAfterFirstPage(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            nonlocal pages
            response = await inner.handle_async_request(request)
            pages += 1
            if pages == 1:
                emu.remove(ids[0])  # a user deletes a contact the scan has already passed
            return response

    conn = connect(emu, transport=DeleteAfterFirstPage(), page_size=2)
    listing = await conn.list_all()
    await conn.aclose()
    assert listing.complete
    assert set(ids[1:]) <= {r.id for r in listing.records}
    assert pages == 4


async def test_incremental_listing_steps_over_runs_of_equal_times() -> None:
    emu = OracleB2BEmulator()
    ids = [emu.seed_person({"email": f"p{i}@example.org"}) for i in range(7)]
    for vendor_id in ids[1:6]:  # Oracle keeps seconds: several contacts share one time
        emu.contacts[int(vendor_id)]["updatedTime"] = "2030-01-01T00:00:00.000Z"
    emu.contacts[int(ids[6])]["updatedTime"] = "2030-01-01T00:00:01.000Z"
    conn = connect(emu, page_size=2)
    listing = await conn.list_changed("2029-12-31T00:00:00.000Z")
    await conn.aclose()
    assert listing.complete
    assert {r.id for r in listing.records} == set(ids[1:])
    assert listing.cursor == "2030-01-01T00:00:01.000Z"


async def test_a_short_page_makes_the_listing_incomplete() -> None:
    emu = OracleB2BEmulator(faults=Faults(rate=1.0, kinds=("truncate",)))
    for i in range(4):
        emu.seed_person({"email": f"p{i}@example.org"})
    conn = connect(emu)
    listing = await conn.list_all()
    await conn.aclose()
    assert not listing.complete and "short" in listing.problems[0]
    assert listing.cursor is None


async def test_a_failed_page_makes_the_listing_incomplete() -> None:
    emu = OracleB2BEmulator()
    for i in range(3):
        emu.seed_person({"email": f"p{i}@example.org"})
    conn = connect(emu, page_size=2)
    first = await conn.list_all()
    emu.faults = Faults(rate=1.0, kinds=("503",))
    second = await conn.list_all()
    await conn.aclose()
    assert first.complete and len(first.records) == 3
    assert not second.complete and second.records == []


def test_emulator_round_trips_people() -> None:
    emu = OracleB2BEmulator()
    vendor_id = emu.seed_person({**SAMPLE_PERSON, "phone": "+13035550199", "active": False})
    emu.edit(vendor_id, city="Boulder", first_name="C.")
    (person,) = emu.people()
    assert person == {
        **SAMPLE_PERSON,
        "id": vendor_id,
        "phone": "+13035550199",
        "active": False,
        "city": "Boulder",
        "first_name": "C.",
    }
    emu.remove(vendor_id)
    assert emu.people() == []


async def test_emulator_refuses_a_backslash_escaped_quote_as_oracle_does() -> None:
    """OSC-CREST-00007: ROQL doubles quotes; `'o\\'brien'` does not parse."""
    emu = OracleB2BEmulator()
    emu.seed_person({"email": "o'brien@example.com"})
    async with raw_client(emu) as client:
        escaped = "SELECT ID FROM Contacts WHERE Emails.Address='o\\'brien@example.com'"
        refused = await client.get("queryResults/", params={"query": escaped})
        doubled = "SELECT ID FROM Contacts WHERE Emails.Address='o''brien@example.com'"
        found = await client.get("queryResults/", params={"query": doubled})
    assert refused.status_code == 400 and refused.json()["o:errorCode"] == "OSC-CREST-00007"
    assert found.json()["items"][0]["count"] == 1


async def test_a_listing_cut_short_still_reads_its_records_as_the_mapping_does() -> None:
    """An incomplete listing's records still carry changes: they must be reshaped like a
    complete listing's, or the mapping reads them as empty and clears fields everywhere."""
    emu = OracleB2BEmulator()
    for i in range(4):
        emu.seed_person({"email": f"p{i}@example.org"})
    pages = {"n": 0}

    def second_page_fails(request: LoggedRequest) -> str | None:
        if request.path.endswith("/contacts"):
            pages["n"] += 1
            return "503" if pages["n"] > 1 else None
        return None

    emu.faults = Faults(script=second_page_fails)
    conn = connect(emu, page_size=2)
    listing = await conn.list_all()
    await conn.aclose()
    assert not listing.complete and listing.cursor is None
    mapping = conn.settings.mapping
    emails = [
        mapping.from_system(r.data, Schema(mapping.custom)).get("email") for r in listing.records
    ]
    assert emails == ["p0@example.org", "p1@example.org"]
