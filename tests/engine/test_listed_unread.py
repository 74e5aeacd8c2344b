"""A trusted full scan hashes a REST record as the vendor listed it and reshapes it
(envelope.reshape: Oracle's email pick, phone unwrap) only when that hash is not the one
kept on its link: an unchanged record is never reshaped, an edited one is, and a change to
how records are reshaped reads every record again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sync.connectors import envelope
from tests.sandbox_world import Sandbox

PEOPLE = 5


@pytest.fixture
def box(tmp_path: Path) -> Iterator[tuple[Sandbox, dict[str, str]]]:
    sb = Sandbox(tmp_path, {"crm": "oracle_b2b"}, {"book": {}}, tables={"crm": {"page_size": 2}})
    ids = {}
    for i in range(PEOPLE):
        email = f"p{i}@example.org"
        ids[email] = sb.emulators["crm"].seed_person(
            {"email": email, "first_name": "Ada", "last_name": f"L{i}", "mobile": "720-340-1313"}
        )
    sb.run()
    sb.run()  # reads back what the first run wrote
    sb.run(full_scan=True)  # the first full scan keeps each record's raw hash
    yield sb, ids
    sb.dispose()


@pytest.fixture
def reshaped(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every record envelope.reshape read."""
    calls: list[dict[str, Any]] = []
    real = envelope.reshape

    def counting(record: dict[str, Any], spec: Any) -> dict[str, Any]:
        calls.append(record)
        return real(record, spec)

    monkeypatch.setattr(envelope, "reshape", counting)
    return calls


def test_a_quiet_full_scan_reshapes_nothing_and_an_edit_reshapes_only_it(
    box: tuple[Sandbox, dict[str, str]], reshaped: list[dict[str, Any]]
) -> None:
    sb, ids = box
    report = sb.run(full_scan=True)
    assert report.exit_code == 0 and report.writes == 0
    assert report.system("crm").read == PEOPLE
    assert reshaped == []
    crm: Any = sb.emulators["crm"]
    crm.edit(ids["p3@example.org"], first_name="Grace")
    report = sb.run(full_scan=True)
    assert report.exit_code == 0 and report.system("book").updated == 1
    assert [str(r["id"]) for r in reshaped] == [ids["p3@example.org"]]
    book = {r["email"]: r for r in sb.records("book").values()}
    assert book["p3@example.org"]["first_name"] == "Grace"
    assert book["p3@example.org"]["mobile"]  # read through the unwrapped phones


def test_a_change_to_how_records_are_reshaped_reads_every_record_again(
    box: tuple[Sandbox, dict[str, str]],
    reshaped: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sb, _ = box
    monkeypatch.setattr(envelope, "RESHAPE_VERSION", envelope.RESHAPE_VERSION + 1)
    report = sb.run(full_scan=True)
    assert report.exit_code == 0 and report.writes == 0
    assert len(reshaped) == PEOPLE
    reshaped.clear()
    assert sb.run(full_scan=True).writes == 0 and reshaped == []  # their new hashes kept
