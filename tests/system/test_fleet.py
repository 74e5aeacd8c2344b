"""A fleet as it runs: three worker processes, thirty configurations (CSV files, twelve of them
also on Lightening emulators, one whose Lightening is not there), PostgreSQL started by the
tests. One worker is killed by SIGKILL after a Lightening write landed but before its answer
came back; another takes the job up and the journal recovers it. Checked afterwards: every
configuration converged; no two runs of one configuration overlapped (their stores' runs);
no write reached an emulator twice and none was lost; the three workers together kept the
shared Lightening budget (its request times at the emulators); the failing configuration
backed off alone; the survivors' /metrics, `fleet status` and SIGTERM."""

from __future__ import annotations

import csv
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from sync.sandbox.base import LoggedRequest
from sync.sandbox.serve import free_port
from sync.store.models import JournalEntry, Run
from sync.store.repo import Store
from tests import pgcluster
from tests.fleet_world import FleetWorld, build
from tests.helpers import wait_for

pytestmark = pytest.mark.postgres

CONFIGS, PEOPLE, LIGHTENING = 30, 6, 12
RATE = 10.0  # the shared Lightening budget, requests per second, all workers together
KILL_AT_WRITE = 20
BROKEN = "org29"


def emails_in(path: Path) -> list[str]:
    if not path.exists():
        return []
    with path.open(newline="") as fh:
        return sorted(row["email"] for row in csv.DictReader(fh))


@pytest.fixture
def world(tmp_path: Path, pg_server: str) -> Iterator[FleetWorld]:
    made = build(
        tmp_path,
        pgcluster.fresh_database(pg_server),
        pgcluster.fresh_database(pg_server),
        configs=CONFIGS,
        people=PEOPLE,
        lightening=LIGHTENING,
        broken=1,
        latency=0.03,
        budget={"base_url": "http://127.0.0.1:", "rate": RATE, "burst": 1, "configs": ["org*"]},
    )
    yield made
    made.stop()


