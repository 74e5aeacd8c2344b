"""SuperOffice's archives as its emulator serves them: the columns of `GET {entity}` rows,
their $filter (sandbox/filters.py's OData dialect) and order; and the entity patches (RFC 7396
merge patches, RFC 6902 JSON patches)."""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Callable, Container
from datetime import UTC, date, datetime
from typing import Any

from sync.sandbox import filters
from sync.sandbox.superoffice_model import _instant, invalid

COMPARE = {
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b, "lt": lambda a, b: a < b, "le": lambda a, b: a <= b,
    "after": lambda a, b: a > b, "before": lambda a, b: a < b, "date": lambda a, b: a == b,
    "contains": lambda a, b: b in a, "begins": lambda a, b: a.startswith(b),
}  # fmt: skip


Predicate = Callable[[Callable[[str], list[Any]]], bool]


def parse_filter(text: str, known: Container[str]) -> Predicate:
    """A predicate over `values(column) -> list` (sandbox/filters.py's OData dialect): each
    clause is `column operator literal`; any value matching makes the clause true."""
    try:
        tree = filters.parse(text, filters.ODATA)
    except filters.FilterSyntaxError as exc:
        raise invalid(400, "ArgumentException", f"$filter: {exc}") from None
    for column in filters.columns(tree):
        if column not in known:
            raise invalid(400, "ArgumentException", f"unknown archive column {column!r}")

    def clause(op: str, left: Any, right: Any, values: Callable[[str], list[Any]]) -> bool:
        if left[0] != "col" or right[0] != "lit":
            raise invalid(400, "ArgumentException", "$filter: a clause is column op value")
        return any(_compare(op, v, str(right[1])) for v in values(left[1]))

    def check(node: Any) -> None:  # every clause's shape, before any row is read
        if node[0] == "cmp":
            clause(node[1], node[2], node[3], lambda _c: [])
        for part in node[1:]:
            if isinstance(part, tuple) and part and part[0] in ("or", "and", "not", "cmp"):
                check(part)

    check(tree)
    return lambda values: filters.evaluate(tree, lambda op, a, b: clause(op, a, b, values))


def _compare(op: str, value: Any, want: str) -> bool:
    if isinstance(value, datetime):
        moment = _instant(want)
        if moment is None:
            raise invalid(400, "ArgumentException", f"$filter: {want!r} is not a date")
        if re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}", want):
            return bool(COMPARE[op](value.date(), moment.date()))
        return bool(COMPARE[op](value, moment))
    if isinstance(value, bool | int):
        try:
            return bool(COMPARE[op](int(value), int(want)))
        except ValueError:
            raise invalid(400, "ArgumentException", f"$filter: {want!r} is not a number") from None
    return bool(COMPARE[op](str(value or "").lower(), want.lower()))


