"""A user adds a vendor with one vendor file and one mapping, no Python: HubSpot's, beside
their sync.toml, synced two-way by `contactsync once` against the HubSpot emulator served on
127.0.0.1 (docs/vendors.md is the walk-through)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sync.resources import shipped
from sync.sandbox.hubspot import HubSpotEmulator
from sync.sandbox.serve import Served, serve


@pytest.fixture
def hubspot() -> Any:
    emu = HubSpotEmulator()
    served: Served = serve("hubspot", emu)
    yield served
    served.stop()


def once(folder: Path) -> dict[str, Any]:
    env = {**os.environ, **HubSpotEmulator.DEFAULT_ENV}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sync",
            "--config",
            str(folder / "sync.toml"),
            "once",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        cwd=folder,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def desk(folder: Path) -> dict[str, dict[str, str]]:
    with (folder / "desk.csv").open(newline="") as fh:
        return {row["email"]: row for row in csv.DictReader(fh)}


def test_a_vendor_declared_by_the_user_syncs_both_ways(tmp_path: Path, hubspot: Served) -> None:
    # the user's own files: a vendor file under vendors/ and a mapping, beside sync.toml
    (tmp_path / "vendors").mkdir()
    (tmp_path / "vendors" / "our_crm.toml").write_text(shipped("vendors/hubspot.toml").read_text())
    (tmp_path / "our_crm_mapping.toml").write_text(shipped("mappings/hubspot.toml").read_text())
    (tmp_path / "desk.csv").write_text(
        "id,email,first_name,last_name,city\nd1,ada@example.org,Ada,Lovelace,London\n"
    )
    (tmp_path / "sync.toml").write_text(
        f"""
[state]
url = "sqlite:///{tmp_path / "state.db"}"

[systems.desk]
connector = "csv"
path = "desk.csv"

[systems.crm]
connector = "our_crm"
base_url = "{hubspot.url}"
mapping = "our_crm_mapping.toml"
[systems.crm.auth]
kind = "bearer"
token_env = "HUBSPOT_TOKEN"
"""
    )
    emu: Any = hubspot.emulator
    grace = emu.seed_person({"email": "grace@example.org", "first_name": "Grace", "city": "NYC"})

    first = once(tmp_path)
    assert first["systems"]["crm"]["created"] == 1 and first["systems"]["desk"]["created"] == 1
    held = {p["email"]: p for p in emu.people()}
    assert held["ada@example.org"]["city"] == "London"
    assert desk(tmp_path)["grace@example.org"]["city"] == "NYC"

    # an edit on each side reaches the other
    emu.edit(grace, city="Arlington")
    rows = desk(tmp_path)
    rows["ada@example.org"]["city"] = "Paris"
    with (tmp_path / "desk.csv").open("w", newline="") as fh:
        out = csv.DictWriter(fh, fieldnames=list(rows["ada@example.org"]))
        out.writeheader()
        out.writerows(rows.values())
    second = once(tmp_path)
    assert second["systems"]["crm"]["updated"] == 1 and second["systems"]["desk"]["updated"] == 1
    assert {p["email"]: p for p in emu.people()}["ada@example.org"]["city"] == "Paris"
    assert desk(tmp_path)["grace@example.org"]["city"] == "Arlington"

    # and a run with nothing new writes nothing anywhere
    third = once(tmp_path)
    assert all(s["created"] + s["updated"] + s["deleted"] == 0 for s in third["systems"].values())


def test_init_writes_a_hubspot_system_that_checks(tmp_path: Path) -> None:
    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sync", "--config", str(tmp_path / "sync.toml"), *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            # the demo's tests export the sandbox tokens into this process: not here
            env={**{k: v for k, v in os.environ.items() if k != "HUBSPOT_TOKEN"}, **(env or {})},
            timeout=120,
        )

    made = run("init", "--connector", "hubspot", "--connector", "csv")
    assert made.returncode == 0, made.stderr
    assert "export HUBSPOT_TOKEN=" in made.stdout
    assert (tmp_path / "mappings" / "hubspot.toml").is_file()
    checked = run("check", env={"HUBSPOT_TOKEN": "pat-na1-x"})
    assert checked.returncode == 0, checked.stdout + checked.stderr
