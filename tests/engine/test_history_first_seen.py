"""An initial sync keeps one history row per contact and source for the fields it saw first,
and `explain` still shows each field's own "first seen"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sync.cli import main
from sync.store.models import FieldChange
from sync.store.repo import Store
from tests.helpers import two_csv


def test_first_seen_fields_share_a_row_and_explain_per_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "state.db"
    header = "id,email,first_name,title\n"
    rows = "1,ada@example.org,Ada,Analyst\n2,bo@example.org,Bo,Pilot\n"
    two_csv(tmp_path, header + rows, header, head=f'[state]\nurl = "sqlite:///{db}"\n')
    config = str(tmp_path / "sync.toml")
    assert main(["--config", config, "once"]) == 0
    with Store(f"sqlite:///{db}").session() as s:
        rows = s.scalar(select(func.count()).select_from(FieldChange))
    assert rows == 2  # one per contact, not one per field (3 each)
    capsys.readouterr()
    assert main(["--config", config, "explain", "ada@example.org", "--format", "json"]) == 0
    fields = {f["field"]: f for f in json.loads(capsys.readouterr().out)["fields"]}
    for name, value in (("email", "ada@example.org"), ("first_name", "Ada"), ("title", "Analyst")):
        [change] = fields[name]["history"]
        assert (change["from"], change["to"], change["how"]) == (None, value, "first seen")
        assert change["source"] == "crm" and fields[name]["set_by"] == "crm"
    assert "*" not in fields
