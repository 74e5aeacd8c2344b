"""Oracle B2B Service (Connect REST v1.4) emulator: contacts, queryResults, incidents.

From ../shared/seeds/000_2c5c1f25ef22ab09.txt and the notes in ../shared/seeds/README.md:

- every request needs Basic auth and the OSvC-CREST-Application-Context header (at most 40
  characters); bodies need Content-Type: application/json;
- verbs are GET, POST, PATCH and DELETE (PUT and the rest answer 405); a POST carrying
  `X-HTTP-Method-Override: PATCH` (or DELETE) is that verb;
- a contact is created with the document's body (single `emails` / `phones` objects, or lists
  of them) and answered 201 like the document's sample: `emails`, `phones` and
  `address.country` as links; `GET contacts/{id}?expand=emails,phones,address.country`
  expands them (`emails` and `phones` as `{"items": [...]}`);
- `GET contacts` pages with `limit` (1..1000), `offset`, `q` (a ROQL WHERE clause over id,
  createdTime, updatedTime, lookupName, name.first, name.last, emails.address), `orderBy`,
  `totalResults` and `fields` (top-level names only, as on a real collection); `expand` as
  above; `{"items", "hasMore", "links"}`;
- `GET queryResults/?query=SELECT ID FROM Contacts WHERE ...` parses ROQL strictly: string
  literals are single-quoted with quotes doubled (sync/sandbox/filters.py), anything left over
  is a syntax error (400, OSC-CREST-00007, as Oracle answers a backslash-escaped quote) and an
  injected `OR 1=1` that does parse is obeyed, as a real parser would;
- PATCH and DELETE answer 200 with no body; IDs are 64-bit integers (they start above 2**53
  so that a client that reads them as floats is caught);
- errors are `{"type", "title", "status", "detail", "instance", "o:errorCode"}`. The README
  names OSC-CREST-00002 (bad request); the other codes here are this emulator's stand-ins.

Limits (the Connect object model's): name parts, title, city and email 80, phone 40, street
240, postal code 10, incident subject 240. Menus (custom fields) accept only their options.
The `truncate` fault cuts a page in half while `hasMore`/`totalResults` still count it whole.
"""

from __future__ import annotations

import base64
import bisect
import json
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sync.sandbox.base import Emulator, PageResponse
from sync.sandbox.filters import Node
from sync.sandbox.kit import Clock, Refused, json_body
from sync.sandbox.oracle_b2b_model import (
    BAD_MEDIA,
    BAD_METHOD,
    BAD_REQUEST,
    CANONICAL,
    CONTACT_FIELDS,
    CONTEXT_MAX,
    INCIDENT_MENUS,
    LIST_PARAMS,
    NOT_FOUND,
    PASSWORD,
    PREFIX,
    UNAUTHORIZED,
    USERNAME,
    _ById,
    _keys,
    _menu,
    _number,
    _order,
    _parse_time,
    _sort_key,
    _time,
    apply_contact,
    check,
    matches,
    new_contact,
    roql,
    select,
)
from sync.sandbox.oracle_b2b_render import Rendering, body_of

__all__ = ["PREFIX", "OracleB2BEmulator"]


