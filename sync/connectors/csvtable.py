"""A CSV file as people keep it: read whole into rows, written back the way it was written.

Kept as found: the line endings (LF or CRLF), a UTF-8 byte order mark (spreadsheets write
one), the columns and their order, the file's permissions, and rows that cannot be read (more
values than the header has columns), which are written back untouched and never listed.
Refused with a reason naming the file: a file that is not UTF-8, a folder, a header naming
one column twice, text the csv module cannot parse.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import stat
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sync.errors import SystemFailure

# A field may be as long as the file: the file is read whole anyway, and the mapping refuses
# a mapped value over 10,000 characters for its record alone (sync.mapping.check_text), so a
# long unmapped notes column is kept and a long mapped one fails only its row. Python's
# default limit (128 KiB) would end the whole listing with `_csv.Error` instead.
csv.field_size_limit(sys.maxsize)


class Ragged(dict[str, str]):
    """A row with more values than the header has columns (an unquoted comma, most often):
    its values cannot be told apart, so it is written back as it was and never listed."""

    def __init__(self, values: list[str], header: list[str]) -> None:
        super().__init__(zip(header, values, strict=False))
        self.cells = values


@dataclass(frozen=True)
class Style:
    """How the file is written, as found (a new file: LF, no byte order mark)."""

    newline: str = "\n"
    bom: bool = False


@dataclass
class Parsed:
    header: list[str]
    rows: list[dict[str, str]]
    lines: list[int]  # where each row starts in the file (the header is line 1)
    style: Style


def unreadable(path: Path, why: str) -> SystemFailure:
    return SystemFailure(f"{path.name} cannot be read: {why} ({path})")


def parse(path: Path) -> Parsed:
    """The whole file; FileNotFoundError when it is missing, SystemFailure when unreadable."""
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise unreadable(path, "it is a folder, not a file") from None
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise unreadable(path, exc.strerror or str(exc)) from None
    return parse_bytes(path, data)


def parse_bytes(path: Path, data: bytes) -> Parsed:
    bom = data.startswith(codecs.BOM_UTF8)
    try:
        text = data.decode("utf-8-sig" if bom else "utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise unreadable(
            path,
            f"it is not UTF-8 (byte 0x{data[exc.start]:02x} on line {line}); "
            "save it as UTF-8 (a spreadsheet's 'CSV UTF-8')",
        ) from None
    first = text.find("\n")
    style = Style("\r\n" if first > 0 and text[first - 1] == "\r" else "\n", bom)
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] = []
    rows: list[dict[str, str]] = []
    lines: list[int] = []
    try:
        start = 1
        for values in reader:
            if not values:  # a blank line
                start = reader.line_num + 1
                continue
            if not header:
                header = values
                _no_twice(path, header)
            else:
                rows.append(_row(values, header))
                lines.append(start)
            start = reader.line_num + 1
    except csv.Error as exc:
        raise unreadable(path, f"line {reader.line_num}: {exc}") from None
    return Parsed(header, rows, lines, style)


def _no_twice(path: Path, header: list[str]) -> None:
    twice = sorted({h for h in header if h and header.count(h) > 1})
    if twice:
        names = ", ".join(repr(h) for h in twice)
        raise unreadable(path, f"the header names {names} more than once")


def _row(values: list[str], header: list[str]) -> dict[str, str]:
    if len(values) == len(header):
        return dict(zip(header, values, strict=True))
    if len(values) > len(header) and any(values[len(header) :]):
        return Ragged(values, header)
    # a short row (trailing empty cells left out) reads as empty cells
    return {h: values[i] if i < len(values) else "" for i, h in enumerate(header)}


def header_of(path: Path) -> list[str]:
    """The header alone (for `check`); [] for an empty file."""
    with path.open("rb") as fh:
        head = fh.readline(1 << 20)
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise unreadable(path, "it is not UTF-8") from None
    header = next(csv.reader([text.rstrip("\r\n")]), [])
    _no_twice(path, header)
    return header


def write(path: Path, header: list[str], rows: list[dict[str, str]], style: Style) -> None:
    """Atomically: a temp file beside it, fsync, rename, fsync of the folder."""
    mode = _mode(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8-sig" if style.bom else "utf-8") as fh:
            writer = csv.writer(fh, lineterminator=style.newline)
            writer.writerow(header)
            for row in rows:
                if isinstance(row, Ragged):
                    writer.writerow(row.cells)
                else:
                    writer.writerow([row.get(h, "") for h in header])
            fh.flush()
            if mode is not None:
                os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    # the rename is durable only once the folder is
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def _mode(path: Path) -> int | None:
    """The file's permissions, kept across the rewrite (a new file: the temp file's 0600)."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None


@dataclass
class Table:
    """The rows in memory, as last read or written, with the writes of a group applied."""

    header: list[str]
    rows: list[dict[str, str]]
    stamp: tuple[int, int, int] | None  # the file as last read or written (inode, size, mtime)
    id_column: str
    style: Style = field(default_factory=Style)
    lines: list[int] | None = None  # where each row starts, as read (None: as last written)
    on_disk: bool = True  # False: the file does not exist yet (a first listing creates it)
    by_id: dict[str, dict[str, str]] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)  # IDs deleted since the rows were last written

    def __post_init__(self) -> None:
        for row in self.rows:
            vid = row.get(self.id_column)
            if vid and not isinstance(row, Ragged):
                self.by_id.setdefault(vid, row)
        # past every csv-<n> the file holds: the IDs of rows deleted below the highest are
        # not given again, and 10,000 rows named at once cost no rescans
        taken = [int(v[4:]) for v in self.by_id if v.startswith("csv-") and v[4:].isdigit()]
        self._next = max([len(self.rows), *taken]) + 1

    def kept(self) -> list[dict[str, str]]:
        """The rows to write: deleted ones dropped once per group, not once per delete."""
        if self.gone:
            gone, by_id, idc = self.gone, self.by_id, self.id_column
            self.rows = [
                r
                for r in self.rows
                if isinstance(r, Ragged) or r.get(idc) not in gone or by_id.get(r[idc]) is r
            ]
            self.gone = set()
            self.lines = None
        return self.rows

    def line(self, index: int) -> int:
        return self.lines[index] if self.lines is not None else index + 2

    def new_id(self) -> str:
        while f"csv-{self._next}" in self.by_id:
            self._next += 1
        self._next += 1
        return f"csv-{self._next - 1}"

    def name_rows(self) -> bool:
        """Give every readable row without an ID one; True when any was given."""
        named = False
        for row in self.rows:
            if not row.get(self.id_column) and not isinstance(row, Ragged):
                row[self.id_column] = self.new_id()
                self.by_id[row[self.id_column]] = row
                named = True
        if named and self.id_column not in self.header:
            self.header.append(self.id_column)
        return named

    def unreadable(self, vendor_id: str) -> str | None:
        """Where a row with this ID sits if it cannot be read."""
        for i, row in enumerate(self.rows):
            if isinstance(row, Ragged) and row.get(self.id_column) == vendor_id:
                return f"line {self.line(i)}"
        return None
