"""Loopback mode: the emulators served on 127.0.0.1 from a child process.

Serving them from the engine's own process would make the two share one interpreter lock,
and the engine would be measured waiting for its own emulators. The child holds the World
and answers the harness's commands (seed, edit, remove, counts) over a pipe.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.connection import Connection
from typing import Any

from bench.world import SYSTEMS, World


def _child(conn: Connection, latency: float) -> None:
    from sync.sandbox.serve import serve

    world = World(latency=latency)
    served = {name: serve(name, emu) for name, emu in world.emulators.items()}
    conn.send({name: world.table(name, s.url) for name, s in served.items()})
    try:
        while True:
            command, args = conn.recv()
            if command == "stop":
                break
            conn.send(getattr(world, command)(*args))
    finally:
        for s in served.values():
            s.stop()


class RemoteWorld:
    """A World in a child process, with the same methods the harness calls."""

    def __init__(self, latency: float) -> None:
        ctx = multiprocessing.get_context("fork")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_child, args=(child, latency), daemon=True)
        self.process.start()
        self.tables: dict[str, dict[str, Any]] = self.conn.recv()

    def _call(self, command: str, *args: Any) -> Any:
        self.conn.send((command, args))
        return self.conn.recv()

    def seed(self, n: int, seed: int, synced: bool = False) -> dict[str, int]:
        result: dict[str, int] = self._call("seed", n, seed, synced)
        return result

    def size(self, name: str) -> int:
        return int(self._call("size", name))

    def edit(self, name: str, count: int) -> int:
        return int(self._call("edit", name, count))

    def remove(self, name: str, count: int) -> int:
        return int(self._call("remove", name, count))

    def take_counts(self) -> Any:
        return self._call("take_counts")

    def table(self, name: str, base_url: str) -> dict[str, Any]:
        return self.tables[name]

    def env(self) -> dict[str, str]:
        result: dict[str, str] = self._call("env")
        return result

    def close(self) -> None:
        self.conn.send(("stop", ()))
        self.process.join(timeout=30)


__all__ = ["SYSTEMS", "RemoteWorld"]
