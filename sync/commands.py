"""What each subcommand does; sync/cli.py parses the line and turns errors into statuses.

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
from pathlib import Path
from typing import Any

from rich.console import Console

from sync.config import Settings, find_config, load_config
from sync.errors import ConfigError, Problem

# Not cut to 80 columns when the output is a file or a pipe: a script reads whole lines.
console = Console(width=None if sys.stdout.isatty() else 1000)


def _settings(args: argparse.Namespace, *, systems: bool = False) -> Settings:
    """The configuration; `systems`: a command that syncs refuses one with no system."""
    path = find_config(args.config)
    settings = load_config(path)
    if systems and not settings.systems:
        raise ConfigError(
            [Problem(str(path), "no systems to sync: add a [systems.NAME] table")],
            title=f"{path}: nothing to do (`contactsync init` writes a sync.toml to start from):",
        )
    return settings


def _store(settings: Settings, args: argparse.Namespace) -> Any:
    from sync.store.repo import Store

    args.state_url = settings.state_connect_url  # for a database error after this (cli)
    return Store(settings.state_connect_url)


def _quiet(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "quiet", False))


def cmd_check(args: argparse.Namespace) -> int:
    settings = _settings(args, systems=True)
    names = ", ".join(f"{n} ({s.connector})" for n, s in settings.systems.items())
    console.print(f"{find_config(args.config)}: OK; systems: {names}")
    if not args.connect:
        return 0
    from sync import probe

    return probe.main(settings, console)


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
                **_progress_kw(Engine, progress),
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


def _progress_kw(engine: Any, progress: Any) -> dict[str, Any]:
    """Engine(progress=...) once the engine takes a watcher (being wired on its branch)."""
    import inspect

    return {"progress": progress} if "progress" in inspect.signature(engine).parameters else {}


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    settings = _settings(args)
    _store(settings, args).dispose()
    console.print("database is up to date")
    return 0


def cmd_conflicts(args: argparse.Namespace) -> int:
    from sync import conflicts

    settings = _settings(args)
    store = _store(settings, args)
    try:
        if args.action == "list":
            return conflicts.list_conflicts(store, args.format, args.all, console)
        if args.action == "show":
            return conflicts.show(store, args.id, console)
        if args.action == "export":
            return conflicts.export(store, args.format, args.all, args.output)
        return conflicts.resolve(
            store, settings, args.id, args.take, args.value, args.dismiss, console
        )
    finally:
        store.dispose()


def cmd_deletions(args: argparse.Namespace) -> int:
    from sync import deletions

    settings = _settings(args)
    store = _store(settings, args)
    try:
        if args.action == "list":
            return deletions.list_held(store, args.format, console)
        return deletions.allow(store, settings, args.ids, args.system, console)
    finally:
        store.dispose()


def cmd_explain(args: argparse.Namespace) -> int:
    from sync import explain

    settings = _settings(args)
    store = _store(settings, args)
    try:
        return explain.show(store, settings, args.email, args.format, console)
    finally:
        store.dispose()


def cmd_serve(args: argparse.Namespace) -> int:
    from sync.web.app import serve

    settings = _settings(args)
    store = _store(settings, args)
    try:
        return serve(settings, store, args.listen, console)
    finally:
        store.dispose()


def cmd_status(args: argparse.Namespace) -> int:
    from sync import status

    settings = _settings(args)
    store = _store(settings, args)
    try:
        return status.show(store, settings, args.format, console)
    finally:
        store.dispose()


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


def register(sub: Any) -> None:
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
    once.set_defaults(func=cmd_once)

    check = sub.add_parser("check", help="validate sync.toml and every mapping, all at once")
    check.add_argument(
        "--connect",
        action="store_true",
        help="also open the store and every system: log in and make one cheap read each",
    )
    check.set_defaults(func=cmd_check)

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
    init.set_defaults(func=cmd_init)

    db = sub.add_parser("db", help="the state database")
    dbsub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    dbsub.add_parser("upgrade", help="apply migrations (also done on every start)").set_defaults(
        func=cmd_db_upgrade
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
        c.set_defaults(func=cmd_conflicts)

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
        c.set_defaults(func=cmd_deletions)

    ex = sub.add_parser("explain", help="why each field of a contact holds its value")
    ex.add_argument("email", help="the contact's email address")
    fmt(ex, "table", "json")
    ex.set_defaults(func=cmd_explain)

    sv = sub.add_parser("serve", help="the conflict review page (127.0.0.1:8470 by default)")
    sv.add_argument("--listen", metavar="HOST:PORT", help="default: [review] listen")
    sv.set_defaults(func=cmd_serve)

    st = sub.add_parser(
        "status", help="last runs, cursors, conflicts, held deletions (exit 1: a system failing)"
    )
    fmt(st, "table", "json")
    st.set_defaults(func=cmd_status)

    demo = sub.add_parser("demo", help="sync the five bundled vendor emulators, twice")
    demo.add_argument("--dir", default=".contactsync/demo", help="where the demo keeps its state")
    demo.add_argument("--runs", type=int, default=2, help="how many runs (default 2)")
    demo.add_argument(
        "--keep", action="store_true", help="keep the emulators up afterwards (for serve, once)"
    )
    demo.set_defaults(func=cmd_demo)

    sb = sub.add_parser("sandbox", help="serve the vendor emulators on 127.0.0.1")
    sb.add_argument("--port", type=int, default=8600, help="first port; one per vendor")
    sb.set_defaults(func=cmd_sandbox)

    sub.add_parser(
        "daemon", help="sync every [sync] interval until SIGTERM (docs/operations.md)"
    ).set_defaults(func=cmd_daemon)

    comp = sub.add_parser(
        "completion", help='print a shell completion script: eval "$(contactsync completion bash)"'
    )
    comp.add_argument("shell", choices=["bash", "zsh"], help="the shell to complete for")
    comp.set_defaults(func=cmd_completion)
