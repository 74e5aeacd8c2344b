"""A folder of .vcf files (vdirsyncer's and khard's layout): the contract, and what another
program writing in the folder meanwhile must not lose."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from sync.config import SystemSettings
from sync.connectors.base import Connector
from sync.connectors.cards import uid_for
from sync.connectors.vdir import VdirConnector
from sync.contact import Schema
from sync.errors import RecordError, Rejected
from tests.connectors.contract import ConnectorContract
from tests.connectors.test_carddav import OTHER, PERSON, UNMAPPED
from tests.helpers import system_settings

SCHEMA = Schema()


class _Folder:
    """The contract's emulator, for a folder: nothing between the connector and the disk."""

    faults: Any = None

    def transport(self) -> None:
        return None


class TestVdirContract(ConnectorContract):
    name = "folder"

    @pytest.fixture(autouse=True)
    def _folder(self, tmp_path: Path) -> None:
        self.tmp = tmp_path

    def emulator(self) -> Any:
        return _Folder()

    def table(self) -> dict[str, Any]:
        return {"connector": "vdir", "path": str(self.tmp / "cards"),
                "cache_dir": str(self.tmp / "cache")}  # fmt: skip

    def person(self) -> dict[str, Any]:
        return dict(PERSON)

    async def test_bad_credentials_are_an_auth_error(self) -> None:
        pytest.skip("a folder has no credentials")


def folder(tmp: Path, **extra: Any) -> tuple[Path, SystemSettings]:
    cards = tmp / "cards"
    cards.mkdir(exist_ok=True)
    table = {"connector": "vdir", "path": str(cards), "cache_dir": str(tmp / "cache"), **extra}
    return cards, system_settings("folder", table, {}, tmp)


async def listed(settings: SystemSettings) -> tuple[Connector, dict[str, dict[str, Any]]]:
    conn = VdirConnector.build(settings)
    listing = await conn.list_all()
    assert listing.complete
    return conn, {r.id: r.data for r in listing.records}


async def test_only_files_with_the_extension_are_cards(tmp_path: Path) -> None:
    cards, settings = folder(tmp_path, fileext=".vcard")
    (cards / "a.vcard").write_text(OTHER)
    (cards / "b.vcf").write_text(OTHER)
    (cards / ".hidden.vcard").write_text(OTHER)
    _, records = await listed(settings)
    assert list(records) == ["a.vcard"]


async def test_a_second_listing_reads_no_unchanged_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cards, settings = folder(tmp_path)
    for i in range(3):
        (cards / f"c{i}.vcf").write_text(OTHER.replace("other-client-1", f"u{i}"))
    conn, _ = await listed(settings)
    await conn.aclose()  # the cache is kept
    reads: list[str] = []
    real = VdirConnector._read

    def counting(self: VdirConnector, name: str) -> Any:
        reads.append(name)
        return real(self, name)

    monkeypatch.setattr(VdirConnector, "_read", counting)
    (cards / "c1.vcf").write_text(OTHER.replace("Programmer", "Commodore"))
    _, records = await listed(settings)
    assert reads == ["c1.vcf"] and len(records) == 3


async def test_an_update_keeps_every_unmapped_line_and_writes_atomically(tmp_path: Path) -> None:
    cards, settings = folder(tmp_path)
    (cards / "g.vcf").write_text(OTHER, newline="")
    conn, records = await listed(settings)
    mapping = conn.settings.mapping
    ours = {**mapping.from_system(records["g.vcf"], SCHEMA), "title": "Commodore"}
    inode = (cards / "g.vcf").stat().st_ino
    await conn.update("g.vcf", mapping.to_system(ours, ["title"]), mapping.to_system(ours))
    text = (cards / "g.vcf").read_bytes().decode()
    assert text == OTHER.replace("TITLE:Programmer", "TITLE:Commodore")
    assert (cards / "g.vcf").stat().st_ino != inode  # a new file renamed over the old
    assert sorted(os.listdir(cards)) == ["g.vcf"]  # no temporary file left
    for kept in UNMAPPED:
        assert kept in text


