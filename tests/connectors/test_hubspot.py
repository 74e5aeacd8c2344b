"""HubSpot, declared in vendors/hubspot.toml alone: the contract, the emulator's strictness
(from HubSpot's v3 reference), and what the vendor file says about paging, changes, archived
contacts and the budget headers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sync.connectors import connector_class
from sync.errors import QuotaExhausted
from sync.sandbox.hubspot import PREFIX, TOKEN, HubSpotEmulator
from tests.connectors.contract import ConnectorContract

BASE = "http://hubspot.test"
ADA = {
    "email": "ada@example.org",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "phone": "+442071234567",
    "company": "Analytical Engines",
    "title": "Analyst",
    "city": "London",
    "country": "GB",
}


class TestHubSpotContract(ConnectorContract):
    name = "hubspot"
    emulator_cls = HubSpotEmulator

    def person(self) -> dict[str, Any]:
        return dict(ADA)


CONTRACT = TestHubSpotContract()


def test_the_vendor_is_data_alone() -> None:
    cls: Any = connector_class("hubspot")
    assert cls.vendor.hooks is None
    assert cls.__mro__[1].__name__ == "RestConnector"


def raw(emu: HubSpotEmulator, token: str | None = TOKEN) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(transport=emu.transport(), base_url=BASE, headers=headers)


async def test_create_and_update_send_properties_and_clear_with_empty_text() -> None:
    emu = HubSpotEmulator()
    conn = CONTRACT.connect(emu)
    mapping = conn.settings.mapping
    written = await conn.create(mapping.to_system(ADA, create=True))
    changed = {**ADA, "company": None, "title": "Countess"}
    answer = await conn.update(
        written.vendor_id, mapping.to_system(changed, ["company", "title"]), {}
    )
    await conn.aclose()
    post, patch = emu.writes()
    assert post.json() == {
        "properties": {
            "email": "ada@example.org",
            "firstname": "Ada",
            "lastname": "Lovelace",
            "phone": "+442071234567",
            "company": "Analytical Engines",
            "jobtitle": "Analyst",
            "city": "London",
            "country": "GB",
        }
    }
    assert patch.method == "PATCH" and patch.json() == {
        "properties": {"company": "", "jobtitle": "Countess"}
    }
    assert answer is not None and answer["properties"]["jobtitle"] == "Countess"
    (person,) = emu.people()
    assert "company" not in person and person["title"] == "Countess"


async def test_listing_pages_by_the_after_token_and_asks_for_the_mapped_properties() -> None:
    emu = HubSpotEmulator()
    ids = [emu.seed_person({**ADA, "email": f"p{i}@example.org"}) for i in range(5)]
    conn = CONTRACT.connect(emu, CONTRACT.settings(page_size=2))
    listing = await conn.list_all()
    await conn.aclose()
    assert listing.complete and [r.id for r in listing.records] == ids
    pages = [httpx.QueryParams(r.query) for r in emu.log]
    assert [p.get("after") for p in pages] == [None, ids[2], ids[4]]
    asked = set(pages[0]["properties"].split(","))
    assert {"email", "firstname", "lastname", "jobtitle", "zip", "country"} <= asked


async def test_changes_come_from_the_search_on_lastmodifieddate() -> None:
    emu = HubSpotEmulator()
    first = emu.seed_person(ADA)
    conn = CONTRACT.connect(emu)
    emu.clock.advance(2)
    before = await conn.list_changed(None)
    second = emu.seed_person({**ADA, "email": "grace@example.org"})
    after = await conn.list_changed(before.cursor)
    await conn.aclose()
    assert [r.id for r in before.records] == [first]
    assert [r.id for r in after.records] == [second]
    search = emu.log[-1]
    assert search.method == "POST" and search.path == PREFIX + "/search"
    (group,) = search.json()["filterGroups"]
    (condition,) = group["filters"]
    assert condition["propertyName"] == "lastmodifieddate" and condition["operator"] == "GTE"
    assert condition["value"].isdigit()  # epoch milliseconds


async def test_an_archived_contact_leaves_the_listing_and_deleting_twice_is_fine() -> None:
    emu = HubSpotEmulator()
    kept = emu.seed_person(ADA)
    gone = emu.seed_person({**ADA, "email": "gone@example.org"})
    conn = CONTRACT.connect(emu)
    await conn.delete(gone)
    await conn.delete(gone)  # archived already: 404, counted as deleted
    listing = await conn.list_all()
    found = await conn.find_by_email("gone@example.org")
    await conn.aclose()
    assert [r.id for r in listing.records] == [kept]
    assert found is None
    assert emu.contacts[int(gone)]["archived"] is True


async def test_the_budget_headers_pace_requests_instead_of_drawing_429s() -> None:
    emu = HubSpotEmulator(burst=3, window_ms=300)
    for i in range(4):
        emu.seed_person({**ADA, "email": f"p{i}@example.org"})
    conn = CONTRACT.connect(emu, CONTRACT.settings(retries=0))
    for i in range(4):
        assert await conn.find_by_email(f"p{i}@example.org") is not None
    await conn.aclose()
    assert [r.status for r in emu.log] == [200, 200, 200, 200]


async def test_a_spent_daily_quota_stops_the_system() -> None:
    emu = HubSpotEmulator(daily=2)
    emu.seed_person(ADA)
    conn = CONTRACT.connect(emu)
    await conn.find_by_email(ADA["email"])
    await conn.find_by_email(ADA["email"])  # the answer says: nothing left today
    with pytest.raises(QuotaExhausted):
        await conn.find_by_email(ADA["email"])
    await conn.aclose()
    assert len(emu.log) == 2


async def test_a_duplicate_email_is_refused_with_hubspots_reason() -> None:
    emu = HubSpotEmulator()
    existing = emu.seed_person(ADA)
    conn = CONTRACT.connect(emu)
    from sync.errors import Rejected

    with pytest.raises(Rejected, match=f"Contact already exists. Existing ID: {existing}"):
        await conn.create(conn.settings.mapping.to_system(ADA, create=True))
    await conn.aclose()


# --- the emulator is as strict as HubSpot's reference ---


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"properties": {"nickname": "A"}}, "PROPERTY_DOESNT_EXIST"),
        ({"properties": {"email": "not-an-email"}}, "INVALID_EMAIL"),
        ({"properties": {"hs_object_id": "1"}}, "READ_ONLY_VALUE"),
        ({"email": "a@example.org"}, "the body takes properties"),
    ],
)
async def test_emulator_refuses_what_hubspot_refuses(body: dict[str, Any], error: str) -> None:
    emu = HubSpotEmulator()
    async with raw(emu) as client:
        answer = await client.post(PREFIX, json=body)
    assert answer.status_code == 400 and error in answer.json()["message"]
    assert answer.json()["status"] == "error" and emu.contacts == {}


async def test_emulator_needs_the_bearer_token() -> None:
    async with raw(HubSpotEmulator(), token="wrong") as client:
        answer = await client.get(PREFIX)
    assert answer.status_code == 401 and answer.json()["category"] == "INVALID_AUTHENTICATION"


@pytest.mark.parametrize(
    "search",
    [
        {"limit": 201},
        {"after": "9950", "limit": 100},
        {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "LIKE"}]}]},
        {"sorts": [{"propertyName": "email"}, {"propertyName": "city"}]},
        {"nonsense": True},
    ],
)
async def test_emulator_refuses_searches_beyond_the_reference(search: dict[str, Any]) -> None:
    async with raw(HubSpotEmulator()) as client:
        answer = await client.post(PREFIX + "/search", json=search)
    assert answer.status_code == 400


async def test_emulator_limits_searches_to_a_few_a_second() -> None:
    emu = HubSpotEmulator(search_rate=2)
    async with raw(emu) as client:
        statuses = [(await client.post(PREFIX + "/search", json={})).status_code for _ in range(3)]
        emu.clock.advance(1.1)
        later = await client.post(PREFIX + "/search", json={})
    assert statuses == [200, 200, 429] and later.status_code == 200


def test_emulator_round_trips_people() -> None:
    emu = HubSpotEmulator()
    vendor_id = emu.seed_person(ADA)
    emu.edit(vendor_id, city="Paris", title=None)
    (person,) = emu.people()
    assert person == {
        **{k: v for k, v in ADA.items() if k != "title"},
        "id": vendor_id,
        "city": "Paris",
    }
    emu.remove(vendor_id)
    assert emu.people() == []
