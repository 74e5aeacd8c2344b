"""What each kind of error does to the journal and the report (push.TABLE; issues 12.5,
11.17, 15.4), follow-ups of creates (12.10), and what a run tells its watcher."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from sync import status
from sync.connectors import memory
from sync.connectors.base import Listing, Written
from sync.errors import AuthError, OutcomeUnknown, QuotaExhausted
from sync.progress import Progress
from sync.store.models import JournalEntry
from tests.engine_helpers import World

pytestmark = pytest.mark.usefixtures("backend")
Conn = memory.MemoryConnector


def states(w: World, system: str) -> list[str]:
    with w.store.session() as s:
        q = select(JournalEntry.state).where(JournalEntry.system == system)
        return list(s.scalars(q.order_by(JournalEntry.id)))


def lands_without_an_answer(monkeypatch: pytest.MonkeyPatch, system: str) -> list[str]:
    """Creates in `system` land, but the answer carries no ID: OutcomeUnknown."""
    real, lost = Conn.create, []

    async def create(self: Conn, payload: dict[str, Any], *, email: str | None = None) -> Written:
        written = await real(self, payload, email=email)
        if self.settings.name != system:
            return written
        lost.append(written.vendor_id)
        raise OutcomeUnknown("created, but the answer held no ID")

    monkeypatch.setattr(Conn, "create", create)
    return lost


def refuses_repeats(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Memory systems get OneContact's duplicate check: a second record of an email is
    refused (None), and the refusal cannot say which record holds it."""
    asked: list[str] = []

    async def unless(self: Conn, payload: dict[str, Any], *, email: str | None = None) -> Any:
        asked.append(email or "")
        if any(str(r.get("email", "")).lower() == email for r in self.records.values()):
            return None
        return await Conn.create(self, payload, email=email)

    monkeypatch.setattr(Conn, "can_refuse_repeats", True)
    monkeypatch.setattr(Conn, "create_unless_exists", unless, raising=False)
    return asked


