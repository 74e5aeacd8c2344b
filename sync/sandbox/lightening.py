"""Lightening contact API emulator (../shared/seeds/003_ff0493a1079e1b46.txt).

Strict as documented: every failure is HTTP 200 with "result": false and an `error` string
or an `errors` object; create and update require `name`, check every documented limit, refuse
`create_method` and unknown fields; the list requires `customer_id[]`. Values are strings,
except `customer_id` and `vendor_type`.

Where the document is silent we chose: a bad or missing Authorization header answers 401
(auth is outside this document); GET contact/{id} answers {"entity": {...}, "result": true};
an update of an unknown contact answers {"error": "Entity not found.", "result": false};
creates need a known `customer_id`.

The list has no count, so the `truncate` fault cannot be revealed by a count: it cuts the
body instead (malformed JSON), the one short answer a client can detect.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sync.sandbox.base import Emulator
from sync.sandbox.kit import Refused

PREFIX = "/api"
TOKEN = "lightening-sandbox-token"
TEXT_LIMITS = {
    "name": 64,
    "email": 191,
    "tel": 32,
    "tel1": 32,
    "fax": 32,
    "mobile": 32,
    "role": 32,
    "department": 64,
    "customer_custom_identifier": 16,
}
FLAGS = ("is_active", "portal_active", "milestone")
WRITABLE = {
    *TEXT_LIMITS,
    *FLAGS,
    "customer_portal_profile_id",
    "portal_password",
    "cost_center_id",
    "locale",
    "customer_id",
}
LOCALE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2})?$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
CUSTOMERS = {1: ("Acme Corporation", "ACME-001"), 2: ("Globex", "GLOBEX-002")}
# canonical name -> Lightening field, for seed_person / edit / people
CANONICAL = {
    "email": "email",
    "phone": "tel",
    "mobile": "mobile",
    "department": "department",
    "title": "role",
    "locale": "locale",
}


def _fail(**body: Any) -> Refused:
    """Lightening's refusal: HTTP 200 with "result": false (and the reason in `body`)."""
    return Refused(str(body), 200, detail=body)


def _is_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (
        isinstance(value, str) and bool(re.fullmatch(r"-?\d+", value))
    )


def _split(name: str) -> tuple[str | None, str | None]:
    """A full name as the mapping's split_name reads it: last word, and all before it."""
    words = name.split()
    if len(words) < 2:
        return (words[0] if words else None), None
    return " ".join(words[:-1]), words[-1]


def validate(body: dict[str, Any]) -> dict[str, str]:
    """Field -> message for everything the document says Lightening refuses."""
    errors: dict[str, str] = {}
    for key, value in body.items():
        if key == "create_method":
            errors[key] = "Not allowed."
        elif key not in WRITABLE:
            errors[key] = "Unknown field."
        elif key in TEXT_LIMITS:
            if value is not None and not isinstance(value, str):
                errors[key] = "Must be a string."
            elif value and len(value) > TEXT_LIMITS[key]:
                errors[key] = f"May not be greater than {TEXT_LIMITS[key]} characters."
        elif key in FLAGS:
            if value not in ("1", "0", 1, 0) or isinstance(value, bool):
                errors[key] = "Must be a boolean (1 or 0)."
        elif key == "customer_portal_profile_id":
            if not _is_int(value) or not 0 <= int(value) <= 4294967295:
                errors[key] = "Must be an unsigned integer between 0 and 4294967295."
        elif key == "cost_center_id":
            if not _is_int(value):
                errors[key] = "Must be an integer."
        elif key == "portal_password":
            if not isinstance(value, str) or not 8 <= len(value) <= 32:
                errors[key] = "Must be between 8 and 32 characters."
        elif key == "locale":
            if not isinstance(value, str) or not LOCALE.match(value):
                errors[key] = "Must be a valid locale."
        elif key == "customer_id" and (not _is_int(value) or int(value) not in CUSTOMERS):
            errors[key] = "Customer not found."
    email = body.get("email")
    if "email" not in errors and email and not EMAIL.match(email):
        errors["email"] = "Must be a valid email address."
    if "name" not in errors and not str(body.get("name") or "").strip():
        errors["name"] = "Field is required."
    return errors


