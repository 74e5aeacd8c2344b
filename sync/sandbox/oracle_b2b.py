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
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sync.sandbox import filters
from sync.sandbox.base import Emulator, PageResponse
from sync.sandbox.filters import Node
from sync.sandbox.kit import Clock, Refused, json_body

PREFIX = "/services/rest/connect/v1.4"
USERNAME, PASSWORD = "sandbox-agent", "sandbox-password"
CONTEXT_MAX = 40
BAD_REQUEST, UNAUTHORIZED, NOT_FOUND, BAD_METHOD, BAD_MEDIA, ROQL_SYNTAX = (
    "OSC-CREST-00002",
    "OSC-CREST-00001",
    "OSC-CREST-00003",
    "OSC-CREST-00005",
    "OSC-CREST-00006",
    "OSC-CREST-00007",
)
LIMITS = {
    ("name", "first"): 80,
    ("name", "last"): 80,
    ("title",): 80,
    ("emails", "address"): 80,
    ("phones", "number"): 40,
    ("address", "street"): 240,
    ("address", "city"): 80,
    ("address", "postalCode"): 10,
}
EMAIL_TYPES = {0: "Email - Primary", 1: "Alt Email 1", 2: "Alt Email 2"}
PHONE_TYPES = {0: "Office Phone", 1: "Mobile Phone", 2: "Fax Phone", 3: "Asst Phone", 4: "Home"}
CONTACT_MENUS = {
    "driving_preference": {"Solo Driving": 14, "Team Driving": 15},
    "cdl_type": {"Class A": 96, "Class B": 97, "Class C": 98},
}
INCIDENT_MENUS = {
    "application_source": {"CDL Job Now": 3, "Website": 4},
    "application_type": {"Contractor Driver": 5, "Company Driver": 6},
    "truck_type": {"Straight Truck": 8, "Tractor Trailer": 9},
}
CONTACT_FIELDS = (
    "id",
    "lookupName",
    "createdTime",
    "updatedTime",
    "address",
    "customFields",
    "disabled",
    "emails",
    "name",
    "phones",
    "title",
)
WRITABLE = {"name", "emails", "phones", "address", "customFields", "title", "disabled"}
EXPANDABLE = {"emails", "phones", "address.country"}
LIST_PARAMS = {"limit", "offset", "q", "orderBy", "totalResults", "fields", "expand"}
COUNTRY = re.compile(r"^[A-Z]{2}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
# canonical name -> (section, key) of the stored contact, for seed_person / edit / people
CANONICAL = {
    "first_name": ("name", "first"),
    "last_name": ("name", "last"),
    "title": ("", "title"),
    "street": ("address", "street"),
    "city": ("address", "city"),
    "postal_code": ("address", "postalCode"),
    "region": ("address", "stateOrProvince"),
    "country": ("address", "country"),
    "has_cdl": ("custom", "has_cdl"),
    "driving_preference": ("custom", "driving_preference"),
    "cdl_type": ("custom", "cdl_type"),
}


def _time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _parse_time(text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Refused(f"'{text}' is not a valid date and time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- ROQL: queryResults and the `q` parameter, by the sandbox's filter parser ---


def _lowered(node: Node | None) -> Node | None:
    """ROQL's field names are case-insensitive: compared lower-cased."""
    if node is None:
        return None
    if node[0] == "col":
        return ("col", str(node[1]).lower())
    if node[0] == "lit":
        return node
    return (node[0], *[_lowered(n) if isinstance(n, tuple) else n for n in node[1:]])


def roql(text: str) -> Node:
    """A `q` expression; Refused (OSC-CREST-00007) for anything ROQL cannot parse."""
    try:
        node = _lowered(filters.parse(text, filters.ROQL))
    except filters.FilterSyntaxError as exc:
        raise Refused(str(exc), 400, ROQL_SYNTAX) from None
    assert node is not None
    return node


def select(text: str) -> tuple[list[str], str, Node | None]:
    """`SELECT col, ... FROM table [WHERE expr]`."""
    try:
        parser = filters.Parser(text, filters.ROQL)
        parser.take("kw", "select")
        columns = [parser.take("word")]
        while parser.accept("punct", ","):
            columns.append(parser.take("word"))
        parser.take("kw", "from")
        table = parser.take("word")
        where = parser.expr() if parser.accept("kw", "where") else None
        parser.end()
    except filters.FilterSyntaxError as exc:
        raise Refused(str(exc), 400, ROQL_SYNTAX) from None
    return columns, table, _lowered(where)


def _column(contact: dict[str, Any], name: str) -> list[Any]:
    """The values a contact has for a ROQL field (several for Emails.Address)."""
    simple: dict[str, Callable[[], Any]] = {
        "id": lambda: contact["id"],
        "createdtime": lambda: _parse_time(contact["createdTime"]),
        "updatedtime": lambda: _parse_time(contact["updatedTime"]),
        "lookupname": lambda: _lookup_name(contact),
        "name.first": lambda: contact["name"].get("first"),
        "name.last": lambda: contact["name"].get("last"),
    }
    if name in simple:
        return [simple[name]()]
    if name == "emails.address":
        return [e["address"] for e in contact["emails"]]
    raise Refused(f"'{name}' is not a queryable field of Contacts")


def _compare(op: str, left: Any, right: Any) -> bool:
    if isinstance(left, datetime) or isinstance(right, datetime):
        left = left if isinstance(left, datetime) else _parse_time(str(left))
        right = right if isinstance(right, datetime) else _parse_time(str(right))
    elif isinstance(left, int) != isinstance(right, int):
        try:
            left, right = int(left), int(right)
        except (TypeError, ValueError):
            return False
    elif isinstance(left, str) and isinstance(right, str):
        left, right = left.lower(), right.lower()
    if left is None or right is None:
        return False
    if op == "like":
        pattern = re.escape(str(right)).replace("%", ".*").replace("_", ".")
        return re.fullmatch(pattern, str(left), re.S) is not None
    checks: dict[str, Callable[[Any, Any], bool]] = {
        "=": lambda a, b: a == b,
        "<>": lambda a, b: a != b,
        "!=": lambda a, b: a != b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
    }
    return checks[op](left, right)


QUERYABLE = {"id", "createdtime", "updatedtime", "lookupname", "name.first", "name.last"}
TIMES = {"createdtime", "updatedtime"}


def check(node: Node | None) -> Node | None:
    """Refuse at parse time what ROQL refuses: unknown fields, a date that is not one."""
    if node is None:
        return None
    if node[0] in ("or", "and"):
        check(node[1])
        check(node[2])
    elif node[0] == "not":
        check(node[1])
    else:
        _, _, left, right = node
        for side, other in ((left, right), (right, left)):
            if side[0] == "col" and side[1] not in QUERYABLE | {"emails.address"}:
                raise Refused(f"'{side[1]}' is not a queryable field of Contacts")
            if side[0] == "col" and side[1] in TIMES and other[0] == "lit":
                _parse_time(str(other[1]))
    return node


def matches(node: Node | None, contact: dict[str, Any]) -> bool:
    def compare(op: str, left: Node, right: Node) -> bool:
        lefts = _column(contact, left[1]) if left[0] == "col" else [left[1]]
        rights = _column(contact, right[1]) if right[0] == "col" else [right[1]]
        return any(_compare(op, a, b) for a in lefts for b in rights)

    return filters.evaluate(node, compare)


def _lookup_name(contact: dict[str, Any]) -> str:
    return " ".join(p for p in (contact["name"].get("first"), contact["name"].get("last")) if p)


# --- request bodies ---


def _text(value: Any, where: tuple[str, ...]) -> str | None:
    if value is not None and not isinstance(value, str):
        raise Refused(f"'{'.'.join(where)}' must be a string")
    limit = LIMITS.get(where)
    if value and limit and len(value) > limit:
        raise Refused(f"'{'.'.join(where)}' exceeds its maximum length of {limit} characters")
    return value or None


def _keys(value: Any, allowed: set[str], where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Refused(f"'{where}' must be an object")
    for key in value:
        if key not in allowed:
            raise Refused(f"'{where}.{key}' is not a valid field")
    return value


def _type_id(value: Any, types: dict[int, str], where: str) -> int:
    ref = _keys(value, {"id", "lookupName"}, where)
    if "id" in ref:
        if ref["id"] not in types or isinstance(ref["id"], bool):
            raise Refused(f"'{where}.id' {ref['id']!r} is not a valid ID")
        return int(ref["id"])
    for type_id, name in types.items():
        if name == ref.get("lookupName"):
            return type_id
    raise Refused(f"'{where}' needs an id or a valid lookupName")


def _menu(value: Any, options: dict[str, int], where: str) -> str | None:
    if value is None:
        return None
    ref = _keys(value, {"id", "lookupName"}, where)
    for name, menu_id in options.items():
        if ref.get("lookupName") == name or ref.get("id") == menu_id:
            return name
    raise Refused(f"'{where}' {ref!r} is not one of the menu's options")


def _items(value: Any, where: str) -> list[Any]:
    return value if isinstance(value, list) else [value]


def apply_contact(contact: dict[str, Any], body: dict[str, Any]) -> None:
    """Validate a create or update body and apply it to a stored contact (in place)."""
    for key in body:
        if key not in WRITABLE:
            raise Refused(f"'{key}' is not a valid field of contacts")
    if "name" in body:
        for part, value in _keys(body["name"], {"first", "last"}, "name").items():
            contact["name"][part] = _text(value, ("name", part))
    if "title" in body:
        contact["title"] = _text(body["title"], ("title",))
    if "disabled" in body:
        if not isinstance(body["disabled"], bool):
            raise Refused("'disabled' must be true or false")
        contact["disabled"] = body["disabled"]
    for key, kind_key, value_key, types in (
        ("emails", "addressType", "address", EMAIL_TYPES),
        ("phones", "phoneType", "number", PHONE_TYPES),
    ):
        for entry in _items(body.get(key, []), key):
            entry = _keys(entry, {kind_key, value_key}, key)
            kind = _type_id(entry.get(kind_key), types, f"{key}.{kind_key}")
            value = _text(entry.get(value_key), (key, value_key))
            if key == "emails" and value and not EMAIL.match(value):
                raise Refused(f"'{value}' is not a valid email address")
            kept = [e for e in contact[key] if e["type"] != kind]
            contact[key] = kept + ([{"type": kind, value_key: value}] if value else [])
    if "address" in body:
        allowed = {"city", "street", "postalCode", "country", "stateOrProvince"}
        for part, value in _keys(body["address"], allowed, "address").items():
            if part in ("country", "stateOrProvince"):
                ref = None if value is None else _keys(value, {"lookupName"}, part)
                code = None if ref is None else ref.get("lookupName")
                if part == "country" and code is not None and not COUNTRY.match(str(code)):
                    raise Refused(f"'{code}' is not a valid country lookupName")
                contact["address"][part] = _text(code, ("address", part))
            else:
                contact["address"][part] = _text(value, ("address", part))
    if "customFields" in body:
        fields = _keys(
            _keys(body["customFields"], {"c"}, "customFields").get("c", {}),
            set(["has_cdl", *CONTACT_MENUS]),
            "customFields.c",
        )
        for name, value in fields.items():
            if name == "has_cdl":
                if value is not None and not isinstance(value, bool):
                    raise Refused("'customFields.c.has_cdl' must be true or false")
                contact["custom"][name] = value
            else:
                contact["custom"][name] = _menu(value, CONTACT_MENUS[name], f"c.{name}")


def new_contact(contact_id: int, now: str) -> dict[str, Any]:
    return {
        "id": contact_id,
        "createdTime": now,
        "updatedTime": now,
        "name": {"first": None, "last": None},
        "title": None,
        "disabled": False,
        "emails": [],
        "phones": [],
        "address": {k: None for k in ("city", "street", "postalCode", "country")}
        | {"stateOrProvince": None},
        "custom": {"has_cdl": None, "driving_preference": None, "cdl_type": None},
    }


class OracleB2BEmulator(Emulator):
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

    @staticmethod
    def _body_of(person: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {}
        for field, (section, key) in CANONICAL.items():
            if field not in person:
                continue
            value = person[field]
            if section == "":
                body[key] = value
            elif section == "custom":
                menu = field in CONTACT_MENUS and value is not None
                c = body.setdefault("customFields", {"c": {}})["c"]
                c[key] = {"lookupName": value} if menu else value
            elif key in ("country", "stateOrProvince"):
                body.setdefault(section, {})[key] = None if value is None else {"lookupName": value}
            else:
                body.setdefault(section, {})[key] = value
        if "email" in person:
            body["emails"] = {"addressType": {"id": 0}, "address": person["email"]}
        phones = [(k, t) for k, t in (("phone", 0), ("mobile", 1)) if k in person]
        if phones:
            body["phones"] = [{"phoneType": {"id": t}, "number": person[k]} for k, t in phones]
        if person.get("active") is not None:
            body["disabled"] = not person["active"]
        return body

    def seed_person(self, person: dict[str, Any]) -> str:
        contact = new_contact(self.new_id(), self._now())
        apply_contact(contact, self._body_of(person))
        self.contacts[contact["id"]] = contact
        self._ids = None
        return str(contact["id"])

    def edit(self, vendor_id: str, **canonical_fields: Any) -> None:
        contact = self.contacts[int(vendor_id)]
        apply_contact(contact, self._body_of(canonical_fields))
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

    def _href(self, request: Request, *parts: Any) -> str:
        base = request.scope.get("sandbox.base")
        if base is None:  # once per request: a page renders thousands of links
            base = request.scope["sandbox.base"] = str(request.base_url).rstrip("/") + PREFIX
        return f"{base}/" + "/".join(map(str, parts))

    def _render(self, request: Request, c: dict[str, Any], expand: set[str]) -> dict[str, Any]:
        """A contact as Oracle answers it: links where not expanded."""

        def links(*parts: Any) -> dict[str, Any]:
            href = self._href(request, *parts)
            return {"links": [{"rel": "self", "href": href}, {"rel": "canonical", "href": href}]}

        def sub(kind: str, type_key: str, value_key: str, names: dict[int, str]) -> Any:
            if kind not in expand:
                return links("contacts", c["id"], kind)
            items = [
                {
                    value_key: e[value_key],
                    type_key: {"id": e["type"], "lookupName": names[e["type"]]},
                }
                for e in sorted(c[kind], key=lambda e: e["type"])
            ]
            return {"items": items, **links("contacts", c["id"], kind)}

        address = dict(c["address"])
        country = address.pop("country")
        province = address.pop("stateOrProvince")
        if country is None:
            address["country"] = None
        else:
            country_id = self._countries.setdefault(country, len(self._countries) + 1)
            expanded = {"id": country_id, "lookupName": country, "name": country}
            address["country"] = (
                expanded if "address.country" in expand else links("countries", country_id)
            )
        address["stateOrProvince"] = (
            None
            if province is None
            else {
                "id": self._provinces.setdefault(province, len(self._provinces) + 7),
                "lookupName": province,
            }
        )
        custom: dict[str, Any] = {"has_cdl": c["custom"]["has_cdl"]}
        for name, options in CONTACT_MENUS.items():
            value = c["custom"][name]
            custom[name] = None if value is None else {"id": options[value], "lookupName": value}
        return {
            "id": c["id"],
            "lookupName": _lookup_name(c),
            "createdTime": c["createdTime"],
            "updatedTime": c["updatedTime"],
            "address": address,
            "customFields": {"c": custom},
            "disabled": c["disabled"],
            "emails": sub("emails", "addressType", "address", EMAIL_TYPES),
            "name": dict(c["name"]),
            "phones": sub("phones", "phoneType", "number", PHONE_TYPES),
            "title": c["title"],
            **links("contacts", c["id"]),
        }

    @staticmethod
    def _expand(request: Request) -> set[str]:
        names = {n for n in request.query_params.get("expand", "").split(",") if n}
        unknown = names - EXPANDABLE - {"all"}
        if unknown:
            raise Refused(f"cannot expand {', '.join(sorted(unknown))}")
        return EXPANDABLE if "all" in names else names

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


class _ById:
    """Contacts from the `start`th of the sorted IDs on, in ID order, read lazily."""

    def __init__(self, contacts: dict[int, dict[str, Any]], ids: list[int], start: int) -> None:
        self.contacts, self.ids, self.start = contacts, ids, start

    def __len__(self) -> int:
        return len(self.ids) - self.start

    def __getitem__(self, part: slice) -> list[dict[str, Any]]:
        low = self.start + (part.start or 0)
        high = None if part.stop is None else self.start + part.stop
        return [self.contacts[i] for i in self.ids[low:high]]


def _number(text: str, name: str, low: int, high: int) -> int:
    if not text.isdigit() or not low <= int(text) <= high:
        raise Refused(f"'{name}' must be a whole number from {low} to {high}")
    return int(text)


def _order(text: str) -> list[tuple[str, str]]:
    out = []
    for part in text.split(","):
        key, _, direction = part.partition(":")
        if key not in ("id", "createdTime", "updatedTime", "lookupName"):
            raise Refused(f"cannot order by '{key}'")
        if direction not in ("", "asc", "desc"):
            raise Refused(f"'{direction}' is not asc or desc")
        out.append((key, direction or "asc"))
    return out


def _sort_key(contact: dict[str, Any], key: str) -> Any:
    if key == "lookupName":
        return _lookup_name(contact).lower()
    if key == "id":
        return contact["id"]
    return _parse_time(contact[key])
