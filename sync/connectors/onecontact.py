"""Nubitalk OneContact (contact-centre dialer): ../shared/seeds/004_fe75bcfdeb1856cf.txt.

    POST   service/{serviceid}/contacts/{checkrepeated}   {"success": true, "data": 14}
    PUT    service/{serviceid}/contacts/{contactid}       {"success": true, ...}
    DELETE service/{serviceid}/contacts/{contactid}       Content-Type JSON, no body

Write-only: there is no list, search or read call, so this connector never sends a GET and
the engine knows what OneContact holds only from what it sent (create returns the payload as
the record). The body is `Address` (the phone), `Priority`, `AgentID`, `NextTry` and a typed
`Metadata` list, all built by the mapping (`Metadata[Name=Email,Type=string].Value`).

The only failure answer is {"success": false}, with no reason, and it becomes Rejected. What
that means per call:
- create with checkrepeated=true: OneContact refuses a second contact with the same Address.
  A create whose answer was lost (a crash, a reset) cannot be looked up (no find_by_email),
  so the engine resends it through create_unless_exists, which always asks checkrepeated=true
  whatever `check_repeated` says: a create that had landed is refused instead of duplicated,
  and reported (its ID cannot be learned through this API: a person links or removes it).
- update: the contact is gone (deleted in OneContact) or a mandatory field is missing.
- delete: an unknown ID is the one documented reason, so it counts as already deleted.

PUT's merge-or-replace behaviour is not documented: an update sends the whole mapped contact,
so the result is the same either way; cleared Metadata values are sent as "".
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict

from sync.connectors.base import HttpConnector, Written
from sync.errors import ConnectorError, Rejected


class OneContactOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    service_id: int
    check_repeated: bool = True


def succeeded(answer: Any) -> bool:
    return isinstance(answer, dict) and answer.get("success") is True


def clean(payload: dict[str, Any]) -> dict[str, Any]:
    """Drop unset top-level values; an unset Metadata value is sent as "" (a cleared field)."""
    body = {k: v for k, v in payload.items() if v is not None}
    if isinstance(body.get("Metadata"), list):
        body["Metadata"] = [
            {**item, "Value": "" if item.get("Value") is None else item["Value"]}
            for item in body["Metadata"]
        ]
    return body


class OneContactConnector(HttpConnector):
    kind = "onecontact"
    Options: ClassVar[type[BaseModel]] = OneContactOptions
    can_create = can_update = can_delete = can_refuse_repeats = True
    auth_kinds = ("basic", "bearer", "soticket", "oauth_password")
    auth_why = "OneContact needs an Authorization header"
    error_keys = ("Message", "message")

    @property
    def contacts(self) -> str:
        return f"service/{self.options.service_id}/contacts"

    async def create(self, payload: dict[str, Any], *, email: str | None = None) -> Written:
        body = clean(payload)
        repeated = "true" if self.options.check_repeated else "false"
        answer = await self.client.request_json("POST", f"{self.contacts}/{repeated}", json=body)
        if not succeeded(answer):
            if self.options.check_repeated:
                raise Rejected(
                    f"OneContact refused the contact: with checkrepeated=true it refuses a second"
                    f" contact with Address {body.get('Address')!r}, so one most likely exists"
                    " already (its ID cannot be read back; link or remove it by hand), or a"
                    " field the service's contact list makes mandatory is missing"
                )
            raise Rejected(
                "OneContact refused the contact without a reason: check the fields and"
                " Metadata names that the service's contact list makes mandatory"
            )
        contact_id = answer.get("data")
        if contact_id in (None, ""):
            raise ConnectorError(f"OneContact created a contact but sent no ID: {answer}")
        return Written(str(contact_id), body)

    async def create_unless_exists(
        self, payload: dict[str, Any], *, email: str | None = None
    ) -> Written | None:
        body = clean(payload)
        answer = await self.client.request_json("POST", f"{self.contacts}/true", json=body)
        if not succeeded(answer):
            return None  # the same Address is held already: most likely our lost create
        contact_id = answer.get("data")
        if contact_id in (None, ""):
            raise ConnectorError(f"OneContact created a contact but sent no ID: {answer}")
        return Written(str(contact_id), body)

    async def update(
        self, vendor_id: str, changes: dict[str, Any], full: dict[str, Any]
    ) -> dict[str, Any] | None:
        answer = await self.client.request_json("PUT", self._item(vendor_id), json=clean(full))
        if not succeeded(answer):
            raise Rejected(
                f"OneContact refused the update of contact {vendor_id}: it was deleted in"
                " OneContact, or a field the service makes mandatory is missing"
            )
        return None

    async def delete(self, vendor_id: str) -> None:
        # {"success": false} here means an unknown ID: already deleted, which is success
        await self.client.request_json("DELETE", self._item(vendor_id))

    def _item(self, vendor_id: str) -> str:
        return f"{self.contacts}/{quote(vendor_id, safe='')}"
