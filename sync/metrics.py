"""Prometheus metrics of the daemon, in a registry of its own (one per daemon, so tests can
make several). Counters follow the runs this process made; gauges are read from the store, so
a standby replica reports the same conflicts and per-system successes as the leader."""

from __future__ import annotations

import platform

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)

from sync import __version__
from sync.report import RunReport
from sync.store.repo import Store

KINDS = ("created", "updated", "deleted")

# a `_created` series beside every counter and histogram doubles what is scraped and stored;
# the counters reset with the process anyway, which Prometheus's rate() already handles
disable_created_metrics()


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.runs = Counter(
            "contactsync_runs", "Sync runs by outcome (ok, partial, failed, lease_lost)",
            ["outcome"], registry=r,
        )  # fmt: skip
        self.duration = Histogram(
            "contactsync_run_duration_seconds", "Wall time of a sync run",
            buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800), registry=r,
        )  # fmt: skip
        self.actions = Counter(
            "contactsync_actions", "Writes sent to a system, by kind", ["system", "kind"],
            registry=r,
        )  # fmt: skip
        self.failed = Counter(
            "contactsync_failed_records", "Records that failed, by system", ["system"],
            registry=r,
        )  # fmt: skip
        self.open_conflicts = Gauge(
            "contactsync_open_conflicts", "Conflicts waiting for a person", registry=r
        )
        self.held = Gauge(
            "contactsync_held_deletions", "Deletions held by a guard in the last run", registry=r
        )
        self.last_success = Gauge(
            "contactsync_last_success_timestamp_seconds",
            "When each system last finished a run without error (Unix time)",
            ["system"], registry=r,
        )  # fmt: skip
        self.lease = Gauge(
            "contactsync_lease_held", "1 while this process holds the sync lease", registry=r
        )
        build = Gauge(
            "contactsync_build_info", "The running contactsync: 1, by version",
            ["version", "python"], registry=r,
        )  # fmt: skip
        build.labels(__version__, platform.python_version()).set(1)
        ProcessCollector(registry=r)  # CPU, memory, open files and start time (Linux)

    def run_finished(self, report: RunReport, seconds: float) -> None:
        self.runs.labels(report.status).inc()
        self.duration.observe(seconds)
        for name, sys in report.systems.items():
            for kind in KINDS:
                count = getattr(sys, kind)
                if count:
                    self.actions.labels(name, kind.removesuffix("d")).inc(count)
            if sys.failed:
                self.failed.labels(name).inc(len(sys.failed))

    def run_failed(self, outcome: str, seconds: float) -> None:
        self.runs.labels(outcome).inc()
        self.duration.observe(seconds)

    def refresh(self, store: Store) -> None:
        """The gauges that describe the shared state rather than this process's runs."""
        self.open_conflicts.set(store.count_conflicts())
        self.held.set(store.count_held_deletions())
        for cursor in store.cursors().values():
            if cursor.last_success is not None:
                self.last_success.labels(cursor.system).set(cursor.last_success.timestamp())

    def render(self) -> bytes:
        return generate_latest(self.registry)
