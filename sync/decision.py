"""What a run decided, as data: the output of sync/decide.py, written by the store (pure).

The journal's commits carry it as it grows, one `Part` at a time, each before any of its
requests goes out (sync/pipeline.py): the actions, and every change to what already existed
(contacts' new base values with the history that explains them, settled conflicts); the
first part also the held deletions, ignored deletions and used allowances, which are judged
over the whole listings before any contact. The run's last commit, after the answers, holds
links and snapshots, new contacts with their history, new conflicts and cursors
(sync/commit.py works out what the answers change).
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
class Marks:
    """How much of a growing decision the journal holds already."""

    started: bool = False
    actions: int = 0
    changed: int = 0
    conflict_changes: int = 0
    history: int = 0


@dataclass
class Part:
    """One journal commit: actions to journal pending, and the changes to what already exists
    that the contacts decided with them bring."""

    at: datetime
    actions: list[Action]
    changed: list[ContactRow]
    stamped: set[str]  # of the decision: which changed contacts' base or tombstone moved
    conflict_changes: list[ConflictChange]
    history: list[dict[str, Any]]
    held: list[Held]
    gone: list[int]
    released: list[int]


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

    def part(self, marks: Marks) -> Part:
        """What the decision gained since `marks` (which move on): the next journal commit."""
        first = not marks.started  # what was judged over the whole listings goes first
        part = Part(
            at=self.at,
            actions=self.actions[marks.actions :],
            changed=self.changed[marks.changed :],
            stamped=self.stamped,
            conflict_changes=self.conflict_changes[marks.conflict_changes :],
            # existing contacts' history (their new base values are in the part); new
            # contacts' goes in at the end, with them
            history=[h for h in self.history[marks.history :] if h["contact_id"] not in self.new],
            held=self.held if first else [],
            gone=self.gone if first else [],
            released=self.released if first else [],
        )
        marks.started = True
        marks.actions, marks.changed = len(self.actions), len(self.changed)
        marks.conflict_changes, marks.history = len(self.conflict_changes), len(self.history)
        return part

    def history_later(self) -> list[dict[str, Any]]:
        return [h for h in self.history if h["contact_id"] in self.new]
