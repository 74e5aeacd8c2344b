"""SuperOffice CRM WebAPI emulator: `/api/v1/Contact` and `/api/v1/Person`.

Follows ../shared/seeds/002_8d2d106665cd0909.txt, the README notes and SuperOffice's Swagger
(../shared/specs/superoffice-Swagger-v1-{Contact,Person}.json):

- Auth: `Authorization: Basic | Bearer | SOTicket` (scheme case-insensitive) against the
  configured credentials; with an app token configured, `SO-AppToken` must carry it. Else 401.
- `GET {entity}` is the OData view of an archive: rows `{"PrimaryKey", "EntityName", ...}` with
  the `$select`ed archive columns (SimpleContact / SimplePerson names, e.g. `contactId`,
  `updatedDate`, `email/emailAddress`), `$filter` (eq ne gt ge lt le, after before date,
  contains begins; and, or, parentheses; '' inside quotes), `$orderBy`, `$top`, `$skip`. A page
  longer than `page_size` is cut and answered with an `odata.nextLink`.
- `POST {entity}`, `GET|PUT|PATCH|DELETE {entity}/{id}` carry the entity. PUT replaces (what it
  leaves out is gone): 200/400/412. PATCH takes a merge patch or a JSON patch: 200/404/409/412.
  DELETE: 204. `$select` on these nulls out the other properties. `If-Unmodified-Since` -> 412.
- Bodies are checked against the Swagger property types (null allowed for text, objects and
  lists, not for numbers and flags) and the database field lengths (SuperOffice's database
  reference: contact.name 219, person.firstname 99, email_address 239, zipcode 11, ...).

Assumed where SuperOffice publishes nothing:
- Errors answer `{"Error": true, "ErrorType": ..., "Message": ...}`.
- Unknown properties are refused (400). The Swagger leaves additionalProperties open and the real
  API likely ignores them, but a silently dropped, misspelt field loses data.
- A date filter on a date column compares days when given a date, instants when given a time.
- Soft-deleted companies (`Deleted` nonzero) still show in archive rows and GETs: clients must
  hide them. `remove()` soft-deletes a company (Deleted = 1); a person has no Deleted property,
  so `remove()` takes it out (into the RecyclePerson archive, which is not emulated).
- CountryId is the ISO 3166 numeric code (Norway 578); a few countries are known.
- `truncate`: a page loses its second half while its odata.nextLink skips past the full page,
  so the skip does not add up to the rows received.
"""

from __future__ import annotations

import base64
import copy
import json
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sync.sandbox.base import Emulator
from sync.sandbox.kit import Refused
from sync.sandbox.superoffice_archive import (
    COLUMNS,
    _cell,
    _put,
    _sort_key,
    _values,
    json_patch,
    merge_patch,
    parse_filter,
)
from sync.sandbox.superoffice_model import (
    _ALL_VERBS,
    _COUNTRY_LIST,
    _ROUTE,
    APP_TOKEN,
    CANONICAL,
    COUNTRIES,
    COUNTRY_BY_ID,
    PROPERTIES,
    SERVER_OWNED,
    TENANT,
    _country,
    _error,
    _instant,
    _stamp,
    _stripped,
    check_entity,
    invalid,
)

__all__ = ["COUNTRIES", "SuperOfficeEmulator", "parse_filter"]


