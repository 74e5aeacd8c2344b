"""What an independent emulator written from the same documents caught (issue 12, 5-10),
each shown through the connector or the engine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from sync.connectors import connector_class
from sync.errors import OutcomeUnknown, RecordError
from sync.sandbox.oracle_b2b import OracleB2BEmulator
from sync.sandbox.superoffice import COUNTRIES, SuperOfficeEmulator
from tests.helpers import system_settings
from tests.sandbox_world import Sandbox

# a create answered 2xx without an ID, as each vendor would answer it
NO_ID = {
    "oracle_b2b": (201, {"lookupName": "Ada Lovelace"}),
    "serviceops": (200, {"name": "Ada Lovelace"}),
    "superoffice": (200, {"Name": "Acme"}),
    "lightening": (200, {"msg": "Successfully created entity.", "result": True}),
    "onecontact": (200, {"success": True}),
    "hubspot": (201, {"properties": {"email": "ada@example.org"}}),
}


@pytest.mark.parametrize("vendor", sorted(NO_ID))
async def test_an_answer_without_an_id_is_an_unknown_outcome(vendor: str) -> None:
    """It may have landed: never Rejected (journalled failed, never looked up again)."""
    from sync.sandbox.serve import emulator_for

    emu: Any = emulator_for(vendor)
    status, body = NO_ID[vendor]

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth/token"):
            return httpx.Response(200, json={"access_token": "a.b.c", "expires_in": 3600})
        return httpx.Response(status, json=body)

    settings = system_settings(vendor, emu.system_table(f"http://{vendor}.test"), emu.DEFAULT_ENV)
    cls = connector_class(vendor)
    assert cls is not None
    conn = cls.build(settings, transport=httpx.MockTransport(answer))
    payload = {"Name": "Acme"} if vendor == "superoffice" else {"name": "Ada Lovelace"}
    with pytest.raises(OutcomeUnknown, match="without an ID"):
        await conn.create(payload)
    await conn.aclose()


def superoffice(emu: SuperOfficeEmulator) -> Any:
    cls = connector_class("superoffice")
    assert cls is not None
    settings = system_settings(
        "so", {**emu.system_table("http://so.test"), "retries": 0}, emu.DEFAULT_ENV
    )
    return cls.build(settings, transport=emu.transport())


async def test_superoffice_countries_go_by_the_installations_own_country_list() -> None:
    emu = SuperOfficeEmulator(entity="Person")
    conn = superoffice(emu)
    mapping = conn.settings.mapping
    person = {"email": "li@example.org", "first_name": "Li", "last_name": "Wei", "country": "CN"}
    written = await conn.create(mapping.to_system(person, create=True))
    (post,) = [r for r in emu.log if r.method == "POST"]
    # never {"CountryId": "CN"}: the number this installation gives China (not an ISO number)
    assert post.json()["Country"] == {"CountryId": COUNTRIES["CN"][0]}
    assert isinstance(post.json()["Country"]["CountryId"], int)
    assert [r.path for r in emu.log if r.path.endswith("/Items")] == [
        "/Cust12345/api/v1/List/Country/Items"
    ]
    listing = await conn.list_all()
    (record,) = [r for r in listing.records if r.id == written.vendor_id]
    assert mapping.from_system(record.data, _schema())["country"] == "CN"
    # a country the installation does not know fails that record, before anything is sent
    emu.log.clear()
    with pytest.raises(RecordError, match="country 'XX' is not in SuperOffice's list"):
        await conn.create(mapping.to_system({**person, "country": "XX"}, create=True))
    assert [r.method for r in emu.log] == []
    await conn.aclose()


def _schema() -> Any:
    from sync.contact import Schema

    return Schema()


async def test_superoffice_refuses_a_country_that_is_not_a_number_and_the_reason_is_read() -> None:
    """CountryId is int32 in SuperOffice's Swagger: ASP.NET answers ModelState, which the
    connector reads into the reason (not just "BadRequest")."""
    emu = SuperOfficeEmulator()
    conn = superoffice(emu)
    raw = httpx.AsyncClient(
        transport=emu.transport(),
        base_url="http://so.test/Cust12345/api/v1/",
        headers={
            "Authorization": f"SOTicket {emu.DEFAULT_ENV['SUPEROFFICE_TICKET']}",
            "SO-AppToken": emu.DEFAULT_ENV["SUPEROFFICE_APP_TOKEN"],
        },
    )
    answer = await raw.post("Contact", json={"Name": "Acme", "Country": {"CountryId": "CN"}})
    await raw.aclose()
    assert answer.status_code == 400 and "ModelState" in answer.json()
    reason = type(conn).describe_error(answer)
    assert reason is not None and 'converting value "CN"' in reason and "CountryId" in reason
    await conn.aclose()
    assert emu.store["Contact"] == {}


def test_an_oracle_create_rewrites_nothing_on_the_next_runs(tmp_path: Path) -> None:
    """Oracle sets `disabled: false` itself: that default must not come back as a change on
    the next listing and rewrite another system's row (defect 9)."""
    oracle = OracleB2BEmulator()
    sb = Sandbox(tmp_path, {"oracle": oracle}, {"crm": {}})
    sb.records("crm")["c1"] = {"id": "c1", "email": "ada@example.org", "last_name": "Lovelace"}
    before = json.dumps(sb.records("crm"), sort_keys=True)
    first = sb.run()
    assert first.system("oracle").created == 1
    for _ in range(2):
        report = sb.run(full_scan=True)
        assert report.writes == 0, report.to_dict()
    assert json.dumps(sb.records("crm"), sort_keys=True) == before
    assert [r.method for r in oracle.writes()] == ["POST"]


def test_a_system_listed_empty_on_its_first_run_then_lists_changes(tmp_path: Path) -> None:
    oracle = OracleB2BEmulator()
    sb = Sandbox(tmp_path, {"oracle": oracle}, {"crm": {}})
    assert sb.run().system("oracle").listing == "full"
    oracle.seed_person({"email": "new@example.org", "last_name": "New"})
    second = sb.run()
    assert second.system("oracle").listing == "changes"
    assert [p["email"] for p in sb.people("crm")] == ["new@example.org"]
