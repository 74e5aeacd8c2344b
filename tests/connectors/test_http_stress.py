"""HTTP under stress: timeouts, retries and Retry-After, rate and concurrency limits, creates
that are never resent blindly, and failed listing pages that never delete."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from sqlalchemy import select

from sync.connectors import connector_class
from sync.connectors.base import Connector
from sync.sandbox.base import Faults, LoggedRequest
from sync.sandbox.lightening import LighteningEmulator
from sync.sandbox.onecontact import OneContactEmulator
from sync.sandbox.oracle_b2b import OracleB2BEmulator
from sync.sandbox.superoffice import SuperOfficeEmulator
from sync.store.models import JournalEntry
from tests.helpers import system_settings
from tests.sandbox_world import Sandbox

ADA = {"email": "ada@example.org", "first_name": "Ada", "last_name": "Lovelace"}


def aim(kind: str, when: Any, times: int = 1) -> Any:
    """A Faults.script that injects `kind` into the first `times` requests matching `when`."""
    left = [times]

    def script(r: LoggedRequest) -> str | None:
        if left[0] > 0 and when(r):
            left[0] -= 1
            return kind
        return None

    return script


def creates(emu: Any, tail: str = "/contact") -> list[LoggedRequest]:
    return [r for r in emu.log if r.method == "POST" and r.path.endswith(tail)]


def journal(sb: Sandbox, kind: str = "create") -> list[tuple[int, str, str]]:
    with sb.store.session() as s:
        rows = s.scalars(
            select(JournalEntry).where(JournalEntry.kind == kind).order_by(JournalEntry.id)
        )
        return [(a.run_id, a.system, a.state) for a in rows]


def first_create_meets(tmp: Path, fault: str, **faults: Any) -> tuple[LighteningEmulator, Sandbox]:
    """crm holds Ada, Lightening nothing yet; its first create meets `fault`."""
    light = LighteningEmulator()
    sb = Sandbox(tmp, {"light": light}, {"crm": {}})
    sb.records("crm")["c1"] = {"id": "c1", **ADA}
    is_create = lambda r: r.method == "POST" and r.path.endswith("/contact")  # noqa: E731
    light.faults = Faults(script=aim(fault, is_create), **faults)
    return light, sb


def test_a_create_whose_answer_was_lost_is_looked_up_not_resent(tmp_path: Path) -> None:
    light, sb = first_create_meets(tmp_path, "lost_response")
    first = sb.run()
    assert first.exit_code == 1 and "create failed" in first.system("light").failed[0]["reason"]
    assert journal(sb) == [(first.run_id, "light", "unknown")]
    assert len(light.people()) == 1  # it landed although the answer was lost

    # the next run cannot list or look up Lightening: the create is held, not resent
    is_list = lambda r: r.method == "GET" and r.path.endswith("/contact")  # noqa: E731
    light.faults = Faults(script=aim("503", is_list, times=100))
    held = sb.run()
    assert any("create held" in f["reason"] for f in held.system("light").failed)
    assert len(creates(light)) == 1 and len(light.people()) == 1

    light.faults = Faults()
    third = sb.run()
    assert third.exit_code == 0, third.to_dict()
    assert len(creates(light)) == 1 and len(light.people()) == 1
    assert [state for *_, state in journal(sb)] == ["recovered"]
    assert sb.run().writes == 0


def test_a_lost_onecontact_create_is_resent_only_through_checkrepeated(tmp_path: Path) -> None:
    dialer = OneContactEmulator()
    sb = Sandbox(
        tmp_path, {"dialer": dialer}, {"crm": {}}, tables={"dialer": {"check_repeated": False}}
    )
    sb.records("crm")["c1"] = {"id": "c1", **ADA, "phone": "+44 20 7946 0000"}
    is_create = lambda r: r.method == "POST"  # noqa: E731
    dialer.faults = Faults(script=aim("lost_response", is_create))
    assert sb.run().exit_code == 1
    assert [r.path.rsplit("/", 1)[1] for r in creates(dialer, "")] == ["false"]
    report = sb.run()  # resent through checkrepeated: refused as a repeat, and reported
    [failure] = report.system("dialer").failed
    assert "duplicate check refused it" in failure["reason"]
    assert failure["email"] == "ada@example.org"
    assert len(dialer.people()) == 1
    for _ in range(2):  # recorded: neither sent nor reported again, never duplicated
        later = sb.run()
        assert later.exit_code == 0 and later.system("dialer").failed == []
        assert len(dialer.people()) == 1
    assert [r.path.rsplit("/", 1)[1] for r in creates(dialer, "")] == ["false", "true"]


def test_a_failed_listing_page_makes_the_listing_incomplete_and_deletes_nothing(
    tmp_path: Path,
) -> None:
    oracle = OracleB2BEmulator()
    sb = Sandbox(
        tmp_path,
        {"oracle": oracle},
        {"crm": {}},
        tables={"oracle": {"page_size": 1}},
        max_delete_fraction=1.0,
    )
    for i in range(3):
        sb.records("crm")[f"c{i}"] = {"id": f"c{i}", "email": f"p{i}@example.org", "last_name": "P"}
    assert sb.run().exit_code == 0
    assert len(oracle.people()) == 3

    def later_page(r: LoggedRequest) -> str | None:
        q = parse_qs(r.query).get("q", [""])[0]
        return "500" if r.path.endswith("/contacts") and q.startswith("id>") else None

    oracle.faults = Faults(script=later_page)
    report = sb.run(full_scan=True)
    assert report.system("oracle").listing == "full (incomplete)"
    assert any("listing contacts failed" in f["reason"] for f in report.system("oracle").failed)
    assert len(sb.records("crm")) == 3 and report.system("crm").deleted == 0
    pages = [r for r in oracle.log if r.fault == "500"]
    assert len(pages) == 5  # one page, retried four times, then given up


def test_429_is_retried_after_retry_after_even_for_a_create(tmp_path: Path) -> None:
    light, sb = first_create_meets(tmp_path, "429", retry_after="0.4")
    started = time.monotonic()
    report = sb.run()
    assert report.exit_code == 0, report.to_dict()
    assert time.monotonic() - started >= 0.4
    assert [r.status for r in creates(light)] == [429, 200]
    assert len(light.people()) == 1


def test_a_create_that_met_a_server_error_is_not_resent_in_the_run(tmp_path: Path) -> None:
    light, sb = first_create_meets(tmp_path, "502")
    assert sb.run().exit_code == 1
    assert len(creates(light)) == 1 and light.people() == []
    assert sb.run().exit_code == 0  # looked up, not found: sent again
    assert len(creates(light)) == 2 and len(light.people()) == 1


def superoffice(emu: SuperOfficeEmulator, **extra: Any) -> Connector:
    table = {**emu.system_table("http://so.test"), "backoff": 0, **extra}
    settings = system_settings("so", table, dict(emu.DEFAULT_ENV))
    cls = connector_class("superoffice")
    assert cls is not None
    return cls.build(settings, transport=emu.transport())


async def test_timeouts_retry_reads_without_waiting_for_the_slow_answer() -> None:
    emu = SuperOfficeEmulator(entity="Person")
    emu.seed_person(ADA)
    emu.faults = Faults(script=aim("timeout", lambda r: r.method == "GET"), timeout_delay=5)
    conn = superoffice(emu, timeout=0.3)
    started = time.monotonic()
    try:
        listing = await conn.list_all()
    finally:
        await conn.aclose()
    assert listing.complete and len(listing.records) == 1
    assert time.monotonic() - started < 3
    assert emu.log[0].fault == "timeout"


async def test_rate_and_concurrency_limits_hold() -> None:
    emu = SuperOfficeEmulator(entity="Person", latency=0.05)
    for i in range(6):
        emu.seed_person({**ADA, "email": f"p{i}@example.org"})
    flying, most = [0], [0]

    def count(_r: LoggedRequest, phase: str) -> None:
        flying[0] += 1 if phase == "received" else -1
        most[0] = max(most[0], flying[0])

    emu.on_request = count
    conn = superoffice(emu, concurrency=2, rate_limit=20)
    started = time.monotonic()
    try:
        listing = await conn.list_all()
    finally:
        await conn.aclose()
    assert len(listing.records) == 6
    assert most[0] == 2  # six entity GETs at once, two at a time
    assert time.monotonic() - started >= (len(emu.log) - 1) / 20
