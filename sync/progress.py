"""What a run tells whoever watches it: listing pages as they arrive, the plan's size, each
write as it lands. The base class is silent; the terminal's progress display (cli) is one
implementation. Calls must be cheap and never raise: a run does not wait for its watcher."""

from __future__ import annotations

from collections.abc import Mapping


class Progress:
    def page(self, system: str, records: int) -> None:
        """A listing page of `system` arrived; `records` listed so far in this listing."""

    def listed(self, system: str, records: int, complete: bool) -> None:
        """The listing of `system` is over."""

    def planned(self, counts: Mapping[tuple[str, str], int]) -> None:
        """A part of the plan is journalled: more actions to send, by (system, kind). A run
        journals its plan in parts while it decides (the counts of all calls add up)."""

    def sent(self, system: str, kind: str, ok: bool) -> None:
        """One action's answer landed (ok False: failed, unknown or not sent)."""

    def finished(self) -> None:
        """The run committed (or stopped)."""


SILENT = Progress()
