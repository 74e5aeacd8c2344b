"""A state database that is away or unusable is one clear line naming state.url (its
password masked) and the cause, exit 2, no traceback: for every command that opens the store,
with text and with JSON logs."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import pgcluster
from tests.helpers import REPO, TWO_CSV, own_pg_server

COMMANDS = [("once",), ("status",), ("db", "upgrade"), ("conflicts", "list"), ("deletions", "list")]
SECRET = "pw-Sup3r-s3cret"


def cli(
    folder: Path, *args: str, env: dict[str, str] | None = None, prefix: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *(prefix or []),
            sys.executable,
            "-m",
            "sync",
            "--config",
            str(folder / "sync.toml"),
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=folder,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
    )


def configure(folder: Path, state: str) -> None:
    (folder / "sync.toml").write_text(f"[state]\n{state}\n" + TWO_CSV)
    (folder / "crm.csv").write_text("id,email\n1,a@example.org\n")
    (folder / "desk.csv").write_text("id,email\n")


def assert_one_line(done: subprocess.CompletedProcess[str], *causes: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr and SECRET not in done.stderr + done.stdout
    [line] = lines
    if line.startswith("{"):
        event = json.loads(line)
        assert event["level"] == "error"
        line = event["message"]
    assert line.removeprefix("error: ").startswith("state.url "), line
    assert any(c in line for c in causes), line


def every_command(
    folder: Path,
    *causes: str,
    env: dict[str, str] | None = None,
    commands: list[tuple[str, ...]] = COMMANDS,
) -> None:
    """Each command in this process (fast); a real process is tried by the tests below."""
    import contextlib
    import io

    from sync.cli import main

    saved = dict(os.environ)
    os.environ.update(env or {})
    try:
        for command in commands:
            for fmt in ("text", "json"):
                err, out = io.StringIO(), io.StringIO()
                with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
                    code = main(
                        ["--config", str(folder / "sync.toml"), "--log-format", fmt, *command]
                    )
                done = subprocess.CompletedProcess(command, code, out.getvalue(), err.getvalue())
                assert_one_line(done, *causes)
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.mark.parametrize(
    ("where", "cause"),
    [
        ("folder", "is a folder, not a database file"),
        ("proc", "cannot create /proc/contactsync"),
        ("too long", "File name too long"),
    ],
)
def test_a_state_path_that_cannot_be_a_database(tmp_path: Path, where: str, cause: str) -> None:
    path = {
        "folder": tmp_path / "state-folder",
        "proc": Path("/proc/contactsync/state.db"),
        "too long": tmp_path / ("x" * 300) / "state.db",
    }[where]
    if where == "folder":
        path.mkdir()
    configure(tmp_path, f'url = "sqlite:///{path}"')
    every_command(tmp_path, cause)
    assert_one_line(cli(tmp_path, "--log-format", "json", "once"), cause)  # a real process


def test_a_locked_sqlite_file(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("PRAGMA journal_mode=DELETE")
    holder.execute("BEGIN EXCLUSIVE")  # another process in the middle of a write
    try:
        configure(tmp_path, f'url = "sqlite:///{db}?timeout=0.2"')
        every_command(tmp_path, "locked by another process")
    finally:
        holder.rollback()
        holder.close()


def read_only(folder: Path) -> list[str]:
    """A command prefix under which `folder` cannot be written. Root writes any file whatever
    its mode, so as root the folder is bound read-only in a mount namespace of its own."""
    if os.geteuid() != 0:
        for p in (folder / "state.db", folder):
            p.chmod(0o555 if p.is_dir() else 0o444)
        return []
    script = f'mount --bind {folder} {folder} && mount -o remount,bind,ro {folder} && exec "$@"'
    prefix = ["unshare", "-m", "sh", "-c", script, "sh"]
    if shutil.which("unshare") is None or subprocess.run([*prefix, "true"]).returncode != 0:
        pytest.skip("needs a mount namespace (unshare) to make a folder read-only for root")
    return prefix


def test_a_read_only_sqlite_file(tmp_path: Path) -> None:
    configure(tmp_path, f'url = "sqlite:///{tmp_path / "state.db"}"')
    assert cli(tmp_path, "db", "upgrade").returncode == 0
    prefix = read_only(tmp_path)
    try:
        for fmt in ("text", "json"):
            done = cli(tmp_path, "--log-format", fmt, "once", prefix=prefix)
            assert_one_line(done, "read-only")
    finally:
        tmp_path.chmod(0o755)


# --- PostgreSQL -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pw_server() -> Iterator[pgcluster.Server]:
    """A server that wants a password (the session's shared one trusts everyone)."""
    with own_pg_server(SECRET) as server:
        yield server


@pytest.mark.postgres
def test_postgres_wrong_and_missing_password(tmp_path: Path, pw_server: pgcluster.Server) -> None:
    configure(tmp_path, f'url = "{pw_server.url}"\npassword_env = "CS_TEST_DB_PW"')
    every_command(
        tmp_path,
        'password authentication failed for user "postgres"',
        env={"CS_TEST_DB_PW": "wrong-" + SECRET},
    )
    good = cli(tmp_path, "db", "upgrade", env={"CS_TEST_DB_PW": SECRET})
    assert good.returncode == 0, good.stderr  # the password from the environment is used
    configure(tmp_path, f'url = "{pw_server.url}"')
    every_command(tmp_path, "asks for a password: set [state] password_env or password_file")


@pytest.mark.postgres
def test_postgres_missing_database(tmp_path: Path, pg_server: str) -> None:
    url = pg_server.rsplit("/", 1)[0] + "/no_such_database"
    configure(tmp_path, f'url = "{url}"')
    every_command(tmp_path, 'database "no_such_database" does not exist')


@pytest.mark.postgres
def test_postgres_server_stopped(tmp_path: Path, pw_server: pgcluster.Server) -> None:
    pw_server.stop()
    try:
        configure(tmp_path, f'url = "{pw_server.url}"\npassword_env = "CS_TEST_DB_PW"')
        every_command(tmp_path, "connection refused", env={"CS_TEST_DB_PW": SECRET})
        done = cli(tmp_path, "once", env={"CS_TEST_DB_PW": SECRET})
        assert f"127.0.0.1:{pw_server.port}" in done.stderr
    finally:
        pw_server.start()


@pytest.mark.postgres
def test_a_postgres_server_that_never_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection is accepted (by the kernel) and then nothing comes back: given up
    after CONNECT_TIMEOUT (libpq alone would wait forever)."""
    import socket

    from sync.store import db

    monkeypatch.setattr(db, "CONNECT_TIMEOUT", 1)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        configure(tmp_path, f'url = "postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"')
        every_command(tmp_path, f"no answer from 127.0.0.1:{port}", commands=[("once",)])
