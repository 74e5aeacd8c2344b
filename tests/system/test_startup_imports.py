"""What `contactsync once` imports: a configuration of files on SQLite loads no HTTP client
and no PostgreSQL dialect, and a run in which nothing changed loads no address or phone
parser. Each is tens of milliseconds of every start-up, and start-up is most of a no-op run
(bench/README.md, "Start-up")."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.helpers import two_csv

NOT_FOR_FILES = ("httpx", "aiohttp", "sqlalchemy.dialects.postgresql")
NOT_FOR_NOOP = ("email_validator", "phonenumbers")  # nothing is normalised when nothing changed

PROBE = """
import json, sys
from sync.cli import main
status = main(["once", "-q"])
print(json.dumps({"status": status, "modules": sorted(sys.modules)}))
"""


def test_a_second_run_of_csv_files_imports_no_http_client_and_no_postgresql(tmp_path: Path) -> None:
    two_csv(tmp_path, "id,email,first_name\n1,a@example.org,A\n", "id,email,first_name\n")
    for _ in range(2):  # the first run also migrates the new store (Alembic loads more)
        out = subprocess.run(
            [sys.executable, "-c", PROBE], cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 0, out.stderr
        result = json.loads(out.stdout.strip().splitlines()[-1])
        assert result["status"] == 0
    assert "a@example.org" in (tmp_path / "desk.csv").read_text()  # the runs did sync
    loaded = set(result["modules"])
    assert "sqlalchemy" in loaded and "sync.engine" in loaded
    assert sorted(loaded & set(NOT_FOR_FILES + NOT_FOR_NOOP)) == []