async def test_a_file_changed_since_listing_is_merged_not_overwritten(tmp_path: Path) -> None:
    cards, settings = folder(tmp_path)
    (cards / "g.vcf").write_text(OTHER, newline="")
    conn, records = await listed(settings)
    theirs = OTHER.replace("NOTE:Invented", "NOTE:Also invented")
    (cards / "g.vcf").write_text(theirs, newline="")  # another program, after our listing
    mapping = conn.settings.mapping
    ours = {**mapping.from_system(records["g.vcf"], SCHEMA), "title": "Commodore"}
    await conn.update("g.vcf", mapping.to_system(ours, ["title"]), mapping.to_system(ours))
    text = (cards / "g.vcf").read_bytes().decode()
    assert text == theirs.replace("TITLE:Programmer", "TITLE:Commodore")

    (cards / "g.vcf").write_text(theirs.replace("Programmer", "Admiral"), newline="")
    conn, records = await listed(settings)
    (cards / "g.vcf").write_text(theirs.replace("Programmer", "Captain"), newline="")
    ours = {**mapping.from_system(records["g.vcf"], SCHEMA), "title": "Commodore"}
    with pytest.raises(Rejected, match="title is now 'Captain'"):
        await conn.update("g.vcf", mapping.to_system(ours, ["title"]), mapping.to_system(ours))
    assert "TITLE:Captain" in (cards / "g.vcf").read_text()


async def test_a_file_changed_since_listing_is_not_deleted(tmp_path: Path) -> None:
    cards, settings = folder(tmp_path)
    (cards / "g.vcf").write_text(OTHER)
    conn, _ = await listed(settings)
    (cards / "g.vcf").write_text(OTHER.replace("Programmer", "Captain"))
    with pytest.raises(Rejected, match="not deleted"):
        await conn.delete("g.vcf")
    assert (cards / "g.vcf").exists()


async def test_a_create_never_replaces_a_file_and_a_lost_one_is_adopted(tmp_path: Path) -> None:
    cards, settings = folder(tmp_path)
    conn = VdirConnector.build(settings)
    mapping = conn.settings.mapping
    payload = mapping.to_system(PERSON, create=True)
    first = await conn.create(payload, email=PERSON["email"])
    again = await conn.create(payload, email=PERSON["email"])  # its answer was lost
    assert again.vendor_id == first.vendor_id and len(os.listdir(cards)) == 1
    # someone else's card at the name contactsync would choose: left alone, another name
    other = {**PERSON, "email": "grace@example.org"}
    taken = cards / f"{uid_for(other['email'])}.vcf"
    taken.write_bytes(OTHER.encode())
    written = await conn.create(mapping.to_system(other, create=True), email=other["email"])
    assert written.vendor_id != taken.name and len(os.listdir(cards)) == 3
    assert taken.read_bytes() == OTHER.encode()


async def test_a_malformed_file_is_listed_and_fails_alone(tmp_path: Path) -> None:
    cards, settings = folder(tmp_path)
    (cards / "good.vcf").write_text(OTHER)
    (cards / "bad.vcf").write_text("BEGIN:VCARD\nVERSION:3.0\nFN:cut short\n")
    (cards / "latin1.vcf").write_bytes(OTHER.replace("Grace", "Gr\xe2ce").encode("latin-1"))
    conn = VdirConnector.build(settings)
    listing = await conn.list_all()
    assert listing.complete
    shown = {r.id: r for r in listing.records}
    assert set(shown) == {"good.vcf", "bad.vcf", "latin1.vcf"}  # listed: not a deletion
    # the broken ones carry their reason (the engine fails them alone), and no data
    assert shown["bad.vcf"].error == "bad.vcf: END:VCARD is missing"
    assert shown["latin1.vcf"].error == "latin1.vcf: not UTF-8"
    assert shown["bad.vcf"].data == {} and shown["latin1.vcf"].data == {}
    assert shown["good.vcf"].error is None
    mapping = conn.settings.mapping
    assert mapping.from_system(shown["good.vcf"].data, SCHEMA)["last_name"] == "Hopper"
    with pytest.raises(RecordError, match=r"latin1.vcf: not UTF-8"):  # and is never written
        await conn.update("latin1.vcf", {"NOTE": "x"}, {"NOTE": "x"})


async def test_a_folder_that_vanished_is_an_incomplete_listing(tmp_path: Path) -> None:
    cards, settings = folder(tmp_path)
    (cards / "g.vcf").write_text(OTHER)
    conn, _ = await listed(settings)
    await conn.aclose()
    (cards / "g.vcf").unlink()
    cards.rmdir()  # an unmounted drive, say: not "everyone was deleted"
    listing = await VdirConnector.build(settings).list_all()
    assert not listing.complete and "is not a folder" in listing.problems[0]
