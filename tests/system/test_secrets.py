"""No secret reaches the logs, the journal, the report or the database."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import ipaddress
import json
import logging
import stat
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from rich.console import Console

from sync.connectors import memory
from sync.engine import Engine
from sync.errors import ConfigError
from sync.logs import RedactingFilter, redact, setup
from sync.report import print_run
from sync.sandbox.base import Emulator
from sync.sandbox.lightening import LighteningEmulator
from sync.sandbox.serve import VENDORS, emulator_for, free_port
from sync.store.repo import Store
from tests.engine_helpers import World
from tests.helpers import REPO, settings_from


def test_redact_hides_credentials_in_text() -> None:
    text = 'Authorization: Bearer abc123 password=hunter2 {"access_token": "tok"}'
    out = redact(text)
    assert "abc123" not in out and "hunter2" not in out and '"tok"' not in out


def test_a_run_leaks_no_token(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    token = "s3cret-token-value-xyz"
    emu = LighteningEmulator(token=token)
    emu.seed_person({"email": "ada@example.org", "first_name": "Ada", "last_name": "Lovelace"})
    table = emu.system_table("http://lightening.test")
    raw = {
        "state": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
        "systems": {"light": table, "mem": {"connector": "memory", "store": "secrets-test"}},
    }
    env = {table["auth"]["token_env"]: token}
    settings = settings_from(raw, env=env)
    store = Store(settings.state_url)
    handler = logging.getLogger()
    handler.addFilter(RedactingFilter())
    caplog.set_level(logging.DEBUG)
    engine = Engine(settings, store, transports={"light": emu.transport()})
    report = asyncio.run(engine.run())
    assert report.system("mem").created == 1
    # a failing request logs too: make one with a bad token
    bad = settings_from(raw, env={table["auth"]["token_env"]: token + "-wrong"})
    asyncio.run(Engine(bad, store, transports={"light": emu.transport()}).run())
    store.dispose()
    assert token not in caplog.text
    assert token not in json.dumps(report.to_dict(), default=str)
    for path in tmp_path.iterdir():
        assert token.encode() not in path.read_bytes(), path.name
    assert any(token in r.headers.get("authorization", "") for r in emu.log)


# --- every auth kind, good and refused credentials, text and JSON logs ------------------------


class Recording(httpx.AsyncBaseTransport):
    """An emulator's transport that keeps every answer body (to learn the tokens it issued)."""

    def __init__(self, emu: Emulator) -> None:
        self.inner = emu.transport()
        self.bodies: list[bytes] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        body = await response.aread()
        self.bodies.append(body)
        return httpx.Response(response.status_code, headers=response.headers, content=body)


def issued_tokens(bodies: list[bytes]) -> set[str]:
    out = set()
    for body in bodies:
        try:
            answer = json.loads(body)
        except ValueError:
            continue
        if isinstance(answer, dict):
            out |= {str(answer[k]) for k in ("access_token", "refresh_token") if k in answer}
    return out


