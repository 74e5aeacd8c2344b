"""`python -m bench.fleet`: C configurations of N contacts on 1, 2 and 4 fleet workers.

python -m bench.fleet                          # 200 configurations of 1,000 contacts
python -m bench.fleet --configs 20 --contacts 200 --workers 1,2

Each configuration is two CSV files (b.csv holding everyone already: the state after an
initial sync) in its own schema of one PostgreSQL database; the queue is another database.
The configurations' interval is an hour, so nothing runs by itself: a cycle is every
configuration made due at one moment (its schedule row set to now), and it ends when each has
finished a run after that moment. First a cycle links everyone (the first run of each store);
then, per worker count, 1% of each configuration's contacts are edited and one incremental
cycle is measured: configurations synced per minute, the workers' CPU per job, and per job
where its time went (waiting in the queue, the engine's run, the worker's own part around it).
Results: bench/results/fleet-C-N.json; the table in bench/README.md is written by hand from it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.measure import machine
from tests import pgcluster
from tests.fleet_world import FleetWorld, build

RESULTS = Path(__file__).resolve().parent / "results"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """user + sys of a process so far (/proc/PID/stat), 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def edit(world: FleetWorld, fraction: float, round_: int) -> int:
    """Give `fraction` of each configuration's contacts in a.csv a new first name."""
    edited = 0
    for name in world.people:
        path = world.folder(name) / "a.csv"
        lines = path.read_text().splitlines()
        step = max(1, round(1 / fraction))
        for k in range(1, len(lines), step):
            cells = lines[k].split(",")
            cells[2] = f"Edited{round_}x{k}"
            lines[k] = ",".join(cells)
            edited += 1
        path.write_text("\n".join(lines) + "\n")
    return edited


def cycle(world: FleetWorld, queue: sa.Engine, timeout: float) -> dict[str, Any]:
    """Make every configuration due now; wait until each has finished a run since."""
    with queue.begin() as c:
        mark = c.execute(sa.text("SELECT now()")).scalar()
        c.execute(sa.text("UPDATE contactsync_fleet_schedule SET next_at = now()"))
    cpu = {p.pid: cpu_seconds(p.pid) for p in world.workers}
    started = time.monotonic()
    count = len(world.people)
    deadline = started + timeout
    while True:
        with queue.connect() as c:
            done = c.execute(
                sa.text("SELECT count(*) FROM contactsync_fleet_schedule WHERE finished_at > :m"),
                {"m": mark},
            ).scalar()
        if done == count:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {done} of {count} configurations finished in {timeout}s")
        time.sleep(0.05)
    wall = time.monotonic() - started
    used = sum(cpu_seconds(pid) - before for pid, before in cpu.items())
    with queue.connect() as c:
        jobs = c.execute(
            sa.text("""
                SELECT j.args->>'config' AS config,
                       EXTRACT(EPOCH FROM s.at - d.at)::float8 AS waited,
                       EXTRACT(EPOCH FROM f.at - s.at)::float8 AS took
                  FROM procrastinate_jobs j
                  JOIN procrastinate_events d ON d.job_id = j.id AND d.type = 'deferred'
                  JOIN procrastinate_events s ON s.job_id = j.id AND s.type = 'started'
                  JOIN procrastinate_events f ON f.job_id = j.id AND f.type = 'succeeded'
                 WHERE j.task_name = 'contactsync.sync' AND d.at >= :m
            """),
            {"m": mark},
        ).all()
    runs = run_seconds(world, mark)
    took = [j.took for j in jobs]
    engine_s = list(runs.values())
    # the worker's own part of a job: the store opened, the lease taken and given back, the
    # schedule row written, the thread started; the engine's run subtracted, per job
    part = [(j.took - runs[j.config]) * 1000 for j in jobs if j.config in runs]
    return {
        "wall_s": wall,
        "configs_per_minute": count / wall * 60,
        "worker_cpu_s": used,
        "worker_cpu_per_job_ms": used / max(1, len(jobs)) * 1000,
        "jobs": len(jobs),
        "queue_wait_median_s": statistics.median(j.waited for j in jobs) if jobs else None,
        "job_median_s": statistics.median(took) if took else None,
        "engine_run_median_s": statistics.median(engine_s) if engine_s else None,
        "worker_part_median_ms": statistics.median(part) if part else None,
    }


def run_seconds(world: FleetWorld, mark: Any) -> dict[str, float]:
    """The engine's own time of each configuration's run since `mark` (its store's runs)."""
    out: dict[str, float] = {}
    engine = sa.create_engine(world.store_url)
    try:
        with engine.connect() as c:
            for name in world.people:
                schema = name.replace("-", "_")
                row = c.execute(
                    sa.text(
                        f"SELECT EXTRACT(EPOCH FROM finished_at - started_at)::float8 "
                        f'FROM "{schema}".runs WHERE started_at >= :m ORDER BY id DESC LIMIT 1'
                    ),
                    {"m": mark},
                ).scalar()
                if row is not None:
                    out[name] = float(row)
    finally:
        engine.dispose()
    return out


def start(world: FleetWorld, count: int) -> None:
    """Start workers and wait until each is taking jobs (its imports and schema check are
    not part of a cycle)."""
    first = len(world.workers)
    for _ in range(count):
        world.start_worker(len(world.workers))
    deadline = time.monotonic() + 120
    ready = f": {len(world.people)} configuration(s), "
    for i in range(first, first + count):
        while ready not in world.log(i):
            if time.monotonic() > deadline or world.workers[i].poll() is not None:
                raise RuntimeError(f"worker {i} did not start:\n{world.log(i)}")
            time.sleep(0.1)


