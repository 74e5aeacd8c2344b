"""CSV files as people keep them, through the command line: files that are not there yet or
not any more, rows typed in without an ID, the mapping's ID column, line endings, files that
are not UTF-8, rows with too many values, fields over Python's csv limit."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from pathlib import Path
from typing import Any

from sync.cli import main

THREE = """
[sync]
max_delete_fraction = 0.5
[systems.crm]
connector = "csv"
path = "crm.csv"
[systems.desk]
connector = "csv"
path = "desk.csv"
[systems.shop]
connector = "csv"
path = "shop.csv"
"""


def cli(folder: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--config", str(folder / "sync.toml"), *args])
    assert "Traceback" not in out.getvalue() + err.getvalue()
    return code, out.getvalue(), err.getvalue()


def once(folder: Path, *args: str) -> tuple[int, dict[str, Any]]:
    code, out, err = cli(folder, "once", "--format", "json", *args)
    assert code in (0, 1), (code, out, err)
    return code, json.loads(out)


def rows(path: Path, key: str = "email") -> dict[str, dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return {r[key]: r for r in csv.DictReader(fh)}


def reasons(report: dict[str, Any], system: str) -> list[str]:
    """The system's failure (an outage, said once) and its failed records' reasons."""
    sys = report["systems"][system]
    return [r for r in [sys.get("failure")] if r] + [f["reason"] for f in sys["failed"]]


def setup(folder: Path, config: str = THREE, **files: str) -> None:
    (folder / "sync.toml").write_text(config)
    for name, text in files.items():
        (folder / f"{name}.csv").write_text(text, encoding="utf-8")


# --- files that are not there --------------------------------------------------------------


def test_check_names_a_missing_folder_and_a_folder_given_as_the_file(tmp_path: Path) -> None:
    setup(tmp_path, THREE.replace('"crm.csv"', '"nowhere/crm.csv"').replace('"shop.csv"', '"."'))
    code, _, err = cli(tmp_path, "check")
    assert code == 2
    assert "systems.crm" in err and "the folder" in err and "nowhere" in err and "not exist" in err
    assert "systems.shop" in err and "is a folder" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sync.toml"]


def test_check_says_a_missing_file_is_made_by_the_first_run(tmp_path: Path) -> None:
    setup(tmp_path, crm="id,email\n1,ada@example.org\n", shop="id,email\n")
    code, out, _ = cli(tmp_path, "check")
    assert code == 0
    assert "desk.csv does not exist yet" in out and "first run creates it" in out


def test_a_first_run_creates_the_file_a_later_missing_file_is_an_outage(tmp_path: Path) -> None:
    setup(tmp_path, crm="id,email,first_name\n1,ada@example.org,Ada\n", shop="id,email\n")
    code, _ = once(tmp_path)
    assert code == 0
    assert set(rows(tmp_path / "desk.csv")) == {"ada@example.org"}
    header = (tmp_path / "desk.csv").read_text().splitlines()[0].split(",")
    assert header[:3] == ["id", "email", "first_name"]  # every canonical column, the ID first

    (tmp_path / "desk.csv").unlink()
    with (tmp_path / "crm.csv").open("a") as fh:
        fh.write("2,bob@example.org,Bob\n")
    code, report = once(tmp_path)
    assert code == 1
    assert any("desk.csv does not exist" in r for r in reasons(report, "desk")), report
    assert report["systems"]["desk"]["listing"].endswith("(incomplete)")
    assert not (tmp_path / "desk.csv").exists()  # not made again with only the new rows
    assert set(rows(tmp_path / "crm.csv")) == {"ada@example.org", "bob@example.org"}
    assert set(rows(tmp_path / "shop.csv")) == {"ada@example.org", "bob@example.org"}
    code, out, _ = cli(tmp_path, "status", "--format", "json")
    assert "desk.csv does not exist" in json.loads(out)["cursors"]["desk"]["last_error"]


def test_a_dry_run_creates_no_file_and_gives_no_id(tmp_path: Path) -> None:
    typed = "id,email,first_name\n,grace@example.org,Grace\n"
    setup(tmp_path, crm=typed, shop="id,email\n")
    code, report = once(tmp_path, "--dry-run")
    assert code == 0 and report["status"] == "dry-run"
    assert any(a["email"] == "grace@example.org" for a in report["plan"])
    assert not (tmp_path / "desk.csv").exists()
    assert (tmp_path / "crm.csv").read_text() == typed


# --- rows without an ID, the mapping's ID column -----------------------------------------------


def test_a_row_typed_in_without_an_id_is_synced_and_given_one(tmp_path: Path) -> None:
    setup(
        tmp_path,
        crm="id,email,first_name\n1,ada@example.org,Ada\n,grace@example.org,Grace\n"
        ",hedy@example.org,Hedy\n",
        desk="id,email,first_name\n",
        shop="id,email\n",
    )
    code, report = once(tmp_path)
    assert code == 0, report
    crm = rows(tmp_path / "crm.csv")
    assert crm["grace@example.org"]["id"] and crm["hedy@example.org"]["id"]
    assert len({r["id"] for r in crm.values()}) == 3
    assert set(rows(tmp_path / "desk.csv")) == set(crm)
    desk = tmp_path / "desk.csv"
    desk.write_text(desk.read_text().replace("Grace", "Grace B."))
    code, report = once(tmp_path)
    assert code == 0 and rows(tmp_path / "crm.csv")["grace@example.org"]["first_name"] == "Grace B."
    assert report["systems"]["crm"]["created"] == 0  # the row was linked, not created again
    before = (tmp_path / "crm.csv").read_bytes()
    code, report = once(tmp_path)
    assert code == 0 and (tmp_path / "crm.csv").read_bytes() == before


MAPPED = """
id = "Contact ID"
updated = "Modified"
[fields.email]
path = "E-mail"
[fields.first_name]
path = "First name"
"""


def test_the_id_column_comes_from_the_mapping(tmp_path: Path) -> None:
    config = THREE.replace('path = "crm.csv"', 'path = "crm.csv"\nmapping = "crm.toml"')
    setup(
        tmp_path,
        config,
        crm="Contact ID,E-mail,First name,Modified\n"
        "C-1,ada@example.org,Ada,\n,bob@example.org,Bob,\n",
        desk="id,email,first_name\nd1,cy@example.org,Cy\n",
        shop="id,email\n",
    )
    (tmp_path / "crm.toml").write_text(MAPPED)
    code, report = once(tmp_path)
    assert code == 0, report
    crm = rows(tmp_path / "crm.csv", "E-mail")
    assert set(crm) == {"ada@example.org", "bob@example.org", "cy@example.org"}
    assert crm["ada@example.org"]["Contact ID"] == "C-1"
    assert crm["bob@example.org"]["Contact ID"] and crm["cy@example.org"]["Contact ID"]
    assert crm["cy@example.org"]["Modified"]  # stamped in the mapping's column
    assert "id" not in crm["cy@example.org"] and "updated_at" not in crm["cy@example.org"]
    assert set(rows(tmp_path / "desk.csv")) == set(crm)


def test_check_reports_a_mapped_column_the_header_lacks(tmp_path: Path) -> None:
    config = THREE.replace('path = "crm.csv"', 'path = "crm.csv"\nmapping = "crm.toml"')
    setup(tmp_path, config, crm="Contact ID,Email,First name\n", desk="id,email\n", shop="id\n")
    (tmp_path / "crm.toml").write_text(MAPPED.replace('updated = "Modified"\n', ""))
    code, out, _ = cli(tmp_path, "check")
    assert code == 1  # the file's data, not the configuration: the other systems still run
    [problem] = [line for line in out.splitlines() if line.startswith("problem:")]
    assert "systems.crm" in problem and "no column 'E-mail'" in problem and "Email" in problem
    code, report = once(tmp_path)
    assert code == 1
    assert any("no column 'E-mail'" in r for r in reasons(report, "crm"))
    assert report["systems"]["desk"]["listing"] == "full"


# --- how the file is written -----------------------------------------------------------------


def test_a_rewritten_file_keeps_its_line_endings(tmp_path: Path) -> None:
    setup(tmp_path, shop="id,email\n")
    (tmp_path / "crm.csv").write_bytes(b"id,email,first_name\r\n1,ada@example.org,Ada\r\n")
    (tmp_path / "desk.csv").write_bytes(b"id,email,first_name\nd1,bob@example.org,Bob\n")
    code, _ = once(tmp_path)
    assert code == 0
    crm, desk = (tmp_path / "crm.csv").read_bytes(), (tmp_path / "desk.csv").read_bytes()
    assert b"bob@example.org" in crm and b"ada@example.org" in desk  # both were rewritten
    assert crm.count(b"\n") == crm.count(b"\r\n") == 3
    assert b"\r" not in desk and desk.count(b"\n") == 3


# --- files and rows that cannot be read --------------------------------------------------------


def test_a_file_that_is_not_utf8_fails_its_system_and_the_others_go_on(tmp_path: Path) -> None:
    setup(tmp_path, desk="id,email,first_name\nd1,bob@example.org,Bob\n", shop="id,email\n")
    latin1 = "id,email,first_name\n1,rene@example.org,René\n".encode("latin-1")
    (tmp_path / "crm.csv").write_bytes(latin1)
    code, report = once(tmp_path)
    assert code == 1
    assert report["systems"]["crm"]["listing"].endswith("(incomplete)")
    [why] = reasons(report, "crm")  # said once for the system, not per write kept back
    assert "crm.csv" in why and "not UTF-8" in why and "line 2" in why
    assert set(rows(tmp_path / "shop.csv")) == {"bob@example.org"}
    assert (tmp_path / "crm.csv").read_bytes() == latin1  # never rewritten


def test_a_row_with_more_values_than_columns_fails_alone_and_deletes_nothing(
    tmp_path: Path,
) -> None:
    setup(
        tmp_path,
        crm="id,email,first_name,last_name\n1,ada@example.org,Ada,Lovelace\n",
        desk="id,email,first_name,last_name\n",
        shop="id,email\n",
    )
    assert once(tmp_path)[0] == 0
    broken = "1,ada@example.org,Ada,Lovelace, Countess\n"
    (tmp_path / "crm.csv").write_text(
        f"id,email,first_name,last_name\n{broken}2,bob@example.org,Bob,Builder\n"
    )
    code, report = once(tmp_path)
    assert code == 1
    [why] = reasons(report, "crm")
    assert "crm.csv line 2" in why and "5 values" in why and "4 columns" in why
    assert set(rows(tmp_path / "desk.csv")) == {"ada@example.org", "bob@example.org"}
    assert set(rows(tmp_path / "shop.csv")) == {"ada@example.org", "bob@example.org"}
    assert broken in (tmp_path / "crm.csv").read_text()  # kept as it was, for a person to fix


def test_a_field_over_pythons_csv_limit_is_read(tmp_path: Path) -> None:
    notes = "n" * 200_000  # Python's csv module stops at 128 KiB by default
    setup(
        tmp_path,
        crm=f"id,email,first_name,notes\n1,ada@example.org,Ada,{notes}\n"
        f"2,bob@example.org,{'B' * 200_000},\n",
        desk="id,email,first_name\n",
        shop="id,email\n",
    )
    code, report = once(tmp_path)
    assert code == 1
    [failure] = report["systems"]["crm"]["failed"]
    assert failure["vendor_id"] == "2" and "at most 10000" in failure["reason"]
    assert set(rows(tmp_path / "desk.csv")) == {"ada@example.org"}
    assert rows(tmp_path / "crm.csv")["ada@example.org"]["notes"] == notes  # kept as it was


def test_a_huge_value_in_a_failure_is_cut_on_the_terminal(tmp_path: Path) -> None:
    huge = "i" * 150_000
    setup(tmp_path, crm=f"id,email\n{huge},nomail\n", desk="id,email\n", shop="id,email\n")
    code, out, _ = cli(tmp_path, "once")
    assert code == 1
    assert "… (150000 characters)" in out and len(out) < 20_000
    assert "[red]" not in out  # vendor text is never read as markup either


def test_two_rows_with_one_id_are_reported_with_both_lines(tmp_path: Path) -> None:
    setup(
        tmp_path,
        crm="id,email\n7,ada@example.org\n8,cy@example.org\n7,bob@example.org\n",
        desk="id,email\n",
        shop="id,email\n",
    )
    for _ in range(2):  # and the next run is no different: nothing stuck
        code, report = once(tmp_path)
        assert code == 1
        [why] = reasons(report, "crm")
        assert "line 2" in why and "line 4" in why, why
        assert set(rows(tmp_path / "desk.csv")) == {"cy@example.org"}
