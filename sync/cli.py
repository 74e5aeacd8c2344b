"""The command line: once, daemon, conflicts, explain, serve, status, check, demo, sandbox, db,
worker and fleet (sync/fleet/cli.py).

Exit status: 0 all went through; 1 some records failed or deletions were held; 2 a usage or
configuration error (printed as a list of problems, never a traceback).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from sync.config import Settings, find_config, load_config
from sync.errors import LeaseLost, UserError

console = Console()


def _settings(args: argparse.Namespace) -> Settings:
    return load_config(find_config(args.config))


def _store(settings: Settings) -> Any:
    from sync.store.repo import Store

    return Store(settings.state_url)


def cmd_check(args: argparse.Namespace) -> int:
    settings = _settings(args)
    names = ", ".join(f"{n} ({s.connector})" for n, s in settings.systems.items())
    console.print(f"{find_config(args.config)}: OK; systems: {names or 'none'}")
    return 0


def cmd_once(args: argparse.Namespace) -> int:
    from sync.engine import Engine
    from sync.lease import LeaseKeeper, default_holder
    from sync.report import print_run

    settings = _settings(args)
    store = _store(settings)
    keeper = LeaseKeeper(store, default_holder(settings.daemon.name), settings.lease_ttl)
    try:
        with keeper.kept():  # never beside a daemon or another `once` on the same store
            engine = Engine(settings, store, holder=keeper.holder, fence=keeper.fence)
            report = asyncio.run(
                engine.run(
                    dry_run=args.dry_run,
                    allow_mass_delete=args.allow_mass_delete,
                    full_scan=args.full_scan,
                )
            )
    finally:
        store.dispose()
    if args.format == "json":
        print(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        print_run(report, console)
    return report.exit_code


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    settings = _settings(args)
    _store(settings).dispose()
    console.print("database is up to date")
    return 0


def cmd_conflicts(args: argparse.Namespace) -> int:
    from sync import conflicts

    settings = _settings(args)
    store = _store(settings)
    try:
        if args.action == "list":
            return conflicts.list_conflicts(store, args.format, args.all, console)
        if args.action == "show":
            return conflicts.show(store, args.id, console)
        if args.action == "export":
            return conflicts.export(store, args.format, args.all, args.output)
        if args.action == "resolve":
            return conflicts.resolve(
                store, settings, args.id, args.take, args.value, args.dismiss, console
            )
    finally:
        store.dispose()
    return 2


def cmd_explain(args: argparse.Namespace) -> int:
    from sync import explain

    settings = _settings(args)
    store = _store(settings)
    try:
        return explain.show(store, settings, args.email, args.format, console)
    finally:
        store.dispose()


def cmd_serve(args: argparse.Namespace) -> int:
    from sync.web.app import serve

    settings = _settings(args)
    store = _store(settings)
    try:
        return serve(settings, store, args.listen, console)
    finally:
        store.dispose()


def cmd_status(args: argparse.Namespace) -> int:
    from sync import status

    settings = _settings(args)
    store = _store(settings)
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

    return daemon.main(_settings(args), console)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="contactsync", description=__doc__.splitlines()[0])
    p.add_argument(
        "--config", help="path of sync.toml (default: $CONTACTSYNC_CONFIG or ./sync.toml)"
    )
    p.add_argument("--log-format", choices=["text", "json"], default="text")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    once = sub.add_parser("once", help="run one sync of every system")
    once.add_argument("--dry-run", action="store_true", help="plan and print; send nothing")
    once.add_argument(
        "--allow-mass-delete", action="store_true", help="apply deletions the guard would hold"
    )
    once.add_argument("--full-scan", action="store_true", help="list every record of every system")
    once.add_argument("--format", choices=["table", "json"], default="table")
    once.set_defaults(func=cmd_once)

    sub.add_parser("check", help="validate sync.toml and every mapping").set_defaults(
        func=cmd_check
    )

    db = sub.add_parser("db", help="the state database")
    dbsub = db.add_subparsers(dest="db_command", required=True)
    dbsub.add_parser("upgrade", help="apply migrations").set_defaults(func=cmd_db_upgrade)

    conf = sub.add_parser("conflicts", help="review what two systems disagree on")
    csub = conf.add_subparsers(dest="action", required=True)
    cl = csub.add_parser("list")
    cl.add_argument("--format", choices=["table", "json", "csv"], default="table")
    cl.add_argument("--all", action="store_true", help="include settled conflicts")
    cs = csub.add_parser("show")
    cs.add_argument("id", type=int)
    cr = csub.add_parser("resolve")
    cr.add_argument("id", type=int)
    choice = cr.add_mutually_exclusive_group(required=True)
    choice.add_argument("--take", metavar="SYSTEM")
    choice.add_argument("--value")
    choice.add_argument("--dismiss", action="store_true", help="keep the base value")
    ce = csub.add_parser("export", help="a self-contained report to read or mail")
    ce.add_argument("--format", choices=["html", "csv", "json"], default="html")
    ce.add_argument("--output", metavar="FILE", help="write here instead of standard output")
    ce.add_argument("--all", action="store_true", help="include settled conflicts")
    for c in (cl, cs, cr, ce):
        c.set_defaults(func=cmd_conflicts)

    ex = sub.add_parser("explain", help="why each field of a contact holds its value")
    ex.add_argument("email")
    ex.add_argument("--format", choices=["table", "json"], default="table")
    ex.set_defaults(func=cmd_explain)

    sv = sub.add_parser("serve", help="the conflict review page (127.0.0.1 by default)")
    sv.add_argument("--listen", metavar="HOST:PORT", help="default: [review] listen")
    sv.set_defaults(func=cmd_serve)

    st = sub.add_parser("status", help="last runs, cursors, conflicts, held deletions")
    st.add_argument("--format", choices=["table", "json"], default="table")
    st.set_defaults(func=cmd_status)

    demo = sub.add_parser("demo", help="sync the five bundled vendor emulators")
    demo.add_argument("--dir", default=".contactsync/demo", help="where the demo keeps its state")
    demo.add_argument("--runs", type=int, default=2)
    demo.add_argument(
        "--keep", action="store_true", help="keep the emulators up afterwards (for serve, once)"
    )
    demo.set_defaults(func=cmd_demo)

    sb = sub.add_parser("sandbox", help="serve the vendor emulators on 127.0.0.1")
    sb.add_argument("--port", type=int, default=8600, help="first port; one per vendor")
    sb.set_defaults(func=cmd_sandbox)

    sub.add_parser("daemon", help="sync on a schedule until stopped").set_defaults(func=cmd_daemon)

    from sync.fleet.cli import register as register_fleet  # argparse only; the fleet loads lazily

    register_fleet(sub)
    return p


def _logging(fmt: str, verbose: bool) -> None:
    from sync.logs import setup

    setup(fmt, logging.DEBUG if verbose else logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _logging(args.log_format, args.verbose)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except UserError as exc:
        print(f"error: {exc.render()}", file=sys.stderr)
        return 2
    except LeaseLost as exc:  # another process took the sync over: nothing was committed
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
