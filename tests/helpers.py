"""Shared test helpers: settings from plain dicts, repository paths."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from sync.config import Settings, SystemSettings, build_settings
from tests import pgcluster

REPO = Path(__file__).resolve().parent.parent
# copies of the vendor documents (tests/fixtures/seeds/README.md names each)
FIXTURES = REPO / "tests" / "fixtures"
SEEDS = FIXTURES / "seeds"
SPECS = FIXTURES / "specs"


def settings_from(
    raw: dict[str, Any], root: Path = REPO, env: dict[str, str] | None = None
) -> Settings:
    return build_settings(raw, "(test config)", root, env or {})


def system_settings(
    name: str, table: dict[str, Any], env: dict[str, str] | None = None, root: Path = REPO
) -> SystemSettings:
    return settings_from({"systems": {name: table}}, root, env).systems[name]


def wait_for(
    what: str,
    check: Callable[[], Any],
    timeout: float = 60,
    *,
    ignoring: tuple[type[Exception], ...] = (),
    why: Callable[[], str] | None = None,
) -> Any:
    """The first truthy answer of `check`, asked five times a second (an exception in
    `ignoring` counts as no answer yet); AssertionError naming `what` after `timeout`
    seconds, with `why()` (the processes' logs, say) below it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
        except ignoring:
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}" + (f"\n{why()}" if why else ""))


def needs_postgres(installed: bool) -> None:
    """Skip a test where PostgreSQL is not installed; fail it where CI says it must be."""
    if not installed:
        if os.environ.get("CONTACTSYNC_REQUIRE_POSTGRES"):
            pytest.fail("CONTACTSYNC_REQUIRE_POSTGRES is set but PostgreSQL is not installed")
        pytest.skip("PostgreSQL is not installed")


@contextmanager
def own_pg_server(password: str | None = None) -> Iterator[pgcluster.Server]:
    """A PostgreSQL server of the test's own (one with a password, one to stop), removed after."""
    needs_postgres(bool(pgcluster._bin("initdb") and pgcluster._bin("pg_ctl")))
    server = pgcluster.Server(password=password)
    try:
        yield server
    finally:
        server.remove()


TWO_CSV = """
[systems.crm]
connector = "csv"
path = "crm.csv"
[systems.desk]
connector = "csv"
path = "desk.csv"
"""


def two_csv(folder: Path, crm: str, desk: str, head: str = "") -> Path:
    """A sync.toml over crm.csv and desk.csv in `folder`, holding these rows; its path.
    `head` goes before the systems ([state], [sync] tables)."""
    (folder / "sync.toml").write_text(head + TWO_CSV)
    (folder / "crm.csv").write_text(crm)
    (folder / "desk.csv").write_text(desk)
    return folder / "sync.toml"


def self_signed(
    folder: Path, days: int = 1, names: tuple[str, str] = ("cert.pem", "key.pem")
) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, valid `days`, and its key,
    written into `folder` under `names`; the certificate doubles as the CA bundle that
    trusts it (Xandikos wants a year: it renews any expiring within 30 days)."""
    cert, key = certificate(days)
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / names[0], folder / names[1]
    cert_path.write_bytes(cert)
    key_path.write_bytes(key)
    return cert_path, key_path


def ca_pem() -> bytes:
    """A self-signed certificate in PEM, for a `ca_bundle` that TLS can load."""
    return certificate()[0]


def certificate(days: int = 1) -> tuple[bytes, bytes]:
    """A self-signed CA certificate for 127.0.0.1 and localhost, and its key, both PEM."""
    import ipaddress
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    san = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), pem
