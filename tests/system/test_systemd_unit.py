"""The systemd unit in docs/operations.md installs from the wheel and is hardened:
`systemd-analyze security` rates it OK or better."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import REPO


def unit_text() -> str:
    doc = (REPO / "docs" / "operations.md").read_text()
    [block] = re.findall(r"```ini\n# /etc/systemd/system/contactsync.service\n(.*?)```", doc, re.S)
    return block


def test_the_unit_runs_the_installed_package_not_a_checkout() -> None:
    unit = unit_text()
    assert "ExecStart=/opt/contactsync/bin/contactsync " in unit
    assert ".venv" not in unit and "pip install -e" not in unit
    for setting in (
        "UMask=0077",
        "CapabilityBoundingSet=\n",
        "PrivateDevices=true",
        "RestrictAddressFamilies=",
        "SystemCallFilter=@system-service",
    ):
        assert setting in unit, setting


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_analyze_rates_the_unit_ok_or_better(tmp_path: Path) -> None:
    path = tmp_path / "contactsync.service"
    path.write_text(unit_text())
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    rating = re.search(
        r"Overall exposure level for contactsync.service: ([\d.]+) (\w+)", done.stdout
    )
    assert rating, done.stdout + done.stderr
    assert rating.group(2) in ("OK", "SAFE"), rating.group(0)
