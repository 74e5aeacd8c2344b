"""One benchmark configuration: a world, a store, and the steps run against them in order.

Steps: initial sync; echo (the first incremental run reads back what the initial sync wrote:
a vendor cannot tell our writes from anyone's); no-op; 1% of contacts changed in one
system; 1% deleted in another (an incremental listing cannot see deletions, so nothing
happens); a full scan that finds the deletions; a full-scan no-op.

Each step records wall and CPU time, peak RSS, the requests each system answered (by verb
and by kind: list, get, auth, write) and the minimum the step needed: the list pages (a
listing must return every record changed since the last one, plus the record at its
boundary, which both connectors reread), one write per needed change (neither vendor has a
batch call) and, for ServiceOps, one token per run.
"""

from __future__ import annotations

import asyncio
import math
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.measure import measured
from bench.world import PAGE_SIZE, SYSTEMS, World
from sync.config import load_config
from sync.demo import toml_value
from sync.engine import Engine
from sync.store.repo import Store

CHANGED_IN, DELETED_IN = "crm", "portal"


@dataclass
class Options:
    n: int
    mode: str = "inprocess"  # inprocess | loopback | remote (a fresh process per step)
    db: str = "sqlite"  # sqlite | postgres
    latency: float = 0.0
    concurrency: int = 8
    seed: int = 1
    pg_url: str | None = None
    profile: bool = False
    profile_dir: Path | None = None
    synced: bool = False  # seed everyone into every system: the initial sync only links
    seed_store: bool = False  # synced, and the store written as that initial sync leaves it
    code: Path | None = None  # remote: run the steps with the sync package of this checkout
    steps: tuple[str, ...] = (
        "initial",
        "echo",
        "noop",
        "change",
        "delete",
        "full_scan",
        "full_noop",
    )


@dataclass
class Step:
    step: str
    wall_s: float
    cpu_s: float
    rss_before_mb: float
    rss_peak_mb: float
    requests: dict[str, dict[str, dict[str, int]]]
    minimum: dict[str, dict[str, int]]
    minimal: bool
    outcome: dict[str, Any]
    ideal_s: float | None = None
    profile: list[dict[str, Any]] = field(default_factory=list)


def pages(records: int) -> int:
    return max(1, math.ceil(records / PAGE_SIZE))


def config_text(state_url: str, tables: dict[str, dict[str, Any]], concurrency: int) -> str:
    lines = [f"[state]\nurl = {toml_value(state_url)}\n"]
    for name, table in tables.items():
        lines.append(f"[systems.{name}]")
        nested = {k: v for k, v in table.items() if isinstance(v, dict)}
        lines += [f"{k} = {toml_value(v)}" for k, v in table.items() if k not in nested]
        lines.append(f"concurrency = {concurrency}")
        for key, sub in nested.items():
            lines.append(f"[systems.{name}.{key}]")
            lines += [f"{k} = {toml_value(v)}" for k, v in sub.items()]
        lines.append("")
    return "\n".join(lines)


