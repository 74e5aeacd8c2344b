"""The store's executemany straight to the driver (sync/store/bulk.py) writes what
SQLAlchemy's own would: JSON, datetimes, booleans and NULLs read back alike on both stores."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from sync.store.bulk import insert_rows, update_grouped, update_rows
from sync.store.convert import CONTACTS, LINKS, aware
from tests.engine_helpers import World

pytestmark = pytest.mark.usefixtures("backend")


def test_rows_written_in_bulk_read_back_as_written(tmp_path: Path) -> None:
    store = World(tmp_path, ["crm"]).store
    at = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    contacts = [
        {
            "id": f"c{i}",
            "email": None if i == 1 else f"p{i}@example.org",
            "base": {"email": f"p{i}@example.org", "first_name": "Zoë", "n": i, "ok": i % 2 == 0},
            "dirty": i == 1,
            "deleted_at": at if i == 2 else None,
            "created_at": at,
            "updated_at": at,
        }
        for i in range(3)
    ]
    links = [
        {
            "contact_id": f"c{i}",
            "system": "crm",
            "vendor_id": f"v{i}",
            "snapshot": {"email": f"p{i}@example.org"},
            "snapshot_hash": "h",
            "raw_hash": None,
            "vendor_updated": None,
            "gone": False,
            "updated_at": at,
        }
        for i in range(3)
    ]
    later = datetime(2025, 1, 1, tzinfo=UTC)
    with store.session() as s:
        conn = s.connection()
        insert_rows(conn, CONTACTS, contacts)
        insert_rows(conn, LINKS, links)
        update_rows(conn, CONTACTS, [{"id": "c0", "dirty": True, "updated_at": later}])
        ids = {r.vendor_id: r.id for r in conn.execute(select(LINKS.c.id, LINKS.c.vendor_id))}
        update_grouped(
            conn,
            LINKS,
            [
                {"id": ids["v0"], "gone": True},
                {"id": ids["v1"], "snapshot": {"title": "T"}, "raw_hash": "r"},
            ],
        )
        s.commit()
    with store.session() as s:
        conn = s.connection()
        got = {r.id: r for r in conn.execute(select(CONTACTS))}
        linked = {r.vendor_id: r for r in conn.execute(select(LINKS))}
    assert got["c0"].base == {"email": "p0@example.org", "first_name": "Zoë", "n": 0, "ok": True}
    assert got["c0"].email == "p0@example.org" and got["c1"].email is None
    assert [got[c].dirty for c in ("c0", "c1", "c2")] == [True, True, False]
    assert aware(got["c2"].deleted_at) == at and got["c1"].deleted_at is None
    assert aware(got["c0"].updated_at) == later and aware(got["c1"].updated_at) == at
    assert linked["v0"].gone is True and linked["v0"].snapshot == {"email": "p0@example.org"}
    assert linked["v1"].snapshot == {"title": "T"} and linked["v1"].raw_hash == "r"
    assert linked["v2"].gone is False and linked["v2"].raw_hash is None
    store.dispose()