def _put(doc: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    """Set doc[a][b][0][c] = value, creating what is missing on the way."""
    cur: Any = doc
    for step, nxt in itertools.pairwise(path):
        if isinstance(step, int):
            while len(cur) <= step:
                cur.append({})
            cur = cur[step]
            continue
        empty: Any = [] if isinstance(nxt, int) else {}
        if not isinstance(cur.get(step), type(empty)):
            cur[step] = empty
        cur = cur[step]
    cur[path[-1]] = value


def _firsts(entity: dict[str, Any], key: str) -> list[str]:
    return [e.get("Value") or "" for e in entity.get(key) or [] if isinstance(e, dict)]


def _archive_date(value: Any) -> datetime | None:
    moment = _instant(value) if value else None
    return moment.astimezone(UTC).replace(microsecond=0) if moment else None


COLUMNS: dict[str, dict[str, Callable[[dict[str, Any]], list[Any]]]] = {
    "Contact": {
        "contactId": lambda e: [e["ContactId"]],
        "name": lambda e: [e.get("Name") or ""],
        "department": lambda e: [e.get("Department") or ""],
        "orgnr": lambda e: [e.get("OrgNr") or ""],
        "updatedDate": lambda e: [_archive_date(e.get("UpdatedDate"))],
        "registeredDate": lambda e: [_archive_date(e.get("CreatedDate"))],
        "contactDeleted": lambda e: [bool(e.get("Deleted"))],
        "email/emailAddress": lambda e: _firsts(e, "Emails") or [""],
        "phone/formattedNumber": lambda e: _firsts(e, "Phones")[:1] or [""],
    },
    "Person": {
        "personId": lambda e: [e["PersonId"]],
        "firstName": lambda e: [e.get("Firstname") or ""],
        "lastName": lambda e: [e.get("Lastname") or ""],
        "fullName": lambda e: [" ".join(filter(None, [e.get("Firstname"), e.get("Lastname")]))],
        "title": lambda e: [e.get("Title") or ""],
        "contactId": lambda e: [(e.get("Contact") or {}).get("ContactId") or 0],
        "personUpdatedDate": lambda e: [_archive_date(e.get("UpdatedDate"))],
        "personRegisteredDate": lambda e: [_archive_date(e.get("CreatedDate"))],
        "email/emailAddress": lambda e: _firsts(e, "Emails") or [""],
        "personDirectPhone/formattedNumber": lambda e: _firsts(e, "OfficePhones")[:1] or [""],
        "personMobilePhone/formattedNumber": lambda e: _firsts(e, "MobilePhones")[:1] or [""],
    },
}


def _cell(values: list[Any]) -> Any:
    value = values[0] if values else None
    return value.strftime("%Y-%m-%dT%H:%M:%S") if isinstance(value, datetime) else value


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def json_patch(doc: dict[str, Any], ops: Any) -> dict[str, Any]:
    """RFC 6902 add, remove, replace, test; a failed test is 409."""
    if not isinstance(ops, list):
        raise invalid(400, "ArgumentException", "a JSON patch is a list of operations")
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or not isinstance(op.get("path"), str):
            raise invalid(400, "ArgumentException", "each operation needs op and path")
        keys = [k.replace("~1", "/").replace("~0", "~") for k in op["path"].split("/")[1:]]
        if not keys:
            raise invalid(400, "ArgumentException", "cannot patch the whole entity")
        parent: Any = doc
        try:
            for key in keys[:-1]:
                parent = parent[int(key)] if isinstance(parent, list) else parent[key]
            last = keys[-1]
            index = (len(parent) if last == "-" else int(last)) if isinstance(parent, list) else 0
            action, value = op.get("op"), op.get("value")
            if action == "test":
                current = parent[index] if isinstance(parent, list) else parent.get(last)
                if current != value:
                    raise invalid(409, "ConflictException", f"test failed at {op['path']}")
            elif isinstance(parent, list) and action in ("add", "replace", "remove"):
                if action == "add":
                    parent.insert(index, value)
                elif action == "replace":
                    parent[index] = value
                else:
                    del parent[index]
            elif action in ("add", "replace"):
                parent[last] = value
            elif action == "remove":
                del parent[last]
            else:
                raise invalid(400, "ArgumentException", f"unsupported op {action!r}")
        except (KeyError, IndexError, ValueError, TypeError):
            raise invalid(400, "ArgumentException", f"no such path {op['path']}") from None
    return doc


Column = Callable[[dict[str, Any]], list[Any]]


def _values(columns: dict[str, Column], record: dict[str, Any]) -> Callable[[str], list[Any]]:
    return lambda column: columns[column](record)


def _sort_key(column: Column) -> Callable[[dict[str, Any]], tuple[int, Any]]:
    def key(record: dict[str, Any]) -> tuple[int, Any]:
        values = column(record)
        value = values[0] if values else None
        if value is None:
            return (0, "")
        if isinstance(value, datetime | date):
            return (1, value.isoformat())
        return (2, value) if isinstance(value, int) else (3, str(value).lower())

    return key
