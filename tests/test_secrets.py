"""No secret reaches the logs, the journal, the report or the database."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from sync.engine import Engine
from sync.logs import RedactingFilter, redact
from sync.sandbox.lightening import LighteningEmulator
from sync.store.repo import Store
from tests.helpers import settings_from


def test_redact_hides_credentials_in_text() -> None:
    text = 'Authorization: Bearer abc123 password=hunter2 {"access_token": "tok"}'
    out = redact(text)
    assert "abc123" not in out and "hunter2" not in out and '"tok"' not in out


def test_a_run_leaks_no_token(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    token = "s3cret-token-value-xyz"
    emu = LighteningEmulator(token=token)
    emu.seed_person({"email": "ada@example.org", "first_name": "Ada", "last_name": "Lovelace"})
    table = emu.system_table("http://lightening.test")
    raw = {
        "state": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
        "systems": {"light": table, "mem": {"connector": "memory", "store": "secrets-test"}},
    }
    env = {table["auth"]["token_env"]: token}
    settings = settings_from(raw, env=env)
    store = Store(settings.state_url)
    handler = logging.getLogger()
    handler.addFilter(RedactingFilter())
    caplog.set_level(logging.DEBUG)
    engine = Engine(settings, store, transports={"light": emu.transport()})
    report = asyncio.run(engine.run())
    assert report.system("mem").created == 1
    # a failing request logs too: make one with a bad token
    bad = settings_from(raw, env={table["auth"]["token_env"]: token + "-wrong"})
    asyncio.run(Engine(bad, store, transports={"light": emu.transport()}).run())
    store.dispose()
    assert token not in caplog.text
    assert token not in json.dumps(report.to_dict(), default=str)
    for path in tmp_path.iterdir():
        assert token.encode() not in path.read_bytes(), path.name
    assert any(token in r.headers.get("authorization", "") for r in emu.log)
