"""Real CardDAV servers for the tests: Radicale and Xandikos (both dev dependencies, from
PyPI), each started once per session in a subprocess on 127.0.0.1 with basic auth and a
temporary storage folder. Xandikos serves basic auth over HTTPS only: the test generates a
self-signed certificate for 127.0.0.1 (cryptography) and trusts it through ca_bundle.

Each test gets an address book of its own (`DavServer.new_book`), made with an extended
MKCOL, so tests do not see each other's cards. Without the servers installed the tests
skip, unless CONTACTSYNC_REQUIRE_DAV is set (CI), where they fail.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import itertools
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import self_signed

USER, PASSWORD = "alice", "wonderland-7"
ENV = {"DAV_USER": USER, "DAV_PASSWORD": PASSWORD}
_books = itertools.count()
MKCOL = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<D:mkcol xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:set><D:prop>'
    "<D:resourcetype><D:collection/><C:addressbook/></D:resourcetype>"
    "<D:displayname>{name}</D:displayname></D:prop></D:set></D:mkcol>"
)


@dataclass
class DavServer:
    kind: str
    origin: str  # https://127.0.0.1:port
    home: str  # the address book home, a path ending in /
    ca_bundle: str | None
    process: subprocess.Popen[bytes]
    root: Path
    books: list[str] = field(default_factory=list)

    def client(self) -> httpx.Client:
        verify: Any = ssl.create_default_context(cafile=self.ca_bundle) if self.ca_bundle else True
        return httpx.Client(base_url=self.origin, auth=(USER, PASSWORD), verify=verify)

    def new_book(self, name: str | None = None) -> str:
        """A fresh, empty address book; its URL."""
        name = name or f"book{next(_books)}"
        path = f"{self.home}{name}/"
        with self.client() as c:
            r = c.request("MKCOL", path, content=MKCOL.format(name=name),
                          headers={"Content-Type": "application/xml"})  # fmt: skip
            assert r.status_code == 201, (r.status_code, r.text)
        self.books.append(path)
        return self.origin + path

    def table(self, url: str, **extra: Any) -> dict[str, Any]:
        """A [systems.X] table for the carddav connector on this server."""
        table: dict[str, Any] = {
            "connector": "carddav",
            "url": url,
            "auth": {"kind": "basic", "username_env": "DAV_USER", "password_env": "DAV_PASSWORD"},
            "cache_dir": str(self.root / "cache"),
            "timeout": 10,
            "backoff": 0,
        }
        if self.ca_bundle:
            table["ca_bundle"] = self.ca_bundle
        return {**table, **extra}

    def put(self, url: str, name: str, text: str, **headers: str) -> httpx.Response:
        """Another client writes a card (no contactsync involved)."""
        with self.client() as c:
            return c.put(url + name, content=text.encode(),
                         headers={"Content-Type": "text/vcard", **headers})  # fmt: skip

    def get(self, url: str, name: str) -> httpx.Response:
        with self.client() as c:
            return c.get(url + name)


def available(kind: str) -> bool:
    return importlib.util.find_spec(kind) is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"server did not listen on {port}: {log.read_text()[-2000:]}")


def start_radicale(root: Path, level: str = "warning") -> DavServer:
    root.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    (root / "users").write_text(f"{USER}:{PASSWORD}\n")
    config = root / "config"
    config.write_text(
        f"[server]\nhosts = 127.0.0.1:{port}\n"
        f"[auth]\ntype = htpasswd\nhtpasswd_filename = {root / 'users'}\n"
        "htpasswd_encryption = plain\n"
        f"[storage]\nfilesystem_folder = {root / 'store'}\n"
        f"[logging]\nlevel = {level}\n"
    )
    log = root / "log"
    with log.open("wb") as out:
        cmd = [sys.executable, "-m", "radicale", "--config", str(config)]
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    _wait(port, process, log)
    return DavServer("radicale", f"http://127.0.0.1:{port}", f"/{USER}/", None, process, root)


def start_xandikos(root: Path) -> DavServer:
    port = _free_port()
    digest = base64.b64encode(hashlib.sha1(PASSWORD.encode()).digest()).decode()
    (root / "users").write_text(f"{USER}:{{SHA}}{digest}\n")
    crt, _ = self_signed(root / "state" / "certs", 365, ("selfsigned.crt", "selfsigned.key"))
    log = root / "log"
    with log.open("wb") as out:
        cmd = [sys.executable, "-m", "xandikos", "serve", "-d", str(root / "data"),
               "--defaults", "-l", "127.0.0.1", "-p", str(port), "--autocert",
               "--state-dir", str(root / "state"), "--htpasswd", str(root / "users")]  # fmt: skip
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    _wait(port, process, log)
    home = "/user/contacts/"
    return DavServer("xandikos", f"https://127.0.0.1:{port}", home, str(crt), process, root)


STARTERS = {"radicale": start_radicale, "xandikos": start_xandikos}


def server(kind: str, tmp: Path) -> Iterator[DavServer]:
    if not available(kind):
        if os.environ.get("CONTACTSYNC_REQUIRE_DAV"):
            pytest.fail(f"CONTACTSYNC_REQUIRE_DAV is set but {kind} is not installed")
        pytest.skip(f"{kind} is not installed (pip install -e '.[dev]')")
    started = STARTERS[kind](tmp)
    try:
        yield started
    finally:
        started.process.terminate()
        try:
            started.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            started.process.kill()
            started.process.wait()


@pytest.fixture(scope="session")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DavServer]:
    yield from server("radicale", tmp_path_factory.mktemp("radicale"))


@pytest.fixture(scope="session")
def xandikos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DavServer]:
    yield from server("xandikos", tmp_path_factory.mktemp("xandikos"))


@pytest.fixture(scope="session", params=["radicale", "xandikos"])
def dav(request: pytest.FixtureRequest) -> DavServer:
    """Each test that takes it runs once against each server."""
    found: DavServer = request.getfixturevalue(request.param)
    return found


class DavProxy:
    """What the connector contract calls an emulator, for a real server: the transport the
    connector is built with, which logs each request and injects `faults` (503, 429, reset,
    and malformed: a 207 answer cut in half) before or after passing it to the server."""

    def __init__(self, server: DavServer) -> None:
        from sync.sandbox.base import Faults

        self.server = server
        self.faults = Faults()
        self.log: list[tuple[str, str, int]] = []  # method, path, status
        # called before a request goes on to the server (another client acting meanwhile)
        self.before: Any = None

    def transport(self) -> httpx.AsyncBaseTransport:
        verify: Any = True
        if self.server.ca_bundle:
            verify = ssl.create_default_context(cafile=self.server.ca_bundle)
        return _Faulty(self, httpx.AsyncHTTPTransport(verify=verify))

    def count(self, method: str) -> int:
        return sum(1 for m, _, _ in self.log if m == method)

    def writes(self) -> list[tuple[str, str, int]]:
        return [e for e in self.log if e[0] in ("PUT", "DELETE")]


class _Faulty(httpx.AsyncBaseTransport):
    def __init__(self, proxy: DavProxy, inner: httpx.AsyncBaseTransport) -> None:
        self.proxy = proxy
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        fault = self.proxy.faults.draw()
        path = request.url.path
        if fault == "reset":
            self.proxy.log.append((request.method, path, 0))
            raise httpx.ReadError("connection reset (injected)", request=request)
        if fault in ("503", "429"):
            self.proxy.log.append((request.method, path, int(fault)))
            return httpx.Response(int(fault), headers={"Retry-After": "0"}, request=request)
        if self.proxy.before is not None:
            self.proxy.before(request)
        response = await self.inner.handle_async_request(request)
        body = await response.aread()
        self.proxy.log.append((request.method, path, response.status_code))
        if fault == "malformed" and response.status_code == 207:
            body = body[: len(body) // 2]
        drop = ("content-length", "content-encoding", "transfer-encoding")
        headers = [(k, v) for k, v in response.headers.items() if k.lower() not in drop]
        return httpx.Response(response.status_code, headers=headers, content=body, request=request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def fake_server(cards: dict[str, str], sync: bool = True) -> httpx.MockTransport:
    """A minimal CardDAV server answering discovery, sync-collection and multiget from
    `cards`: real servers refuse to store a malformed card, so this one serves it. Without
    `sync` it refuses sync-collection (501), as a server without RFC 6578 would."""
    from xml.sax.saxutils import escape

    def response(href: str, props: str) -> str:
        return (f"<D:response><D:href>{href}</D:href><D:propstat><D:prop>{props}</D:prop>"
                "<D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>")  # fmt: skip

    def handler(request: httpx.Request) -> httpx.Response:
        body = request.content.decode()
        head = '<D:multistatus xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">'
        if request.method == "PROPFIND":
            props = "<D:resourcetype><D:collection/><C:addressbook/></D:resourcetype>"
            parts = [response("/book/", props)]
            if request.headers.get("Depth") == "1":
                parts += [response(f"/book/{n}", f'<D:getetag>"{n}"</D:getetag>') for n in cards]
        elif "sync-collection" in body and not sync:
            return httpx.Response(501)
        elif "sync-collection" in body:
            parts = [response(f"/book/{n}", f'<D:getetag>"{n}"</D:getetag>') for n in cards]
            parts.append("<D:sync-token>t1</D:sync-token>")
        else:
            data = '<D:getetag>"{}"</D:getetag><C:address-data>{}</C:address-data>'
            parts = [
                response(f"/book/{n}", data.format(n, escape(t)))
                for n, t in cards.items()
                if f"/book/{n}<" in body
            ]
        return httpx.Response(207, content=head + "".join(parts) + "</D:multistatus>")

    return httpx.MockTransport(handler)
