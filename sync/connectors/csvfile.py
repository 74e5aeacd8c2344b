"""A CSV file as a system: imports, exports, and a real system with no vendor.

UTF-8 with a header row. Column `id` holds each row's ID (contactsync assigns `csv-<n>` to rows
it creates); without a mapping the other columns are canonical field names; an optional
`updated_at` column (ISO 8601) feeds the `newest` policy; unknown columns are kept as they
are.

Writes are group-committed: the writes that arrive together (all those in flight when the
file is free) are applied to one in-memory copy of the table, and the file is rewritten once
for the group, atomically (temp file, fsync, rename, fsync of the folder). No write is
answered before the rewrite that holds it is on disk: the engine journals each answer, and
crash safety depends on an answered write being in the file. A crash leaves the old file or
the new one, never half of one.
"""

from __future__ import annotations

import asyncio
import csv
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from sync.connectors.base import Connector, Listing, VendorRecord, Written
from sync.errors import ConnectorError, NotFound, RecordError, TransientError
from sync.paths import get_path

# Writes in flight at once when sync.toml sets no `concurrency` for a CSV system. A local file
# has no vendor limit, and each group of writes costs one rewrite of the whole file, so the
# engine's default of 4 would rewrite a 10,000-row file 2,500 times for 10,000 creates. With
# every write of a push in flight, the push is one rewrite. (A batch call in the connector
# contract would do the same for the engine's one caller but not for the others.)
GROUP_CONCURRENCY = 100_000


class CsvOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    path: str
    stamp_updates: bool = True


@dataclass
class _Table:
    header: list[str]
    rows: list[dict[str, str]]
    stamp: tuple[int, int, int] | None  # the file as last read or written (inode, size, mtime)
    by_id: dict[str, dict[str, str]] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)  # IDs deleted since the rows were last written

    def __post_init__(self) -> None:
        for row in self.rows:
            if row.get("id"):
                self.by_id.setdefault(row["id"], row)

    def kept(self) -> list[dict[str, str]]:
        """The rows to write: deleted ones dropped once per group, not once per delete."""
        if self.gone:
            gone, by_id = self.gone, self.by_id
            self.rows = [r for r in self.rows if r.get("id") not in gone or by_id.get(r["id"]) is r]
            self.gone = set()
        return self.rows


_Op = Callable[[_Table], tuple[bool, Any]]  # -> (changed the table, the answer)


