"""Shared test helpers: settings from plain dicts, repository paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sync.config import Settings, SystemSettings, build_settings

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


def ca_pem() -> bytes:
    """A self-signed certificate in PEM, for a `ca_bundle` that TLS can load."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "contactsync test CA")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)
