"""Issue 16.1: no create goes to a system whose listing failed or was cut short this run: it
may hold the contact already, unseen. The create waits for a run whose listing is complete
(which either shows the record, to be linked, or shows it missing). Write-only systems are
never listed and are written as before."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.types import Receive, Scope, Send

from sync.sandbox.lightening import LighteningEmulator
from tests.engine_helpers import World, cut_short
from tests.sandbox_world import Sandbox

HTML = b"<html><head><title>Maintenance</title></head><body>Back soon</body></html>"


class MaintenancePage(LighteningEmulator):
    """Lightening behind a proxy that, while `down`, answers its listing with an HTML page
    and status 200 (a maintenance page, a captive portal, a misrouted request)."""

    down = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        listing = scope["type"] == "http" and scope["method"] == "GET"
        if self.down and listing and scope["path"].endswith("/contact"):
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"text/html")],
                }
            )
            await send({"type": "http.response.body", "body": HTML})
            return
        await super().__call__(scope, receive, send)


def creates_of(emu: LighteningEmulator) -> list[str]:
    return [
        str(r.json().get("email"))
        for r in emu.log
        if r.method == "POST" and r.path.endswith("/contact")
    ]


def test_no_create_into_a_system_whose_listing_answered_an_html_page(tmp_path: Path) -> None:
    light = MaintenancePage()
    sb = Sandbox(tmp_path, {"light": light}, {"crm": {}, "dialer": {"write_only": True}})
    crm = sb.records("crm")
    crm["c1"] = {"id": "c1", "email": "ada@example.org", "first_name": "Ada", "last_name": "L"}
    assert sb.run().exit_code == 0
    # a person adds both@ to Lightening and to the CRM, and only@ to the CRM
    light.seed_person({"email": "both@example.org", "first_name": "Bo", "last_name": "Th"})
    crm["c2"] = {"id": "c2", "email": "both@example.org", "first_name": "Bo", "last_name": "Th"}
    crm["c3"] = {"id": "c3", "email": "only@example.org", "first_name": "On", "last_name": "Ly"}
    light.down = True
    down = sb.run()
    assert down.exit_code == 1 and not down.system("light").listed
    assert creates_of(light) == ["ada@example.org"], "a create went to the unlisted system"
    assert down.system("light").deferred == 2
    dialed = {p["email"] for p in sb.people("dialer")}
    assert dialed == {"ada@example.org", "both@example.org", "only@example.org"}, "write-only"
    light.down = False
    back = sb.run()
    assert back.exit_code == 0, back.to_dict()
    held = sorted(str(p["email"]) for p in light.people())
    assert held == ["ada@example.org", "both@example.org", "only@example.org"]
    assert creates_of(light) == ["ada@example.org", "only@example.org"], "both@ created twice"
    assert sb.run().writes == 0


@pytest.mark.usefixtures("backend")
def test_no_create_into_a_memory_system_whose_listing_was_cut_short(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = World(tmp_path, ["crm", "desk"])
    w.add("crm", email="ada@example.org", title="Analyst")
    w.sync()
    w.add("crm", email="bo@example.org", title="Pilot")
    w.add("desk", email="bo@example.org", title="Pilot")
    w.add("crm", email="cy@example.org")
    with monkeypatch.context() as m:
        cut_short(m, "desk")
        short = w.sync()
        assert short.system("desk").created == 0 and short.system("desk").deferred == 2
        assert len(w.records("desk")) == 2
        again = w.sync()  # still cut short: still nothing, and no duplicate
        assert again.system("desk").created == 0 and len(w.records("desk")) == 2
    report = w.sync()
    assert report.system("desk").created == 1 and report.exit_code == 0
    emails = sorted(str(r["email"]) for r in w.records("desk").values())
    assert emails == ["ada@example.org", "bo@example.org", "cy@example.org"]
    assert w.sync().writes == 0


def people(records: dict[str, dict[str, Any]]) -> list[str]:
    return sorted(str(r["email"]) for r in records.values())
