"""The daemon runs the sync on a schedule and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sync.demo import write_config
from sync.sandbox.serve import emulator_for, serve


def test_daemon_syncs_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    (tmp_path / "sync.toml").write_text(
        '[sync]\ninterval = "1s"\n[systems.a]\nconnector = "csv"\npath = "a.csv"\n'
        '[systems.b]\nconnector = "csv"\npath = "b.csv"\n'
    )
    (tmp_path / "a.csv").write_text("id,email\n1,ada@example.org\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sync", "--config", str(tmp_path / "sync.toml"), "daemon"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            b = tmp_path / "b.csv"
            if b.exists() and "ada@example.org" in b.read_text():
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the daemon did not sync within 30 s")
        # an edit made after start is picked up within an interval or two
        (tmp_path / "a.csv").write_text("id,email,title\n1,ada@example.org,Countess\n")
        deadline = time.monotonic() + 30
        while "Countess" not in (tmp_path / "b.csv").read_text():
            assert time.monotonic() < deadline, "edit not picked up"
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_daemon_against_the_sandbox_picks_up_an_emulator_edit_within_an_interval(
    tmp_path: Path,
) -> None:
    """As a new user would try it: the daemon over vendor emulators on loopback."""
    served = {name: serve(name, emulator_for(name)) for name in ("serviceops", "lightening")}
    source: Any = served["serviceops"].emulator
    target: Any = served["lightening"].emulator
    grace = source.seed_person(
        {"email": "grace@example.org", "first_name": "Grace", "last_name": "Hopper"}
    )
    config = write_config(
        tmp_path,
        served,
        sections={"sync": {"interval": "2s", "priority": ["serviceops", "lightening"]}},
    )
    env = {**os.environ}
    for one in served.values():
        env.update(getattr(one.emulator, "DEFAULT_ENV", {}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "sync", "--config", str(config), "--log-format", "json", "daemon"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )

    def last_name() -> str | None:
        found = [p for p in target.people() if p.get("email") == "grace@example.org"]
        return found[0].get("last_name") if found else None

    try:
        deadline = time.monotonic() + 30
        while last_name() != "Hopper":
            assert proc.poll() is None and time.monotonic() < deadline, "first sync missing"
            time.sleep(0.1)
        edited = time.monotonic()
        source.edit(grace, last_name="Hopper-Murray")
        while last_name() != "Hopper-Murray":
            assert time.monotonic() - edited < 2 + 3, "edit not picked up within an interval"
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0
        events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
        assert any("lease taken" in e["message"] for e in events), err[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
        for one in served.values():
            one.stop()


def test_sigterm_mid_push_finishes_what_is_in_flight_journals_it_and_sends_the_rest_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import select

    from sync.cli import main
    from sync.config import load_config
    from sync.push import STOPPED
    from sync.store.models import JournalEntry, Run
    from sync.store.repo import Store

    people = [
        {"email": f"p{i:02d}@example.org", "first_name": f"F{i}", "last_name": f"L{i}"}
        for i in range(40)
    ]
    served = {
        "serviceops": serve("serviceops", emulator_for("serviceops")),
        "lightening": serve("lightening", emulator_for("lightening", latency=0.5)),
    }
    target: Any = served["lightening"].emulator
    for person in people:
        served["serviceops"].emulator.seed_person(person)
    config = write_config(
        tmp_path, served, sections={"sync": {"priority": ["serviceops", "lightening"]}}
    )
    env = {**os.environ}
    for one in served.values():
        env.update(getattr(one.emulator, "DEFAULT_ENV", {}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "sync", "--config", str(config), "daemon"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    signalled: list[float] = []

    def stop_after_the_first_write(request: Any, phase: str) -> None:
        if phase == "answered" and request.is_write and not signalled:
            signalled.append(time.monotonic())
            proc.send_signal(signal.SIGTERM)

    target.on_request = stop_after_the_first_write
    try:
        assert proc.wait(timeout=60) == 0
        assert signalled, "no write reached the target"
        assert time.monotonic() - signalled[0] < 3, "the daemon finished the whole run first"
        sent_before = len(target.writes())
        assert 0 < sent_before < len(people), sent_before
        settings = load_config(config)
        store = Store(settings.state_url)
        with store.session() as s:
            [run] = s.scalars(select(Run)).all()
            assert run.status != "running", "the stopped run was not committed"
            journal = s.scalars(select(JournalEntry).where(JournalEntry.run_id == run.id)).all()
            assert {a.state for a in journal} <= {"done", "failed"}
            assert sum(a.state == "done" for a in journal) == sent_before
            assert all(a.error == STOPPED for a in journal if a.state == "failed")
        store.dispose()
        target.on_request = None
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        assert main(["--config", str(config), "once"]) == 0
        emails = sorted(p["email"] for p in target.people())
        assert emails == [p["email"] for p in people], "lost or doubled after the stop"
        assert len(target.writes()) == len(people), "a write was sent twice"
    finally:
        if proc.poll() is None:
            proc.kill()
        for one in served.values():
            one.stop()
