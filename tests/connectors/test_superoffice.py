"""SuperOffice: the contract (Contact and Person), the document's samples, Swagger validation
of every body sent, the emulator's strictness, and the quirks."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from sync.connectors import connector_class
from sync.connectors.base import Connector
from sync.connectors.cursor import TimeCursor
from sync.contact import Schema
from sync.errors import AuthError, ConfigError, RecordError, Rejected
from sync.paths import get_path
from sync.sandbox.base import Faults
from sync.sandbox.kit import Refused
from sync.sandbox.superoffice import SuperOfficeEmulator, parse_filter
from tests.connectors.contract import ConnectorContract
from tests.helpers import SEEDS, SPECS, system_settings

SuperOfficeConnector: Any = connector_class("superoffice")
HOST = "http://superoffice.test"
BASE = f"{HOST}/Cust12345/api/v1"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "superoffice"
ENV = dict(SuperOfficeEmulator.DEFAULT_ENV)
MERGE = {"Content-Type": "application/merge-patch+json"}
JSON_PATCH = {"Content-Type": "application/json-patch+json"}
SCHEMA = Schema()
ACME = {
    "Name": "Acme",
    "OrgNr": "930628",
    "Emails": [{"Value": "a@acme.example"}, {"Value": "b@acme.example"}],
}
ADA = {
    "email": "ada@example.org",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "company": "Analytical Engines Ltd",
    "department": "Research",
    "title": "Analyst",
    "phone": "+4722334455",
    "mobile": "+4790012345",
    "street": "Karl Johans gate 1",
    "city": "Oslo",
    "postal_code": "0154",
    "country": "NO",
}


def _document() -> tuple[dict[str, Any], dict[str, Any]]:
    """The seed document's sample request body and sample response body."""
    text = (SEEDS / "002_8d2d106665cd0909.txt").read_text(encoding="utf-8")
    request_part = text[text.index("Sample request") : text.index("Sample response")]
    response_part = text[text.index("Sample response") :]
    decode = json.JSONDecoder().raw_decode
    return (
        decode(request_part[request_part.index("{") :])[0],
        decode(response_part[response_part.index("{") :])[0],
    )


SAMPLE_REQUEST, SAMPLE_RESPONSE = _document()


class TestSuperOfficeContactContract(ConnectorContract):
    name = "superoffice"
    entity = "Contact"

    def emulator(self) -> SuperOfficeEmulator:
        return SuperOfficeEmulator(entity=self.entity)

    def table(self) -> dict[str, Any]:
        return SuperOfficeEmulator(entity=self.entity).system_table(HOST)

    def env(self) -> dict[str, str]:
        return dict(ENV)

    def bad_env(self) -> dict[str, str]:
        return {**ENV, "SUPEROFFICE_TICKET": "7T:not-the-ticket"}

    def person(self) -> dict[str, Any]:
        return dict(ADA)


class TestSuperOfficePersonContract(TestSuperOfficeContactContract):
    entity = "Person"


class TestSuperOfficePersonPatchContract(TestSuperOfficePersonContract):
    def table(self) -> dict[str, Any]:
        return {**super().table(), "update_method": "patch"}


# ---- helpers ----


def settings(entity: str = "Contact", env: dict[str, str] | None = None, **extra: Any) -> Any:
    table = {
        **SuperOfficeEmulator(entity=entity).system_table(HOST),
        "retries": 2,
        "backoff": 0,
        "timeout": 2,
        **extra,
    }
    return system_settings("superoffice", table, env or ENV)


def connect(emu: SuperOfficeEmulator, **extra: Any) -> SuperOfficeConnector:
    conn = SuperOfficeConnector.build(settings(emu.entity, **extra), transport=emu.transport())
    assert isinstance(conn, SuperOfficeConnector)
    return conn


@pytest.fixture
async def contact() -> AsyncIterator[tuple[SuperOfficeConnector, SuperOfficeEmulator]]:
    emu = SuperOfficeEmulator()
    conn = connect(emu)
    yield conn, emu
    await conn.aclose()


