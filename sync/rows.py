"""The stored state as plain frozen rows: what the store loads and hands out (pure).

The store (sync/store/) is the only module that speaks SQL; everything else, the deciding
step above all, works on these rows. A row is a snapshot of the database when it was read:
nobody changes one in place, a change is a new value the store writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sync.contact import Record

# `field` of a history row holding every field one source showed first in one run: its
# new_value maps field -> value (one row per contact, not one per field)
FIRST_SEEN = "*"


@dataclass(frozen=True, slots=True)
class ContactRow:
    """One real person; `base` holds the values the systems agreed on after the last run."""

    id: str
    email: str | None
    base: Record
    dirty: bool = False
    deleted_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class LinkRow:
    """Contact <-> (system, vendor ID), with the snapshot of what the system holds. `gone`:
    the system deleted the record while its deletes are ignored (not created there again)."""

    id: int
    contact_id: str
    system: str
    vendor_id: str
    snapshot: Record
    raw_hash: str | None = None
    vendor_updated: datetime | None = None
    gone: bool = False


@dataclass(frozen=True, slots=True)
class ConflictRow:
    id: int
    contact_id: str
    field: str
    base_value: Any
    values: dict[str, Any]
    status: str
    resolution: Any = None
    resolved_by: str | None = None
    run_id: int | None = None
    created_at: datetime | None = None
    resolved_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CursorRow:
    system: str
    value: str | None = None
    last_full_scan: datetime | None = None
    last_success: datetime | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class JournalRow:
    id: int
    run_id: int
    system: str
    contact_id: str
    email: str | None
    kind: str
    vendor_id: str | None
    fields: dict[str, Any]
    state: str
    error: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RunRow:
    id: int
    started_at: datetime
    finished_at: datetime | None
    status: str
    summary: dict[str, Any]
    holder: str | None = None


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """Why a field holds its value: one change of the agreed value, by one run."""

    id: int
    contact_id: str
    run_id: int | None
    field: str
    old_value: Any
    new_value: Any
    source: str
    how: str
    conflict_id: int | None
    at: datetime


@dataclass(frozen=True, slots=True)
class HeldDeletion:
    """A deletion a guard held in the last real run, or one a person allowed."""

    entry_id: int
    system: str
    contact_id: str
    vendor_id: str | None
    email: str | None
    why: str | None


@dataclass(frozen=True, slots=True)
class Unlinked:
    """A contact a system holds under an ID nobody could read back (journal `unlinked`)."""

    entry_id: int
    system: str
    contact_id: str
    email: str | None
    why: str | None
    at: datetime | None


@dataclass
class View:
    """What one run decides over: the contacts its listings touch (or all of them), their
    links and live conflicts, and the allowances and markers that bear on them. Built by the
    store, read by decide, never changed by either."""

    contacts: dict[str, ContactRow] = field(default_factory=dict)
    links: dict[tuple[str, str], LinkRow] = field(default_factory=dict)  # (system, vendor ID)
    by_contact: dict[str, dict[str, LinkRow]] = field(default_factory=dict)
    conflicts: dict[str, dict[str, ConflictRow]] = field(default_factory=dict)  # live ones
    # held deletions a person allowed, by (system, vendor ID) -> journal entry ID
    allowed: dict[tuple[str, str], int] = field(default_factory=dict)
    # (system, contact ID) a system holds unlinked: no create is sent for them
    unlinked: set[tuple[str, str]] = field(default_factory=set)
    # live links per system over the whole store (the mass-delete guard's denominator)
    linked: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        contacts: list[ContactRow],
        links: list[LinkRow],
        conflicts: list[ConflictRow],
        **rest: Any,
    ) -> View:
        view = cls(contacts={c.id: c for c in contacts}, **rest)
        for ln in links:
            view.links[(ln.system, ln.vendor_id)] = ln
            view.by_contact.setdefault(ln.contact_id, {})[ln.system] = ln
        for c in conflicts:
            view.conflicts.setdefault(c.contact_id, {})[c.field] = c
        return view

    def by_email(self) -> dict[str, ContactRow]:
        """Live contacts by email (a deleted one gives way to a live one)."""
        return {c.email: c for c in self.contacts.values() if c.email and c.deleted_at is None}
