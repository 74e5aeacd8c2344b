"""The built wheel carries what the code needs beside it (migrations, mappings, vendor files,
the sample sync.toml, the templates) and runs from it, outside the checkout. CI also installs
it into a fresh virtual environment (.ci/run); this builds it offline, quickly."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.helpers import REPO

TWO_CSV = (
    '[systems.crm]\nconnector = "csv"\npath = "crm.csv"\n'
    '[systems.shop]\nconnector = "csv"\npath = "shop.csv"\n'
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(out),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    [built] = out.glob("contactsync-*.whl")
    return built


def test_the_wheel_carries_the_shipped_files(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in ("migrations", "mappings", "vendors"):
        shipped = {n for n in names if n.startswith(f"sync/_data/{folder}/")}
        here = {
            f"sync/_data/{p.relative_to(REPO)}"
            for p in (REPO / folder).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        }
        assert here and here <= shipped, (folder, here - shipped)
    assert "sync/_data/sync.toml" in names
    assert {"sync/web/templates/base.html", "sync/init/templates/head.toml"} <= names
    assert not [n for n in names if "__pycache__" in n or n.startswith("tests/")]


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel installed into a folder of its own (put on PYTHONPATH to run it)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return target


def test_an_installed_wheel_syncs_from_an_empty_folder(installed: Path, tmp_path: Path) -> None:
    target = installed
    work = tmp_path / "empty"
    work.mkdir()
    (work / "sync.toml").write_text(TWO_CSV)
    (work / "crm.csv").write_text("id,email\n1,ada@example.org\n")
    (work / "shop.csv").write_text("id,email\n2,bob@example.org\n")
    code = (
        "import sys, sync; assert sync.__file__.startswith(sys.argv[1]), sync.__file__\n"
        "from sync.cli import main; sys.exit(main(['-q', 'once']))"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}  # the wheel's sync, not the checkout's
    done = subprocess.run(
        [sys.executable, "-c", code, str(target)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "bob@example.org" in (work / "crm.csv").read_text()
    version = subprocess.run(
        [sys.executable, "-c", "from sync.cli import main; main(['--version'])"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert version.stdout.startswith("contactsync 0.")


def test_a_wheel_missing_its_migrations_says_so_in_one_line(
    installed: Path, tmp_path: Path
) -> None:
    """A broken installation (its migrations left out of the wheel) is one clear line and
    exit 2 for a command that opens the store, a failed `state` line for check --connect."""
    target = tmp_path / "site"
    shutil.copytree(installed, target)
    shutil.rmtree(target / "sync" / "_data" / "migrations")
    work = tmp_path / "work"
    work.mkdir()
    (work / "sync.toml").write_text(TWO_CSV)
    (work / "crm.csv").write_text("id,email\n1,ada@example.org\n")
    (work / "shop.csv").write_text("id,email\n2,bob@example.org\n")
    env = {**os.environ, "PYTHONPATH": str(target)}
    for args, status in ((["once"], 2), (["status"], 2), (["check", "--connect"], 1)):
        done = subprocess.run(
            [sys.executable, "-m", "sync", *args],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        said = done.stderr + done.stdout
        assert done.returncode == status, (args, said)
        assert "Traceback" not in said, (args, said)
        assert "migrations" in said and "reinstall" in said, (args, said)
        if status == 2:
            [line] = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
            assert str(target / "sync" / "_data" / "migrations") in line, line
    assert not (work / "state.db").exists(), "a state file was made"
    assert "bob" not in (work / "crm.csv").read_text()
