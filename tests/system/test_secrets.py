"""No secret reaches the logs, the journal, the report or the database."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import logging
import os
import stat
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
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
from tests.helpers import REPO, self_signed, settings_from


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


# --- a vendor that quotes the credential back ----------------------------------------------


class QuotingLightening(LighteningEmulator):
    """Lightening refusing a token by quoting it: `Invalid credentials: 'Bearer ...'`."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            auth = dict(scope["headers"]).get(b"authorization", b"").decode()
            if auth != f"Bearer {self.token}":
                body = json.dumps({"error": f"Invalid credentials: {auth!r}", "result": False})
                headers = [(b"content-type", b"application/json")]
                await send({"type": "http.response.start", "status": 401, "headers": headers})
                await send({"type": "http.response.body", "body": body.encode()})
                return
        await super().__call__(scope, receive, send)


def test_a_token_the_vendor_quotes_back_is_masked_everywhere(tmp_path: Path) -> None:
    """Through the CLI: the console, JSON logs at debug level, `status` (table and JSON), the
    database files and the review page never show the configured token, although the
    vendor's refusal quotes it in words no log pattern knows."""
    import subprocess
    import sys

    from sync.config import load_config
    from sync.sandbox.serve import serve
    from sync.web import create_app

    secret = "wrong-8f3a1c-token-the-user-typed"
    served = serve("lightening", QuotingLightening())
    try:
        table = {**LighteningEmulator().system_table(served.url), "retries": 0}
        table["mapping"] = str(REPO / table["mapping"])
        (tmp_path / "crm.csv").write_text("id,email\n1,ada@example.org\n")
        raw = {
            "state": {"url": "sqlite:///state.db"},
            "review": {"token_env": "REVIEW_TOKEN"},
            "systems": {"light": table, "crm": {"connector": "csv", "path": "crm.csv"}},
        }
        (tmp_path / "sync.toml").write_text(_toml(raw))
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("CONTACTSYNC")},
            "LIGHTENING_TOKEN": secret,
            "REVIEW_TOKEN": "review-token-4d1e9b",
        }

        def cli(*args: str) -> str:
            done = subprocess.run(
                [sys.executable, "-m", "sync", "--config", "sync.toml", *args],
                capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60,
            )  # fmt: skip
            assert "Traceback" not in done.stderr, done.stderr
            return done.stdout + done.stderr

        seen = {
            "once": cli("--log-format", "json", "-v", "once"),
            "once --format json": cli("--log-format", "json", "once", "--format", "json"),
            "status": cli("status"),
            "status --format json": cli("status", "--format", "json"),
        }
        assert "Invalid credentials" in seen["once"], seen["once"]  # the vendor's own words
        assert "[redacted]" in seen["once"] and "[redacted]" in seen["status --format json"]
        for line in seen["once"].splitlines():
            if line.startswith("{"):
                json.loads(line)  # JSON logs stay JSON
        for where, text in seen.items():
            assert secret not in text, f"the token in the output of {where}"
        for path in tmp_path.iterdir():
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path.name

        settings = load_config(tmp_path / "sync.toml", env=env)
        store = Store(settings.state_url)
        try:
            pages = asyncio.run(_pages(create_app(settings, store, env=env)))
        finally:
            store.dispose()
        assert "[redacted]" in pages
        assert secret not in pages and "review-token-4d1e9b" not in pages
    finally:
        served.stop()


async def _pages(app: Any) -> str:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://review") as client:
        texts = [(await client.get(p)).text for p in ("/", "/problems", "/runs")]
    return "\n".join(texts)


def _toml(raw: dict[str, Any]) -> str:
    from tests.system.test_bad_input import toml

    return toml(raw)


# --- each door, on its own ---------------------------------------------------------------------


@pytest.fixture
def secret() -> str:
    from sync import masking

    value = f"door-secret-{os.urandom(6).hex()}"
    masking.add(value)
    return value


