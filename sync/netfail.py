"""Why a request got no answer, in words a person can act on: the connection was refused,
the host name did not resolve, TLS failed, or the server took too long.

The aiohttp transport reports every connection failure as httpx.ConnectTimeout; the real
cause is further down the exception chain (aiohttp's error, then the OS error).
"""

from __future__ import annotations

import socket
import ssl
from typing import Literal

import aiohttp

Kind = Literal["refused", "dns", "tls", "timeout", "reset", "other"]


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen:
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    return seen


def classify(exc: BaseException) -> Kind:
    if isinstance(exc, TimeoutError):  # our own deadline (asyncio.timeout) ran out
        return "timeout"
    chain = _chain(exc)
    for cause in chain:
        if isinstance(cause, aiohttp.ClientConnectorCertificateError | ssl.SSLError):
            return "tls"
        if isinstance(cause, aiohttp.ClientSSLError):
            return "tls"
        if "CERTIFICATE_VERIFY_FAILED" in str(cause):
            return "tls"
        if isinstance(cause, socket.gaierror):
            return "dns"
        if type(cause).__name__ == "ClientConnectorDNSError":
            return "dns"
        if isinstance(cause, ConnectionRefusedError):
            return "refused"
    for cause in chain:
        if isinstance(cause, ConnectionResetError | aiohttp.ServerDisconnectedError):
            return "reset"
    if all(isinstance(c, TimeoutError) or "Timeout" in type(c).__name__ for c in chain):
        return "timeout"
    return "other"


def describe(kind: Kind, system: str, host: str, exc: BaseException, timeout: float) -> str:
    """One line naming the system, the host and what happened."""
    where = f"{system} ({host})" if system else host
    if kind == "refused":
        return f"{where}: connection refused (is the server running and the port right?)"
    if kind == "dns":
        return f"{where}: the host name does not resolve (check base_url)"
    if kind == "tls":
        if "CERTIFICATE_VERIFY_FAILED" in " ".join(str(c) for c in _chain(exc)):
            return (
                f"{where}: the server's TLS certificate is not trusted "
                "(for a private CA set ca_bundle)"
            )
        return f"{where}: the TLS handshake failed ({type(exc).__name__})"
    if kind == "timeout":
        return f"{where}: no answer within {timeout:g}s (timed out)"
    if kind == "reset":
        return f"{where}: the connection was dropped before an answer came"
    return f"{where}: the request failed ({type(exc).__name__})"
