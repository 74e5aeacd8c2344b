"""Wall time, CPU time and peak RSS of one step, and a description of the machine."""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def _status(key: str) -> int:
    """A /proc/self/status figure in kB (VmRSS, VmHWM); 0 where there is no /proc."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def reset_peak() -> bool:
    """Reset the peak-RSS mark (Linux: writing 5 to clear_refs), so a step's peak is its own."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@dataclass
class Sample:
    wall_s: float = 0.0
    cpu_s: float = 0.0
    rss_before_mb: float = 0.0
    rss_peak_mb: float = 0.0


@contextmanager
def measured() -> Iterator[Sample]:
    sample = Sample()
    reset = reset_peak()
    sample.rss_before_mb = _status("VmRSS") / 1024
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield sample
    finally:
        sample.wall_s = time.perf_counter() - wall
        sample.cpu_s = time.process_time() - cpu
        if reset:
            sample.rss_peak_mb = _status("VmHWM") / 1024
        else:
            sample.rss_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def process(
    cmd: list[str], cwd: Path, env: dict[str, str] | None = None, ok: tuple[int, ...] = (0,)
) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user+sys) and peak RSS (MB) of one whole process; an exit
    code not in `ok` raises with the end of its stderr."""
    # stderr to a file, not a pipe: vdirsyncer logs a line per card, which fills a pipe
    # nobody reads while we wait, and the process blocks forever
    with tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        if code not in ok:
            err.seek(0)
            raise RuntimeError(f"{cmd[0]} failed ({code}): {err.read()[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    info = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": str(os.cpu_count()),
    }
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in lscpu.splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("Model name", "CPU(s)", "Thread(s) per core", "CPU max MHz"):
                info[key.strip()] = value.strip()
    except OSError:
        pass
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["memory"] = f"{int(line.split()[1]) // 1024} MB"
    except OSError:
        pass
    return info
