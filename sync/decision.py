"""What a run decided, as data: the output of sync/decide.py, written by the store (pure).

Two commits carry it. The journal's commit, before the first request, holds the actions,
the held deletions and every change to what already existed (contacts' new base values with
the history that explains them, settled conflicts, ignored deletions, used allowances). The
run's last commit, after the answers, holds links and snapshots, new contacts with their
history, new conflicts and cursors (sync/commit.py works out what the answers change).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sync.contact import Record, Schema
from sync.deletion_guard import Held
from sync.mapping import Mapping
from sync.match import RecordFailure
from sync.plan import Action, Target
from sync.rows import ContactRow, LinkRow, View
from sync.states import ConflictStatus


@dataclass(frozen=True)
class Rules:
    """What deciding depends on besides the data: the settings and what each system can do."""

    schema: Schema
    mappings: dict[str, Mapping]  # every system's
    targets: dict[str, Target]  # the writable systems
    ignore_deletes: frozenset[str] = frozenset()  # systems whose deletions only unlink
    policy: str = "manual"
    priority: tuple[str, ...] = ()
    max_delete_fraction: float = 0.2
    allow_mass_delete: bool = False


@dataclass(frozen=True)
class Recovered:
    """What recovery found of creates left in flight, by (system, email): landed ones to
    adopt (vendor ID, snapshot), ones not to send this run (the reason), and ones to resend
    only through the vendor's own duplicate check."""

    adopted: dict[tuple[str, str], tuple[str, Record]] = field(default_factory=dict)
    blocked: dict[tuple[str, str], str] = field(default_factory=dict)
    recheck: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True, slots=True)
class LinkSeen:
    """A link's new snapshot as a listing showed it (or as recovery adopted it)."""

    vendor_id: str
    snapshot: Record
    raw: str | None = None
    updated: datetime | None = None


@dataclass(frozen=True, slots=True)
class ConflictChange:
    """An existing conflict settled (`status`) or given new values."""

    id: int
    status: str | None = None
    resolved_at: datetime | None = None
    values: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class NewConflict:
    contact_id: str
    field: str
    base_value: Any
    values: dict[str, Any]
    status: str
    run_id: int | None
    created_at: datetime
    resolution: Any = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None


@dataclass
class Decision:
    at: datetime
    actions: list[Action] = field(default_factory=list)
    # the decided state of every contact the run evaluated or first saw
    contacts: dict[str, ContactRow] = field(default_factory=dict)
    new: set[str] = field(default_factory=set)  # contact IDs first seen now
    changed: list[ContactRow] = field(default_factory=list)  # existing contacts that changed
    stamped: set[str] = field(default_factory=set)  # contacts whose base or tombstone moved
    links: dict[tuple[str, str], LinkSeen] = field(default_factory=dict)  # (contact, system)
    dropped: list[LinkRow] = field(default_factory=list)
    gone: list[int] = field(default_factory=list)  # links whose system's deletes are ignored
    conflict_changes: list[ConflictChange] = field(default_factory=list)
    new_conflicts: list[NewConflict] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    held: list[Held] = field(default_factory=list)
    released: list[int] = field(default_factory=list)  # allowances this run settles
    raw_fixes: list[tuple[str, str, str]] = field(default_factory=list)
    read_failed: set[str] = field(default_factory=set)
    # for the report
    failures: list[RecordFailure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    held_why: dict[str, str] = field(default_factory=dict)
    conflicts: Counter[str] = field(default_factory=Counter)  # new conflicts per system
    deferred: Counter[str] = field(default_factory=Counter)  # creates waiting for a listing

    def open_conflicts(self, view: View) -> int:
        """Conflicts waiting for a person once this decision is committed."""
        settled = {ch.id for ch in self.conflict_changes if ch.status is not None}
        kept = sum(
            1
            for per in view.conflicts.values()
            for c in per.values()
            if c.status == ConflictStatus.OPEN and c.id not in settled
        )
        return kept + sum(1 for c in self.new_conflicts if c.status == ConflictStatus.OPEN)

    def history_now(self) -> list[dict[str, Any]]:
        """The history that goes with the journal's commit: existing contacts' (their new
        base values are in it); new contacts' goes in at the end, with them."""
        return [h for h in self.history if h["contact_id"] not in self.new]

    def history_later(self) -> list[dict[str, Any]]:
        return [h for h in self.history if h["contact_id"] in self.new]
