"""The daemon's optional HTTP listener: `/healthz` for probes and `/metrics` for Prometheus."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sync.config import parse_listen
from sync.errors import ConfigError, Problem
from sync.masking import mask_tree
from sync.metrics import Metrics


def bind(listen: str, key: str) -> socket.socket:
    """A listening socket on HOST:PORT, bound before anything else starts, so that a port in
    use is a clear error naming `key` (and the process exits 2) instead of a server that
    silently never came up."""
    host, port = parse_listen(listen)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ConfigError([Problem(key, f"{listen}: {exc.strerror or exc}")]) from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        why = exc.strerror or str(exc)
        raise ConfigError([Problem(key, f"cannot listen on {listen}: {why}")]) from None
    sock.set_inheritable(True)
    return sock


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
    store_error: str | None = None  # the state database is away: unhealthy at once

    def ok(self) -> None:
        self.role, self.failures_in_row, self.lease_lost, self.last_error = "leader", 0, False, None
        self.store_error = None

    def store_away(self, error: str) -> None:
        self.failures_in_row += 1
        self.last_error = self.store_error = error

    def failed(self, error: str) -> None:
        self.role, self.lease_lost = "leader", False
        self.failures_in_row += 1
        self.last_error = error

    def lost(self) -> None:
        self.lease_lost = True

    def standby(self) -> None:
        self.role, self.lease_lost, self.failures_in_row = "standby", False, 0
        self.store_error = None

    @property
    def healthy(self) -> bool:
        if self.store_error is not None:
            return False
        return not self.lease_lost and self.failures_in_row < self.unhealthy_after

    def as_dict(self) -> dict[str, object]:
        return {
            "healthy": self.healthy,
            "role": self.role,
            "failed_runs_in_a_row": self.failures_in_row,
            "lease_lost": self.lease_lost,
            "last_error": self.last_error,
            "store_error": self.store_error,
        }


def app(health: Health, metrics: Metrics) -> Starlette:
    async def healthz(_request: Request) -> Response:
        body = mask_tree(health.as_dict())  # a run's error may quote what a vendor said
        return JSONResponse(body, status_code=200 if health.healthy else 503)

    async def prometheus(_request: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/healthz", healthz), Route("/metrics", prometheus)])


class Listener:
    """uvicorn in a background thread, stopped with the daemon. The port is bound here, in
    the constructor: taken, it raises ConfigError before the daemon starts anything."""

    def __init__(self, listen: str, health: Health, metrics: Metrics) -> None:
        self.socket = bind(listen, "daemon.listen")
        config = uvicorn.Config(app(health, metrics), log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, name="monitor", daemon=True
        )

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout=5)
        self.socket.close()
