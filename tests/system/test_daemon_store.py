"""The daemon survives its database: a PostgreSQL stopped under a running daemon turns
/healthz 503 with the reason, the daemon retries with backoff, and syncs once the server is
back. A port already taken for /healthz or the review page is exit 2 before anything starts."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sync.sandbox.serve import free_port
from tests import pgcluster
from tests.helpers import REPO, TWO_CSV, own_pg_server, wait_for

AWAY = (httpx.HTTPError, OSError)  # the daemon not listening yet, its file not written yet


@pytest.fixture
def server() -> Iterator[pgcluster.Server]:
    with own_pg_server() as s:
        yield s


def daemon(folder: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sync", "--config", str(folder / "sync.toml"), "daemon"],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def health(port: int) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)


@pytest.mark.postgres
def test_the_daemon_rides_out_a_stopped_database(tmp_path: Path, server: pgcluster.Server) -> None:
    port = free_port()
    (tmp_path / "sync.toml").write_text(
        f'[state]\nurl = "{server.url}"\n[sync]\ninterval = "2s"\n'
        f'[daemon]\nlisten = "127.0.0.1:{port}"\nunhealthy_after = 5\n' + TWO_CSV
    )
    (tmp_path / "crm.csv").write_text("id,email\n1,ada@example.org\n")
    (tmp_path / "desk.csv").write_text("id,email\n")
    proc = daemon(tmp_path)
    try:
        desk = tmp_path / "desk.csv"
        wait_for("the first sync", lambda: "ada@example.org" in desk.read_text(), ignoring=AWAY)
        assert health(port).status_code == 200
        server.stop()
        sick = wait_for("503", lambda: (r := health(port)).status_code == 503 and r, ignoring=AWAY)
        body = sick.json()
        assert "state.url" in body["store_error"] and "connection refused" in body["store_error"]
        assert proc.poll() is None, "the daemon died with its database"
        # an edit made while the database is away is synced once it is back
        (tmp_path / "crm.csv").write_text("id,email\n1,ada@example.org\n2,bob@example.org\n")
        time.sleep(3)  # a few retries against the stopped server
        server.start()
        wait_for(
            "the sync after the database came back",
            lambda: "bob@example.org" in desk.read_text(),
            ignoring=AWAY,
        )
        wait_for("healthy again", lambda: health(port).status_code == 200, ignoring=AWAY)
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        out = proc.stdout.read() if proc.stdout else ""
        assert "Traceback" not in out, out
        assert "trying again in 1 s" in out and "trying again in 2 s" in out, out  # backoff
        assert "the state database answers again" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_taken_health_port_is_exit_2_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        (tmp_path / "sync.toml").write_text(f'[daemon]\nlisten = "127.0.0.1:{port}"\n' + TWO_CSV)
        (tmp_path / "crm.csv").write_text("id,email\n1,ada@example.org\n")
        (tmp_path / "desk.csv").write_text("id,email\n")
        proc = daemon(tmp_path)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 2, out
        assert "daemon.listen" in out and f"127.0.0.1:{port}" in out and "in use" in out
        assert "Traceback" not in out
        assert not (tmp_path / ".contactsync").exists()  # no store opened, nothing synced
        assert (tmp_path / "desk.csv").read_text() == "id,email\n"


def test_a_taken_review_port_is_exit_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        (tmp_path / "sync.toml").write_text(TWO_CSV)
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "sync",
                "--config",
                str(tmp_path / "sync.toml"),
                "serve",
                "--listen",
                f"127.0.0.1:{port}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, done
        assert "--listen" in done.stderr and "in use" in done.stderr
        assert "Traceback" not in done.stderr
