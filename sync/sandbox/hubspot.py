"""HubSpot CRM contacts emulator (v3 objects API), from HubSpot's public reference.

- Auth: `Authorization: Bearer <private app token>`; else 401 INVALID_AUTHENTICATION.
- `GET /crm/v3/objects/contacts?limit=&after=&properties=&archived=`: `{"results": [...],
  "paging": {"next": {"after", "link"}}}` (paging only when more follows), limit 1..100
  (default 10), ordered by ID; archived contacts only with archived=true.
- `GET|PATCH|DELETE /crm/v3/objects/contacts/{id}` (`idProperty=email` looks up by email);
  `POST /crm/v3/objects/contacts` answers 201. Bodies are `{"properties": {...}}`; an unknown
  property is a VALIDATION_ERROR, "" clears a value, emails are unique (409 CONFLICT,
  "Contact already exists. Existing ID: N"). DELETE archives (204); an archived contact is
  404 to GET and PATCH, and leaves listings and searches.
- `POST /crm/v3/objects/contacts/search`: `filterGroups` (at most 5, of at most 6 filters:
  EQ NEQ LT LTE GT GTE BETWEEN IN NOT_IN HAS_PROPERTY NOT_HAS_PROPERTY), one sort, limit
  1..200, `after` an offset below 10,000 (no page reaches past 10,000 results); dates compare
  as epoch milliseconds. At most `search_rate` searches a second (429 SECONDLY).
- Every other answer carries X-HubSpot-RateLimit-Max/-Remaining/-Interval-Milliseconds and
  -Daily/-Daily-Remaining; a request past the window's budget is 429 TEN_SECONDLY_ROLLING.
- Objects: `{"id", "properties", "createdAt", "updatedAt", "archived"}`; properties are the
  requested ones (null when unset) plus createdate, lastmodifieddate and hs_object_id.

Not emulated: associations, batch endpoints, property history, and the search index's lag
behind writes (HubSpot says a few seconds).
"""

from __future__ import annotations

import uuid
from collections import deque
from datetime import timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sync.sandbox.base import Emulator, PageResponse
from sync.sandbox.hubspot_model import (
    CANONICAL,
    DEFAULT_SHOWN,
    PREFIX,
    TEXT,
    TOKEN,
    _check,
    _groups,
    _sorter,
    _stamp,
)
from sync.sandbox.kit import Clock, Records, Refused, json_body

__all__ = ["PREFIX", "TOKEN", "HubSpotEmulator"]


