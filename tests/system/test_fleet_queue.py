"""The fleet's pieces in the queue database, on a real PostgreSQL: the shared token bucket and
its daily quota (QuotaExhausted from the limiter, through the HTTP client), a failing
configuration's backoff, and the retry of a stalled job when a later run already waits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from sync import http
from sync.errors import QuotaExhausted
from sync.fleet.app import CONTROL_QUEUE, SYNC_QUEUE, FleetApp
from sync.fleet.budget import Limiters, SharedLimiter, running
from sync.fleet.queue import QueueDb
from sync.fleet.settings import Fleet, load_fleet
from sync.http import HttpClient, RateLimiter

pytestmark = pytest.mark.postgres


@pytest.fixture
def fleet(tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Fleet:
    monkeypatch.setenv("L_TOKEN", "t")
    queue = pg_url.replace("postgresql+psycopg://", "postgresql://")
    (tmp_path / "fleet.toml").write_text(
        f'[queue]\nurl = "{queue}"\n[configs]\npaths = ["*/sync.toml"]\n'
        '[budgets.vendor]\nbase_url = "https://api.vendor.example"\nrate = 20\ndaily_quota = 4\n'
        'configs = ["acme"]\n'
    )
    for name in ("acme", "globex"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "sync.toml").write_text(
            f'[state]\nurl = "sqlite:///{tmp_path / name}/state.db"\n'
            '[systems.l]\nconnector = "lightening"\nbase_url = "https://api.vendor.example/api"\n'
            'customer_ids = [1]\n[systems.l.auth]\nkind = "bearer"\ntoken_env = "L_TOKEN"\n'
        )
    return load_fleet(tmp_path / "fleet.toml")


@pytest.fixture
def db(fleet: Fleet) -> Iterator[QueueDb]:
    made = QueueDb(fleet.queue_url())
    FleetApp(fleet).ensure_schema(made)
    made.enrol(fleet.members.values())
    yield made
    made.dispose()


def budget(db: QueueDb, fleet: Fleet, **changes: object) -> str:
    spec = fleet.budgets["vendor"].spec.model_copy(update=changes)
    db.set_budgets([type(fleet.budgets["vendor"])("vendor", spec)])
    return "vendor"


def test_takes_are_spaced_at_the_rate_and_an_idle_bucket_keeps_only_its_burst(
    db: QueueDb, fleet: Fleet
) -> None:
    name = budget(db, fleet, daily_quota=None)
    started = time.monotonic()
    waits = [db.take(name) + (time.monotonic() - started) for _ in range(10)]
    # each request's moment is 1/rate after the one before, whoever takes it
    for k, moment in enumerate(waits):
        assert k / 20 - 0.03 <= moment <= k / 20 + 0.03, waits
    time.sleep(0.5 + 0.5)  # the reservations pass, then the bucket idles
    assert db.take(name) == 0.0
    assert db.take(name) == pytest.approx(1 / 20, abs=0.02)  # a burst of one, no more


def test_a_used_up_daily_quota_raises_quota_exhausted_until_the_day_turns(
    db: QueueDb, fleet: Fleet
) -> None:
    name = budget(db, fleet, rate=1000.0)
    for _ in range(4):
        db.take(name)
    with pytest.raises(QuotaExhausted, match="budget vendor: all 4 requests of today are used"):
        db.take(name)
    assert db.usage()["vendor"]["used_today"] == 4  # the refused take took nothing
    with db.engine.begin() as c:
        c.execute(text("UPDATE contactsync_fleet_budgets SET day = day - 1"))
    assert db.take(name) == 0.0


def test_the_limiter_seam_gives_covered_systems_the_shared_budget(
    db: QueueDb, fleet: Fleet
) -> None:
    budget(db, fleet, rate=1000.0)
    limiters = Limiters(fleet, db)
    acme = fleet.members["acme"].settings.systems["l"]
    globex = fleet.members["globex"].settings.systems["l"]
    with running("acme"):
        assert isinstance(limiters(acme), SharedLimiter)
    with running("globex"):  # the budget names acme only
        assert isinstance(limiters(globex), RateLimiter)
    assert isinstance(limiters(acme), RateLimiter)  # outside a fleet run

    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"result": True, "entities": []})

    async def six_requests() -> None:
        client = HttpClient.for_system(acme, transport=httpx.MockTransport(answer))
        try:
            for _ in range(6):
                await client.request("GET", "contact")
        finally:
            await client.aclose()

    http.set_limiter_factory(limiters)
    try:
        with running("acme"), pytest.raises(QuotaExhausted):
            asyncio.run(six_requests())
    finally:
        http.set_limiter_factory(None)
    assert len(sent) == 4  # the quota's four went out; the fifth was never sent


def test_a_failing_configuration_backs_off_alone_and_recovers(db: QueueDb) -> None:
    def row(config: str) -> tuple[int, float]:
        with db.engine.connect() as c:
            r = c.execute(
                text(
                    "SELECT failures, EXTRACT(EPOCH FROM next_at - now())::float8 "
                    "FROM contactsync_fleet_schedule WHERE config = :c"
                ),
                {"c": config},
            ).one()
            return int(r[0]), float(r[1])

    with db.engine.begin() as c:  # both due now (enrolment spread their first runs)
        c.execute(text("UPDATE contactsync_fleet_schedule SET next_at = now()"))
    kw = {"status": "failed", "error": "down", "run_id": None, "interval": 60.0}
    db.finished("acme", failed=True, max_backoff=3600, **kw)  # type: ignore[arg-type]
    assert row("acme")[0] == 1 and row("acme")[1] > 119
    db.finished("acme", failed=True, max_backoff=3600, **kw)  # type: ignore[arg-type]
    assert row("acme")[0] == 2 and row("acme")[1] > 239
    db.finished("acme", failed=True, max_backoff=100, **kw)  # type: ignore[arg-type]
    assert row("acme")[0] == 3 and 239 < row("acme")[1] < 241  # a lower cap brings none forward
    assert row("globex")[0] == 0 and row("globex")[1] < 1  # the other is not slowed
    db.finished("acme", failed=False, max_backoff=3600, **{**kw, "status": "ok"})  # type: ignore[arg-type]
    assert row("acme")[0] == 0


def test_a_stalled_job_is_retried_or_gives_way_to_the_run_waiting(
    db: QueueDb, fleet: Fleet
) -> None:
    fleet_app = FleetApp(fleet)
    manager = fleet_app.app.job_manager

    async def scenario() -> dict[str, list[str]]:
        async with fleet_app.app.open_async():
            dead = await manager.register_worker()
            for config in ("acme", "globex"):
                assert await fleet_app.defer(config)
                assert not await fleet_app.defer(config)  # the queueing lock: one waits
                assert await manager.fetch_job(queues=[SYNC_QUEUE], worker_id=dead)
            assert await fleet_app.defer("globex")  # a later run of globex waits already
            tick = fleet_app.app.tasks["contactsync.tick"]
            await tick.configure(queue=CONTROL_QUEUE).defer_async(timestamp=0)
            assert await manager.fetch_job(queues=[CONTROL_QUEUE], worker_id=dead)
            async with manager.connector.pool.connection() as conn:  # type: ignore[attr-defined]
                await conn.execute(
                    "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour'"
                )
            assert await fleet_app.retry_stalled() == 2
            out: dict[str, list[str]] = {}
            for job in await manager.list_jobs_async(queue=SYNC_QUEUE):
                out.setdefault(str(job.task_kwargs["config"]), []).append(str(job.status))
            for job in await manager.list_jobs_async(queue=CONTROL_QUEUE):
                out.setdefault("tick", []).append(str(job.status))
            return out

    states = asyncio.run(scenario())
    assert sorted(states["acme"]) == ["todo"]  # retried: another worker takes it up
    assert sorted(states["globex"]) == ["failed", "todo"]  # the waiting run does the work
    assert states["tick"] == ["failed"]  # a dead worker's tick is ended, the next one ticks
