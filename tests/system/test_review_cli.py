"""`conflicts export` and `explain` as a user runs them, over two CSV files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from sync.cli import main
from tests.helpers import two_csv


@pytest.fixture
def config(tmp_path: Path) -> str:
    header = "id,email,first_name,title\n"
    two_csv(tmp_path, header + "1,ada@example.org,Ada,Analyst\n", header)
    path = str(tmp_path / "sync.toml")
    assert main(["--config", path, "once"]) == 0
    for name, value in (("crm.csv", "Countess"), ("desk.csv", "Duchess <b>")):
        f = tmp_path / name
        f.write_text(f.read_text().replace("Analyst", value))
    assert main(["--config", path, "once"]) == 0
    return path


def test_export_html_is_one_readable_file(config: str, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert main(["--config", config, "conflicts", "export", "--output", str(out)]) == 0
    html = out.read_text()
    assert html.startswith("<!doctype html>") and "<style>" in html
    assert "ada@example.org" in html and "Countess" in html
    assert "Duchess &lt;b&gt;" in html  # values are escaped, never markup
    assert "<script" not in html and "src=" not in html and 'rel="stylesheet"' not in html


def test_export_csv_and_json_reuse_the_list_renderers(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", config, "conflicts", "export", "--format", "json"]) == 0
    [item] = json.loads(capsys.readouterr().out)
    assert item["field"] == "title" and item["status"] == "open"
    assert main(["--config", config, "conflicts", "export", "--format", "csv"]) == 0
    rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert {r["system"]: r["value"] for r in rows} == {"crm": "Countess", "desk": "Duchess <b>"}


def test_export_to_an_unwritable_place_is_a_clear_error(
    config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "missing" / "report.html"
    assert main(["--config", config, "conflicts", "export", "--output", str(target)]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_explain_shows_each_field_and_its_history(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", config, "explain", "Ada@Example.org", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    fields = {f["field"]: f for f in data["fields"]}
    assert fields["first_name"]["value"] == "Ada" and fields["first_name"]["set_by"] == "crm"
    title = fields["title"]
    assert title["value"] == "Analyst"  # held: the conflict waits for a person
    assert title["systems"] == {"crm": "Countess", "desk": "Duchess <b>"}
    assert title["conflicts"][0]["status"] == "open"
    assert main(["--config", config, "explain", "ada@example.org"]) == 0
    text = capsys.readouterr().out
    assert "first seen" in text and "conflict" in text


def test_explain_unknown_email_exits_2_with_a_message(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", config, "explain", "nobody@example.org"]) == 2
    err = capsys.readouterr().err
    assert "no contact with email 'nobody@example.org'" in err and "Traceback" not in err


def test_serve_rejects_a_bad_listen_address(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", config, "serve", "--listen", "localhost"]) == 2
    assert "expected HOST:PORT" in capsys.readouterr().err
