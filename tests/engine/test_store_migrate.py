"""Migrations on every start: a store behind the head is upgraded; one at the head is
recognised without loading Alembic's machinery."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from sync.store import db
from sync.store.repo import Store


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}"


def _revision(store: Store) -> str | None:
    with store.engine.connect() as conn:
        return db.current_revision(conn)


def test_head_read_from_the_files_is_alembics_head() -> None:
    script = ScriptDirectory.from_config(db.alembic_config("sqlite://"))
    assert db.head_revision() == script.get_current_head()


def test_a_fresh_store_is_migrated_to_the_head(tmp_path: Path) -> None:
    store = Store(_url(tmp_path))
    try:
        assert _revision(store) == db.head_revision()
        assert {"contacts", "links", "journal"} <= set(inspect(store.engine).get_table_names())
    finally:
        store.dispose()


def test_a_store_behind_the_head_is_upgraded_on_start(tmp_path: Path) -> None:
    url = _url(tmp_path)
    Store(url).dispose()
    command.downgrade(db.alembic_config(url), "0002")
    store = Store(url)
    try:
        assert _revision(store) == db.head_revision()
        indexes = {ix["name"] for ix in inspect(store.engine).get_indexes("contacts")}
        assert "ix_contacts_dirty" in indexes  # 0003's index is back
    finally:
        store.dispose()


def test_a_store_at_the_head_does_not_run_alembic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _url(tmp_path)
    Store(url).dispose()
    calls: list[str] = []
    monkeypatch.setattr(command, "upgrade", lambda _cfg, rev: calls.append(rev))
    Store(url).dispose()
    assert calls == []
    # and the check is not blind: behind the head, Alembic is called
    with Store(url, migrate=False).engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0002'")
    Store(url).dispose()
    assert calls == ["head"]


def test_the_migrations_build_the_models_schema(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from sync.store.models import Base

    store = Store(_url(tmp_path))
    try:
        with store.engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(ctx, Base.metadata) == []
    finally:
        store.dispose()