def raw_client(emu: SuperOfficeEmulator, **headers: str) -> httpx.AsyncClient:
    """A client that sends what the test says, authenticated like the connector."""
    base = {
        "Authorization": f"SOTicket {ENV['SUPEROFFICE_TICKET']}",
        "SO-AppToken": "sandbox-app-token",
        "Content-Type": "application/json",
    }
    return httpx.AsyncClient(
        transport=emu.transport(), base_url=BASE + "/", headers={**base, **headers}
    )


async def create(conn: Connector, person: dict[str, Any]) -> str:
    written = await conn.create(conn.settings.mapping.to_system(person, create=True))
    return written.vendor_id


def canonical(conn: Connector, data: dict[str, Any]) -> dict[str, Any]:
    return conn.settings.mapping.from_system(data, SCHEMA)


def mocked(
    handler: Callable[[httpx.Request], httpx.Response], entity: str = "Contact"
) -> SuperOfficeConnector:
    conn = SuperOfficeConnector.build(settings(entity), transport=httpx.MockTransport(handler))
    assert isinstance(conn, SuperOfficeConnector)
    return conn


# ---- the seed document's samples ----


async def test_document_sample_request_is_accepted_as_sent() -> None:
    """The sample request, with its own headers and Basic credentials (tje0:Tje0)."""
    emu = SuperOfficeEmulator(
        app_token=None,
        env={**ENV, "SUPEROFFICE_USERNAME": "tje0", "SUPEROFFICE_PASSWORD": "Tje0"},
    )
    headers = {
        "Authorization": "Basic dGplMDpUamUw",
        "Accept": "application/json; charset=utf-8",
        "Accept-Language": "fr,de,ru,zh",
        "Content-Type": "application/json; charset=utf-8",
    }
    async with httpx.AsyncClient(transport=emu.transport(), base_url=HOST) as client:
        response = await client.post(
            "/api/v1/Contact?$select=name,department,category/id",
            content=json.dumps(SAMPLE_REQUEST),
            headers=headers,
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["Name"] == "Wyman, Beahan and Gaylord"
    assert body["Department"] == ""
    assert body["OrgNr"] is None and body["ContactId"] is None  # $select nulls the rest
    (stored,) = emu.store["Contact"].values()
    assert stored["OrgNr"] == "930628" and stored["Emails"][0]["Value"] == "officia"


async def test_create_body_matches_the_document_sample() -> None:
    """The POST the connector builds for the document's sample contact carries the sample's
    values at every path the mapping writes."""
    emu = SuperOfficeEmulator()
    conn = connect(emu)
    mapping = conn.settings.mapping
    # the sample's values are placeholders ("officia" is no email): read them unnormalised
    person = {
        n: fm.from_system(get_path(SAMPLE_REQUEST, fm.path)) for n, fm in mapping.fields.items()
    }
    await conn.create(mapping.to_system(person, create=True))
    await conn.aclose()
    (post,) = [r for r in emu.log if r.method == "POST"]
    sent = post.json()
    carried = [fm for fm in mapping.fields.values() if fm.writes]
    for fm in carried:
        assert get_path(sent, fm.path) == get_path(SAMPLE_REQUEST, fm.path), fm.path_text
    present = {fm.path_text for fm in carried if get_path(sent, fm.path) is not None}
    assert {"Name", "Department", "Emails[0].Value", "Phones[0].Value"} <= present


async def test_document_sample_response_parses_as_a_create_answer() -> None:
    conn = mocked(lambda request: httpx.Response(200, json=SAMPLE_RESPONSE))
    written = await conn.create({"Name": "Bailey LLC"})
    await conn.aclose()
    assert written.vendor_id == "440"
    assert written.record is not None and written.record["Name"] == "Bailey LLC"
    raw = {
        n: fm.from_system(get_path(written.record, fm.path))
        for n, fm in conn.settings.mapping.fields.items()
    }
    assert raw["company"] == "Bailey LLC" and raw["email"] == "similique"


def _archive_and_entity(entity: dict[str, Any]) -> Callable[[httpx.Request], httpx.Response]:
    page = json.loads((FIXTURES / "archive_page.json").read_text())

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/Contact"):
            return httpx.Response(200, json=page)
        vendor_id = int(request.url.path.rsplit("/", 1)[1])
        return httpx.Response(200, json={**entity, "ContactId": vendor_id})

    return handler


async def test_document_sample_response_parses_in_a_listing_and_its_deleted_flag_hides_it() -> None:
    conn = mocked(_archive_and_entity(SAMPLE_RESPONSE))  # Deleted: 908
    listing = await conn.list_all()
    assert listing.complete and listing.records == []
    assert listing.cursor is not None  # the dates were read all the same
    await conn.aclose()
    alive = {**SAMPLE_RESPONSE, "Deleted": 0, "Emails": [{"Value": "bailey@example.com"}]}
    conn = mocked(_archive_and_entity(alive))
    listing = await conn.list_all()
    await conn.aclose()
    assert [r.id for r in listing.records] == ["440", "441"]
    assert canonical(conn, listing.records[0].data) == {
        "company": "Bailey LLC",
        "email": "bailey@example.com",
        "phone": "et",
    }


async def test_document_sample_response_is_put_back_whole_without_links() -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json=SAMPLE_RESPONSE)

    conn = mocked(handler)
    answer = await conn.update("440", {"Department": "Sales"}, {"Department": "Sales"})
    await conn.aclose()
    assert answer is not None and answer["ContactId"] == 440
    assert [r.method for r in sent] == ["GET", "PUT"]
    body = json.loads(sent[1].content)
    expected = {k: v for k, v in SAMPLE_RESPONSE.items() if k != "_Links"}
    assert body == {**expected, "Department": "Sales"}


