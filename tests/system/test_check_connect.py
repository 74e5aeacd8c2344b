"""`contactsync check --connect` logs in to the store and every system with one cheap read
each and prints one line per system: against the five vendor emulators on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sync.demo import start_all, write_config
from sync.sandbox.serve import Served
from tests.helpers import REPO


@pytest.fixture
def served() -> Iterator[dict[str, Served]]:
    emulators = start_all()
    yield emulators
    for s in emulators.values():
        s.stop()


def check(config: Path) -> tuple[int, dict[str, str]]:
    done = subprocess.run(
        [sys.executable, "-m", "sync", "--config", str(config), "check", "--connect"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    lines = {}
    for line in done.stdout.splitlines()[1:]:  # after "sync.toml: OK; systems: ..."
        name, _, rest = line.partition(" ")
        lines[name] = rest.strip()
    return done.returncode, lines


def test_good_credentials_every_system_ok(tmp_path: Path, served: dict[str, Served]) -> None:
    config = write_config(tmp_path, served)
    code, lines = check(config)
    assert code == 0, lines
    assert set(lines) == {"state", *served}
    for name in ("state", "oracle_b2b", "serviceops", "superoffice", "lightening"):
        assert lines[name].startswith("ok"), (name, lines[name])
    assert lines["onecontact"].startswith("ok") and "write-only" in lines["onecontact"]
    assert "does not exist yet" in lines["state"]
    assert not (tmp_path / "state.db").exists()  # a check writes nothing


def test_bad_credentials_and_a_system_away_are_named_each(
    tmp_path: Path, served: dict[str, Served]
) -> None:
    config = write_config(tmp_path, served)
    (tmp_path / "secrets" / "LIGHTENING_TOKEN").write_text("not-the-token")
    (tmp_path / "secrets" / "SERVICEOPS_PASSWORD").write_text("not-the-password")
    served["oracle_b2b"].stop()
    code, lines = check(config)
    assert code == 1, lines
    assert lines["lightening"].startswith("failed") and "credentials" in lines["lightening"]
    assert lines["serviceops"].startswith("failed")
    assert lines["oracle_b2b"].startswith("failed")
    assert lines["superoffice"].startswith("ok") and lines["state"].startswith("ok")
