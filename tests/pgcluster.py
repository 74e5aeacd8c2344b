"""A throwaway PostgreSQL cluster for tests and benchmarks: initdb + pg_ctl on a free port.

PostgreSQL refuses to run as root, so under root the server runs as the `postgres` user in a
folder it owns. `CONTACTSYNC_TEST_PG_URL` points the tests at an existing server instead.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

_databases = itertools.count()


def _bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def available() -> bool:
    return bool(os.environ.get("CONTACTSYNC_TEST_PG_URL")) or bool(
        _bin("initdb") and _bin("pg_ctl")
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_owner(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


class Server:
    """A throwaway server that a test may stop and start again (the store going away).
    With `password`, connections must give it (scram-sha-256) as the `postgres` user."""

    def __init__(self, password: str | None = None) -> None:
        initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
        if not (initdb and pg_ctl):
            raise RuntimeError("PostgreSQL (initdb, pg_ctl) is not installed")
        self.pg_ctl = pg_ctl
        self.root = Path(tempfile.mkdtemp(prefix="contactsync-pg-"))
        self.data = self.root / "data"
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self.port = _free_port()
        auth = ["-A", "trust"]
        if password is not None:
            pwfile = self.root / "pw"
            pwfile.write_text(password)
            if os.geteuid() == 0:
                shutil.chown(pwfile, "postgres", "postgres")
            auth = ["-A", "scram-sha-256", f"--pwfile={pwfile}"]
        subprocess.run(_as_owner([initdb, "-D", str(self.data), *auth, "-U", "postgres"]), **_QUIET)  # type: ignore[call-overload]
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self.start()

    def start(self) -> None:
        opts = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c max_connections=200"
        )
        log = str(self.root / "log")
        cmd = [self.pg_ctl, "-D", str(self.data), "-o", opts, "-l", log, "-w", "start"]
        subprocess.run(_as_owner(cmd), **_QUIET)  # type: ignore[call-overload]

    def stop(self) -> None:
        subprocess.run(
            _as_owner([self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop"]),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


_QUIET = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE, "check": True}


@contextlib.contextmanager
def cluster() -> Iterator[str]:
    """Yield the URL of a server's `postgres` database; stop and remove the server after."""
    existing = os.environ.get("CONTACTSYNC_TEST_PG_URL")
    if existing:
        yield existing
        return
    server = Server()
    try:
        yield server.url
    finally:
        server.remove()


def fresh_database(server_url: str) -> str:
    """Create an empty database on the server and return its URL."""
    name = f"cs_{os.getpid()}_{next(_databases)}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
            c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return server_url.rsplit("/", 1)[0] + f"/{name}"
