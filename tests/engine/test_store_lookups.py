"""The store's lookups by many values (a listing page's vendor IDs, an incremental run's
emails) answer for every value on both stores: one array parameter on PostgreSQL, IN-lists
under SQLite's parameter limit (sync/store/convert.py `among`)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import insert

from sync.store.convert import CONTACTS, LINKS
from sync.store.repo import Store
from tests import engine_helpers


def test_link_hashes_and_the_view_answer_for_every_value(backend: str, tmp_path: object) -> None:
    url = engine_helpers.STATE_URL if backend == "postgres" else None
    store = Store(url or f"sqlite:///{tmp_path}/s.db")
    at = datetime.now(UTC)
    n = 2_500  # more than one IN-list of 900
    ids = [str(uuid.uuid4()) for _ in range(n)]
    try:
        with store.engine.begin() as db:
            db.execute(
                insert(CONTACTS),
                [
                    {
                        "id": cid,
                        "email": f"p{i}@example.org",
                        "base": {},
                        "dirty": False,
                        "deleted_at": None,
                        "created_at": at,
                        "updated_at": at,
                    }
                    for i, cid in enumerate(ids)
                ],
            )
            db.execute(
                insert(LINKS),
                [
                    {
                        "contact_id": cid,
                        "system": "crm",
                        "vendor_id": f"v{i}",
                        "snapshot": {},
                        "snapshot_hash": f"h{i}",
                        "raw_hash": f"r{i}",
                        "vendor_updated": None,
                        "gone": i % 7 == 0,
                        "updated_at": at,
                    }
                    for i, cid in enumerate(ids)
                ],
            )
        asked = [f"v{i}" for i in range(n)] + ["v-missing"]
        with store.run(None) as run:
            known = run.link_hashes("crm", asked)
            view = run.view(
                everything=False,
                by_system={"crm": [f"v{i}" for i in range(0, n, 2)]},
                emails={f"p{i}@example.org" for i in range(1, n, 2)},
            )
        assert len(known) == n and "v-missing" not in known
        assert known["v3"][1:] == ("h3", "r3")
        assert known["v7"][1:] == ("", None)  # gone: no hash to compare with
        assert len(view.contacts) == n  # half by vendor ID, half by email
    finally:
        store.dispose()
