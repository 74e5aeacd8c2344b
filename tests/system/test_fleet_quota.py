"""Issue 15.4 end to end: a configuration's shared daily quota used up in the middle of a run.
That system's work stops cleanly (what was not sent waits, the other system syncs on), the
report, `contactsync status` and `fleet status` say "daily quota exhausted", and after the
quota's day turns the next run resumes from the cursor with nothing lost or duplicated.

The runs are the worker's own job body (FleetApp.run_sync: the shared budgets installed, the
schedule row written) against a HubSpot emulator on 127.0.0.1, one configuration, in-process:
procrastinate's fetching and the worker processes are test_fleet.py's part."""

from __future__ import annotations

import csv
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from sync import http
from sync.cli import main
from sync.fleet.app import FleetApp, WorkerContext
from sync.fleet.budget import Limiters
from sync.fleet.queue import QueueDb
from sync.fleet.runner import Outcome
from sync.fleet.settings import Fleet, load_fleet
from sync.resources import shipped
from sync.sandbox.hubspot import HubSpotEmulator
from sync.sandbox.serve import Served, serve
from sync.store.repo import Store

pytestmark = pytest.mark.postgres

HEAD = "id,email,first_name,last_name\n"


def person(n: int) -> dict[str, str]:
    return {"email": f"p{n}@acme.example", "first_name": f"First{n}", "last_name": f"Last{n}"}


class Acme:
    """fleet.toml, one configuration `acme` (a CSV file and HubSpot) and the queue tables."""

    def __init__(self, root: Path, queue_url: str, hub: Served) -> None:
        self.root, self.hub = root, hub
        folder = root / "acme"
        folder.mkdir()
        self.config = folder / "sync.toml"
        self.csv = folder / "a.csv"
        self.csv.write_text(HEAD)
        self.add_rows(1, 2)
        self.config.write_text(
            f'[state]\nurl = "sqlite:///{folder / "state.db"}"\n'
            '[systems.a]\nconnector = "csv"\npath = "a.csv"\n'
            f'[systems.h]\nconnector = "hubspot"\nbase_url = "{hub.url}"\n'
            f'mapping = "{shipped("mappings/hubspot.toml")}"\nretries = 0\n'
            '[systems.h.auth]\nkind = "bearer"\ntoken_env = "HUBSPOT_TOKEN"\n'
        )
        self.fleet_file = root / "fleet.toml"
        self.fleet_file.write_text(
            f'[queue]\nurl = "{queue_url.replace("postgresql+psycopg://", "postgresql://")}"\n'
            '[configs]\npaths = ["*/sync.toml"]\n'
            f'[budgets.hub]\nbase_url = "{hub.url}"\nrate = 1000\n'
        )
        self.fleet: Fleet = load_fleet(self.fleet_file)
        self.db = QueueDb(self.fleet.queue_url())
        self.outcomes: list[Outcome] = []
        context = WorkerContext(self.db, "test-worker", threading.Event(), on_outcome=self._kept)
        self.app = FleetApp(self.fleet, context)
        self.app.ensure_schema(self.db)
        self.db.enrol(self.fleet.members.values())
        self.db.set_budgets(self.fleet.budgets.values())

    def _kept(self, config: str, outcome: Outcome) -> None:
        self.outcomes.append(outcome)

    def run(self) -> Outcome:
        """One sync job of acme, as a worker runs it."""
        self.app.run_sync("acme")
        return self.outcomes[-1]

    def quota(self, left: int) -> None:
        """The budget's daily quota: `left` more requests today."""
        with self.db.engine.begin() as c:
            q = text("UPDATE contactsync_fleet_budgets SET daily_quota = used + :n")
            c.execute(q, {"n": left})

    def next_day(self) -> None:
        with self.db.engine.begin() as c:
            c.execute(text("UPDATE contactsync_fleet_budgets SET day = day - 1"))

    def rows(self) -> dict[str, dict[str, str]]:
        with self.csv.open(newline="") as fh:
            return {r["email"]: r for r in csv.DictReader(fh)}

    def add_rows(self, *numbers: int) -> None:
        with self.csv.open("a") as fh:
            for n in numbers:
                p = person(n)
                fh.write(f"{n},{p['email']},{p['first_name']},{p['last_name']}\n")

    def cursor(self) -> str | None:
        store = Store(self.fleet.members["acme"].settings.state_url, migrate=False)
        try:
            return store.cursors()["h"].value
        finally:
            store.dispose()

    def cli(self, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any]:
        capsys.readouterr()
        code = main([*args, "--format", "json"])
        return code, json.loads(capsys.readouterr().out)

    def close(self) -> None:
        self.db.dispose()


