"""A fleet run of a configuration whose store cannot be reached fails that configuration,
in one line naming the store, without a traceback and without taking the worker down."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from sync.fleet.runner import run_member
from sync.fleet.settings import load_fleet


def test_a_store_that_is_away_fails_its_configuration_in_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACME_DB_PASSWORD", "secret")
    (tmp_path / "fleet.toml").write_text(
        '[queue]\nurl = "postgresql://fleet@127.0.0.1:9/fleet"\n'
        '[configs]\npaths = ["*/sync.toml"]\n'
    )
    (tmp_path / "acme").mkdir()
    (tmp_path / "acme" / "sync.toml").write_text(
        '[state]\nurl = "postgresql+psycopg://u@127.0.0.1:9/acme"\n'
        'password_env = "ACME_DB_PASSWORD"\n'
        '[systems.a]\nconnector = "csv"\npath = "a.csv"\n'
    )
    fleet = load_fleet(tmp_path / "fleet.toml")
    outcome = run_member(fleet, "acme", "host:1:x", threading.Event())
    assert outcome.status == "failed" and outcome.failed
    assert outcome.error is not None and outcome.error.startswith("store: ")
    assert "\n" not in outcome.error and "secret" not in outcome.error
    assert "Traceback" not in caplog.text and "secret" not in caplog.text