class OracleB2BEmulator(Rendering, Emulator):
    name = "oracle_b2b"
    DEFAULT_ENV: dict[str, str] = {
        "ORACLE_B2B_USERNAME": USERNAME,
        "ORACLE_B2B_PASSWORD": PASSWORD,
    }

    def __init__(self, *, first_id: int = 2**53 + 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._next_id = first_id
        self.contacts: dict[int, dict[str, Any]] = {}
        self.incidents: list[dict[str, Any]] = []
        self._ids: list[int] | None = None  # sorted contact IDs; None after a create/delete
        self.clock = Clock(timedelta(milliseconds=1))  # Oracle answers milliseconds
        self._provinces: dict[str, int] = {"CO": 7}
        self._countries: dict[str, int] = {"US": 1}
        verbs = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        self.app = Starlette(routes=[Route("/{path:path}", self.handle, methods=verbs)])

    def system_table(self, base_url: str) -> dict[str, Any]:
        base = base_url.rstrip("/")
        return {
            "connector": "oracle_b2b",
            "base_url": base if base.endswith(PREFIX) else base + PREFIX,
            "mapping": "mappings/oracle_b2b.toml",
            "auth": {
                "kind": "basic",
                "username_env": "ORACLE_B2B_USERNAME",
                "password_env": "ORACLE_B2B_PASSWORD",
            },
            "application_context": "contactsync",
        }

    # --- the store, as an agent in Oracle's console would change it ---

    def _now(self) -> str:
        """Strictly increasing update times (millisecond resolution)."""
        return _time(self.clock.stamp())

    def seed_person(self, person: dict[str, Any]) -> str:
        contact = new_contact(self.new_id(), self._now())
        apply_contact(contact, body_of(person))
        self.contacts[contact["id"]] = contact
        self._ids = None
        return str(contact["id"])

    def edit(self, vendor_id: str, **canonical_fields: Any) -> None:
        contact = self.contacts[int(vendor_id)]
        apply_contact(contact, body_of(canonical_fields))
        contact["updatedTime"] = self._now()

    def remove(self, vendor_id: str) -> None:
        self.contacts.pop(int(vendor_id), None)
        self._ids = None

    def restamp(self, vendor_id: str, like: str) -> None:
        self.contacts[int(vendor_id)]["updatedTime"] = self.contacts[int(like)]["updatedTime"]

    def people(self) -> list[dict[str, Any]]:
        out = []
        for c in self.contacts.values():
            person: dict[str, Any] = {"id": str(c["id"]), "active": not c["disabled"]}
            for field, (section, key) in CANONICAL.items():
                holder = c if section == "" else c[section]
                person[field] = holder[key]
            for e in c["emails"]:
                if e["type"] == 0:
                    person["email"] = e["address"]
            for p in c["phones"]:
                if p["type"] in (0, 1):
                    person["phone" if p["type"] == 0 else "mobile"] = p["number"]
            out.append({k: v for k, v in person.items() if v not in (None, "")})
        return out

    # --- the API ---

    def refusal(self, request: Request, failure: Refused) -> Response:
        """Oracle's error body (RFC 7807 with its own code)."""
        code = failure.code or BAD_REQUEST
        titles = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}
        titles |= {405: "Method Not Allowed", 415: "Unsupported Media Type"}
        body = {
            "type": f"{request.base_url}services/rest/connect/exceptions/{code}",
            "title": titles.get(failure.status, "Error"),
            "status": failure.status,
            "detail": failure.message,
            "instance": request.url.path,
            "o:errorCode": code,
        }
        headers = {"WWW-Authenticate": 'Basic realm="Oracle"'} if failure.status == 401 else None
        return JSONResponse(body, status_code=failure.status, headers=headers)

    def _gate(self, request: Request) -> None:
        expected = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            raise Refused("Access denied: invalid user name or password", 401, UNAUTHORIZED)
        context = request.headers.get("osvc-crest-application-context")
        if not context:
            raise Refused("The OSvC-CREST-Application-Context header is required")
        if len(context) > CONTEXT_MAX:
            raise Refused(f"OSvC-CREST-Application-Context exceeds {CONTEXT_MAX} characters")

    async def route(self, request: Request) -> Response:
        self._gate(request)
        method = request.method
        override = request.headers.get("x-http-method-override")
        if override:
            if method != "POST" or override.upper() not in ("PATCH", "DELETE"):
                raise Refused(f"X-HTTP-Method-Override {override!r} is not supported")
            method = override.upper()
        if method not in ("GET", "POST", "PATCH", "DELETE"):
            raise Refused(f"{method} is not supported", 405, BAD_METHOD)
        path = request.url.path
        if not path.startswith(PREFIX + "/"):
            raise Refused("No such resource", 404, NOT_FOUND)
        parts = path[len(PREFIX) + 1 :].strip("/").split("/")
        routes: dict[tuple[str, str], Callable[..., Any]] = {
            ("contacts", "GET"): self._list,
            ("contacts", "POST"): self._create,
            ("contact", "GET"): self._get,
            ("contact", "PATCH"): self._update,
            ("contact", "DELETE"): self._delete,
            ("queryResults", "GET"): self._query,
            ("incidents", "POST"): self._incident,
        }
        args: tuple[Any, ...] = ()
        if parts[0] == "contacts" and len(parts) == 2:
            resource, args = "contact", (self._find(parts[1]),)
        elif len(parts) == 1:
            resource = parts[0]
        else:
            raise Refused("No such resource", 404, NOT_FOUND)
        if not any(r == resource for r, _ in routes):
            raise Refused(f"'{parts[0]}' is not a resource", 404, NOT_FOUND)
        handler = routes.get((resource, method))
        if handler is None:
            raise Refused(f"{method} is not allowed on {parts[0]}", 405, BAD_METHOD)
        response: Response = await handler(request, *args)
        return response

    def _find(self, text: str) -> dict[str, Any]:
        if not text.isdigit() or int(text) >= 2**63:
            raise Refused(f"'{text}' is not a valid ID")
        contact = self.contacts.get(int(text))
        if contact is None:
            raise Refused(f"No contact with ID {text}", 404, NOT_FOUND)
        return contact

    @staticmethod
    async def _json(request: Request) -> dict[str, Any]:
        body = await json_body(
            request,
            media=lambda _: Refused("Content-Type must be application/json", 415, BAD_MEDIA),
            malformed=lambda: Refused("The request body is not valid JSON"),
        )
        if not isinstance(body, dict):
            raise Refused("The request body must be a JSON object")
        return body

    async def _list(self, request: Request) -> Response:
        params = request.query_params
        unknown = set(params) - LIST_PARAMS
        if unknown:
            raise Refused(f"unknown query parameter {', '.join(sorted(unknown))}")
        limit = _number(params.get("limit", "1000"), "limit", 1, 1000)
        offset = _number(params.get("offset", "0"), "offset", 0, 2**63)
        where = None
        if params.get("q"):
            where = check(roql(params["q"]))
        order = _order(params.get("orderBy", "id:asc"))
        found = self._select(where, order)
        if isinstance(found, list):
            for key, direction in reversed(order):
                found.sort(key=partial(_sort_key, key=key), reverse=direction == "desc")
        fields = [f for f in params.get("fields", "").split(",") if f]
        for f in fields:
            if f not in CONTACT_FIELDS:
                raise Refused(
                    f"'{f}' is not a field of contacts, or a subfield (collections "
                    "take top-level fields only)"
                )
        expand = self._expand(request)
        page = found[offset : offset + limit]
        has_more = offset + len(page) < len(found)
        if len(page) > 1 and self.faults.hit("truncate"):
            page = page[: len(page) // 2]
        items = []
        for c in page:
            full = self._render(request, c, expand)
            shown = fields or ["id", "lookupName", "createdTime", "updatedTime"]
            items.append({**{f: full[f] for f in shown}, "links": full["links"]})
        body: dict[str, Any] = {"items": items, "hasMore": has_more}
        if params.get("totalResults") == "true":
            body["totalResults"] = len(found)
        body["links"] = [{"rel": "canonical", "href": self._href(request, "contacts")}]
        return PageResponse(body)

    def _select(
        self, where: Node | None, order: list[tuple[str, str]]
    ) -> list[dict[str, Any]] | _ById:
        """The contacts `where` matches. The two shapes a sync asks page after page (`id>N`
        by id, `updatedTime>='T'`) take a short cut, so a page is not a scan of every contact
        through the ROQL evaluator (benchmarks hold 100,000)."""
        contacts = self.contacts
        if (
            where is not None
            and where[0] == "cmp"
            and where[2][0] == "col"
            and where[3][0] == "lit"
        ):
            _, op, (_, column), (_, value) = where
            if column == "id" and op == ">" and isinstance(value, int):
                if order[:1] == [("id", "asc")]:
                    ids = self._sorted_ids()
                    return _ById(contacts, ids, bisect.bisect_right(ids, value))
                return [c for c in contacts.values() if c["id"] > value]
            if column == "updatedtime" and op == ">=" and isinstance(value, str):
                since = _time(_parse_time(value))
                if since == value:  # stored times share this format: text order is time order
                    return [c for c in contacts.values() if c["updatedTime"] >= since]
        if where is None and order[:1] == [("id", "asc")]:
            return _ById(contacts, self._sorted_ids(), 0)
        return [c for c in contacts.values() if matches(where, c)]

    def _sorted_ids(self) -> list[int]:
        if self._ids is None or len(self._ids) != len(self.contacts):
            self._ids = sorted(self.contacts)
        return self._ids

    async def _create(self, request: Request) -> Response:
        body = await self._json(request)
        contact = new_contact(self.new_id(), self._now())
        apply_contact(contact, body)
        self.contacts[contact["id"]] = contact
        self._ids = None
        location = self._href(request, "contacts", contact["id"])
        rendered = self._render(request, contact, set())
        rendered.pop("links")
        return JSONResponse(rendered, status_code=201, headers={"Location": location})

    async def _get(self, request: Request, contact: dict[str, Any]) -> Response:
        return JSONResponse(self._render(request, contact, self._expand(request)))

    async def _update(self, request: Request, contact: dict[str, Any]) -> Response:
        body = await self._json(request)
        changed = json.loads(json.dumps(contact))
        apply_contact(changed, body)
        changed["updatedTime"] = self._now()
        self.contacts[contact["id"]] = changed
        return Response(status_code=200)

    async def _delete(self, request: Request, contact: dict[str, Any]) -> Response:
        del self.contacts[contact["id"]]
        self._ids = None
        return Response(status_code=200)

    async def _query(self, request: Request) -> Response:
        query = request.query_params.get("query")
        if not query:
            raise Refused("the query parameter is required")
        columns, table, where = select(query)
        check(where)
        if table.lower() != "contacts":
            raise Refused(f"'{table}' is not a table this emulator can query")
        if [c.lower() for c in columns] != ["id"]:
            raise Refused("this emulator answers SELECT ID only")
        rows = [[str(c["id"])] for c in self.contacts.values() if matches(where, c)][:20000]
        table_body = {"tableName": "contacts", "count": len(rows), "columnNames": ["id"]}
        return JSONResponse({"items": [{**table_body, "rows": rows}], "links": []})

    async def _incident(self, request: Request) -> Response:
        body = await self._json(request)
        _keys(body, {"primaryContact", "subject", "customFields"}, "incident")
        ref = _keys(body.get("primaryContact"), {"id"}, "primaryContact")
        if not isinstance(ref.get("id"), int) or ref["id"] not in self.contacts:
            raise Refused(f"primaryContact.id {ref.get('id')!r} is not a valid contact ID")
        subject = body.get("subject")
        if not isinstance(subject, str) or not subject.strip():
            raise Refused("'subject' is required")
        if len(subject) > 240:
            raise Refused("'subject' exceeds its maximum length of 240 characters")
        c = _keys(
            _keys(body.get("customFields", {}), {"c"}, "customFields").get("c", {}),
            set(INCIDENT_MENUS),
            "customFields.c",
        )
        custom = {k: _menu(v, INCIDENT_MENUS[k], f"c.{k}") for k, v in c.items()}
        now = self._now()
        incident_id = self.new_id()
        reference = f"{now[2:4]}{now[5:7]}{now[8:10]}-{len(self.incidents) + 1:06d}"
        self.incidents.append(
            {"id": incident_id, "primaryContact": ref["id"], "subject": subject, "custom": custom}
        )
        answer = {
            "id": incident_id,
            "lookupName": reference,
            "createdTime": now,
            "updatedTime": now,
            "primaryContact": {
                "links": [{"rel": "self", "href": self._href(request, "contacts", ref["id"])}]
            },
            "referenceNumber": reference,
            "subject": subject,
            "customFields": {
                "c": {
                    k: None if v is None else {"id": INCIDENT_MENUS[k][v], "lookupName": v}
                    for k, v in custom.items()
                }
            },
        }
        return JSONResponse(answer, status_code=201)
