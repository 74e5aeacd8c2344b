"""Serve emulators on 127.0.0.1 with uvicorn, each on its own port, in background threads."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import uvicorn
from rich.console import Console

from sync.sandbox.base import Emulator

VENDORS = ("oracle_b2b", "serviceops", "superoffice", "lightening", "onecontact", "hubspot")


def emulator_for(vendor: str, **kwargs: Any) -> Emulator:
    """A fresh emulator of one vendor; the demo's SuperOffice holds people (entity Person)."""
    import importlib

    module = importlib.import_module(f"sync.sandbox.{vendor}")
    cls = next(
        v
        for v in vars(module).values()
        if isinstance(v, type)
        and issubclass(v, Emulator)
        and v is not Emulator
        and v.__module__ == module.__name__
    )
    if vendor == "superoffice":
        kwargs.setdefault("entity", "Person")
    emulator: Emulator = cls(**kwargs)
    return emulator


@dataclass
class Served:
    name: str
    emulator: Emulator
    server: uvicorn.Server
    thread: threading.Thread
    url: str

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def serve(name: str, emulator: Emulator, port: int | None = None) -> Served:
    port = port or free_port()
    config = uvicorn.Config(
        emulator, host="127.0.0.1", port=port, log_level="warning", lifespan="off", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"sandbox-{name}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"the {name} emulator did not start on port {port}")
        time.sleep(0.02)
    return Served(name, emulator, server, thread, f"http://127.0.0.1:{port}")


def main(first_port: int, console: Console) -> int:
    """`contactsync sandbox`: every emulator on its own port until Ctrl-C."""
    served = []
    for i, vendor in enumerate(VENDORS):
        s = serve(vendor, emulator_for(vendor), first_port + i)
        served.append(s)
        console.print(f"{vendor:12} {s.url}")
    env = {k: v for s in served for k, v in getattr(s.emulator, "DEFAULT_ENV", {}).items()}
    console.print("credentials the emulators accept (export them before `contactsync once`):")
    for key, value in env.items():
        console.print(f"  export {key}={value}")
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        for s in served:
            s.stop()
    return 0
