"""One REST connector whose behaviour is data: a vendor file (`vendors/<name>.toml`, read by
sync/connectors/vendor.py) says where the endpoints are, how they page, where records, IDs
and reasons sit in answers, and what bodies look like. Python exists only in a vendor's hook
class (a subclass of RestConnector named by `hooks`), for what data cannot say.

What every vendor gets from here:
- listings page by the vendor's paginator; a failed or short page makes the listing
  incomplete (never taken for complete: deletions are inferred only from complete ones), and
  so does a listed record without an ID, which would otherwise look deleted;
- change listings keep a time cursor with overlap and boundary memory (cursor.py) or the
  vendor's token; an empty first listing still starts a cursor (the server's clock);
- rows that only name records (`fetch`) are read one by one, concurrently within the limit;
- lookups by email check the mapped email of what they find, ignoring case and spaces;
- an answer to a create without an ID is OutcomeUnknown: the write may have landed, and the
  engine looks it up before anything is sent again;
- a refusal although HTTP said 200 (`answers.ok`) is Rejected with the vendor's reason, or
  NotFound when the reason says the record is gone.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from sync.connectors import envelope
from sync.connectors.base import HttpConnector, Listing, VendorRecord, Written
from sync.connectors.cursor import Stamped, TimeCursor, advance
from sync.connectors.paging import PAGINATORS, Page, Short
from sync.connectors.template import UNSET, lookup, render
from sync.connectors.vendor import Call, ListCall, Translate, VendorSpec, WriteCall, variant
from sync.errors import (
    ConfigError,
    ConnectorError,
    NotFound,
    OutcomeUnknown,
    RecordError,
    Rejected,
    SystemFailure,
    TransientError,
)
from sync.paths import find_all, get_path, parse_path, parse_query, set_path
from sync.times import parse_time

log = logging.getLogger("sync.connectors.rest")


def _key(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _date(response: httpx.Response) -> Any:
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime(response.headers["date"])
    except (KeyError, TypeError, ValueError, IndexError):
        return None


class RestConnector(HttpConnector):
    vendor: ClassVar[VendorSpec]

    def __init__(self, settings: Any, http: Any = None) -> None:
        super().__init__(settings, http)
        self.vars = self.variables(settings)
        self._tables: dict[str, tuple[dict[str, Any], dict[str, str]]] = {}

    # ---- what the settings give ----

    @classmethod
    def variables(cls, settings: Any) -> dict[str, Any]:
        options = settings.options.model_dump()
        for name, option in cls.vendor.options.items():
            if options.get(name) is None and option.default_first_of:
                first = options.get(option.default_first_of) or [None]
                options[name] = first[0]
        out: dict[str, Any] = {"options": options, "mapped": _mapped(settings.mapping)}
        out["base_url"] = (settings.spec.base_url or cls.vendor.base_url or "").rstrip("/")
        for name, table in cls.vendor.vars.items():
            out |= table.get(_key(options.get(name)), {})
        return out

    @classmethod
    def check(cls, settings: Any) -> list[str]:
        spec = cls.vendor
        problems = [] if settings.spec.base_url or spec.base_url else ["base_url is required"]
        kind = settings.spec.auth.kind
        if spec.auth.kinds and kind not in spec.auth.kinds:
            kinds = " or ".join(map(repr, spec.auth.kinds))
            problems.append(f"auth.kind = {kind!r} will not do: {spec.auth.why} (use {kinds})")
        variables = cls.variables(settings)
        for name, option in spec.options.items():
            value, allowed = variables["options"].get(name), None
            if option.one_of:
                allowed = variables["options"].get(option.one_of) or []
            if allowed is not None and value is not None and value not in allowed:
                problems.append(f"{name} {value} is not one of {option.one_of}")
            if option.type == "table" and isinstance(value, dict):
                problems += _table_problems(name, value, option.keys, option.required_keys)
        wanted = render(spec.records.id, variables)
        if settings.mapping.id_path != parse_path(str(wanted)):
            problems.append(f"the mapping's id must be {wanted!r} (where {spec.title} keeps it)")
        return problems

    @classmethod
    def secret_options(cls, options: Any) -> dict[str, tuple[str | None, str | None]]:
        return {
            name: (getattr(options, f"{name}_env"), getattr(options, f"{name}_file"))
            for name, option in cls.vendor.options.items()
            if option.type == "secret"
        }

    @classmethod
    def headers(cls, settings: Any) -> dict[str, str]:
        variables = cls.variables(settings)
        out = {k: str(v) for k, v in render(cls.vendor.headers, variables).items()}
        for name, option in cls.vendor.options.items():
            value: Any = variables["options"].get(name)
            if option.type == "secret" and name in settings.credentials.values:
                value = settings.credentials.get(name)
            if option.header and value not in (None, ""):
                out[option.header] = _key(value)
        return out

    @classmethod
    def describe_error(cls, response: httpx.Response) -> str | None:
        return envelope.describe(response, cls.vendor.errors)

    @classmethod
    def error_reason(cls, body: Any) -> str | None:
        return envelope.reason(body, cls.vendor.errors)

    @classmethod
    def build(cls, settings: Any, transport: httpx.AsyncBaseTransport | None = None) -> Any:
        from sync.http import BudgetHeaders, HttpClient

        variables = cls.variables(settings)
        auth = cls.vendor.auth
        defaults = {k: render(getattr(auth, k), variables) for k in ("token_url", "header")}
        defaults |= {k: getattr(auth, k) for k in ("param", "scope")}
        budget = cls.vendor.rate_limit
        http = HttpClient.for_system(
            settings,
            headers=cls.headers(settings),
            transport=transport,
            describe_error=cls.describe_error,
            auth_defaults={k: str(v) for k, v in defaults.items() if v not in (None, UNSET)},
            budget=BudgetHeaders(
                budget.remaining, budget.window_ms, budget.reset, budget.daily_remaining
            ),
            base_url=variables["base_url"],
        )
        return cls(settings, http)

    def remember_boundary(self) -> bool:
        """Whether update times may be compared with the server's clock (cursor.py)."""
        return True

    # ---- requests ----

    async def _send(
        self,
        call: Call,
        variables: dict[str, Any],
        page: Page | None = None,
        *,
        body: Any = UNSET,
        check: bool = True,
    ) -> tuple[Any, httpx.Response]:
        page = page or Page()
        params: Any = None
        path = page.url or render(call.path, variables, escape=lambda t: quote(t, safe=""))
        if path is UNSET:
            raise ConfigError(f"{self.vendor.title}: {call.path!r} needs a value it lacks")
        if not page.url:
            params = {**render(call.params, variables), **page.params} or None
        if body is UNSET:
            body = render(call.body, variables) if call.body is not None else None
        if isinstance(body, dict) and page.body:
            body = {**body, **page.body}
        headers = {k: str(v) for k, v in render(call.headers, variables).items()}
        if getattr(call, "content_type", None):
            headers["Content-Type"] = str(call.content_type)  # type: ignore[attr-defined]
        answer, response = await self.client.call(
            call.method, path, params=params, json=body, headers=headers or None, retry=call.retry
        )
        if check:
            envelope.check_answer(answer, self.vendor.answers, self.vendor.errors, call.refused)
        return answer, response

    # ---- reading ----

    async def list_all(self) -> Listing:
        if self.vendor.listing is None:
            raise NotImplementedError(f"{self.vendor.title} has no listing (write-only)")
        return await self._listing(self.vendor.listing, TimeCursor(), {})

    async def list_changed(self, cursor: str | None) -> Listing:
        spec = self.vendor.list_changed
        if cursor is None or spec is None or spec.cursor is None:
            return await self.list_all()
        if spec.cursor.kind == "token":
            return await self._listing(spec, TimeCursor(), {"cursor": cursor})
        old = TimeCursor.parse(cursor)
        if old.at is None:
            return await self.list_all()
        since = old.since(_duration(spec.cursor.overlap))
        return await self._listing(spec, old, {"cursor": old.text, "since": since})

    async def _listing(self, call: ListCall, old: TimeCursor, extra: dict[str, Any]) -> Listing:
        variables = {**self.vars, **extra}
        cursor = (self.vendor.list_changed or call).cursor or call.cursor
        overlap = _duration(cursor.overlap) if cursor else _duration("0s")
        fields = [str(render(f, variables)) for f in cursor.field] if cursor else []
        pager = self._paginator(call, variables)
        kept: dict[str, dict[str, Any]] = {}
        stamps: list[Stamped] = []
        page: Page | None = pager.first()
        answer: Any = None
        server_now = None
        id_path = call.row_id or self.vendor.records.id
        while page is not None:
            try:
                answer, response = await self._send(call, {**variables, **page.vars}, page)
            except ConnectorError as exc:
                return Listing.failed(exc, kept, f"listing {self.vendor.records.noun}")
            server_now = server_now or _date(response)
            items = answer if call.records == "" else envelope.at(answer, call.records)
            if not isinstance(items, list):
                return Listing.incomplete(kept, f"an answer held no list at {call.records!r}")
            for item in items:
                item_id = (
                    envelope.at(item, str(render(id_path, variables)))
                    if isinstance(item, dict)
                    else None
                )
                if item_id in (None, ""):
                    return Listing.incomplete(
                        kept, "a listed record has no id (it would look deleted)"
                    )
                stamped = _stamped(str(item_id), item, fields)
                stamps.append(stamped)
                if old.wanted(stamped, overlap):
                    kept[str(item_id)] = item
            self.page_listed(len(kept))
            try:
                page = pager.next(answer, items, response)
            except Short as short:
                return Listing.incomplete(kept, f"listing {self.vendor.records.noun}: {short}")
        problems: list[str] = []
        if call.fetch:
            records, problems = await self._fetch(list(kept))
        else:
            records = [(i, await self._read(r)) for i, r in kept.items()]
        shown = [
            VendorRecord(i, r) for i, r in records if not envelope.hidden(r, self.vendor.records)
        ]
        return Listing(
            shown,
            complete=not problems,
            cursor=self._next_cursor(cursor, old, stamps, answer, server_now),
            problems=problems,
        )

    def _next_cursor(
        self, cursor: Any, old: TimeCursor, stamps: list[Stamped], answer: Any, now: Any
    ) -> str | None:
        if cursor is None:
            return None
        if cursor.kind == "token":
            token = envelope.at(answer, cursor.token) if cursor.token else None
            return None if token in (None, "") else str(token)
        now = now if self.remember_boundary() else None
        return advance(old, stamps, _duration(cursor.overlap), now, cursor.render).render()

    def _paginator(self, call: ListCall, variables: dict[str, Any]) -> Any:
        raw = render(dict(call.paginator), variables)
        cls = PAGINATORS[raw.get("kind", "single")]
        spec = cls.Spec.model_validate({"kind": "single", **raw})
        size = int(spec.size) if spec.size not in (None, "") else None
        start = {"last": raw["start"]} if raw.get("start") not in (None, UNSET) else {}
        return cls(spec, size, start)

    async def _read(self, raw: dict[str, Any], translated: bool = True) -> dict[str, Any]:
        record = envelope.reshape(raw, self.vendor.records)
        for t in self.vendor.translate if translated else ():
            path = parse_path(t.path)
            value = get_path(record, path)
            if value is not None:
                _ids, codes = await self._table(t)
                if _key(value) in codes:
                    set_path(record, path, codes[_key(value)])
        return record

    async def _get(self, vendor_id: str, translated: bool = True) -> dict[str, Any] | None:
        call = self.vendor.get
        if call is None:
            return None
        try:
            answer, _ = await self._send(call, {**self.vars, "id": vendor_id})
        except NotFound:
            return None  # deleted since it was listed
        for path in call.record:
            found = answer if path == "" else envelope.at(answer, path)
            if isinstance(found, dict):
                return await self._read(found, translated)
        return None

    async def _fetch(self, ids: list[str]) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
        results = await asyncio.gather(*(self._get(i) for i in ids), return_exceptions=True)
        found, problems = [], []
        for vendor_id, result in zip(ids, results, strict=True):
            if isinstance(result, ConnectorError) and not isinstance(result, SystemFailure):
                problems.append(f"reading record {vendor_id} failed: {result}")
            elif isinstance(result, BaseException):
                raise result
            elif result is not None:
                found.append((vendor_id, result))
        return found, problems

    async def find_by_email(self, email: str) -> VendorRecord | None:
        spec = self.vendor.find_by_email
        assert spec is not None
        if spec.scan:  # no search: a failed listing raises, "not found" is never guessed
            listing = await self.list_all()
            if not listing.complete:
                raise TransientError("; ".join(listing.problems) or "the listing was incomplete")
            return self._match(email, [(r.id, r.data) for r in listing.records])
        try:
            answer, _ = await self._send(spec, {**self.vars, "email": email.strip()})
        except NotFound:
            return None
        if spec.ids:
            ids = [str(i) for i in find_all(answer, parse_query(spec.ids))]
            ids.sort(key=lambda i: (len(i), i) if i.isdigit() else (0, i))
            for vendor_id in ids:
                record = await self._get(vendor_id)
                found = self._match(email, [(vendor_id, record)] if record else [])
                if found is not None:
                    return found
            return None
        items = answer if spec.records == "" else envelope.at(answer, spec.records)
        items = [answer] if isinstance(items, dict) else (items or [])
        id_path = spec.row_id or self.vendor.records.id
        named = [
            (str(envelope.at(i, str(render(id_path, self.vars)))), i)
            for i in items
            if isinstance(i, dict)
        ]
        if spec.fetch:
            fetched, _ = await self._fetch([i for i, _ in named])
            return self._match(email, fetched)
        return self._match(email, [(i, await self._read(r)) for i, r in named])

    def _match(self, email: str, found: list[tuple[str, dict[str, Any]]]) -> VendorRecord | None:
        field = self.settings.mapping.fields.get("email")
        path = field.path if field else parse_path("email")
        wanted = email.strip().lower()
        for vendor_id, record in found:
            if envelope.hidden(record, self.vendor.records):
                continue
            if str(get_path(record, path) or "").strip().lower() == wanted:
                return VendorRecord(vendor_id, record)
        return None

    # ---- writing ----

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

    async def _table(self, t: Translate) -> tuple[dict[str, Any], dict[str, str]]:
        """The vendor's table for a translated value, read once: code -> ID, ID -> code."""
        if t.table not in self._tables:
            answer, _ = await self._send(Call(path=t.table), self.vars)
            entries = answer if t.records == "" else envelope.at(answer, t.records)
            ids: dict[str, Any] = {}
            for entry in entries if isinstance(entries, list) else []:
                code, vendor_id = envelope.at(entry, t.code), envelope.at(entry, t.id)
                if isinstance(code, str) and vendor_id is not None:
                    ids.setdefault(code.strip().upper(), vendor_id)
            self._tables[t.table] = (ids, {_key(v): k for k, v in ids.items()})
        return self._tables[t.table]

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
        envelope.check_answer(answer, self.vendor.answers, self.vendor.errors, refused)
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