class HubSpotEmulator(Emulator):
    name = "hubspot"
    DEFAULT_ENV: dict[str, str] = {"HUBSPOT_TOKEN": TOKEN}

    def __init__(
        self,
        *,
        token: str = TOKEN,
        burst: int = 100,
        window_ms: int = 10_000,
        daily: int = 250_000,
        search_rate: int = 5,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.token = token
        self.burst, self.window_ms, self.daily, self.search_rate = (
            burst,
            window_ms,
            daily,
            search_rate,
        )
        self.clock = Clock(timedelta(milliseconds=1))  # HubSpot keeps milliseconds
        self.store = Records(lambda c: None if c["archived"] else c["properties"].get("email"))
        self.contacts: dict[int, dict[str, Any]] = self.store.by_id
        self._calls: deque[float] = deque()  # request times in the current window
        self._searches: deque[float] = deque()
        self.used_today = 0
        routes = [
            Route(PREFIX, self.handle, methods=["GET", "POST"]),
            Route(PREFIX + "/search", self.handle, methods=["POST"]),
            Route(PREFIX + "/{cid}", self.handle, methods=["GET", "PATCH", "DELETE"]),
        ]
        self.app = Starlette(routes=routes)

    def system_table(self, base_url: str) -> dict[str, Any]:
        return {
            "connector": "hubspot",
            "base_url": base_url.rstrip("/"),
            "mapping": "mappings/hubspot.toml",
            "auth": {"kind": "bearer", "token_env": "HUBSPOT_TOKEN"},
        }

    # --- the world, as a user of HubSpot's screens changes it ---

    def _save(self, contact_id: int | None, properties: dict[str, str]) -> dict[str, Any]:
        now = _stamp(self.clock.stamp())
        record: dict[str, Any]
        if contact_id is None:
            contact_id = self.new_id()
            record = {"id": contact_id, "properties": {}, "createdAt": now, "archived": False}
        else:
            held = self.contacts[contact_id]
            record = {**held, "properties": dict(held["properties"])}
        record["properties"].update(properties)
        record["updatedAt"] = now
        return self.store.put(contact_id, record)

    def seed_person(self, person: dict[str, Any]) -> str:
        props = {CANONICAL[k]: str(v) for k, v in person.items() if k in CANONICAL and v}
        return str(self._save(None, props)["id"])

    def edit(self, vendor_id: str, **canonical_fields: Any) -> None:
        props = {CANONICAL[k]: "" if v is None else str(v) for k, v in canonical_fields.items()}
        self._save(int(vendor_id), props)

    def remove(self, vendor_id: str) -> None:
        record = self.contacts[int(vendor_id)]
        self.store.put(
            int(vendor_id), {**record, "archived": True, "archivedAt": record["updatedAt"]}
        )

    def restamp(self, vendor_id: str, like: str) -> None:
        self.contacts[int(vendor_id)]["updatedAt"] = self.contacts[int(like)]["updatedAt"]

    def people(self) -> list[dict[str, Any]]:
        out = []
        for c in self.store:
            if c["archived"]:
                continue
            props = c["properties"]
            person = {k: props.get(p) for k, p in CANONICAL.items() if props.get(p)}
            out.append({"id": str(c["id"]), **person})
        return out

    # --- answers ---

    def refusal(self, request: Request, refused: Refused) -> Response:
        body: dict[str, Any] = {
            "status": "error",
            "message": refused.message,
            "correlationId": str(uuid.uuid4()),
            "category": refused.code or "VALIDATION_ERROR",
        }
        if refused.status == 429:
            body = {**body, "errorType": "RATE_LIMIT", "policyName": refused.detail}
            del body["category"]
        return JSONResponse(body, status_code=refused.status, headers=refused.headers or None)

    def _budget(self, request: Request) -> dict[str, str]:
        """Count the request against the window and the day; 429 past either."""
        now = self.clock.timestamp()
        window = self.window_ms / 1000
        while self._calls and self._calls[0] <= now - window:
            self._calls.popleft()
        if self.used_today >= self.daily:
            raise Refused("You have reached your daily limit.", 429, detail="DAILY")
        if len(self._calls) >= self.burst:
            raise Refused(
                "You have reached your ten_secondly_rolling limit.",
                429,
                detail="TEN_SECONDLY_ROLLING",
            )
        self._calls.append(now)
        self.used_today += 1
        return {
            "X-HubSpot-RateLimit-Max": str(self.burst),
            "X-HubSpot-RateLimit-Remaining": str(self.burst - len(self._calls)),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(self.window_ms),
            "X-HubSpot-RateLimit-Daily": str(self.daily),
            "X-HubSpot-RateLimit-Daily-Remaining": str(self.daily - self.used_today),
        }

    async def route(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            raise Refused(
                "Authentication credentials not found. This API supports OAuth 2.0 "
                "authentication and you can find more details at https://developers.hubspot.com",
                401,
                "INVALID_AUTHENTICATION",
            )
        if request.url.path == PREFIX + "/search":
            return await self._search(request)
        headers = self._budget(request)
        cid = request.path_params.get("cid")
        if cid is None:
            response = await (
                self._create(request) if request.method == "POST" else self._list(request)
            )
        else:
            response = await self._item(request, cid)
        response.headers.update(headers)
        return response

    @staticmethod
    def _wanted(request: Request) -> list[str]:
        names = [
            n for value in request.query_params.getlist("properties") for n in value.split(",")
        ]
        return [n.strip() for n in names if n.strip()] or list(DEFAULT_SHOWN)

    def _out(self, contact: dict[str, Any], wanted: list[str]) -> dict[str, Any]:
        props = contact["properties"]
        shown = {n: props.get(n) or None for n in wanted if n in TEXT}
        shown |= {
            "createdate": contact["createdAt"],
            "lastmodifieddate": contact["updatedAt"],
            "hs_object_id": str(contact["id"]),
        }
        out = {
            "id": str(contact["id"]),
            "properties": shown,
            "createdAt": contact["createdAt"],
            "updatedAt": contact["updatedAt"],
            "archived": contact["archived"],
        }
        if contact["archived"]:
            out["archivedAt"] = contact["archivedAt"]
        return out

    @staticmethod
    def _params(request: Request, allowed: set[str]) -> None:
        unknown = set(request.query_params) - allowed
        if unknown:
            raise Refused(f"Unknown query parameter {sorted(unknown)[0]}", 400, "VALIDATION_ERROR")

    async def _list(self, request: Request) -> Response:
        self._params(request, {"limit", "after", "properties", "archived"})
        q = request.query_params
        limit = q.get("limit", "10")
        if not limit.isdigit() or not 1 <= int(limit) <= 100:
            raise Refused("limit must be a whole number from 1 to 100", 400, "VALIDATION_ERROR")
        after = q.get("after", "0")
        if not after.isdigit():
            raise Refused(f"after {after!r} is not a valid paging token", 400, "VALIDATION_ERROR")
        archived = q.get("archived", "false") == "true"
        ids = sorted(
            i for i, c in self.contacts.items() if c["archived"] == archived and i >= int(after)
        )
        page, rest = ids[: int(limit)], ids[int(limit) :]
        body: dict[str, Any] = {
            "results": [self._out(self.contacts[i], self._wanted(request)) for i in page]
        }
        if rest:
            link = str(request.url.include_query_params(after=str(rest[0])))
            body["paging"] = {"next": {"after": str(rest[0]), "link": link}}
        return PageResponse(body)

    async def _properties(self, request: Request) -> dict[str, str]:
        body = await json_body(
            request, malformed=lambda: Refused("Invalid input JSON", 400, "VALIDATION_ERROR")
        )
        if not isinstance(body, dict) or set(body) - {"properties", "associations"}:
            raise Refused("the body takes properties (and associations)", 400, "VALIDATION_ERROR")
        return _check(body.get("properties", {}))

    def _conflict(self, email: str | None, but: int | None = None) -> None:
        holders = self.store.with_email(email or "", but) if email else []
        if holders:
            raise Refused(f"Contact already exists. Existing ID: {holders[0]}", 409, "CONFLICT")

    async def _create(self, request: Request) -> Response:
        self._params(request, set())
        props = await self._properties(request)
        self._conflict(props.get("email"))
        contact = self._save(None, props)
        return JSONResponse(self._out(contact, list(props) or list(DEFAULT_SHOWN)), status_code=201)

    def _find(self, request: Request, cid: str) -> dict[str, Any]:
        if request.query_params.get("idProperty") == "email":
            ids = self.store.with_email(cid)
            contact = self.contacts[ids[0]] if ids else None
        elif request.query_params.get("idProperty") not in (None, "hs_object_id"):
            raise Refused("idProperty must be email or hs_object_id", 400, "VALIDATION_ERROR")
        else:
            contact = self.contacts.get(int(cid)) if cid.isdigit() else None
        archived = request.query_params.get("archived") == "true"
        if contact is None or contact["archived"] != archived:
            raise Refused(
                "Object not found.  objectId are usually numeric.", 404, "OBJECT_NOT_FOUND"
            )
        return contact

    async def _item(self, request: Request, cid: str) -> Response:
        self._params(request, {"properties", "idProperty", "archived"})
        contact = self._find(request, cid)
        if request.method == "GET":
            return JSONResponse(self._out(contact, self._wanted(request)))
        if request.method == "DELETE":
            self.remove(str(contact["id"]))
            return Response(status_code=204)
        props = await self._properties(request)
        self._conflict(props.get("email"), but=contact["id"])
        contact = self._save(contact["id"], props)
        return JSONResponse(self._out(contact, list(props) or list(DEFAULT_SHOWN)))

    async def _search(self, request: Request) -> Response:
        now = self.clock.timestamp()
        while self._searches and self._searches[0] <= now - 1:
            self._searches.popleft()
        if len(self._searches) >= self.search_rate:
            raise Refused("You have reached your secondly limit.", 429, detail="SECONDLY")
        self._searches.append(now)
        body = await json_body(
            request, malformed=lambda: Refused("Invalid input JSON", 400, "VALIDATION_ERROR")
        )
        if not isinstance(body, dict):
            raise Refused("the search body must be an object", 400, "VALIDATION_ERROR")
        unknown = set(body) - {"filterGroups", "sorts", "properties", "limit", "after", "query"}
        if unknown:
            raise Refused(f"Unknown search field {sorted(unknown)[0]}", 400, "VALIDATION_ERROR")
        test = _groups(body.get("filterGroups", []))
        limit, after = body.get("limit", 10), body.get("after", "0")
        if not isinstance(limit, int) or not 1 <= limit <= 200:
            raise Refused("limit must be a whole number from 1 to 200", 400, "VALIDATION_ERROR")
        if not str(after).isdigit() or int(after) + limit > 10_000:
            raise Refused("The search API returns at most 10,000 results", 400, "VALIDATION_ERROR")
        found = [c for c in self.store if not c["archived"] and test(c)]
        found.sort(key=_sorter(body.get("sorts", [])))
        page = found[int(after) : int(after) + limit]
        wanted = body.get("properties") or list(DEFAULT_SHOWN)
        out: dict[str, Any] = {"total": len(found), "results": [self._out(c, wanted) for c in page]}
        if int(after) + limit < len(found):
            out["paging"] = {"next": {"after": str(int(after) + limit)}}
        return PageResponse(out)