class SuperOfficeEmulator(Emulator):
    name = "superoffice"
    DEFAULT_ENV: dict[str, str] = {
        "SUPEROFFICE_USERNAME": "sandbox",
        "SUPEROFFICE_PASSWORD": "sandbox-password",
        "SUPEROFFICE_TOKEN": "8A:Cust12345.sandbox-bearer-token",
        "SUPEROFFICE_TICKET": "7T:c2FuZGJveC10aWNrZXQ=",
        "SUPEROFFICE_APP_TOKEN": APP_TOKEN,
    }

    def __init__(
        self,
        *,
        entity: str = "Contact",
        app_token: str | None = APP_TOKEN,
        page_size: int = 500,
        env: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        assert entity in PROPERTIES
        self.entity = entity
        self.app_token = app_token
        self.page_size = page_size
        creds = env or self.DEFAULT_ENV
        pair = f"{creds['SUPEROFFICE_USERNAME']}:{creds['SUPEROFFICE_PASSWORD']}"
        self.accepted = {
            "basic " + base64.b64encode(pair.encode()).decode(),
            "bearer " + creds["SUPEROFFICE_TOKEN"],
            "soticket " + creds["SUPEROFFICE_TICKET"],
        }
        self.store: dict[str, dict[int, dict[str, Any]]] = {"Contact": {}, "Person": {}}
        self.app = Starlette(routes=[Route("/{path:path}", self.handle, methods=_ALL_VERBS)])

    def system_table(self, base_url: str) -> dict[str, Any]:
        table: dict[str, Any] = {
            "connector": "superoffice",
            "base_url": f"{base_url.rstrip('/')}/{TENANT}/api/v1",
            "mapping": "mappings/superoffice.toml"
            if self.entity == "Contact"
            else "mappings/superoffice_person.toml",
            "auth": {"kind": "soticket", "token_env": "SUPEROFFICE_TICKET"},
            "entity": self.entity,
        }
        if self.app_token:
            table["app_token_env"] = "SUPEROFFICE_APP_TOKEN"
        return table

    # ---- the store, as a user of the SuperOffice client would change it ----

    def _now(self) -> datetime:
        """Strictly increasing update times, so incremental cursors never miss a write."""
        return self.clock.stamp()

    def restamp(self, vendor_id: str, like: str) -> None:
        other = self.store[self.entity][int(like)]
        for key in ("UpdatedDate", "CreatedDate"):
            self.store[self.entity][int(vendor_id)][key] = other[key]

    def _save(self, entity: str, body: dict[str, Any], vendor_id: int | None = None) -> int:
        """Store a checked body as the server would: IDs, dates, derived values."""
        key = f"{entity}Id"
        old = self.store[entity].get(vendor_id) if vendor_id else None
        vendor_id = vendor_id or self.new_id()
        record = {k: copy.deepcopy(v) for k, v in body.items() if k not in SERVER_OWNED}
        record = {k: v for k, v in record.items() if v is not None}
        for prop, kind in PROPERTIES[entity].items():
            if kind == "elements" and prop in record:
                record[prop] = [
                    {
                        **e,
                        "StrippedValue": _stripped(e.get("Value")),
                        "Description": e.get("Description") or "",
                    }
                    for e in record[prop]
                    if e.get("Value")
                ]
        country = record.pop("Country", None)
        if isinstance(country, dict) and country.get("CountryId") in COUNTRY_BY_ID:
            iso, name = COUNTRY_BY_ID[country["CountryId"]]
            record["Country"] = {
                **country,
                "TwoLetterISOCountry": iso,
                "EnglishName": name,
                "Name": name,
            }
        now = _stamp(self._now())
        record[key] = vendor_id
        record["CreatedDate"] = old["CreatedDate"] if old else now
        record["UpdatedDate"] = now
        if entity == "Contact":
            record["Deleted"] = int(record.get("Deleted") or 0)
        self.store[entity][vendor_id] = record
        return vendor_id

    def _canonical_body(self, fields: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
        body = copy.deepcopy(base)
        for name, value in fields.items():
            if name == "country":
                cid = COUNTRIES.get(str(value or "").upper(), (None, ""))[0]
                body["Country"] = {"CountryId": cid} if cid else None
            elif name in CANONICAL[self.entity]:
                _put(body, CANONICAL[self.entity][name], value)
        return body

    def seed_person(self, person: dict[str, Any]) -> str:
        fields = dict(person)
        if self.entity == "Contact" and not fields.get("company"):
            name = " ".join(filter(None, [person.get("first_name"), person.get("last_name")]))
            fields["company"] = name or person.get("email")
        return str(self._save(self.entity, self._canonical_body(fields, {})))

    def edit(self, vendor_id: str, **canonical_fields: Any) -> None:
        current = self.store[self.entity][int(vendor_id)]
        self._save(self.entity, self._canonical_body(canonical_fields, current), int(vendor_id))

    def remove(self, vendor_id: str) -> None:
        if self.entity == "Person":
            self.store["Person"].pop(int(vendor_id), None)
            return
        record = self.store["Contact"][int(vendor_id)]
        record["Deleted"] = 1
        record["UpdatedDate"] = _stamp(self._now())

    def people(self) -> list[dict[str, Any]]:
        out = []
        for vendor_id, record in self.store[self.entity].items():
            if record.get("Deleted"):
                continue
            row: dict[str, Any] = {"id": str(vendor_id)}
            for name, path in CANONICAL[self.entity].items():
                cur: Any = record
                for step in path:
                    if isinstance(step, int):
                        cur = cur[step] if isinstance(cur, list) and len(cur) > step else None
                    else:
                        cur = cur.get(step) if isinstance(cur, dict) else None
                if cur not in (None, ""):
                    row[name] = cur
            country = (record.get("Country") or {}).get("TwoLetterISOCountry")
            if country:
                row["country"] = country
            out.append(row)
        return out

    # ---- HTTP ----

    def refusal(self, request: Request, refused: Refused) -> Response:
        if refused.detail is not None:  # ASP.NET's ModelState
            body = {"Message": refused.message, "ModelState": refused.detail}
            return JSONResponse(body, status_code=refused.status)
        return _error(refused.status, refused.code, refused.message, **refused.headers)

    async def route(self, request: Request) -> Response:
        m = _ROUTE.match(request.url.path)
        countries = _COUNTRY_LIST.match(request.url.path)
        if not m and not countries:
            return _error(404, "NotFound", f"no resource at {request.url.path}")
        auth = request.headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        if f"{scheme.lower()} {value.strip()}" not in self.accepted:
            challenge = 'Basic, Bearer, SOTicket realm="SuperOffice"'
            return _error(
                401,
                "UnauthorizedAccessException",
                "Authentication failed",
                **{"WWW-Authenticate": challenge},
            )
        if self.app_token and request.headers.get("so-apptoken") != self.app_token:
            return _error(401, "UnauthorizedAccessException", "missing or unknown SO-AppToken")
        if m is None:
            if request.method != "GET":
                return _error(405, "MethodNotAllowed", f"{request.method} is not allowed here")
            return JSONResponse([_country(cid) for cid in sorted(COUNTRY_BY_ID)])
        entity, item = m.group(1), m.group(2)
        allowed = ("GET", "PUT", "PATCH", "DELETE") if item else ("GET", "POST")
        if request.method not in allowed:
            return _error(
                405,
                "MethodNotAllowed",
                f"{request.method} is not allowed here",
                Allow=", ".join(allowed),
            )
        if not item:
            if request.method == "GET":
                return self._list(request, entity)
            return await self._write(request, entity, None)
        if not item.isdigit():
            raise invalid(400, "ArgumentException", f"{item!r} is not an id")
        return await self._item(request, entity, int(item))

    def _out(self, request: Request, entity: str, record: dict[str, Any]) -> JSONResponse:
        base = str(request.base_url).rstrip("/") + request.url.path.rsplit(f"/{entity}", 1)[0]
        key = record[f"{entity}Id"]
        links = {"Self": f"{base}/{entity}/{key}", "Archive": f"{base}/{entity}"}
        body = {**copy.deepcopy(record), "TableRight": None, "FieldProperties": {}, "_Links": links}
        select = request.query_params.get("$select")
        if select:
            wanted = {s.split("/")[0].strip().lower() for s in select.split(",")}
            keep = {k for k in body if k.lower() in wanted or k == "_Links"}
            body = {k: (v if k in keep else None) for k, v in body.items()}
        return JSONResponse(body)

    async def _json(self, request: Request, *types: str) -> Any:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype not in types:
            raise invalid(415, "UnsupportedMediaType", f"Content-Type {ctype or '(none)'}")
        raw = await request.body()
        if not raw.strip():
            raise invalid(400, "ArgumentException", "Entity to save is not in request body")
        try:
            return json.loads(raw)
        except ValueError:
            raise invalid(400, "ArgumentException", "request body is not valid JSON") from None

    def _unmodified(self, request: Request, record: dict[str, Any]) -> None:
        since = request.headers.get("if-unmodified-since")
        if not since:
            return
        try:
            limit = parsedate_to_datetime(since)
        except (TypeError, ValueError):
            raise invalid(400, "ArgumentException", "bad If-Unmodified-Since") from None
        updated = _instant(record["UpdatedDate"])
        if updated and updated.replace(microsecond=0) > limit:
            raise invalid(412, "PreconditionFailed", "the entity changed since If-Unmodified-Since")

    async def _write(self, request: Request, entity: str, vendor_id: int | None) -> Response:
        body = await self._json(request, "application/json", "text/json")
        check_entity(entity, body)
        saved = self._save(entity, body, vendor_id)
        return self._out(request, entity, self.store[entity][saved])

    async def _item(self, request: Request, entity: str, vendor_id: int) -> Response:
        record = self.store[entity].get(vendor_id)
        if record is None:
            raise invalid(404, "NotFound", f"{entity}Entity {vendor_id} not found")
        if request.method == "GET":
            return self._out(request, entity, record)
        self._unmodified(request, record)
        if request.method == "DELETE":
            del self.store[entity][vendor_id]
            return Response(status_code=204)
        if request.method == "PUT":
            return await self._write(request, entity, vendor_id)
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        patch = await self._json(
            request, "application/merge-patch+json", "application/json-patch+json"
        )
        if ctype == "application/merge-patch+json":
            patched = merge_patch(record, patch)
        else:
            patched = json_patch(record, patch)
        check_entity(entity, patched)
        self._save(entity, patched, vendor_id)
        return self._out(request, entity, self.store[entity][vendor_id])

    def _list(self, request: Request, entity: str) -> Response:
        q = request.query_params
        columns = COLUMNS[entity]
        id_col = "contactId" if entity == "Contact" else "personId"
        default = [id_col, "name" if entity == "Contact" else "fullName"]
        select = [c.strip() for c in q.get("$select", "").split(",") if c.strip()] or default
        order = [c.strip() for c in q.get("$orderBy", id_col).split(",") if c.strip()]
        for column in [*select, *(o.split()[0] for o in order)]:
            if column not in columns:
                raise invalid(400, "ArgumentException", f"unknown archive column {column!r}")
        try:
            top = int(q["$top"]) if "$top" in q else None
            skip = int(q.get("$skip", 0))
        except ValueError:
            raise invalid(400, "ArgumentException", "$top and $skip are whole numbers") from None
        rows = list(self.store[entity].values())
        if q.get("$filter"):
            where = parse_filter(q["$filter"], columns)
            rows = [r for r in rows if where(_values(columns, r))]
        for spec in reversed(order):
            column, *direction = spec.split()
            descending = bool(direction) and direction[0].lower() == "desc"
            rows.sort(key=_sort_key(columns[column]), reverse=descending)
        wanted = len(rows) - skip if top is None else min(top, len(rows) - skip)
        page = rows[skip : skip + min(max(wanted, 0), self.page_size)]
        next_skip = skip + len(page) if len(page) < wanted else None
        if page and self.faults.hit("truncate"):
            next_skip = skip + len(page)
            page = page[: len(page) // 2]
        value = [
            {
                "PrimaryKey": r[f"{entity}Id"],
                "EntityName": entity.lower(),
                **{c: _cell(columns[c](r)) for c in select},
            }
            for r in page
        ]
        base = str(request.url).split("?")[0]
        link = None
        if next_skip is not None:
            params = {k: v for k, v in q.items() if k not in ("$skip", "$top")}
            params["$skip"] = str(next_skip)
            if top is not None:
                params["$top"] = str(top - (next_skip - skip))
            link = f"{base}?{urlencode(params)}"
        meta = base.rsplit("/", 1)[0] + "/$metadata"
        return JSONResponse({"odata.metadata": meta, "odata.nextLink": link, "value": value})
