"""Issue 16.2: two rows of one CSV file with the same id. They were linked as two contacts
under one vendor ID, and the run ended in an IntegrityError at commit after the other file was
written, every run after it too. Now they are a duplicate, reported with where they sit;
neither is synced, the other rows are, and the run commits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sync.cli import main
from tests.helpers import two_csv

HEADER = "id,email,first_name\n"


def once(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(["--config", str(config), "once", "--format", "json"])
    out = capsys.readouterr()
    assert "Traceback" not in out.err and "IntegrityError" not in out.err + out.out
    return code, json.loads(out.out)


def test_two_rows_with_one_id_are_a_duplicate_and_the_rest_syncs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crm = (
        HEADER
        + "1,ada@example.org,Ada\n"
        + "7,bo@example.org,Bo\n"  # line 3
        + "2,cy@example.org,Cy\n"
        + "7,dee@example.org,Dee\n"  # line 5
    )
    config = two_csv(
        tmp_path, crm, HEADER, head=f'[state]\nurl = "sqlite:///{tmp_path / "s.db"}"\n'
    )
    for _ in range(2):  # and the run after it is not stuck
        code, report = once(config, capsys)
        assert code == 1 and report["status"] == "partial"
        [failure] = report["systems"]["crm"]["failed"]
        assert failure["vendor_id"] == "7" and "duplicate: ID 7" in failure["reason"]
        assert "line 3 and line 5" in failure["reason"] or "2 records" in failure["reason"]
        desk = (tmp_path / "desk.csv").read_text()
        assert "ada@example.org" in desk and "cy@example.org" in desk
        assert "bo@example.org" not in desk and "dee@example.org" not in desk
    (tmp_path / "crm.csv").write_text(crm.replace("7,dee@", "8,dee@"))
    code, report = once(config, capsys)
    assert code == 0, report
    desk = (tmp_path / "desk.csv").read_text()
    assert all(f"{p}@example.org" in desk for p in ("ada", "bo", "cy", "dee"))
    assert once(config, capsys)[1]["systems"]["desk"]["created"] == 0
