"""Writing to a vendor declared as data (RestConnector's half that creates, updates and
deletes): bodies by the vendor file's write rules, answers read as it says, refusals although
HTTP said 2xx, an answer without an ID as OutcomeUnknown, follow-ups after a create.
"""

from __future__ import annotations

import logging
from typing import Any

from sync.connectors import envelope
from sync.connectors.base import Written
from sync.connectors.rest_read import RestReading, _key
from sync.connectors.template import UNSET, lookup, render
from sync.connectors.vendor import WriteCall, variant
from sync.errors import (
    AlreadyExists,
    ConnectorError,
    NotFound,
    OutcomeUnknown,
    RecordError,
    Rejected,
    SystemFailure,
)
from sync.paths import get_path, parse_path, set_path

log = logging.getLogger("sync.connectors.rest")


class RestWriting(RestReading):
    async def _body(self, payload: dict[str, Any], create: bool) -> dict[str, Any]:
        body = envelope.prepare(payload, self.vendor.write, create=create, title=self.vendor.title)
        for t in self.vendor.translate:
            path = parse_path(t.path)
            value = get_path(body, path)
            if value is None or isinstance(value, int):
                continue
            ids, _ = await self._table(t)
            if _key(value).upper() not in ids:
                raise RecordError(
                    f"{t.what} {value!r} is not in {self.vendor.title}'s list ({t.table}): "
                    "the record is not sent"
                )
            set_path(body, path, ids[_key(value).upper()])
        return body

    def _email_of(self, payload: dict[str, Any]) -> str | None:
        field = self.settings.mapping.fields.get("email")
        value = get_path(payload, field.path) if field else payload.get("email")
        return None if value in (None, "") else str(value)

    async def _write(
        self, call: WriteCall, vendor_id: str | None, body: dict[str, Any]
    ) -> tuple[Any, Any]:
        variables = {**self.vars, "id": vendor_id, "email": self._email_of(body)}
        body = {**body, **render(call.extra, variables)}
        answer, _ = await self._send(call, variables, body=body, check=False)
        return answer, body

    async def _answered(
        self, call: WriteCall, answer: Any, vendor_id: str, body: Any
    ) -> dict[str, Any] | None:
        if call.answer == "sent":
            return body
        if call.answer in ("record", "overlay"):
            found = answer if call.record == "" else envelope.at(answer, call.record)
            shown = await self._read(found) if isinstance(found, dict) else None
            if call.answer == "overlay":
                return envelope.overlay(await self._read(body), shown or {})
            return shown
        if call.answer == "read_back":
            try:
                return await self._get(vendor_id)
            except ConnectorError as exc:  # costs only the snapshot, never the write
                if isinstance(exc, SystemFailure):
                    raise
                return None
        return None

    async def create(self, payload: dict[str, Any], *, email: str | None = None) -> Written:
        call = self.variant(self.vendor.create)
        answer, body = await self._write(call, None, await self._body(payload, create=True))
        refused = render(call.refused, {**self.vars, "payload": body}) if call.refused else None
        try:
            envelope.check_answer(answer, self.vendor.answers, self.vendor.errors, refused)
        except Rejected as exc:
            if call.refused_means_exists:  # the vendor's duplicate check: it is there already
                raise AlreadyExists(str(exc), status=exc.status) from None
            raise
        return await self._created(call, answer, body)

    async def _created(self, call: WriteCall, answer: Any, body: Any) -> Written:
        id_path = str(render(call.id, self.vars))
        vendor_id = envelope.at(answer, id_path) if isinstance(answer, dict | list) else None
        if vendor_id in (None, ""):
            raise OutcomeUnknown(
                f"{self.vendor.title} answered the create without an ID (at {call.id!r}): it may"
                " have landed, so it is looked up before anything is sent again"
            )
        return Written(str(vendor_id), await self._answered(call, answer, str(vendor_id), body))

    async def create_unless_exists(
        self, payload: dict[str, Any], *, email: str | None = None
    ) -> Written | None:
        call = self.variant(self.vendor.create_unless_exists)
        answer, body = await self._write(call, None, await self._body(payload, create=True))
        try:
            envelope.check_answer(answer, self.vendor.answers, self.vendor.errors, None)
        except Rejected:
            if call.refused_means_exists:
                return None  # the vendor's own duplicate check: most likely our lost create
            raise
        return await self._created(call, answer, body)

    async def update(
        self, vendor_id: str, changes: dict[str, Any], full: dict[str, Any]
    ) -> dict[str, Any] | None:
        call = self.variant(self.vendor.update)
        if not changes:
            return None
        source = full if call.body_of == "full" else changes
        body = await self._body({**source, **{k: full.get(k) for k in call.carry}}, create=False)
        lists = any(isinstance(v, list) for v in body.values())
        if call.body_of == "merged" or (call.merge_lists and lists):
            current = await self._get(vendor_id, translated=False)
            if current is None:
                raise NotFound(f"record {vendor_id} is not in {self.vendor.title} any more")
            drop = self.vendor.write.drop_elements_without
            if call.body_of == "merged":
                body = envelope.merged(current, body, drop)
            else:
                body = {
                    k: envelope.merged(current.get(k), v, drop) if isinstance(v, list) else v
                    for k, v in body.items()
                }
        answer, sent = await self._write(call, vendor_id, body)
        refused = (
            render(call.refused, {**self.vars, "id": vendor_id, "payload": sent})
            if call.refused
            else None
        )
        envelope.check_answer(answer, self.vendor.answers, self.vendor.errors, refused)
        return await self._answered(call, answer, vendor_id, sent)

    async def delete(self, vendor_id: str) -> None:
        call = self.vendor.delete
        assert call is not None
        try:
            answer, _ = await self._send(call, {**self.vars, "id": vendor_id}, check=False)
        except ConnectorError as exc:
            if isinstance(exc, NotFound) or exc.status in call.gone:
                return  # already gone counts as deleted
            raise
        answers = self.vendor.answers
        if not call.check or answers.ok is None:
            return
        if isinstance(answer, dict) and envelope.at(answer, answers.ok.path) == answers.ok.equals:
            return
        text = envelope.reason(answer, self.vendor.errors)
        if text is not None and text in (*answers.done, *answers.not_found):
            return
        raise Rejected(text or f"unexpected answer to delete: {answer!r}"[:300])

    async def after_create(self, vendor_id: str, payload: dict[str, Any]) -> None:
        call = self.vendor.after_create
        if call is None or (call.when and lookup(self.vars, f"options.{call.when}") is UNSET):
            return
        variables = {**self.vars, "id": vendor_id, "email": self._email_of(payload)}
        body = render(call.body, variables)
        if isinstance(body, dict):
            body = {**render(call.extra, variables), **body}
        try:
            await self._send(call, variables, body=body)
        except ConnectorError as exc:  # the record stays; its follow-up is reported
            log.warning(
                "%s: record %s was created, but its follow-up (%s %s) was refused: %s",
                self.settings.name,
                vendor_id,
                call.method,
                call.path,
                exc,
            )

    def variant(self, call: WriteCall | None) -> WriteCall:
        """The call as the system's options choose it (`[update.when.<option>.<value>]`)."""
        assert call is not None
        for option, table in call.when.items():
            chosen = table.get(_key(self.vars["options"].get(option)))
            if chosen is not None:
                return variant(call, chosen)
        return call
