"""A CardDAV address book (RFC 6352) as a system.

Listing: sync-collection (RFC 6578) reports which cards changed since the sync token, which
is the cursor (with the book's href, so an incremental run needs no discovery: one REPORT);
an invalid token (Radicale 403, Xandikos 412 valid-sync-token) falls back to a full listing.
A server without sync-collection is listed with PROPFIND getetag. Either way only the cards
whose etag differs from the card cache (cardcache.py) are fetched, with addressbook-multiget
in batches.

Writes: a create PUTs `<uid>.vcf` with `If-None-Match: *`; the UID comes from the email, so a
create whose answer was lost is found again at the same name (412: already there). An
update edits only the mapped lines of the card it listed and PUTs it with `If-Match`: a 412
means another client changed the card; it is read again and our changes laid over it,
unless that client changed one of the same fields (then Rejected: never overwritten). A
delete is sent with `If-Match` too: a card changed since it was listed is not deleted.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Literal
from urllib.parse import quote, urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field

from sync.connectors.base import Connector, HttpConnector, Listing, VendorRecord, Written
from sync.connectors.cardcache import CardCache
from sync.connectors.carddav_discovery import choose, find_books
from sync.connectors.carddav_listing import BookListing, read_cursor
from sync.connectors.cards import (
    Unreadable,
    edited,
    email_of,
    merged,
    read,
    uid_for,
    written_paths,
)
from sync.errors import NotFound, RecordError, Rejected
from sync.vcard import new_card_and_record

VCARD = {"Content-Type": "text/vcard; charset=utf-8"}


class CardDavOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    url: str
    address_book: str | None = None
    vcard_version: Literal["3.0", "4.0"] = "3.0"  # of the cards contactsync creates
    multiget_batch: int = Field(100, ge=1, le=1000)
    cache_dir: str = ".contactsync/cache"


class CardDavConnector(BookListing, HttpConnector):
    kind = "carddav"
    Options: ClassVar[type[BaseModel]] = CardDavOptions
    can_list = can_list_changes = can_create = can_update = can_delete = True
    can_find_by_email = True
    default_mapping = "mappings/vcard.toml"
    auth_kinds = ("none", "basic", "bearer")
    auth_why = "CardDAV servers take a user name and (app) password, or a bearer token"

    def __init__(self, settings: Any, http: Any = None) -> None:
        super().__init__(settings, http)
        self.target = f"{self.options.url}#{self.options.address_book or ''}"
        folder = settings.resolve(self.options.cache_dir)
        self.cache = CardCache.for_system(folder, self.kind, settings.name, self.target)
        self._book: str | None = None
        self._emails: dict[str, str] | None = None  # email -> name, once listed for lookups

    @classmethod
    def check(cls, settings: Any) -> list[str]:
        url = urlsplit(settings.options.url)
        problems = []
        if url.scheme not in ("http", "https") or not url.netloc:
            problems.append(f"url = {settings.options.url!r} is not an http(s) URL")
        kind = settings.spec.auth.kind
        if kind not in cls.auth_kinds:
            kinds = " or ".join(map(repr, cls.auth_kinds))
            problems.append(f"auth.kind = {kind!r} will not do: {cls.auth_why} (use {kinds})")
        return problems

    @classmethod
    def build(cls, settings: Any, transport: httpx.AsyncBaseTransport | None = None) -> Connector:
        from sync.http import HttpClient

        url = urlsplit(settings.options.url)
        spec = settings.spec.model_copy(update={"base_url": f"{url.scheme}://{url.netloc}/"})
        http = HttpClient.for_system(
            dataclasses.replace(settings, spec=spec), headers={}, transport=transport
        )
        return cls(settings, http)

    async def aclose(self) -> None:
        self.cache.save()
        await super().aclose()

    # --- where the book is ------------------------------------------------------------------

    async def _book_href(self, again: bool = False) -> str:
        if not again:
            self._book = self._book or self.cache.meta.get("book")
        if self._book and not again:
            return self._book
        books = await find_books(self.client, self.options.url)
        book = choose(books, self.options.address_book, self.settings.name, self.options.url)
        self._book = book.href
        self.cache.set_meta("book", book.href)
        return book.href

    def _href(self, name: str) -> str:
        assert self._book is not None
        return self._book + quote(name)

    # --- listing ----------------------------------------------------------------------------

    async def list_all(self) -> Listing:
        return await self._listing(None)

    async def list_changed(self, cursor: str | None) -> Listing:
        state = read_cursor(cursor)
        if state is None or state.get("for") != self.target:
            return await self._listing(None)
        self._book = state["book"]
        return await self._listing(state["token"])

    # --- one card ---------------------------------------------------------------------------

    async def _get(self, name: str) -> tuple[str, dict[str, Any], str] | None:
        response = await self.client.request("GET", self._href(name), ok=(404, 410))
        if response.status_code in (404, 410):
            self.cache.drop(name)
            return None
        text = response.text
        return response.headers.get("ETag", ""), read(text, name), text

    def _remember(
        self, name: str, response: httpx.Response, record: dict[str, Any], text: str
    ) -> None:
        etag = response.headers.get("ETag")
        if etag:
            self.cache.put(name, etag, record, text)
        else:
            self.cache.drop(name)  # the next listing fetches it

    async def _put(self, name: str, text: str, condition: dict[str, str]) -> httpx.Response:
        return await self.client.request(
            "PUT", self._href(name), content=text.encode(), headers={**VCARD, **condition},
            ok=(409, 412),
        )  # fmt: skip

    # --- writes -----------------------------------------------------------------------------

    async def create(self, payload: dict[str, Any], *, email: str | None = None) -> Written:
        await self._book_href()
        uid = uid_for(email)
        for _ in range(2):
            name = f"{uid}.vcf"
            text, record = new_card_and_record(payload, uid, self.options.vcard_version)
            response = await self._put(name, text, {"If-None-Match": "*"})
            if response.is_success:
                self._remember(name, response, record, text)
                if self._emails is not None and email:
                    self._emails[email] = name
                return Written(name, record)
            if response.status_code == 412:  # already there: our create whose answer was lost?
                there = await self._get(name)
                mapping = self.settings.mapping
                if there is not None and email and email_of(mapping, there[1]) == email:
                    self.cache.put(name, there[0], there[1], there[2])
                    return Written(name, there[1])
            # someone else's card holds that name (412) or UID (Radicale's 409): a fresh UID
            uid = uid_for(None)
        raise Rejected(f"{self.settings.name}: the server refused a new card twice (UID taken)")

    async def update(
        self, vendor_id: str, changes: dict[str, Any], full: dict[str, Any]
    ) -> dict[str, Any] | None:
        await self._book_href()
        wanted = written_paths(self.settings.mapping, changes)
        entry = self.cache.get(vendor_id)
        if entry is None or entry[2] is None:
            got = await self._get(vendor_id)
            if got is None:
                raise NotFound(f"card {vendor_id} is not in the address book")
            entry = list(got)
        etag, base, text = entry
        if isinstance(base, Unreadable):
            raise RecordError(base.reason)
        edit = edited(text, base, wanted)
        record = read(edit, vendor_id) if edit != text else base
        new_text = None if edit == text else edit
        merged_in = False  # another client's edit is in the card: answer None (below)
        for _ in range(3):
            if new_text is None:
                return None if merged_in else record
            response = await self._put(vendor_id, new_text, {"If-Match": etag})
            if response.is_success:
                self._remember(vendor_id, response, record, new_text)
                # after a merge the card holds the other client's edits too: answering it
                # would make them our snapshot, never read as changes; the next listing does
                return None if merged_in else record
            if response.status_code == 409:
                raise Rejected(f"card {vendor_id}: the server refused it (409 Conflict)")
            fresh = await self._get(vendor_id)  # 412: another client changed the card
            if fresh is None:
                raise NotFound(f"card {vendor_id} was deleted by another client")
            etag, merged_in = fresh[0], True
            new_text, record = merged(f"card {vendor_id}", base, fresh[2], wanted)
        raise Rejected(f"card {vendor_id} kept changing while contactsync wrote it")

    async def delete(self, vendor_id: str) -> None:
        await self._book_href()
        entry = self.cache.get(vendor_id)
        etag = entry[0] if entry else None
        if not etag:
            got = await self._get(vendor_id)
            if got is None:
                return
            etag = got[0]
        response = await self.client.request(
            "DELETE", self._href(vendor_id), headers={"If-Match": etag}, ok=(404, 410, 412)
        )
        if response.status_code == 412 and await self._get(vendor_id) is not None:
            raise Rejected(
                f"card {vendor_id} was changed by another client since it was listed: not "
                "deleted (the next run reads the change)"
            )
        self.cache.drop(vendor_id)

    async def find_by_email(self, email: str) -> VendorRecord | None:
        email = email.strip().lower()  # the contract: case and spaces do not matter
        await self._book_href()
        name = f"{uid_for(email)}.vcf"  # where contactsync would have created it
        there = await self._get(name)
        mapping = self.settings.mapping
        if there is not None and email_of(mapping, there[1]) == email:
            return VendorRecord(name, there[1])
        if self._emails is None:
            listing = await self._list(None, {})
            self._emails = {}
            for r in listing.records:
                address = email_of(mapping, r.data)
                if address:
                    self._emails.setdefault(address, r.id)
        found = self._emails.get(email)
        entry = self.cache.get(found) if found else None
        return VendorRecord(found, entry[1]) if found and entry else None
