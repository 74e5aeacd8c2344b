"""The progress of a long `once` on a terminal (rich): listing pages per system, then the
pushes done of the total. Silent when `enabled` is False (piped output, -q, JSON): then only
the summary is printed. It also counts what landed, for the message after a Ctrl-C."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.progress import Progress as Bars

from sync.progress import Progress


class TerminalProgress(Progress):
    def __init__(self, console: Console, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self.bars = Bars(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,  # gone when the run ends: the summary table stays
            disable=not enabled,
        )
        self.listing: dict[str, TaskID] = {}
        self.pages: Counter[str] = Counter()
        self.push: TaskID | None = None
        self.done: Counter[tuple[str, str]] = Counter()  # landed, by (system, kind)
        self.lock = threading.Lock()  # calls come from the run's loop and its threads

    def __enter__(self) -> TerminalProgress:
        self.bars.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.bars.stop()

    def page(self, system: str, records: int) -> None:
        with self.lock:
            self.pages[system] += 1
            task = self._listing(system)
            what = f"listing {system}: page {self.pages[system]}"
            self.bars.update(task, description=what, completed=records)

    def listed(self, system: str, records: int, complete: bool) -> None:
        with self.lock:
            task = self._listing(system)
            end = "listed" if complete else "listed (incomplete)"
            self.bars.update(task, description=f"{system}: {end}", total=records, completed=records)

    def planned(self, counts: Mapping[tuple[str, str], int]) -> None:
        with self.lock:
            total = sum(counts.values())
            if not total:
                return
            if self.push is None:
                self.push = self.bars.add_task("pushing", total=total)
            else:  # a later part of the plan: the total grows
                task = self.bars.tasks[self.push]
                self.bars.update(self.push, total=(task.total or 0) + total)

    def sent(self, system: str, kind: str, ok: bool) -> None:
        with self.lock:
            if ok:
                self.done[(system, kind)] += 1
            if self.push is not None:
                self.bars.advance(self.push)
                self.bars.update(self.push, description=f"pushing ({kind} in {system})")

    def finished(self) -> None:
        with self.lock:
            self.bars.stop()

    def _listing(self, system: str) -> TaskID:
        if system not in self.listing:  # the total is unknown until the listing ends
            self.listing[system] = self.bars.add_task(f"listing {system}", total=None)
        return self.listing[system]

    def landed(self) -> str:
        """What landed so far, like "crm: 3 create, 1 update"."""
        by_system: dict[str, list[str]] = {}
        for (system, kind), n in sorted(self.done.items()):
            by_system.setdefault(system, []).append(f"{n} {kind}")
        return "; ".join(f"{s}: {', '.join(parts)}" for s, parts in by_system.items()) or "none"
