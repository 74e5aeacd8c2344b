"""Two daemons on one PostgreSQL store against the sandbox: the leader is killed mid-push, the
standby takes over once the lease expires, and the vendors' request logs show that no write
was sent twice and nothing was lost. The survivor's /healthz, /metrics and `status` agree."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from sync import lease
from sync.demo import write_config
from sync.sandbox.base import LoggedRequest
from sync.sandbox.serve import Served, emulator_for, free_port, serve
from sync.store.models import JournalEntry, Run
from sync.store.repo import Store
from tests.helpers import wait_for

pytestmark = pytest.mark.postgres

PEOPLE = [
    {"email": f"person{i:02d}@example.org", "first_name": f"First{i}", "last_name": f"Last{i}"}
    for i in range(24)
]
TARGETS = ("oracle_b2b", "lightening")
KILL_AT_WRITE = 8
STATUS_JSON = ("status", "--format", "json")


@pytest.fixture
def sandbox() -> Iterator[dict[str, Served]]:
    served = {
        name: serve(name, emulator_for(name, latency=0.15)) for name in ("serviceops", *TARGETS)
    }
    for person in PEOPLE:
        served["serviceops"].emulator.seed_person(person)
    yield served
    for one in served.values():
        one.stop()


def start_daemon(config: Path, folder: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    log = (folder / "sync.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "sync", "--config", str(config), "daemon"],
        cwd=folder,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def folder(path: Path) -> Path:
    path.mkdir()
    return path


def pid_of(holder: str) -> int:
    return int(holder.split(":")[1])


def test_leader_killed_mid_run_standby_finishes_without_double_writes(
    tmp_path: Path, pg_url: str, sandbox: dict[str, Served]
) -> None:
    store = Store(pg_url)
    ports = {"alpha": free_port(), "beta": free_port()}
    configs = {
        name: write_config(
            folder(tmp_path / name),
            sandbox,
            state_url=pg_url,
            sections={
                "sync": {
                    "interval": "1s",
                    "full_scan_interval": "1h",
                    "priority": ["serviceops", *TARGETS],
                },
                "daemon": {"lease_ttl": "3s", "name": name, "listen": f"127.0.0.1:{port}"},
            },
        )
        for name, port in ports.items()
    }
    env = {**os.environ}
    for one in sandbox.values():
        env.update(getattr(one.emulator, "DEFAULT_ENV", {}))

    killed: dict[str, Any] = {}
    writes_seen = Counter[str]()
    lock = threading.Lock()

    def kill_leader_after_a_write(request: LoggedRequest, phase: str) -> None:
        """The leader dies once the k-th write was applied but before its answer arrives."""
        if phase != "answered" or not request.is_write:
            return
        with lock:
            writes_seen["all"] += 1
            if writes_seen["all"] != KILL_AT_WRITE:
                return
            holder = lease.current(store)
            assert holder is not None
            killed["holder"] = holder.holder
            os.kill(pid_of(holder.holder), signal.SIGKILL)

    for name in TARGETS:
        sandbox[name].emulator.on_request = kill_leader_after_a_write

    procs = {name: start_daemon(cfg, cfg.parent, env) for name, cfg in configs.items()}
    try:

        def leader_killed() -> bool:
            for name, p in procs.items():
                if p.poll() is not None and not killed:
                    log = (configs[name].parent / "sync.log").read_text()
                    raise AssertionError(f"daemon {name} exited early:\n{log}")
            return bool(killed.get("holder"))

        wait_for("the leader to be killed", leader_killed, timeout=90)
        victim = killed["holder"].split(":")[0]
        survivor = "beta" if victim == "alpha" else "alpha"
        assert procs[victim].wait(timeout=10) == -signal.SIGKILL

        def converged() -> bool:
            return all(len(sandbox[t].emulator.people()) >= len(PEOPLE) for t in TARGETS)

        wait_for("the standby to finish the sync", converged, timeout=90)

        def survivor_ran_ok() -> bool:
            with store.session() as s:
                runs = s.scalars(select(Run).where(Run.holder.like(f"{survivor}:%"))).all()
                return any(r.status == "ok" and r.summary.get("systems") for r in runs)

        wait_for("a completed run of the survivor", survivor_ran_ok)

        # no write sent twice, nothing lost: exactly one create per person per target
        for name in TARGETS:
            emulator: Any = sandbox[name].emulator
            sent = [(r.method, r.path, r.body) for r in emulator.writes()]
            assert len(sent) == len(set(sent)), f"{name} received a write twice"
            assert len(sent) == len(PEOPLE), f"{name}: {len(sent)} writes for {len(PEOPLE)}"
            emails = sorted(str(p["email"]).lower() for p in emulator.people())
            assert emails == sorted(p["email"] for p in PEOPLE), f"{name} lost or doubled"

        # the victim's run is recorded as crashed, with what it had in flight recovered
        with store.session() as s:
            victim_runs = s.scalars(select(Run).where(Run.holder == killed["holder"])).all()
            assert victim_runs and all(r.status != "running" for r in victim_runs)
            ids = [r.id for r in victim_runs]
            states = Counter(
                a.state for a in s.scalars(select(JournalEntry).where(JournalEntry.run_id.in_(ids)))
            )
            assert states["recovered"] >= 1, states

        info = lease.current(store)
        assert info is not None and info.holder.startswith(f"{survivor}:") and info.token >= 2

        # the survivor says so on /healthz, /metrics and `contactsync status`
        base = f"http://127.0.0.1:{ports[survivor]}"
        health = httpx.get(f"{base}/healthz", timeout=5)
        assert health.status_code == 200 and health.json()["role"] == "leader"
        metrics = httpx.get(f"{base}/metrics", timeout=5).text
        assert 'contactsync_runs_total{outcome="ok"}' in metrics
        assert "contactsync_lease_held 1.0" in metrics
        assert 'contactsync_last_success_timestamp_seconds{system="oracle_b2b"}' in metrics
        status = subprocess.run(
            [sys.executable, "-m", "sync", "--config", str(configs[survivor]), *STATUS_JSON],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        assert json.loads(status.stdout)["lease"]["holder"] == info.holder

        procs[survivor].send_signal(signal.SIGTERM)
        assert procs[survivor].wait(timeout=30) == 0
        released = lease.current(store)
        assert released is not None and not released.live, "the lease was not released"
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
        store.dispose()
