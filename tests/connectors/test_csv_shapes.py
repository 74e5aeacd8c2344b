"""The CSV connector keeps a file as it was written (byte order mark, line endings,
permissions, rows it cannot read) and says where each record sits."""

from __future__ import annotations

import codecs
import stat
from pathlib import Path
from typing import Any

import pytest

from sync.connectors.csvfile import CsvConnector
from sync.errors import RecordError, SystemFailure
from tests.helpers import system_settings


def connector(folder: Path, **extra: Any) -> CsvConnector:
    table = {"connector": "csv", "path": "people.csv", **extra}
    return CsvConnector(system_settings("people", table, root=folder))


ADA = {"email": "ada@example.org", "first_name": "Ada"}


async def test_a_byte_order_mark_is_read_past_and_written_back(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes(codecs.BOM_UTF8 + b"id,email\r\n1,bob@example.org\r\n")
    conn = connector(tmp_path)
    [bob] = (await conn.list_all()).records
    assert bob.id == "1" and bob.data["email"] == "bob@example.org"
    await conn.create(ADA)
    data = path.read_bytes()
    assert data.startswith(codecs.BOM_UTF8 + b"id,email") and data.count(codecs.BOM_UTF8) == 1
    assert data.count(b"\n") == data.count(b"\r\n") == 3


async def test_each_record_says_on_which_line_it_starts(tmp_path: Path) -> None:
    (tmp_path / "people.csv").write_text(
        'id,email,notes\n1,a@example.org,"two\nlines"\n\n2,b@example.org,\n2,c@example.org,\n'
    )
    listing = await connector(tmp_path).list_all()
    assert [(r.id, r.where) for r in listing.records] == [
        ("1", "line 2"),
        ("2", "line 5"),  # after the two lines of row 1 and a blank line
        ("2", "line 6"),  # the same ID twice: both are listed, each with its line
    ]


async def test_a_rewrite_keeps_the_files_permissions(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("id,email\n")
    path.chmod(0o644)
    await connector(tmp_path).create(ADA)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


async def test_a_row_that_cannot_be_read_is_kept_and_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    ragged = "7,eve@example.org,Eve,Smith,extra"
    path.write_text(f"id,email,first_name\n{ragged}\n8,bob@example.org,Bob\n")
    conn = connector(tmp_path)
    listing = await conn.list_all()
    assert [r.id for r in listing.records] == ["8"]
    assert not listing.complete and "line 2" in listing.problems[0]
    with pytest.raises(RecordError, match="line 2 cannot be read"):
        await conn.update("7", {"first_name": "Eva"}, {})
    with pytest.raises(RecordError, match="line 2 cannot be read"):
        await conn.delete("7")
    await conn.update("8", {"first_name": "Robert"}, {})
    assert ragged in path.read_text().splitlines()


async def test_trailing_empty_cells_are_no_extra_values(tmp_path: Path) -> None:
    (tmp_path / "people.csv").write_text("id,email\n1,a@example.org,,\n2,b@example.org\n")
    listing = await connector(tmp_path).list_all()
    assert listing.complete and [r.id for r in listing.records] == ["1", "2"]


async def test_a_missing_file_is_made_only_by_a_first_listing_and_not_in_a_dry_run(
    tmp_path: Path,
) -> None:
    path = tmp_path / "people.csv"
    conn = connector(tmp_path)
    with pytest.raises(SystemFailure, match=r"people\.csv does not exist"):
        await conn.list_all()
    with pytest.raises(SystemFailure, match="does not exist"):
        await conn.create(ADA)
    conn.first_listing = conn.dry_run = True
    assert (await conn.list_all()).records == [] and not path.exists()
    conn.dry_run = False
    assert (await conn.list_all()).complete and path.exists()
    assert path.read_text().splitlines()[0].startswith("id,email,first_name,last_name")


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("id,email\n1,Ren\xe9@example.org\n".encode("latin-1"), "not UTF-8"),
        (b"id,email,id\n1,a@example.org,2\n", "names 'id' more than once"),
    ],
)
async def test_a_file_that_cannot_be_read_fails_the_listing(
    tmp_path: Path, content: bytes, why: str
) -> None:
    conn = connector(tmp_path)  # the file goes bad after the configuration was checked
    (tmp_path / "people.csv").write_bytes(content)
    with pytest.raises(SystemFailure, match=why):
        await conn.list_all()


async def test_a_folder_where_the_file_belongs_fails_the_listing(tmp_path: Path) -> None:
    conn = connector(tmp_path)
    (tmp_path / "people.csv").mkdir()
    with pytest.raises(SystemFailure, match="is a folder"):
        await conn.list_all()


async def test_rows_without_an_id_are_named_in_one_rewrite(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("email\n" + "".join(f"p{i}@example.org\n" for i in range(2000)))
    conn = connector(tmp_path)
    listing = await conn.list_all()
    assert conn.rewrites == 1 and len({r.id for r in listing.records}) == 2000
    assert path.read_text().splitlines()[0] == "email,id"  # the ID column added at the end
    again = await connector(tmp_path).list_all()
    assert [r.id for r in again.records] == [r.id for r in listing.records]


async def test_a_deleted_rows_id_is_not_given_again(tmp_path: Path) -> None:
    # csv-3 to csv-6 were deleted by earlier runs: a new row gets csv-8, not csv-3
    (tmp_path / "people.csv").write_text(
        "id,email\ncsv-1,a@example.org\ncsv-2,b@example.org\ncsv-7,c@example.org\n"
    )
    written = await connector(tmp_path).create(ADA)
    assert written.vendor_id == "csv-8"