def test_the_log_handler_masks_messages_and_tracebacks(secret: str) -> None:
    for fmt in ("text", "json"):
        with captured_logs(fmt) as logs:
            log = logging.getLogger("sync.test")
            log.warning("the vendor said %s", f"nope: {secret!r}")
            try:
                raise ValueError(f"quoted {secret}")
            except ValueError:
                log.exception("failed")
        assert secret not in logs.getvalue() and "[redacted]" in logs.getvalue(), fmt


def test_errors_and_reports_mask_what_they_quote(secret: str) -> None:
    from sync.errors import AuthError, ConfigError
    from sync.report import RunReport

    assert secret not in str(AuthError(f"credentials refused (Invalid: {secret})"))
    assert secret not in ConfigError(f"bad {secret}").render()
    report = RunReport()
    report.system("light").fail(f"refused: Bearer {secret}")
    out = io.StringIO()
    print_run(report, Console(file=out, width=200))
    assert secret not in json.dumps(report.to_dict()) + out.getvalue()


def test_the_store_masks_error_text_and_run_summaries(tmp_path: Path, secret: str) -> None:
    from sync.store.models import Cursor, Run

    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        with store.session() as s:
            stamp = datetime.now(UTC)
            s.add(Cursor(system="light", last_error=f"401 {secret}", updated_at=stamp))
            s.add(Run(started_at=stamp, status="ok", summary={"failed": [{"why": secret}]}))
            s.commit()
    finally:
        store.dispose()
    for path in tmp_path.iterdir():
        assert secret.encode() not in path.read_bytes(), path.name


def test_the_command_line_masks_text_stored_before_masking(tmp_path: Path, secret: str) -> None:
    import sqlite3

    from sync.cli import main

    (tmp_path / "sync.toml").write_text(
        f'[state]\nurl = "sqlite:///{tmp_path / "state.db"}"\n'
        '[systems.light]\nconnector = "memory"\n'
    )
    Store(f"sqlite:///{tmp_path / 'state.db'}").dispose()
    with sqlite3.connect(tmp_path / "state.db") as db:  # as an older contactsync wrote it
        db.execute(
            "INSERT INTO cursors (system, last_error, updated_at) VALUES (?, ?, ?)",
            ("light", f"refused {secret}", "2024-01-01 00:00:00"),
        )
    for fmt in ("table", "json"):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            main(["--config", str(tmp_path / "sync.toml"), "status", "--format", fmt])
        assert "[redacted]" in out.getvalue() and secret not in out.getvalue(), fmt


def test_the_review_page_masks_what_it_shows(secret: str) -> None:
    from sync.web.templating import environment

    page = environment().from_string("<p>{{ why }}</p>").render(why=f"refused {secret}")
    assert secret not in page and "[redacted]" in page


def test_configured_secrets_and_their_forms_are_masked(tmp_path: Path) -> None:
    from sync.masking import mask

    env = {"U": "alice", "P": "pa ss/wörd-91", "T": "tok-3e9a77"}
    settings_from(
        {
            "systems": {
                "a": {"connector": "memory", "auth": {"kind": "basic", "username_env": "U",
                                                      "password_env": "P"}},
                "b": {"connector": "memory", "auth": {"kind": "bearer", "token_env": "T"}},
            }
        },
        env=env,
    )  # fmt: skip
    pair = base64.b64encode(b"alice:pa ss/w\xc3\xb6rd-91").decode()
    text = f"{env['P']} pa+ss%2Fw%C3%B6rd-91 {pair} Bearer {env['T']} alice"
    assert mask(text) == "[redacted] [redacted] [redacted] Bearer [redacted] alice"


async def test_healthz_masks_the_error_it_reports(secret: str) -> None:
    from sync.metrics import Metrics
    from sync.monitor import Health, app

    health = Health(unhealthy_after=1)
    health.failed(f"ConnectError: https://crm.example/?api_key={secret}")
    transport = httpx.ASGITransport(app=app(health, Metrics()))
    async with httpx.AsyncClient(transport=transport, base_url="http://monitor") as client:
        answer = await client.get("/healthz")
    assert answer.status_code == 503 and "[redacted]" in answer.text
    assert secret not in answer.text
