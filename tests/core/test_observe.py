"""Observing a listing page by page (sync/observe.py), on plain data: what is kept of an
unchanged record (its link's bit), what is kept whole (changed, new, failed), a record listed
again on a later page, a duplicate within a page, and the vanished links of a complete full
listing found from the store's side."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sync.connectors.base import Unread
from sync.connectors.cursor import Stamped, TimeCursor, Window, advance
from sync.contact import Schema
from sync.diff import listed_hash, raw_hash, raw_salt, record_hash
from sync.mapping_file import identity_mapping
from sync.observe import KnownLink, LinkBits, Listed, Observations, Observer

SCHEMA = Schema()
MAP = identity_mapping(SCHEMA)
SALT = raw_salt(MAP.fingerprint, SCHEMA)


def rec(i: int, **kw: Any) -> dict[str, Any]:
    return {"email": f"p{i}@example.org", "first_name": "Ada", **kw}


class Store:
    """The store's side of a trusted full scan: links 1..n of crm-1..crm-n, as last read."""

    def __init__(self, n: int, gone: set[int] = frozenset()) -> None:  # type: ignore[assignment]
        self.links: dict[str, KnownLink] = {}
        for i in range(1, n + 1):
            data = rec(i)
            digest = record_hash(MAP.from_system(data, SCHEMA))
            self.links[f"crm-{i}"] = (i, "" if i in gone else digest, raw_hash(SALT, data))
        self.asked: list[list[str]] = []

    def link_hashes(self, system: str, vendor_ids: list[str]) -> dict[str, KnownLink]:
        self.asked.append(list(vendor_ids))
        return {v: self.links[v] for v in vendor_ids if v in self.links}

    def linked_count(self, system: str) -> int:
        return sum(1 for _, digest, _ in self.links.values() if digest)

    def unshown(self, system: str, shown: Callable[[int, str], bool]) -> list[str]:
        return [v for v, (i, digest, _) in self.links.items() if digest and not shown(i, v)]


def observe(pages: list[list[tuple[str, dict[str, Any]]]], known: Any, **kw: Any) -> Any:
    listed = Listed("crm", kw.get("full", True), kw.get("complete", True))
    out = Observations()
    observer = Observer(listed, MAP, SCHEMA, known, out)
    for page in pages:
        observer.page([(vid, data, None, None) for vid, data in page])
    observer.done()
    return listed, out


def test_unchanged_records_are_counted_by_their_links_bits_and_not_kept() -> None:
    store = Store(6)
    pages = [[(f"crm-{i}", rec(i)) for i in range(1, 4)], [(f"crm-{i}", rec(i)) for i in (4, 5)]]
    pages[1].append(("crm-6", rec(6, first_name="Grace")))  # changed
    pages[1].append(("crm-9", rec(9)))  # new
    listed, out = observe(pages, store)
    assert store.asked == [["crm-1", "crm-2", "crm-3"], ["crm-4", "crm-5", "crm-6", "crm-9"]]
    assert [r.vendor_id for r in listed.rows] == ["crm-6", "crm-9"]
    assert listed.listed == 7 and listed.links.count == 6
    assert all(i in listed.links for i in range(1, 7)) and 7 not in listed.links
    assert out.changed == {"crm": ["crm-6"]}
    assert out.emails == {"p6@example.org", "p9@example.org"}


def test_a_vanished_link_of_a_complete_full_listing_is_found_from_the_store() -> None:
    store = Store(5, gone={5})
    page = [(f"crm-{i}", rec(i)) for i in (1, 2, 4)]
    _, out = observe([page], store)
    assert out.changed == {"crm": ["crm-3"]}, "crm-5 is gone already: not a deletion again"
    assert out.linked == {"crm": 4}
    _, out = observe([page], store, complete=False)
    assert out.changed == {"crm": []}, "an incomplete listing shows no deletion"
    _, out = observe([page], store, full=False)
    assert out.changed == {"crm": []} and out.linked == {}


def test_a_record_listed_again_on_a_later_page_replaces_the_earlier_one() -> None:
    store = Store(3)
    pages = [
        [("crm-1", rec(1, first_name="Grace")), ("crm-2", rec(2))],
        [("crm-1", rec(1)), ("crm-3", rec(3)), ("crm-2", rec(2, first_name="Bo"))],
    ]
    listed, _ = observe(pages, store)
    assert [(r.vendor_id, r.record and r.record["first_name"]) for r in listed.rows] == [
        ("crm-2", "Bo")
    ]
    assert listed.listed == 3 and not [r for r in listed.rows if r.error]


