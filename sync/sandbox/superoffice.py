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
import itertools
import json
import re
from collections.abc import Callable, Container
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

import phonenumbers
from phonenumbers import geocoder
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sync.sandbox import filters
from sync.sandbox.base import Emulator
from sync.sandbox.kit import Refused

TENANT = "Cust12345"
APP_TOKEN = "sandbox-app-token"
_ROUTE = re.compile(r"^(?:/[^/]+)?/api/v1/(Contact|Person)(?:/([^/]+))?/?$")
_COUNTRY_LIST = re.compile(r"^(?:/[^/]+)?/api/v1/List/Country/Items/?$")
_ALL_VERBS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def _kinds(spec: str) -> dict[str, str]:
    """'int: A B\\nstr: C' -> {A: int, B: int, C: str} (property types from the Swagger)."""
    out = {}
    for line in spec.strip().splitlines():
        kind, names = line.split(":")
        out.update(dict.fromkeys(names.split(), kind.strip()))
    return out


PROPERTIES = {
    "Contact": _kinds("""
        int: ContactId ActiveInterests GroupId ActiveStatusMonitorId Deleted DbiAgentId Source
        int: ActiveErpLinks
        str: Name Department OrgNr Number1 Number2 UpdatedDate CreatedDate Description Kananame
        str: DbiLastSyncronized DbiKey DbiLastModified
        elements: Emails Urls Phones Faxes
        list: Interests Persons
        obj: UpdatedBy CreatedBy Associate Business Category SupportAssociate TicketPriority
        obj: CustomerLanguage SupportPerson UtmParameters TableRight
        address: Address
        country: Country
        bool: NoMailing Xstop
        strs: BounceEmails Domains
        map: UserDefinedFields ExtraFields CustomFields FieldProperties
    """),
    "Person": _kinds("""
        int: PersonId ActiveInterests DbiAgentId SentInfo ShowContactTickets Source
        int: ActiveErpLinks ActiveStatusMonitorId CreatedByFormId LeadstatusId
        str: Firstname MiddleName Lastname Mrmrs Title UpdatedDate CreatedDate BirthDate
        str: Description PersonNumber FullName FormalName Post3 Post2 Post1 Kanalname Kanafname
        str: Salutation DbiKey DbiLastModified DbiLastSyncronized
        obj: CreatedBy Position UpdatedBy Contact CorrespondingAssociate Category Business
        obj: Associate SupportAssociate TicketPriority CustomerLanguage UserInfo UtmParameters
        obj: TableRight
        address: Address
        country: Country
        elements: Emails PrivatePhones Faxes MobilePhones OfficePhones OtherPhones Urls
        elements: ChatEmails InternetPhones
        bool: IsAssociate NoMailing UsePersonAddress Retired
        list: Interests ShipmentTypes Consents
        strs: BounceEmails
        map: UserDefinedFields ExtraFields CustomFields FieldProperties
    """),
}
LIMITS = {
    "Contact": {"Name": 219, "Department": 219, "Kananame": 219, "OrgNr": 49, "Number1": 49,
                "Number2": 49},
    "Person": {"Firstname": 99, "Lastname": 99, "MiddleName": 99, "Kanafname": 99,
               "Kanalname": 99, "Title": 239, "Mrmrs": 239, "Salutation": 239,
               "PersonNumber": 49},
}  # fmt: skip
ELEMENT_KEYS = {"Value": 239, "StrippedValue": 239, "Description": 254}
ELEMENT_EXTRA = {"TableRight", "FieldProperties"}
ADDRESS_KEYS = {"Wgs84Latitude", "Wgs84Longitude", "LocalizedAddress", "Street", "Postal",
                "Formatted", "TableRight", "FieldProperties"}  # fmt: skip
STRUCTURED = {"Address1": 79, "Address2": 79, "Address3": 79, "City": 79, "County": 29,
              "State": 5, "Zipcode": 11, "Formatted": 4000, "AtypeIdx": 40}  # fmt: skip
COUNTRIES = {
    "NO": (578, "Norway"), "SE": (752, "Sweden"), "DK": (208, "Denmark"),
    "FI": (246, "Finland"), "IS": (352, "Iceland"), "DE": (276, "Germany"),
    "NL": (528, "Netherlands"), "BE": (56, "Belgium"), "FR": (250, "France"),
    "ES": (724, "Spain"), "IT": (380, "Italy"), "GB": (826, "United Kingdom"),
    "IE": (372, "Ireland"), "CH": (756, "Switzerland"), "AT": (40, "Austria"),
    "PL": (616, "Poland"), "US": (840, "United States"), "CA": (124, "Canada"),
    "AU": (36, "Australia"), "NZ": (554, "New Zealand"), "JP": (392, "Japan"),
}  # fmt: skip
# every other region this installation knows, numbered as an installation may number them:
# clients must ask GET List/Country/Items, never assume ISO numbers
COUNTRIES |= {
    iso: (1000 + i, geocoder._region_display_name(iso, "en") or iso)
    for i, iso in enumerate(sorted(set(phonenumbers.SUPPORTED_REGIONS) - set(COUNTRIES)))
}
COUNTRY_BY_ID = {cid: (iso, name) for iso, (cid, name) in COUNTRIES.items()}
# server-owned: taken from the store, never from a body
SERVER_OWNED = {"UpdatedDate", "CreatedDate", "TableRight", "FieldProperties", "_Links"}
# canonical name -> entity path, for seed_person / edit / people
CANONICAL = {
    "Contact": {
        "company": ("Name",), "department": ("Department",), "email": ("Emails", 0, "Value"),
        "phone": ("Phones", 0, "Value"), "street": ("Address", "Postal", "Address1"),
        "city": ("Address", "Postal", "City"), "postal_code": ("Address", "Postal", "Zipcode"),
    },
    "Person": {
        "first_name": ("Firstname",), "last_name": ("Lastname",), "title": ("Title",),
        "email": ("Emails", 0, "Value"), "phone": ("OfficePhones", 0, "Value"),
        "mobile": ("MobilePhones", 0, "Value"), "company": ("Contact", "Name"),
        "street": ("Address", "Street", "Address1"), "city": ("Address", "Street", "City"),
        "postal_code": ("Address", "Street", "Zipcode"),
    },
}  # fmt: skip


