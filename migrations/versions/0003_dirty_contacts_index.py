"""a partial index on dirty contacts: every incremental run loads them

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_contacts_dirty",
        "contacts",
        ["dirty"],
        postgresql_where=sa.text("dirty"),
        sqlite_where=sa.text("dirty = 1"),
    )


def downgrade() -> None:
    op.drop_index("ix_contacts_dirty", table_name="contacts")
