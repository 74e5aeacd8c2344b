"""What every vendor emulator shares: an in-memory store, a request log, latency and faults.

An emulator is a Starlette app wrapped by `Emulator`; tests mount it in-process through
`emulator.transport()` (httpx.ASGITransport), the demo and the benchmarks serve it on
127.0.0.1 with uvicorn (sync/sandbox/serve.py).

Fault kinds (each request draws one with probability `Faults.rate`, from a seeded RNG):

    429           Too Many Requests with Retry-After; nothing is applied
    500, 502, 503, 504  a server error; nothing is applied
    timeout       the answer takes `timeout_delay` seconds; clients give up first
    reset         the connection drops before the request is applied
    lost_response the request IS applied, then the connection drops (the nasty one)
    malformed     the request is applied and the body comes back cut in half
    truncate      list endpoints only: a page comes back short; emulators check
                  `self.faults.hit("truncate")` and cut the page in a way their vendor's
                  paging fields reveal (a count that does not add up)

`Faults.script(request)` may name the fault for one request (tests aim a fault at, say, the
second page); it wins over the random draw. `Emulator.on_request(request, phase)` is called
with phase "received" before a request is applied and "answered" after it was applied and
before the answer is sent: crash tests kill their client there.

The world helpers (seed_person, edit, remove, people, restamp) change or read an emulator's
store as a person using the vendor's own screens would, in canonical field names: each
emulator keeps its own table from vendor fields to canonical ones, independent of
mappings/, because it is the tests' oracle. Every answer carries a Date header from the
emulator's clock (sync/sandbox/kit.py), like a real server's.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import format_datetime
from typing import Any

import httpx
import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sync.sandbox.kit import Clock, Refused

SERVER_ERRORS = ("429", "500", "502", "503", "504")
REQUEST_FAULTS = (*SERVER_ERRORS, "timeout", "reset", "lost_response", "malformed")


class PageResponse(JSONResponse):
    """A JSON answer encoded by orjson (a 1,000-record page ~5x faster than json.dumps);
    what orjson refuses (surrogates, huge ints) is encoded as Starlette would."""

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except TypeError:
            return super().render(content)


@dataclass
class Faults:
    rate: float = 0.0
    kinds: tuple[str, ...] = REQUEST_FAULTS
    seed: int = 0
    retry_after: str = "0"
    timeout_delay: float = 5.0
    script: Callable[[LoggedRequest], str | None] | None = None
    _rng: random.Random = field(init=False, repr=False)
    _pending: str | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def draw(self, request: LoggedRequest | None = None) -> str | None:
        if self.script is not None and request is not None:
            aimed = self.script(request)
            if aimed is not None:
                return aimed
        if self.rate <= 0 or not self.kinds:
            return None
        if self._rng.random() >= self.rate:
            return None
        return self._rng.choice(self.kinds)

    def hit(self, kind: str) -> bool:
        """For faults an emulator applies itself (truncate): drawn like the others."""
        return kind in self.kinds and self.rate > 0 and self._rng.random() < self.rate


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    status: int | None = None
    fault: str | None = None

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def is_write(self) -> bool:
        return self.method != "GET" or self.path.endswith("/delete")


class Emulator:
    """A vendor app with the shared knobs. Subclasses set `self.app` and their store."""

    name = "emulator"

    def __init__(self, *, latency: float = 0.0, faults: Faults | None = None) -> None:
        self.latency = latency
        self.faults = faults or Faults()
        self.log: list[LoggedRequest] = []
        self.on_request: Callable[[LoggedRequest, str], None] | None = None
        self.app: ASGIApp | None = None
        self.clock = Clock()
        self._next_id = 1

    # --- the world, as a person using the vendor's screens changes it (canonical names) ---

    def seed_person(self, person: dict[str, Any]) -> str:
        raise NotImplementedError

    def edit(self, vendor_id: str, **canonical_fields: Any) -> None:
        raise NotImplementedError

    def remove(self, vendor_id: str) -> None:
        raise NotImplementedError

    def people(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def restamp(self, vendor_id: str, like: str) -> None:
        """Give a record the very update time of another (a vendor keeping whole seconds
        stamps two saves of one second alike): the boundary cases of change listings."""
        raise NotImplementedError

    # --- answers ---

    async def handle(self, request: Request) -> Response:
        """Route a request (`route`), answering a Refused as the vendor does (`refusal`)."""
        try:
            return await self.route(request)
        except Refused as refused:
            return self.refusal(request, refused)

    def handling(self, endpoint: Callable[[Request], Any]) -> Callable[[Request], Any]:
        """`handle` for an app with routes of its own: each endpoint's Refused answered."""

        async def handled(request: Request) -> Response:
            try:
                response: Response = await endpoint(request)
            except Refused as refused:
                return self.refusal(request, refused)
            return response

        return handled

    async def route(self, request: Request) -> Response:
        raise NotImplementedError

    def refusal(self, request: Request, refused: Refused) -> Response:
        body = {"error": refused.code or "refused", "message": refused.message}
        return JSONResponse(body, status_code=refused.status, headers=refused.headers or None)

    def new_id(self) -> int:
        value = self._next_id
        self._next_id += 1
        return value

    def transport(self) -> httpx.ASGITransport:
        return httpx.ASGITransport(app=self)

    def writes(self) -> list[LoggedRequest]:
        return [
            r
            for r in self.log
            if r.is_write and r.fault not in (*SERVER_ERRORS, "reset", "timeout")
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            assert self.app is not None
            await self.app(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        entry = LoggedRequest(
            scope["method"], scope["path"], scope.get("query_string", b"").decode(), headers, body
        )
        self.log.append(entry)
        fault = self.faults.draw(entry)
        entry.fault = fault
        if self.on_request is not None:
            self.on_request(entry, "received")
        if self.latency:
            await asyncio.sleep(self.latency)
        if fault in SERVER_ERRORS:
            entry.status = int(fault)
            extra = [(b"retry-after", self.faults.retry_after.encode())] if fault == "429" else []
            await _plain(send, int(fault), b'{"error": "injected fault"}', extra)
            return
        if fault == "timeout":
            await asyncio.sleep(self.faults.timeout_delay)
        if fault == "reset":
            raise ConnectionResetError("injected connection reset")
        replay = _replay(body)
        captured: list[Message] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry.status = message["status"]
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"date" for k, _ in headers):
                    stamp = format_datetime(self.clock.now(), usegmt=True).encode()
                    message = {**message, "headers": [*headers, (b"date", stamp)]}
            captured.append(message)

        assert self.app is not None
        await self.app(scope, replay, capture)
        if self.on_request is not None:
            self.on_request(entry, "answered")
        if fault == "lost_response":
            raise ConnectionResetError("injected reset after the request was applied")
        for message in captured:
            if fault == "malformed":
                message = _halve(message)
            await send(message)


def _halve(message: Message) -> Message:
    """Cut a response body in half (and drop Content-Length, which would now lie)."""
    if message["type"] == "http.response.start":
        headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"content-length"]
        return {**message, "headers": headers}
    body = message.get("body", b"")
    return {**message, "body": body[: max(1, len(body) // 2)]}


def _replay(body: bytes) -> Callable[[], Any]:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _plain(send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]]) -> None:
    headers = [(b"content-type", b"application/json"), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
