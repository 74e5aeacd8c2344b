"""The one door for HTTP: timeouts, retries with Retry-After, rate and concurrency limits,
status codes to error kinds, and logs that never carry a secret.

What is retried: transport failures, 408, 429, 500, 502, 503 and 504, for requests that are
safe to repeat (GET, PUT, PATCH, DELETE, WebDAV's PROPFIND and REPORT, and POSTs a connector
marks as reads); 429 for every
request, since a request refused for its rate was not applied; a refused connection and a
name that does not resolve for every request too, since nothing was sent. Any other failed
create is never resent here: the engine looks it up first (see engine recovery). After the
retries a refused connection, an unresolved name or a failed TLS handshake (never retried)
is Unreachable, naming the system and the host (sync/netfail.py).

Retry-After (seconds or an HTTP date) sets the wait, capped at a minute. A vendor file may
name the headers that announce its budget (remaining requests in a window, the window's
length, the requests left today): when the window's budget is spent, requests wait for the
next window instead of drawing 429s, and a spent daily quota is QuotaExhausted.

TLS is verified unless a system sets `verify_tls = false`, which is logged as a warning every
time a client is built for it; `ca_bundle` names the certificates to trust instead.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from sync import fastjson, netfail
from sync.auth import build_auth
from sync.config import SystemSettings
from sync.errors import (
    MAX_RETRY_AFTER,
    QuotaExhausted,
    RateLimited,
    TransientError,
    Unreachable,
    error_for,
)

log = logging.getLogger("sync.http")
SAFE_METHODS = {"GET", "HEAD", "PUT", "PATCH", "DELETE", "PROPFIND", "REPORT"}


class Limiter(Protocol):
    """What every request waits on before it starts. `wait` may raise QuotaExhausted."""

    async def wait(self) -> None: ...


# Who makes each system's limiter: by default its own RateLimiter(rate_limit); a fleet worker
# installs one whose budget is shared by every worker through the database (sync/fleet).
LimiterFactory = Callable[[SystemSettings], Limiter]
_limiter_factory: LimiterFactory | None = None


def set_limiter_factory(factory: LimiterFactory | None) -> None:
    global _limiter_factory
    _limiter_factory = factory


def limiter_for(settings: SystemSettings) -> Limiter:
    if _limiter_factory is not None:
        return _limiter_factory(settings)
    return RateLimiter(settings.spec.rate_limit)


class RateLimiter:
    """At most `rate` request starts per second, spaced evenly."""

    def __init__(self, rate: float | None) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self.interval:
            return
        async with self._lock:
            now = time.monotonic()
            delay = self._next - now
            self._next = max(now, self._next) + self.interval
        if delay > 0:
            await asyncio.sleep(delay)


@dataclass(frozen=True)
class BudgetHeaders:
    """The headers a vendor announces its request budget in (all optional)."""

    remaining: str | None = None  # requests left in the current window
    window_ms: str | None = None  # the window's length, in milliseconds
    reset: str | None = None  # seconds until the window starts again
    daily_remaining: str | None = None  # requests left today


class _Unsent(TransientError):
    """Nothing reached the server (refused, unresolved): safe to resend, even a create.
    After the retries it becomes Unreachable."""


_READ = httpx.ByteStream(b"")


def _number(response: httpx.Response, header: str | None) -> float | None:
    value = response.headers.get(header) if header else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


@functools.cache
def verified_tls() -> ssl.SSLContext:
    """The verifying TLS context every client shares: building one loads the CA bundle
    (30-50 ms), which each system's client did again at every start-up."""
    return httpx.create_ssl_context()


