"""The command line: the parser, and the one place where errors become exit statuses.

The commands themselves are in sync/commands.py. Global options (--config, -v, -q,
--log-format) are accepted before or after the subcommand: every parser is a `_Parser`, which
carries them (the subcommands' copies default to "not given", so they never undo a value
given earlier).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from sync import commands

EXIT_STATUSES = """\
exit status:
  0    everything went through
  1    some records failed, deletions were held, a system could not be listed;
       status: the last run of a system failed; check --connect: a system failed
  2    usage or configuration error, the state database away or unusable, a port in
       use, another process holding the sync lease (or the lease lost mid-run)
  130  interrupted (Ctrl-C); what landed is kept and the next run resumes
  141  the output pipe was closed (| head): stopped quietly
"""


def _version() -> str:
    try:
        return version("contactsync")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


class _Parser(argparse.ArgumentParser):
    """Every parser of contactsync: the global options, the exit statuses in --help."""

    def __init__(self, *args: Any, top: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        kwargs.setdefault("epilog", EXIT_STATUSES)
        super().__init__(*args, **kwargs)
        # top level: real defaults; subcommands: SUPPRESS, so an option given before the
        # subcommand is kept when it is not repeated after it
        unset: Any = None if top else argparse.SUPPRESS
        group = self.add_argument_group("global options (before or after the command)")
        group.add_argument(
            "--config",
            metavar="PATH",
            default=unset,
            help="sync.toml to use (default: $CONTACTSYNC_CONFIG, else ./sync.toml)",
        )
        group.add_argument(
            "--log-format",
            choices=["text", "json"],
            default="text" if top else unset,
            help="log lines (and error lines) as text or one JSON object each",
        )
        loud = group.add_mutually_exclusive_group()
        loud.add_argument(
            "-v",
            "--verbose",
            action="store_true",
            default=False if top else unset,
            help="log at debug level",
        )
        loud.add_argument(
            "-q",
            "--quiet",
            action="store_true",
            default=False if top else unset,
            help="warnings and errors only; no progress display",
        )


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="contactsync",
        top=True,
        description="Bidirectional contact synchronisation across CRMs, service desks, "
        "portals, dialers and address books.",
    )
    p.add_argument("--version", action="version", version=f"contactsync {_version()}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.register(sub)
    # command groups of their own (fleet, ...) add themselves here with register(sub)
    return p


def _logging(args: argparse.Namespace) -> None:
    from sync.logs import setup

    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    setup(args.log_format, level)


def _error(text: str, fmt: str) -> None:
    """One error, on standard error: `error: ...` or, with --log-format json, one JSON line."""
    if fmt == "json":
        event = {"level": "error", "logger": "contactsync", "message": text}
        print(json.dumps(event), file=sys.stderr)
    else:
        print(f"error: {text}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _logging(args)
    func: Callable[[argparse.Namespace], int] = args.func
    from sqlalchemy.exc import SQLAlchemyError

    from sync.errors import LeaseLost, StoreError, UserError
    from sync.store.db import store_error

    try:
        return func(args)
    except UserError as exc:
        _error(exc.render(), args.log_format)
        return 2
    except StoreError as exc:
        _error(str(exc), args.log_format)
        return 2
    except SQLAlchemyError as exc:  # the store went away after it was opened
        url = getattr(args, "state_url", None) or "(state.url)"
        _error(str(store_error(exc, url)), args.log_format)
        return 2
    except LeaseLost as exc:  # another process took the sync over: nothing was committed
        _error(str(exc), args.log_format)
        return 2
    except BrokenPipeError:
        _quiet_stdout()
        return 141
    except KeyboardInterrupt:
        print("interrupted; what landed is kept, the next run resumes", file=sys.stderr)
        return 130


def _quiet_stdout() -> None:
    """The reader of our output went away (| head): say nothing more, not even at exit,
    where Python would complain about flushing into the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