async def test_error_body_becomes_the_rejection_reason() -> None:
    error = json.loads((FIXTURES / "error.json").read_text())
    conn = mocked(lambda request: httpx.Response(400, json=error))
    with pytest.raises(Rejected, match="Name is 230 chars, max 219"):
        await conn.create({"Name": "x" * 230})
    await conn.aclose()


# ---- every body sent validates against SuperOffice's Swagger ----


def _nullable(node: Any) -> Any:
    """Swagger 2.0 has no nullable; .NET takes null for text, objects and lists (the
    document's own sample sends "Country": null), not for numbers and flags."""
    if isinstance(node, dict):
        out = {k: _nullable(v) for k, v in node.items()}
        if out.get("type") in ("string", "object", "array"):
            out["type"] = [out["type"], "null"]
        if "$ref" in out:
            out = {"anyOf": [{"$ref": out["$ref"]}, {"type": "null"}]}
        return out
    return [_nullable(v) for v in node] if isinstance(node, list) else node


def swagger_validator(entity: str) -> Callable[[Any], None]:
    spec = json.loads((SPECS / f"superoffice-Swagger-v1-{entity}.json").read_text())
    name = f"SuperOffice.CRM.Services.{entity}Entity"
    definitions = {k: _nullable(v) for k, v in spec["definitions"].items()}
    validator = jsonschema.Draft4Validator(
        {"$ref": f"#/definitions/{name}", "definitions": definitions}
    )
    known = set(spec["definitions"][name]["properties"])

    def check(body: Any) -> None:
        validator.validate(body)
        # the Swagger leaves additionalProperties open; a misspelt property would be lost
        assert set(body) <= known, set(body) - known

    return check


@pytest.mark.parametrize("entity", ["Contact", "Person"])
@pytest.mark.parametrize("method", ["put", "patch"])
async def test_every_body_sent_validates_against_the_swagger(entity: str, method: str) -> None:
    emu = SuperOfficeEmulator(entity=entity)
    conn = connect(emu, update_method=method)
    mapping = conn.settings.mapping
    vendor_id = await create(conn, ADA)
    changed = {
        **ADA,
        "email": "ada.l@example.org",
        "title": "Countess",
        "city": "London",
        "country": "GB",
        "department": "Ops",
        "mobile": None,
    }
    names = ["email", "title", "city", "country", "department", "mobile"]
    await conn.update(vendor_id, mapping.to_system(changed, names), mapping.to_system(changed))
    await conn.aclose()
    check = swagger_validator(entity)
    bodies = [r.json() for r in emu.log if r.method in ("POST", "PUT", "PATCH")]
    assert len(bodies) == 2
    for body in bodies:
        check(body)


