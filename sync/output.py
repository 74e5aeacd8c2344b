"""The console the commands print their results to.

rich's Console answers a closed pipe (`contactsync status | head`) with SystemExit(1), which
would read as "some records failed"; this one raises BrokenPipeError instead, which the CLI
turns into its quiet exit 141.
"""

from __future__ import annotations

from rich.console import Console


class Output(Console):
    def on_broken_pipe(self) -> None:
        self.quiet = True  # nothing more is written into the closed pipe
        raise BrokenPipeError
