"""Request budgets shared by every worker: the limiter each system's HTTP client waits on.

A vendor counts requests per credential, not per worker, so a budget lives in the queue
database (queue.TAKE, a token bucket taken from in one statement) and every worker that runs
a system it covers takes from it before each request. Which systems share a credential is
said in fleet.toml ([budgets.NAME] base_url, and the configurations): the operator knows
which accounts are the same, and contactsync never keeps a credential's value, not even a
hash of it, to find out. A system no budget covers keeps its own `rate_limit` for the run.

The worker installs `factory` through sync.http.set_limiter_factory; the configuration a run
belongs to is known from a context variable that the runner sets around the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Iterator

from sync.config import SystemSettings
from sync.fleet.queue import QueueDb
from sync.fleet.settings import Budget, Fleet
from sync.http import Limiter, RateLimiter

log = logging.getLogger("sync.fleet.budget")

current_config: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "contactsync_fleet_config", default=None
)


@contextlib.contextmanager
def running(config: str) -> Iterator[None]:
    """Mark the code in the block (and the event loop it starts) as one configuration's."""
    token = current_config.set(config)
    try:
        yield
    finally:
        current_config.reset(token)


class SharedLimiter:
    """Waits for a request's turn in a budget the whole fleet shares."""

    def __init__(self, db: QueueDb, budget: Budget) -> None:
        self.db = db
        self.budget = budget

    async def wait(self) -> None:
        # the take is one short statement on a pooled connection; in a thread, so that the
        # run's other requests go on meanwhile
        delay = await asyncio.to_thread(self.db.take, self.budget.name)
        if delay > 0:
            await asyncio.sleep(delay)


class Limiters:
    """What sync.http.set_limiter_factory is given on a worker."""

    def __init__(self, fleet: Fleet, db: QueueDb) -> None:
        self.fleet = fleet
        self.db = db

    def __call__(self, settings: SystemSettings) -> Limiter:
        config = current_config.get()
        budget = self.fleet.budget_for(config, settings.spec.base_url) if config else None
        if budget is None:
            return RateLimiter(settings.spec.rate_limit)
        log.debug("%s/%s draws from budget %s", config, settings.name, budget.name)
        return SharedLimiter(self.db, budget)
