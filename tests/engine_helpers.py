"""A small world of memory systems and a fresh store, for engine scenarios."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import pytest

from sync.connectors import memory
from sync.connectors.base import Listing
from sync.engine import Engine
from sync.report import RunReport
from sync.store.repo import Store
from tests.helpers import settings_from

_worlds = itertools.count()
STATE_URL: str | None = None  # set by the `backend` fixture to run a test on PostgreSQL


class World:
    def __init__(
        self,
        tmp: Path,
        systems: dict[str, dict[str, Any]] | list[str],
        url: str | None = None,
        **sync: Any,
    ) -> None:
        tag = next(_worlds)
        tables = systems if isinstance(systems, dict) else {n: {} for n in systems}
        self.stores = {n: f"w{tag}-{n}" for n in tables}
        raw = {
            "state": {"url": url or STATE_URL or f"sqlite:///{tmp / f'state{tag}.db'}"},
            "sync": {"max_delete_fraction": 0.5, **sync},
            "systems": {
                n: {"connector": "memory", "store": self.stores[n], **t} for n, t in tables.items()
            },
        }
        self.settings = settings_from(raw, tmp)
        self.store = Store(self.settings.state_url)
        for n in tables:
            memory.STORES[self.stores[n]] = {}

    def records(self, system: str) -> dict[str, dict[str, Any]]:
        return memory.STORES[self.stores[system]]

    def add(self, system: str, **fields: Any) -> str:
        vendor_id = f"{system}-{len(self.records(system)) + 1}-{next(_worlds)}"
        self.records(system)[vendor_id] = {"id": vendor_id, **fields}
        return vendor_id

    def by_email(self, system: str, email: str) -> dict[str, Any] | None:
        for rec in self.records(system).values():
            if str(rec.get("email", "")).strip().lower() == email:
                return rec
        return None

    def one(self, system: str, email: str) -> dict[str, Any]:
        """The record of `email` in `system`, which must hold it."""
        rec = self.by_email(system, email)
        assert rec is not None, f"{email} not in {system}"
        return rec

    def edit(self, system: str, who: str, /, **fields: Any) -> None:
        self.one(system, who).update(fields)

    def remove(self, system: str, email: str) -> None:
        del self.records(system)[self.one(system, email)["id"]]

    def sync(self, **kw: Any) -> RunReport:
        return asyncio.run(Engine(self.settings, self.store).run(**kw))


def held_deletions_world(tmp: Path) -> World:
    """Eight people synced from crm to desk, then three deleted in crm: above the 0.25
    fraction, so the last run held those deletions."""
    w = World(tmp, ["crm", "desk"], max_delete_fraction=0.25)
    for i in range(8):
        w.add("crm", email=f"p{i}@example.org")
    w.sync()
    for i in range(3):
        w.remove("crm", f"p{i}@example.org")
    return w


def cut_short(monkeypatch: pytest.MonkeyPatch, system: str) -> None:
    """`system`'s full listings stop after their first record, incomplete ("page 2 failed")."""
    real = memory.MemoryConnector.list_all

    async def first_page(self: memory.MemoryConnector) -> Listing:
        listing = await real(self)
        if self.settings.name == system:
            return Listing(listing.records[:1], complete=False, problems=["page 2 failed"])
        return listing

    monkeypatch.setattr(memory.MemoryConnector, "list_all", first_page)