def invalid(
    status: int, kind: str, message: str, model_state: dict[str, list[str]] | None = None
) -> Refused:
    """A request the API refuses: status, SuperOffice error type, message; `model_state` for
    a body ASP.NET could not bind (a property of the wrong type)."""
    return Refused(message, status, kind, detail=model_state)


def _error(status: int, kind: str, message: str, **headers: str) -> JSONResponse:
    body = {"Error": True, "ErrorType": kind, "Message": message}
    return JSONResponse(body, status_code=status, headers=headers or None)


def _country(country_id: int) -> dict[str, Any]:
    """A country list item, as GET List/Country/Items answers it (its main properties)."""
    iso, name = COUNTRY_BY_ID[country_id]
    return {
        "CountryId": country_id,
        "Name": name,
        "EnglishName": name,
        "TwoLetterISOCountry": iso,
        "Deleted": False,
    }


def _binding(where: str, value: Any, kind: str) -> Refused:
    """ASP.NET's answer to a JSON value that does not bind to its property's type."""
    text = f"Error converting value {json.dumps(value)} to type 'System.{kind}'. Path '{where}'."
    return invalid(400, "ModelState", "The request is invalid.", {f"newEntity.{where}": [text]})


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _instant(text: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _stripped(value: Any) -> Any:
    return re.sub(r"[^\w@.+]", "", value) if isinstance(value, str) else value


# ---- body checks (the Swagger's types and the database's lengths) ----


def _text(where: str, value: Any, limit: int | None = None) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise invalid(400, "ArgumentException", f"{where}: expected a string")
    if limit is not None and len(value) > limit:
        raise invalid(400, "ArgumentException", f"{where} is {len(value)} chars, max {limit}")


def _check_element(where: str, item: Any) -> None:
    if not isinstance(item, dict):
        raise invalid(400, "ArgumentException", f"{where}: expected an object")
    for key, value in item.items():
        if key in ELEMENT_EXTRA:
            continue
        if key not in ELEMENT_KEYS:
            raise invalid(400, "ArgumentException", f"{where}.{key}: unknown property")
        _text(f"{where}.{key}", value, ELEMENT_KEYS[key])


def _check_address(where: str, value: dict[str, Any]) -> None:
    for key, part in value.items():
        if key not in ADDRESS_KEYS:
            raise invalid(400, "ArgumentException", f"{where}.{key}: unknown property")
        if key in ("Street", "Postal") and part is not None:
            if not isinstance(part, dict):
                raise invalid(400, "ArgumentException", f"{where}.{key}: expected an object")
            for field, text in part.items():
                if field not in STRUCTURED:
                    raise invalid(400, "ArgumentException", f"{where}.{key}.{field}: unknown")
                _text(f"{where}.{key}.{field}", text, STRUCTURED[field])


def _check_value(entity: str, key: str, kind: str, value: Any) -> None:
    if value is None:
        if kind in ("int", "bool"):
            raise invalid(400, "ArgumentException", f"{key}: null is not a valid {kind}")
        return
    ok = {
        "int": isinstance(value, int) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "str": isinstance(value, str),
        "obj": isinstance(value, dict),
        "address": isinstance(value, dict),
        "country": isinstance(value, dict),
        "map": isinstance(value, dict),
        "list": isinstance(value, list) and all(isinstance(v, dict) for v in value),
        "strs": isinstance(value, list) and all(isinstance(v, str) for v in value),
        "elements": isinstance(value, list),
    }[kind]
    if not ok:
        raise invalid(400, "ArgumentException", f"{key}: not a valid {kind}")
    if kind == "str":
        _text(key, value, LIMITS[entity].get(key))
    elif kind == "elements":
        for i, item in enumerate(value):
            _check_element(f"{key}[{i}]", item)
    elif kind == "address":
        _check_address(key, value)
    elif (
        kind == "country"
        and value.get("CountryId") is not None
        and (not isinstance(value["CountryId"], int) or isinstance(value["CountryId"], bool))
    ):
        raise _binding("Country.CountryId", value["CountryId"], "Int32")
    elif kind == "country" and value.get("CountryId") not in (None, 0, *COUNTRY_BY_ID):
        raise invalid(400, "ArgumentException", f"Country: unknown CountryId {value['CountryId']}")


def check_entity(entity: str, body: Any) -> None:
    """Raise Invalid for a body the API refuses; a missing name too."""
    if not isinstance(body, dict):
        raise invalid(400, "ArgumentException", f"the {entity}Entity must be a JSON object")
    known = PROPERTIES[entity]
    for key, value in body.items():
        if key == "_Links":
            continue
        if key not in known:
            raise invalid(400, "ArgumentException", f"{key}: unknown {entity}Entity property")
        _check_value(entity, key, known[key], value)
    names = ("Name",) if entity == "Contact" else ("Firstname", "Lastname")
    if not any(str(body.get(n) or "").strip() for n in names):
        raise invalid(400, "ValidationException", f"{' or '.join(names)} is required")


# ---- the OData $filter language of archives ----

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


# ---- archive columns: name -> the values of one entity (several for email) ----


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


# ---- patches ----


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
