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
from dataclasses import dataclass
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
