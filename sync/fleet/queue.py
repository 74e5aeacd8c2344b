"""The fleet's own two tables in the queue database, beside procrastinate's: when each
configuration runs next (and how its last run went), and each credential's request budget.

Every statement here is one atomic round trip: the tick takes the due configurations and
moves their next run on in one UPDATE, and a request takes a token from a budget in one
UPDATE, so any number of workers on any number of machines can run them at once. Times are
the database's clock, which those machines share.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL

from sync.errors import QuotaExhausted
from sync.fleet.settings import Budget, Member

TABLES_LOCK = 0x666C6565  # an advisory-lock key of our own ("flee")

SCHEMA = """
CREATE TABLE IF NOT EXISTS contactsync_fleet_schedule (
    config      varchar(64) PRIMARY KEY,
    next_at     timestamptz NOT NULL,
    failures    integer NOT NULL DEFAULT 0,
    running_on  varchar(160),
    started_at  timestamptz,
    finished_at timestamptz,
    last_status varchar(16),
    last_error  text,
    last_run_id integer
);
CREATE TABLE IF NOT EXISTS contactsync_fleet_budgets (
    name        varchar(64) PRIMARY KEY,
    rate        double precision NOT NULL,
    burst       double precision NOT NULL,
    daily_quota integer,
    tokens      double precision NOT NULL,
    updated_at  timestamptz NOT NULL,
    day         date NOT NULL,
    used        integer NOT NULL DEFAULT 0
);
"""

DUE = text("""
UPDATE contactsync_fleet_schedule s
   SET next_at = GREATEST(s.next_at + make_interval(secs => v.secs), now())
  FROM unnest(CAST(:names AS text[]), CAST(:secs AS float8[])) AS v(config, secs)
 WHERE s.config = v.config AND s.next_at <= now()
RETURNING s.config
""")

FINISHED = text("""
UPDATE contactsync_fleet_schedule
   SET running_on = NULL, finished_at = now(), last_status = :status, last_error = :error,
       last_run_id = :run_id,
       failures = CASE WHEN :failed THEN failures + 1 ELSE 0 END,
       next_at = CASE WHEN :failed THEN GREATEST(next_at, now() + make_interval(
           secs => LEAST(:interval * power(2, failures + 1), :max_backoff))) ELSE next_at END
 WHERE config = :config
""")

# the token bucket: refill for the time since the last take, take one; a negative balance is
# a reservation, and its holder waits -tokens/rate seconds for its turn. The day's count
# starts again at 00:00 UTC; a budget whose quota is used up takes nothing and returns no row.
TAKE = text("""
WITH t AS (SELECT clock_timestamp() AS at, (clock_timestamp() AT TIME ZONE 'UTC')::date AS today)
UPDATE contactsync_fleet_budgets b
   SET tokens = LEAST(b.burst,
                      b.tokens + b.rate * EXTRACT(EPOCH FROM t.at - b.updated_at)::float8) - 1,
       updated_at = t.at,
       used = CASE WHEN b.day = t.today THEN b.used ELSE 0 END + 1,
       day = t.today
  FROM t
 WHERE b.name = :name
   AND (b.daily_quota IS NULL OR CASE WHEN b.day = t.today THEN b.used ELSE 0 END < b.daily_quota)
