"""The daemon's /healthz and /metrics, driven through Daemon.tick over memory systems."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from sync.connectors import memory
from sync.connectors.base import Listing
from sync.daemon import Daemon
from sync.errors import TransientError
from sync.lease import LeaseKeeper
from sync.monitor import app
from sync.sandbox.serve import emulator_for
from sync.store.models import Cursor
from sync.store.repo import Store, now
from tests.engine_helpers import World
from tests.helpers import settings_from


async def get(daemon: Daemon, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app(daemon.health, daemon.metrics))
    async with httpx.AsyncClient(transport=transport, base_url="http://monitor") as client:
        return await client.get(path)


def daemon_over(world: World) -> Daemon:
    return Daemon(world.settings)


async def test_metrics_count_runs_actions_and_conflicts(tmp_path: Path) -> None:
    w = World(tmp_path, ["crm", "desk"])
    w.add("crm", email="ada@example.org", first_name="Ada", title="Countess")
    w.add("crm", email="bob@example.org", first_name="Bob")
    w.add("desk", email="ada@example.org", first_name="Ada", title="Duchess")
    daemon = daemon_over(w)
    await _tick(daemon)
    text = (await get(daemon, "/metrics")).text
    assert 'contactsync_runs_total{outcome="ok"} 1.0' in text
    assert 'contactsync_actions_total{kind="create",system="desk"} 1.0' in text
    assert "contactsync_open_conflicts 1.0" in text
    assert "contactsync_lease_held 1.0" in text
    assert 'contactsync_last_success_timestamp_seconds{system="crm"}' in text
    assert "contactsync_run_duration_seconds_count 1.0" in text
    health = await get(daemon, "/healthz")
    assert health.status_code == 200 and health.json()["role"] == "leader"


async def test_health_turns_503_after_n_failed_runs_and_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def outage(*_a: object, **_k: object) -> None:
        raise ConnectionError("the vendor is down")

    monkeypatch.setattr("sync.engine.Engine.run", outage)
    daemon = await _sick_then_well(tmp_path, monkeypatch, "vendor is down")
    assert 'contactsync_runs_total{outcome="failed"} 2.0' in (await get(daemon, "/metrics")).text


async def test_standby_is_healthy_and_a_lost_lease_is_not(tmp_path: Path) -> None:
    w = World(tmp_path, ["crm", "desk"])
    at = [now()]  # the lease's clock, which the test moves on instead of waiting

    def clock() -> datetime:
        return at[0]

    other = LeaseKeeper(w.store, "other-replica", 300, clock)
    assert other.acquire()
    daemon = Daemon(w.settings, clock=clock)
    await _tick(daemon)
    standby = await get(daemon, "/healthz")
    assert standby.status_code == 200 and standby.json()["role"] == "standby"
    assert "contactsync_runs_total{" not in (await get(daemon, "/metrics")).text, "a standby ran"
    other.release()
    await _tick(daemon)
    assert daemon.keeper is not None and daemon.keeper.held
    # this replica is paused past the expiry, and another takes the lease over
    at[0] += timedelta(seconds=w.settings.lease_ttl + 1)
    assert LeaseKeeper(w.store, "new-leader", 300, clock).acquire()
    daemon.renew()
    lost = await get(daemon, "/healthz")
    assert lost.status_code == 503 and lost.json()["lease_lost"]
    await _tick(daemon)  # finds the other replica leading: a standby, doing its job
    back = await get(daemon, "/healthz")
    assert back.status_code == 200 and back.json()["role"] == "standby"


async def test_a_system_out_of_reach_for_n_runs_is_unhealthy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run goes on without the system (its records are reported), but health says so."""
    real = memory.MemoryConnector.list_all

    async def down(conn: memory.MemoryConnector) -> Listing:
        if conn.settings.name == "desk":
            raise TransientError("desk: connection refused")
        return await real(conn)

    monkeypatch.setattr(memory.MemoryConnector, "list_all", down)
    await _sick_then_well(tmp_path, monkeypatch, "could not list desk")


async def _sick_then_well(tmp: Path, monkeypatch: pytest.MonkeyPatch, why: str) -> Daemon:
    """A daemon over crm and desk, unhealthy after 2 failed runs, runs with the failure the
    test patched in: healthy after one run, 503 naming `why` after the second; with the
    failure undone, one run makes it healthy again."""
    daemon = daemon_over(World(tmp, ["crm", "desk"]))
    daemon.health.unhealthy_after = 2
    await _tick(daemon)
    assert (await get(daemon, "/healthz")).status_code == 200, "one failure is not unhealthy"
    await _tick(daemon)
    sick = await get(daemon, "/healthz")
    assert sick.status_code == 503 and why in sick.json()["last_error"]
    monkeypatch.undo()
    await _tick(daemon)
    assert (await get(daemon, "/healthz")).status_code == 200
    return daemon


async def _tick(daemon: Daemon) -> None:
    """Daemon.tick runs the engine with asyncio.run, so it must leave this event loop."""
    await asyncio.to_thread(daemon.tick)


def test_full_scans_fall_due_from_the_store_not_from_the_process(tmp_path: Path) -> None:
    """A restarted or failed-over daemon lists incrementally until the stored full scan is
    due, and then lists everything."""
    desk = emulator_for("serviceops")
    desk.seed_person({"email": "ada@example.org", "first_name": "Ada", "last_name": "L"})
    raw = {
        "state": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
        "sync": {"full_scan_interval": "1h"},
        "systems": {
            "desk": desk.system_table("http://serviceops.test"),  # type: ignore[attr-defined]
            "crm": {"connector": "memory", "store": f"crm-{tmp_path.name}"},
        },
    }
    settings = settings_from(raw, env=desk.DEFAULT_ENV)  # type: ignore[attr-defined]
    memory.STORES[f"crm-{tmp_path.name}"] = {}

    runs: list[int] = []

    def listing_of_a_fresh_daemon() -> str:
        daemon = Daemon(settings, transports={"desk": desk.transport()})
        daemon.tick()
        assert daemon.store is not None and daemon.keeper is not None
        daemon.keeper.release()  # as at a clean stop: the next daemon may take the lease
        [run] = daemon.store.recent_runs(1)
        daemon.store.dispose()
        assert run.id not in runs, "the daemon did not run"
        runs.append(run.id)
        return str(run.summary["systems"]["desk"]["listing"])

    assert listing_of_a_fresh_daemon().startswith("full")  # no cursor yet
    assert listing_of_a_fresh_daemon().startswith("changes"), "a new process forced a full scan"
    store = Store(settings.state_url)
    with store.session() as s:
        s.execute(update(Cursor).values(last_full_scan=now() - timedelta(hours=2)))
        s.commit()
    store.dispose()
    assert listing_of_a_fresh_daemon().startswith("full"), "a due full scan did not happen"
