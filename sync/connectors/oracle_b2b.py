"""Oracle B2B Service (Oracle Service Cloud, Connect REST v1.4) contacts.

From ../shared/seeds/000_2c5c1f25ef22ab09.txt and the README notes. Every request carries
Basic auth, Content-Type: application/json and OSvC-CREST-Application-Context (option
`application_context`, at most 40 characters).

Records have the document's create-body shape: one `emails` object (addressType 0), one
`phones` object (phoneType 1), `address` with lookupName objects, `customFields.c`. Listed
contacts are reshaped into it: Oracle answers `emails`/`phones`/`address.country` as links
unless expanded, so every list asks for `fields` and `expand` and one call carries it all.

Paging is by key, not by a growing offset: the full scan asks `id>last` ordered by id, the
incremental listing `updatedTime>='last'` ordered by updatedTime (the offset only steps over
a run of equal times). A contact deleted or edited mid-scan then cannot shift an unseen one
past the offset, which a full scan would take for a deletion. Overlap at the boundary is
re-read, never skipped.

Lookups use the document's ROQL query with the email escaped (backslash before `\\` and `'`),
so an address can never change the query. Option `incident = {subject, custom_fields}` opens
an incident for each created contact, like the document's second half; a refused incident is
logged and does not undo the contact.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Iterable
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from sync.connectors.base import HttpConnector, Listing, VendorRecord, Written
from sync.errors import ConnectorError, NotFound, Rejected
from sync.mapping import parse_time

log = logging.getLogger("sync.connectors.oracle_b2b")
CONTEXT_MAX = 40
EMAIL_TYPE, PHONE_TYPE = 0, 1
FIELDS = "id,updatedTime,name,title,disabled,emails,phones,address,customFields"
EXPAND = "emails,phones,address.country"


class IncidentOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    subject: str = Field(min_length=1, max_length=240)
    custom_fields: dict[str, str] = {}


class OracleOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    application_context: str = "contactsync"
    patch_via_post: bool = False
    page_size: int = Field(1000, ge=1, le=1000)
    incident: IncidentOptions | None = None


def roql_string(value: str) -> str:
    """A value for inside a single-quoted ROQL literal."""
    return value.replace("\\", "\\\\").replace("'", "\\'")


def contact_record(item: dict[str, Any]) -> dict[str, Any]:
    """A contact as Oracle answers it -> the create-body shape the mapping reads."""
    record = {k: v for k, v in item.items() if k not in ("emails", "phones", "links")}
    email = _typed(item.get("emails"), "addressType", EMAIL_TYPE)
    if email is not None:
        record["emails"] = {"addressType": {"id": EMAIL_TYPE}, "address": email.get("address")}
    phone = _typed(item.get("phones"), "phoneType", PHONE_TYPE)
    if phone is not None:
        record["phones"] = {"phoneType": {"id": PHONE_TYPE}, "number": phone.get("number")}
    address = item.get("address")
    if isinstance(address, dict):
        country = address.get("country")
        name = country.get("lookupName") if isinstance(country, dict) else None
        record["address"] = {**address, "country": {"lookupName": name} if name else None}
    return record


def _typed(collection: Any, type_key: str, type_id: int) -> dict[str, Any] | None:
    """The entry of an expanded `{"items": [...]}` whose type has this id."""
    items = collection.get("items") if isinstance(collection, dict) else None
    for entry in items or []:
        kind = entry.get(type_key) if isinstance(entry, dict) else None
        if isinstance(kind, dict) and kind.get("id") == type_id:
            return entry
    return None


def request_body(payload: dict[str, Any]) -> dict[str, Any]:
    """Mapping payload -> body: a cleared lookup is null, and a cleared email or phone still
    names its type, so Oracle knows which one to clear."""

    def clean(node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        if node == {"lookupName": None}:
            return None
        return {k: clean(v) for k, v in node.items()}

    body: dict[str, Any] = clean(copy.deepcopy(payload))
    if isinstance(body.get("emails"), dict):
        body["emails"].setdefault("addressType", {"id": EMAIL_TYPE})
    if isinstance(body.get("phones"), dict):
        body["phones"].setdefault("phoneType", {"id": PHONE_TYPE})
    return body


class OracleB2BConnector(HttpConnector):
    kind = "oracle_b2b"
    Options: ClassVar[type[BaseModel]] = OracleOptions
    can_list = can_list_changes = can_create = can_update = can_delete = True
    can_find_by_email = True
    auth_kinds = ("basic",)
    auth_why = "Oracle Connect REST uses Basic auth"
    error_keys = ("detail", "title")

    @classmethod
    def check(cls, settings: Any) -> list[str]:
        problems = super().check(settings)
        context = settings.options.application_context
        if not context.strip():
            problems.append("application_context must not be empty")
        elif len(context) > CONTEXT_MAX:
            problems.append(
                f"application_context is {len(context)} characters; "
                f"Oracle's OSvC-CREST-Application-Context allows at most {CONTEXT_MAX}"
            )
        return problems

    @classmethod
    def headers(cls, settings: Any) -> dict[str, str]:
        context = settings.options.application_context
        return {**super().headers(settings), "OSvC-CREST-Application-Context": context}

    @classmethod
    def error_reason(cls, body: Any) -> str | None:
        text = super().error_reason(body)
        code = body.get("o:errorCode") if text else None  # a text means the body is an object
        return f"{text} ({code})" if code else text

    async def list_all(self) -> Listing:
        return await self._scan("id", None)

    async def list_changed(self, cursor: str | None) -> Listing:
        return await self._scan("updatedTime", cursor)

    async def _scan(self, key: str, start: str | None) -> Listing:
        seen: dict[str, dict[str, Any]] = {}
        last, offset, limit = start, 0, self.options.page_size
        while True:
            order = "id:asc" if key == "id" else "updatedTime:asc,id:asc"
            params: dict[str, Any] = {"fields": FIELDS, "expand": EXPAND, "orderBy": order}
            params |= {"limit": limit, "offset": offset, "totalResults": "true"}
            if last is not None:
                since = f"updatedTime>='{roql_string(last)}'"
                params["q"] = f"id>{int(last)}" if key == "id" else since
            try:
                page = await self.client.request_json("GET", "contacts", params=params)
            except ConnectorError as exc:
                return Listing.failed(exc, seen, "listing contacts")
            if not isinstance(page, dict):
                return Listing.incomplete(seen, "a page of contacts was not a JSON object")
            items = page.get("items") or []
            total = page.get("totalResults")
            expected = min(limit, total - offset) if isinstance(total, int) else len(items)
            if len(items) < expected or (page.get("hasMore") and len(items) < limit):
                return Listing.incomplete(
                    seen, f"a page of contacts came back short ({len(items)} items)"
                )
            for item in items:
                seen[str(item["id"])] = contact_record(item)
            if not page.get("hasMore") or not items:
                break
            top = str(items[-1][key])
            if key != "id" and last is not None and parse_time(top) == parse_time(last):
                offset += len(items)  # a run of equal times longer than a page
            else:
                last, offset = top, 0
        records = [VendorRecord(i, r) for i, r in seen.items()]
        return Listing(records, cursor=_latest(seen.values(), start))

    async def find_by_email(self, email: str) -> VendorRecord | None:
        query = f"SELECT ID FROM Contacts WHERE Emails.Address='{roql_string(email)}'"
        body = await self.client.request_json("GET", "queryResults/", params={"query": query})
        ids = [int(row[0]) for table in body.get("items", []) for row in table.get("rows", [])]
        if not ids:
            return None
        try:
            item = await self.client.request_json(
                "GET", f"contacts/{min(ids)}", params={"expand": EXPAND}
            )
        except NotFound:
            return None
        return VendorRecord(str(item["id"]), contact_record(item))

    async def create(self, payload: dict[str, Any], *, email: str | None = None) -> Written:
        body = await self.client.request_json("POST", "contacts", json=request_body(payload))
        if not isinstance(body, dict) or "id" not in body:
            raise Rejected("Oracle answered the create without a contact id")
        contact_id = str(body["id"])
        if self.options.incident is not None:
            await self._open_incident(contact_id)
        # the answer carries emails, phones and country as links only: not the stored record
        return Written(contact_id)

    async def _open_incident(self, contact_id: str) -> str | None:
        options: IncidentOptions = self.options.incident
        body: dict[str, Any] = {
            "primaryContact": {"id": int(contact_id)},
            "subject": options.subject,
        }
        if options.custom_fields:
            custom = {k: {"lookupName": v} for k, v in options.custom_fields.items()}
            body["customFields"] = {"c": custom}
        try:
            answer = await self.client.request_json("POST", "incidents", json=body)
        except ConnectorError as exc:
            log.warning("contact %s was created but its incident was refused: %s", contact_id, exc)
            return None
        return str(answer["id"]) if isinstance(answer, dict) and "id" in answer else None

    async def update(
        self, vendor_id: str, changes: dict[str, Any], full: dict[str, Any]
    ) -> dict[str, Any] | None:
        body = request_body(changes)
        if self.options.patch_via_post:
            override = {"X-HTTP-Method-Override": "PATCH"}
            await self.client.request(
                "POST", f"contacts/{vendor_id}", json=body, headers=override, retry=True
            )
        else:
            await self.client.request("PATCH", f"contacts/{vendor_id}", json=body)
        return None  # Oracle answers a PATCH with no body

    async def delete(self, vendor_id: str) -> None:
        with contextlib.suppress(NotFound):  # already gone counts as deleted
            await self.client.request("DELETE", f"contacts/{vendor_id}")


def _latest(records: Iterable[dict[str, Any]], start: str | None) -> str | None:
    """The newest updatedTime, as Oracle wrote it: the next incremental listing starts there."""
    newest, when = start, parse_time(start)
    for record in records:
        seen = parse_time(record.get("updatedTime"))
        if seen is not None and (when is None or seen > when):
            newest, when = record["updatedTime"], seen
    return newest