def test_two_records_of_one_page_with_one_id_fail_that_id_only() -> None:
    listed, _ = observe([[("crm-1", rec(1)), ("crm-1", rec(8)), ("crm-2", rec(2))]], None)
    errors = {r.vendor_id: r.error for r in listed.rows if r.error}
    assert list(errors) == ["crm-1"] and "2 records" in str(errors["crm-1"])
    assert listed.listed == 2


def test_without_the_store_every_record_is_normalised_and_kept() -> None:
    pages = [[(f"crm-{i}", rec(i)) for i in range(1, 4)], [("crm-4", rec(4))]]
    listed, out = observe(pages, None)
    assert [r.vendor_id for r in listed.rows] == ["crm-1", "crm-2", "crm-3", "crm-4"]
    assert all(r.record is not None for r in listed.rows) and out.changed == {}


def test_link_bits_hold_large_sparse_ids() -> None:
    bits = LinkBits()
    assert bits.add(3) and bits.add(1_000_003) and not bits.add(3)
    assert 3 in bits and 1_000_003 in bits and 4 not in bits and -1 not in bits
    assert bits.count == 2 and len(bits.bits) < 300_000


T0 = datetime(2024, 5, 1, tzinfo=UTC)
stamps = st.lists(
    st.tuples(st.integers(0, 20), st.integers(0, 5_000) | st.none()), min_size=0, max_size=60
)


@given(stamps, st.integers(0, 3_000) | st.none(), st.integers(0, 2_000))
def test_the_window_keeps_what_advance_needs(
    items: list[tuple[int, int | None]], old_ms: int | None, overlap_ms: int
) -> None:
    """advance over the window's items is advance over every item listed."""

    def at(ms: int | None) -> datetime | None:
        return None if ms is None else T0 + timedelta(milliseconds=ms)

    listed = [Stamped(f"r{i}", None if ms is None else str(ms), at(ms)) for i, ms in items]
    old = TimeCursor(at(old_ms), None if old_ms is None else str(old_ms))
    overlap = timedelta(milliseconds=overlap_ms)
    window = Window(old, overlap)
    window.limit = 4  # prune often
    for item in listed:
        window.add(item)
    now = T0 + timedelta(seconds=30)
    assert advance(old, window.items(), overlap, now) == advance(old, listed, overlap, now)


def test_records_as_listed_are_read_only_when_their_hash_is_not_the_kept_one() -> None:
    """A REST page's records come as listed (connectors.base.Unread), hashed before anything
    reshapes them: unchanged ones are never read; a changed one is, and so is every record
    once the shape that reads them changes; a record whose keys merely moved is no change."""
    reads: list[str] = []

    def read(item: dict[str, Any]) -> dict[str, Any]:
        reads.append(item["email"])
        return dict(item)

    def listed(i: int, shape: str = "v1", **kw: Any) -> Unread:
        return Unread(f"crm-{i}", rec(i, **kw), shape, read)

    store = Store(4)
    salt = raw_salt(MAP.fingerprint, SCHEMA, "v1")
    for i in range(1, 5):  # kept as a listing under shape v1 left them
        link_id, digest, _ = store.links[f"crm-{i}"]
        store.links[f"crm-{i}"] = (link_id, digest, listed_hash(salt, rec(i)))

    def scan(records: list[Unread]) -> tuple[Listed, Observations]:
        out = Observations()
        ls = Listed("crm", True, True)
        observer = Observer(ls, MAP, SCHEMA, store, out)
        observer.page([(r.id, r, None, None) for r in records])
        observer.done()
        return ls, out

    ls, out = scan([listed(i) for i in range(1, 5)])
    assert reads == [] and ls.rows == [] and ls.listed == 4 and out.changed == {"crm": []}
    moved = Unread("crm-2", dict(reversed(list(rec(2).items()))), "v1", read)
    ls, out = scan([listed(1), moved, listed(3, first_name="Grace"), listed(4)])
    assert [r.vendor_id for r in ls.rows] == ["crm-3"] and out.changed == {"crm": ["crm-3"]}
    assert "p1@example.org" not in reads and "p4@example.org" not in reads
    reads.clear()
    ls, out = scan([listed(i, shape="v2") for i in range(1, 5)])
    assert sorted(reads) == [f"p{i}@example.org" for i in range(1, 5)]
    assert ls.rows == [] and out.changed == {"crm": []}
    assert sorted(v for _, v, _ in out.raw_fixes) == [f"crm-{i}" for i in range(1, 5)]
