"""What the HubSpot emulator (sync/sandbox/hubspot.py) checks and reads: contact properties,
search filter groups, operators and sorts."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sync.sandbox.kit import Refused

PREFIX = "/crm/v3/objects/contacts"


TOKEN = "pat-na1-sandbox-0000-0000-000000000000"


TEXT = {"email", "firstname", "lastname", "phone", "mobilephone", "company", "jobtitle"}


TEXT |= {"address", "city", "state", "zip", "country", "website", "lifecyclestage"}


READ_ONLY = {"createdate", "lastmodifieddate", "hs_object_id"}


DEFAULT_SHOWN = ("firstname", "lastname", "email")


EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


OPERATORS = {"EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN"}


OPERATORS |= {"HAS_PROPERTY", "NOT_HAS_PROPERTY"}


# canonical field -> HubSpot property, for seed_person / edit / people (the tests' oracle)
CANONICAL = {
    "email": "email",
    "first_name": "firstname",
    "last_name": "lastname",
    "phone": "phone",
    "mobile": "mobilephone",
    "company": "company",
    "title": "jobtitle",
    "street": "address",
    "city": "city",
    "region": "state",
    "postal_code": "zip",
    "country": "country",
}


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _ms(text: Any) -> int | None:
    """A date property's value or a filter's, as epoch milliseconds."""
    if text is None or text == "":
        return None
    if isinstance(text, int) or (isinstance(text, str) and text.isdigit()):
        return int(text)
    try:
        return int(datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        raise Refused(f"{text!r} is not a date", 400, "VALIDATION_ERROR") from None


def _invalid(name: str, error: str, message: str) -> Refused:
    detail = f'[{{"isValid":false,"message":"{message}","error":"{error}","name":"{name}"}}]'
    return Refused(f"Property values were not valid: {detail}", 400, "VALIDATION_ERROR")


def _check(properties: Any) -> dict[str, str]:
    if not isinstance(properties, dict):
        raise Refused("properties must be an object", 400, "VALIDATION_ERROR")
    out = {}
    for name, value in properties.items():
        if name in READ_ONLY:
            raise _invalid(name, "READ_ONLY_VALUE", f'"{name}" is a read only property')
        if name not in TEXT:
            raise _invalid(name, "PROPERTY_DOESNT_EXIST", f'Property \\"{name}\\" does not exist')
        if value is not None and not isinstance(value, str | int | float | bool):
            raise _invalid(name, "INVALID_TYPE", f"{name} must be a string")
        text = "" if value is None else str(value)
        if len(text) > 65536:
            raise _invalid(name, "MAX_LENGTH", f"{name} is longer than 65536 characters")
        if name == "email" and text and not EMAIL.match(text):
            raise _invalid(name, "INVALID_EMAIL", f"Email address {text} is invalid")
        out[name] = text.lower() if name == "email" else text
    return out


def _value(contact: dict[str, Any], name: str) -> Any:
    if name in ("lastmodifieddate", "hs_lastmodifieddate"):
        return _ms(contact["updatedAt"])
    if name == "createdate":
        return _ms(contact["createdAt"])
    if name == "hs_object_id":
        return contact["id"]
    if name not in TEXT:
        raise Refused(f"Unknown property {name}", 400, "VALIDATION_ERROR")
    return contact["properties"].get(name) or None


def _groups(groups: Any) -> Any:
    if not isinstance(groups, list) or len(groups) > 5:
        raise Refused("filterGroups: at most 5 groups", 400, "VALIDATION_ERROR")
    tests = []
    for group in groups:
        filters = group.get("filters") if isinstance(group, dict) else None
        if not isinstance(filters, list) or not 1 <= len(filters) <= 6:
            raise Refused("each filter group holds 1 to 6 filters", 400, "VALIDATION_ERROR")
        tests.append([_filter(f) for f in filters])
    return lambda c: not tests or any(all(t(c) for t in group) for group in tests)


def _filter(spec: Any) -> Any:
    if not isinstance(spec, dict) or spec.get("operator") not in OPERATORS:
        raise Refused(f"unknown filter operator in {spec!r}", 400, "VALIDATION_ERROR")
    name, op = spec.get("propertyName"), spec["operator"]
    dated = name in ("lastmodifieddate", "hs_lastmodifieddate", "createdate")

    def norm(v: Any) -> Any:
        return _ms(v) if dated else (str(v).lower() if v is not None else None)

    value, values = norm(spec.get("value")), [norm(v) for v in spec.get("values") or []]
    high = norm(spec.get("highValue"))

    def test(contact: dict[str, Any]) -> bool:
        have = _value(contact, str(name))
        have = have if dated or have is None else str(have).lower()
        checks = {
            "EQ": lambda: have == value,
            "NEQ": lambda: have != value,
            "LT": lambda: have is not None and have < value,
            "LTE": lambda: have is not None and have <= value,
            "GT": lambda: have is not None and have > value,
            "GTE": lambda: have is not None and have >= value,
            "BETWEEN": lambda: have is not None and value <= have <= high,
            "IN": lambda: have in values,
            "NOT_IN": lambda: have not in values,
            "HAS_PROPERTY": lambda: have is not None,
            "NOT_HAS_PROPERTY": lambda: have is None,
        }
        return bool(checks[op]())

    _value({"id": 0, "properties": {}, "createdAt": None, "updatedAt": None}, str(name))
    return test


def _sorter(sorts: Any) -> Any:
    if not isinstance(sorts, list) or len(sorts) > 1:
        raise Refused("sorts: at most one sort", 400, "VALIDATION_ERROR")
    if not sorts:
        return lambda c: c["id"]
    name, direction = sorts[0].get("propertyName"), sorts[0].get("direction", "ASCENDING")
    sign = -1 if direction == "DESCENDING" else 1

    def key(c: dict[str, Any]) -> Any:
        v = _value(c, str(name))
        return (v is None, sign * v if isinstance(v, int) else v or "", c["id"])

    return key
