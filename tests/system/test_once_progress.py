"""`contactsync once` on a terminal shows its progress (listing per system, then the pushes
done of the total); piped, it prints only the summary."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

CONFIG = (
    '[state]\nurl = "sqlite:///state.db"\n'
    '[systems.a]\nconnector = "csv"\npath = "a.csv"\n'
    '[systems.b]\nconnector = "csv"\npath = "b.csv"\n'
)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def folder(tmp_path: Path) -> Path:
    (tmp_path / "sync.toml").write_text(CONFIG)
    (tmp_path / "a.csv").write_text("id,email\n1,ada@example.org\n")
    (tmp_path / "b.csv").write_text("id,email\n2,bo@example.org\n")
    return tmp_path


def on_a_terminal(cwd: Path) -> tuple[int, str]:
    """Run `once` with a pseudo-terminal as its standard streams; what it drew there."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sync", "once"], cwd=cwd, stdin=slave, stdout=slave, stderr=slave
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed its side
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    code = proc.wait(timeout=60)
    return code, ANSI.sub("", b"".join(chunks).decode("utf-8", "replace"))


def test_once_on_a_terminal_shows_its_progress(tmp_path: Path) -> None:
    code, shown = on_a_terminal(folder(tmp_path))
    assert code == 0, shown
    assert "a: listed" in shown and "b: listed" in shown, shown
    assert re.search(r"pushing \(create in [ab]\).*2/2", shown), shown
    assert "created" in shown  # the summary table follows


def test_once_piped_prints_no_progress(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sync", "once"],
        cwd=folder(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "listed" not in done.stderr and "pushing" not in done.stderr
    assert "created" in done.stdout
