"""A CSV file as a system: imports, exports, and a real system with no vendor.

UTF-8 with a header row. Column `id` holds each row's ID (contactsync assigns `csv-<n>` to rows
it creates); without a mapping the other columns are canonical field names; an optional
`updated_at` column (ISO 8601) feeds the `newest` policy; unknown columns are kept as they
are. Every write rewrites the file atomically (temp file, fsync, rename): a crash leaves the
old file or the new one, never half of one.
"""

from __future__ import annotations

import asyncio
import csv
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from sync.connectors.base import Connector, Listing, VendorRecord, Written
from sync.errors import NotFound, RecordError
from sync.paths import get_path


class CsvOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    path: str
    stamp_updates: bool = True


class CsvConnector(Connector):
    kind = "csv"
    Options: ClassVar[type[BaseModel]] = CsvOptions
    can_list = can_create = can_update = can_delete = can_find_by_email = True

    def __init__(self, settings: Any, http: Any = None) -> None:
        super().__init__(settings, http)
        self.path: Path = settings.resolve(self.options.path)
        self._lock = asyncio.Lock()

    def _read(self) -> tuple[list[str], list[dict[str, str]]]:
        if not self.path.exists():
            return ["id"], []
        try:
            with self.path.open(newline="", encoding="utf-8") as fh:
                reader = csv.DictReader(fh)
                rows = [dict(r) for r in reader]
                header = list(reader.fieldnames or ["id"])
        except UnicodeDecodeError as exc:
            raise RecordError(f"{self.path} is not UTF-8: {exc}") from None
        return header, rows

    def _write(self, header: list[str], rows: list[dict[str, str]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, fieldnames=header, extrasaction="ignore")
                writer.writeheader()
                writer.writerows(rows)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def list_all(self) -> Listing:
        _, rows = self._read()
        records, problems = [], []
        for i, row in enumerate(rows, start=2):
            if not row.get("id"):
                problems.append(f"{self.path.name} line {i}: no id; the row is ignored")
                continue
            records.append(VendorRecord(row["id"], row))
        return Listing(records, complete=True, problems=problems)

    async def create(self, payload: dict[str, Any], *, email: str | None = None) -> Written:
        async with self._lock:
            header, rows = self._read()
            taken = {r.get("id") for r in rows}
            n = len(rows) + 1
            while f"csv-{n}" in taken:
                n += 1
            row = {"id": f"csv-{n}", **self._cells(payload)}
            self._write(_extend(header, row), [*rows, row])
            return Written(row["id"], row)

    async def update(
        self, vendor_id: str, changes: dict[str, Any], full: dict[str, Any]
    ) -> dict[str, Any] | None:
        async with self._lock:
            header, rows = self._read()
            for row in rows:
                if row.get("id") == vendor_id:
                    row.update(self._cells(changes))
                    self._write(_extend(header, row), rows)
                    return row
            raise NotFound(f"no row with id {vendor_id} in {self.path.name}")

    async def delete(self, vendor_id: str) -> None:
        async with self._lock:
            header, rows = self._read()
            kept = [r for r in rows if r.get("id") != vendor_id]
            if len(kept) != len(rows):
                self._write(header, kept)

    async def find_by_email(self, email: str) -> VendorRecord | None:
        field = self.settings.mapping.fields.get("email")
        if field is None:
            return None
        for row in self._read()[1]:
            if str(get_path(row, field.path) or "").strip().lower() == email and row.get("id"):
                return VendorRecord(row["id"], row)
        return None

    def _cells(self, payload: dict[str, Any]) -> dict[str, str]:
        cells = {k: "" if v is None else str(v) for k, v in payload.items()}
        if self.options.stamp_updates and self.settings.mapping.updated_path is not None:
            cells["updated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        return cells


def _extend(header: list[str], row: dict[str, str]) -> list[str]:
    return header + [k for k in row if k not in header]