class HttpClient:
    def __init__(
        self,
        base_url: str,
        *,
        auth: httpx.Auth | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
        retries: int = 4,
        rate_limit: float | None = None,
        limiter: Limiter | None = None,
        concurrency: int = 4,
        verify: bool | ssl.SSLContext = True,
        transport: httpx.AsyncBaseTransport | None = None,
        describe_error: Callable[[httpx.Response], str | None] | None = None,
        backoff: float = 0.5,
        name: str = "",
        budget: BudgetHeaders | None = None,
    ) -> None:
        self.name = name
        self.budget = budget or BudgetHeaders()
        self._paused_until = 0.0
        self._quota_spent = False
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.limiter: Limiter = limiter or RateLimiter(rate_limit)
        self.slots = asyncio.Semaphore(concurrency)
        self.describe_error = describe_error
        if verify is True:
            verify = verified_tls()
        if transport is None:
            # httpx's own transport (httpcore over anyio) costs this process about twice the
            # CPU per request of aiohttp's; at a few hundred writes a second that CPU, not the
            # network, set the pace (bench/README.md). httpx stays the interface.
            transport = AiohttpTransport(verify=verify)
        url = httpx.URL(base_url)
        self.host = (url.host + (f":{url.port}" if url.port else "")) if url.host else base_url
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/",
            auth=auth,
            headers=headers,
            timeout=timeout,
            verify=verify,
            transport=transport,
        )

    @classmethod
    def for_system(
        cls,
        settings: SystemSettings,
        *,
        headers: dict[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        describe_error: Callable[[httpx.Response], str | None] | None = None,
        auth_defaults: dict[str, str] | None = None,
        budget: BudgetHeaders | None = None,
        base_url: str | None = None,
    ) -> HttpClient:
        spec = settings.spec
        verify: bool | ssl.SSLContext = spec.verify_tls
        if not spec.verify_tls:
            log.warning(
                "TLS verification is OFF for system %s (verify_tls = false): its server is "
                "not authenticated; use ca_bundle for a private CA instead",
                settings.name,
            )
        if spec.verify_tls and spec.ca_bundle:
            verify = ssl.create_default_context(cafile=str(settings.resolve(spec.ca_bundle)))
        return cls(
            base_url or spec.base_url or "",
            auth=build_auth(settings.credentials, spec.base_url, auth_defaults),
            headers=headers,
            timeout=spec.timeout,
            retries=spec.retries,
            limiter=limiter_for(settings),
            concurrency=spec.concurrency,
            verify=verify,
            transport=transport,
            describe_error=describe_error,
            backoff=spec.backoff,
            name=settings.name,
            budget=budget,
        )

    async def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """Send one request; raise the matching error kind unless 2xx or in `ok`.

        Keywords: params, json, data, content (a raw body: WebDAV's XML, a vCard), headers,
        retry (None: by verb), ok (extra statuses)."""
        return await self._call(method, path, parse=False, **kw)

    async def request_json(self, method: str, path: str, **kw: Any) -> Any:
        """Like request, and parse the body; a malformed body is retried like a 5xx."""
        body, _response = await self._call(method, path, parse=True, **kw)
        return body

    async def call(self, method: str, path: str, **kw: Any) -> tuple[Any, httpx.Response]:
        """Like request_json, with the response too (headers, links, the server's Date)."""
        answer: tuple[Any, httpx.Response] = await self._call(method, path, parse=True, **kw)
        return answer

    async def request_read(
        self, method: str, path: str, read: Callable[[httpx.Response], Any], **kw: Any
    ) -> Any:
        """Like request, and `read` the answer within the retries: an answer it finds
        malformed (TransientError, e.g. WebDAV XML cut short) is retried like a 5xx."""
        return await self._call(method, path, parse=False, read=read, **kw)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        parse: bool,
        params: Any = None,
        json: Any = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
        retry: bool | None = None,
        ok: tuple[int, ...] = (),
        content: bytes | str | None = None,
        read: Callable[[httpx.Response], Any] | None = None,
    ) -> Any:
        async def once() -> Any:
            response = await self._once(
                method.upper(), path, params, json, data, headers, ok, content
            )
            if read is not None:
                return read(response)
            if not parse:
                return response
            return (self.json(response) if response.content.strip() else None), response

        return await self._run(method, retry, once)

    async def _run(self, method: str, retry: bool | None, call: Callable[[], Any]) -> Any:
        """`call`, tried again after a failure that may be retried, up to `retries` times,
        waiting as _delay says. A loop of our own, not tenacity: building and stepping its
        retry state cost ~50 us a request, on every request, for what is this loop."""
        repeatable = method.upper() in SAFE_METHODS if retry is None else retry
        kinds = TransientError if repeatable else (RateLimited, _Unsent)
        attempt = 1
        try:
            while True:
                try:
                    return await call()
                except kinds as exc:
                    if attempt > self.retries:
                        raise
                    await asyncio.sleep(self._delay(exc, attempt))
                    attempt += 1
        except _Unsent as exc:
            raise Unreachable(str(exc)) from None

    def _delay(self, exc: BaseException | None, attempt: int) -> float:
        """How long to wait after attempt number `attempt` failed with `exc`."""
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            return exc.retry_after
        return min(self.backoff * 2 ** (attempt - 1), 30.0)

    async def _once(
        self,
        method: str,
        path: str,
        params: Any,
        body: Any,
        data: Any,
        headers: dict[str, str] | None,
        ok: tuple[int, ...],
        content: bytes | str | None = None,
    ) -> httpx.Response:
        await self.limiter.wait()
        await self._within_budget()
        async with self.slots:
            started = time.monotonic()
            try:
                async with asyncio.timeout(self.timeout):
                    response = await self._client.request(
                        method,
                        path.lstrip("/"),
                        params=params,
                        json=body,
                        data=data,
                        content=content,
                        headers=headers,
                    )
                    await response.aread()
                    # the body is read: httpx's stream refers back to its response, a cycle
                    # that kept every answer and its body until the collector ran (memory
                    # grew with a listing's length); without it an answer goes when dropped
                    response.stream = _READ
            except (httpx.TransportError, aiohttp.ClientError, OSError, TimeoutError) as exc:
                raise self._failure(method, path, exc) from None
        self._note_budget(response)
        elapsed = (time.monotonic() - started) * 1000
        log.debug(
            "%s %s -> %s in %.0f ms", method, response.url.path, response.status_code, elapsed
        )
        if response.is_success or response.status_code in ok:
            return response
        reason = self.describe_error(response) if self.describe_error else None
        raise error_for(response, reason)

    def _failure(self, method: str, path: str, exc: BaseException) -> Exception:
        """The error kind for a request that got no answer, its message naming the host."""
        kind = netfail.classify(exc)
        text = netfail.describe(kind, self.name, self.host, exc, self.timeout)
        log.warning("%s %s: %s", method, path, text)
        if kind == "tls":  # retrying cannot help
            return Unreachable(text)
        if kind in ("refused", "dns"):
            return _Unsent(text)
        return TransientError(f"{method} {path}: {text}")

    def _note_budget(self, response: httpx.Response) -> None:
        """Read the vendor's budget headers: pause when the window is spent."""
        budget = self.budget
        daily = _number(response, budget.daily_remaining)
        if daily is not None and daily <= 0:
            self._quota_spent = True
        left = _number(response, budget.remaining)
        if left is None or left > 0:
            return
        reset = _number(response, budget.reset)
        window = _number(response, budget.window_ms)
        wait = reset if reset is not None else (window / 1000 if window is not None else 1.0)
        self._paused_until = max(self._paused_until, time.monotonic() + min(wait, MAX_RETRY_AFTER))

    async def _within_budget(self) -> None:
        if self._quota_spent:
            raise QuotaExhausted(f"{self.name or self.host}: the daily request quota is used up")
        delay = self._paused_until - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    @staticmethod
    def json(response: httpx.Response) -> Any:
        """The body as JSON; a malformed body is transient (the vendor answered half).
        Bytes that are not UTF-8 stay in their strings as surrogates, so that the mapping
        fails only the record that holds them (sync.mapping.check_text)."""
        try:
            try:
                return fastjson.loads(response.content)  # ~3x json's speed on 1,000-record pages
            except UnicodeDecodeError:
                return json.loads(response.content.decode("utf-8", "surrogateescape"))
        except ValueError:
            raise TransientError(f"malformed JSON from {response.url.path}") from None

    async def aclose(self) -> None:
        await self._client.aclose()
