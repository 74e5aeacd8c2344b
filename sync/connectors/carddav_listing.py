"""Listing an address book: sync-collection (RFC 6578) from the token, else PROPFIND
getetag, then addressbook-multiget of only the cards whose etag the card cache does not
know. A mixin of CardDavConnector (carddav.py), which holds the book, the cache and the
client."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import httpx

from sync.connectors import webdav as dav
from sync.connectors.base import Listing
from sync.connectors.cardcache import CardCache
from sync.connectors.cards import Unreadable, listed, read
from sync.errors import ConnectorError, NotFound

if TYPE_CHECKING:
    from sync.http import HttpClient

UNSUPPORTED = (400, 403, 405, 409, 412, 415, 501)  # sync-collection refused on a first try
BAD_TOKEN = (403, 409, 412)  # Radicale 403, Xandikos 412 valid-sync-token


class _TokenRefused(Exception):
    pass


class BookListing:
    settings: Any
    options: Any
    target: str
    cache: CardCache
    _book: str | None

    if TYPE_CHECKING:  # what the connector provides

        @property
        def client(self) -> HttpClient: ...

        def page_listed(self, records: int) -> None: ...

        async def _book_href(self, again: bool = False) -> str: ...

    def _name(self, path: str) -> str | None:
        """A card's name in the book (its vendor ID); None for the book or a sub-collection."""
        book = dav.path_of(self._book or "")
        if path.endswith("/") or not path.startswith(book):
            return None
        return path[len(book) :] or None

    async def _listing(self, token: str | None) -> Listing:
        found: dict[str, dict[str, Any]] = {}
        try:
            return await self._list(token, found)
        except _TokenRefused:
            return await self._listing(None)
        except ConnectorError as exc:
            readable = {n: r for n, r in found.items() if not isinstance(r, Unreadable)}
            return Listing.failed(exc, readable, f"listing {self.settings.name}")

    async def _list(self, token: str | None, found: dict[str, dict[str, Any]]) -> Listing:
        await self._book_href()
        try:
            members, gone, new_token = await self._members(token)
        except NotFound:
            if token is not None:
                raise _TokenRefused from None  # the book moved: a full listing finds it
            await self._book_href(again=True)
            members, gone, new_token = await self._members(None)
        wanted = {}
        for name, (href, etag) in members.items():
            entry = self.cache.get(name, etag)
            if entry is None:
                wanted[name] = href
            else:
                found[name] = entry[1]
        await self._fetch(wanted, found)
        for name in gone:
            self.cache.drop(name)
        if token is None:
            self.cache.keep_only(set(members))
        cursor = None
        if new_token:
            cursor = json.dumps({"for": self.target, "book": self._book, "token": new_token})
        records = [listed(name, data) for name, data in found.items()]
        return Listing(records, complete=True, cursor=cursor)

    async def _members(
        self, token: str | None
    ) -> tuple[dict[str, tuple[str, str]], set[str], str | None]:
        """name -> (href, etag) of the cards listed, the names reported gone, the new token."""
        members: dict[str, tuple[str, str]] = {}
        gone: set[str] = set()
        for _ in range(1000):  # a server may cut a report short (507) and go on from its token
            body = dav.sync_collection(token, [dav.GETETAG])
            status, answer = await self._xml("REPORT", body, ok=(*UNSUPPORTED, 404))
            if status == 404:
                raise NotFound(f"address book {self._book} not found")
            if answer is None:
                if token is not None and status in BAD_TOKEN:
                    raise _TokenRefused
                return await self._propfind_members(), set(), None
            more = False
            for m in answer.members:
                name = self._name(m.path)
                if name is None:
                    more = more or m.status == 507
                elif m.status == 404:
                    gone.add(name)
                    members.pop(name, None)
                elif m.text(dav.GETETAG):
                    members[name] = (m.href, m.text(dav.GETETAG) or "")
                    gone.discard(name)
            token = answer.sync_token or token
            if not more:
                return members, gone, token
        return members, gone, token

    async def _propfind_members(self) -> dict[str, tuple[str, str]]:
        _, answer = await self._xml("PROPFIND", dav.propfind([dav.GETETAG, dav.RESOURCETYPE]))
        out = {}
        for m in answer.members if answer else []:
            name = self._name(m.path)
            if name and m.status == 200 and m.text(dav.GETETAG):
                out[name] = (m.href, m.text(dav.GETETAG) or "")
        return out

    async def _xml(
        self, method: str, body: bytes, ok: tuple[int, ...] = ()
    ) -> tuple[int, dav.MultiStatus | None]:
        """A PROPFIND or REPORT on the book (Depth 1): the status, and the 207 answer read
        within the retries (a body cut short is sent again)."""
        book = self._book
        assert book is not None

        def read(response: httpx.Response) -> tuple[int, dav.MultiStatus | None]:
            ok = response.status_code == 207
            return response.status_code, dav.parse(response.content, book) if ok else None

        headers = {**dav.XML_HEADERS, "Depth": "1"}
        found: tuple[int, dav.MultiStatus | None] = await self.client.request_read(
            method, book, read, content=body, headers=headers, ok=ok
        )
        return found

    async def _fetch(self, wanted: dict[str, str], found: dict[str, dict[str, Any]]) -> None:
        """Fetch these cards (name -> href) with addressbook-multiget, in batches."""
        names = list(wanted)
        size = self.options.multiget_batch
        for start in range(0, len(names), size):
            batch = names[start : start + size]
            body = dav.multiget([wanted[n] for n in batch], [dav.GETETAG, dav.ADDRESS_DATA])
            _, answer = await self._xml("REPORT", body)
            for m in answer.members if answer else []:
                name = self._name(m.path)
                text = m.text(dav.ADDRESS_DATA)
                if name is None or m.status != 200 or text is None:
                    continue  # deleted since it was listed
                if "\r" not in text:  # XML turned the card's CRLF into LF: vCard wants CRLF
                    text = text.replace("\n", "\r\n")
                record = read(text, name)
                found[name] = record
                if not isinstance(record, Unreadable):
                    self.cache.put(name, m.text(dav.GETETAG) or "", record, text)
            self.page_listed(len(found))


def read_cursor(text: str | None) -> dict[str, Any] | None:
    try:
        state = json.loads(text) if text else None
    except ValueError:
        return None
    ok = isinstance(state, dict) and all(isinstance(state.get(k), str) for k in ("book", "token"))
    return state if ok else None
