"""`python -m bench.http_client`: the HTTP client's own CPU per request, the floor under the
loopback initial sync (issue 14.7: 13,000 creates on one core).

A small aiohttp server in a child process answers every request with a small JSON body; this
process sends N POSTs, 8 at a time, through httpx on its default transport, through httpx on
httpx-aiohttp's transport (what contactsync uses), through contactsync's own HttpClient (that
stack with its retries, limiter and error mapping around each request), and through aiohttp
alone, and prints each one's CPU time per request (user + sys of this process).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

BODY = {"firstName": "Ada", "lastName": "Lovelace", "email": "ada@example.org"}
SERVER = """
import sys
from aiohttp import web
async def answer(request):
    await request.read()
    return web.json_response({"id": 1, "name": "x"})
app = web.Application()
app.router.add_route("*", "/{tail:.*}", answer)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def with_httpx(base: str, n: int, transport: bool) -> None:
    chosen = AiohttpTransport() if transport else None
    async with httpx.AsyncClient(base_url=base, transport=chosen) as client:
        slots = asyncio.Semaphore(8)

        async def one() -> None:
            async with slots:
                response = await client.request("POST", "contacts", json=BODY)
                await response.aread()
                response.json()

        await asyncio.gather(*(one() for _ in range(n)))


async def with_ours(base: str, n: int) -> None:
    """sync.http.HttpClient: httpx over httpx-aiohttp, with the retries, limiter, budget and
    error mapping around each request."""
    from sync.http import HttpClient

    client = HttpClient(base, concurrency=8)
    try:
        await asyncio.gather(
            *(client.request_json("POST", "contacts", json=BODY) for _ in range(n))
        )
    finally:
        await client.aclose()


async def with_aiohttp(base: str, n: int) -> None:
    async with aiohttp.ClientSession() as session:
        slots = asyncio.Semaphore(8)

        async def one() -> None:
            async with slots, session.post(f"{base}contacts", json=BODY) as response:
                await response.json()

        await asyncio.gather(*(one() for _ in range(n)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=6000)
    args = parser.parse_args(argv)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)])
    base = f"http://127.0.0.1:{port}/api/"
    try:
        for _ in range(100):  # until it answers
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        n = args.requests
        clients: dict[str, Callable[[], Coroutine[Any, Any, None]]] = {
            "httpx (default transport)": lambda: with_httpx(base, n, transport=False),
            "httpx + httpx-aiohttp": lambda: with_httpx(base, n, transport=True),
            "contactsync's HttpClient (the same)": lambda: with_ours(base, n),
            "aiohttp alone": lambda: with_aiohttp(base, n),
        }
        for name, client in clients.items():
            started = cpu()
            asyncio.run(client())
            print(f"{name:38} {(cpu() - started) / n * 1000:.3f} ms CPU per request")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