@pytest.fixture
def acme(tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Acme]:
    monkeypatch.setenv("HUBSPOT_TOKEN", HubSpotEmulator.DEFAULT_ENV["HUBSPOT_TOKEN"])
    hub = serve("hubspot", HubSpotEmulator())
    made = Acme(tmp_path, pg_url, hub)
    http.set_limiter_factory(Limiters(made.fleet, made.db))
    try:
        yield made
    finally:
        http.set_limiter_factory(None)
        made.close()
        hub.stop()


def hub_people(acme: Acme) -> dict[str, dict[str, Any]]:
    """email -> person in HubSpot; no email twice."""
    people = acme.hub.emulator.people()
    emails = [p["email"] for p in people]
    assert len(emails) == len(set(emails)), f"HubSpot holds one twice: {sorted(emails)}"
    return {p["email"]: p for p in people}


def test_a_daily_quota_used_up_mid_run_stops_that_system_and_the_next_day_resumes(
    acme: Acme, capsys: pytest.CaptureFixture[str]
) -> None:
    hub: Any = acme.hub.emulator
    ada = hub.seed_person({"email": "ada@acme.example", "first_name": "Ada", "last_name": "L"})
    first = acme.run()
    assert first.status == "ok", first.error
    assert set(acme.rows()) == set(hub_people(acme)) == {
        "ada@acme.example", "p1@acme.example", "p2@acme.example"
    }  # fmt: skip

    # four new people in the file, an edit in HubSpot; three requests left today: the
    # change listing and two of the four creates
    acme.add_rows(3, 4, 5, 6)
    hub.edit(ada, last_name="Lovelace")
    acme.quota(3)
    sent = len(hub.log)
    cut = acme.run()
    assert cut.report is not None and cut.failed
    h = cut.report.systems["h"]
    assert h.failure is not None and h.failure.startswith("daily quota exhausted"), h.failure
    assert (h.created, h.not_sent, h.failed) == (2, 2, []), h  # said once, not per record
    assert len(hub.log) - sent == 3, "a request went out past the quota"
    assert acme.rows()["ada@acme.example"]["last_name"] == "Lovelace"  # the file synced on
    assert "daily quota exhausted" in (cut.error or "")
    code, status = acme.cli(capsys, "--config", str(acme.config), "status")
    assert code == 1
    assert status["runs"][0]["system_failures"]["h"].startswith("daily quota exhausted")
    assert "daily quota exhausted" in status["cursors"]["h"]["last_error"]
    code, fleet = acme.cli(capsys, "fleet", "status", "--fleet", str(acme.fleet_file))
    [row] = fleet["configs"]
    assert "daily quota exhausted" in row["last_run"]["error"] and row["failures_in_row"] == 1
    assert fleet["budgets"]["hub"]["used_today"] == fleet["budgets"]["hub"]["daily_quota"]

    # the same day: HubSpot cannot even be listed; its cursor stays where it was
    kept = acme.cursor()
    hub.edit(ada, first_name="Augusta")
    sent = len(hub.log)
    still = acme.run()
    assert still.report is not None
    assert (still.report.systems["h"].failure or "").startswith("daily quota exhausted")
    assert len(hub.log) == sent and acme.cursor() == kept
    assert acme.rows()["ada@acme.example"]["first_name"] == "Ada"

    acme.next_day()  # the quota's day turns: the next run resumes from the cursor
    resumed = acme.run()
    assert resumed.report is not None and resumed.status == "ok", resumed.error
    assert resumed.report.systems["h"].listing == "changes"
    assert resumed.report.systems["h"].created == 2
    assert acme.rows()["ada@acme.example"]["first_name"] == "Augusta"  # nothing lost
    people = hub_people(acme)
    assert set(people) == set(acme.rows()) and len(people) == 7  # nothing twice
    assert people["ada@acme.example"]["last_name"] == "Lovelace"
    quiet = acme.run()
    assert quiet.report is not None and quiet.report.writes == 0
    _, fleet = acme.cli(capsys, "fleet", "status", "--fleet", str(acme.fleet_file))
    assert fleet["configs"][0]["last_run"]["error"] is None
    assert fleet["configs"][0]["failures_in_row"] == 0