class LighteningEmulator(Emulator):
    name = "lightening"
    DEFAULT_ENV: dict[str, str] = {"LIGHTENING_TOKEN": TOKEN}

    def __init__(self, *, token: str = TOKEN, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.token = token
        self.store: dict[str, dict[str, Any]] = {}
        self.app = Starlette(
            routes=[
                Route(
                    f"{PREFIX}/contact", self.handling(self._collection), methods=["GET", "POST"]
                ),
                Route(
                    f"{PREFIX}/contact/{{cid}}", self.handling(self._item), methods=["GET", "POST"]
                ),
                Route(
                    f"{PREFIX}/contact/{{cid}}/delete", self.handling(self._delete), methods=["GET"]
                ),
            ]
        )

    def system_table(self, base_url: str) -> dict[str, Any]:
        base = base_url.rstrip("/")
        return {
            "connector": "lightening",
            "base_url": base if base.endswith(PREFIX) else base + PREFIX,
            "mapping": "mappings/lightening.toml",
            "auth": {"kind": "bearer", "token_env": "LIGHTENING_TOKEN"},
            "customer_ids": [1, 2],
            "customer_id": 1,
        }

    # --- the store, as a user of Lightening's UI would change it ---

    def _now(self) -> str:
        """Strictly increasing update times, even for writes in the same microsecond."""
        return self.clock.stamp().strftime("%Y-%m-%d %H:%M:%S.%f")

    def _new(self, fields: dict[str, Any]) -> str:
        vendor_id = str(self.new_id())
        customer = int(fields.get("customer_id") or 1)
        name, account = CUSTOMERS[customer]
        now = self._now()
        entity: dict[str, Any] = {
            **{k: "" for k in ("email", "tel", "tel1", "fax", "mobile", "role", "department")},
            **{k: "" for k in ("email2", "email3", "cost_center_name", "portal_fullname")},
            **{k: "" for k in ("customer_custom_identifier", "portal_branch_id")},
            **{k: "" for k in ("vendor_account", "vendor_id", "vendor_name")},
            "milestone": "0",
            "cost_center_id": "0",
            "customer_portal_profile_id": "0",
            "customer_portal_profile_name": "",
            "portal_profile": "",
            "customer_name": name,
            "customer_account": account,
            "customer_id": customer,
            "vendor_type": 1,
            "name": "",
            "id": vendor_id,
            "created_at": now,
            "updated_at": now,
            "is_active": "1",
            "portal_active": "0",
            "locale": "en_US",
        }
        self.store[vendor_id] = entity
        self._apply(vendor_id, fields)
        return vendor_id

    def _apply(self, vendor_id: str, fields: dict[str, Any]) -> None:
        entity = self.store[vendor_id]
        for key, value in fields.items():
            if key == "portal_password":
                continue  # write-only: never listed
            if key == "customer_id":
                entity[key] = int(value)
                entity["customer_name"], entity["customer_account"] = CUSTOMERS[int(value)]
            else:
                entity[key] = "" if value is None else str(value)
        entity["updated_at"] = self._now()

    @staticmethod
    def _vendor_fields(person: dict[str, Any]) -> dict[str, Any]:
        out = {CANONICAL[k]: v for k, v in person.items() if k in CANONICAL and v is not None}
        if "first_name" in person or "last_name" in person:
            parts = [person.get("first_name"), person.get("last_name")]
            out["name"] = " ".join(p for p in parts if p)
        if person.get("active") is not None:
            out["is_active"] = "1" if person["active"] else "0"
        return out

    def seed_person(self, person: dict[str, Any]) -> str:
        return self._new({"customer_id": 1, **self._vendor_fields(person)})

    def edit(self, vendor_id: str, **canonical_fields: Any) -> None:
        if {"first_name", "last_name"} & set(canonical_fields):
            first, last = _split(self.store[vendor_id]["name"])
            canonical_fields = {"first_name": first, "last_name": last, **canonical_fields}
        self._apply(vendor_id, self._vendor_fields(canonical_fields))

    def remove(self, vendor_id: str) -> None:
        self.store.pop(vendor_id, None)

    def people(self) -> list[dict[str, Any]]:
        out = []
        for vendor_id, e in self.store.items():
            first, last = _split(e["name"])
            person = {"id": vendor_id, "first_name": first, "last_name": last}
            person.update({k: e[v] for k, v in CANONICAL.items()})
            person["active"] = e["is_active"] == "1"
            out.append({k: v for k, v in person.items() if v not in (None, "")})
        return out

    # --- the API ---

    def refusal(self, request: Request, refused: Refused) -> Response:
        return JSONResponse({**(refused.detail or {}), "result": False}, status_code=refused.status)

    def _authorise(self, request: Request) -> None:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            raise Refused("Unauthorized.", 401, detail={"error": "Unauthorized."})

    async def _body(self, request: Request) -> dict[str, Any]:
        raw = await request.body()
        if not raw.strip():
            raise _fail(error="Nothing sent for request.")
        try:
            body = json.loads(raw)
        except ValueError:
            raise _fail(error="Request body is not valid JSON.") from None
        if not isinstance(body, dict) or not body:
            raise _fail(error="Nothing sent for request.")
        errors = validate(body)
        if errors:
            raise _fail(errors=errors)
        return body

    async def _collection(self, request: Request) -> Response:
        self._authorise(request)
        if request.method == "POST":
            body = await self._body(request)
            if "customer_id" not in body:
                raise _fail(errors={"customer_id": "Field is required."})
            vendor_id = self._new(body)
            return JSONResponse(
                {"msg": "Successfully created entity.", "id": vendor_id, "result": True}
            )
        wanted = request.query_params.getlist("customer_id[]")
        if not wanted:
            raise _fail(errors={"customer_id": "Field is required."})
        if not all(_is_int(c) for c in wanted):
            raise _fail(errors={"customer_id": "Must be an array of integers."})
        ids = {int(c) for c in wanted}
        entities = [e for e in self.store.values() if e["customer_id"] in ids]
        raw = json.dumps({"entities": entities, "result": True}).encode()
        if self.faults.hit("truncate"):
            raw = raw[: len(raw) // 2]  # no count to cut short: the body itself is cut
        return Response(raw, media_type="application/json")

    async def _item(self, request: Request) -> Response:
        self._authorise(request)
        vendor_id = request.path_params["cid"]
        if request.method == "GET":
            if vendor_id not in self.store:
                raise _fail(msg="Entity not found.")
            return JSONResponse({"entity": self.store[vendor_id], "result": True})
        body = await self._body(request)
        if vendor_id not in self.store:
            raise _fail(error="Entity not found.")
        self._apply(vendor_id, body)
        return JSONResponse({"msg": "Successfully updated entity.", "result": True})

    async def _delete(self, request: Request) -> Response:
        self._authorise(request)
        if self.store.pop(request.path_params["cid"], None) is None:
            raise _fail(msg="Entity not found.")
        # sic: the documented success answer carries "result": false
        return JSONResponse({"msg": "Entity has been successfully deleted.", "result": False})
