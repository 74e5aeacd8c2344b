"""What each subcommand does; sync/cli.py declares them, parses the line and turns errors
into statuses.

Heavy modules (the engine, the web page, the emulators) are imported inside the command that
needs them, so `contactsync --help` and completion stay fast.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console

from sync.config import Settings, find_config, load_config, system_notes
from sync.errors import ConfigError, Problem
from sync.output import Output

# Not cut to 80 columns when the output is a file or a pipe: a script reads whole lines.
console = Output(width=None if sys.stdout.isatty() else 1000)


def _settings(args: argparse.Namespace, *, systems: bool = False) -> Settings:
    """The configuration; `systems`: a command that syncs refuses one with no system."""
    path = find_config(args.config)
    settings = load_config(path)
    if systems and not settings.systems:
        raise ConfigError(
            [
                Problem(
                    str(path),
                    "no systems to sync: add a [systems.NAME] table (or enable one: "
                    "every system present has enabled = false)",
                )
            ],
            title=f"{path}: nothing to do (`contactsync init` writes a sync.toml to start from):",
        )
    return settings


def _store(settings: Settings, args: argparse.Namespace) -> Any:
    from sync.store.repo import Store

    args.state_url = settings.state_connect_url  # for a database error after this (cli)
    return Store(settings.state_connect_url)


@contextmanager
def _opened(args: argparse.Namespace) -> Iterator[tuple[Settings, Any]]:
    """The configuration and its store, disposed of when the command is done."""
    settings = _settings(args)
    store = _store(settings, args)
    try:
        yield settings, store
    finally:
        store.dispose()


def _quiet(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "quiet", False))


def cmd_check(args: argparse.Namespace) -> int:
    settings = _settings(args, systems=True)
    names = ", ".join(f"{n} ({s.connector})" for n, s in settings.systems.items())
    console.print(f"{find_config(args.config)}: OK; systems: {names}")
    notes, problems = system_notes(settings)
    for note in notes:
        console.print(f"note: {note}", soft_wrap=True, markup=False)
    for problem in problems:  # data, not configuration: that system fails, the others run
        console.print(f"problem: {problem}", soft_wrap=True, markup=False)
    status = 1 if problems else 0
    if not args.connect:
        return status
    from sync import probe

    return max(status, probe.main(settings, console))


def cmd_once(args: argparse.Namespace) -> int:
    from sync.engine import Engine
    from sync.lease import LeaseKeeper, default_holder
    from sync.report import print_run
    from sync.terminal import TerminalProgress

    settings = _settings(args, systems=True)
    store = _store(settings, args)
    keeper = LeaseKeeper(store, default_holder(settings.daemon.name), settings.lease_ttl)
    show = sys.stderr.isatty() and not _quiet(args) and args.format != "json"
    progress = TerminalProgress(Console(stderr=True), enabled=show)
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, _stopper(stop))
    try:
        with keeper.kept(), progress:  # never beside a daemon or another `once`
            engine = Engine(
                settings,
                store,
                holder=keeper.holder,
                fence=keeper.fence,
                stop=stop,
                progress=progress,
            )
            report = asyncio.run(
                engine.run(
                    dry_run=args.dry_run,
                    allow_mass_delete=args.allow_mass_delete,
                    full_scan=args.full_scan,
                )
            )
    finally:
        signal.signal(signal.SIGINT, previous)
        store.dispose()
    if args.format == "json":
        print(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        print_run(report, console)
    if stop.is_set():
        print(
            f"stopped by Ctrl-C: {report.writes} write(s) landed and were committed "
            f"({progress.landed()}); the next run resumes and sends the rest",
            file=sys.stderr,
        )
        return 130
    return report.exit_code


def _stopper(stop: threading.Event) -> Any:
    """First Ctrl-C: let the requests in flight land and commit them (as SIGTERM does for
    the daemon); a second one interrupts at once (the journal recovers it next run)."""

    def handler(_signum: int, _frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print(
            "\nstopping: finishing the requests in flight (Ctrl-C again to quit now)",
            file=sys.stderr,
        )

    return handler


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    settings = _settings(args)
    _store(settings, args).dispose()
    console.print("database is up to date")
    return 0


def cmd_conflicts(args: argparse.Namespace) -> int:
    from sync import conflicts

    with _opened(args) as (settings, store):
        if args.action == "list":
            return conflicts.list_conflicts(store, args.format, args.all, console)
        if args.action == "show":
            return conflicts.show(store, args.id, console)
        if args.action == "export":
            return conflicts.export(store, args.format, args.all, args.output)
        return conflicts.resolve(
            store, settings, args.id, args.take, args.value, args.dismiss, console
        )


def cmd_deletions(args: argparse.Namespace) -> int:
    from sync import deletions

    with _opened(args) as (settings, store):
        if args.action == "list":
            return deletions.list_held(store, args.format, console)
        return deletions.allow(store, settings, args.ids, args.system, console)


def cmd_link(args: argparse.Namespace) -> int:
    """`link` and `unlink` (sync/linking.py): a record a person found for a contact."""
    from sync import linking

    with _opened(args) as (settings, store):
        if args.command == "link":
            return linking.link(settings, store, args.email, args.system, args.vendor_id, console)
        return linking.unlink(settings, store, args.email, args.system, console)


def cmd_explain(args: argparse.Namespace) -> int:
    from sync import explain

    with _opened(args) as (settings, store):
        return explain.show(store, settings, args.email, args.format, console)


def cmd_serve(args: argparse.Namespace) -> int:
    from sync.web.app import serve

    with _opened(args) as (settings, store):
        return serve(settings, store, args.listen, console)


def cmd_status(args: argparse.Namespace) -> int:
    from sync import status

    with _opened(args) as (settings, store):
        return status.show(store, settings, args.format, console)


def cmd_demo(args: argparse.Namespace) -> int:
    from sync import demo

    return demo.main(Path(args.dir), runs=args.runs, console=console, keep=args.keep)


def cmd_sandbox(args: argparse.Namespace) -> int:
    from sync.sandbox import serve

    return serve.main(args.port, console)


def cmd_daemon(args: argparse.Namespace) -> int:
    from sync import daemon

    return daemon.main(_settings(args, systems=True), console)


def cmd_init(args: argparse.Namespace) -> int:
    from sync import init

    target = find_config(args.config)
    return init.main(target, args.connector or ["csv"], console)


def cmd_completion(args: argparse.Namespace) -> int:
    import shtab

    from sync.cli import build_parser

    print(shtab.complete(build_parser(), shell=args.shell))
    return 0