def stop_workers(world: FleetWorld) -> None:
    for proc in world.workers:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in world.workers:
        proc.wait(timeout=120)
    world.workers.clear()


def wait_enrolled(world: FleetWorld, queue: sa.Engine) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with queue.connect() as c:
                n = c.execute(sa.text("SELECT count(*) FROM contactsync_fleet_schedule")).scalar()
            if n == len(world.people):
                return
        except sa.exc.ProgrammingError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the workers did not enrol the configurations")


def overhead(world: FleetWorld, config: str, repeat: int) -> dict[str, float]:
    """CPU of one configuration's run in this process, twice: as a worker runs it
    (runner.run_member: the configuration read again, its store opened, the lease, the engine)
    and the engine's run alone on a store kept open: the difference is the worker's own part,
    free of the other processes' noise that the cycles' wall times carry."""
    import asyncio
    import threading

    from sync.engine import Engine
    from sync.fleet.runner import run_member
    from sync.fleet.settings import load_fleet
    from sync.store.repo import Store

    os.environ.update(world.env)
    fleet = load_fleet(world.fleet)
    stop = threading.Event()
    run_member(fleet, config, "bench:1:x", stop)  # the schema made, the modules loaded
    started = time.process_time()
    for _ in range(repeat):
        run_member(fleet, config, "bench:1:x", stop)
    member_ms = (time.process_time() - started) / repeat * 1000
    settings = fleet.members[config].settings
    store = Store(settings.state_url)
    try:
        started = time.process_time()
        for _ in range(repeat):
            asyncio.run(Engine(settings, store).run())
        engine_ms = (time.process_time() - started) / repeat * 1000
    finally:
        store.dispose()
    return {
        "run_member_cpu_ms": member_ms,
        "engine_cpu_ms": engine_ms,
        "worker_part_cpu_ms": member_ms - engine_ms,
    }


def table(result: dict[str, Any]) -> str:
    """The result as the Markdown rows of bench/README.md's fleet table."""
    lines = [
        "| workers | configurations / min | wall s | worker CPU per job ms | queue wait median s "
        "| job median s | engine run median s | worker part median ms | load (1 min) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in result["cycles"]:
        lines.append(
            f"| {c['workers']} | {c['configs_per_minute']:.0f} | {c['wall_s']:.1f} | "
            f"{c['worker_cpu_per_job_ms']:.0f} | {c['queue_wait_median_s']:.2f} | "
            f"{c['job_median_s']:.2f} | {c['engine_run_median_s']:.2f} | "
            f"{c['worker_part_median_ms']:.0f} | {c['load'][0]:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fleet", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--configs", type=int, default=200)
    parser.add_argument("--contacts", type=int, default=1000)
    parser.add_argument("--workers", default="1,2,4", help="worker counts, comma-separated")
    parser.add_argument("--concurrency", type=int, default=4, help="runs at once per worker")
    parser.add_argument("--edit", type=float, default=0.01, help="fraction edited per cycle")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--repeat", type=int, default=20, help="in-process runs of one")
    parser.add_argument("--pg-url", help="a PostgreSQL server URL (else a throwaway cluster)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--table", type=Path, metavar="JSON", help="print a result's table")
    args = parser.parse_args(argv)
    if args.table:
        print(table(json.loads(args.table.read_text())))
        return 0
    result: dict[str, Any] = {
        "configs": args.configs,
        "contacts": args.contacts,
        "concurrency": args.concurrency,
        "edit_fraction": args.edit,
        "load_before": os.getloadavg(),
        "cycles": [],
    }
    server_cm = contextlib.nullcontext(args.pg_url) if args.pg_url else pgcluster.cluster()
    tmp_cm = tempfile.TemporaryDirectory(prefix="contactsync-fleet-bench-")
    with tmp_cm as tmp, server_cm as server:
        world = build(
            Path(tmp),
            pgcluster.fresh_database(server),
            pgcluster.fresh_database(server),
            configs=args.configs,
            people=args.contacts,
            interval="1h",
            worker={
                "concurrency": args.concurrency,
                "heartbeat": "10s",
                "stalled_after": "30s",
            },
            synced=True,
        )
        queue = sa.create_engine(world.queue_url)
        try:
            start(world, 1)
            wait_enrolled(world, queue)
            print(f"first cycle: {args.configs} configurations linked", flush=True)
            result["first"] = cycle(world, queue, args.timeout)
            stop_workers(world)
            result["in_process"] = overhead(world, "org00", args.repeat)
            print(json.dumps(result["in_process"]), flush=True)
            for round_, count in enumerate(int(w) for w in args.workers.split(",")):
                edited = edit(world, args.edit, round_)
                start(world, count)
                print(f"{count} worker(s): {edited} edits", flush=True)
                measured = cycle(world, queue, args.timeout)
                measured.update(workers=count, edits=edited, load=os.getloadavg())
                result["cycles"].append(measured)
                print(json.dumps(measured), flush=True)
                stop_workers(world)
        finally:
            world.stop()
            queue.dispose()
    result["machine"] = machine()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"fleet-{args.configs}-{args.contacts}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"written {path}")
    print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
