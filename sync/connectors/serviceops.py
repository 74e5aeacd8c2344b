"""Motadata ServiceOps 8.4 requesters (the contacts of this service desk).

From ../shared/seeds/001_03338e10568f8112.txt and the README notes. Auth is `oauth_password`
(sync/auth.py: token from `{base_url}/api/oauth/token`, refreshed on a 401).

Requesters are read with `POST api/v1/requester/search/byqual?offset=&size=` and a
`qualDetails` body: empty for the full scan, `user.updatedTime` greater than the cursor
(epoch ms, minus one so that the boundary is re-read) for changes, `user.email` equal for
lookups; these POSTs are reads and are retried. Pages follow `totalCount`; a page shorter
than the count promises, or a count that shrinks while paging (a requester deleted mid-scan
shifts the offsets), makes the listing incomplete rather than silently short.

Writes: `POST api/v1/requester`, `PATCH` and `DELETE api/v1/requester/{id}`; create and
update answer the stored requester. Option `request = {subject = ..., ...}` (the documented
keys of `POST api/v1/request`) opens a request for each created requester, identified by
`requesterEmail`; a refused request is logged and does not undo the requester.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from sync.connectors.base import HttpConnector, Listing, VendorRecord, Written
from sync.errors import ConnectorError, NotFound, Rejected

log = logging.getLogger("sync.connectors.serviceops")
SEARCH = "api/v1/requester/search/byqual"


class RequestOptions(BaseModel):
    """The documented keys of a request, but requesterEmail (the created requester's)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    subject: str = Field(min_length=1)
    categoryName: str | None = None
    ccEmailSet: list[str] | None = None
    tags: list[str] | None = None
    impactName: str | None = None
    priorityName: str | None = None
    urgencyName: str | None = None
    departmentName: str | None = None
    locationName: str | None = None
    supportLevel: str | None = None
    spam: bool | None = None
    source: str | None = None
    fileAttachments: list[dict[str, Any]] | None = None
    statusName: str | None = None
    linkAssetIds: list[dict[str, Any]] | None = None
    customField: dict[str, Any] | None = None
    name: str | None = None  # in the document's sample body, though not in its key table


class ServiceOpsOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    page_size: int = Field(100, ge=1, le=1000)
    request: RequestOptions | None = None


def qualification(*quals: dict[str, Any]) -> dict[str, Any]:
    return {"qualDetails": {"type": "FlatQualificationRest", "quals": list(quals)}}


def relation(key: str, operator: str, value_type: str, value: Any) -> dict[str, Any]:
    return {
        "type": "RelationalQualificationRest",
        "leftOperand": {"type": "PropertyOperandRest", "key": key},
        "operator": operator,
        "rightOperand": {"type": "ValueOperandRest", "value": {"type": value_type, "value": value}},
    }


class ServiceOpsConnector(HttpConnector):
    kind = "serviceops"
    Options: ClassVar[type[BaseModel]] = ServiceOpsOptions
    can_list = can_list_changes = can_create = can_update = can_delete = True
    can_find_by_email = True
    auth_kinds = ("oauth_password",)
    auth_why = "the ServiceOps REST integration takes an OAuth password grant"
    error_keys = ("userMessage", "error_description", "error")

    async def list_all(self) -> Listing:
        return await self._search(qualification(), None)

    async def list_changed(self, cursor: str | None) -> Listing:
        if cursor is None or not cursor.isdigit():
            return await self._search(qualification(), None)
        since = relation("user.updatedTime", "greater_than", "TimeValueRest", int(cursor) - 1)
        return await self._search(qualification(since), cursor)

    async def _search(self, body: dict[str, Any], cursor: str | None) -> Listing:
        found: dict[str, dict[str, Any]] = {}
        offset, size, counted = 0, self.options.page_size, None
        while True:
            params = {"offset": offset, "size": size}
            try:
                page = await self.client.request_json(
                    "POST", SEARCH, params=params, json=body, retry=True
                )
            except ConnectorError as exc:
                return Listing.failed(exc, found, "searching requesters")
            items = page.get("objectList") if isinstance(page, dict) else None
            total = page.get("totalCount") if isinstance(page, dict) else None
            if not isinstance(items, list) or not isinstance(total, int):
                return Listing.incomplete(found, "a search answer had no objectList or totalCount")
            if counted is not None and total < counted:
                return Listing.incomplete(
                    found, "requesters were deleted while paging; one may be skipped"
                )
            if len(items) < min(size, total - offset):
                return Listing.incomplete(
                    found, f"a page of requesters came back short ({len(items)} items)"
                )
            for item in items:
                found[str(item["id"])] = item
            counted, offset = total, offset + len(items)
            if offset >= total or not items:
                break
        times = [r["updatedTime"] for r in found.values() if isinstance(r.get("updatedTime"), int)]
        newest = str(max(times)) if times else cursor
        return Listing([VendorRecord(i, r) for i, r in found.items()], cursor=newest)

    async def find_by_email(self, email: str) -> VendorRecord | None:
        body = qualification(relation("user.email", "equal", "StringValueRest", email))
        page = await self.client.request_json(
            "POST", SEARCH, params={"offset": 0, "size": 10}, json=body, retry=True
        )
        items = page.get("objectList") if isinstance(page, dict) else None
        for item in items or []:
            if str(item.get("email") or "").strip().lower() == email.strip().lower():
                return VendorRecord(str(item["id"]), item)
        return None

    async def create(self, payload: dict[str, Any], *, email: str | None = None) -> Written:
        record = await self.client.request_json("POST", "api/v1/requester", json=payload)
        if not isinstance(record, dict) or "id" not in record:
            raise Rejected("ServiceOps answered the create without a requester id")
        if self.options.request is not None:
            await self.open_request(email or str(payload.get("email") or ""))
        return Written(str(record["id"]), record)

    async def open_request(self, requester_email: str) -> str | None:
        """Open the configured request for a requester; its id, or None if refused."""
        options: RequestOptions = self.options.request
        body = {"requesterEmail": requester_email, **options.model_dump(exclude_none=True)}
        try:
            answer = await self.client.request_json("POST", "api/v1/request", json=body)
        except ConnectorError as exc:
            log.warning(
                "requester %s was created but its request was refused: %s", requester_email, exc
            )
            return None
        return str(answer["id"]) if isinstance(answer, dict) and "id" in answer else None

    async def update(
        self, vendor_id: str, changes: dict[str, Any], full: dict[str, Any]
    ) -> dict[str, Any] | None:
        record = await self.client.request_json(
            "PATCH", f"api/v1/requester/{vendor_id}", json=changes
        )
        return record if isinstance(record, dict) and "id" in record else None

    async def delete(self, vendor_id: str) -> None:
        with contextlib.suppress(NotFound):  # already gone counts as deleted
            await self.client.request("DELETE", f"api/v1/requester/{vendor_id}")
