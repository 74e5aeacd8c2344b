"""contactsync against vdirsyncer 0.21 on the same work, both timed from outside.

vdirsyncer syncs N vCards from one folder into an empty one; contactsync syncs N people from
one CSV file into an empty one (`contactsync once`, the whole process). Then each runs again
with nothing changed. vdirsyncer is installed into bench/.peer-venv (gitignored), never into
the project's dependencies. Each figure is the median of `repeat` runs on fresh folders.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.measure import process

HERE = Path(__file__).resolve().parent
VENV = HERE / ".peer-venv"
VDIRSYNCER = "vdirsyncer==0.21.*"


def _peer() -> Path:
    exe = VENV / "bin" / "vdirsyncer"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "-q", VDIRSYNCER]
        subprocess.run(pip, check=True)
    return exe


def _timed(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one whole process."""
    wall, _, peak = process(cmd, cwd, env)
    return wall, peak


def _vcard(i: int) -> str:
    return (
        "BEGIN:VCARD\r\nVERSION:3.0\r\n"
        f"UID:person{i:06d}\r\nFN:Person {i}\r\nN:{i};Person;;;\r\n"
        f"EMAIL;TYPE=INTERNET:person{i:06d}@example.com\r\n"
        f"TEL;TYPE=CELL:+1303{2000000 + i}\r\nTITLE:Driver\r\nEND:VCARD\r\n"
    )


def _vdirsyncer_once(exe: Path, n: int) -> tuple[tuple[float, float], tuple[float, float]]:
    root = Path(tempfile.mkdtemp(prefix="bench-vdir-"))
    try:
        a, b = root / "a", root / "b"
        a.mkdir()
        b.mkdir()
        for i in range(n):
            (a / f"person{i:06d}.vcf").write_text(_vcard(i))
        config = root / "config"
        config.write_text(
            f'[general]\nstatus_path = "{root / "status"}"\n\n'
            '[pair people]\na = "people_a"\nb = "people_b"\ncollections = null\n\n'
            f'[storage people_a]\ntype = "filesystem"\npath = "{a}"\nfileext = ".vcf"\n\n'
            f'[storage people_b]\ntype = "filesystem"\npath = "{b}"\nfileext = ".vcf"\n'
        )
        env = {**os.environ, "VDIRSYNCER_CONFIG": str(config)}
        discover = [str(exe), "discover"]  # required once before a sync; not timed
        subprocess.run(discover, cwd=root, env=env, check=True, capture_output=True)
        first = _timed([str(exe), "sync"], root, env)
        again = _timed([str(exe), "sync"], root, env)
        assert len(list(b.iterdir())) == n, "vdirsyncer did not copy every card"
        return first, again
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _contactsync_once(n: int) -> tuple[tuple[float, float], tuple[float, float]]:
    root = Path(tempfile.mkdtemp(prefix="bench-csv-"))
    try:
        rows = ["id,email,first_name,last_name,mobile,title"]
        rows += [
            f"c{i},person{i:06d}@example.com,Person,{i},+1303{2000000 + i},Driver" for i in range(n)
        ]
        (root / "crm.csv").write_text("\n".join(rows) + "\n")
        (root / "shop.csv").write_text("id,email,first_name,last_name,mobile,title\n")
        (root / "sync.toml").write_text(
            f'[state]\nurl = "sqlite:///{root / "state.db"}"\n\n'
            '[systems.crm]\nconnector = "csv"\npath = "crm.csv"\n\n'
            '[systems.shop]\nconnector = "csv"\npath = "shop.csv"\n'
        )
        exe = Path(sys.executable).with_name("contactsync")
        cmd = [str(exe), "--config", str(root / "sync.toml"), "once"]
        first = _timed(cmd, root)
        again = _timed(cmd, root)
        lines = (root / "shop.csv").read_text().count("\n")
        assert lines == n + 1, f"contactsync wrote {lines - 1} of {n} rows"
        return first, again
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _summary(runs: list[tuple[tuple[float, float], tuple[float, float]]]) -> dict[str, Any]:
    out = {}
    for i, label in enumerate(("initial", "noop")):
        walls = [r[i][0] for r in runs]
        out[label] = {
            "median_s": round(statistics.median(walls), 3),
            "runs_s": [round(w, 3) for w in walls],
            "peak_mb": round(max(r[i][1] for r in runs), 1),
        }
    return out


def compare(n: int, seed: int, repeat: int = 3) -> dict[str, Any]:
    exe = _peer()
    ours = [_contactsync_once(n) for _ in range(repeat)]
    theirs = [_vdirsyncer_once(exe, n) for _ in range(repeat)]
    return {"n": n, "contactsync": _summary(ours), "vdirsyncer": _summary(theirs)}
