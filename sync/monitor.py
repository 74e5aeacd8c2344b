"""The daemon's optional HTTP listener: `/healthz` for probes and `/metrics` for Prometheus."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sync.config import parse_listen
from sync.metrics import Metrics


@dataclass
class Health:
    """503 once `unhealthy_after` runs in a row failed (raised, or could not list a system),
    or from losing a lease we held until the next tick finds this replica a standby (another
    holds the lease: this one is doing its job) or the leader again."""

    unhealthy_after: int
    role: str = "starting"
    failures_in_row: int = 0
    lease_lost: bool = False
    last_error: str | None = None

    def ok(self) -> None:
        self.role, self.failures_in_row, self.lease_lost, self.last_error = "leader", 0, False, None

    def failed(self, error: str) -> None:
        self.role, self.lease_lost = "leader", False
        self.failures_in_row += 1
        self.last_error = error

    def lost(self) -> None:
        self.lease_lost = True

    def standby(self) -> None:
        self.role, self.lease_lost, self.failures_in_row = "standby", False, 0

    @property
    def healthy(self) -> bool:
        return not self.lease_lost and self.failures_in_row < self.unhealthy_after

    def as_dict(self) -> dict[str, object]:
        return {
            "healthy": self.healthy,
            "role": self.role,
            "failed_runs_in_a_row": self.failures_in_row,
            "lease_lost": self.lease_lost,
            "last_error": self.last_error,
        }


def app(health: Health, metrics: Metrics) -> Starlette:
    async def healthz(_request: Request) -> Response:
        return JSONResponse(health.as_dict(), status_code=200 if health.healthy else 503)

    async def prometheus(_request: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/healthz", healthz), Route("/metrics", prometheus)])


class Listener:
    """uvicorn in a background thread, stopped with the daemon."""

    def __init__(self, listen: str, health: Health, metrics: Metrics) -> None:
        host, port = parse_listen(listen)
        config = uvicorn.Config(
            app(health, metrics), host=host, port=port, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="monitor", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)
