"""The daemon's /healthz and /metrics, driven through Daemon.tick over memory systems."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from sync.daemon import Daemon
from sync.lease import LeaseKeeper
from sync.monitor import app
from tests.engine_helpers import World


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
    w = World(tmp_path, ["crm", "desk"])
    daemon = daemon_over(w)
    daemon.health.unhealthy_after = 2

    async def outage(*_a: object, **_k: object) -> None:
        raise ConnectionError("the vendor is down")

    monkeypatch.setattr("sync.engine.Engine.run", outage)
    await _tick(daemon)
    assert (await get(daemon, "/healthz")).status_code == 200, "one failure is not unhealthy"
    await _tick(daemon)
    sick = await get(daemon, "/healthz")
    assert sick.status_code == 503 and "vendor is down" in sick.json()["last_error"]
    assert 'contactsync_runs_total{outcome="failed"} 2.0' in (await get(daemon, "/metrics")).text
    monkeypatch.undo()
    await _tick(daemon)
    assert (await get(daemon, "/healthz")).status_code == 200


async def test_standby_is_healthy_and_a_lost_lease_is_not(tmp_path: Path) -> None:
    w = World(tmp_path, ["crm", "desk"])
    other = LeaseKeeper(w.store, "other-replica", 300)
    assert other.acquire()
    daemon = daemon_over(w)
    await _tick(daemon)
    standby = await get(daemon, "/healthz")
    assert standby.status_code == 200 and standby.json()["role"] == "standby"
    assert "contactsync_runs_total{" not in (await get(daemon, "/metrics")).text, "a standby ran"
    other.release()
    await _tick(daemon)
    assert daemon.keeper.held
    # another replica takes the lease away (say this one was paused past the expiry)
    daemon.keeper.token = (daemon.keeper.token or 0) + 100
    daemon.renew()
    lost = await get(daemon, "/healthz")
    assert lost.status_code == 503 and lost.json()["lease_lost"]


async def _tick(daemon: Daemon) -> None:
    """Daemon.tick runs the engine with asyncio.run, so it must leave this event loop."""
    await asyncio.to_thread(daemon.tick)
