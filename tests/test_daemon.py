"""The daemon runs the sync on a schedule and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def test_daemon_syncs_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    (tmp_path / "sync.toml").write_text(
        '[sync]\ninterval = "1s"\n[systems.a]\nconnector = "csv"\npath = "a.csv"\n'
        '[systems.b]\nconnector = "csv"\npath = "b.csv"\n'
    )
    (tmp_path / "a.csv").write_text("id,email\n1,ada@example.org\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sync", "--config", str(tmp_path / "sync.toml"), "daemon"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            b = tmp_path / "b.csv"
            if b.exists() and "ada@example.org" in b.read_text():
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the daemon did not sync within 30 s")
        # an edit made after start is picked up within an interval or two
        (tmp_path / "a.csv").write_text("id,email,title\n1,ada@example.org,Countess\n")
        deadline = time.monotonic() + 30
        while "Countess" not in (tmp_path / "b.csv").read_text():
            assert time.monotonic() < deadline, "edit not picked up"
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
