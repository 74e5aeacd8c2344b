"""A Hypothesis state machine over two memory systems, the Lightening emulator (in-process)
and a write-only memory dialer: random adds, edits, deletes, faults, crashes between phases
and syncs. Invariants: nothing nobody deleted ever disappears; a write-only system is never
read; and after quiet runs every system agrees on every mapped field, no email is held twice,
and every edit is everywhere or in an open conflict."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from sync import engine as engine_module
from sync.connectors import memory
from sync.sandbox.base import REQUEST_FAULTS, Faults
from sync.sandbox.lightening import LighteningEmulator
from tests.sandbox_world import Sandbox

LISTABLE = ["a", "b", "light"]
ALL = [*LISTABLE, "dialer"]
PEOPLE = [f"p{i}@example.org" for i in range(4)]
FIELDS = ["last_name", "department"]
VALUES = ["x", "y", "z"]
PHASES = ["recovered", "journalled", "pushed"]
FAULTS = (*(k for k in REQUEST_FAULTS if k != "timeout"), "truncate")


class Crash(Exception):
    pass


class SyncMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory()
        self.light = LighteningEmulator()
        self.sb = Sandbox(
            Path(self.tmp.name),
            {"light": self.light},
            {"a": {}, "b": {}, "dialer": {"write_only": True}},
            conflict_policy="manual",
            max_delete_fraction=0.5,
        )
        self.edits: dict[tuple[str, str], str] = {}  # last value edited, since the last quiet
        self.deleted: set[str] = set()  # emails deleted somewhere since the last quiet
        self.read_stores: set[str] = set()
        self._spy()

    def _spy(self) -> None:
        """Record which memory stores are read: the dialer's never may be."""
        machine = self
        listed, found = memory.MemoryConnector.list_all, memory.MemoryConnector.find_by_email
        self._originals = (listed, found)

        async def list_all(conn: memory.MemoryConnector) -> Any:
            machine.read_stores.add(conn.settings.name)
            return await listed(conn)

        async def find_by_email(conn: memory.MemoryConnector, email: str) -> Any:
            machine.read_stores.add(conn.settings.name)
            return await found(conn, email)

        memory.MemoryConnector.list_all = list_all  # type: ignore[method-assign,assignment]
        memory.MemoryConnector.find_by_email = find_by_email  # type: ignore[method-assign,assignment]

    def teardown(self) -> None:
        memory.MemoryConnector.list_all, memory.MemoryConnector.find_by_email = self._originals  # type: ignore[method-assign]
        self.sb.dispose()
        self.tmp.cleanup()

    # --- what each system holds ---

    def held(self, system: str) -> dict[str, dict[str, Any]]:
        people = self.sb.people(system)
        return {str(p.get("email")): p for p in people}

    def light_id(self, email: str) -> str | None:
        return next((p["id"] for p in self.light.people() if p.get("email") == email), None)

    # --- rules ---

    @rule(system=st.sampled_from(LISTABLE), email=st.sampled_from(PEOPLE))
    def add(self, system: str, email: str) -> None:
        if email in self.held(system):
            return
        person = {"email": email, "first_name": "P", "last_name": "n"}
        if system == "light":
            self.light.seed_person(person)
        else:
            self.sb.records(system)[f"{system}-{email}"] = {"id": f"{system}-{email}", **person}
        self.edits[(email, "last_name")] = "n"

    @rule(
        system=st.sampled_from(LISTABLE),
        email=st.sampled_from(PEOPLE),
        name=st.sampled_from(FIELDS),
        value=st.sampled_from(VALUES),
    )
    def edit(self, system: str, email: str, name: str, value: str) -> None:
        if email not in self.held(system):
            return
        if system == "light":
            vendor_id = self.light_id(email)
            assert vendor_id is not None
            self.light.edit(vendor_id, **{name: value})
        else:
            record = next(r for r in self.sb.records(system).values() if r["email"] == email)
            record[name] = value
        self.edits[(email, name)] = value

    @rule(system=st.sampled_from(LISTABLE), email=st.sampled_from(PEOPLE))
    def delete(self, system: str, email: str) -> None:
        if email not in self.held(system):
            return
        if system == "light":
            vendor_id = self.light_id(email)
            assert vendor_id is not None
            self.light.remove(vendor_id)
        else:
            records = self.sb.records(system)
            del records[next(k for k, r in records.items() if r["email"] == email)]
        self.deleted.add(email)

    @rule(rate=st.sampled_from([0.0, 0.2]), seed=st.integers(0, 1000))
    def faults(self, rate: float, seed: int) -> None:
        self.light.faults = Faults(rate=rate, kinds=FAULTS, seed=seed)

    @rule(crash_at=st.sampled_from(["", "", *PHASES]))
    def sync(self, crash_at: str) -> None:
        """A run, or one that dies at a phase (after recovery, after journalling the plan,
        after pushing but before committing)."""

        def die(phase: str) -> None:
            if phase == crash_at:
                raise Crash(phase)

        def run() -> None:
            if not crash_at:
                self.sb.run()
                return
            original = engine_module.checkpoint
            engine_module.checkpoint = die
            try:
                with pytest.raises(Crash):
                    self.sb.run()
            finally:
                engine_module.checkpoint = original

        self._guarded(run)

    def _guarded(self, run: Any) -> None:
        """Nothing that nobody deleted may disappear from a listable system."""
        before = {s: set(self.held(s)) for s in LISTABLE}
        run()
        for system in LISTABLE:
            vanished = before[system] - set(self.held(system)) - self.deleted
            assert not vanished, f"{vanished} vanished from {system} though nobody deleted them"

    @rule()
    def quiet(self) -> None:
        """Faults off, runs until nothing is written; then the guarantees must hold."""
        self.light.faults = Faults()
        for _ in range(5):
            if self.sb.run(allow_mass_delete=True).writes == 0:
                break
        else:
            raise AssertionError("no quiet run after five")
        self.deleted.clear()
        open_fields = {(email, c.field) for c, email in self.sb.store.conflicts()}
        holders = {s: self.held(s) for s in ALL}
        emails = set(holders["a"])
        for system in ALL:
            found = [str(p.get("email")) for p in self.sb.people(system)]
            assert len(found) == len(set(found)), f"{system} holds an email twice: {found}"
        for system in LISTABLE:
            assert set(holders[system]) == emails, (system, holders)
        # the dialer holds what was written to it: all of them (no filter here)
        assert set(holders["dialer"]) == emails, holders["dialer"]
        for email in emails:
            for name in FIELDS:
                if (email, name) in open_fields:
                    continue
                values = {holders[s][email].get(name) for s in ALL}
                assert len(values) == 1, (email, name, values)
                edited = self.edits.get((email, name))
                if edited is not None:
                    assert values == {edited}, (email, name, values, edited)
        self.edits.clear()

    @invariant()
    def write_only_is_never_read(self) -> None:
        assert "dialer" not in self.read_stores


SyncMachine.TestCase.settings = settings(
    max_examples=30,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestSyncMachine = SyncMachine.TestCase


@pytest.mark.slow
def test_the_machine_at_length() -> None:
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(
        SyncMachine,
        settings=settings(
            max_examples=60,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
