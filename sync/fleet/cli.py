"""The fleet's commands: `contactsync worker` and `contactsync fleet check|status`.

Only argparse is imported here; the fleet (and procrastinate with it) loads when one of these
commands runs, so that `contactsync once` never pays for it.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

FLEET_ENV = "CONTACTSYNC_FLEET"


def _fleet_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--fleet",
        metavar="FILE",
        help=f"path of fleet.toml (default: ${FLEET_ENV} or ./fleet.toml)",
    )


def _load(args: argparse.Namespace) -> Any:
    import logging

    from sync.fleet.settings import load_fleet

    if logging.getLogger().level > logging.DEBUG:
        # procrastinate logs every job and every periodic deferral at INFO: with a tick
        # every few seconds that drowns the runs' own lines (-v shows them)
        logging.getLogger("procrastinate").setLevel(logging.WARNING)

    return load_fleet(Path(args.fleet or os.environ.get(FLEET_ENV) or "fleet.toml"))


def cmd_worker(args: argparse.Namespace) -> int:
    from rich.console import Console

    from sync.fleet import worker

    fleet = _load(args)
    if args.listen:
        fleet = worker.listening(fleet, args.listen)
    return worker.main(fleet, Console())


def cmd_check(args: argparse.Namespace) -> int:
    from sync.output import Output

    fleet = _load(args)
    console = Output(soft_wrap=True)
    console.print(f"{fleet.path}: OK; {len(fleet.members)} configuration(s)")
    for name, m in sorted(fleet.members.items()):
        systems = ", ".join(f"{n} ({s.connector})" for n, s in m.settings.systems.items())
        console.print(f"  {name}: {m.path} every {m.settings.sync.interval}; {systems or '-'}")
    for name, b in sorted(fleet.budgets.items()):
        quota = f", {b.spec.daily_quota} a day" if b.spec.daily_quota else ""
        console.print(f"  budget {name}: {b.spec.rate:g}/s{quota} for {b.spec.base_url}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from sync.fleet import status
    from sync.output import Output

    return status.show(_load(args), args.format, Output())


def register(sub: Any) -> None:
    """Add the fleet's commands to contactsync's subcommands."""
    worker = sub.add_parser("worker", help="run a fleet worker (many configurations)")
    _fleet_arg(worker)
    worker.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help="/healthz and /metrics here (default: [worker] listen; one port per worker)",
    )
    worker.set_defaults(func=cmd_worker)

    fleet = sub.add_parser("fleet", help="the fleet's configurations: check, status")
    fsub = fleet.add_subparsers(dest="fleet_command", required=True)
    check = fsub.add_parser("check", help="validate fleet.toml and every configuration in it")
    _fleet_arg(check)
    check.set_defaults(func=cmd_check)
    st = fsub.add_parser("status", help="each configuration's last and next run, and budgets")
    _fleet_arg(st)
    st.add_argument(
        "--format", choices=["table", "json"], default="table", help="table (default) or json"
    )
    st.set_defaults(func=cmd_status)