def run(options: Options, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Every step of one configuration; the results as a JSON-ready dict."""
    repo = Path(__file__).resolve().parent.parent
    _pending.clear()
    folder = Path(tempfile.mkdtemp(prefix="contactsync-bench-"))
    if options.mode in ("loopback", "remote"):
        from bench.remote import RemoteWorld

        world: Any = RemoteWorld(options.latency)
    else:
        world = World(latency=options.latency)
    try:
        state_url = f"sqlite:///{folder / 'state.db'}"
        if options.db == "postgres":
            assert options.pg_url, "postgres needs a server URL"
            from tests.pgcluster import fresh_database

            state_url = fresh_database(options.pg_url)
        tables = {}
        for name in SYSTEMS:
            table = world.table(name, "http://sandbox.invalid")
            table["mapping"] = str(repo / table["mapping"])
            tables[name] = table
        path = folder / "sync.toml"
        path.write_text(config_text(state_url, tables, options.concurrency))
        settings = load_config(path, env=world.env())
        transports = None
        if options.mode == "inprocess":
            transports = {n: e.transport() for n, e in world.emulators.items()}
        store = Store(settings.state_url)
        creates = world.seed(options.n, options.seed, options.synced or options.seed_store)
        if options.seed_store:
            from bench.seedstore import seed

            with measured() as sample:
                counts = seed(settings, store, transports)
            log(f"  seeded the store: {counts} in {sample.wall_s:.1f} s")
        context = (path, world.env())
        steps = [
            _step(name, options, world, settings, store, transports, creates, log, context)
            for name in options.steps
        ]
        store.dispose()
    finally:
        if options.mode == "loopback":
            world.close()
        shutil.rmtree(folder, ignore_errors=True)  # the state database of this configuration
    return {
        "n": options.n,
        "mode": options.mode,
        "db": options.db,
        "latency_s": options.latency,
        "concurrency": options.concurrency,
        "page_size": PAGE_SIZE,
        "synced": options.synced or options.seed_store,
        "seeded_store": options.seed_store,
        "systems": SYSTEMS,
        "steps": [asdict(s) for s in steps],
    }


# what the previous steps left for the next incremental listing of each system
_pending: dict[str, int] = {}


def _step(
    name: str,
    options: Options,
    world: Any,
    settings: Any,
    store: Store,
    transports: Any,
    creates: dict[str, int],
    log: Callable[[str], None],
    context: tuple[Path, dict[str, str]],
) -> Step:
    n = options.n
    one_percent = max(1, n // 100)
    sizes = {s: world.size(s) for s in SYSTEMS}
    writes = dict.fromkeys(SYSTEMS, 0)
    full = name in ("initial", "full_scan", "full_noop")
    if name == "initial":
        _pending.clear()
        writes = dict(creates)
    elif name == "change":
        _pending[CHANGED_IN] = _pending.get(CHANGED_IN, 0) + world.edit(CHANGED_IN, one_percent)
        writes = {s: (0 if s == CHANGED_IN else one_percent) for s in SYSTEMS}
    elif name == "delete":
        world.remove(DELETED_IN, one_percent)
        sizes[DELETED_IN] -= one_percent
    elif name == "full_scan":
        # the deleted people are deleted everywhere else
        writes = {s: (0 if s == DELETED_IN else _deleted_total(options)) for s in SYSTEMS}
    minimum = {}
    for s in SYSTEMS:
        listed = sizes[s] if full else _pending.get(s, 0) + 1
        minimum[s] = {"list": pages(listed), "get": 0, "write": writes[s]}
        minimum[s]["auth"] = 1 if SYSTEMS[s] == "serviceops" else 0
    world.take_counts()
    full_scan = name in ("full_scan", "full_noop")
    label = f"{options.mode}-{options.db}-{options.n}-{name}"
    if options.mode == "remote":
        from bench.fresh import profile_text, run_once

        where = None
        if options.profile and options.profile_dir:
            where = options.profile_dir / f"{label}.txt"
            where.parent.mkdir(parents=True, exist_ok=True)
        sample, report_dict = run_once(
            context[0], context[1], full_scan=full_scan, profile=where, code=options.code
        )
        systems = report_dict.get("systems", {})
        outcome = {
            s: {k: (len(v) if k == "failed" else v) for k, v in r.items() if k in _OUTCOME}
            for s, r in systems.items()
        }
        top: list[dict[str, Any]] = []
        if where is not None:
            text, session = profile_text(where)
            where.write_text(text)
            top = _top_costs(session, sample.wall_s)
    else:
        sample, outcome, top = _in_process(options, settings, store, transports, full_scan, label)
    counts = world.take_counts()
    requests = {s: {"by_verb": c.by_verb, "by_kind": c.by_kind} for s, c in counts.items()}
    minimal = all(
        counts[s].by_kind.get(kind, 0) == minimum[s][kind] for s in SYSTEMS for kind in minimum[s]
    )
    # the next incremental listing rereads what this run wrote
    for s in SYSTEMS:
        _pending[s] = counts[s].by_kind.get("write", 0) - counts[s].by_verb.get("DELETE", 0)
    ideal = None
    if options.latency:
        ideal = max(
            (m["list"] + m["auth"]) * options.latency
            + m["write"] * options.latency / options.concurrency
            for m in minimum.values()
        )
    step = Step(
        name,
        round(sample.wall_s, 3),
        round(sample.cpu_s, 3),
        round(sample.rss_before_mb, 1),
        round(sample.rss_peak_mb, 1),
        requests,
        minimum,
        minimal,
        outcome,
        None if ideal is None else round(ideal, 3),
        top,
    )
    log(
        f"  {name:10} {step.wall_s:8.2f} s wall {step.cpu_s:8.2f} s cpu "
        f"{step.rss_peak_mb:7.0f} MB peak  requests "
        + ("= minimum" if minimal else f"!= minimum {minimum} vs {requests}")
    )
    return step


_OUTCOME = ("read", "created", "updated", "deleted", "failed", "listing")


def _in_process(
    options: Options, settings: Any, store: Store, transports: Any, full_scan: bool, label: str
) -> tuple[Any, dict[str, Any], list[dict[str, Any]]]:
    """One run in this process (inprocess, loopback): its figures, outcome, top costs."""
    profiler = None
    if options.profile:
        from pyinstrument import Profiler

        profiler = Profiler(async_mode="disabled", interval=0.002)
    engine = Engine(settings, store, transports=transports)
    with measured() as sample:
        if profiler:
            profiler.start()
        report = asyncio.run(engine.run(full_scan=full_scan))
        if profiler:
            profiler.stop()
    top: list[dict[str, Any]] = []
    if profiler:
        if options.profile_dir:
            options.profile_dir.mkdir(parents=True, exist_ok=True)
            text = profiler.output_text(unicode=False, color=False, show_all=False)
            (options.profile_dir / f"{label}.txt").write_text(text)
        top = _top_costs(profiler.last_session, sample.wall_s)
    outcome = {
        s: {
            "read": r.read,
            "created": r.created,
            "updated": r.updated,
            "deleted": r.deleted,
            "failed": len(r.failed),
            "listing": r.listing,
        }
        for s, r in report.systems.items()
    }
    return sample, outcome, top


def _deleted_total(options: Options) -> int:
    return max(1, options.n // 100)


def _top_costs(session: Any, wall: float, top: int = 3) -> list[dict[str, Any]]:
    """The functions with the most time of their own (samples in them, not their callees)."""
    root = session.root_frame() if session else None
    totals: dict[str, float] = {}

    def walk(frame: Any) -> None:
        if frame.function and not frame.is_synthetic:
            key = f"{frame.function} ({frame.file_path_short}:{frame.line_no})"
            totals[key] = totals.get(key, 0.0) + frame.total_self_time
        for child in frame.children:
            walk(child)

    if root is not None:
        walk(root)
    ranked = sorted(totals.items(), key=lambda kv: -kv[1])[:top]
    return [
        {"where": k, "seconds": round(v, 3), "share": round(v / wall, 3) if wall else 0}
        for k, v in ranked
    ]
