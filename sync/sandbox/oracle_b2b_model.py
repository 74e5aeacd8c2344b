"""What the Oracle B2B emulator (sync/sandbox/oracle_b2b.py) checks and reads: limits, menus,
ROQL evaluation, body validation, paging helpers."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sync.sandbox import filters
from sync.sandbox.filters import Node
from sync.sandbox.kit import Refused

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
