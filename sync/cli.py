"""The command line: the parser, and the one place where errors become exit statuses.

`_commands` declares every subcommand with its help; what each does is in sync/commands.py.
Global options (--config, -v, -q, --log-format) are accepted before or after the subcommand:
every parser is a `_Parser`, which carries them (the subcommands' copies default to "not
given", so they never undo a value given earlier).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
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
    from importlib.metadata import PackageNotFoundError, version  # 30 ms: only for --version

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
    p.add_argument("--version", action=_Version)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _commands(sub)
    # command groups of their own (fleet, ...) add themselves here with register(sub)
    return p


def _commands(sub: Any) -> None:
    """Every subcommand, with help for it and each of its options."""
    from sync.connectors import known_connectors

    def fmt(p: argparse.ArgumentParser, *choices: str) -> None:
        p.add_argument("--format", choices=list(choices), default=choices[0], help="output form")

    once = sub.add_parser("once", help="run one sync of every system")
    once.add_argument("--dry-run", action="store_true", help="plan and print; send nothing")
    once.add_argument(
        "--allow-mass-delete", action="store_true", help="apply deletions the guard would hold"
    )
    once.add_argument("--full-scan", action="store_true", help="list every record of every system")
    fmt(once, "table", "json")
    once.set_defaults(func=commands.cmd_once)

    check = sub.add_parser("check", help="validate sync.toml and every mapping, all at once")
    check.add_argument(
        "--connect",
        action="store_true",
        help="also open the store and every system: log in and make one cheap read each",
    )
    check.set_defaults(func=commands.cmd_check)

    init = sub.add_parser(
        "init", help="write a commented sync.toml (and its mapping files) to start from"
    )
    init.add_argument(
        "--connector",
        action="append",
        choices=known_connectors(),
        metavar="NAME",
        help=f"a system of this kind (repeatable; default csv): {', '.join(known_connectors())}",
    )
    init.set_defaults(func=commands.cmd_init)

    db = sub.add_parser("db", help="the state database")
    dbsub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    dbsub.add_parser("upgrade", help="apply migrations (also done on every start)").set_defaults(
        func=commands.cmd_db_upgrade
    )

    conf = sub.add_parser("conflicts", help="review what two systems disagree on")
    csub = conf.add_subparsers(dest="action", required=True, metavar="ACTION")
    cl = csub.add_parser("list", help="the open conflicts")
    fmt(cl, "table", "json", "csv")
    cl.add_argument("--all", action="store_true", help="include settled conflicts")
    cs = csub.add_parser("show", help="one conflict with every system's value")
    cs.add_argument("id", type=int, help="the conflict's ID (from conflicts list)")
    cr = csub.add_parser("resolve", help="settle a conflict; pushed on the next run")
    cr.add_argument("id", type=int, help="the conflict's ID (from conflicts list)")
    choice = cr.add_mutually_exclusive_group(required=True)
    choice.add_argument("--take", metavar="SYSTEM", help="keep this system's value")
    choice.add_argument("--value", help="use this value instead")
    choice.add_argument("--dismiss", action="store_true", help="keep the base value")
    ce = csub.add_parser("export", help="a self-contained report to read or mail")
    fmt(ce, "html", "csv", "json")
    ce.add_argument("--output", metavar="FILE", help="write here instead of standard output")
    ce.add_argument("--all", action="store_true", help="include settled conflicts")
    for c in (cl, cs, cr, ce):
        c.set_defaults(func=commands.cmd_conflicts)

    dl = sub.add_parser("deletions", help="deletions held by the mass-delete guard")
    dsub = dl.add_subparsers(dest="action", required=True, metavar="ACTION")
    dls = dsub.add_parser("list", help="the deletions the last run held")
    fmt(dls, "table", "json")
    dla = dsub.add_parser(
        "allow", help="allow held deletions; the next full listing of their system does them"
    )
    dla.add_argument("ids", nargs="*", type=int, metavar="ID", help="held deletions by ID")
    dla.add_argument("--system", metavar="NAME", help="every held deletion of this system")
    for c in (dls, dla):
        c.set_defaults(func=commands.cmd_deletions)

    ln = sub.add_parser("link", help="link a contact to the record a system holds unlinked")
    ln.add_argument("email", help="the contact's email address")
    ln.add_argument("system", help="the system holding the record (see status: unlinked)")
    ln.add_argument("vendor_id", metavar="VENDOR_ID", help="the record's ID in that system")
    ul = sub.add_parser(
        "unlink", help="forget a write-only system's record of a contact: created anew next run"
    )
    ul.add_argument("email", help="the contact's email address")
    ul.add_argument("system", help="the write-only system")
    for c in (ln, ul):
        c.set_defaults(func=commands.cmd_link)

    ex = sub.add_parser("explain", help="why each field of a contact holds its value")
    ex.add_argument("email", help="the contact's email address")
    fmt(ex, "table", "json")
    ex.set_defaults(func=commands.cmd_explain)

    sv = sub.add_parser("serve", help="the conflict review page (127.0.0.1:8470 by default)")
    sv.add_argument("--listen", metavar="HOST:PORT", help="default: [review] listen")
    sv.set_defaults(func=commands.cmd_serve)

    st = sub.add_parser(
        "status", help="last runs, cursors, conflicts, held deletions (exit 1: a system failing)"
    )
    fmt(st, "table", "json")
    st.set_defaults(func=commands.cmd_status)

    demo = sub.add_parser("demo", help="sync the bundled vendor emulators, twice")
    demo.add_argument("--dir", default=".contactsync/demo", help="where the demo keeps its state")
    demo.add_argument("--runs", type=int, default=2, help="how many runs (default 2)")
    demo.add_argument(
        "--keep", action="store_true", help="keep the emulators up afterwards (for serve, once)"
    )
    demo.set_defaults(func=commands.cmd_demo)

    sb = sub.add_parser("sandbox", help="serve the vendor emulators on 127.0.0.1")
    sb.add_argument("--port", type=int, default=8600, help="first port; one per vendor")
    sb.set_defaults(func=commands.cmd_sandbox)

    sub.add_parser(
        "daemon", help="sync every [sync] interval until SIGTERM (docs/operations.md)"
    ).set_defaults(func=commands.cmd_daemon)

    comp = sub.add_parser(
        "completion", help='print a shell completion script: eval "$(contactsync completion bash)"'
    )
    comp.add_argument("shell", choices=["bash", "zsh"], help="the shell to complete for")
    comp.set_defaults(func=commands.cmd_completion)

    from sync.fleet.cli import register as register_fleet  # argparse only; the fleet loads lazily

    register_fleet(sub)


def _logging(args: argparse.Namespace) -> None:
    from sync.logs import setup

    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    setup(args.log_format, level)


class _Version(argparse.Action):
    """--version, read from the package's metadata only when asked (importing
    importlib.metadata is 30 ms of every start-up)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **_: Any) -> None:
        super().__init__(option_strings, argparse.SUPPRESS, nargs=0, help="show the version")

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        print(f"contactsync {_version()}")
        parser.exit()


def _error(text: str, fmt: str) -> None:
    """One error, on standard error: `error: ...` or, with --log-format json, one JSON line."""
    if fmt == "json":
        event = {"level": "error", "logger": "contactsync", "message": text}
        print(json.dumps(event), file=sys.stderr)
    else:
        print(f"error: {text}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    # a run decodes pages of a thousand records that live a moment; at the default first
    # threshold (700) the collector walks each page's objects again and again, a fifth of
    # a full scan's CPU
    gc.set_threshold(50_000, 20, 100)
    parser = build_parser()
    args = parser.parse_args(argv)
    _logging(args)
    func: Callable[[argparse.Namespace], int] = args.func
    from sync.masking import masked_output

    with masked_output():  # no configured secret is printed, whatever quotes it
        return _run(func, args)


def _run(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """The command; its errors as statuses, each said once."""
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
