"""The mapping database: typed SQLAlchemy models. Alembic owns the schema (migrations/)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from sync.store.masked import MaskedJSON, MaskedText

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, datetime: DateTime(timezone=True)}


class Contact(Base):
    """One real person. `base` holds the agreed canonical values after the last run."""

    __tablename__ = "contacts"
    # every incremental run asks for the dirty few among all contacts. The index is partial
    # (WHERE dirty) in migration 0003; naming that predicate here per dialect would import
    # the PostgreSQL dialect into every SQLite start-up (35 ms), and the schema is Alembic's
    __table_args__ = (Index("ix_contacts_dirty", "dirty"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    base: Mapped[dict[str, Any]]
    dirty: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Link(Base):
    """Contact <-> (system, vendor ID), with the snapshot of what the system holds.

    `gone` marks a record the system deleted while its deletes are ignored: the contact lives
    on elsewhere, and is not created there again."""

    __tablename__ = "links"
    __table_args__ = (
        UniqueConstraint("system", "vendor_id", name="uq_links_system_vendor"),
        UniqueConstraint("contact_id", "system", name="uq_links_contact_system"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    system: Mapped[str] = mapped_column(String(64))
    vendor_id: Mapped[str] = mapped_column(String(255))
    snapshot: Mapped[dict[str, Any]]
    snapshot_hash: Mapped[str] = mapped_column(String(64))
    # hash of the vendor's raw record that normalises to `snapshot` (None: not known, e.g.
    # after a write): a full scan skips a record with this hash without normalising it
    raw_hash: Mapped[str | None] = mapped_column(String(64))
    vendor_updated: Mapped[datetime | None]
    gone: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime]


class Cursor(Base):
    """Where each system's incremental listing resumes, and its health."""

    __tablename__ = "cursors"
    system: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str | None] = mapped_column(Text)
    last_full_scan: Mapped[datetime | None]
    last_success: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(MaskedText)
    updated_at: Mapped[datetime]


class Conflict(Base):
    """One field of one contact changed differently in two systems since the base.
    `status` is a sync.states.ConflictStatus."""

    __tablename__ = "conflicts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    field: Mapped[str] = mapped_column(String(64))
    base_value: Mapped[Any] = mapped_column(JSON, nullable=True)
    values: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), index=True)
    resolution: Mapped[Any] = mapped_column(JSON, nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(128))
    run_id: Mapped[int | None]
    created_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]


class Run(Base):
    """One run; `status` is a sync.states.RunStatus, `summary` its report."""

    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16))
    summary: Mapped[dict[str, Any]] = mapped_column(MaskedJSON)
    holder: Mapped[str | None] = mapped_column(String(128))


class JournalEntry(Base):
    """The journal: every planned action, written before the first request goes out.
    `state` is a sync.states.JournalState (its docstring says what each means)."""

    __tablename__ = "journal"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    system: Mapped[str] = mapped_column(String(64))
    contact_id: Mapped[str] = mapped_column(String(36))
    email: Mapped[str | None] = mapped_column(String(320))
    kind: Mapped[str] = mapped_column(String(16))
    vendor_id: Mapped[str | None] = mapped_column(String(255))
    fields: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(16), index=True)
    error: Mapped[str | None] = mapped_column(MaskedText)
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class FieldChange(Base):
    """Why a contact's agreed value is what it is: one row per field whose base value a run
    changed, with the systems it came from (or "review" for a person's choice); fields first
    seen together from one source share a row (FIRST_SEEN)."""

    __tablename__ = "field_history"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    contact_id: Mapped[str] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    run_id: Mapped[int | None]
    field: Mapped[str] = mapped_column(String(64))
    old_value: Mapped[Any] = mapped_column(JSON, nullable=True)
    new_value: Mapped[Any] = mapped_column(JSON, nullable=True)
    source: Mapped[str] = mapped_column(String(255))
    how: Mapped[str] = mapped_column(String(255))
    conflict_id: Mapped[int | None]
    at: Mapped[datetime]


class Lease(Base):
    """Which replica may run the sync; `token` fences commits of a holder that lost it."""

    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    token: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime]
