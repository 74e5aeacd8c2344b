"""The command line as a user meets it: CSV files syncing, conflicts, bad input."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from sync.cli import main
from tests.helpers import two_csv


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    two_csv(
        tmp_path,
        "id,email,first_name,last_name,title,notes\n"
        "1,Ada@Example.org ,Ada,Lovelace,Analyst,keep me\n"
        "2,bob@example.org,Bob,Builder,,\n",
        "id,email,first_name,phone\nd1,ada@example.org,Ada,+44 20 7946 0000\n"
        "d2,cy@example.org,Cy,\n",
        head="[sync]\nmax_delete_fraction = 0.5\n",
    )
    return tmp_path


def run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sync", "--config", str(folder / "sync.toml"), *args],
        capture_output=True,
        text=True,
        cwd=folder,
        timeout=60,
    )


def rows(path: Path) -> dict[str, dict[str, str]]:
    import csv

    with path.open() as fh:
        return {r["email"].strip().lower(): r for r in csv.DictReader(fh)}


def test_two_csv_files_sync_both_ways_and_settle(folder: Path) -> None:
    first = run(folder, "once")
    assert first.returncode == 0, first.stderr
    crm, desk = rows(folder / "crm.csv"), rows(folder / "desk.csv")
    assert set(crm) == set(desk) == {"ada@example.org", "bob@example.org", "cy@example.org"}
    assert desk["ada@example.org"]["title"] == "Analyst"
    assert crm["ada@example.org"]["phone"] == "+442079460000"
    assert crm["ada@example.org"]["notes"] == "keep me"  # unknown columns are kept
    before = ((folder / "crm.csv").read_bytes(), (folder / "desk.csv").read_bytes())
    second = run(folder, "once", "--format", "json")
    assert second.returncode == 0
    report = json.loads(second.stdout)
    assert all(s["created"] + s["updated"] + s["deleted"] == 0 for s in report["systems"].values())
    assert before == ((folder / "crm.csv").read_bytes(), (folder / "desk.csv").read_bytes())


def test_conflict_listed_resolved_and_pushed_to_both_files(folder: Path) -> None:
    assert run(folder, "once").returncode == 0
    for name, value in (("crm.csv", "Countess"), ("desk.csv", "Duchess")):
        path = folder / name
        path.write_text(path.read_text().replace("Analyst", value))
    assert run(folder, "once").returncode == 0
    listed = json.loads(run(folder, "conflicts", "list", "--format", "json").stdout)
    [conflict] = listed
    assert conflict["field"] == "title" and conflict["base"] == "Analyst"
    assert {k: v["value"] for k, v in conflict["values"].items()} == {
        "crm": "Countess",
        "desk": "Duchess",
    }
    csv_out = run(folder, "conflicts", "list", "--format", "csv").stdout
    assert "Countess" in csv_out and "Duchess" in csv_out
    bad = run(folder, "conflicts", "resolve", str(conflict["id"]), "--take", "nowhere")
    assert bad.returncode == 2 and "valid: crm, desk" in bad.stderr
    assert "Traceback" not in bad.stderr
    ok = run(folder, "conflicts", "resolve", str(conflict["id"]), "--take", "desk")
    assert ok.returncode == 0
    assert run(folder, "once").returncode == 0
    assert rows(folder / "crm.csv")["ada@example.org"]["title"] == "Duchess"
    assert rows(folder / "desk.csv")["ada@example.org"]["title"] == "Duchess"
    assert json.loads(run(folder, "conflicts", "list", "--format", "json").stdout) == []


def test_state_file_is_readable_by_its_owner_only(folder: Path) -> None:
    run(folder, "once")
    mode = stat.S_IMODE(os.stat(folder / ".contactsync" / "state.db").st_mode)
    assert mode & 0o077 == 0


BROKEN = """
[sync]
conflict_policy = "loudest"
[systems.crm]
connector = "cvs"
[systems.desk]
connector = "csv"
path = "desk.csv"
colour = "blue"
mapping = "mappings/missing.toml"
[systems.api]
connector = "memory"
[systems.api.auth]
kind = "basic"
username_env = "CS_TEST_NOT_SET_USER"
password_env = "CS_TEST_NOT_SET_PASS"
"""


def test_broken_config_lists_every_problem_with_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "sync.toml"
    path.write_text(BROKEN)
    code = main(["--config", str(path), "check"])
    err = capsys.readouterr().err
    assert code == 2
    assert "sync.conflict_policy" in err
    path.write_text(BROKEN.replace('"loudest"', '"manual"'))
    code = main(["--config", str(path), "check"])
    err = capsys.readouterr().err.replace("\n", " ")
    assert code == 2
    for expected in (
        "systems.crm.connector",
        "unknown connector",
        "systems.desk.colour",
        "mappings/missing.toml",
        "CS_TEST_NOT_SET_USER",
        "CS_TEST_NOT_SET_PASS",
    ):
        assert expected in err, expected
    assert "Traceback" not in err
    assert not (tmp_path / ".contactsync").exists()  # nothing written


def test_config_that_is_not_toml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "sync.toml"
    path.write_text("[systems\n")
    assert main(["--config", str(path), "once"]) == 2
    assert "not valid TOML" in capsys.readouterr().err


def test_usage_errors_exit_2(folder: Path) -> None:
    assert run(folder, "conflicts", "resolve", "1").returncode == 2
    both = run(folder, "conflicts", "resolve", "1", "--take", "crm", "--dismiss")
    assert both.returncode == 2 and "not allowed with" in both.stderr
    assert run(folder, "frobnicate").returncode == 2
    missing = run(folder, "conflicts", "show", "99")
    assert missing.returncode == 2 and "no conflict with ID 99" in missing.stderr


def test_status_shows_runs_systems_and_who_last_held_the_lease(folder: Path) -> None:
    assert run(folder, "once").returncode == 0
    table = run(folder, "status")
    assert table.returncode == 0, table.stderr
    assert "recent runs" in table.stdout and "crm" in table.stdout and "desk" in table.stdout
    assert "sync lease: free; last held by" in table.stdout  # `once` released it
    data = json.loads(run(folder, "status", "--format", "json").stdout)
    [last] = data["runs"]
    assert last["status"] == "ok" and last["failed"] == 0
    assert last["holder"] == data["lease"]["holder"] and not data["lease"]["live"]
    assert last["writes"]["desk"]["created"] == 1 and last["writes"]["crm"]["created"] == 1
    assert data["cursors"]["crm"]["last_success"] and data["open_conflicts"] == 0
