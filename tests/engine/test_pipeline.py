"""Deciding, journalling and pushing overlap (sync/pipeline.py): the first requests go out
while later contacts are still being decided, and each action is in the journal, committed
pending, before its own request goes out."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from sync import commit, pipeline
from sync.connectors import memory
from sync.decide import Round
from sync.store.models import JournalEntry
from tests.engine_helpers import World

pytestmark = pytest.mark.usefixtures("backend")


def deciding_world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, n: int
) -> tuple[World, list[str], list[str]]:
    """crm and desk, `n` people in crm; the contact IDs in the order they are decided."""
    w = World(tmp_path, ["crm", "desk"])
    people = [f"p{i:02d}@example.org" for i in range(n)]
    for email in people:
        w.add("crm", email=email, title="T")
    decided: list[str] = []
    contact = Round.contact

    def deciding(self: Round, cid: str) -> None:
        decided.append(cid)
        contact(self, cid)

    monkeypatch.setattr(Round, "contact", deciding)
    return w, people, decided


def test_pushes_start_before_the_last_contact_is_decided_and_each_is_journalled_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "SLICE", 2)
    monkeypatch.setattr(pipeline, "FIRST_PART", 2)
    w, people, decided = deciding_world(tmp_path, monkeypatch, 24)
    sent: list[tuple[str, int, list[str]]] = []
    create = memory.MemoryConnector.create

    async def sending(self: Any, payload: dict[str, Any], *, email: str | None = None) -> Any:
        with w.store.session() as s:  # a session of its own: it sees only what is committed
            q = select(JournalEntry.state).where(
                JournalEntry.email == email, JournalEntry.system == "desk"
            )
            states = list(s.scalars(q))
        sent.append((str(email), len(decided), states))
        return await create(self, payload, email=email)

    monkeypatch.setattr(memory.MemoryConnector, "create", sending)
    report = w.sync()
    assert report.exit_code == 0 and report.system("desk").created == len(people)
    assert sorted(email for email, _, _ in sent) == people
    assert sent[0][1] < len(people), "the first create waited for every contact's decision"
    for email, _, states in sent:
        assert states == ["pending"], (email, states)
    with w.store.session() as s:
        assert set(s.scalars(select(JournalEntry.state))) == {"done"}
    assert w.sync().writes == 0


def test_what_was_sent_is_let_go_before_the_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memory: a run holds its actions and outcomes until its commit; the bodies of actions
    already answered and the workers that sent them are not kept that long."""
    monkeypatch.setattr(pipeline, "SLICE", 2)
    monkeypatch.setattr(pipeline, "FIRST_PART", 2)
    w = World(tmp_path, ["crm", "desk"])
    for i in range(12):
        w.add("crm", email=f"p{i:02d}@example.org", title="T")
    seen: dict[str, Any] = {}
    settle = commit.settle

    def settling(decision: Any, outcomes: list[Any], *args: Any) -> Any:
        gc.collect()
        seen["workers"] = [
            o
            for o in gc.get_objects()
            if isinstance(o, asyncio.Task)
            and getattr(o.get_coro(), "__qualname__", None) == "Pusher._worker"
        ]
        seen["bodies"] = [(o.action.payload, o.action.full, o.action.echo) for o in outcomes]
        seen["snapshots"] = [o.snapshot for o in outcomes]
        return settle(decision, outcomes, *args)

    monkeypatch.setattr(commit, "settle", settling)
    report = w.sync()
    assert report.system("desk").created == 12
    assert seen["workers"] == []
    assert seen["bodies"] == [({}, {}, {})] * 12
    assert all(snap and snap["title"] == "T" for snap in seen["snapshots"])
    assert w.sync().writes == 0


def test_deciding_waits_for_the_sending_when_it_is_far_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memory: decided actions wait to be sent holding their bodies, so deciding does not run
    more than AHEAD actions (and the part in hand) ahead of the sending."""
    monkeypatch.setattr(pipeline, "SLICE", 1)
    monkeypatch.setattr(pipeline, "FIRST_PART", 1)
    monkeypatch.setattr(pipeline, "LARGEST_PART", 2)
    monkeypatch.setattr(pipeline, "AHEAD", 3)
    w, people, decided = deciding_world(tmp_path, monkeypatch, 30)
    ahead: list[int] = []
    create = memory.MemoryConnector.create

    async def sending(self: Any, payload: dict[str, Any], *, email: str | None = None) -> Any:
        ahead.append(len(decided) - len(ahead))
        await asyncio.sleep(0.005)
        return await create(self, payload, email=email)

    monkeypatch.setattr(memory.MemoryConnector, "create", sending)
    report = w.sync()
    assert report.exit_code == 0 and report.system("desk").created == len(people)
    assert max(ahead) <= 3 + 2 + 1, ahead  # AHEAD, a part, the slice in hand
    assert w.sync().writes == 0


def test_a_sender_that_breaks_does_not_leave_deciding_waiting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "SLICE", 1)
    monkeypatch.setattr(pipeline, "FIRST_PART", 1)
    monkeypatch.setattr(pipeline, "LARGEST_PART", 2)
    monkeypatch.setattr(pipeline, "AHEAD", 1)
    w = World(tmp_path, ["crm", "desk"])
    for i in range(20):
        w.add("crm", email=f"p{i:02d}@example.org", title="T")

    async def broken(self: Any, payload: dict[str, Any], *, email: str | None = None) -> Any:
        await asyncio.sleep(0.001)
        raise RuntimeError("a bug in a connector")

    monkeypatch.setattr(memory.MemoryConnector, "create", broken)
    with pytest.raises(RuntimeError, match="a bug in a connector"):
        w.sync()
