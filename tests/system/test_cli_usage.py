"""The command line as a new user meets it: options anywhere, help, version, completion,
init, deletions, status for cron, empty configurations, pipes and wide tables."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

from sync.cli import build_parser, main
from tests.helpers import two_csv

CRM = "id,email,first_name\n" + "".join(f"{i},p{i}@example.org,P{i}\n" for i in range(1, 6))


def run(
    folder: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sync", *args],
        capture_output=True,
        text=True,
        cwd=folder,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    two_csv(tmp_path, CRM, "id,email,first_name\n", head="[sync]\nmax_delete_fraction = 0.2\n")
    return tmp_path


def test_global_options_work_before_and_after_the_subcommand(folder: Path) -> None:
    config = str(folder / "sync.toml")
    after = run(folder.parent, "once", "--config", config, "--log-format", "json", "-v")
    assert after.returncode == 0, after.stderr
    lines = [json.loads(line) for line in after.stderr.splitlines() if line.strip()]
    assert lines and all("message" in line for line in lines)  # every log line is JSON
    assert any(line["level"] == "debug" for line in lines)  # -v after the command counted
    before = run(folder.parent, "--config", config, "-q", "status")
    assert before.returncode == 0, before.stderr
    assert "INFO" not in before.stderr  # -q before the command counted
    # given before and not repeated after: kept
    mixed = run(folder.parent, "--config", config, "--log-format", "json", "status", "-q")
    assert mixed.returncode == 0 and mixed.stderr == ""


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += _parsers(sub)
    return found


def test_every_subcommand_and_option_has_help_and_help_lists_exit_statuses() -> None:
    parser = build_parser()
    for p in _parsers(parser):
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    assert choice.help, f"{p.prog} {choice.dest}: no help"
            else:
                assert action.help, f"{p.prog} {action.option_strings or action.dest}: no help"
    text = parser.format_help()
    assert "exit status:" in text
    for code in ("0 ", "1 ", "2 ", "130", "141"):
        assert f"\n  {code}" in text
    assert "exit status:" in _parsers(parser)[1].format_help()


def test_version_comes_from_the_package_metadata(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"contactsync {version('contactsync')}"


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_scripts_know_the_commands_and_options(
    shell: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["completion", shell]) == 0
    script = capsys.readouterr().out
    for word in ("once", "deletions", "--dry-run", "--log-format", "conflicts"):
        assert word in script
    if shell == "bash":
        assert (
            "complete " in script
            and subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0
        )
    else:
        assert script.startswith("#compdef contactsync")


def test_an_empty_config_is_not_a_silent_success(tmp_path: Path) -> None:
    (tmp_path / "sync.toml").write_text("# nothing yet\n")
    for command in ("once", "check"):
        done = run(tmp_path, command)
        assert done.returncode == 2, done
        assert "no systems to sync" in done.stderr and "sync.toml" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sync.toml"]


def test_init_writes_a_config_that_checks_and_never_overwrites(tmp_path: Path) -> None:
    made = run(
        tmp_path, "init", "--connector", "csv", "--connector", "lightening", "--connector", "csv"
    )
    assert made.returncode == 0, made.stderr
    assert "export LIGHTENING_TOKEN=" in made.stdout
    text = (tmp_path / "sync.toml").read_text()
    raw = tomllib.loads(text)
    assert set(raw["systems"]) == {"csv", "csv2", "lightening"}
    assert raw["systems"]["lightening"]["mapping"] == "mappings/lightening.toml"
    assert (tmp_path / "mappings" / "lightening.toml").is_file()
    assert text.count("\n#") > 5  # commented
    checked = run(tmp_path, "check", env={"LIGHTENING_TOKEN": "t"})
    assert checked.returncode == 0, checked.stderr
    (tmp_path / "sync.toml").write_text("mine")
    again = run(tmp_path, "init", "--connector", "csv")
    assert again.returncode == 2 and "sync.toml exists already" in again.stderr
    assert (tmp_path / "sync.toml").read_text() == "mine"
    (tmp_path / "other.toml").unlink(missing_ok=True)
    mapped = run(tmp_path, "init", "--config", "other.toml", "--connector", "lightening")
    assert mapped.returncode == 2 and "mappings/lightening.toml exists already" in mapped.stderr
    assert not (tmp_path / "other.toml").exists()  # nothing written


def test_held_deletions_are_listed_and_allowed_from_the_command_line(folder: Path) -> None:
    assert run(folder, "once").returncode == 0
    (folder / "crm.csv").write_text("id,email,first_name\n1,p1@example.org,P1\n")  # 4 gone
    held = run(folder, "once")
    assert held.returncode == 1 and "held" in held.stdout
    listed = json.loads(run(folder, "deletions", "list", "--format", "json").stdout)
    assert len(listed) == 4 and len({d["system"] for d in listed}) == 1
    system = listed[0]["system"]
    table = run(folder, "deletions", "list")
    assert str(listed[0]["id"]) in table.stdout
    bad = run(folder, "deletions", "allow", "999999")
    assert bad.returncode == 2 and "no held deletion with ID 999999" in bad.stderr
    assert run(folder, "deletions", "allow").returncode == 2  # neither IDs nor --system
    one = run(folder, "deletions", "allow", str(listed[0]["id"]))
    assert one.returncode == 0, one.stderr
    rest = run(folder, "deletions", "allow", "--system", system)
    assert rest.returncode == 0 and "allowed 3 deletion(s)" in rest.stdout
    assert run(folder, "once", "--full-scan").returncode == 0
    desk = (folder / "desk.csv").read_text()
    assert "p1@example.org" in desk and "p2@example.org" not in desk


def test_status_exits_1_when_a_systems_last_run_failed_and_times_carry_their_zone(
    folder: Path,
) -> None:
    assert run(folder, "once").returncode == 0
    healthy = run(folder, "status", "--format", "json")
    assert healthy.returncode == 0, healthy.stderr
    data = json.loads(healthy.stdout)
    assert data["failing"] == {}
    times = [
        data["runs"][0]["started_at"],
        data["lease"]["expires_at"],
        data["cursors"]["crm"]["last_success"],
        data["cursors"]["crm"]["last_full_scan"],
    ]
    assert all(t.endswith("+00:00") for t in times), times
    config = folder / "sync.toml"
    config.write_text(
        config.read_text()
        + '[systems.api]\nconnector = "lightening"\nbase_url = "http://127.0.0.1:1"\n'
        'customer_ids = [1]\nretries = 0\nauth = { kind = "bearer", token_env = "CS_T" }\n'
    )
    env = {"CS_T": "x"}
    assert run(folder, "once", env=env).returncode == 1  # api cannot be listed
    sick = run(folder, "status", env=env)
    assert sick.returncode == 1 and "failing" in sick.stdout and "api" in sick.stdout
    assert json.loads(run(folder, "status", "--format", "json", env=env).stdout)["failing"]


def _times(value: object) -> list[str]:
    """Every string in a JSON document that is a date with a time."""
    from datetime import datetime

    if isinstance(value, dict):
        return [t for v in value.values() for t in _times(v)]
    if isinstance(value, list):
        return [t for v in value for t in _times(v)]
    if isinstance(value, str) and "T" in value:
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return []
        return [value]
    return []


def test_every_time_in_json_output_carries_its_zone(folder: Path) -> None:
    assert run(folder, "once").returncode == 0
    for name, title in (("crm.csv", "Countess"), ("desk.csv", "Duchess")):
        path = folder / name
        text = path.read_text().splitlines()
        text[0] += ",title"
        text[1:] = [line + "," + (title if "p1@" in line else "") for line in text[1:]]
        path.write_text("\n".join(text) + "\n")
    assert run(folder, "once").returncode == 0
    found = []
    for args in (("status",), ("conflicts", "list"), ("explain", "p1@example.org")):
        done = run(folder, *args, "--format", "json")
        assert done.returncode == 0, done.stderr
        found += _times(json.loads(done.stdout))
    assert len(found) > 5
    naive = [t for t in found if not t.endswith("+00:00")]
    assert not naive, naive


def test_output_is_not_cut_to_80_columns_when_piped(folder: Path) -> None:
    long = "a-rather-long-address-of-someone-" + "x" * 40 + "@example.org"
    (folder / "crm.csv").write_text(f"id,email,first_name\n1,{long},Ada\n")
    done = run(folder, "once", "--dry-run")
    assert done.returncode == 0
    [line] = [line for line in done.stdout.splitlines() if long in line]
    assert line.strip() == f"would create in desk: {long} email, first_name"  # one line


def test_dry_run_counts_what_would_be_sent_before_the_list(folder: Path) -> None:
    done = run(folder, "once", "--dry-run")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "would create" in out.splitlines()[2]  # a column of the table's header
    summary = out.index("would send 5 action(s): desk: 5 create")
    assert summary < out.index("would create in desk")
    row = next(line for line in out.splitlines() if line.startswith("│ desk"))
    assert row.split("│")[4].strip() == "5"  # "would create" column


@pytest.mark.parametrize(
    "args",
    [
        ["completion", "zsh"],  # plain print
        ["check"],  # rich's console, which exits 1 on a closed pipe unless told otherwise
        ["conflicts", "list"],
    ],
)
def test_a_closed_pipe_ends_quietly(folder: Path, args: list[str]) -> None:
    read, write = os.pipe()
    os.close(read)  # nobody reads: the first write fails with EPIPE
    try:
        done = subprocess.run(
            [sys.executable, "-m", "sync", *args],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            cwd=folder,
        )
    finally:
        os.close(write)
    assert done.returncode == 141, done.stderr
    assert done.stderr == ""


def test_status_shows_vendor_text_as_it_is_and_long_cursors_shortened(folder: Path) -> None:
    """A vendor's words may hold brackets (a masked '[redacted]', '[/x]'): status prints them
    as they are, never as rich markup, which dropped the first and raised on the second. A
    cursor of thousands of characters (SuperOffice's boundary) is shortened in the table."""
    from datetime import UTC, datetime

    from sync.store.models import Cursor
    from sync.store.repo import Store

    assert run(folder, "once").returncode == 0
    why = "credentials refused (Invalid credentials: 'Bearer [redacted]') [/x] [bold]"
    store = Store(f"sqlite:///{folder / '.contactsync' / 'state.db'}")
    try:
        with store.session() as s:
            row = s.get(Cursor, "crm")
            assert row is not None
            row.last_error = why
            row.value = (
                '{"at": "2026-01-01", "seen": {'
                + ", ".join(f'"{i}": "2026-01-01T00:00:00"' for i in range(300))
                + "}}"
            )
            row.updated_at = datetime.now(UTC)
            s.commit()
    finally:
        store.dispose()
    done = run(folder, "status")
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 1, done.stderr  # crm's last listing failed
    assert why in done.stdout  # in the table's cell and on the failing line
    assert f"failing crm: listing: {why}" in done.stdout
    assert max(len(line) for line in done.stdout.splitlines()) < 400
    data = json.loads(run(folder, "status", "--format", "json").stdout)
    assert len(data["cursors"]["crm"]["cursor"]) > 5000  # JSON keeps it whole
