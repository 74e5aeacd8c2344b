"""The daemon's /metrics as a scraper reads it: what runs, in which version, with the
process's own figures, and no `_created` series beside every counter."""

from __future__ import annotations

import platform
from pathlib import Path

from sync import __version__
from tests.engine_helpers import World
from tests.system.test_monitor import _tick, daemon_over, get


async def test_metrics_carry_build_info_and_process_figures_and_no_created_series(
    tmp_path: Path,
) -> None:
    w = World(tmp_path, ["crm", "desk"])
    w.add("crm", email="ada@example.org", first_name="Ada")
    daemon = daemon_over(w)
    await _tick(daemon)
    text = (await get(daemon, "/metrics")).text
    python = platform.python_version()
    assert f'contactsync_build_info{{python="{python}",version="{__version__}"}} 1.0' in text
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes"):
        assert f"\n{name} " in text, name
    assert 'contactsync_runs_total{outcome="ok"} 1.0' in text
    assert "_created" not in text