def _stamped(item_id: str, item: dict[str, Any], fields: list[str]) -> Stamped:
    best: tuple[Any, Any] = (None, None)
    for path in fields:
        text = envelope.at(item, path)
        moment = parse_time(text)
        if moment is not None and (best[1] is None or moment > best[1]):
            best = (text, moment)
    return Stamped(item_id, None if best[0] is None else str(best[0]), best[1])


def _duration(text: str) -> Any:
    from datetime import timedelta

    from sync.config import parse_duration

    return timedelta(seconds=parse_duration(text))


def _mapped(mapping: Any) -> dict[str, list[str]]:
    """`mapped.properties`: the keys under `properties.` that the mapping names."""
    out: dict[str, list[str]] = {}
    for fm in mapping.fields.values():
        if len(fm.path) >= 2 and fm.path[0].index is None and not fm.path[0].match:
            keys = out.setdefault(fm.path[0].key, [])
            if fm.path[1].key not in keys:
                keys.append(fm.path[1].key)
    return out


def _table_problems(
    name: str, value: dict[str, Any], keys: list[str] | None, required: list[str]
) -> list[str]:
    problems = []
    if keys is not None:
        unknown = sorted(set(value) - set(keys))
        if unknown:
            problems.append(f"{name}.{unknown[0]}: unknown key (valid: {', '.join(keys)})")
    problems += [f"{name}.{k} is required" for k in required if value.get(k) in (None, "")]
    return problems
