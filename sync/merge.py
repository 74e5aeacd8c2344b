"""Three-way, per-field merge of what each system changed against the agreed base (pure).

One side changed, or all changed alike: take it. Two systems changed one field to different
values: a conflict, settled by the policy:

    newest    the change with the latest vendor update time wins (ties: priority, then name)
    priority  the first system in the priority list wins (unlisted systems after, by name)
    manual    nobody wins: the field is held (no system is written for it) until a person
              resolves it; each system keeps its own value meanwhile, so no edit is lost

Edits to different fields never conflict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sync.contact import Record
from sync.states import ConflictStatus


@dataclass(frozen=True)
class Change:
    system: str
    value: Any
    at: datetime | None = None


@dataclass(frozen=True)
class OpenConflict:
    """A conflict already in the store: still open, or resolved and waiting to be pushed."""

    id: int
    field: str
    values: dict[str, Any]
    resolution: Any = None
    resolved: bool = False


@dataclass
class FieldConflict:
    field: str
    base: Any
    changes: dict[str, Change]
    winner: str | None = None
    existing: int | None = None

    @property
    def held(self) -> bool:
        return self.winner is None


@dataclass
class MergeResult:
    values: Record
    conflicts: list[FieldConflict] = field(default_factory=list)
    settled: dict[int, str] = field(default_factory=dict)  # conflict id -> new status

    @property
    def held(self) -> set[str]:
        return {c.field for c in self.conflicts if c.held}


def rank(system: str, priority: list[str]) -> tuple[int, str]:
    return (priority.index(system) if system in priority else len(priority), system)


def pick_winner(changes: dict[str, Change], policy: str, priority: list[str]) -> str | None:
    if policy == "priority":
        return min(changes, key=lambda s: rank(s, priority))
    if policy == "newest":
        # max() keeps the first of equals, so ties go to the higher priority
        ordered = sorted(changes, key=lambda s: rank(s, priority))
        return max(ordered, key=lambda s: _stamp(changes[s].at))
    return None


def merge(
    base: Record,
    changes: dict[str, dict[str, Change]],
    *,
    policy: str = "manual",
    priority: list[str] | None = None,
    existing: dict[str, OpenConflict] | None = None,
) -> MergeResult:
    """Merge per field. `changes` is system -> field -> Change (only fields that changed)."""
    priority = priority or []
    existing = existing or {}
    by_field: dict[str, dict[str, Change]] = {}
    for system, fields in changes.items():
        for name, change in fields.items():
            by_field.setdefault(name, {})[system] = change
    result = MergeResult(values=dict(base))
    for name in sorted(set(by_field) | set(existing)):
        found = by_field.get(name, {})
        old = existing.get(name)
        start = base.get(name)
        if old is not None and old.resolved:
            start = old.resolution
            result.settled[old.id] = ConflictStatus.APPLIED
        elif old is not None:
            # still open: fold the new edits into it, and see whether the systems now agree
            values = {**old.values, **{s: c.value for s, c in found.items()}}
            if len({_key(v) for v in values.values()}) == 1:
                result.settled[old.id] = ConflictStatus.AGREED
                _set(result.values, name, next(iter(values.values())))
                continue
            merged = {s: found.get(s, Change(s, v)) for s, v in values.items()}
            result.conflicts.append(FieldConflict(name, start, merged, existing=old.id))
            continue
        _set(result.values, name, start)
        if not found:
            continue
        distinct = {_key(c.value) for c in found.values()}
        if len(distinct) == 1:
            _set(result.values, name, next(iter(found.values())).value)
            continue
        winner = pick_winner(found, policy, priority)
        result.conflicts.append(FieldConflict(name, start, dict(found), winner))
        if winner is not None:
            _set(result.values, name, found[winner].value)
    return result


def _stamp(at: datetime | None) -> float:
    return at.timestamp() if at else float("-inf")


def _key(value: Any) -> str:
    return repr(value)


def _set(record: Record, name: str, value: Any) -> None:
    if value is None:
        record.pop(name, None)
    else:
        record[name] = value
