"""Every client that verifies TLS shares one context: building one loads the CA bundle
(30-50 ms), which each system's client paid again at every start-up. One that does not
verify keeps its own (tests/system/test_secrets.py runs both against a TLS server)."""

from __future__ import annotations

import ssl
from typing import Any

from sync.http import HttpClient


def _context(client: HttpClient) -> Any:
    return client._client._transport.ssl_context  # type: ignore[attr-defined]


async def test_verifying_clients_share_one_context() -> None:
    a = HttpClient("https://crm.invalid/api")
    b = HttpClient("https://desk.invalid/api")
    off = HttpClient("https://lab.invalid/api", verify=False)
    try:
        assert _context(a) is _context(b)
        assert _context(a).verify_mode == ssl.CERT_REQUIRED and _context(a).check_hostname
        assert _context(off) is not _context(a)
        assert _context(off).verify_mode == ssl.CERT_NONE
    finally:
        for client in (a, b, off):
            await client.aclose()
