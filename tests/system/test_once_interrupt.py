"""Ctrl-C in `once`: the requests in flight land and are committed, the user is told what
was done and that the next run resumes; the next run sends the rest, nothing twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sync.demo import write_config
from sync.sandbox.serve import emulator_for, serve
from tests.helpers import REPO

PEOPLE = 40


def test_ctrl_c_stops_after_what_is_in_flight_and_the_next_run_resumes(tmp_path: Path) -> None:
    emulator = emulator_for("lightening", latency=0.4)
    served = serve("lightening", emulator)
    try:
        config = write_config(tmp_path, {"lightening": served}, sections={"sync": {"priority": []}})
        with config.open("a") as fh:
            fh.write('\n[systems.crm]\nconnector = "csv"\npath = "crm.csv"\n')
        rows = "".join(f"{i},p{i}@example.org,P{i}\n" for i in range(PEOPLE))
        (tmp_path / "crm.csv").write_text("id,email,first_name\n" + rows)
        cmd = [sys.executable, "-m", "sync", "--config", str(config), "once"]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        proc = subprocess.Popen(
            cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 60
        while len(emulator.people()) < 1:
            assert time.monotonic() < deadline and proc.poll() is None, "no create landed"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, (out, err)
        assert "Traceback" not in err
        assert "stopped by Ctrl-C" in err and "the next run resumes" in err
        landed = len(emulator.people())
        assert 0 < landed < PEOPLE
        again = subprocess.run(
            cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        assert again.returncode == 0, again.stderr
        emails = [p["email"] for p in emulator.people()]
        assert sorted(emails) == sorted(f"p{i}@example.org" for i in range(PEOPLE))
    finally:
        served.stop()
