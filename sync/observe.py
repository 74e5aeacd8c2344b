"""What each listing showed, normalised: the observations a run decides over (pure).

A record whose raw hash is the one kept on its link is not even normalised on a trusted full
scan (it normalises to the snapshot: the hash covers the mapping and the schema, and a write
clears it). Two records of one listing with the same vendor ID are a duplicate: neither is
read, both are named by where they sit.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sync.contact import Record, Schema
from sync.diff import raw_hash, raw_salt, record_hash
from sync.errors import RecordError
from sync.mapping import Mapping

# {system: {vendor ID: (snapshot hash, raw hash)}}, ("", None) for a gone link
Hashes = dict[str, dict[str, tuple[str, str | None]]]


@dataclass(frozen=True, slots=True)
class Seen:
    """One listed record. `record` None and no `error`: unchanged since its snapshot, not
    normalised (its contact need not be loaded)."""

    vendor_id: str
    record: Record | None
    updated: datetime | None = None
    raw: str | None = None  # hash of the raw record the snapshot is read from
    error: str | None = None


@dataclass
class Listed:
    """One system's listing as the run saw it."""

    system: str
    full: bool
    complete: bool
    rows: list[Seen] = field(default_factory=list)
    cursor: str | None = None
    problems: list[str] = field(default_factory=list)
    failure: str | None = None  # a system failure (credentials, outage, quota)

    @property
    def complete_full(self) -> bool:
        """A listing that shows what the system holds: deletions may be inferred from it."""
        return self.full and self.complete


@dataclass
class Observations:
    systems: dict[str, Listed] = field(default_factory=dict)
    # (system, vendor ID, raw hash) of records that matched their snapshot under a new hash
    raw_fixes: list[tuple[str, str, str]] = field(default_factory=list)
    emails: set[str] = field(default_factory=set)  # of every normalised record
    # trusted full scan: the vendor IDs whose contacts need deciding (changed or vanished)
    changed: dict[str, list[str]] = field(default_factory=dict)

    def listed_ids(self) -> dict[str, list[str]]:
        return {s: [row.vendor_id for row in ls.rows] for s, ls in self.systems.items()}


def duplicate_ids(records: list[tuple[str, str | None]]) -> dict[str, str]:
    """Vendor IDs held by more than one record of a listing -> the message naming them."""
    counts = Counter(vid for vid, _ in records)
    twice = {vid for vid, n in counts.items() if n > 1}
    if not twice:
        return {}
    places: dict[str, list[str]] = {vid: [] for vid in twice}
    for vid, where in records:
        if vid in places:
            places[vid].append(where or "?")
    out = {}
    for vid, found in places.items():
        shown = " and ".join(found) if any(w != "?" for w in found) else f"{len(found)} records"
        out[vid] = (
            f"duplicate: ID {vid} is held by {shown}; neither is synced, fix it in the system"
        )
    return out


def normalise(
    listed: Listed,
    records: list[tuple[str, dict[str, Any], str | None, str | None]],
    mapping: Mapping,
    schema: Schema,
    known: dict[str, tuple[str, str | None]] | None,
    out: Observations,
) -> None:
    """Fill `listed.rows` from the vendor records (vendor ID, data, where, the connector's
    reason it cannot be read). `known`: the kept hashes of the system's links on a trusted
    full scan (else None)."""
    salt = raw_salt(mapping.fingerprint, schema)
    duplicates = duplicate_ids([(vid, where) for vid, _, where, _ in records])
    reported: set[str] = set()
    changed = out.changed.setdefault(listed.system, []) if known is not None else None
    rows = listed.rows
    for vid, data, _, unreadable in records:
        if vid in duplicates:
            if vid not in reported:  # one failure per ID, naming every place
                reported.add(vid)
                rows.append(Seen(vid, None, error=duplicates[vid]))
            continue
        if unreadable is not None:  # fails alone; listed, so its link is no deletion
            rows.append(Seen(vid, None, error=unreadable))
            continue
        raw = raw_hash(salt, data)
        kept = known.get(vid) if known is not None else None
        if kept is not None and kept[1] == raw and kept[0]:
            rows.append(Seen(vid, None))
            continue
        try:
            record = mapping.from_system(data, schema)
        except RecordError as exc:
            rows.append(Seen(vid, None, error=str(exc)))
            continue
        if kept is not None:
            if kept[0] == record_hash(record):
                rows.append(Seen(vid, None))
                out.raw_fixes.append((listed.system, vid, raw))
                continue
            assert changed is not None
            changed.append(vid)
        rows.append(Seen(vid, record, mapping.vendor_updated(data), raw))
        if record.get("email"):
            out.emails.add(record["email"])
    if changed is not None and listed.complete_full:
        # a linked record missing from a complete full listing: a deletion to decide
        shown = {row.vendor_id for row in rows}
        assert known is not None
        changed += [v for v, (h, _) in known.items() if h and v not in shown]
