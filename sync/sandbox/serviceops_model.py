"""What the ServiceOps emulator (sync/sandbox/serviceops.py) checks: requester and request
keys, their limits and choices, and the qualifications of a requester search."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

from sync.sandbox.kit import Refused

CLIENT_ID, CLIENT_SECRET = "sandbox-client", "sandbox-secret"


USERNAME, PASSWORD = "sandbox-technician", "sandbox-password"


TEXT_MAX, PHONE_MAX = 100, 30


REQUESTER_TEXT = ("name", "email", "userLogOnName", "locationName", "departmentName", "manager")


REQUESTER_PHONES = ("contactNo", "altContactNo1", "altContactNo2")


REQUESTER_KEYS = {*REQUESTER_TEXT, *REQUESTER_PHONES, "vipRequester", "customField"}


REQUEST_TEXT = (
    "subject",
    "categoryName",
    "requesterEmail",
    "impactName",
    "priorityName",
    "urgencyName",
    "departmentName",
    "locationName",
    "supportLevel",
    "source",
    "statusName",
    "name",
)


REQUEST_LISTS = ("ccEmailSet", "tags", "fileAttachments", "linkAssetIds")


REQUEST_KEYS = {*REQUEST_TEXT, *REQUEST_LISTS, "spam", "customField"}


CHOICES = {
    "impactName": {"low", "on user", "on department", "on business"},
    "priorityName": {"low", "medium", "high", "urgent"},
    "urgencyName": {"low", "medium", "high", "urgent"},
    "statusName": {"open", "in progress", "pending", "resolved", "closed"},
    "supportLevel": {"tier1", "tier2", "tier3", "tier4"},
}


LOCATIONS = {"Head Office", "Remote"}


PROPERTIES = {"user.email", "user.name", "user.id", "user.createdTime", "user.updatedTime"}


VALUE_TYPES = {"StringValueRest", "LongValueRest", "TimeValueRest", "ListLongValueRest"}


OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "equal": lambda a, b: a == b,
    "not_equal": lambda a, b: a != b,
    "greater_than": lambda a, b: a is not None and a > b,
    "greater_than_or_equal": lambda a, b: a is not None and a >= b,
    "less_than": lambda a, b: a is not None and a < b,
    "less_than_or_equal": lambda a, b: a is not None and a <= b,
    "contains": lambda a, b: isinstance(a, str) and str(b) in a,
    "in": lambda a, b: a in b,
}


EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# canonical name -> requester key, for seed_person / edit / people
CANONICAL = {
    "email": "email",
    "phone": "contactNo",
    "mobile": "altContactNo1",
    "department": "departmentName",
}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _split(name: str | None) -> tuple[str | None, str | None]:
    words = (name or "").split()
    if len(words) < 2:
        return (words[0] if words else None), None
    return " ".join(words[:-1]), words[-1]


def _check_text(body: dict[str, Any], key: str, limit: int) -> None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise Refused(f"{key} must be a string")
    if value and len(value) > limit:
        raise Refused(f"{key} must be at most {limit} characters")


def _check_requester(body: dict[str, Any], creating: bool) -> None:
    for key in body:
        if key not in REQUESTER_KEYS:
            raise Refused(f"Unknown field {key}")
    for key in REQUESTER_TEXT:
        _check_text(body, key, TEXT_MAX)
    for key in REQUESTER_PHONES:
        _check_text(body, key, PHONE_MAX)
    if "vipRequester" in body and not isinstance(body["vipRequester"], bool):
        raise Refused("vipRequester must be true or false")
    if "customField" in body and not isinstance(body["customField"], dict):
        raise Refused("customField must be an object")
    if body.get("locationName") and body["locationName"] not in LOCATIONS:
        raise Refused(f"Location {body['locationName']} does not exist")
    for key in ("name", "email"):
        if (creating or key in body) and not str(body.get(key) or "").strip():
            raise Refused(f"{key} is required")
    if body.get("email") and not EMAIL.match(body["email"]):
        raise Refused(f"{body['email']} is not a valid email address")


def _check_request(body: dict[str, Any]) -> None:
    for key in body:
        if key not in REQUEST_KEYS:
            raise Refused(f"Unknown field {key}")
    for key in REQUEST_TEXT:
        _check_text(body, key, 255 if key == "subject" else TEXT_MAX)
    for key in ("subject", "requesterEmail"):
        if not str(body.get(key) or "").strip():
            raise Refused(f"{key} is required")
    for key, allowed in CHOICES.items():
        value = body.get(key)
        if value is not None and value.lower().replace(" ", "") not in {
            a.replace(" ", "") for a in allowed
        }:
            raise Refused(f"{key} {value!r} is not one of {sorted(allowed)}")
    for key in REQUEST_LISTS:
        items = body.get(key)
        if items is not None and not isinstance(items, list):
            raise Refused(f"{key} must be an array")
        wanted = str if key in ("ccEmailSet", "tags") else dict
        if any(not isinstance(item, wanted) for item in items or []):
            raise Refused(f"{key} has an item of the wrong type")
    if "spam" in body and not isinstance(body["spam"], bool):
        raise Refused("spam must be true or false")
    if "customField" in body and not isinstance(body["customField"], dict):
        raise Refused("customField must be an object")
    if body.get("locationName") and body["locationName"] not in LOCATIONS:
        raise Refused(f"Location {body['locationName']} does not exist")


def _qualifier(body: Any) -> Callable[[dict[str, Any]], bool]:
    """The test a qualDetails body puts on a requester; Refused for anything malformed."""
    if not isinstance(body, dict) or set(body) != {"qualDetails"}:
        raise Refused('the body must be {"qualDetails": {...}}')
    details = body["qualDetails"]
    if not isinstance(details, dict) or details.get("type") != "FlatQualificationRest":
        raise Refused("qualDetails.type must be FlatQualificationRest")
    if set(details) - {"type", "quals"} or not isinstance(details.get("quals", []), list):
        raise Refused("qualDetails takes type and quals")
    tests = [_relation(q) for q in details.get("quals", [])]
    if len(tests) == 1:  # a change search: one test, asked of every requester
        return tests[0]
    return lambda record: all(test(record) for test in tests)


def _relation(qual: Any) -> Callable[[dict[str, Any]], bool]:
    if not isinstance(qual, dict) or qual.get("type") != "RelationalQualificationRest":
        raise Refused("each qual must be a RelationalQualificationRest")
    if set(qual) != {"type", "leftOperand", "operator", "rightOperand"}:
        raise Refused("a qual takes type, leftOperand, operator and rightOperand")
    left, operator, right = qual["leftOperand"], qual["operator"], qual["rightOperand"]
    if not isinstance(left, dict) or left != {
        "type": "PropertyOperandRest",
        "key": left.get("key"),
    }:
        raise Refused("leftOperand must be a PropertyOperandRest with a key")
    if left["key"] not in PROPERTIES:
        raise Refused(f"unknown property {left['key']}")
    if operator not in OPERATORS:
        raise Refused(f"unknown operator {operator}")
    value = right.get("value") if isinstance(right, dict) else None
    if right != {"type": "ValueOperandRest", "value": value} or not isinstance(value, dict):
        raise Refused("rightOperand must be a ValueOperandRest with a value")
    if value.get("type") not in VALUE_TYPES or set(value) != {"type", "value"}:
        raise Refused(f"unknown value type {value.get('type')}")
    wanted = value["value"]
    numeric = value["type"] in ("LongValueRest", "TimeValueRest")
    if numeric and (not isinstance(wanted, int) or isinstance(wanted, bool)):
        raise Refused(f"{value['type']} needs a whole number")
    field = left["key"].split(".", 1)[1]
    compare = OPERATORS[operator]
    if field in ("email", "name") and isinstance(wanted, str):
        return lambda r: compare((r.get(field) or "").lower(), wanted.lower())
    return lambda r: compare(r.get(field), wanted)
