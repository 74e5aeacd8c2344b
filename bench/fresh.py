"""Remote mode: each step's run is a fresh `contactsync once` process against the emulators
served from the child process (bench/remote.py), timed from outside.

What such a step measures is the engine alone, as a person runs it: start-up, listing over
HTTP, deciding, committing; its CPU (user+sys) and peak RSS are that process's own (wait4),
so neither the emulators' memory nor the harness's count. With `--profile` the process runs
under pyinstrument and leaves its session beside the text tree.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.measure import Sample

# The command is started by a small Python process of its own, which reports its rusage:
# wait4 on a child started straight from the harness counts the harness's own peak RSS in
# the child's (Linux keeps the highest RSS of the memory a process had before exec).
WRAPPER = """
import json, os, sys
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    json.dump({"status": os.waitstatus_to_exitcode(status), "cpu": usage.ru_utime + usage.ru_stime,
               "rss_kb": usage.ru_maxrss}, f)
"""


def run_once(
    config: Path,
    env: dict[str, str],
    *,
    full_scan: bool,
    profile: Path | None = None,
    code: Path | None = None,
) -> tuple[Sample, dict[str, Any]]:
    """One `contactsync once` (`--full-scan` when asked): its figures and its report.
    `code`: a checkout whose `sync` package runs instead of this one (an A/B of commits)."""
    args = ["-m", "sync", "--config", str(config), "-q", "once", "--format", "json"]
    if full_scan:
        args.append("--full-scan")
    if profile is not None:
        session = profile.with_suffix(".pyisession")
        args = ["-m", "pyinstrument", "-i", "0.002", "-r", "session", "-o", str(session), *args]
    with (
        tempfile.TemporaryFile("w+") as out,
        tempfile.TemporaryFile("w+") as err,
        tempfile.NamedTemporaryFile("r") as usage,
    ):
        env = {**os.environ, **env}
        if code is not None:
            env["PYTHONPATH"] = str(code)
        cmd = [sys.executable, "-c", WRAPPER, usage.name, sys.executable, *args]
        start = time.perf_counter()
        subprocess.run(cmd, env=env, cwd=config.parent, stdout=out, stderr=err, check=True)
        wall = time.perf_counter() - start
        found = json.loads(usage.read())
        out.seek(0)
        err.seek(0)
        text = out.read()
        if found["status"] not in (0, 1):  # 1: a record failed or a deletion was held
            raise RuntimeError(f"contactsync once failed ({found['status']}): {err.read()[-3000:]}")
    sample = Sample(
        wall_s=wall, cpu_s=found["cpu"], rss_before_mb=0.0, rss_peak_mb=found["rss_kb"] / 1024
    )
    start_json = text.find("{")
    report: dict[str, Any] = json.loads(text[start_json:]) if start_json >= 0 else {}
    return sample, report


def profile_text(profile: Path) -> tuple[str, Any]:
    """The text tree of a profiled run, and the session (for its top costs)."""
    from pyinstrument.renderers import ConsoleRenderer
    from pyinstrument.session import Session

    session = Session.load(str(profile.with_suffix(".pyisession")))
    renderer = ConsoleRenderer(unicode=False, color=False, show_all=False)
    return renderer.render(session), session