def test_three_workers_keep_thirty_configurations_and_survive_a_kill(
    world: FleetWorld,
) -> None:
    arrivals: list[float] = []
    killed: dict[str, Any] = {}
    lock = threading.Lock()
    engines = {name: sa.create_engine(world.state_url(name)) for name in world.targets}

    def holder_of(config: str) -> str | None:
        with engines[config].connect() as c:
            return c.execute(sa.text("SELECT holder FROM leases WHERE name = 'sync'")).scalar()

    def watch(served_index: int) -> Any:
        def on_request(request: LoggedRequest, phase: str) -> None:
            if phase == "received":
                with lock:
                    arrivals.append(time.monotonic())
                return
            if not request.is_write or request.method != "POST":
                return
            with lock:
                killed.setdefault("writes", 0)
                killed["writes"] += 1
                if killed["writes"] != KILL_AT_WRITE:
                    return
            customer = int((request.json() or {}).get("customer_id", 1))
            config = next(
                n
                for n, t in world.targets.items()
                if t.served is world.emulators[served_index] and t.customer == customer
            )
            holder = holder_of(config)
            assert holder is not None
            pid = int(holder.split(":")[1])
            assert pid in {p.pid for p in world.workers}, holder
            killed.update(config=config, holder=holder, pid=pid, at=time.time())
            os.kill(pid, signal.SIGKILL)  # the write landed; its answer never arrives

        return on_request

    for i, served in enumerate(world.emulators):
        served.emulator.on_request = watch(i)

    queued = QueueWatch(world.queue_url)
    queued.start()
    ports = [free_port() for _ in range(3)]
    for i, port in enumerate(ports):
        world.start_worker(i, listen=f"127.0.0.1:{port}")

    wait_for("a worker to be killed mid-run", lambda: "pid" in killed, 90, why=world.logs)
    victim = next(p for p in world.workers if p.pid == killed["pid"])
    assert victim.wait(timeout=10) == -signal.SIGKILL

    def converged() -> bool:
        for name, people in world.people.items():
            if name != BROKEN and emails_in(world.folder(name) / "b.csv") != sorted(
                p["email"] for p in people
            ):
                return False
        return all(len(lightening_emails(world, name)) >= PEOPLE for name in world.targets)

    wait_for("every configuration to converge", converged, 90, why=world.logs)
    converged_at = time.monotonic()
    for i, proc in enumerate(world.workers):
        assert proc is victim or proc.poll() is None, world.log(i)

    # nothing lost or doubled: each Lightening customer holds its people once, and no write
    # reached an emulator twice (the killed run's create was found again, not resent)
    for name in world.targets:
        assert lightening_emails(world, name) == sorted(p["email"] for p in world.people[name])
    for served in world.emulators:
        sent = [(r.method, r.path, r.body) for r in served.emulator.writes()]
        assert len(sent) == len(set(sent)), f"{served.name} received a write twice"
        creates = [r for r in served.emulator.writes() if r.method == "POST"]
        customers = sum(1 for t in world.targets.values() if t.served is served)
        assert len(creates) == customers * PEOPLE, f"{served.name}: {len(creates)} creates"

    # the killed run: crashed in its store, its create in flight recovered by the next run,
    # which another worker made after the kill (converged is not committed: wait for it)
    victim_store = Store(world.state_url(killed["config"]), migrate=False)

    def recovered() -> tuple[list[Run], Counter[str]] | None:
        with victim_store.session() as s:
            runs = list(s.scalars(sa.select(Run).order_by(Run.id)))
            dead = [r for r in runs if r.holder == killed["holder"]]
            after = [r for r in runs if dead and r.id > dead[-1].id and r.finished_at]
            if not after:
                return None
            entries = s.scalars(sa.select(JournalEntry).where(JournalEntry.run_id == dead[-1].id))
            return runs, Counter(a.state for a in entries)

    try:
        runs, states = wait_for("the killed run to be recovered", recovered, 60, why=world.logs)
        dead = [r for r in runs if r.holder == killed["holder"]]
        assert dead[-1].status == "crashed", [(r.holder, r.status) for r in runs]
        assert states["recovered"] >= 1, states
        after = [r for r in runs if r.id > dead[-1].id]
        assert after[0].holder != killed["holder"]
        assert after[0].status in ("ok", "partial")
        assert after[0].started_at.timestamp() > killed["at"]
    finally:
        victim_store.dispose()

    assert_no_overlapping_runs(world)
    queued.stop()
    # procrastinate's lock: never two jobs of one configuration running; its queueing lock:
    # never two waiting (runs that overran the 2s interval did not pile up jobs)
    assert queued.samples > 10
    assert queued.most["doing"] == 1, queued.most
    assert queued.most["todo"] == 1, queued.most
    assert_budget_kept(arrivals, converged_at)
    assert_failing_configuration_backed_off(world)

    port = next(p for p, w in zip(ports, world.workers, strict=True) if w is not victim)
    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    assert 'contactsync_runs_total{config="' in metrics
    assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json()["healthy"]

    status = subprocess.run(
        [sys.executable, "-m", "sync", "fleet", "status", "--fleet", str(world.fleet),
         "--format", "json"],
        capture_output=True, text=True, env=world.env, check=True, timeout=60,
    )  # fmt: skip
    rows = {c["config"]: c for c in json.loads(status.stdout)["configs"]}
    assert len(rows) == CONFIGS
    assert rows["org00"]["last_run"]["status"] == "ok"
    assert rows[BROKEN]["failures_in_row"] >= 2 and rows[BROKEN]["last_run"]["status"]
    assert all(c["open_conflicts"] == 0 for c in rows.values())

    for proc in world.workers:
        if proc is not victim:
            proc.send_signal(signal.SIGTERM)
    for i, proc in enumerate(world.workers):
        if proc is not victim:
            assert proc.wait(timeout=30) == 0, world.log(i)
    # SIGTERM let the runs in flight finish and commit: none is left `running`
    for name in world.people:
        engine = sa.create_engine(world.state_url(name))
        try:
            with engine.connect() as c:
                last = c.execute(sa.text("SELECT status FROM runs ORDER BY id DESC LIMIT 1"))
                assert last.scalar() != "running", name
        finally:
            engine.dispose()
    for engine in engines.values():
        engine.dispose()


