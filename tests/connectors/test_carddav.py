"""CardDAV against real servers (Radicale and Xandikos, started by tests/davservers.py): the
connector contract, and the behaviours issue 13 names for each server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sync.config import SystemSettings
from sync.connectors.base import Connector
from sync.connectors.carddav_discovery import BookNotChosen
from sync.contact import Schema
from sync.errors import Rejected
from tests.connectors.contract import ConnectorContract
from tests.davservers import ENV, DavProxy, DavServer, dav, radicale, xandikos
from tests.helpers import system_settings

__all__ = ["dav", "radicale", "xandikos"]  # the fixtures, imported for pytest

SCHEMA = Schema()
PERSON = {
    "email": "ada@example.org",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "mobile": "+14155550100",
    "phone": "+14155550111",
    "company": "Analytical Engines",
    "department": "Research",
    "title": "Analyst",
    "street": "12 St James's Square",
    "city": "London",
    "postal_code": "SW1Y 4JH",
    "country": "GB",
}
# a card another client wrote: PHOTO, NOTE, CATEGORIES, BDAY, X- properties, a second and
# third EMAIL and TEL with their TYPEs, a grouped label; none of them mapped
OTHER = (
    "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:other-client-1\r\nFN:Grace Hopper\r\n"
    "N:Hopper;Grace;Brewster;Rear Admiral;\r\n"
    "EMAIL;TYPE=INTERNET,HOME:grace@home.example.org\r\n"
    "EMAIL;TYPE=INTERNET,WORK,PREF:grace@navy.example.org\r\n"
    "EMAIL;TYPE=INTERNET:third@example.org\r\n"
    "TEL;TYPE=CELL:+1 202 555 0100\r\nTEL;TYPE=HOME:+1 202 555 0101\r\n"
    "TEL;TYPE=FAX:+1 202 555 0102\r\n"
    "ORG:US Navy;Computing\r\nTITLE:Programmer\r\n"
    "PHOTO;ENCODING=b;TYPE=PNG:iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
    "\r\n +M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==\r\n"
    "NOTE:Invented the first compiler\\, and a word: bug.\r\n"
    "CATEGORIES:Navy,Pioneers\r\nBDAY:1906-12-09\r\n"
    "item1.X-ABLABEL:_$!<Anniversary>!$_\r\nX-CUSTOM;X-PARAM=kept:value kept\r\n"
    "END:VCARD\r\n"
)
UNMAPPED = ("PHOTO", "NOTE", "CATEGORIES", "BDAY", "X-ABLABEL", "X-CUSTOM", "home.example",
            "third@example.org", "+1 202 555 0101", "TYPE=FAX")  # fmt: skip


def settings_for(server: DavServer, url: str, tmp: Path, **extra: Any) -> SystemSettings:
    table = server.table(url, cache_dir=str(tmp / "cache"), retries=6, **extra)
    return system_settings("book", table, ENV, tmp)


def connect(proxy: DavProxy, settings: SystemSettings) -> Connector:
    from sync.connectors.carddav import CardDavConnector

    return CardDavConnector.build(settings, transport=proxy.transport())


class DavContract(ConnectorContract):
    """The shared contract against a fresh address book on a real server."""

    name = "book"
    kind = "radicale"

    @pytest.fixture(autouse=True)
    def _server(self, request: pytest.FixtureRequest, tmp_path: Path) -> None:
        self.server: DavServer = request.getfixturevalue(self.kind)
        self.book = self.server.new_book()
        self.tmp = tmp_path

    def emulator(self) -> Any:
        return DavProxy(self.server)

    def table(self) -> dict[str, Any]:
        return self.server.table(self.book, cache_dir=str(self.tmp / "cache"))

    def env(self) -> dict[str, str]:
        return dict(ENV)

    def person(self) -> dict[str, Any]:
        return dict(PERSON)


class TestRadicaleContract(DavContract):
    kind = "radicale"


class TestXandikosContract(DavContract):
    kind = "xandikos"


# --- behaviours of the servers ------------------------------------------------------------------


@pytest.fixture
async def book(dav: DavServer, tmp_path: Path) -> AsyncIterator[tuple[Connector, DavProxy, str]]:
    url = dav.new_book()
    proxy = DavProxy(dav)
    conn = connect(proxy, settings_for(dav, url, tmp_path))
    yield conn, proxy, url
    await conn.aclose()


async def test_discovery_from_the_server_root(dav: DavServer, tmp_path: Path) -> None:
    """/.well-known/carddav (a relative redirect on both), the principal, the home set, the
    books: several and no address_book names them all; address_book picks one."""
    first, second = dav.new_book(), dav.new_book()
    root = dav.origin + "/"
    proxy = DavProxy(dav)
    conn = connect(proxy, settings_for(dav, root, tmp_path))
    # a SystemFailure: raised for the system to be reported once, not a cut listing
    with pytest.raises(BookNotChosen) as caught:
        await conn.list_all()
    await conn.aclose()
    problem = str(caught.value)
    for url in (first, second):
        assert url[len(dav.origin) :] in problem
    assert "set address_book" in problem
    assert any(path == "/.well-known/carddav" for _, path, _ in proxy.log)

    segment = second.rstrip("/").rsplit("/", 1)[-1]
    dav.put(second, "known.vcf", OTHER)
    conn = connect(DavProxy(dav), settings_for(dav, root, tmp_path, address_book=segment))
    listing = await conn.list_all()
    await conn.aclose()
    assert listing.complete and [r.id for r in listing.records] == ["known.vcf"]


async def test_an_unknown_address_book_is_named_with_those_found(
    dav: DavServer, tmp_path: Path
) -> None:
    dav.new_book()
    settings = settings_for(dav, dav.origin + "/", tmp_path, address_book="nope")
    conn = connect(DavProxy(dav), settings)
    with pytest.raises(BookNotChosen, match="address_book = 'nope': no such address book"):
        await conn.list_all()
    await conn.aclose()


async def test_a_principal_url_leads_to_its_books(dav: DavServer, tmp_path: Path) -> None:
    url = dav.new_book()
    principal = {"radicale": "/alice/", "xandikos": "/user/"}[dav.kind]
    segment = url.rstrip("/").rsplit("/", 1)[-1]
    settings = settings_for(dav, dav.origin + principal, tmp_path, address_book=segment)
    conn = connect(DavProxy(dav), settings)
    listing = await conn.list_all()
    await conn.aclose()
    assert listing.complete, listing.problems


async def test_incremental_listing_is_one_report_and_uses_the_cache(
    book: tuple[Connector, DavProxy, str],
) -> None:
    """Our own PUTs come back in the next report, with the etags the PUTs answered: nothing
    is fetched again. A card changed by someone else is fetched; nothing changed is one
    REPORT and nothing else."""
    conn, proxy, url = book
    first = await conn.list_all()
    mapping = conn.settings.mapping
    written = await conn.create(mapping.to_system(PERSON, create=True), email=PERSON["email"])
    proxy.log.clear()
    echo = await conn.list_changed(first.cursor)
    assert [r.id for r in echo.records] == [written.vendor_id]
    assert [m for m, _, _ in proxy.log] == ["REPORT"]  # no multiget: the etag was known
    proxy.log.clear()
    quiet = await conn.list_changed(echo.cursor)
    assert quiet.records == [] and [m for m, _, _ in proxy.log] == ["REPORT"]
    proxy.server.put(url, "other.vcf", OTHER)
    proxy.log.clear()
    changed = await conn.list_changed(quiet.cursor)
    assert [r.id for r in changed.records] == ["other.vcf"]
    assert [m for m, _, _ in proxy.log] == ["REPORT", "REPORT"]  # sync-collection, multiget
    record = mapping.from_system(changed.records[0].data, SCHEMA)
    assert record["email"] == "grace@navy.example.org"  # the preferred one
    assert record["mobile"] == "+12025550100" and record["company"] == "US Navy"


async def test_an_invalid_sync_token_falls_back_to_a_full_listing(
    book: tuple[Connector, DavProxy, str],
) -> None:
    """Radicale answers a bad token with 403, Xandikos with 412 valid-sync-token: neither is
    a credentials error nor a write conflict; the listing is complete with a new token."""
    conn, proxy, url = book
    proxy.server.put(url, "other.vcf", OTHER)
    first = await conn.list_all()
    assert first.cursor
    forged = first.cursor.replace('"token": "', '"token": "x-not-a-token-')
    proxy.log.clear()
    listing = await conn.list_changed(forged)
    assert listing.complete and [r.id for r in listing.records] == ["other.vcf"]
    statuses = [s for m, _, s in proxy.log if m == "REPORT"]
    assert statuses[0] == {"radicale": 403, "xandikos": 412}[proxy.server.kind]
    assert listing.cursor and "x-not-a-token" not in listing.cursor


async def test_unmapped_properties_survive_an_update(book: tuple[Connector, DavProxy, str]) -> None:
    conn, proxy, url = book
    proxy.server.put(url, "other.vcf", OTHER)
    listing = await conn.list_all()
    mapping = conn.settings.mapping
    before = mapping.from_system(listing.records[0].data, SCHEMA)
    changed = {**before, "title": "Rear Admiral", "mobile": "+12025550199", "city": "Arlington"}
    names = ["title", "mobile", "city"]
    await conn.update("other.vcf", mapping.to_system(changed, names), mapping.to_system(changed))
    text = proxy.server.get(url, "other.vcf").text
    for kept in UNMAPPED:
        assert kept in text, kept
    assert "TITLE:Rear Admiral" in text and "+12025550199" in text
    assert "UID:other-client-1" in text and "VERSION:3.0" in text
    assert "grace@navy.example.org" in text and "Computing" in text


async def test_a_412_is_read_again_and_merged(book: tuple[Connector, DavProxy, str]) -> None:
    """Another client edits the card between our listing and our write: its edit of NOTE
    and of the title is kept, ours (mobile) laid over it; nothing is overwritten."""
    conn, proxy, url = book
    proxy.server.put(url, "other.vcf", OTHER)
    listing = await conn.list_all()
    edited = OTHER.replace("TITLE:Programmer", "TITLE:Commodore").replace(
        "NOTE:Invented", "NOTE:Also invented"
    )
    assert proxy.server.put(url, "other.vcf", edited).is_success
    mapping = conn.settings.mapping
    before = mapping.from_system(listing.records[0].data, SCHEMA)
    ours = {**before, "mobile": "+12025550199"}
    proxy.log.clear()
    await conn.update("other.vcf", mapping.to_system(ours, ["mobile"]), mapping.to_system(ours))
    assert [s for m, _, s in proxy.log if m == "PUT"] == [412, proxy.log[-1][2]]
    text = proxy.server.get(url, "other.vcf").text
    assert "TITLE:Commodore" in text and "Also invented" in text and "+12025550199" in text


async def test_a_412_on_the_same_field_is_refused_not_overwritten(
    book: tuple[Connector, DavProxy, str],
) -> None:
    conn, proxy, url = book
    proxy.server.put(url, "other.vcf", OTHER)
    listing = await conn.list_all()
    assert proxy.server.put(url, "other.vcf", OTHER.replace("Programmer", "Commodore")).is_success
    mapping = conn.settings.mapping
    ours = {**mapping.from_system(listing.records[0].data, SCHEMA), "title": "Admiral"}
    with pytest.raises(Rejected, match=r"changed by another client.*title is now 'Commodore'"):
        await conn.update("other.vcf", mapping.to_system(ours, ["title"]), mapping.to_system(ours))
    assert "TITLE:Commodore" in proxy.server.get(url, "other.vcf").text


async def test_a_card_changed_since_listing_is_not_deleted(
    book: tuple[Connector, DavProxy, str],
) -> None:
    conn, proxy, url = book
    proxy.server.put(url, "other.vcf", OTHER)
    await conn.list_all()
    assert proxy.server.put(url, "other.vcf", OTHER.replace("Programmer", "Commodore")).is_success
    with pytest.raises(Rejected, match="not deleted"):
        await conn.delete("other.vcf")
    assert proxy.server.get(url, "other.vcf").status_code == 200


async def test_a_lost_create_is_found_again_by_uid(book: tuple[Connector, DavProxy, str]) -> None:
    """The PUT landed but its answer was lost: sending it again meets If-None-Match: * (412,
    already there) at the same UID-named href, and adopts it; find_by_email finds it too."""
    conn, proxy, _ = book
    mapping = conn.settings.mapping
    payload = mapping.to_system(PERSON, create=True)
    first = await conn.create(payload, email=PERSON["email"])
    proxy.log.clear()
    again = await conn.create(payload, email=PERSON["email"])
    assert again.vendor_id == first.vendor_id
    assert [s for m, _, s in proxy.log if m == "PUT"] == [412]
    found = await conn.find_by_email(PERSON["email"])
    assert found is not None and found.id == first.vendor_id
    listing = await conn.list_all()
    assert len(listing.records) == 1


async def test_a_4_0_card_stays_4_0_and_keeps_its_photo(
    xandikos: DavServer, tmp_path: Path
) -> None:
    """vobject cuts a 4.0 `PHOTO:data:image/png;base64,...` at the comma: contactsync changes
    only the lines it maps, so the PHOTO line is written back byte for byte. (Xandikos keeps
    cards as they were PUT; Radicale re-serialises every card through vobject itself.)"""
    url = xandikos.new_book()
    card = (
        "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:v4\r\nFN:Ada Lovelace\r\nN:Lovelace;Ada;;;\r\n"
        "EMAIL;TYPE=work;PREF=1:ada@example.org\r\n"
        "PHOTO:data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR"
        "42mNk\r\n +M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==\r\nTITLE:Countess\r\nEND:VCARD\r\n"
    )
    assert xandikos.put(url, "v4.vcf", card).is_success
    conn = connect(DavProxy(xandikos), settings_for(xandikos, url, tmp_path))
    listing = await conn.list_all()
    mapping = conn.settings.mapping
    ours = {**mapping.from_system(listing.records[0].data, SCHEMA), "last_name": "King"}
    await conn.update("v4.vcf", mapping.to_system(ours, ["last_name"]), mapping.to_system(ours))
    await conn.aclose()
    text = xandikos.get(url, "v4.vcf").text
    assert "VERSION:4.0" in text and "N:King;Ada;;;" in text and "FN:Ada King" in text
    photo = card[card.index("PHOTO") : card.index("TITLE")]
    assert photo in text


def test_a_bad_url_or_option_is_a_configuration_error(tmp_path: Path) -> None:
    from sync.errors import ConfigError

    table = {"connector": "carddav", "url": "ftp://example.org/"}
    with pytest.raises(ConfigError, match=r"url = 'ftp://example.org/' is not an http\(s\) URL"):
        system_settings("book", table, {}, tmp_path)
    with pytest.raises(ConfigError, match=r"addressbook.*unknown key"):
        system_settings("book", {**table, "url": "https://x.test/", "addressbook": "a"}, {})


def test_a_carddav_system_without_a_mapping_uses_the_vcard_mapping(tmp_path: Path) -> None:
    settings = system_settings("book", {"connector": "carddav", "url": "https://x.test/"}, {})
    assert settings.mapping.fields["mobile"].path_text == "tel[type~=cell].value"
    assert settings.mapping.source == "mappings/vcard.toml"


async def test_a_server_without_sync_collection_is_listed_with_propfind(tmp_path: Path) -> None:
    from sync.connectors.carddav import CardDavConnector
    from tests.davservers import fake_server

    table = {"connector": "carddav", "url": "http://dav.test/book/", "cache_dir": str(tmp_path)}
    settings = system_settings("book", table, {}, tmp_path)
    conn = CardDavConnector.build(settings, transport=fake_server({"g.vcf": OTHER}, sync=False))
    listing = await conn.list_all()
    again = await conn.list_changed(listing.cursor)
    await conn.aclose()
    assert listing.complete and [r.id for r in listing.records] == ["g.vcf"]
    assert listing.cursor is None  # no token: every run of this system is a full listing
    assert again.complete and [r.id for r in again.records] == ["g.vcf"]
