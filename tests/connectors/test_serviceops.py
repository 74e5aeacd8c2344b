"""Motadata ServiceOps: the contract, the vendor document's samples, emulator strictness and
the quirks (expiring OAuth tokens, search POSTs as reads, paging by totalCount, requests)."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from sync.connectors import connector_class
from sync.connectors.base import Connector
from sync.errors import AuthError, Rejected
from sync.sandbox.base import Emulator, Faults, LoggedRequest
from sync.sandbox.serviceops import ServiceOpsEmulator
from tests.connectors.contract import ConnectorContract
from tests.helpers import SEEDS, system_settings

ServiceOpsConnector: Any = connector_class("serviceops")
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "serviceops"
SEED = SEEDS / "001_03338e10568f8112.txt"
BASE = "http://serviceops.test"
PERSON = {
    "email": "ada@example.org",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "phone": "+442071234567",
    "mobile": "+447700900123",
    "department": "Analytical Engines",
}


def qualification(*quals: dict[str, Any]) -> dict[str, Any]:
    return {"qualDetails": {"type": "FlatQualificationRest", "quals": list(quals)}}


def relation(key: str, operator: str, value_type: str, value: Any) -> dict[str, Any]:
    return {
        "type": "RelationalQualificationRest",
        "leftOperand": {"type": "PropertyOperandRest", "key": key},
        "operator": operator,
        "rightOperand": {"type": "ValueOperandRest", "value": {"type": value_type, "value": value}},
    }


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def connect(emu: Emulator | None = None, transport: Any = None, **extra: Any) -> Connector:
    emu = emu or ServiceOpsEmulator()
    table = {**ServiceOpsEmulator().system_table(BASE), "retries": 0, "backoff": 0, **extra}
    settings = system_settings("serviceops", table, dict(ServiceOpsEmulator.DEFAULT_ENV))
    return ServiceOpsConnector.build(settings, transport=transport or emu.transport())


async def token(client: httpx.AsyncClient) -> str:
    pair = base64.b64encode(b"sandbox-client:sandbox-secret").decode()
    response = await client.post(
        "/api/oauth/token",
        headers={"Authorization": f"Basic {pair}"},
        data={
            "username": "sandbox-technician",
            "password": "sandbox-password",
            "grant_type": "password",
        },
    )
    assert response.status_code == 200
    return str(response.json()["access_token"])


@asynccontextmanager
async def bearer(emu: ServiceOpsEmulator) -> AsyncIterator[httpx.AsyncClient]:
    """A client holding a fresh token, to probe the emulator with exact requests."""
    async with httpx.AsyncClient(transport=emu.transport(), base_url=BASE) as client:
        client.headers["Authorization"] = f"Bearer {await token(client)}"
        yield client


class TestServiceOpsContract(ConnectorContract):
    name = "serviceops"
    emulator_cls = ServiceOpsEmulator

    def person(self) -> dict[str, Any]:
        return dict(PERSON)


# --- the vendor document's samples ---


@pytest.mark.skipif(not SEED.exists(), reason="vendor document not checked out")
def test_fixtures_are_the_documents_samples() -> None:
    text = SEED.read_text()
    decoder = json.JSONDecoder()
    request_at, response_at = text.index("\n{", text.index("\nRequest\n")), text.rindex("\n{")
    assert decoder.raw_decode(text, request_at + 1)[0] == fixture("create_request_request")
    assert decoder.raw_decode(text, response_at + 1)[0] == fixture("create_request_response")


async def test_token_request_and_bearer_header_are_as_documented() -> None:
    emu = ServiceOpsEmulator()
    conn = connect(emu)
    await conn.list_all()
    await conn.aclose()
    token_call, search = emu.log
    assert (token_call.method, token_call.path) == ("POST", "/api/oauth/token")
    pair = base64.b64encode(b"sandbox-client:sandbox-secret").decode()
    assert token_call.headers["authorization"] == f"Basic {pair}"
    form = dict(httpx.QueryParams(token_call.body.decode()))
    assert form == {
        "username": "sandbox-technician",
        "password": "sandbox-password",
        "grant_type": "password",
    }
    assert search.headers["authorization"].startswith("Bearer ey")  # a JWT
    assert search.path == "/api/v1/requester/search/byqual"
    assert search.json() == {"qualDetails": {"type": "FlatQualificationRest", "quals": []}}


async def test_create_sends_the_documented_requester_keys() -> None:
    emu = ServiceOpsEmulator()
    conn = connect(emu)
    written = await conn.create(conn.settings.mapping.to_system(PERSON, create=True))
    await conn.aclose()
    sent = emu.writes()[-1]
    assert (sent.method, sent.path) == ("POST", "/api/v1/requester")
    assert sent.json() == {
        "name": "Ada Lovelace",
        "email": "ada@example.org",
        "contactNo": "+442071234567",
        "altContactNo1": "+447700900123",
        "departmentName": "Analytical Engines",
    }
    assert written.record is not None and written.record["id"] == int(written.vendor_id)


async def test_request_is_opened_like_the_documents_sample() -> None:
    sample = fixture("create_request_request")
    options = {k: v for k, v in sample.items() if k != "requesterEmail"}
    emu = ServiceOpsEmulator()
    conn = connect(emu, request=options)
    person = {"email": "a@b.com", "first_name": "Utsav"}
    payload = conn.settings.mapping.to_system(person, create=True)
    written = await conn.create(payload, email="a@b.com")
    await conn.after_create(written.vendor_id, payload)  # the engine's call after a create
    await conn.aclose()
    sent = emu.writes()[-1]
    assert (sent.path, sent.status) == ("/api/v1/request", 200)
    assert sent.json() == sample
    assert emu.requests[0]["requesterEmail"] == "a@b.com"


async def test_request_response_sample_parses(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/oauth/token":
            return httpx.Response(200, json={"access_token": "a.b.c", "expires_in": 3600})
        assert request.url.path == "/api/v1/request"
        seen.append(request)
        return httpx.Response(200, json=fixture("create_request_response"))

    conn = connect(transport=httpx.MockTransport(answer), request={"subject": "asdasd"})
    await conn.after_create("1", {"email": "a@b.com"})
    await conn.aclose()
    assert json.loads(seen[0].content) == {"requesterEmail": "a@b.com", "subject": "asdasd"}
    assert "refused" not in caplog.text


async def test_emulator_accepts_every_documented_request_key() -> None:
    emu = ServiceOpsEmulator()
    emu.seed_person({"email": "a@b.com", "first_name": "Utsav"})
    body = {
        **fixture("create_request_request"),
        "categoryName": "Request",
        "locationName": "Head Office",
        "source": "External",
        "fileAttachments": [{"refFileName": "abc", "realName": "xyz.pdf"}],
        "linkAssetIds": [{"assetModel": "asset_hardware", "assetId": 1}],
    }
    async with bearer(emu) as client:
        response = await client.post("/api/v1/request", json=body)
    assert response.status_code == 200
    answer = response.json()
    assert set(fixture("create_request_response")) <= set(answer)
    assert answer["requesterName"] == "Utsav" and answer["name"] == "INC-1"


async def test_a_refused_request_keeps_the_requester() -> None:
    emu = ServiceOpsEmulator()
    conn = connect(emu, request={"subject": "x", "priorityName": "Whenever"})
    payload = conn.settings.mapping.to_system(PERSON, create=True)
    written = await conn.create(payload)
    await conn.after_create(written.vendor_id, payload)
    await conn.aclose()
    assert int(written.vendor_id) in emu.requesters
    assert emu.writes()[-1].status == 400 and emu.requests == []


# --- the emulator is as strict as ServiceOps ---


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/api/v1/requester/1"),
        ("GET", "/api/v1/requester/search/byqual"),
        ("GET", "/api/oauth/token"),
        ("DELETE", "/api/v1/request"),
    ],
)
async def test_emulator_refuses_wrong_verbs(method: str, path: str) -> None:
    emu = ServiceOpsEmulator()
    emu.seed_person(PERSON)
    async with bearer(emu) as client:
        response = await client.request(method, path, json={})
    assert response.status_code == 405


@pytest.mark.parametrize("header", [None, "Bearer not-a-token", "Basic c2FuZGJveDpzZWNyZXQ="])
async def test_emulator_needs_a_bearer_token(header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    async with httpx.AsyncClient(transport=ServiceOpsEmulator().transport(), base_url=BASE) as c:
        response = await c.post(
            "/api/v1/requester/search/byqual", json=qualification(), headers=headers
        )
    assert response.status_code == 401
    assert response.json()["error"] in ("unauthorized", "invalid_token")


async def test_emulator_refuses_bad_client_credentials() -> None:
    async with httpx.AsyncClient(transport=ServiceOpsEmulator().transport(), base_url=BASE) as c:
        response = await c.post(
            "/api/oauth/token", auth=("sandbox-client", "wrong"), data={"grant_type": "password"}
        )
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "Ada", "email": "a@example.org", "nickname": "A"}, "Unknown field nickname"),
        ({"name": "A" * 101, "email": "a@example.org"}, "at most 100 characters"),
        ({"name": "Ada", "email": "a@example.org", "contactNo": "1" * 31}, "at most 30"),
        ({"name": "Ada"}, "email is required"),
        ({"name": "Ada", "email": "a@example.org", "locationName": "Mars"}, "does not exist"),
        ({"name": "Ada", "email": "a@example.org", "vipRequester": "yes"}, "true or false"),
    ],
)
async def test_emulator_refuses_unknown_fields_and_bad_values(
    body: dict[str, Any], message: str
) -> None:
    emu = ServiceOpsEmulator()
    async with bearer(emu) as client:
        response = await client.post("/api/v1/requester", json=body)
    assert response.status_code == 400 and message in response.json()["userMessage"]
    assert emu.requesters == {}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"qualDetails": {"type": "AndQualificationRest", "quals": []}},
        qualification(relation("user.shoeSize", "equal", "StringValueRest", "9")),
        qualification(relation("user.email", "like", "StringValueRest", "a")),
        qualification(relation("user.updatedTime", "greater_than", "TimeValueRest", "soon")),
        qualification(relation("user.email", "equal", "FuzzyValueRest", "a")),
    ],
)
async def test_emulator_refuses_malformed_qualifications(body: dict[str, Any]) -> None:
    async with bearer(ServiceOpsEmulator()) as client:
        response = await client.post("/api/v1/requester/search/byqual", json=body)
    assert response.status_code == 400


async def test_emulator_refuses_unknown_request_keys() -> None:
    emu = ServiceOpsEmulator()
    emu.seed_person(PERSON)
    body = {"subject": "x", "requesterEmail": PERSON["email"], "severity": "high"}
    async with bearer(emu) as client:
        response = await client.post("/api/v1/request", json=body)
    assert response.status_code == 400 and "severity" in response.json()["userMessage"]


# --- quirks ---


async def test_an_expired_token_is_refreshed() -> None:
    emu = ServiceOpsEmulator(token_lifetime=60)
    emu.seed_person(PERSON)
    conn = connect(emu)
    assert len((await conn.list_all()).records) == 1
    emu.clock.advance(120)  # the server's clock passes the token's expiry
    listing = await conn.list_all()
    await conn.aclose()
    assert listing.complete and len(listing.records) == 1
    calls = [(r.path, r.status) for r in emu.log]
    assert calls == [
        ("/api/oauth/token", 200),
        ("/api/v1/requester/search/byqual", 200),
        ("/api/v1/requester/search/byqual", 401),
        ("/api/oauth/token", 200),
        ("/api/v1/requester/search/byqual", 200),
    ]
    assert len(emu.tokens) == 2


def token_fault(kind: str) -> Faults:
    """The first token request answers `kind`; everything after is served."""
    left = [1]

    def script(request: LoggedRequest) -> str | None:
        if request.path == "/api/oauth/token" and left[0]:
            left[0] -= 1
            return kind
        return None

    return Faults(script=script)


@pytest.mark.parametrize("kind", ["503", "429", "500"])
async def test_a_busy_token_server_is_retried(kind: str) -> None:
    emu = ServiceOpsEmulator(faults=token_fault(kind))
    emu.seed_person(PERSON)
    conn = connect(emu, retries=3)
    listing = await conn.list_all()
    await conn.aclose()
    assert listing.complete and len(listing.records) == 1
    calls = [(r.path, r.status) for r in emu.log]
    assert calls == [
        ("/api/oauth/token", int(kind)),
        ("/api/oauth/token", 200),
        ("/api/v1/requester/search/byqual", 200),
    ]


async def test_refused_credentials_are_not_retried() -> None:
    emu = ServiceOpsEmulator()
    table = {**emu.system_table(BASE), "retries": 3, "backoff": 0}
    env = {**ServiceOpsEmulator.DEFAULT_ENV, "SERVICEOPS_PASSWORD": "wrong"}
    settings = system_settings("serviceops", table, env)
    conn = ServiceOpsConnector.build(settings, transport=emu.transport())
    with pytest.raises(AuthError, match="token request refused with HTTP 4"):
        await conn.list_all()
    await conn.aclose()
    assert [r.path for r in emu.log] == ["/api/oauth/token"]


async def test_search_posts_are_retried_as_reads() -> None:
    emu = ServiceOpsEmulator()
    emu.seed_person(PERSON)
    inner, failed = emu.transport(), list[httpx.Request]()

    class FailFirstSearch(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/byqual") and not failed:
                failed.append(request)
                return httpx.Response(503, json={"errorCode": "BUSY", "userMessage": "busy"})
            return await inner.handle_async_request(request)

    conn = connect(emu, transport=FailFirstSearch(), retries=1)
    listing = await conn.list_all()
    found = await conn.find_by_email(PERSON["email"])
    await conn.aclose()
    assert failed and listing.complete and len(listing.records) == 1
    assert found is not None


async def test_incremental_listing_asks_for_newer_than_the_cursor() -> None:
    emu = ServiceOpsEmulator()
    first = emu.seed_person(PERSON)
    conn = connect(emu)
    before = await conn.list_changed(None)
    assert before.cursor == str(emu.requesters[int(first)]["updatedTime"])
    second = emu.seed_person({**PERSON, "email": "grace@example.org"})
    after = await conn.list_changed(before.cursor)
    await conn.aclose()
    assert [r.id for r in after.records] == [first, second]  # the boundary is re-read
    since = relation("user.updatedTime", "greater_than", "TimeValueRest", int(before.cursor) - 1)
    assert emu.log[-1].json() == qualification(since)
    assert after.cursor == str(emu.requesters[int(second)]["updatedTime"])


async def test_lookup_is_by_email_equal() -> None:
    emu = ServiceOpsEmulator()
    vendor_id = emu.seed_person(PERSON)
    conn = connect(emu)
    found = await conn.find_by_email("ada@example.org")
    await conn.aclose()
    assert found is not None and found.id == vendor_id
    assert emu.log[-1].json() == qualification(
        relation("user.email", "equal", "StringValueRest", "ada@example.org")
    )


async def test_paging_follows_total_count() -> None:
    emu = ServiceOpsEmulator()
    ids = [emu.seed_person({"email": f"p{i}@example.org", "first_name": "P"}) for i in range(5)]
    conn = connect(emu, page_size=2)
    listing = await conn.list_all()
    await conn.aclose()
    assert listing.complete and [r.id for r in listing.records] == ids
    assert [r.query for r in emu.log[1:]] == [f"offset={o}&size=2" for o in (0, 2, 4)]


async def test_a_short_page_or_a_shrinking_count_makes_the_listing_incomplete() -> None:
    emu = ServiceOpsEmulator(faults=Faults(rate=1.0, kinds=("truncate",)))
    ids = [emu.seed_person({"email": f"p{i}@example.org", "first_name": "P"}) for i in range(4)]
    conn = connect(emu, page_size=2)
    short = await conn.list_all()
    emu.faults = Faults()
    inner, pages = emu.transport(), []

    class DeleteAfterFirstPage(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            response = await inner.handle_async_request(request)
            if request.url.path.endswith("/byqual"):
                pages.append(request)
                if len(pages) == 1:
                    emu.remove(ids[0])
            return response

    conn2 = connect(emu, transport=DeleteAfterFirstPage(), page_size=2)
    shrunk = await conn2.list_all()
    await conn.aclose()
    await conn2.aclose()
    assert not short.complete and "short" in short.problems[0]
    assert not shrunk.complete and "deleted while paging" in shrunk.problems[0]


async def test_vendor_error_becomes_the_failure_reason() -> None:
    emu = ServiceOpsEmulator()
    conn = connect(emu)
    payload = conn.settings.mapping.to_system(PERSON, create=True)
    await conn.create(payload)
    with pytest.raises(Rejected, match="already exists"):
        await conn.create(payload)
    await conn.aclose()


async def test_update_and_delete_by_id() -> None:
    emu = ServiceOpsEmulator()
    vendor_id = emu.seed_person(PERSON)
    conn = connect(emu)
    record = await conn.update(vendor_id, {"departmentName": "Poetry"}, {})
    await conn.delete(vendor_id)
    await conn.delete(vendor_id)
    await conn.aclose()
    assert record is not None and record["departmentName"] == "Poetry"
    assert [(w.method, w.path, w.status) for w in emu.writes()[1:]] == [
        ("PATCH", f"/api/v1/requester/{vendor_id}", 200),
        ("DELETE", f"/api/v1/requester/{vendor_id}", 200),
        ("DELETE", f"/api/v1/requester/{vendor_id}", 404),
    ]


async def test_bad_user_password_is_an_auth_error() -> None:
    emu = ServiceOpsEmulator()
    table = {**emu.system_table(BASE), "retries": 0}
    env = {**ServiceOpsEmulator.DEFAULT_ENV, "SERVICEOPS_CLIENT_SECRET": "wrong"}
    conn = ServiceOpsConnector.build(
        system_settings("serviceops", table, env), transport=emu.transport()
    )
    with pytest.raises(AuthError):
        await conn.find_by_email("a@example.org")
    await conn.aclose()


def test_emulator_round_trips_people() -> None:
    emu = ServiceOpsEmulator()
    vendor_id = emu.seed_person(PERSON)
    emu.edit(vendor_id, last_name="King", phone="+442070000000")
    assert emu.people() == [
        {**PERSON, "id": vendor_id, "last_name": "King", "phone": "+442070000000"}
    ]
    emu.remove(vendor_id)
    assert emu.people() == []