class QueueWatch(threading.Thread):
    """Samples procrastinate's jobs table: the most sync jobs of one configuration seen
    running, and waiting, at one moment."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.engine = sa.create_engine(url)
        self.most = {"doing": 0, "todo": 0}
        self.samples = 0
        self.done = threading.Event()

    def run(self) -> None:
        q = sa.text(
            "SELECT status, max(n) FROM (SELECT status, lock, count(*) AS n "
            "FROM procrastinate_jobs WHERE task_name = 'contactsync.sync' "
            "AND status IN ('doing', 'todo') GROUP BY status, lock) AS per GROUP BY status"
        )
        while not self.done.wait(0.2):
            try:
                with self.engine.connect() as c:
                    for status, n in c.execute(q):
                        self.most[status] = max(self.most[status], int(n))
                self.samples += 1
            except sa.exc.ProgrammingError:  # no worker has made the tables yet
                pass

    def stop(self) -> None:
        self.done.set()
        self.join(timeout=5)
        self.engine.dispose()


def test_one_worker_runs_as_many_configurations_at_once_as_its_concurrency(
    tmp_path: Path, pg_server: str
) -> None:
    """Eight slow configurations on one worker of concurrency 8 run side by side: their
    engine runs (from the stores) overlap eight at once. The jobs' threads are not capped by
    the event loop's default executor (cores + 4: six here)."""
    world = build(
        tmp_path,
        pgcluster.fresh_database(pg_server),
        pgcluster.fresh_database(pg_server),
        configs=8,
        people=2,
        lightening=8,
        latency=2.0,
        worker={"concurrency": 8},
    )
    engines = [sa.create_engine(world.state_url(name)) for name in world.people]
    q = sa.text("SELECT started_at, finished_at FROM runs ORDER BY id LIMIT 1")

    def first_runs() -> list[Any] | None:
        found = []
        for engine in engines:
            try:
                with engine.connect() as c:
                    row = c.execute(q).first()
            except sa.exc.ProgrammingError:  # the store not made yet
                return None
            if row is None or row.finished_at is None:
                return None
            found.append(row)
        return found

    try:
        world.start_worker(0)
        runs = wait_for("every configuration's first run", first_runs, 90, why=world.logs)
    finally:
        world.stop()
        for engine in engines:
            engine.dispose()
    edges = [(r.started_at, 1) for r in runs] + [(r.finished_at, -1) for r in runs]
    at_once = most = 0
    for _, step in sorted(edges, key=lambda e: (e[0], e[1])):
        at_once += step
        most = max(most, at_once)
    assert most == 8, edges


def lightening_emails(world: FleetWorld, config: str) -> list[str]:
    target = world.targets[config]
    store: Any = target.served.emulator.store  # type: ignore[attr-defined]
    return sorted(e["email"] for e in store.values() if e["customer_id"] == target.customer)


def assert_no_overlapping_runs(world: FleetWorld) -> None:
    """From each configuration's own store: a run starts only after the one before it
    finished (a crashed run's end is its death, before the next one's start)."""
    for name in world.people:
        engine = sa.create_engine(world.state_url(name))
        try:
            with engine.connect() as c:
                runs = c.execute(
                    sa.text("SELECT started_at, finished_at, status FROM runs ORDER BY id")
                ).all()
        finally:
            engine.dispose()
        assert runs, f"{name} never ran"
        for before, after in itertools.pairwise(runs):
            assert after.started_at > before.started_at, name
            if before.status != "crashed":
                assert before.finished_at is not None and before.finished_at <= after.started_at, (
                    f"{name}: runs overlap: {before} and {after}"
                )


def assert_budget_kept(arrivals: list[float], converged_at: float) -> None:
    """In every window of five seconds, at most RATE x 5 requests and the burst of one, and
    RATE x 0.3 more for jitter: a request leaves when its token's moment comes, and reaches
    the emulator after a delay that varies with the load of this shared machine (requests
    whose moments were apart can arrive together)."""
    times = sorted(arrivals)
    window, jitter = 5.0, 0.3
    assert len(times) > 4 * RATE, f"too few requests ({len(times)}) to say anything"
    most, j = 0, 0
    for i, t in enumerate(times):
        while times[j] < t - window:
            j += 1
        most = max(most, i - j + 1)
    assert most <= RATE * (window + jitter) + 1, f"{most} requests within {window}s at {RATE}/s"
    # the budget was what held them back: until everyone was synced the demand was there to
    # exceed it, and the requests came at close to its rate
    syncing = [t for t in times if t <= converged_at]
    busy = syncing[-1] - syncing[0]
    assert len(syncing) / busy > 0.5 * RATE, (len(syncing), busy)


def assert_failing_configuration_backed_off(world: FleetWorld) -> None:
    engine = sa.create_engine(world.queue_url)
    q = sa.text(
        "SELECT failures, next_at - finished_at AS wait, last_error "
        "FROM contactsync_fleet_schedule WHERE config = :c"
    )

    def failed_twice() -> Any:
        with engine.connect() as c:
            row = c.execute(q, {"c": BROKEN}).one()
        return row if row.failures >= 2 else None

    try:
        row = wait_for("the failing configuration to fail twice", failed_twice, 60, why=world.logs)
    finally:
        engine.dispose()
    assert row.failures >= 2, row
    assert "lightening" in (row.last_error or ""), row
    # interval 2s; after k failures in a row the next run waits 2s x 2^k
    assert row.wait.total_seconds() >= 2 * 2**row.failures - 1.5, row
