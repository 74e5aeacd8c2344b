"""Nubitalk OneContact emulator (../shared/seeds/004_fe75bcfdeb1856cf.txt).

Strict as documented: Bearer token and `Content-Type: application/json` on every call; only
the documented body fields; every Metadata item needs Name, Type (231/string, 56/int,
61/datetime, 104/boolean) and a Value of that type; NextTry as YYYY-MM-DDThh:mm:ss;
`checkrepeated=true` refuses a second contact with the same Address. Failures answer
{"success": false} with HTTP 200; there is no GET at all (405), as OneContact has no read call.

Where the document is silent we chose: a bad token answers 401 and a missing Content-Type
415, with ASP.NET's {"Message": ...} body; Metadata Names must be extras the service knows
(`extras`); create needs an Address; PUT merges (given fields replace, Metadata by Name);
an empty Value ("" or null) clears an extra of any type.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sync.sandbox.base import Emulator
from sync.sandbox.kit import Refused, json_body

PREFIX = "/standard/api/v1"
TOKEN = "onecontact-sandbox-token"
SERVICE = 484
FIELDS = {"Address", "Priority", "NextTry", "AgentID", "Metadata"}
TYPES = {
    "231": "string",
    "string": "string",
    "56": "int",
    "int": "int",
    "61": "datetime",
    "datetime": "datetime",
    "104": "boolean",
    "boolean": "boolean",
}
INT = re.compile(r"^-?\d+$")
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
# extras named by mappings/onecontact.toml -> canonical field, for seed_person and people()
CANONICAL = {
    "Email": "email",
    "FirstName": "first_name",
    "LastName": "last_name",
    "Company": "company",
    "Mobile": "mobile",
}
DOC_EXTRAS = ("Metadata1", "Metadata3", "URL")  # the document's samples
FAILED = {"success": False}


def _stamp_ok(value: Any) -> bool:
    if not isinstance(value, str) or not STAMP.match(value):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _int_ok(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, str) and bool(INT.match(value)))


def _value_ok(kind: str, value: Any) -> bool:
    if value is None or value == "":
        return True
    if kind == "int":
        return _int_ok(value)
    if kind == "datetime":
        return _stamp_ok(value)
    if kind == "boolean":
        return isinstance(value, bool) or str(value).lower() in ("true", "false", "1", "0")
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def valid_body(body: Any, extras: set[str]) -> bool:
    if not isinstance(body, dict) or not body or not set(body) <= FIELDS:
        return False
    if "Address" in body and (not isinstance(body["Address"], str) or not body["Address"]):
        return False
    for key in ("Priority", "AgentID"):
        if key in body and not _int_ok(body[key]):
            return False
    if "NextTry" in body and not _stamp_ok(body["NextTry"]):
        return False
    items = body.get("Metadata", [])
    if not isinstance(items, list):
        return False
    for item in items:
        if not isinstance(item, dict) or set(item) != {"Name", "Type", "Value"}:
            return False
        kind = TYPES.get(str(item["Type"]))
        if kind is None or item["Name"] not in extras or not _value_ok(kind, item["Value"]):
            return False
    return True


class OneContactEmulator(Emulator):
    name = "onecontact"
    DEFAULT_ENV: dict[str, str] = {"ONECONTACT_TOKEN": TOKEN}

    def __init__(
        self,
        *,
        token: str = TOKEN,
        services: tuple[int, ...] = (SERVICE,),
        extras: tuple[str, ...] = (*CANONICAL, *DOC_EXTRAS),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.token = token
        self.services = set(services)
        self.extras = set(extras)
        self.store: dict[str, dict[str, Any]] = {}  # contact ID -> body as held
        # tests: creates of these Addresses are applied and answered {"success": true} with
        # no `data`, an answer without the new ID (the engine cannot know it landed)
        self.withhold_ids: set[str] = set()
        route = f"{PREFIX}/service/{{sid}}/contacts/{{tail}}"
        self.app = Starlette(routes=[Route(route, self.handle, methods=["POST", "PUT", "DELETE"])])

    def system_table(self, base_url: str) -> dict[str, Any]:
        base = base_url.rstrip("/")
        return {
            "connector": "onecontact",
            "base_url": base if base.endswith(PREFIX) else base + PREFIX,
            "mapping": "mappings/onecontact.toml",
            "auth": {"kind": "bearer", "token_env": "ONECONTACT_TOKEN"},
            "service_id": SERVICE,
            "check_repeated": True,
        }

    # --- the store, as a supervisor would change it in OneSupervisor ---

    def _apply(self, contact_id: str, body: dict[str, Any]) -> None:
        held = self.store.setdefault(contact_id, {"Metadata": []})
        for key, value in body.items():
            if key != "Metadata":
                held[key] = value
        by_name = {m["Name"]: m for m in held["Metadata"]}
        for item in body.get("Metadata", []):
            by_name[item["Name"]] = dict(item)
        held["Metadata"] = list(by_name.values())

    @staticmethod
    def _vendor_body(person: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if person.get("phone") is not None:
            body["Address"] = person["phone"]
        body["Metadata"] = [
            {"Name": name, "Type": "string", "Value": person[field] or ""}
            for name, field in CANONICAL.items()
            if field in person
        ]
        return body

    def seed_person(self, person: dict[str, Any]) -> str:
        contact_id = str(self.new_id())
        self._apply(contact_id, {"Priority": "1", **self._vendor_body(person)})
        return contact_id

    def edit(self, vendor_id: str, **canonical_fields: Any) -> None:
        self._apply(vendor_id, self._vendor_body(canonical_fields))

    def remove(self, vendor_id: str) -> None:
        self.store.pop(vendor_id, None)

    def people(self) -> list[dict[str, Any]]:
        out = []
        for contact_id, held in self.store.items():
            person = {"id": contact_id, "phone": held.get("Address")}
            for item in held["Metadata"]:
                if item["Name"] in CANONICAL:
                    person[CANONICAL[item["Name"]]] = item["Value"]
            out.append({k: v for k, v in person.items() if v not in (None, "")})
        return out

    # --- the API ---

    def refusal(self, request: Request, refused: Refused) -> Response:
        if refused.status == 200:  # the one documented failure answer, reasons unsaid
            return JSONResponse(FAILED)
        return JSONResponse({"Message": refused.message}, status_code=refused.status)

    async def route(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            raise Refused("Authorization has been denied for this request.", 401)
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise Refused(
                "The request entity's media type is not supported for this resource.", 415
            )
        sid, tail = request.path_params["sid"], request.path_params["tail"]
        if request.method == "POST" and tail not in ("true", "false"):
            raise Refused("The requested resource does not support POST.", 405)
        if not sid.isdigit() or int(sid) not in self.services:
            raise Refused("failed", 200)
        if request.method == "DELETE":
            if self.store.pop(tail, None) is None:
                raise Refused("failed", 200)
            return JSONResponse({"success": True, "data": int(tail)})
        body = await json_body(request, malformed=lambda: Refused("failed", 200))
        if not valid_body(body, self.extras):
            raise Refused("failed", 200)
        if request.method == "PUT":
            if tail not in self.store:
                raise Refused("failed", 200)
            self._apply(tail, body)
            return JSONResponse({"success": True, "data": int(tail)})
        address = body.get("Address")
        if not address:
            raise Refused("failed", 200)
        if tail == "true" and any(h.get("Address") == address for h in self.store.values()):
            raise Refused("failed", 200)
        contact_id = str(self.new_id())
        self._apply(contact_id, body)
        if address in self.withhold_ids:
            return JSONResponse({"success": True})
        return JSONResponse({"success": True, "data": int(contact_id)})
