"""The sync lease: one holder at a time, takeover after expiry, and fenced commits."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from sync import lease
from sync.engine import Engine
from sync.errors import LeaseLost, UsageError
from sync.lease import LeaseKeeper, default_holder
from sync.store.leases import Claim
from sync.store.models import Contact, Run
from sync.store.repo import Store
from tests.engine_helpers import World


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return f"sqlite:///{tmp_path / 'state.db'}"


class Clock:
    """A clock the test moves on: expiry without waiting for it."""

    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.at

    def move(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


def test_one_holder_at_a_time_and_takeover_after_expiry(url: str) -> None:
    store = Store(url)
    clock = Clock()
    first = LeaseKeeper(store, "first", 30, clock)
    second = LeaseKeeper(store, "second", 30, clock)
    assert first.acquire() and first.token == 1
    clock.move(29)
    assert not second.acquire(), "a live lease was taken"
    assert first.acquire(), "the holder could not renew its own lease"
    clock.move(29)
    assert not second.acquire(), "renewing did not extend the lease"
    clock.move(2)
    assert second.acquire()
    assert second.token == 2, "a takeover must advance the fencing token"
    assert not first.renew() and not first.held
    info = lease.current(store, clock)
    assert info is not None and info.holder == "second" and info.live


def test_release_hands_over_at_once(url: str) -> None:
    store = Store(url)
    first, second = LeaseKeeper(store, "first", 300), LeaseKeeper(store, "second", 300)
    assert first.acquire()
    first.release()
    assert second.acquire()


def test_kept_refuses_while_another_holds_it_and_names_the_holder(url: str) -> None:
    store = Store(url)
    assert LeaseKeeper(store, "daemon-on-host-a", 300).acquire()
    with pytest.raises(UsageError, match="daemon-on-host-a"), LeaseKeeper(store, "me", 300).kept():
        raise AssertionError("entered the block without the lease")


def test_kept_renews_while_the_block_runs(url: str) -> None:
    store = Store(url)
    clock = Clock()
    keeper = LeaseKeeper(store, "slow", 30, clock)
    other = LeaseKeeper(store, "other", 30, clock)

    def renewed_after(at: datetime) -> None:
        deadline = time.monotonic() + 10
        while (info := lease.current(store, clock)) is None or info.expires_at <= at:
            assert time.monotonic() < deadline, "the lease was not renewed"
            time.sleep(0.01)

    with keeper.kept(every=0.02):
        for _ in range(3):  # 60 s of the lease's clock: longer than the ttl
            clock.move(20)
            renewed_after(clock.at)
            assert not other.acquire(), "taken while the block ran"
    assert other.acquire(), "not released after the block"


def test_a_dead_holder_on_this_host_loses_the_lease_at_once(url: str) -> None:
    """kill -9 left the lease behind; a holder on another host keeps it until it expires."""
    store = Store(url)
    clock = Clock()

    def keeper(holder: str) -> LeaseKeeper:
        return LeaseKeeper(store, holder, 300, clock)

    def takeover_after_expiry(holder: str) -> None:
        clock.move(301)
        assert keeper(holder).acquire()

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    here = socket.gethostname()
    assert keeper(f"{here}:{dead.pid}:abcdef").acquire()
    assert keeper(default_holder()).acquire(), "waited for a dead holder"
    named = f"daemon-1:{dead.pid}:abcdef@{here}"  # a configured name carries the host
    assert not keeper(named).acquire(), "took a live holder's lease"  # this process holds it
    takeover_after_expiry(named)
    assert keeper(default_holder("daemon-2")).acquire(), "waited for a dead named holder"
    takeover_after_expiry(f"elsewhere.example:{dead.pid}:abcdef")
    assert not keeper(default_holder()).acquire(), "took another host's lease"
    takeover_after_expiry(f"{here}:{os.getpid()}:abcdef")  # this very process: alive
    assert not keeper(default_holder()).acquire(), "took a live holder's lease"


def test_a_run_that_lost_the_lease_commits_nothing(tmp_path: Path, url: str) -> None:
    world = World(tmp_path, ["a", "b"], url=url)
    world.add("a", email="ada@example.org", first_name="Ada")
    keeper = LeaseKeeper(world.store, "old-leader", 30)
    assert keeper.acquire()
    later = datetime.now(UTC) + timedelta(seconds=31)
    assert LeaseKeeper(world.store, "new-leader", 30, lambda: later).acquire()
    engine = Engine(world.settings, world.store, holder=keeper.holder, fence=keeper.fence)
    with pytest.raises(LeaseLost):
        asyncio.run(engine.run())
    with world.store.session() as s:
        assert s.scalar(select(func.count()).select_from(Run)) == 0
        assert s.scalar(select(func.count()).select_from(Contact)) == 0


@pytest.mark.postgres
def test_lease_lost_mid_run_stops_the_commits(tmp_path: Path, pg_url: str) -> None:
    """Another replica takes over while the run is under way: the journal flush after the
    first commit is refused and no contact is recorded by the old leader."""
    world = World(tmp_path, ["a", "b"], url=pg_url)
    for i in range(5):
        world.add("a", email=f"p{i}@example.org", first_name=f"P{i}")
    keeper = LeaseKeeper(world.store, "old-leader", 30)
    assert keeper.acquire()
    commits: list[int] = []

    def fence(extend: Callable[[Claim], bool]) -> None:
        commits.append(1)
        if len(commits) == 2:  # after the run row, before the journal: a takeover happens
            later = datetime.now(UTC) + timedelta(seconds=31)
            assert LeaseKeeper(world.store, "new-leader", 30, lambda: later).acquire()
        keeper.fence(extend)

    engine: Any = Engine(world.settings, world.store, holder=keeper.holder, fence=fence)
    with pytest.raises(LeaseLost):
        asyncio.run(engine.run())
    assert world.records("b") == {}, "the old leader pushed after losing the lease"
    with world.store.session() as s:
        assert s.scalar(select(func.count()).select_from(Contact)) == 0


def test_once_while_another_process_holds_the_lease_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sync.cli import main

    (tmp_path / "sync.toml").write_text(
        '[systems.a]\nconnector = "csv"\npath = "a.csv"\n'
        '[systems.b]\nconnector = "csv"\npath = "b.csv"\n'
    )
    (tmp_path / "a.csv").write_text("id,email\n1,ada@example.org\n")
    store = Store(f"sqlite:///{tmp_path / '.contactsync' / 'state.db'}")
    assert LeaseKeeper(store, "sync-a:4242:abcdef", 300).acquire()
    assert main(["--config", str(tmp_path / "sync.toml"), "once"]) == 2
    assert "sync-a:4242:abcdef" in capsys.readouterr().err
    assert not (tmp_path / "b.csv").exists(), "once ran beside the lease holder"


def test_once_that_loses_the_lease_mid_run_says_so_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from sync.cli import main

    (tmp_path / "sync.toml").write_text(
        '[systems.a]\nconnector = "csv"\npath = "a.csv"\n'
        '[systems.b]\nconnector = "csv"\npath = "b.csv"\n'
    )
    (tmp_path / "a.csv").write_text("id,email\n1,ada@example.org\n")

    def taken(self: LeaseKeeper, extend: Callable[[Claim], bool]) -> None:
        raise LeaseLost(f"{self.holder} lost the sync lease; this run's commit is refused")

    monkeypatch.setattr(LeaseKeeper, "fence", taken)
    assert main(["--config", str(tmp_path / "sync.toml"), "once"]) == 2
    err = capsys.readouterr().err
    assert "lost the sync lease" in err and "Traceback" not in err


@pytest.mark.postgres
def test_replicas_starting_together_on_a_fresh_store_get_one_holder(pg_url: str) -> None:
    """The lease row does not exist yet: both insert it, one wins, the other sees it."""
    import threading

    stores = [Store(pg_url) for _ in range(4)]
    keepers = [LeaseKeeper(store, f"replica-{i}", 300) for i, store in enumerate(stores)]
    start = threading.Barrier(len(keepers))
    won: list[bool] = [False] * len(keepers)

    def race(i: int) -> None:
        start.wait()
        won[i] = keepers[i].acquire()

    threads = [threading.Thread(target=race, args=(i,)) for i in range(len(keepers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert won.count(True) == 1, won
    info = lease.current(stores[0])
    assert info is not None and info.token == 1 and info.holder == f"replica-{won.index(True)}"
    for store in stores:
        store.dispose()
