"""`fleet status` reads each configuration's counts (open conflicts, held deletions) from its
store the way a run opens it: with the [state] password the configuration names."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from sync.cli import main
from sync.fleet.app import FleetApp
from sync.fleet.queue import QueueDb
from sync.fleet.settings import load_fleet
from sync.store.repo import Store
from tests import pgcluster
from tests.helpers import own_pg_server

pytestmark = pytest.mark.postgres
SECRET = "fleet-store-pw"


@pytest.fixture(scope="module")
def pw_server() -> Iterator[pgcluster.Server]:
    """A server that wants a password (the session's shared one trusts everyone)."""
    with own_pg_server(SECRET) as server:
        yield server


def test_fleet_status_opens_a_store_with_its_configured_password(
    tmp_path: Path,
    pg_url: str,
    pw_server: pgcluster.Server,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ACME_DB_PW", SECRET)
    (tmp_path / "acme").mkdir()
    (tmp_path / "acme" / "sync.toml").write_text(
        f'[state]\nurl = "{pw_server.url}"\npassword_env = "ACME_DB_PW"\n'
        '[systems.a]\nconnector = "csv"\npath = "a.csv"\n'
    )
    queue = pg_url.replace("postgresql+psycopg://", "postgresql://")
    fleet_file = tmp_path / "fleet.toml"
    fleet_file.write_text(f'[queue]\nurl = "{queue}"\n[configs]\npaths = ["*/sync.toml"]\n')
    fleet = load_fleet(fleet_file)
    Store(fleet.members["acme"].settings.state_connect_url).dispose()  # made, as a run makes it
    db = QueueDb(fleet.queue_url())
    try:
        FleetApp(fleet).ensure_schema(db)
        db.enrol(fleet.members.values())
    finally:
        db.dispose()
    capsys.readouterr()
    assert main(["fleet", "status", "--fleet", str(fleet_file), "--format", "json"]) == 0
    said = capsys.readouterr().out
    [row] = json.loads(said)["configs"]
    assert row.get("store_error") is None, row
    assert (row["open_conflicts"], row["held_deletions"]) == (0, 0)
    assert SECRET not in said
