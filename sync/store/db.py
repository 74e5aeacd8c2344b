"""Opening the state store: engine, migrations on start, owner-only SQLite files, and the one
StoreError that every way of failing at it becomes (naming state.url, its password masked)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from sync.errors import StoreError
from sync.resources import shipped
from sync.store import codec

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = shipped("migrations")
CONNECT_TIMEOUT = 10  # seconds for a PostgreSQL server to answer a new connection
MIGRATION_LOCK = 0x636F6E74  # an arbitrary advisory-lock key of our own ("cont")


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def shown(url: str | URL) -> str:
    """The URL as any message may show it: the password as ***."""
    return make_url(url).render_as_string(hide_password=True)


def make_engine(url: str | URL) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if db and db != ":memory:":
            _sqlite_file(parsed, Path(db))
        # a locked database is waited for this long (`?timeout=` in the URL says otherwise)
        args = {} if "timeout" in parsed.query else {"timeout": 30}
        engine = create_engine(parsed, connect_args=args, **codec.JSON)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    # a server that never answers (a firewall dropping packets) is given up on, not waited
    # for forever, which is libpq's default (`?connect_timeout=` in the URL says otherwise)
    args = {} if "connect_timeout" in parsed.query else {"connect_timeout": CONNECT_TIMEOUT}
    return create_engine(parsed, pool_pre_ping=True, connect_args=args, **codec.JSON)


def _sqlite_file(url: URL, path: Path) -> None:
    """Create the state file (and its folder), readable by its owner only: it holds people's
    contact data. A path that cannot be a database file is a StoreError, not an OSError."""
    try:
        if path.is_dir():
            raise StoreError(f"state.url {shown(url)}: {path} is a folder, not a database file")
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
    except OSError as exc:
        why = exc.strerror or str(exc)
        where = exc.filename or path
        raise StoreError(f"state.url {shown(url)}: cannot create {where}: {why}") from None


def store_error(exc: BaseException, url: str | URL) -> StoreError:
    """A database failure as the one line a person reads: state.url and the cause."""
    if isinstance(exc, StoreError):
        return exc
    return StoreError(f"state.url {shown(url)}: {_cause(exc, make_url(url))}")


def _cause(exc: BaseException, url: URL) -> str:
    orig = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    raw = str(orig).strip() or type(orig).__name__
    lines = [line.strip() for line in raw.splitlines() if line.strip()]
    first = lines[0] if lines else raw
    lower = raw.lower()
    where = f"{url.host or 'localhost'}:{url.port or 5432}"
    if "connection refused" in lower:
        return f"cannot connect to {where}: connection refused (is the server running there?)"
    if "no password supplied" in lower or "fe_sendauth" in lower:
        return "the server asks for a password: set [state] password_env or password_file"
    if "password authentication failed" in lower:
        return f'password authentication failed for user "{url.username}"'
    if "does not exist" in lower and "database" in lower:
        return f'database "{url.database}" does not exist on {where}'
    if "readonly database" in lower or "read-only" in lower:
        return "the database file is read-only for this user"
    if "database is locked" in lower:
        return "the database file is locked by another process (timed out waiting)"
    if "unable to open database file" in lower:
        if url.database and _read_only(Path(url.database)):
            return "the database file or its folder is read-only for this user"
        return "cannot open the database file (its folder is missing or not writable)"
    if "timeout" in lower or "timed out" in lower:
        return f"no answer from {where} (timed out)"
    # psycopg prefixes 'connection failed: connection to server at ... failed: <why>'
    return first.rsplit(" failed: ", 1)[-1] if " failed: " in first else first


def _read_only(path: Path) -> bool:
    """SQLite in WAL mode writes -wal and -shm files beside the database: both must do."""
    try:
        return path.exists() and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK))
    except OSError:
        return False


@contextmanager
def translated(url: str | URL) -> Iterator[None]:
    """Database errors inside become StoreError naming this URL."""
    try:
        yield
    except SQLAlchemyError as exc:
        raise store_error(exc, url) from None


_REVISION = re.compile(r"^(down_revision|revision)\s*=\s*['\"]?([\w]+)['\"]?", re.MULTILINE)


@cache
def head_revision() -> str:
    """The newest migration, read from the files' `revision`/`down_revision` lines (importing
    Alembic costs a tenth of a second on every start; this reads four small files)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        found = {m.group(1): m.group(2) for m in _REVISION.finditer(source)}
        if "revision" in found:
            revisions.add(found["revision"])
            parents.add(found.get("down_revision", "None"))
    heads = revisions - parents
    if not revisions:  # a wheel built without them: the installation is broken, not the database
        raise StoreError(
            f"the database migrations are missing from this installation ({MIGRATIONS} holds "
            "none): reinstall contactsync"
        )
    if len(heads) != 1:
        raise StoreError(
            f"the database migrations in {MIGRATIONS} have {len(heads)} newest revisions "
            f"({', '.join(sorted(heads)) or 'none'}), not one: reinstall contactsync"
        )
    return heads.pop()


def current_revision(conn: Connection) -> str | None:
    """The revision the database is at (None: never migrated)."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration (run on every start). A database already
    at the head is recognised by one query, without loading Alembic."""
    with engine.connect() as conn:
        if current_revision(conn) == head_revision():
            return
    from alembic import command

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # replicas starting together: one migrates, the others wait and find it done
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
