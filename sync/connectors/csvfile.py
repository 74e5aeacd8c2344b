"""A CSV file as a system: imports, exports, a spreadsheet people keep, a system with no vendor.

UTF-8 with a header row (sync/connectors/csvtable.py reads and writes it as it was written).
The ID column is the mapping's `id` (default `id`); a row without an ID (typed into a
spreadsheet) is given one (`csv-<n>`), all such rows in one atomic rewrite before they are
listed. Without a mapping the other columns are canonical field names; the mapping's
`updated` column (`updated_at` without a mapping, ISO 8601) feeds the `newest` policy;
unknown columns are kept as they are.

A missing file is created with a header by the system's first listing (the engine sets
`first_listing` while the store knows nothing of the system); after that a missing file is
an outage: the listing fails, nothing is inferred from it and nothing is written. A row the
file cannot carry (more values than columns) fails alone and makes the listing incomplete,
so that nothing is deleted, or created twice, for a contact it may hold.

Writes are group-committed: the writes that arrive together (all those in flight when the
file is free) are applied to one in-memory copy of the table, and the file is rewritten once
for the group, atomically (temp file, fsync, rename, fsync of the folder). No write is
answered before the rewrite that holds it is on disk: the engine journals each answer, and
crash safety depends on an answered write being in the file. A crash leaves the old file or
the new one, never half of one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from sync.connectors import csvtable
from sync.connectors.base import Connector, Listing, VendorRecord, Written
from sync.connectors.csvcheck import missing_columns
from sync.connectors.csvtable import Ragged, Table
from sync.errors import ConnectorError, NotFound, RecordError, SystemFailure, TransientError
from sync.groupcommit import Answer, GroupCommit, settle
from sync.paths import Segment, get_path

if TYPE_CHECKING:
    from sync.config import SystemSettings
    from sync.mapping import Mapping

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


def column(path: tuple[Segment, ...] | None) -> str | None:
    """The column a mapping path names, when it is a plain name (CSV rows are flat)."""
    if path is None or len(path) != 1 or path[0].index is not None or path[0].match:
        return None
    return path[0].key


_Op = Callable[[Table], tuple[bool, Any]]  # -> (changed the table, the answer)


class CsvConnector(Connector):
    kind = "csv"
    Options: ClassVar[type[BaseModel]] = CsvOptions
    can_list = can_create = can_update = can_delete = can_find_by_email = True
    answers_as_listed = True

    def __init__(self, settings: Any, http: Any = None) -> None:
        super().__init__(settings, http)
        self.path: Path = settings.resolve(self.options.path)
        mapping: Mapping = settings.mapping
        self.id_column = column(mapping.id_path) or "id"
        self.updated_column = column(mapping.updated_path)
        self._table: Table | None = None
        self._group: GroupCommit[_Op] = GroupCommit(self._commit)
        # held while a group is applied and written: reads never see a write not yet on disk
        self._writing = asyncio.Lock()
        self.rewrites = 0  # how many times the file was rewritten (tests and the bench)

    @property
    def concurrency(self) -> int:
        spec = self.settings.spec
        return spec.concurrency if "concurrency" in spec.model_fields_set else GROUP_CONCURRENCY

    # --- check ----------------------------------------------------------------------------

    @classmethod
    def check(cls, settings: SystemSettings) -> list[str]:
        from sync.connectors.csvcheck import problems

        return problems(settings)

    @classmethod
    def notes(cls, settings: SystemSettings) -> list[str]:
        from sync.connectors.csvcheck import notes

        return notes(settings)

    @classmethod
    def inspect(cls, settings: SystemSettings) -> list[str]:
        from sync.connectors.csvcheck import inspect

        return inspect(settings)

    # --- the file -----------------------------------------------------------------------------

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            why = getattr(exc, "strerror", None) or str(exc)
            raise csvtable.unreadable(self.path, why) from None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _load(self, stamp: tuple[int, int, int] | None) -> Table:
        try:
            parsed = csvtable.parse(self.path)
        except FileNotFoundError:
            if not self.first_listing:
                raise SystemFailure(
                    f"{self.path.name} does not exist ({self.path}): nothing is read, "
                    "written or deleted there until it is back (only the system's first run "
                    "creates its file)"
                ) from None
            return Table(self._new_header(), [], None, self.id_column, on_disk=False)
        missing = missing_columns(self.settings, self.path, parsed.header)
        if missing:  # every row would read as cleared in the missing columns
            raise SystemFailure("; ".join(missing) + "; nothing is read or written there")
        header = parsed.header or self._new_header()
        return Table(header, parsed.rows, stamp, self.id_column, parsed.style, parsed.lines)

    def _new_header(self) -> list[str]:
        """A new file's columns: the ID, every mapped column, the update time if stamped."""
        header = [self.id_column]
        for fm in self.settings.mapping.fields.values():
            name = column(fm.path)
            if name and name not in header:
                header.append(name)
        if self._stamps and self.updated_column and self.updated_column not in header:
            header.append(self.updated_column)
        return header

    def _current(self) -> Table:
        """The table as the file holds it: the kept copy unless someone else changed the file."""
        stamp = self._stamp()
        if self._table is None or self._table.stamp != stamp or stamp is None:
            self._table = self._load(stamp)
        return self._table

    def _write(self, table: Table) -> tuple[int, int, int] | None:
        csvtable.write(self.path, list(table.header), list(table.kept()), table.style)
        return self._stamp()

    # --- group commit -------------------------------------------------------------------------

    async def _commit(self, group: list[tuple[_Op, asyncio.Future[Any]]]) -> None:
        async with self._writing:
            await self._apply(group)

    async def _apply(self, group: list[tuple[_Op, asyncio.Future[Any]]]) -> None:
        table = self._current()
        answers: list[Answer] = []
        changed = False
        for op, future in group:
            try:
                did, answer = op(table)
            except (ConnectorError, RecordError) as exc:
                answers.append((future, exc, None))
                continue
            changed = changed or did
            answers.append((future, None, answer))
        if changed:
            try:
                table.stamp = await asyncio.to_thread(self._write, table)
            except OSError as exc:
                # the table holds writes the file may not: read the file again next time.
                # Transient, so a create is looked up before it is sent again.
                self._table = None
                raise TransientError(f"could not write {self.path}: {exc}") from None
            table.on_disk, table.lines = True, None
            self.rewrites += 1
        settle(answers)

    # --- the contract -------------------------------------------------------------------------

    async def list_all(self) -> Listing:
        async with self._writing:
            table = self._current()
            unsettled = not table.on_disk or any(
                not r.get(self.id_column) and not isinstance(r, Ragged) for r in table.rows
            )
        if unsettled and not self.dry_run:
            # a new file gets its header, rows typed in without an ID get one: one rewrite
            await self._group.submit(lambda t: (t.name_rows() or not t.on_disk, None))
        async with self._writing:
            table = self._current()
            if unsettled and self.dry_run:  # IDs as a real run would give them, kept nowhere
                copies = [r if isinstance(r, Ragged) else r.copy() for r in table.rows]
                table = Table(list(table.header), copies, None, self.id_column, lines=table.lines)
                table.name_rows()
            # copies: a later update must not change a record already handed out
            rows = [(table.line(i), row.copy(), row) for i, row in enumerate(table.kept())]
        records, problems = [], []
        for line, row, original in rows:
            if isinstance(original, Ragged):
                problems.append(
                    f"{self.path.name} line {line}: {len(original.cells)} values, but the "
                    f"header has {len(table.header)} columns; the row is not read until it is "
                    "fixed (a comma inside a value needs quotes around the value)"
                )
                continue
            records.append(VendorRecord(row[self.id_column], row, where=f"line {line}"))
        # a row that cannot be read may hold anyone: nothing is inferred from what is missing
        return Listing(records, complete=not problems, problems=problems)

    async def create(self, payload: dict[str, Any], *, email: str | None = None) -> Written:
        cells = self._cells(payload)

        def op(table: Table) -> tuple[bool, Written]:
            row = {self.id_column: table.new_id(), **cells}
            table.rows.append(row)
            table.by_id[row[self.id_column]] = row
            _extend(table.header, row)
            # as a listing reads it back: every column, empty where the row has none
            return True, Written(row[self.id_column], {h: row.get(h, "") for h in table.header})

        written: Written = await self._group.submit(op)
        return written

    async def update(
        self, vendor_id: str, changes: dict[str, Any], full: dict[str, Any]
    ) -> dict[str, Any] | None:
        cells = self._cells(changes)

        def op(table: Table) -> tuple[bool, dict[str, str]]:
            row = self._row(table, vendor_id)
            row.update(cells)
            _extend(table.header, row)
            return True, {h: row.get(h, "") for h in table.header}

        answer: dict[str, Any] = await self._group.submit(op)
        return answer

    async def delete(self, vendor_id: str) -> None:
        def op(table: Table) -> tuple[bool, None]:
            if vendor_id not in table.by_id:
                where = table.unreadable(vendor_id)
                if where:  # refused: a row that cannot be read is not removed either
                    raise RecordError(f"{self.path.name} {where} cannot be read; fix it first")
                return False, None  # already gone: deleted
            del table.by_id[vendor_id]
            table.gone.add(vendor_id)
            return True, None

        await self._group.submit(op)

    def _row(self, table: Table, vendor_id: str) -> dict[str, str]:
        row = table.by_id.get(vendor_id)
        if row is not None:
            return row
        where = table.unreadable(vendor_id)
        if where:
            raise RecordError(f"{self.path.name} {where} cannot be read; fix it first")
        raise NotFound(f"no row with {self.id_column} {vendor_id} in {self.path.name}")

    async def find_by_email(self, email: str) -> VendorRecord | None:
        field = self.settings.mapping.fields.get("email")
        if field is None:
            return None
        wanted = email.strip().lower()  # as the mapping normalises what it reads
        async with self._writing:
            table = self._current()
            for i, row in enumerate(table.kept()):
                found = str(get_path(row, field.path) or "").strip().lower() == wanted
                if found and row.get(self.id_column) and not isinstance(row, Ragged):
                    where = f"line {table.line(i)}"
                    return VendorRecord(row[self.id_column], row.copy(), where=where)
        return None

    @property
    def _stamps(self) -> bool:
        return bool(self.options.stamp_updates and self.updated_column)

    def _cells(self, payload: dict[str, Any]) -> dict[str, str]:
        cells = {k: "" if v is None else str(v) for k, v in payload.items()}
        if self._stamps and self.updated_column:
            cells[self.updated_column] = datetime.now(UTC).isoformat(timespec="seconds")
        return cells


def _extend(header: list[str], row: dict[str, str]) -> None:
    header += [k for k in row if k not in header]
