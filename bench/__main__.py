"""`python -m bench`: run the benchmarks, write bench/results/*.json and bench/README.md.

python -m bench                         # the default suite (see --help); hours at 100k
python -m bench --sizes 1000 --modes inprocess --dbs sqlite
python -m bench --peer                  # contactsync against vdirsyncer on 10,000 people
python -m bench --table                 # only rewrite the README table from the results
python -m bench --dav                   # address books beside vdirsyncer: vdir 10,000, Radicale
                                        # 1,000 and 5,000 (see bench/dav.py)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from bench import readme
from bench.measure import machine
from bench.scenario import Options, run

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000", help="people, comma-separated")
    parser.add_argument(
        "--modes",
        default="inprocess,loopback",
        help="inprocess,loopback,remote (remote: the emulators in a child process, each step a "
        "fresh `contactsync once` process measured from outside)",
    )
    parser.add_argument("--remote", action="store_true", help="the same as --modes remote")
    parser.add_argument("--dbs", default="sqlite,postgres", help="sqlite,postgres")
    parser.add_argument("--latency", type=float, default=0.02, help="loopback latency, seconds")
    parser.add_argument("--concurrency", type=int, default=8, help="requests per system")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pg-url", help="a PostgreSQL server URL (else a throwaway cluster)")
    parser.add_argument("--profile", action="store_true", help="pyinstrument every step")
    parser.add_argument("--peer", action="store_true", help="also run the vdirsyncer comparison")
    parser.add_argument("--peer-only", action="store_true", help="only the vdirsyncer comparison")
    parser.add_argument("--peer-n", type=int, default=10_000)
    parser.add_argument(
        "--dav",
        nargs="?",
        const="vdir:10000,radicale:1000,radicale:5000",
        help="address books beside vdirsyncer, as kind:N pairs (vdir, radicale); only these run",
    )
    parser.add_argument(
        "--synced",
        action="store_true",
        help="seed everyone into every system (the state after an initial sync, fast at 100k)",
    )
    parser.add_argument(
        "--seed-store",
        action="store_true",
        help="--synced, and the store written directly as the initial sync would leave it "
        "(bench/seedstore.py): the initial step is then a first trusted full listing",
    )
    parser.add_argument(
        "--code",
        type=Path,
        help="remote mode: run each step with the sync package of this checkout (e.g. `git "
        "archive` of another commit unpacked), for an A/B with the same harness",
    )
    parser.add_argument("--steps", help="comma-separated subset of the steps, in order")
    parser.add_argument("--table", action="store_true", help="only rewrite the README table")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.remote:
        args.modes = "remote"
    args.out.mkdir(parents=True, exist_ok=True)
    if args.dav:
        from bench import dav

        for item in args.dav.split(","):
            kind, _, n = item.partition(":")
            print(f"dav {kind} N={n}", flush=True)
            result = {"vdir": dav.vdir, "radicale": dav.radicale}[kind](int(n))
            result["machine"] = machine()
            result["load"] = Path("/proc/loadavg").read_text().split()[:3]
            result["commit"] = _commit()
            (args.out / f"dav-{kind}-{n}.json").write_text(json.dumps(result, indent=1) + "\n")
        if args.out == RESULTS:  # the README's table is rewritten from bench/results only
            readme.update(args.out)
        return 0
    if not args.table and not args.peer_only:
        dbs = args.dbs.split(",")
        with _postgres(args.pg_url, "postgres" in dbs) as pg_url:
            for n in (int(x) for x in args.sizes.split(",")):
                for mode in args.modes.split(","):
                    for db in dbs:
                        options = Options(
                            n=n,
                            mode=mode,
                            db=db,
                            latency=args.latency if mode == "loopback" else 0.0,
                            concurrency=args.concurrency,
                            seed=args.seed,
                            pg_url=pg_url,
                            profile=args.profile,
                            profile_dir=args.out / "profiles",
                            synced=args.synced,
                            seed_store=args.seed_store,
                            code=args.code,
                        )
                        if args.steps:
                            options.steps = tuple(args.steps.split(","))
                        print(f"{mode} {db} N={n}", flush=True)
                        result = run(options)
                        result["machine"] = machine()
                        result["commit"] = _commit()
                        tail = "-seeded" if args.seed_store else "-synced" if args.synced else ""
                        name = f"{mode}-{db}-{n}{tail}.json"
                        (args.out / name).write_text(json.dumps(result, indent=1) + "\n")
    if args.peer or args.peer_only:
        from bench import peer

        result = peer.compare(args.peer_n, args.seed)
        result["machine"] = machine()
        result["commit"] = _commit()
        (args.out / f"peer-{args.peer_n}.json").write_text(json.dumps(result, indent=1) + "\n")
    if args.out == RESULTS:  # the README's table is rewritten from bench/results only
        readme.update(args.out)
    return 0


def _commit() -> str:
    import subprocess

    found = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return found.stdout.strip()


@contextlib.contextmanager
def _postgres(url: str | None, wanted: bool) -> Iterator[str | None]:
    if url or not wanted:
        yield url
        return
    from tests.pgcluster import cluster

    with cluster() as started:
        yield started


if __name__ == "__main__":
    sys.exit(main())
