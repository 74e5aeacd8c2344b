"""SuperOffice CRM WebAPI (../shared/seeds/002_8d2d106665cd0909.txt, README notes, Swagger).

Records are SuperOffice entities as `GET {entity}/{id}` answers them: ContactEntity or
PersonEntity (option `entity`), read by the mapping through the Swagger's property names.

Which entity. SuperOffice's Contact is a company card. With `entity = "Contact"` (default) a
canonical contact maps onto one company card: company -> Name, email -> Emails[0].Value,
phone -> Phones[0].Value, department, postal address, country (mappings/superoffice.toml),
and contacts without a company are not sent. That suits a book of companies with one
general address each. For people use `entity = "Person"` (mappings/superoffice_person.toml).

Listing. `GET {entity}` is an OData view of an archive whose rows carry archive columns
(`contactId`, `updatedDate`, ...), not the entity. So a listing pages the archive for IDs,
by key (`contactId gt N`, `$orderBy`, `$top`: rows deleted meanwhile cannot shift a page and
hide a record), follows an `odata.nextLink` when the server cuts a page itself (a nextLink
whose `$skip` does not add up to the rows received means a page came back short), then GETs
each entity. Entities with `Deleted` nonzero are left out, of listings and of lookups.
The cursor is the latest UpdatedDate/CreatedDate seen. `updatedDate` is a date column, so
the filter asks from the day before the cursor (`updatedDate after 'D' or registeredDate
after 'D'`: a new record may have no update date yet) and rows older than the cursor (less
OVERLAP; a day with an SO-TimeZone, which shifts row times) are dropped before any GET.

Writes. POST {entity} creates. `update_method = "put"` (default) GETs the entity, applies
the changes and PUTs it whole: a PUT replaces, so sending only mapped fields would wipe the
rest. `"patch"` sends a JSON Merge Patch of the changes; a merge patch replaces arrays
whole, so changed Emails/Phones are merged into the current array first (one GET). An
emptied element (Value cleared) is dropped from its array. DELETE answers 204; 404 is done.

Lookups: `$filter=email/emailAddress eq '...'` (quotes doubled), then the entity's mapped
email must match. Errors: `{"Error", "ErrorType", "Message"}` (assumed; the Message is used).
Options `app_token`, `language`, `culture`, `timezone` become SO-AppToken, SO-Language,
SO-Culture and SO-TimeZone, each sent only when set.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qsl, urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field

from sync.config import SystemSettings
from sync.connectors.base import HttpConnector, Listing, VendorRecord, Written
from sync.errors import AuthError, ConnectorError, NotFound, Rejected
from sync.mapping import parse_time
from sync.paths import get_path, parse_path

# entity -> archive columns: ID, updated, registered
COLUMNS = {
    "Contact": ("contactId", "updatedDate", "registeredDate"),
    "Person": ("personId", "personUpdatedDate", "personRegisteredDate"),
}
HEADERS = {
    "app_token": "SO-AppToken",
    "language": "SO-Language",
    "culture": "SO-Culture",
    "timezone": "SO-TimeZone",
}
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}
ANSWER_ONLY = ("_Links",)  # in GET answers, not an entity property: never sent back
# archive rows give whole seconds, and a save stamped before the cursor may commit after it
OVERLAP = timedelta(seconds=5)


class SuperOfficeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    entity: Literal["Contact", "Person"] = "Contact"
    update_method: Literal["put", "patch"] = "put"
    app_token: str | None = None
    language: str | None = None
    culture: str | None = None
    timezone: str | None = None
    page_size: int = Field(200, ge=1, le=1000)


class SuperOfficeConnector(HttpConnector):
    kind = "superoffice"
    Options: ClassVar[type[BaseModel]] = SuperOfficeOptions
    can_list = can_list_changes = can_create = can_update = can_delete = True
    can_find_by_email = True
    error_keys = ("Message", "ErrorType")

    def __init__(self, settings: SystemSettings, http: Any = None) -> None:
        super().__init__(settings, http)
        self.entity: str = self.options.entity
        self.id_col, self.updated_col, self.registered_col = COLUMNS[self.entity]

    @classmethod
    def check(cls, settings: SystemSettings) -> list[str]:
        key = f"{getattr(settings.options, 'entity', 'Contact')}Id"
        wrong = settings.mapping.id_path != parse_path(key)
        return super().check(settings) + ([f"the mapping's id must be {key!r}"] if wrong else [])

    @classmethod
    def headers(cls, settings: SystemSettings) -> dict[str, str]:
        options = settings.options.model_dump()
        extra = {header: options[opt] for opt, header in HEADERS.items() if options[opt]}
        return {**super().headers(settings), **extra}

    @classmethod
    def describe_error(cls, response: httpx.Response) -> str | None:
        try:
            response.json()
        except ValueError:  # IIS and proxies in front of SuperOffice answer plain text
            return response.text.strip()[:200] or None
        return super().describe_error(response)

    # ---- reading ----

    async def list_all(self) -> Listing:
        return await self._listing(None)

    async def list_changed(self, cursor: str | None) -> Listing:
        return await self._listing(cursor)

    async def _listing(self, cursor: str | None) -> Listing:
        since = parse_time(cursor)
        where = None
        if since is not None:
            day = (since - timedelta(days=1)).date().isoformat()
            where = f"{self.updated_col} after '{day}' or {self.registered_col} after '{day}'"
        try:
            rows, problem = await self._rows(where)
        except ConnectorError as exc:
            return Listing.failed(exc, None, "listing", cursor=cursor)
        if since is not None:
            rows = [r for r in rows if self._recent(r, since)]
        found, problems = await self._entities([str(r[self.id_col]) for r in rows])
        stamps = [parse_time(e.get(k)) for e in found for k in ("UpdatedDate", "CreatedDate")]
        latest = max([s for s in [*stamps, since] if s is not None], default=None)
        return Listing(
            records=[VendorRecord(str(e[f"{self.entity}Id"]), e) for e in found if _alive(e)],
            complete=problem is None and not problems,
            cursor=latest.astimezone(UTC).isoformat() if latest else cursor,
            problems=([problem] if problem else []) + problems,
        )

    def _recent(self, row: dict[str, Any], since: datetime) -> bool:
        """Whether an archive row may be newer than the cursor (unreadable dates: yes)."""
        slack = timedelta(days=1) if self.options.timezone else OVERLAP
        stamps = [parse_time(row.get(c)) for c in (self.updated_col, self.registered_col)]
        known = [s for s in stamps if s is not None]
        return not known or max(known) >= since - slack

    async def _rows(self, where: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """Archive rows (ID and dates) matching `where`, by key; a problem if a page is short."""
        rows: list[dict[str, Any]] = []
        size, last, batch = self.options.page_size, 0, 0
        params: dict[str, str] | None = None
        while True:
            if params is None:
                key = f"{self.id_col} gt {last}"
                params = {
                    "$select": ",".join(COLUMNS[self.entity]),
                    "$filter": f"{key} and ({where})" if where else key,
                    "$orderBy": self.id_col,
                    "$top": str(size),
                }
                batch = 0
            page = await self.client.request_json("GET", self.entity, params=params)
            value = page.get("value") if isinstance(page, dict) else None
            if not isinstance(value, list):
                return rows, "the listing answered without a value list"
            got = [r for r in value if isinstance(r, dict) and r.get(self.id_col) is not None]
            rows += got
            batch += len(value)
            link = page.get("odata.nextLink")
            if link:  # the server cut the page: follow it, if the rows add up
                follow = dict(parse_qsl(urlsplit(link).query))
                meant = _int(follow.get("$skip")) - _int(params.get("$skip"))
                if meant != len(value):
                    return rows, f"a listing page came back short ({len(value)} of {meant} rows)"
                params = follow
                continue
            if batch < size or not got:
                return rows, None
            last, params = max(int(r[self.id_col]) for r in got), None

    async def _get(self, vendor_id: str) -> dict[str, Any] | None:
        try:
            body = await self.client.request_json("GET", f"{self.entity}/{vendor_id}")
        except NotFound:
            return None  # deleted since it was listed
        return body if isinstance(body, dict) else None

    async def _entities(self, ids: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
        """The entities behind archive IDs (deleted ones too); problems for failed GETs."""
        results = await asyncio.gather(*(self._get(i) for i in ids), return_exceptions=True)
        found, problems = [], []
        for vendor_id, result in zip(ids, results, strict=True):
            if isinstance(result, ConnectorError) and not isinstance(result, AuthError):
                problems.append(f"GET {self.entity}/{vendor_id} failed: {result}")
            elif isinstance(result, BaseException):
                raise result
            elif result is not None:
                found.append(result)
        return found, problems

    async def find_by_email(self, email: str) -> VendorRecord | None:
        literal = email.replace("'", "''")
        page = await self.client.request_json(
            "GET",
            self.entity,
            params={
                "$select": self.id_col,
                "$filter": f"email/emailAddress eq '{literal}'",
                "$top": "50",
            },
        )
        field = self.settings.mapping.fields.get("email")
        path = field.path if field else parse_path("Emails[0].Value")
        rows = page.get("value") if isinstance(page, dict) else None
        rows = rows if isinstance(rows, list) else []
        ids = [r.get(self.id_col) for r in rows if isinstance(r, dict)]
        for vendor_id in [i for i in ids if i is not None]:
            entity = await self._get(str(vendor_id))
            found = str(get_path(entity, path) or "").strip().lower() if entity else ""
            if entity and _alive(entity) and found == email.strip().lower():
                return VendorRecord(str(entity[f"{self.entity}Id"]), entity)
        return None

    # ---- writing ----

    async def create(self, payload: dict[str, Any], *, email: str | None = None) -> Written:
        body = await self.client.request_json("POST", self.entity, json=payload)
        vendor_id = body.get(f"{self.entity}Id") if isinstance(body, dict) else None
        if not vendor_id:
            raise Rejected(f"POST {self.entity} answered without an {self.entity}Id")
        return Written(str(vendor_id), body)

    async def update(
        self, vendor_id: str, changes: dict[str, Any], full: dict[str, Any]
    ) -> dict[str, Any] | None:
        if not changes:
            return None
        path = f"{self.entity}/{vendor_id}"
        if self.options.update_method == "patch":
            patch = changes
            if any(isinstance(v, list) for v in changes.values()):
                current = await self.client.request_json("GET", path)
                have = current if isinstance(current, dict) else {}
                patch = {k: _merged(have.get(k), v) for k, v in changes.items()}
            answer = await self.client.request_json("PATCH", path, json=patch, headers=MERGE_PATCH)
        else:
            current = await self.client.request_json("GET", path)
            if not isinstance(current, dict):
                raise Rejected(f"GET {path} answered without an entity")
            entity = {k: v for k, v in current.items() if k not in ANSWER_ONLY}
            answer = await self.client.request_json("PUT", path, json=_merged(entity, changes))
        return answer if isinstance(answer, dict) else None

    async def delete(self, vendor_id: str) -> None:
        with contextlib.suppress(NotFound):  # already gone: done
            await self.client.request("DELETE", f"{self.entity}/{vendor_id}")


def _alive(entity: dict[str, Any]) -> bool:
    """`Deleted` nonzero: deleted, not to be shown."""
    return not entity.get("Deleted")


def _int(text: str | None) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return -1


def _merged(current: Any, change: Any) -> Any:
    """`change` applied onto `current`: objects key by key, arrays element by element."""
    if isinstance(change, dict) and isinstance(current, dict):
        return {**current, **{k: _merged(current.get(k), v) for k, v in change.items()}}
    if isinstance(change, list):
        old = current if isinstance(current, list) else []
        out = [_merged(o, n) for o, n in zip(old, change, strict=False)]
        out += old[len(change) :] + change[len(old) :]
        return [e for e in out if not (isinstance(e, dict) and "Value" in e and not e["Value"])]
    return change
