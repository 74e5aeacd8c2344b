"""The README's first command: the demo over the five emulators on loopback."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from sync import demo
from sync.config import load_config
from sync.conflicts import rows
from sync.store.repo import Store


def test_demo_flows_among_all_five_and_settles(tmp_path: Path) -> None:
    out = io.StringIO()
    code = demo.main(tmp_path / "demo", runs=2, console=Console(file=out, width=200))
    text = out.getvalue()
    assert code == 0
    # the duplicate and the over-long name are reported, not hidden
    assert "duplicate" in text and "limit is 64" in text
    settings = load_config(tmp_path / "demo" / "sync.toml")
    store = Store(settings.state_url)
    try:
        first, second = sorted(store.recent_runs(), key=lambda r: r.id)
        systems = first.summary["systems"]
        assert {n: s["created"] > 0 for n, s in systems.items()} == dict.fromkeys(systems, True)
        assert all(
            s["created"] + s["updated"] + s["deleted"] == 0
            for s in second.summary["systems"].values()
        )
        [conflict] = rows(store)
        assert conflict["email"] == "ada@example.org" and conflict["field"] == "title"
    finally:
        store.dispose()


def test_the_readme_demo_command_from_a_fresh_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`contactsync demo` exactly as the README runs it: the default, relative --dir."""
    from sync.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["demo"]) == 0
    config = tmp_path / ".contactsync" / "demo" / "sync.toml"
    # and the configuration it leaves works from another folder, as `serve` and `once` use it
    monkeypatch.chdir(tmp_path.parent)
    assert main(["--config", str(config), "check"]) == 0


def test_the_shipped_configuration_is_valid_with_the_sandbox_credentials() -> None:
    from sync.config import load_config
    from sync.resources import shipped
    from sync.sandbox.serve import VENDORS, emulator_for

    env: dict[str, str] = {}
    for vendor in VENDORS:
        env.update(getattr(emulator_for(vendor), "DEFAULT_ENV", {}))
    with pytest.MonkeyPatch.context() as m:
        for key, value in env.items():
            m.setenv(key, value)
        settings = load_config(shipped("sync.toml"))
    assert set(settings.systems) == set(VENDORS)
    assert settings.daemon.listen and settings.review.token_env
