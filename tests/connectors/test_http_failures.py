"""Outages told apart (issue 11.17): a refused connection, a name that does not resolve, a
failed TLS handshake and a timeout each say what happened, naming the system and the host;
after the retries the first three are Unreachable. And Retry-After as an HTTP date."""

from __future__ import annotations

import asyncio
import itertools
import socket
import ssl
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from sync.errors import RateLimited, TransientError, Unreachable, retry_after
from sync.http import HttpClient
from sync.sandbox.serve import free_port


def client(
    base_url: str, transport: httpx.AsyncBaseTransport | None = None, retries: int = 2
) -> HttpClient:
    return HttpClient(
        base_url, retries=retries, backoff=0, timeout=2, transport=transport, name="crm"
    )


def failing(exc: BaseException, calls: list[httpx.Request]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise exc

    return httpx.MockTransport(handler)


def chained(outer: Exception, cause: BaseException) -> Exception:
    outer.__cause__ = cause
    return outer


async def test_a_closed_port_is_connection_refused_naming_system_and_host() -> None:
    port = free_port()  # nothing listens there
    http = client(f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(Unreachable) as caught:
            await http.request_json("GET", "contacts")
        # a create is tried again too: a refused connection sent nothing
        with pytest.raises(Unreachable):
            await http.request_json("POST", "contacts", json={})
    finally:
        await http.aclose()
    text = str(caught.value)
    assert "connection refused" in text and f"127.0.0.1:{port}" in text and "crm" in text
    assert "ConnectTimeout" not in text


async def test_a_name_that_does_not_resolve_says_so() -> None:
    calls: list[httpx.Request] = []
    exc = chained(
        httpx.ConnectError("cannot connect"), socket.gaierror(-2, "Name or service not known")
    )
    http = client("http://crm.invalid", failing(exc, calls))
    with pytest.raises(Unreachable, match=r"crm \(crm\.invalid\): the host name does not resolve"):
        await http.request_json("POST", "contacts", json={})
    await http.aclose()
    assert len(calls) == 3  # nothing was sent: retried like a read


async def test_a_failed_tls_handshake_is_unreachable_at_once() -> None:
    calls: list[httpx.Request] = []
    cause = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] self-signed")
    http = client("https://crm.test", failing(chained(httpx.ConnectError("tls"), cause), calls))
    with pytest.raises(Unreachable, match=r"TLS certificate is not trusted.*ca_bundle"):
        await http.request_json("GET", "contacts")
    await http.aclose()
    assert len(calls) == 1  # retrying cannot help


async def test_a_timeout_is_transient_and_says_timed_out() -> None:
    calls: list[httpx.Request] = []
    http = client("http://crm.test", failing(httpx.ReadTimeout("slow"), calls))
    with pytest.raises(TransientError, match=r"crm \(crm\.test\): no answer within 2s") as caught:
        await http.request_json("GET", "contacts")
    await http.aclose()
    assert not isinstance(caught.value, Unreachable) and len(calls) == 3


def test_retry_after_reads_seconds_and_http_dates_capped() -> None:
    def wait(value: str) -> float | None:
        return retry_after(httpx.Response(429, headers={"Retry-After": value}))

    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=5), usegmt=True)
    later = format_datetime(datetime.now(UTC) + timedelta(hours=3), usegmt=True)
    past = format_datetime(datetime.now(UTC) - timedelta(minutes=1), usegmt=True)
    assert wait("7") == 7.0
    assert 3.5 < (wait(soon) or 0) <= 5
    assert wait(later) == 60.0 and wait(past) == 0.0
    assert wait("soon") is None and wait("nan") is None


async def test_an_http_date_retry_after_is_waited_for() -> None:
    answers = iter(["429", "200"])

    def handler(request: httpx.Request) -> httpx.Response:
        if next(answers) == "429":
            when = format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
            return httpx.Response(429, headers={"Retry-After": when})
        return httpx.Response(200, json={"ok": True})

    http = client("http://crm.test", httpx.MockTransport(handler))
    started = time.monotonic()
    assert await http.request_json("POST", "contacts", json={}) == {"ok": True}
    await http.aclose()
    # the date has whole seconds: at least a second of the two is waited, not the backoff (0)
    assert time.monotonic() - started >= 0.9


async def test_a_429_without_retry_after_is_still_rate_limited() -> None:
    http = client("http://crm.test", httpx.MockTransport(lambda r: httpx.Response(429)), retries=0)
    with pytest.raises(RateLimited):
        await http.request_json("GET", "contacts")
    await http.aclose()


async def test_retries_wait_longer_each_time_and_stop_after_the_last() -> None:
    """A read that keeps failing is tried 1 + retries times, waiting backoff x 1, 2, 4...
    between attempts; one that then succeeds answers; a create is not repeated on a 503."""
    stamps: list[float] = []
    fails = [3]

    def handler(request: httpx.Request) -> httpx.Response:
        stamps.append(time.monotonic())
        if fails[0] > 0:
            fails[0] -= 1
            return httpx.Response(503)
        return httpx.Response(200, json={"ok": True})

    http = HttpClient(
        "http://crm.test",
        retries=3,
        backoff=0.05,
        timeout=2,
        transport=httpx.MockTransport(handler),
        name="crm",
    )
    assert await http.request_json("GET", "contacts") == {"ok": True}
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert len(stamps) == 4
    assert [g >= w for g, w in zip(gaps, (0.05, 0.1, 0.2), strict=True)] == [True] * 3, gaps
    stamps.clear()
    fails[0] = 9
    with pytest.raises(TransientError):
        await http.request_json("GET", "contacts")
    assert len(stamps) == 4
    stamps.clear()
    with pytest.raises(TransientError):
        await http.request_json("POST", "contacts", json={})
    assert len(stamps) == 1
    await http.aclose()


async def test_the_waits_between_attempts_are_backoff_times_one_two_four(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Exactly the schedule: backoff x 2^(n-1) after the n-th failure, and a Retry-After
    instead where the vendor gives one."""
    waits: list[float] = []
    sleep = asyncio.sleep

    async def recorded(delay: float, *args: Any) -> Any:
        if delay > 0:
            waits.append(delay)
        return await sleep(0)

    monkeypatch.setattr(asyncio, "sleep", recorded)
    answers = [
        httpx.Response(503),
        httpx.Response(503),
        httpx.Response(429, headers={"Retry-After": "7"}),
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        return answers.pop(0) if answers else httpx.Response(200, json={"ok": True})

    transport = httpx.MockTransport(handler)
    http = HttpClient("http://crm.test", retries=3, backoff=0.5, transport=transport)
    try:
        assert await http.request_json("GET", "contacts") == {"ok": True}
    finally:
        await http.aclose()
    assert waits == [0.5, 1.0, 7.0]
