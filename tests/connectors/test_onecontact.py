"""OneContact: the contract, the document's samples, the emulator's strictness, the quirks."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sync.connectors import connector_class
from sync.connectors.base import Connector
from sync.errors import AlreadyExists, ConfigError, Rejected
from sync.sandbox.onecontact import OneContactEmulator
from tests.connectors.contract import ConnectorContract
from tests.helpers import SEEDS, system_settings

OneContactConnector: Any = connector_class("onecontact")
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "onecontact"
BASE = "http://onecontact.test/standard/api/v1"
SEED = (SEEDS / "004_fe75bcfdeb1856cf.txt").read_text(encoding="utf-8")
# the curl samples' bodies, in document order: create, then update
CREATE_SAMPLE, UPDATE_SAMPLE = (json.loads(b) for b in re.findall(r"-d '(\{.*\})'", SEED))
RESPONSES = json.loads((FIXTURES / "responses.json").read_text())


class TestOneContactContract(ConnectorContract):
    name = "onecontact"
    emulator_cls = OneContactEmulator
    update_of_missing_is_not_found = False  # {"success": false} says nothing more

    def person(self) -> dict[str, Any]:
        return {
            "email": "ada@example.org",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "phone": "+14155550100",
            "company": "Analytical Engines",
        }


CONTRACT = TestOneContactContract()
SAMPLE_MAPPING = "tests/fixtures/onecontact/sample_mapping.toml"


@pytest.fixture
async def pair() -> AsyncIterator[tuple[Connector, OneContactEmulator]]:
    emu = OneContactEmulator()
    conn = CONTRACT.connect(emu)
    yield conn, emu
    await conn.aclose()


def answering(body: Any, seen: list[httpx.Request]) -> Connector:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=body)

    return OneContactConnector.build(CONTRACT.settings(), transport=httpx.MockTransport(handler))


def raw_client(emu: OneContactEmulator, **headers: str) -> httpx.AsyncClient:
    default = {"Authorization": f"Bearer {emu.token}", "Content-Type": "application/json"}
    merged = {k: v for k, v in {**default, **headers}.items() if v}
    return httpx.AsyncClient(transport=emu.transport(), base_url=BASE, headers=merged)


# --- the document's samples ---


def test_the_seed_samples_were_read() -> None:
    assert CREATE_SAMPLE["Address"] == UPDATE_SAMPLE["Address"] == "91112111"
    assert UPDATE_SAMPLE["Metadata"] == [{"Name": "URL", "Type": "231", "Value": "updated"}]


async def test_create_body_for_the_curl_sample_equals_it() -> None:
    emu = OneContactEmulator()
    conn = CONTRACT.connect(emu, CONTRACT.settings(mapping=SAMPLE_MAPPING))
    person = {"phone": "91112111", "metadata1": "created"}
    payload = conn.settings.mapping.to_system(person, create=True)
    written = await conn.create(payload)
    await conn.aclose()
    (post,) = emu.log
    assert post.method == "POST" and post.path == "/standard/api/v1/service/484/contacts/true"
    assert post.headers["authorization"] == "Bearer " + emu.token
    assert post.headers["content-type"] == "application/json"
    assert post.json() == CREATE_SAMPLE
    assert written.vendor_id == "1" and written.record == CREATE_SAMPLE


async def test_update_body_for_the_curl_sample_carries_its_fields() -> None:
    emu = OneContactEmulator()
    conn = CONTRACT.connect(emu, CONTRACT.settings(mapping=SAMPLE_MAPPING))
    mapping = conn.settings.mapping
    person = {"phone": "91112111", "metadata1": "created"}
    written = await conn.create(mapping.to_system(person, create=True))
    changed = {**person, "url": "updated"}
    await conn.update(
        written.vendor_id, mapping.to_system(changed, ["url"]), mapping.to_system(changed)
    )
    await conn.aclose()
    put = emu.log[-1]
    assert put.method == "PUT"
    assert put.path == f"/standard/api/v1/service/484/contacts/{written.vendor_id}"
    body = put.json()
    assert body["Address"] == UPDATE_SAMPLE["Address"]
    assert body["NextTry"] == UPDATE_SAMPLE["NextTry"]
    assert UPDATE_SAMPLE["Metadata"][0] in body["Metadata"]
    assert set(body) <= set(UPDATE_SAMPLE) | {"Metadata"}


async def test_emulator_accepts_the_documents_sample_bodies_verbatim() -> None:
    emu = OneContactEmulator()
    async with raw_client(emu) as http:
        created = (await http.post("service/484/contacts/true", json=CREATE_SAMPLE)).json()
        assert created == {"success": True, "data": 1}
        updated = await http.put("service/484/contacts/1", json=UPDATE_SAMPLE)
        assert updated.json()["success"] is True
        deleted = await http.delete("service/484/contacts/1")
        assert deleted.json()["success"] is True
    assert emu.store == {}


async def test_documented_success_answer_gives_the_id() -> None:
    seen: list[httpx.Request] = []
    conn = answering(RESPONSES["success"], seen)
    written = await conn.create({"Address": "91112111", "Priority": "1"})
    assert written.vendor_id == "14"
    assert written.record == {"Address": "91112111", "Priority": "1"}
    assert await conn.update("14", {"Priority": "2"}, {"Address": "91112111"}) is None
    await conn.delete("14")
    await conn.aclose()
    assert [r.method for r in seen] == ["POST", "PUT", "DELETE"]


async def test_documented_failure_answer_is_rejected() -> None:
    seen: list[httpx.Request] = []
    conn = answering(RESPONSES["failure"], seen)
    with pytest.raises(Rejected, match="'91112111'"):
        await conn.create({"Address": "91112111"})
    with pytest.raises(Rejected, match="contact 14"):
        await conn.update("14", {"Priority": "2"}, {"Address": "91112111"})
    await conn.delete("14")  # an unknown ID: already gone
    await conn.aclose()


# --- the emulator is as strict as the document ---


async def test_emulator_refuses_wrong_verbs() -> None:
    emu = OneContactEmulator()
    contact_id = emu.seed_person({"phone": "+14155550100"})
    async with raw_client(emu) as http:
        assert (await http.get(f"service/484/contacts/{contact_id}")).status_code == 405
        assert (await http.get("service/484/contacts/true")).status_code == 405
        patch = await http.patch(f"service/484/contacts/{contact_id}", json={"Priority": "2"})
        assert patch.status_code == 405
        post = await http.post(f"service/484/contacts/{contact_id}", json={"Address": "1"})
        assert post.status_code == 405
    assert list(emu.store) == [contact_id]


async def test_emulator_refuses_missing_or_bad_authorization_and_content_type() -> None:
    emu = OneContactEmulator()
    contact_id = emu.seed_person({"phone": "+14155550100"})
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer wrong"}):
        async with raw_client(emu, **headers) as http:
            answer = await http.post("service/484/contacts/true", json=CREATE_SAMPLE)
            assert answer.status_code == 401
            assert (await http.delete(f"service/484/contacts/{contact_id}")).status_code == 401
    async with raw_client(emu, **{"Content-Type": ""}) as http:
        answer = await http.post("service/484/contacts/true", content=json.dumps(CREATE_SAMPLE))
        assert answer.status_code == 415
        assert (await http.delete(f"service/484/contacts/{contact_id}")).status_code == 415
    assert list(emu.store) == [contact_id]


@pytest.mark.parametrize(
    "change",
    [
        {"Name": "Ada"},  # not a documented field
        {"NextTry": "2018-04-25 12:00:00"},
        {"NextTry": "2018-13-25T12:00:00"},
        {"Priority": "high"},
        {"Metadata": {"Name": "Metadata1", "Type": "string", "Value": "x"}},
        {"Metadata": [{"Name": "Metadata1", "Type": "string"}]},
        {"Metadata": [{"Name": "Metadata1", "Type": "text", "Value": "x"}]},
        {"Metadata": [{"Name": "Metadata1", "Type": "56", "Value": "many"}]},
        {"Metadata": [{"Name": "Metadata1", "Type": "datetime", "Value": "yesterday"}]},
        {"Metadata": [{"Name": "Metadata1", "Type": "104", "Value": "maybe"}]},
        {"Metadata": [{"Name": "Metadata1", "Type": "string", "Value": "x", "Extra": 1}]},
        {"Metadata": [{"Name": "NoSuchExtra", "Type": "string", "Value": "x"}]},
    ],
)
async def test_emulator_refuses_bodies_the_document_does_not_allow(change: dict[str, Any]) -> None:
    emu = OneContactEmulator()
    contact_id = emu.seed_person({"phone": "+14155550100"})
    before = json.dumps(emu.store)
    async with raw_client(emu) as http:
        body = {**CREATE_SAMPLE, **change}
        assert (await http.post("service/484/contacts/false", json=body)).json() == {
            "success": False
        }
        answer = await http.put(f"service/484/contacts/{contact_id}", json=body)
        assert answer.json() == {"success": False}
    assert json.dumps(emu.store) == before


async def test_emulator_accepts_every_documented_metadata_type() -> None:
    emu = OneContactEmulator(extras=("A", "B", "C", "D"))
    items = [
        {"Name": "A", "Type": "231", "Value": "text"},
        {"Name": "B", "Type": "int", "Value": "42"},
        {"Name": "C", "Type": "61", "Value": "2018-04-25T12:00:00"},
        {"Name": "D", "Type": "boolean", "Value": "true"},
    ]
    async with raw_client(emu) as http:
        answer = await http.post(
            "service/484/contacts/true", json={"Address": "1", "Metadata": items}
        )
    assert answer.json() == {"success": True, "data": 1}


async def test_emulator_unknown_ids_and_services_fail() -> None:
    emu = OneContactEmulator()
    async with raw_client(emu) as http:
        assert (await http.put("service/484/contacts/99", json=CREATE_SAMPLE)).json() == {
            "success": False
        }
        assert (await http.delete("service/484/contacts/99")).json() == {"success": False}
        answer = await http.post("service/485/contacts/true", json=CREATE_SAMPLE)
        assert answer.json() == {"success": False}
        assert (await http.post("service/484/contacts/true", content=b"")).json() == {
            "success": False
        }


# --- quirks ---


async def test_checkrepeated_refuses_a_second_contact_with_the_same_address(pair: Any) -> None:
    conn, emu = pair
    mapping = conn.settings.mapping
    person = CONTRACT.person()
    await conn.create(mapping.to_system(person, create=True))
    again = {**person, "email": "other@example.org"}
    # the vendor's duplicate check: it holds the contact already (the engine's `unlinked`)
    with pytest.raises(AlreadyExists, match=r"duplicate check.*Address '\+14155550100'"):
        await conn.create(mapping.to_system(again, create=True))
    assert len(emu.store) == 1
    assert [r.path.rsplit("/", 1)[1] for r in emu.log] == ["true", "true"]


async def test_without_checkrepeated_a_refusal_is_no_proof_of_a_repeat() -> None:
    emu = OneContactEmulator(extras=("Email",))  # the service knows no FirstName extra
    conn = CONTRACT.connect(emu, CONTRACT.settings(check_repeated=False))
    with pytest.raises(Rejected, match="mandatory") as refused:
        await conn.create(conn.settings.mapping.to_system(CONTRACT.person(), create=True))
    await conn.aclose()
    assert not isinstance(refused.value, AlreadyExists)


async def test_without_checkrepeated_the_same_address_is_created_twice() -> None:
    emu = OneContactEmulator()
    conn = CONTRACT.connect(emu, CONTRACT.settings(check_repeated=False))
    payload = conn.settings.mapping.to_system(CONTRACT.person(), create=True)
    first = await conn.create(payload)
    second = await conn.create(payload)
    await conn.aclose()
    assert first.vendor_id != second.vendor_id and len(emu.store) == 2
    assert all(r.path.endswith("/contacts/false") for r in emu.log)


async def test_write_only_connector_never_sends_a_get(pair: Any) -> None:
    conn, emu = pair
    assert not (conn.can_list or conn.can_list_changes or conn.can_find_by_email)
    mapping = conn.settings.mapping
    person = CONTRACT.person()
    written = await conn.create(mapping.to_system(person, create=True))
    changed = {**person, "company": None, "first_name": "Augusta Ada"}
    await conn.update(
        written.vendor_id,
        mapping.to_system(changed, ["company", "first_name"]),
        mapping.to_system(changed),
    )
    await conn.delete(written.vendor_id)
    await conn.delete(written.vendor_id)
    assert [r.method for r in emu.log] == ["POST", "PUT", "DELETE", "DELETE"]
    assert emu.store == {}
    with pytest.raises(NotImplementedError):
        await conn.list_all()


async def test_create_returns_what_was_sent_and_people_shows_it(pair: Any) -> None:
    conn, emu = pair
    mapping = conn.settings.mapping
    person = CONTRACT.person()
    written = await conn.create(mapping.to_system(person, create=True))
    assert written.record == emu.log[0].json()
    assert written.record["Priority"] == "1"
    assert {"Name": "Email", "Type": "string", "Value": "ada@example.org"} in written.record[
        "Metadata"
    ]
    assert emu.people() == [{"id": written.vendor_id, **person}]


async def test_update_sends_the_whole_contact_and_clears_with_empty_values(pair: Any) -> None:
    conn, emu = pair
    mapping = conn.settings.mapping
    person = CONTRACT.person()
    written = await conn.create(mapping.to_system(person, create=True))
    changed = {**person, "company": None}
    await conn.update(
        written.vendor_id, mapping.to_system(changed, ["company"]), mapping.to_system(changed)
    )
    body = emu.log[-1].json()
    assert body["Address"] == "+14155550100"
    assert {"Name": "Company", "Type": "string", "Value": ""} in body["Metadata"]
    assert {"Name": "Email", "Type": "string", "Value": "ada@example.org"} in body["Metadata"]
    kept = {k: v for k, v in changed.items() if v is not None}
    assert emu.people() == [{"id": written.vendor_id, **kept}]


async def test_update_of_a_contact_deleted_in_onecontact_is_rejected(pair: Any) -> None:
    conn, emu = pair
    contact_id = emu.seed_person(CONTRACT.person())
    emu.remove(contact_id)
    with pytest.raises(Rejected, match=f"contact {contact_id}"):
        await conn.update(contact_id, {"Address": "+1"}, {"Address": "+14155550100"})


async def test_delete_sends_json_content_type_and_no_body(pair: Any) -> None:
    conn, emu = pair
    contact_id = emu.seed_person(CONTRACT.person())
    await conn.delete(contact_id)
    (call,) = emu.log
    assert call.method == "DELETE" and call.body == b""
    assert call.headers["content-type"] == "application/json"
    assert call.path == f"/standard/api/v1/service/484/contacts/{contact_id}"


def test_contacts_without_a_phone_never_go_to_onecontact() -> None:
    mapping = CONTRACT.settings().mapping
    assert not mapping.passes_filter({"email": "ada@example.org", "first_name": "Ada"})
    assert mapping.passes_filter({"email": "ada@example.org", "phone": "+14155550100"})


def test_options_are_checked() -> None:
    table = CONTRACT.table()
    del table["service_id"]
    with pytest.raises(ConfigError, match="service_id"):
        system_settings("o", table, CONTRACT.env())
    with pytest.raises(
        ConfigError, match="'none' will not do: OneContact needs an Authorization header"
    ):
        system_settings("o", {**CONTRACT.table(), "auth": {"kind": "none"}}, CONTRACT.env())
    options: Any = CONTRACT.settings().options
    assert options.check_repeated is True
