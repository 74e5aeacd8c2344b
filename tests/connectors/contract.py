"""The connector contract: one test class that every connector passes against its emulator.

A vendor's test module subclasses ConnectorContract and sets `emulator_cls` (the emulator
gives the system table and the credentials it accepts), then provides:

    def person(self) -> dict                  a canonical contact the mapping can carry

(the default suits the identity mapping of memory and CSV systems) and overrides
`emulator()`, `table()`, `env()` or `bad_env()` only where its vendor needs more.
`missing_id` is an ID no record has; `update_of_missing_is_not_found = False` for a vendor
whose refusal cannot say why (OneContact). The emulator's clock is moved on (`advance`)
where a test needs the server's clock past a write (sync/connectors/cursor.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from sync.config import AUTH_NEEDS, SystemSettings
from sync.connectors.base import Connector, HttpConnector
from sync.errors import AuthError, ConfigError, NotFound, Rejected
from sync.sandbox.base import Emulator, Faults
from tests.helpers import system_settings


class ConnectorContract:
    name = "system"
    emulator_cls: type[Emulator] = Emulator
    missing_id = "999999999"
    update_of_missing_is_not_found = True

    def emulator(self) -> Emulator:
        return self.emulator_cls()

    def table(self) -> dict[str, Any]:
        table: dict[str, Any] = self.emulator().system_table(f"http://{self.name}.test")  # type: ignore[attr-defined]
        return table

    def env(self) -> dict[str, str]:
        return dict(getattr(self.emulator_cls, "DEFAULT_ENV", {}))

    def bad_env(self) -> dict[str, str]:
        """Credentials the emulator refuses: every one it accepts, altered."""
        return {key: f"not-{value}" for key, value in self.env().items()}

    def person(self) -> dict[str, Any]:
        """A canonical contact the mapping can carry; this one suits the identity mapping
        of the memory and CSV systems, a vendor's subclass gives what its mapping holds."""
        return {
            "email": "ada@example.org",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "title": "Analyst",
            "active": True,
        }

    def settings(self, env: dict[str, str] | None = None, **extra: Any) -> SystemSettings:
        table = {"retries": 6, "backoff": 0, "timeout": 2, **self.table(), **extra}
        return system_settings(self.name, table, env or self.env())

    def connect(self, emu: Emulator, settings: SystemSettings | None = None) -> Connector:
        settings = settings or self.settings()
        cls = type(self).connector_cls(settings)
        return cls.build(settings, transport=emu.transport())

    @staticmethod
    def connector_cls(settings: SystemSettings) -> type[Connector]:
        from sync.connectors import connector_class

        cls = connector_class(settings.connector)
        assert cls is not None
        return cls

    @pytest.fixture
    async def pair(self) -> AsyncIterator[tuple[Connector, Emulator]]:
        emu = self.emulator()
        conn = self.connect(emu)
        yield conn, emu
        await conn.aclose()

    async def _create(self, conn: Connector, person: dict[str, Any]) -> str:
        mapping = conn.settings.mapping
        payload = mapping.to_system(person, create=True)
        written = await conn.create(payload, email=person.get("email"))
        assert written.vendor_id
        return written.vendor_id

    @staticmethod
    def advance(emu: Any, seconds: float) -> None:
        """Move the server's clock on, where the test's server has one to move."""
        clock = getattr(emu, "clock", None)
        if clock is not None:
            clock.advance(seconds)

    @staticmethod
    def _changeable(mapping: Any) -> str:
        """A text field this mapping writes, to change in the update tests."""
        wanted = ("title", "last_name", "department", "company", "city")
        return next(f for f in wanted if f in mapping.write_fields and f in mapping.read_fields)

    async def _listed(self, conn: Connector) -> dict[str, dict[str, Any]]:
        listing = await conn.list_all()
        assert listing.complete
        return {r.id: r.data for r in listing.records}

    async def test_created_record_reads_back_as_sent(self, pair: Any) -> None:
        conn, emu = pair
        person = self.person()
        payload = conn.settings.mapping.to_system(person, create=True)
        written = await conn.create(payload, email=person.get("email"))
        from sync.contact import Schema

        mapping = conn.settings.mapping
        canon = Schema(mapping.custom)
        if not conn.can_list:
            # write-only: the one body written is the payload, and the system holds the person
            (sent,) = emu.writes()
            assert written.record is not None and sent.json() == written.record
            assert mapping.echo(person, canon) == mapping.echo(
                mapping.from_system(sent.json(), canon), canon
            )
            held = {
                k: v for p in emu.people() if p["id"] == written.vendor_id for k, v in p.items()
            }
            assert {k: v for k, v in held.items() if k != "id"} == {
                k: v for k, v in person.items() if k in mapping.write_fields
            }
            return
        listed = await self._listed(conn)
        assert written.vendor_id in listed
        assert mapping.from_system(listed[written.vendor_id], canon) == mapping.roundtrip(
            person, canon
        )

    async def test_update_changes_only_what_was_sent(self, pair: Any) -> None:
        conn, _emu = pair
        if not conn.can_update:
            pytest.skip("system cannot update")
        person = self.person()
        vendor_id = await self._create(conn, person)
        mapping = conn.settings.mapping
        field = self._changeable(mapping)
        changed = {**person, field: "Changed"}
        await conn.update(
            vendor_id, mapping.to_system(changed, [field]), mapping.to_system(changed)
        )
        if not conn.can_list:
            return
        from sync.contact import Schema

        canon = Schema(mapping.custom)
        listed = await self._listed(conn)
        assert mapping.from_system(listed[vendor_id], canon) == mapping.roundtrip(changed, canon)

    async def test_delete_removes_and_twice_is_fine(self, pair: Any) -> None:
        conn, _emu = pair
        if not conn.can_delete:
            pytest.skip("system cannot delete")
        vendor_id = await self._create(conn, self.person())
        await conn.delete(vendor_id)
        await conn.delete(vendor_id)
        if conn.can_list:
            assert vendor_id not in await self._listed(conn)

    async def test_find_by_email(self, pair: Any) -> None:
        conn, _emu = pair
        if not conn.can_find_by_email:
            pytest.skip("system has no lookup")
        person = self.person()
        vendor_id = await self._create(conn, person)
        found = await conn.find_by_email(person["email"])
        assert found is not None and found.id == vendor_id
        assert await conn.find_by_email("nobody@example.org") is None
        assert await conn.find_by_email("o'hara' OR 1=1 --@example.org") is None

    async def test_email_lookup_ignores_case_and_spaces(self, pair: Any) -> None:
        conn, _emu = pair
        if not conn.can_find_by_email:
            pytest.skip("system has no lookup")
        person = self.person()
        vendor_id = await self._create(conn, person)
        found = await conn.find_by_email(f"  {person['email'].upper()} ")
        assert found is not None and found.id == vendor_id

    async def test_list_changed_after_cursor(self, pair: Any) -> None:
        conn, emu = pair
        if not conn.can_list_changes:
            pytest.skip("system has no incremental listing")
        first = await self._create(conn, self.person())
        self.advance(emu, 2)  # the server's clock moves past the first write
        before = await conn.list_changed(None)
        assert first in {r.id for r in before.records}
        assert before.complete and before.cursor
        other = {**self.person(), "email": "second.person@example.org"}
        second = await self._create(conn, other)
        after = await conn.list_changed(before.cursor)
        assert after.complete
        # what changed is listed, and what did not change is not
        assert {r.id for r in after.records} == {second}

    async def test_a_boundary_of_equal_times_loses_nothing_and_repeats_nothing(
        self, pair: Any
    ) -> None:
        conn, emu = pair
        if not conn.can_list_changes:
            pytest.skip("system has no incremental listing")
        first = await self._create(conn, self.person())
        self.advance(emu, 2)
        before = await conn.list_changed(None)
        other = {**self.person(), "email": "same.second@example.org"}
        second = await self._create(conn, other)
        try:
            emu.restamp(second, like=first)  # saved in the same second, as the vendor keeps it
        except (AttributeError, NotImplementedError):
            pytest.skip("no update times to share: the system's cursor is its own token")
        after = await conn.list_changed(before.cursor)
        assert after.complete and {r.id for r in after.records} == {second}

    async def test_a_page_of_one(self) -> None:
        emu = self.emulator()
        probe = self.connect(emu)
        await probe.aclose()
        if not probe.can_list or "page_size" not in probe.Options.model_fields:
            pytest.skip("system has no page size")
        conn = self.connect(emu, self.settings(page_size=1))
        try:
            ids = set()
            for i in range(3):
                ids.add(
                    await self._create(conn, {**self.person(), "email": f"page{i}@example.org"})
                )
            assert ids <= set(await self._listed(conn))
        finally:
            await conn.aclose()

    async def test_updating_a_missing_record_is_not_found(self, pair: Any) -> None:
        conn, _emu = pair
        if not conn.can_update:
            pytest.skip("system cannot update")
        mapping = conn.settings.mapping
        person = self.person()
        field = self._changeable(mapping)
        changed = {**person, field: "Changed"}
        update = conn.update(
            self.missing_id, mapping.to_system(changed, [field]), mapping.to_system(changed)
        )
        if not self.update_of_missing_is_not_found:
            with pytest.raises(Rejected):
                await update
            return
        with pytest.raises(NotFound):
            await update

    async def test_bad_credentials_are_an_auth_error(self) -> None:
        emu = self.emulator()
        conn = self.connect(emu, self.settings(self.bad_env()))
        if not isinstance(conn, HttpConnector):
            await conn.aclose()
            pytest.skip("a system without credentials")
        try:
            with pytest.raises(AuthError):
                if conn.can_list:
                    await conn.list_all()
                else:
                    await conn.create(conn.settings.mapping.to_system(self.person(), create=True))
        finally:
            await conn.aclose()

    async def test_a_listing_that_keeps_failing_is_incomplete(self) -> None:
        emu = self.emulator()
        conn = self.connect(emu, self.settings(retries=0))
        try:
            if not conn.can_list or not isinstance(conn, HttpConnector):
                pytest.skip("write-only system, or one without requests to fail")
            await self._create(conn, self.person())
            emu.faults = Faults(rate=1.0, kinds=("503",))
            listing = await conn.list_all()
        finally:
            await conn.aclose()
        assert not listing.complete and listing.problems
        assert "failed" in listing.problems[0]

    def test_only_the_vendors_auth_kinds_are_accepted(self) -> None:
        cls = type(self).connector_cls(self.settings())
        vendor = getattr(cls, "vendor", None)
        accepted = tuple(vendor.auth.kinds) if vendor is not None else ()
        if not accepted:
            pytest.skip("any auth kind will do")
        for kind in [k for k in AUTH_NEEDS if k not in accepted]:
            with pytest.raises(ConfigError, match=f"auth.kind = '{kind}' will not do"):
                self.settings(auth={"kind": kind})

    async def test_reads_survive_transient_faults(self, pair: Any) -> None:
        conn, emu = pair
        if not conn.can_list or not isinstance(conn, HttpConnector):
            pytest.skip("write-only system, or one without a transport to fail")
        vendor_id = await self._create(conn, self.person())
        emu.faults = Faults(rate=0.5, kinds=("429", "503", "reset", "malformed"), seed=3)
        listed = await self._listed(conn)
        assert vendor_id in listed