def test_a_create_answered_without_an_id_is_not_resent_blindly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OneContact with check_repeated = false whose create is answered without an ID: the
    create is `unknown`, resent only through the duplicate check, which refuses it; the
    record is then known to exist unlinked, reported once, and linked by a person."""
    w = World(tmp_path, {"crm": {}, "dialer": {"write_only": True}})
    w.add("crm", email="ada@example.org", title="Analyst")
    with monkeypatch.context() as m:
        lost = lands_without_an_answer(m, "dialer")
        asked = refuses_repeats(m)
        first = w.sync()
        assert first.exit_code == 1 and states(w, "dialer") == ["unknown"]
        second = w.sync()  # recovery: resend only through the duplicate check; refused
        [failure] = second.system("dialer").failed
        assert "duplicate check refused it" in failure["reason"]
        assert asked == ["ada@example.org"]
        third = w.sync()
        assert third.exit_code == 0 and third.writes == 0, "the refusal was reported again"
        assert asked == ["ada@example.org"], "resent after the refusal"
    assert len(w.records("dialer")) == 1, "duplicated"
    assert states(w, "dialer") == ["recovered", "unlinked"]
    [unlinked] = status.collect(w.store, w.settings)["unlinked"]
    assert (unlinked["system"], unlinked["email"]) == ("dialer", "ada@example.org")
    w.store.link("ada@example.org", "dialer", lost[0])  # the person found its ID
    assert status.collect(w.store, w.settings)["unlinked"] == []
    w.edit("crm", "ada@example.org", title="Countess")
    linked = w.sync()
    assert linked.system("dialer").updated == 1 and linked.exit_code == 0
    assert [r["title"] for r in w.records("dialer").values()] == ["Countess"]
    assert w.sync().writes == 0


def test_an_unknown_create_nobody_can_check_is_told_once_not_resent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = World(tmp_path, {"crm": {}, "dialer": {"write_only": True}})
    w.add("crm", email="ada@example.org")
    with monkeypatch.context() as m:
        lands_without_an_answer(m, "dialer")
        w.sync()
    told = w.sync()
    [failure] = told.system("dialer").failed
    assert "can neither be searched nor refuse a repeat" in failure["reason"]
    assert w.sync().exit_code == 0, "told again"
    assert len(w.records("dialer")) == 1
    w.store.unlink("ada@example.org", "dialer")  # the person says: it is not there
    w.records("dialer").clear()
    assert w.sync().system("dialer").created == 1


def test_a_lost_create_found_by_lookup_gets_the_follow_up_it_missed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = World(tmp_path, ["crm", "desk"])
    w.add("crm", email="ada@example.org", title="Analyst")
    w.add("crm", email="bo@example.org", title="Pilot")
    follow: list[tuple[str, str]] = []

    async def after_create(self: Conn, vendor_id: str, payload: dict[str, Any]) -> None:
        follow.append((self.settings.name, str(payload.get("email"))))
        if payload.get("email") == "bo@example.org":
            raise RuntimeError("the incident queue is full")

    monkeypatch.setattr(Conn, "after_create", after_create)
    with monkeypatch.context() as m:
        real, n = Conn.create, Counter[str]()

        async def create(self: Conn, payload: dict[str, Any], *, email: str | None = None) -> Any:
            written = await real(self, payload, email=email)
            n[email or ""] += 1
            if email == "ada@example.org":
                raise OutcomeUnknown("the answer was lost")
            return written

        m.setattr(Conn, "create", create)
        first = w.sync()
    # bo's create landed and its follow-up failed: reported, the create stands
    assert sorted(follow) == [("desk", "bo@example.org")]
    assert any("follow-up" in note and "queue is full" in note for note in first.notes)
    assert first.system("desk").created == 1
    second = w.sync()  # ada's is looked up, adopted, and given its follow-up now
    assert sorted(follow) == [("desk", "ada@example.org"), ("desk", "bo@example.org")]
    assert second.system("desk").created == 0 and len(w.records("desk")) == 2
    assert w.sync().writes == 0


def test_a_system_failure_stops_that_system_and_is_reported_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = World(tmp_path, ["crm", "desk", "shop"])
    for i in range(6):
        w.add("crm", email=f"p{i}@example.org")
    sent: list[str] = []
    real = Conn.create

    async def create(self: Conn, payload: dict[str, Any], *, email: str | None = None) -> Any:
        if self.settings.name == "desk":
            sent.append(email or "")
            raise AuthError("credentials refused (HTTP 401)", status=401)
        return await real(self, payload, email=email)

    with monkeypatch.context() as m:
        m.setattr(Conn, "create", create)
        report = w.sync()
    desk = report.system("desk")
    assert desk.failure == "credentials refused (HTTP 401)"
    assert desk.failed == [], "a system failure counted as failed records"
    assert desk.not_sent == 6 and len(sent) <= w.settings.systems["desk"].spec.concurrency
    assert report.system("shop").created == 6, "the other systems went on"
    assert report.exit_code == 1
    assert status.collect(w.store, w.settings)["cursors"]["desk"]["last_error"] == desk.failure
    again = w.sync()
    assert again.system("desk").created == 6 and again.exit_code == 0
    assert status.collect(w.store, w.settings)["cursors"]["desk"]["last_error"] is None


def test_a_daily_quota_used_up_while_listing_keeps_the_cursor_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str | None] = []
    quota = {"left": True}

    async def changed(self: Conn, cursor: str | None) -> Listing:
        if self.settings.name == "desk":
            asked.append(cursor)
            if not quota["left"]:
                raise QuotaExhausted("desk: 10000 requests today")
        listing = await self.list_all()
        listing.cursor = f"after-{len(listing.records)}"
        return listing

    async def full(self: Conn) -> Listing:
        listing = Listing([memory.VendorRecord(i, dict(r)) for i, r in self.records.items()])
        listing.cursor = f"after-{len(listing.records)}"
        return listing

    monkeypatch.setattr(Conn, "can_list_changes", True)
    monkeypatch.setattr(Conn, "list_changed", changed, raising=False)
    monkeypatch.setattr(Conn, "list_all", full)
    w = World(tmp_path, ["crm", "desk"])
    w.add("desk", email="ada@example.org")
    w.sync()
    w.sync()  # incremental from now on
    w.add("desk", email="bo@example.org")
    quota["left"] = False
    report = w.sync()
    assert report.system("desk").failure == "daily quota exhausted: desk: 10000 requests today"
    assert report.system("desk").failed == [] and not report.system("desk").listed
    cursors = status.collect(w.store, w.settings)["cursors"]
    assert cursors["desk"]["cursor"] == "after-1"
    assert "daily quota exhausted" in cursors["desk"]["last_error"]
    quota["left"] = True
    w.sync()
    assert asked[-2:] == ["after-1", "after-1"], "did not resume from its cursor"
    assert sorted(str(r["email"]) for r in w.records("crm").values()) == [
        "ada@example.org",
        "bo@example.org",
    ]


def test_a_daily_quota_used_up_while_writing_stops_that_system_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = World(tmp_path, ["crm", "desk"])
    for i in range(3):
        w.add("crm", email=f"p{i}@example.org")
    real = Conn.create
    calls = Counter[str]()

    async def create(self: Conn, payload: dict[str, Any], *, email: str | None = None) -> Any:
        calls[self.settings.name] += 1
        if calls["desk"] > 1:
            raise QuotaExhausted("no requests left today")
        return await real(self, payload, email=email)

    with monkeypatch.context() as m:
        m.setattr(Conn, "create", create)
        report = w.sync()
    desk = report.system("desk")
    assert desk.created == 1 and desk.not_sent == 2 and desk.failed == []
    assert desk.failure == "daily quota exhausted: no requests left today"
    assert "daily quota exhausted" in (
        status.collect(w.store, w.settings)["cursors"]["desk"]["last_error"] or ""
    )
    assert w.sync().system("desk").created == 2
    assert len(w.records("desk")) == 3


def test_a_system_listed_empty_on_its_first_run_lists_changes_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def changed(self: Conn, cursor: str | None) -> Listing:
        return Listing([], cursor=cursor)

    async def full(self: Conn) -> Listing:
        records = [memory.VendorRecord(i, dict(r)) for i, r in self.records.items()]
        return Listing(records, cursor="start")

    monkeypatch.setattr(Conn, "can_list_changes", True)
    monkeypatch.setattr(Conn, "list_changed", changed, raising=False)
    monkeypatch.setattr(Conn, "list_all", full)
    w = World(tmp_path, ["crm", "desk"])
    assert w.sync().system("desk").listing == "full"
    assert w.sync().system("desk").listing == "changes"


class Watcher(Progress):
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def listed(self, system: str, records: int, complete: bool) -> None:
        self.calls.append(("listed", system, records, complete))

    def planned(self, counts: Any) -> None:
        self.calls.append(("planned", dict(counts)))

    def sent(self, system: str, kind: str, ok: bool) -> None:
        self.calls.append(("sent", system, kind, ok))

    def finished(self) -> None:
        self.calls.append(("finished",))


def test_a_run_tells_its_watcher_what_it_lists_plans_and_sends(tmp_path: Path) -> None:
    import asyncio

    from sync.engine import Engine

    w = World(tmp_path, {"crm": {}, "desk": {}, "dialer": {"write_only": True}})
    w.add("crm", email="ada@example.org")
    w.add("crm", email="bo@example.org")
    watcher = Watcher()
    asyncio.run(Engine(w.settings, w.store, progress=watcher).run())
    calls = watcher.calls
    assert sorted(c for c in calls if c[0] == "listed") == [
        ("listed", "crm", 2, True),
        ("listed", "desk", 0, True),
    ]
    planned = [c for c in calls if c[0] == "planned"]
    assert planned == [("planned", {("desk", "create"): 2, ("dialer", "create"): 2})]
    sent = [c for c in calls if c[0] == "sent"]
    assert sorted(sent) == [
        ("sent", s, "create", True) for s in ("desk", "desk", "dialer", "dialer")
    ]
    assert calls[-1] == ("finished",) and calls.index(planned[0]) < calls.index(sent[0])
