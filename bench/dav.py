"""Address books beside vdirsyncer 0.21, in the same run, each tool a whole process timed
from outside (`contactsync once`, `vdirsyncer sync`): wall time, and CPU (user+sys) of the
tool and of the server.

- vdir: N cards in a folder synced into an empty folder (initial), again with nothing
  changed (no-op), again after 1% of the cards got a new TITLE (edit).
- radicale: N cards in a folder synced into an empty address book on a local Radicale
  (initial, then no-op). Radicale's own CPU (its process, /proc) is measured for each run,
  and its log counts the requests each run sent (REPORT, PUT, ...).

contactsync's runs follow each other as a daemon's would: after the initial run the first
incremental run reads back what it wrote (its echo, like the main benchmark's `echo` step),
then the no-op. vdirsyncer keeps its own status; its second run is its no-op.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.measure import process
from bench.peer import _peer, _vcard

RADICALE_LOG = re.compile(r"\] (\w+) request for ")


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> dict[str, float]:
    # contactsync exits 1 when a record failed: shown, not hidden
    wall, cpu, peak = process(cmd, cwd, env, ok=(0, 1))
    return {
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "peak_mb": round(peak, 1),
    }


def _cards(folder: Path, n: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"person{i:06d}.vcf").write_text(_vcard(i), newline="")


def _edit(folder: Path, n: int) -> None:
    """1% of the cards get a new TITLE, as another program would write them."""
    for i in range(0, n, 100):
        path = folder / f"person{i:06d}.vcf"
        path.write_bytes(path.read_bytes().replace(b"TITLE:Driver", b"TITLE:Dispatcher"))


def _contactsync(root: Path, systems: str) -> Callable[[], dict[str, float]]:
    (root / "sync.toml").write_text(f'[state]\nurl = "sqlite:///{root / "state.db"}"\n\n{systems}')
    exe = Path(sys.executable).with_name("contactsync")
    cmd = [str(exe), "--config", str(root / "sync.toml"), "once"]
    return lambda: _run(cmd, root)


def _vdirsyncer(root: Path, storages: str) -> Callable[[], dict[str, float]]:
    exe = _peer()
    config = root / "vdirsyncer.conf"
    config.write_text(
        f'[general]\nstatus_path = "{root / "status"}"\n\n'
        '[pair people]\na = "people_a"\nb = "people_b"\ncollections = null\n\n' + storages
    )
    env = {**os.environ, "VDIRSYNCER_CONFIG": str(config)}
    subprocess.run([str(exe), "discover"], cwd=root, env=env, check=True, capture_output=True)
    return lambda: _run([str(exe), "sync"], root, env)


def vdir(n: int) -> dict[str, Any]:
    out: dict[str, Any] = {"n": n, "kind": "vdir"}
    for tool in ("contactsync", "vdirsyncer"):
        root = Path(tempfile.mkdtemp(prefix=f"bench-vdir-{tool}-"))
        try:
            a, b = root / "a", root / "b"
            _cards(a, n)
            b.mkdir()
            if tool == "contactsync":
                systems = (f'[systems.a]\nconnector = "vdir"\npath = "{a}"\n\n'
                           f'[systems.b]\nconnector = "vdir"\npath = "{b}"\n')  # fmt: skip
                once = _contactsync(root, systems)
            else:
                storages = "".join(
                    f'[storage people_{s}]\ntype = "filesystem"\npath = "{p}"\nfileext = ".vcf"\n\n'
                    for s, p in (("a", a), ("b", b))
                )
                once = _vdirsyncer(root, storages)
            runs = {"initial": once(), "noop": once()}
            assert len(list(b.iterdir())) == n, f"{tool} did not copy every card"
            _edit(a, n)
            runs["edit"] = once()
            edited = sum("Dispatcher" in p.read_text() for p in b.iterdir())
            assert edited == len(range(0, n, 100)), f"{tool} carried {edited} edits"
            out[tool] = runs
        finally:
            shutil.rmtree(root, ignore_errors=True)
    return out


def _server_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _requests(log: Path, start: int) -> tuple[dict[str, int], int]:
    text = log.read_text(errors="replace")
    return dict(Counter(RADICALE_LOG.findall(text[start:]))), len(text)


def radicale(n: int, tools: tuple[str, ...] = ("contactsync", "vdirsyncer")) -> dict[str, Any]:
    from tests.davservers import PASSWORD, USER, start_radicale

    out: dict[str, Any] = {"n": n, "kind": "radicale"}
    for tool in tools:
        root = Path(tempfile.mkdtemp(prefix=f"bench-dav-{tool}-"))
        server = start_radicale(root / "radicale", level="info")
        try:
            url = server.new_book()
            a = root / "a"
            _cards(a, n)
            if tool == "contactsync":
                systems = (
                    f'[systems.a]\nconnector = "vdir"\npath = "{a}"\n\n'
                    f'[systems.book]\nconnector = "carddav"\nurl = "{url}"\n'
                    '[systems.book.auth]\nkind = "basic"\n'
                    'username_env = "DAV_USER"\npassword_env = "DAV_PASSWORD"\n'
                )
                os.environ.update({"DAV_USER": USER, "DAV_PASSWORD": PASSWORD})
                once = _contactsync(root, systems)
                steps: tuple[str, ...] = ("initial", "echo", "noop")
            else:
                storages = (
                    f'[storage people_a]\ntype = "filesystem"\npath = "{a}"\nfileext = ".vcf"\n\n'
                    f'[storage people_b]\ntype = "carddav"\nurl = "{url}"\n'
                    f'username = "{USER}"\npassword = "{PASSWORD}"\n'
                )
                once = _vdirsyncer(root, storages)
                steps = ("initial", "noop")
            runs: dict[str, dict[str, Any]] = {}
            log = server.root / "log"
            _, mark = _requests(log, 0)
            for step in steps:
                cpu = _server_cpu(server.process.pid)
                runs[step] = dict(once())
                time.sleep(0.2)  # the log's last lines
                runs[step]["server_cpu_s"] = round(_server_cpu(server.process.pid) - cpu, 3)
                runs[step]["requests"], mark = _requests(log, mark)
            out[tool] = runs
        finally:
            server.process.terminate()
            server.process.wait()
            shutil.rmtree(root, ignore_errors=True)
    return out