RETURNING b.tokens, b.rate
""")


@dataclass(frozen=True)
class Scheduled:
    config: str
    next_at: datetime
    failures: int
    running_on: str | None
    started_at: datetime | None
    finished_at: datetime | None
    last_status: str | None
    last_error: str | None
    last_run_id: int | None


class QueueDb:
    def __init__(self, url: URL, pool_size: int = 5) -> None:
        self.engine: Engine = create_engine(
            url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
        )

    def dispose(self) -> None:
        self.engine.dispose()

    def ensure_tables(self) -> None:
        with self.engine.begin() as c:
            # workers starting together: one creates, the others wait and find them there
            c.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": TABLES_LOCK})
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    c.execute(text(statement))

    # --- the schedule -----------------------------------------------------------------------

    def enrol(self, members: Iterable[Member]) -> None:
        """A row for each configuration not scheduled yet; first runs spread over an interval
        (by a hash of the name), so that a fleet started at once does not start at once."""
        rows = [
            {"c": m.name, "p": (zlib.crc32(m.name.encode()) % 1000) / 1000 * m.interval}
            for m in members
        ]
        if not rows:
            return
        q = text(
            "INSERT INTO contactsync_fleet_schedule (config, next_at) "
            "VALUES (:c, now() + make_interval(secs => :p)) ON CONFLICT DO NOTHING"
        )
        with self.engine.begin() as c:
            c.execute(q, rows)

    def take_due(self, members: Iterable[Member]) -> list[str]:
        """The configurations whose run is due, their next run moved one interval on."""
        ms = list(members)
        params = {"names": [m.name for m in ms], "secs": [m.interval for m in ms]}
        with self.engine.begin() as c:
            return sorted(c.execute(DUE, params).scalars())

    def started(self, config: str, holder: str) -> None:
        with self.engine.begin() as c:
            c.execute(
                text(
                    "UPDATE contactsync_fleet_schedule SET running_on = :h, started_at = now() "
                    "WHERE config = :c"
                ),
                {"h": holder, "c": config},
            )

    def finished(
        self,
        config: str,
        *,
        status: str,
        error: str | None,
        run_id: int | None,
        failed: bool,
        interval: float,
        max_backoff: float,
    ) -> None:
        """The run's outcome; a failure pushes the next run back, doubling per failure in a
        row up to max_backoff, for this configuration only."""
        params: dict[str, Any] = {
            "config": config,
            "status": status,
            "error": error,
            "run_id": run_id,
            "failed": failed,
            "interval": interval,
            "max_backoff": max_backoff,
        }
        with self.engine.begin() as c:
            c.execute(FINISHED, params)

    def schedule(self) -> dict[str, Scheduled]:
        with self.engine.connect() as c:
            rows = c.execute(text("SELECT * FROM contactsync_fleet_schedule")).mappings()
            return {r["config"]: Scheduled(**r) for r in rows}

    # --- budgets ----------------------------------------------------------------------------

    def set_budgets(self, budgets: Iterable[Budget]) -> None:
        """Each budget as fleet.toml says now; the balance and the day's count are kept."""
        q = text("""
            INSERT INTO contactsync_fleet_budgets
                   (name, rate, burst, daily_quota, tokens, updated_at, day)
            VALUES (:n, :r, :b, :q, :b, clock_timestamp(), (now() AT TIME ZONE 'UTC')::date)
            ON CONFLICT (name) DO UPDATE
               SET rate = EXCLUDED.rate, burst = EXCLUDED.burst,
                   daily_quota = EXCLUDED.daily_quota
        """)
        rows = [
            {"n": b.name, "r": b.spec.rate, "b": b.spec.burst, "q": b.spec.daily_quota}
            for b in budgets
        ]
        if rows:
            with self.engine.begin() as c:
                c.execute(q, rows)

    def take(self, budget: str) -> float:
        """Take one request from a budget: the seconds to wait before sending it. Raises
        QuotaExhausted when the day's quota is used up (nothing is taken then)."""
        with self.engine.begin() as c:
            row = c.execute(TAKE, {"name": budget}).first()
            if row is None:
                quota = c.execute(
                    text("SELECT daily_quota FROM contactsync_fleet_budgets WHERE name = :n"),
                    {"n": budget},
                ).scalar()
        if row is None:
            if quota is None:
                raise KeyError(f"no budget named {budget!r} in the queue database")
            raise QuotaExhausted(
                f"budget {budget}: all {quota} requests of today are used (the count starts "
                "again at 00:00 UTC; the next run resumes from the cursor)"
            )
        tokens, rate = float(row[0]), float(row[1])
        return -tokens / rate if tokens < 0 else 0.0

    def usage(self) -> dict[str, dict[str, Any]]:
        with self.engine.connect() as c:
            rows = c.execute(
                text(
                    "SELECT name, rate, daily_quota, "
                    "CASE WHEN day = (now() AT TIME ZONE 'UTC')::date THEN used ELSE 0 END "
                    "AS used_today FROM contactsync_fleet_budgets"
                )
            ).mappings()
            return {r["name"]: dict(r) for r in rows}
