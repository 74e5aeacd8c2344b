"""Lightening (helpdesk / PSA) contacts: ../shared/seeds/003_ff0493a1079e1b46.txt.

    GET  contact?customer_id[]=1&customer_id[]=2   {"entities": [...], "result": true}
    GET  contact/{id}                               one contact (shape undocumented)
    POST contact                                    {"msg", "id", "result": true}
    POST contact/{id}                               {"msg", "result": true}
    GET  contact/{id}/delete                        {"msg": "Entity has been ...", "result": false}

Quirks:
- Every failure is HTTP 200 with "result": false and an `error` string or an `errors` object
  (field -> message); it becomes Rejected with that reason.
- A successful delete also answers "result": false: the message says what happened, and
  "Entity not found." counts as deleted too.
- No search and no change feed: find_by_email lists every contact of the configured customers
  and matches, and every run lists all (can_list_changes is False).
- The list carries no count, so a short list cannot be told from a complete one; only a cut
  (malformed) body is detectable, which the client retries and then reports as incomplete.
- `name` is required on create AND update, so updates carry it from the full payload. Its
  64-character limit applies to the joined first and last name, and `locale` must be a valid
  locale: the mapping language can check neither, so we do, before sending.
- `create_method` is refused by the vendor and never sent.
- GET contact/{id} is documented by its route only: after a write we read the record back for
  the engine's snapshot, accepting {"entity": {...}} or {"entities": [...]}; a failed read-back
  costs only that snapshot, never the write.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from sync.config import SystemSettings
from sync.connectors.base import HttpConnector, Listing, VendorRecord, Written
from sync.errors import ConnectorError, NotFound, Rejected, TransientError

DELETED = ("Entity has been successfully deleted.", "Entity not found.")
NOT_FOUND = "Entity not found."
NAME_LIMIT = 64
LOCALE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2})?$")
FLAGS = {"is_active", "portal_active", "milestone"}  # "1"/"0" only: no empty spelling


class LighteningOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    customer_ids: list[int] = Field(min_length=1)
    customer_id: int | None = None  # where creates go; default: the first of customer_ids


def reason_of(body: Any) -> str | None:
    """The vendor's words from a failure body: the `errors` object, else `error` or `msg`."""
    if not isinstance(body, dict):
        return None
    errors = body.get("errors")
    if isinstance(errors, dict) and errors:
        parts = []
        for name, message in errors.items():
            text = ", ".join(map(str, message)) if isinstance(message, list) else str(message)
            parts.append(f"{name}: {text}")
        return "; ".join(parts)
    for key in ("error", "msg"):
        if body.get(key):
            return str(body[key])
    return None


class LighteningConnector(HttpConnector):
    kind = "lightening"
    Options: ClassVar[type[BaseModel]] = LighteningOptions
    can_list = can_create = can_update = can_delete = can_find_by_email = True
    auth_kinds = ("basic", "bearer", "soticket", "oauth_password")
    auth_why = "Lightening needs an Authorization header"

    @classmethod
    def check(cls, settings: SystemSettings) -> list[str]:
        problems = super().check(settings)
        options: Any = settings.options
        if options.customer_id is not None and options.customer_id not in options.customer_ids:
            problems.append(f"customer_id {options.customer_id} is not one of customer_ids")
        return problems

    @classmethod
    def error_reason(cls, body: Any) -> str | None:
        return reason_of(body)

    async def list_all(self) -> Listing:
        try:
            entities = await self._entities()
        except ConnectorError as exc:
            return Listing.failed(exc, None, "listing Lightening contacts")
        return Listing([VendorRecord(str(e["id"]), e) for e in entities])

    async def find_by_email(self, email: str) -> VendorRecord | None:
        # no search endpoint is documented: list and match. A failed listing raises, because
        # "not found" must never be guessed (it would let a create run twice).
        wanted = email.strip().lower()
        for entity in await self._entities():
            if str(entity.get("email") or "").strip().lower() == wanted:
                return VendorRecord(str(entity["id"]), entity)
        return None

    async def create(self, payload: dict[str, Any], *, email: str | None = None) -> Written:
        body = self._body(payload, create=True)
        body["customer_id"] = self.options.customer_id or self.options.customer_ids[0]
        answer = await self._call("POST", "contact", json=body)
        vendor_id = str(answer.get("id") or "")
        if not vendor_id:
            raise ConnectorError(f"Lightening created a contact but sent no id: {answer}")
        return Written(vendor_id, await self._read_back(vendor_id))

    async def update(
        self, vendor_id: str, changes: dict[str, Any], full: dict[str, Any]
    ) -> dict[str, Any] | None:
        body = self._body({**changes, "name": full.get("name")}, create=False)
        # the same body twice leaves the same record: safe to retry although it is a POST
        await self._call("POST", f"contact/{quote(vendor_id, safe='')}", json=body, retry=True)
        return await self._read_back(vendor_id)

    async def delete(self, vendor_id: str) -> None:
        answer = await self.client.request_json(
            "GET", f"contact/{quote(vendor_id, safe='')}/delete"
        )
        if isinstance(answer, dict) and (
            answer.get("msg") in DELETED or answer.get("result") is True
        ):
            return
        raise Rejected(reason_of(answer) or f"unexpected answer to delete: {answer!r}")

    async def _entities(self) -> list[dict[str, Any]]:
        params = [("customer_id[]", c) for c in self.options.customer_ids]
        entities = (await self._call("GET", "contact", params=params)).get("entities")
        if not isinstance(entities, list):
            raise TransientError("the contact list carried no entities")
        if not all(isinstance(e, dict) and e.get("id") not in (None, "") for e in entities):
            # a record we cannot name would look deleted: better no complete listing at all
            raise ConnectorError("the contact list holds an entry without an id")
        return entities

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        answer = await self.client.request_json(method, path, **kwargs)
        if not isinstance(answer, dict):
            raise TransientError(f"{method} {path}: the answer is not a JSON object")
        if answer.get("result") is not True:
            reason = reason_of(answer) or "result false, no reason given"
            raise NotFound(reason) if reason == NOT_FOUND else Rejected(reason)
        return answer

    async def _read_back(self, vendor_id: str) -> dict[str, Any] | None:
        try:
            answer = await self._call("GET", f"contact/{quote(vendor_id, safe='')}")
        except ConnectorError:
            return None
        entity = answer.get("entity")
        if entity is None and isinstance(answer.get("entities"), list) and answer["entities"]:
            entity = answer["entities"][0]
        return entity if isinstance(entity, dict) else None

    @staticmethod
    def _body(payload: dict[str, Any], *, create: bool) -> dict[str, Any]:
        """The request body, refusing before sending what Lightening would refuse."""
        body: dict[str, Any] = {}
        for key, value in payload.items():
            if key == "create_method":
                continue
            if value is None:
                if create or key in FLAGS:
                    continue
                value = ""  # clears a text field
            body[key] = value
        name = str(body.get("name") or "").strip()
        if not name:
            raise Rejected("name is required by Lightening, and the contact has no name")
        if len(name) > NAME_LIMIT:
            raise Rejected(
                f"name {name[:40]!r}... is {len(name)} characters, Lightening's limit is 64"
            )
        locale = body.get("locale")
        if locale and not LOCALE.match(str(locale)):
            raise Rejected(f"locale {locale!r} is not a locale Lightening accepts (like en_US)")
        return body