class CsvConnector(Connector):
    kind = "csv"
    Options: ClassVar[type[BaseModel]] = CsvOptions
    can_list = can_create = can_update = can_delete = can_find_by_email = True
    answers_as_listed = True

    def __init__(self, settings: Any, http: Any = None) -> None:
        super().__init__(settings, http)
        self.path: Path = settings.resolve(self.options.path)
        self._table: _Table | None = None
        self._pending: list[tuple[_Op, asyncio.Future[Any]]] = []
        self._committer: asyncio.Task[None] | None = None
        # held while a group is applied and written: reads never see a write not yet on disk
        self._writing = asyncio.Lock()
        self.rewrites = 0  # how many times the file was rewritten (tests and the bench)

    @property
    def concurrency(self) -> int:
        spec = self.settings.spec
        return spec.concurrency if "concurrency" in spec.model_fields_set else GROUP_CONCURRENCY

    # --- the file -----------------------------------------------------------------------------

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

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

    def _write(self, header: list[str], rows: list[dict[str, str]]) -> tuple[int, int, int] | None:
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
        # the rename is durable only once the folder is
        folder = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
        return self._stamp()

    def _current(self) -> _Table:
        """The table as the file holds it: the kept copy unless someone else changed the file."""
        stamp = self._stamp()
        if self._table is None or self._table.stamp != stamp or stamp is None:
            header, rows = self._read()
            self._table = _Table(header, rows, stamp)
        return self._table

    # --- group commit -------------------------------------------------------------------------

    async def _submit(self, op: _Op) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((op, future))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_groups())
        return await future

    async def _commit_groups(self) -> None:
        while self._pending:
            # one turn of the loop: every write already on its way joins this group
            await asyncio.sleep(0)
            group, self._pending = self._pending, []
            try:
                await self._commit(group)
            except BaseException as exc:
                for _, future in group:
                    if not future.done():
                        future.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    for _, future in self._pending:
                        future.cancel()
                    self._pending = []
                    raise

    async def _commit(self, group: list[tuple[_Op, asyncio.Future[Any]]]) -> None:
        async with self._writing:
            await self._apply(group)

    async def _apply(self, group: list[tuple[_Op, asyncio.Future[Any]]]) -> None:
        table = self._current()
        answers: list[tuple[asyncio.Future[Any], bool, Any]] = []
        changed = False
        for op, future in group:
            try:
                did, answer = op(table)
            except (ConnectorError, RecordError) as exc:
                answers.append((future, False, exc))
                continue
            changed = changed or did
            answers.append((future, True, answer))
        if changed:
            header, rows = list(table.header), list(table.kept())
            try:
                table.stamp = await asyncio.to_thread(self._write, header, rows)
            except OSError as exc:
                # the table holds writes the file may not: read the file again next time.
                # Transient, so a create is looked up before it is sent again.
                self._table = None
                raise TransientError(f"could not write {self.path}: {exc}") from None
            self.rewrites += 1
        for future, ok, answer in answers:
            if future.done():
                continue
            if ok:
                future.set_result(answer)
            else:
                future.set_exception(answer)

    # --- the contract -------------------------------------------------------------------------

    async def _rows(self) -> list[dict[str, str]]:
        """Copies of the rows on disk (kept from the last read or write while the file is
        unchanged): a later update must not change a record already handed out."""
        async with self._writing:
            return [dict(row) for row in self._current().kept()]

    async def list_all(self) -> Listing:
        rows = await self._rows()
        records, problems = [], []
        for i, row in enumerate(rows, start=2):
            if not row.get("id"):
                problems.append(f"{self.path.name} line {i}: no id; the row is ignored")
                continue
            records.append(VendorRecord(row["id"], row))
        return Listing(records, complete=True, problems=problems)

    async def create(self, payload: dict[str, Any], *, email: str | None = None) -> Written:
        cells = self._cells(payload)

        def op(table: _Table) -> tuple[bool, Written]:
            n = len(table.rows) + 1
            while f"csv-{n}" in table.by_id:
                n += 1
            row = {"id": f"csv-{n}", **cells}
            table.rows.append(row)
            table.by_id[row["id"]] = row
            _extend(table.header, row)
            # as a listing reads it back: every column, empty where the row has none
            return True, Written(row["id"], {h: row.get(h, "") for h in table.header})

        written: Written = await self._submit(op)
        return written

    async def update(
        self, vendor_id: str, changes: dict[str, Any], full: dict[str, Any]
    ) -> dict[str, Any] | None:
        cells = self._cells(changes)

        def op(table: _Table) -> tuple[bool, dict[str, str]]:
            row = table.by_id.get(vendor_id)
            if row is None:
                raise NotFound(f"no row with id {vendor_id} in {self.path.name}")
            row.update(cells)
            _extend(table.header, row)
            return True, {h: row.get(h, "") for h in table.header}

        answer: dict[str, Any] = await self._submit(op)
        return answer

    async def delete(self, vendor_id: str) -> None:
        def op(table: _Table) -> tuple[bool, None]:
            if table.by_id.pop(vendor_id, None) is None:
                return False, None
            table.gone.add(vendor_id)
            return True, None

        await self._submit(op)

    async def find_by_email(self, email: str) -> VendorRecord | None:
        field = self.settings.mapping.fields.get("email")
        if field is None:
            return None
        for row in await self._rows():
            if str(get_path(row, field.path) or "").strip().lower() == email and row.get("id"):
                return VendorRecord(row["id"], row)
        return None

    def _cells(self, payload: dict[str, Any]) -> dict[str, str]:
        cells = {k: "" if v is None else str(v) for k, v in payload.items()}
        if self.options.stamp_updates and self.settings.mapping.updated_path is not None:
            cells["updated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        return cells


def _extend(header: list[str], row: dict[str, str]) -> None:
    header += [k for k in row if k not in header]
