"""What each listing showed, normalised: the observations a run decides over (pure).

A listing is observed page by page as it arrives (`Observer`), so a run never holds a whole
listing: on a trusted full scan the kept hashes of a page's links are asked for that page
alone, a record whose raw hash is the one kept on its link is not even normalised (it
normalises to the snapshot: the hash covers the mapping and the schema, and a write clears
it), and of such a record only its link's ID is kept, as one bit (`LinkBits`). What is kept
whole are the records that need deciding: changed, new, or failed.

Two records of one page with the same vendor ID are a duplicate: neither is read, both are
named by where they sit. A record listed again on a later page (offset paging over records
that moved) replaces what its earlier page showed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sync.contact import Record, Schema
from sync.diff import listed_hash, raw_hash, raw_salt, record_hash
from sync.errors import RecordError
from sync.mapping import Mapping

# a link as a trusted full scan compares a listed record with it: (link ID, snapshot hash,
# raw record hash); the snapshot hash is "" for a gone link
KnownLink = tuple[int, str, str | None]


class KnownLinks(Protocol):
    """What the store answers a trusted full scan (sync/store/run.py)."""

    def link_hashes(self, system: str, vendor_ids: list[str]) -> dict[str, KnownLink]: ...

    def linked_count(self, system: str) -> int: ...

    def unshown(self, system: str, shown: Callable[[int, str], bool]) -> list[str]: ...


class AsListed(Protocol):
    """A record as the vendor listed it, read only when asked (sync/connectors/base.py
    Unread): its raw hash is of `item` under `shape`, so an unchanged one is never read."""

    @property
    def item(self) -> dict[str, Any]: ...

    @property
    def shape(self) -> str: ...

    @property
    def data(self) -> dict[str, Any]: ...


# one listed record: (vendor ID, data or the record as listed, where, the connector's reason
# it cannot be read)
PageRecord = tuple[str, "dict[str, Any] | AsListed", str | None, str | None]


class RawHashes:
    """The raw hash of each listed record of one system (its mapping and schema): of the
    record as read, or of a record as listed (AsListed) under its shape, so that an
    unchanged one is never read. Equal hashes: the record reads as it did."""

    def __init__(self, mapping_fingerprint: str, schema: Schema) -> None:
        self.fingerprint, self.schema = mapping_fingerprint, schema
        self.salt = raw_salt(mapping_fingerprint, schema)
        self._shaped: dict[str, str] = {}  # shape -> the salt of records hashed as listed

    def of(self, data: dict[str, Any] | AsListed) -> str:
        if isinstance(data, dict):
            return raw_hash(self.salt, data)
        salt = self._shaped.get(data.shape)
        if salt is None:
            salt = self._shaped[data.shape] = raw_salt(self.fingerprint, self.schema, data.shape)
        return listed_hash(salt, data.item)


class LinkBits:
    """A set of link IDs as bits: which links a listing showed without keeping their records
    (a million links cost 125 kB, not a million strings)."""

    def __init__(self) -> None:
        self.bits = bytearray()
        self.count = 0

    def add(self, link_id: int) -> bool:
        """Whether it was not there yet."""
        byte, bit = divmod(link_id, 8)
        if byte >= len(self.bits):
            self.bits.extend(bytes(max(byte + 1 - len(self.bits), len(self.bits))))
        if self.bits[byte] >> bit & 1:
            return False
        self.bits[byte] |= 1 << bit
        self.count += 1
        return True

    def __contains__(self, link_id: object) -> bool:
        if not isinstance(link_id, int) or link_id < 0:
            return False
        byte, bit = divmod(link_id, 8)
        return byte < len(self.bits) and bool(self.bits[byte] >> bit & 1)


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
    """One system's listing as the run saw it. `rows`: the records that need deciding (on a
    trusted full scan an unchanged record is only counted, its link in `links`)."""

    system: str
    full: bool
    complete: bool
    rows: list[Seen] = field(default_factory=list)
    cursor: str | None = None
    problems: list[str] = field(default_factory=list)
    failure: str | None = None  # a system failure (credentials, outage, quota)
    links: LinkBits = field(default_factory=LinkBits)  # links shown, their rows not kept
    count: int | None = None  # distinct records listed (None: one row each)

    @property
    def complete_full(self) -> bool:
        """A listing that shows what the system holds: deletions may be inferred from it."""
        return self.full and self.complete

    @property
    def listed(self) -> int:
        return len(self.rows) if self.count is None else self.count


@dataclass
class Observations:
    systems: dict[str, Listed] = field(default_factory=dict)
    # (system, vendor ID, raw hash) of records that matched their snapshot under a new hash
    raw_fixes: list[tuple[str, str, str]] = field(default_factory=list)
    emails: set[str] = field(default_factory=set)  # of every normalised record
    # trusted full scan: the vendor IDs whose contacts need deciding (changed or vanished)
    changed: dict[str, list[str]] = field(default_factory=dict)
    # live links per system, counted while a trusted full scan looked for vanished ones
    linked: dict[str, int] = field(default_factory=dict)

    def listed_ids(self) -> dict[str, list[str]]:
        return {s: [row.vendor_id for row in ls.rows] for s, ls in self.systems.items()}


def duplicate_ids(records: Iterable[tuple[str, str | None]]) -> dict[str, str]:
    """Vendor IDs held by more than one record of a page -> the message naming them."""
    records = list(records)
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


class Observer:
    """One system's listing, observed page by page (`page`), then closed (`done`).
    `known`: the store, on a trusted full scan (else None: every record is normalised)."""

    def __init__(
        self,
        listed: Listed,
        mapping: Mapping,
        schema: Schema,
        known: KnownLinks | None,
        out: Observations,
    ) -> None:
        self.listed, self.mapping, self.schema, self.known, self.out = (
            listed,
            mapping,
            schema,
            known,
            out,
        )
        self.system = listed.system
        self.hashes = RawHashes(mapping.fingerprint, schema)
        self.rows: dict[str, Seen] = {}
        self.fixes: dict[str, str] = {}  # vendor ID -> raw hash (raw_fixes of this system)
        self.changed: list[str] = []
        self.count = 0
        self.live = 0  # distinct live links shown

    def page(self, records: Sequence[PageRecord]) -> None:
        """One page: (vendor ID, data, where, the connector's reason it cannot be read)."""
        duplicates = duplicate_ids((vid, where) for vid, _, where, _ in records)
        known: dict[str, KnownLink] | None = None
        if self.known is not None:
            ids = [vid for vid, _, _, _ in records if vid not in duplicates]
            known = self.known.link_hashes(self.system, ids) if ids else {}
        rows, reported = self.rows, set()
        for vid, data, _, unreadable in records:
            if vid in duplicates:
                if vid not in reported:  # one failure per ID, naming every place
                    reported.add(vid)
                    self._shown(vid, None)
                    rows[vid] = Seen(vid, None, error=duplicates[vid])
                continue
            if unreadable is not None:  # fails alone; listed, so its link is no deletion
                self._shown(vid, None)
                rows[vid] = Seen(vid, None, error=unreadable)
                continue
            kept = known.get(vid) if known is not None else None
            self._shown(vid, kept)
            raw = self.hashes.of(data)
            if kept is not None and kept[1] and kept[2] == raw:
                continue  # as last read: only its link's bit is kept
            if not isinstance(data, dict):
                data = data.data  # changed, new, or hashed otherwise before: read it
            try:
                record = self.mapping.from_system(data, self.schema)
            except RecordError as exc:
                rows[vid] = Seen(vid, None, error=str(exc))
                continue
            if kept is not None:
                if kept[1] == record_hash(record):
                    self.fixes[vid] = raw
                    continue
                self.changed.append(vid)
            rows[vid] = Seen(vid, record, self.mapping.vendor_updated(data), raw)
            if record.get("email"):
                self.out.emails.add(record["email"])

    def _shown(self, vid: str, kept: KnownLink | None) -> None:
        """Count a listed record once; a repeat from an earlier page is replaced by this one."""
        again = self.rows.pop(vid, None) is not None
        self.fixes.pop(vid, None)
        if kept is None:
            self.count += not again
            return
        if self.listed.links.add(kept[0]):
            self.count += 1
            self.live += bool(kept[1])

    def discard(self) -> None:
        """The listing failed: nothing it showed is used."""
        self.rows.clear()
        self.fixes.clear()
        self.changed.clear()
        self.listed.links = LinkBits()
        self.count = self.live = 0

    def done(self) -> None:
        listed, out = self.listed, self.out
        listed.rows = list(self.rows.values())
        listed.count = self.count
        out.raw_fixes += [(self.system, vid, raw) for vid, raw in self.fixes.items()]
        if self.known is None:
            return
        changed = out.changed.setdefault(self.system, [])
        changed += self.changed
        if listed.complete_full:
            # a linked record missing from a complete full listing: a deletion to decide
            total = out.linked[self.system] = self.known.linked_count(self.system)
            if self.live < total:
                bits, rows = listed.links, self.rows
                changed += self.known.unshown(
                    self.system, lambda link_id, vid: link_id in bits or vid in rows
                )


def normalise(
    listed: Listed,
    records: Sequence[PageRecord],
    mapping: Mapping,
    schema: Schema,
    known: KnownLinks | None,
    out: Observations,
) -> None:
    """A whole listing observed as one page (tests, and listings that come whole)."""
    observer = Observer(listed, mapping, schema, known, out)
    observer.page(records)
    observer.done()
