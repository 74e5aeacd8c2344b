"""The terminal's progress display, driven by the calls a run makes to its Progress."""

from __future__ import annotations

import io

from rich.console import Console

from sync.terminal import TerminalProgress


def drive(progress: TerminalProgress) -> None:
    progress.page("crm", 100)
    progress.page("crm", 200)
    progress.bars.refresh()
    progress.listed("crm", 250, True)
    progress.listed("desk", 7, False)
    progress.planned({("desk", "create"): 3, ("crm", "update"): 1})
    progress.sent("desk", "create", True)
    progress.sent("desk", "create", True)
    progress.sent("crm", "update", False)
    progress.bars.refresh()


def test_pages_per_system_then_pushes_done_of_total() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120, color_system=None)
    with TerminalProgress(console) as progress:
        drive(progress)
        text = out.getvalue()
    assert "listing crm: page 2" in text
    assert "crm: listed" in text and "desk: listed (incomplete)" in text
    assert "pushing (update in crm)" in text and "3/4" in text
    assert progress.landed() == "desk: 2 create"  # the failed update is not counted


def test_disabled_prints_nothing_but_still_counts() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    with TerminalProgress(console, enabled=False) as progress:
        drive(progress)
    assert out.getvalue() == ""
    assert progress.landed() == "desk: 2 create"


def test_a_plan_journalled_in_parts_adds_up_to_one_total() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120, color_system=None)
    with TerminalProgress(console) as progress:
        progress.planned({("desk", "create"): 2})
        progress.sent("desk", "create", True)
        progress.planned({("desk", "create"): 3, ("crm", "update"): 1})
        progress.sent("desk", "create", True)
        progress.bars.refresh()
        text = out.getvalue()
    assert "2/6" in text
