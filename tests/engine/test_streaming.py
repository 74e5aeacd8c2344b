"""A full scan observes each listing page by page: the store is asked for the kept hashes of
one page's links at a time, nothing of an unchanged record is kept but its link's bit, and an
edit or a deletion on any page is still found (deletions only from a complete listing)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sync.store.run import RunTx
from tests.sandbox_world import Sandbox

PAGE = 3
PEOPLE = 10  # four pages of three


@pytest.fixture
def box(tmp_path: Path) -> Iterator[tuple[Sandbox, dict[str, str]]]:
    sb = Sandbox(tmp_path, {"crm": "oracle_b2b"}, {"book": {}}, tables={"crm": {"page_size": PAGE}})
    ids = {}
    for i in range(PEOPLE):
        email = f"p{i}@example.org"
        ids[email] = sb.emulators["crm"].seed_person(
            {"email": email, "first_name": "Ada", "last_name": f"L{i}"}
        )
    sb.run()
    sb.run()  # reads back what the first run wrote
    yield sb, ids
    sb.dispose()


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[str]]]:
    """Every page of vendor IDs the store was asked the kept link hashes of."""
    calls: list[tuple[str, list[str]]] = []
    real = RunTx.link_hashes

    def counting(self: RunTx, system: str, vendor_ids: list[str]) -> Any:
        calls.append((system, list(vendor_ids)))
        return real(self, system, vendor_ids)

    monkeypatch.setattr(RunTx, "link_hashes", counting)
    return calls


def test_a_quiet_full_scan_asks_the_store_page_by_page_and_writes_nothing(
    box: tuple[Sandbox, dict[str, str]], asked: list[tuple[str, list[str]]]
) -> None:
    sb, ids = box
    report = sb.run(full_scan=True)
    assert report.exit_code == 0 and report.writes == 0
    assert report.system("crm").read == PEOPLE and report.system("book").read == PEOPLE
    crm = [page for system, page in asked if system == "crm"]
    assert [len(p) for p in crm] == [3, 3, 3, 1], "one question per listed page"
    assert sorted(v for p in crm for v in p) == sorted(ids.values())


def test_an_edit_and_a_deletion_on_later_pages_are_found(
    box: tuple[Sandbox, dict[str, str]], asked: list[tuple[str, list[str]]]
) -> None:
    sb, ids = box
    crm: Any = sb.emulators["crm"]
    crm.edit(ids["p4@example.org"], first_name="Grace")  # page 2
    crm.remove(ids["p8@example.org"])  # page 3
    report = sb.run(full_scan=True)
    assert report.exit_code == 0
    book = {r["email"]: r for r in sb.records("book").values()}
    assert "p8@example.org" not in book and len(book) == PEOPLE - 1
    assert book["p4@example.org"]["first_name"] == "Grace"
    assert report.system("book").deleted == 1 and report.system("book").updated == 1
    assert max(len(p) for system, p in asked if system == "crm") <= PAGE


def test_a_listing_failing_on_a_later_page_deletes_nothing(
    box: tuple[Sandbox, dict[str, str]],
) -> None:
    sb, ids = box
    crm: Any = sb.emulators["crm"]
    crm.remove(ids["p1@example.org"])  # page 1: seen vanished before the listing breaks
    pages = {"n": 0}

    def third_page_fails(request: Any) -> str | None:
        if request.method == "GET" and request.path.rstrip("/").endswith("/contacts"):
            pages["n"] += 1
            if pages["n"] >= 3:  # the third page, and every retry of it
                return "503"
        return None

    crm.faults.script = third_page_fails
    report = sb.run(full_scan=True)
    assert not report.system("crm").listed
    assert len(sb.records("book")) == PEOPLE, "an incomplete listing never deletes"
    crm.faults.script = None
    report = sb.run(full_scan=True)
    assert report.system("crm").listed and report.system("book").deleted == 1