def test_the_swagger_check_accepts_the_document_sample_and_refuses_wrong_types() -> None:
    check = swagger_validator("Contact")
    check(SAMPLE_REQUEST)
    with pytest.raises(jsonschema.ValidationError):
        check({"Name": 5})
    with pytest.raises(jsonschema.ValidationError):
        check({"Emails": [{"Value": ["not", "text"]}]})
    with pytest.raises(AssertionError):
        check({"Nmae": "typo"})


# ---- the emulator refuses what SuperOffice refuses ----


async def test_wrong_verb_is_405() -> None:
    emu = SuperOfficeEmulator()
    vendor_id = emu.seed_person(ADA)
    async with raw_client(emu) as client:
        on_item = await client.post(f"Contact/{vendor_id}", json={"Name": "X"})
        on_list = await client.patch("Contact", json={"Name": "X"})
    assert on_item.status_code == on_list.status_code == 405
    assert on_item.json()["Error"] is True and "POST" in on_item.json()["Message"]


async def test_missing_or_bad_credentials_are_401() -> None:
    emu = SuperOfficeEmulator()
    basic = base64.b64encode(b"sandbox:sandbox-password").decode()
    async with raw_client(emu) as client:
        ok = [
            await client.get("Contact", headers={"Authorization": auth})
            for auth in (
                f"Basic {basic}",
                f"Bearer {ENV['SUPEROFFICE_TOKEN']}",
                f"soticket {ENV['SUPEROFFICE_TICKET']}",
            )
        ]
        refused = [
            await client.get("Contact", headers={"Authorization": auth})
            for auth in (
                "Basic " + base64.b64encode(b"sandbox:wrong").decode(),
                "Bearer wrong",
                f"Bearer {ENV['SUPEROFFICE_TICKET']}",  # a ticket is not a bearer token
                "",
            )
        ]
        no_app_token = await client.get("Contact", headers={"SO-AppToken": ""})
    assert [r.status_code for r in ok] == [200, 200, 200]
    assert [r.status_code for r in refused] == [401, 401, 401, 401]
    assert no_app_token.status_code == 401
    assert "SO-AppToken" in no_app_token.json()["Message"]


async def test_bad_credentials_through_the_connector_are_an_auth_error() -> None:
    emu = SuperOfficeEmulator()
    emu.seed_person(ADA)
    wrong = {**ENV, "SUPEROFFICE_APP_TOKEN": "wrong"}
    conn = SuperOfficeConnector.build(settings(env=wrong), transport=emu.transport())
    with pytest.raises(AuthError):
        await conn.find_by_email(ADA["email"])
    await conn.aclose()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"Name": "X", "Nmae": "typo"}, "Nmae"),
        ({"Name": "X", "Emails": [{"Value": "a@b.c", "Kind": "work"}]}, "Kind"),
        ({"Name": "x" * 220}, "Name is 220 chars, max 219"),
        ({"Name": "X", "Emails": [{"Value": "a" * 240}]}, "Emails[0].Value"),
        ({"Name": "X", "Address": {"Postal": {"Zipcode": "123456789012"}}}, "Zipcode"),
        ({"Name": 5}, "Name"),
        ({"Name": "X", "Deleted": None}, "Deleted"),
        ({"Name": "X", "Emails": "a@b.c"}, "Emails"),
        ({"Name": "X", "Country": {"CountryId": 9999}}, "CountryId"),
        ({"Department": "no name"}, "Name is required"),
    ],
)
async def test_bodies_the_swagger_or_the_database_refuse_are_400(body: Any, reason: str) -> None:
    emu = SuperOfficeEmulator()
    async with raw_client(emu) as client:
        response = await client.post("Contact", json=body)
    assert response.status_code == 400
    assert reason in response.json()["Message"]
    assert emu.store["Contact"] == {}


