"""A worker's /healthz and /metrics: sync/monitor.py's listener, with the run metrics of
sync/metrics.py kept per configuration and rendered with the configuration as a label."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Gauge, Metric, generate_latest
from prometheus_client.registry import Collector

from sync.metrics import Metrics
from sync.monitor import Health


class WorkerHealth(Health):
    """503 once `unhealthy_after` checks in a row could not reach the queue database. A
    configuration whose systems fail is that configuration's business (its metrics and
    `fleet status` say so), not a reason to restart the worker."""

    def ok(self) -> None:
        super().ok()
        self.role = "worker"

    def failed(self, error: str) -> None:
        super().failed(error)
        self.role = "worker"


class _Labelled(Collector):
    """Every configuration's metrics as one family per name, each sample labelled config."""

    def __init__(self, per: dict[str, Metrics], lock: threading.Lock) -> None:
        self.per = per
        self.lock = lock

    def collect(self) -> Iterator[Metric]:
        with self.lock:
            per = sorted(self.per.items())
        families: dict[str, Metric] = {}
        for config, metrics in per:
            for family in metrics.registry.collect():
                out = families.get(family.name)
                if out is None:
                    out = Metric(family.name, family.documentation, family.type, family.unit)
                    families[family.name] = out
                for s in family.samples:
                    labels = {"config": config, **s.labels}
                    out.add_sample(s.name, labels, s.value, s.timestamp, s.exemplar)
        yield from families.values()


class FleetMetrics(Metrics):
    """What a worker's /metrics shows: the run metrics of each configuration it ran, under
    label `config`, and how many runs it has in flight."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._per: dict[str, Metrics] = {}
        self.exposed = CollectorRegistry()
        self.exposed.register(_Labelled(self._per, self._lock))
        self.in_flight = Gauge(
            "contactsync_fleet_runs_in_flight", "Runs this worker has going", registry=self.exposed
        )

    def for_config(self, config: str) -> Metrics:
        with self._lock:
            found = self._per.get(config)
            if found is None:
                found = self._per[config] = Metrics()
            return found

    def render(self) -> bytes:
        return generate_latest(self.exposed)