@contextlib.contextmanager
def captured_logs(fmt: str) -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    buffer = io.StringIO()
    setup(fmt, logging.DEBUG)
    root.handlers[0].setStream(buffer)  # type: ignore[attr-defined]
    try:
        yield buffer
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.parametrize("vendor", VENDORS)
def test_no_secret_of_any_auth_kind_leaks(tmp_path: Path, vendor: str, fmt: str) -> None:
    emu = emulator_for(vendor)
    good: dict[str, str] = dict(emu.DEFAULT_ENV)  # type: ignore[attr-defined]
    bad = {k: v + "-wrong" for k, v in good.items()}
    if vendor != "onecontact":
        emu.seed_person({"email": "ada@example.org", "first_name": "Ada", "last_name": "Lovelace"})
    table = {**emu.system_table(f"http://{vendor}.test"), "retries": 0}  # type: ignore[attr-defined]
    memory.STORES[f"secrets-{vendor}-{fmt}"] = {
        "s0": {
            "id": "s0",
            "email": "bob@example.org",
            "first_name": "Bob",
            "last_name": "B",
            "phone": "+1 202 555 0101",
        },
    }
    raw = {
        "state": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
        "systems": {
            vendor: table,
            "mem": {"connector": "memory", "store": f"secrets-{vendor}-{fmt}"},
        },
    }
    store = Store(settings_from(raw, REPO, good).state_url)
    transport = Recording(emu)
    console = io.StringIO()
    with captured_logs(fmt) as logs:
        reports = []
        for env in (good, bad):
            mem = memory.STORES[f"secrets-{vendor}-{fmt}"]
            mem[f"s{len(mem) + 1}"] = {
                "id": f"s{len(mem) + 1}",
                "email": f"p{len(mem)}@example.org",
                "last_name": "P",
                "phone": f"+1 202 555 015{len(mem)}",
            }
            engine = Engine(settings_from(raw, REPO, env), store, transports={vendor: transport})
            report = asyncio.run(engine.run())
            print_run(report, Console(file=console, width=200))
            reports.append(report)
    store.dispose()
    ok, refused = reports
    assert ok.exit_code == 0, ok.to_dict()
    reasons = [f["reason"] for r in refused.systems.values() for f in r.failed]
    reasons += [r.failure for r in refused.systems.values() if r.failure]  # the system's own
    assert any("credentials" in r or "401" in r or "refused" in r for r in reasons), reasons

    secrets = {*good.values(), *bad.values(), *issued_tokens(transport.bodies)}
    for env in (good, bad):
        user = next((v for k, v in env.items() if k.endswith("_USERNAME")), None)
        pw = next((v for k, v in env.items() if k.endswith("_PASSWORD")), None)
        if user and pw:
            secrets.add(base64.b64encode(f"{user}:{pw}".encode()).decode())
    sent = " ".join(r.headers.get("authorization", "") for r in emu.log)
    assert any(s in sent for s in secrets), "the test must see the credentials in use"
    if vendor == "serviceops":
        assert len(issued_tokens(transport.bodies)) >= 2  # an access and a refresh token
    text = logs.getvalue()
    assert text, "something was logged"
    if fmt == "json":
        assert all(json.loads(line)["message"] is not None for line in text.splitlines())
    places = {
        "logs": text,
        "console": console.getvalue(),
        "reports": json.dumps([r.to_dict() for r in reports], default=str),
    }
    files = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    for secret in secrets:
        for where, content in places.items():
            assert secret not in content, f"{secret!r} in {where}"
        for name, data in files.items():
            assert secret.encode() not in data, f"{secret!r} in {name}"


def test_the_state_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    w = World(tmp_path, ["crm", "desk"])
    w.add("crm", email="ada@example.org")
    w.sync()
    files = [p for p in tmp_path.iterdir() if p.name.startswith("state")]
    assert files
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


# --- TLS: verified by default, a CA bundle, and never switched off silently -------------------


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Emulator]]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = self_signed(folder)
    emu = LighteningEmulator()
    emu.seed_person({"email": "ada@example.org", "first_name": "Ada", "last_name": "Lovelace"})
    port = free_port()
    config = uvicorn.Config(
        emu,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "TLS emulator did not start"
        time.sleep(0.02)
    try:
        yield f"https://127.0.0.1:{port}", cert, emu
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def tls_run(tmp_path: Path, url: str, **extra: Any) -> Any:
    table = {**LighteningEmulator().system_table(url), "retries": 0, **extra}
    raw = {
        "state": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
        "systems": {
            "light": table,
            "mem": {"connector": "memory", "store": f"tls-{tmp_path.name}"},
        },
    }
    settings = settings_from(raw, REPO, dict(LighteningEmulator.DEFAULT_ENV))
    store = Store(settings.state_url)
    try:
        return asyncio.run(Engine(settings, store).run())
    finally:
        store.dispose()


def test_tls_is_verified_by_default(tmp_path: Path, tls_server: Any) -> None:
    url, _, _ = tls_server
    report = tls_run(tmp_path, url)
    light = report.system("light")
    assert light.failed == []  # a system failure, said once for the system
    assert "TLS certificate is not trusted" in (light.failure or "")
    assert report.system("mem").created == 0


def test_a_ca_bundle_trusts_a_private_ca(tmp_path: Path, tls_server: Any) -> None:
    url, cert, _ = tls_server
    report = tls_run(tmp_path, url, ca_bundle=str(cert))
    assert report.exit_code == 0 and report.system("mem").created == 1


def test_switching_tls_verification_off_is_never_silent(
    tmp_path: Path, tls_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    url, _, _ = tls_server
    caplog.set_level(logging.WARNING)
    report = tls_run(tmp_path, url, verify_tls=False)
    assert report.exit_code == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("TLS verification is OFF for system light" in w for w in warnings), warnings


def test_a_missing_ca_bundle_is_a_config_error(tmp_path: Path) -> None:
    table = {**LighteningEmulator().system_table("https://x"), "ca_bundle": "nope.pem"}
    with pytest.raises(ConfigError, match=r"systems\.light\.ca_bundle: no such file"):
        settings_from({"systems": {"light": table}}, REPO, dict(LighteningEmulator.DEFAULT_ENV))