async def test_content_type_and_empty_bodies_are_refused() -> None:
    emu = SuperOfficeEmulator()
    vendor_id = emu.seed_person(ADA)
    async with raw_client(emu) as client:
        form = await client.post(
            "Contact",
            content=b"Name=X",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        empty = await client.put(f"Contact/{vendor_id}", content=b"")
        plain_patch = await client.patch(f"Contact/{vendor_id}", json={"Name": "Y"})
    assert form.status_code == 415
    assert empty.status_code == 400 and "not in request body" in empty.json()["Message"]
    assert plain_patch.status_code == 415  # PATCH takes a merge patch or a JSON patch


async def test_put_replaces_patch_merges_and_preconditions_hold() -> None:
    emu = SuperOfficeEmulator()
    async with raw_client(emu) as client:
        made = await client.post("Contact", json={"Name": "Acme", "OrgNr": "930628"})
        vendor_id = made.json()["ContactId"]
        merge = await client.patch(
            f"Contact/{vendor_id}", json={"Department": "Sales"}, headers=MERGE
        )
        assert merge.json()["OrgNr"] == "930628" and merge.json()["Department"] == "Sales"
        ops = [
            {"op": "test", "path": "/Name", "value": "Acme"},
            {"op": "replace", "path": "/Name", "value": "Acme AS"},
        ]
        patched = await client.patch(f"Contact/{vendor_id}", json=ops, headers=JSON_PATCH)
        conflict = await client.patch(f"Contact/{vendor_id}", json=ops, headers=JSON_PATCH)
        put = await client.put(f"Contact/{vendor_id}", json={"Name": "Acme AS"})
        old = {"If-Unmodified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"}
        stale = await client.put(f"Contact/{vendor_id}", json={"Name": "Late"}, headers=old)
        missing = await client.patch("Contact/999", json={"Name": "X"}, headers=MERGE)
        gone = [await client.delete(f"Contact/{vendor_id}") for _ in range(2)]
    assert patched.status_code == 200 and patched.json()["Name"] == "Acme AS"
    assert conflict.status_code == 409  # its test op no longer holds
    assert put.status_code == 200 and "OrgNr" not in put.json()  # a PUT replaces
    assert stale.status_code == 412
    assert missing.status_code == 404
    assert [r.status_code for r in gone] == [204, 404]


async def test_entity_select_nulls_out_the_rest_and_archive_columns_are_checked() -> None:
    emu = SuperOfficeEmulator()
    vendor_id = emu.seed_person(ADA)
    async with raw_client(emu) as client:
        one = await client.get(f"Contact/{vendor_id}", params={"$select": "name,department"})
        unknown = await client.get("Contact", params={"$select": "contactId,nmae"})
        bad_filter = await client.get("Contact", params={"$filter": "name eq 'open"})
        rows = await client.get("Contact", params={"$select": "contactId,name"})
    assert one.json()["Name"] == ADA["company"] and one.json()["Department"] == "Research"
    assert one.json()["Emails"] is None and one.json()["ContactId"] is None
    assert unknown.status_code == bad_filter.status_code == 400
    assert rows.json()["value"] == [
        {
            "PrimaryKey": int(vendor_id),
            "EntityName": "contact",
            "contactId": int(vendor_id),
            "name": ADA["company"],
        }
    ]


def test_filter_language() -> None:
    values: dict[str, list[Any]] = {
        "name": ["O'Hara & Co"],
        "contactId": [7],
        "email/emailAddress": ["a@x", "b@x"],
    }
    known = set(values)

    def matches(text: str) -> bool:
        return parse_filter(text, known)(lambda column: values[column])

    assert matches("name eq 'o''hara & co'")
    assert not matches("name eq 'o''hara'' or 1=1 --'")  # quotes doubled: one literal
    with pytest.raises(Refused):
        matches("name eq 'o'hara' or 1=1 --'")  # quotes not doubled: refused
    assert matches("contactId gt 5 and (name begins 'x' or email/emailAddress eq 'B@X')")
    assert not matches("contactId gt 7")


def test_over_long_values_fail_the_record_before_sending() -> None:
    mapping = settings().mapping
    with pytest.raises(RecordError, match="219"):
        mapping.to_system({**ADA, "company": "x" * 220}, create=True)
    with pytest.raises(RecordError, match="required"):
        mapping.to_system({**ADA, "company": None}, create=True)
    assert not mapping.passes_filter({**ADA, "company": None})


def test_mapping_id_must_match_the_entity() -> None:
    table = {**SuperOfficeEmulator().system_table(HOST), "entity": "Person"}
    with pytest.raises(ConfigError, match="PersonId"):
        system_settings("superoffice", table, ENV)


# ---- quirks ----


async def test_deleted_nonzero_is_hidden_from_listings_and_lookups(contact: Any) -> None:
    conn, emu = contact
    kept = emu.seed_person(ADA)
    gone = emu.seed_person({**ADA, "email": "gone@example.org", "company": "Gone AS"})
    first = await conn.list_all()
    assert {r.id for r in first.records} == {kept, gone}
    emu.remove(gone)  # a soft delete: Deleted = 1, still in the archive and behind GET
    assert emu.store["Contact"][int(gone)]["Deleted"] == 1
    full = await conn.list_all()
    assert full.complete and {r.id for r in full.records} == {kept}
    changed = await conn.list_changed(first.cursor)
    assert gone not in {r.id for r in changed.records}
    assert await conn.find_by_email("gone@example.org") is None
    assert {p["id"] for p in emu.people()} == {kept}


async def test_a_removed_person_leaves_the_listing() -> None:
    emu = SuperOfficeEmulator(entity="Person")
    conn = connect(emu)
    vendor_id = emu.seed_person(ADA)
    emu.remove(vendor_id)
    listing = await conn.list_all()
    await conn.aclose()
    assert listing.complete and listing.records == []


async def test_put_sends_the_whole_entity_and_keeps_unmapped_fields(contact: Any) -> None:
    conn, emu = contact
    async with raw_client(emu) as client:
        made = await client.post("Contact", json=ACME)
    vendor_id = str(made.json()["ContactId"])
    emu.log.clear()
    mapping = conn.settings.mapping
    changed = {"company": "Acme", "department": "Sales", "email": "new@acme.example"}
    await conn.update(vendor_id, mapping.to_system(changed, ["department", "email"]), {})
    assert [r.method for r in emu.log] == ["GET", "PUT"]
    put = emu.log[1]
    assert put.headers["content-type"] == "application/json"
    assert put.json()["OrgNr"] == "930628" and "_Links" not in put.json()
    stored = emu.store["Contact"][int(vendor_id)]
    assert stored["OrgNr"] == "930628" and stored["Department"] == "Sales"
    assert [e["Value"] for e in stored["Emails"]] == ["new@acme.example", "b@acme.example"]


async def test_patch_sends_a_merge_patch_of_the_changes_only() -> None:
    emu = SuperOfficeEmulator()
    conn = connect(emu, update_method="patch")
    async with raw_client(emu) as client:
        made = await client.post("Contact", json=ACME)
    vendor_id = str(made.json()["ContactId"])
    emu.log.clear()
    mapping = conn.settings.mapping
    await conn.update(vendor_id, mapping.to_system({"department": "Sales"}, ["department"]), {})
    (patch,) = emu.log
    assert patch.method == "PATCH"
    assert patch.headers["content-type"] == "application/merge-patch+json"
    assert patch.json() == {"Department": "Sales"}
    emu.log.clear()
    # a merge patch replaces arrays whole: the current Emails are read and merged first
    await conn.update(vendor_id, mapping.to_system({"email": "new@acme.example"}, ["email"]), {})
    assert [r.method for r in emu.log] == ["GET", "PATCH"]
    assert [e["Value"] for e in emu.log[1].json()["Emails"]] == [
        "new@acme.example",
        "b@acme.example",
    ]
    stored = emu.store["Contact"][int(vendor_id)]
    assert stored["OrgNr"] == "930628" and stored["Department"] == "Sales"
    # clearing the email drops the element instead of sending an empty address
    await conn.update(vendor_id, mapping.to_system({"email": None}, ["email"]), {})
    assert [e["Value"] for e in emu.store["Contact"][int(vendor_id)]["Emails"]] == [
        "b@acme.example"
    ]
    await conn.aclose()


async def test_so_headers_only_when_configured() -> None:
    emu = SuperOfficeEmulator()
    conn = connect(emu)
    await conn.list_all()
    await conn.aclose()
    sent = emu.log[-1].headers
    assert sent["so-apptoken"] == "sandbox-app-token"
    assert not {"so-language", "so-culture", "so-timezone"} & set(sent)
    conn = connect(emu, language="no", culture="nb", timezone="CET")
    await conn.list_all()
    await conn.aclose()
    sent = emu.log[-1].headers
    assert (sent["so-language"], sent["so-culture"], sent["so-timezone"]) == ("no", "nb", "CET")
    on_site = SuperOfficeEmulator(app_token=None)
    table = {k: v for k, v in on_site.system_table(HOST).items() if k != "app_token"}
    plain = SuperOfficeConnector.build(system_settings("so", table, ENV), on_site.transport())
    await plain.list_all()
    await plain.aclose()
    assert "so-apptoken" not in on_site.log[-1].headers


async def test_server_paging_follows_next_links() -> None:
    emu = SuperOfficeEmulator(page_size=2)
    ids = [emu.seed_person({**ADA, "email": f"p{i}@example.org"}) for i in range(5)]
    conn = connect(emu)
    listing = await conn.list_all()
    await conn.aclose()
    assert listing.complete and [r.id for r in listing.records] == ids
    pages = [r for r in emu.log if r.path.endswith("/Contact")]
    assert len(pages) == 3 and "%24skip=2" in pages[1].query and "%24skip=4" in pages[2].query


async def test_client_paging_goes_by_key() -> None:
    emu = SuperOfficeEmulator()
    ids = [emu.seed_person({**ADA, "email": f"p{i}@example.org"}) for i in range(5)]
    conn = connect(emu, page_size=2)
    listing = await conn.list_all()
    await conn.aclose()
    assert listing.complete and [r.id for r in listing.records] == ids
    pages = [httpx.QueryParams(r.query) for r in emu.log if r.path.endswith("/Contact")]
    assert [p["$filter"] for p in pages] == [f"contactId gt {n}" for n in (0, ids[1], ids[3])]


async def test_a_short_page_makes_the_listing_incomplete(contact: Any) -> None:
    conn, emu = contact
    for i in range(4):
        emu.seed_person({**ADA, "email": f"p{i}@example.org"})
    emu.faults = Faults(rate=1.0, kinds=("truncate",))
    listing = await conn.list_all()
    assert not listing.complete
    assert "short" in listing.problems[0]


async def test_incremental_listing_reads_only_what_changed(contact: Any) -> None:
    conn, emu = contact
    old = emu.seed_person({**ADA, "email": "old@example.org"})
    recent = emu.seed_person(ADA)
    emu.store["Contact"][int(old)].update(
        CreatedDate="2020-01-01T00:00:00Z", UpdatedDate="2020-01-01T00:00:00Z"
    )
    emu.store["Contact"][int(recent)].update(
        CreatedDate="2020-01-01T05:00:00Z", UpdatedDate="2020-01-01T05:00:00Z"
    )
    first = await conn.list_all()
    assert TimeCursor.parse(first.cursor).text == "2020-01-01T05:00:00"
    emu.log.clear()
    again = await conn.list_changed(first.cursor)
    (page,) = [httpx.QueryParams(r.query) for r in emu.log if r.path.endswith("/Contact")]
    assert "updatedDate after '2019-12-31'" in page["$filter"]
    assert "registeredDate after '2019-12-31'" in page["$filter"]
    # the older row was dropped before any GET, and the newest, at the boundary, was read by
    # the last listing already: nothing is read again
    assert [r.path for r in emu.log if not r.path.endswith("/Contact")] == []
    assert again.records == [] and again.complete
    emu.edit(old, department="Changed")
    later = await conn.list_changed(again.cursor)
    assert [r.id for r in later.records] == [old]
    moved, start = TimeCursor.parse(later.cursor).at, TimeCursor.parse(first.cursor).at
    assert moved is not None and start is not None and moved > start
    # the edit shares the second of the server's clock: a later edit in that second would
    # keep its archive time, so it is read again until the clock has moved on
    assert [r.id for r in (await conn.list_changed(later.cursor)).records] == [old]
    emu.clock.advance(2)
    quiet = await conn.list_changed((await conn.list_changed(later.cursor)).cursor)
    assert quiet.records == []


async def test_bulk_creates_are_not_read_again_at_every_run(contact: Any) -> None:
    """20 entities created within the overlap before the cursor: each run used to GET them
    all again (defect 10); the boundary is remembered and the next run reads none."""
    conn, emu = contact
    for i in range(20):
        emu.seed_person({**ADA, "email": f"bulk{i}@example.org"})
    emu.clock.advance(2)
    first = await conn.list_all()
    assert len(first.records) == 20
    emu.log.clear()
    second = await conn.list_changed(first.cursor)
    assert second.complete and second.records == []
    assert [r.path for r in emu.log if not r.path.endswith("/Contact")] == []


async def test_a_record_never_updated_is_found_by_its_registration(contact: Any) -> None:
    conn, emu = contact
    first = await conn.list_all()
    # nothing seen yet, and still a cursor (the server's clock): the next run lists changes
    assert first.cursor is not None
    emu.seed_person(ADA)
    seen = await conn.list_all()
    fresh = emu.seed_person({**ADA, "email": "fresh@example.org"})
    emu.store["Contact"][int(fresh)]["UpdatedDate"] = None  # as SuperOffice leaves it
    changed = await conn.list_changed(seen.cursor)
    assert fresh in {r.id for r in changed.records}


async def test_find_by_email_checks_the_mapped_address(contact: Any) -> None:
    conn, emu = contact
    async with raw_client(emu) as client:
        made = await client.post(
            "Contact",
            json={
                "Name": "Acme",
                "Emails": [{"Value": "first@acme.example"}, {"Value": "second@acme.example"}],
            },
        )
    vendor_id = str(made.json()["ContactId"])
    found = await conn.find_by_email("first@acme.example")
    assert found is not None and found.id == vendor_id
    # the archive matches any of its addresses; the mapping reads the first one only
    assert await conn.find_by_email("second@acme.example") is None
    lookup = next(httpx.QueryParams(r.query) for r in emu.log if "email" in r.query)
    assert lookup["$filter"] == "email/emailAddress eq 'first@acme.example'"


async def test_update_times_strictly_increase_and_helpers_round_trip() -> None:
    emu = SuperOfficeEmulator(entity="Person")
    ids = [emu.seed_person({**ADA, "email": f"p{i}@example.org"}) for i in range(20)]
    stamps = [emu.store["Person"][int(i)]["UpdatedDate"] for i in ids]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    emu.edit(ids[0], title="Countess", country="GB")
    assert emu.store["Person"][int(ids[0])]["UpdatedDate"] > stamps[-1]
    (first,) = [p for p in emu.people() if p["id"] == ids[0]]
    # PersonEntity has no department: the only field a person cannot hold
    held = {k: v for k, v in ADA.items() if k != "department"}
    assert first == {
        **held,
        "id": ids[0],
        "email": "p0@example.org",
        "title": "Countess",
        "country": "GB",
    }


def test_system_table_loads() -> None:
    for entity in ("Contact", "Person"):
        table = SuperOfficeEmulator(entity=entity).system_table("http://127.0.0.1:8080")
        loaded = system_settings("so", table, ENV)
        assert loaded.options.model_dump()["entity"] == entity
        assert table["base_url"] == "http://127.0.0.1:8080/Cust12345/api/v1"


def test_the_app_token_is_a_secret_given_by_reference(tmp_path: Path) -> None:
    table = SuperOfficeEmulator().system_table(HOST)
    assert table["app_token_env"] == "SUPEROFFICE_APP_TOKEN" and "app_token" not in table
    plain = {**{k: v for k, v in table.items() if k != "app_token_env"}, "app_token": "x"}
    with pytest.raises(ConfigError, match=r"app_token is a secret.*app_token_env.*app_token_file"):
        system_settings("so", plain, ENV)
    (tmp_path / "token").write_text("from-a-file\n")
    by_file = {
        **{k: v for k, v in table.items() if k != "app_token_env"},
        "app_token_file": str(tmp_path / "token"),
    }
    settings = system_settings("so", by_file, ENV)
    assert settings.credentials.get("app_token") == "from-a-file"
    assert SuperOfficeConnector.headers(settings)["SO-AppToken"] == "from-a-file"
    with pytest.raises(ConfigError, match="SUPEROFFICE_APP_TOKEN is not set"):
        system_settings("so", table, {k: v for k, v in ENV.items() if k != "SUPEROFFICE_APP_TOKEN"})
