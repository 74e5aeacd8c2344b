"""`contactsync link EMAIL SYSTEM VENDOR_ID` and `contactsync unlink EMAIL SYSTEM`: a person
tells contactsync which record of a system is a contact, where contactsync cannot find out
itself (OneContact refused a create as a duplicate and its ID cannot be read back: `status`
lists such records). Both hold the sync lease, so they never change links under a run.
"""

from __future__ import annotations

import asyncio

from rich.console import Console

from sync.config import Settings
from sync.connectors import connector_class
from sync.errors import UsageError
from sync.lease import LeaseKeeper, default_holder
from sync.store.repo import Store


def _system(settings: Settings, system: str) -> None:
    if system not in settings.systems:
        valid = ", ".join(settings.systems) or "none"
        raise UsageError(f"no system {system!r} in the configuration (valid: {valid})")


def _can_list(settings: Settings, system: str) -> bool:
    cls = connector_class(settings.systems[system].connector)
    assert cls is not None
    conn = cls.build(settings.systems[system])
    try:
        return conn.can_list
    finally:
        asyncio.run(conn.aclose())


def link(
    settings: Settings, store: Store, email: str, system: str, vendor_id: str, console: Console
) -> int:
    _system(settings, system)
    if not vendor_id.strip():
        raise UsageError("the vendor ID is empty")
    keeper = LeaseKeeper(store, default_holder(settings.daemon.name), settings.lease_ttl)
    with keeper.kept():
        store.link(email, system, vendor_id.strip())
    console.print(
        f"{email} is linked to {system} record {vendor_id}; the next run writes the contact's "
        "values to it"
    )
    return 0


def unlink(settings: Settings, store: Store, email: str, system: str, console: Console) -> int:
    _system(settings, system)
    if _can_list(settings, system):
        raise UsageError(
            f"{system} lists its records, so contactsync sees them itself: delete the record in "
            f"{system} and the next full scan unlinks it"
        )
    keeper = LeaseKeeper(store, default_holder(settings.daemon.name), settings.lease_ttl)
    with keeper.kept():
        found = store.unlink(email, system)
    if not found:
        console.print(f"{email} had no record in {system}; the next run creates it there")
        return 0
    console.print(f"{email} is no longer linked to {system}; the next run creates it there")
    return 0
