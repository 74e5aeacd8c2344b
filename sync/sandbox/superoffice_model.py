"""What the SuperOffice emulator (sync/sandbox/superoffice.py) checks and reads: the Swagger's
property types, the database's field lengths, the country list, the archive's columns and
its $filter, merge and JSON patches."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import phonenumbers
from phonenumbers import geocoder
from starlette.responses import JSONResponse

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
