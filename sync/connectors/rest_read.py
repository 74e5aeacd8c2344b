"""Reading a vendor declared as data (RestConnector's half that lists, reads and looks up):
listings by the vendor's paginator, change listings by a time cursor with boundary memory or
the vendor's token, rows fetched one by one, lookups by email checked against the mapping.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from sync.connectors import envelope
from sync.connectors.base import HttpConnector, Listing, Unread, VendorRecord
from sync.connectors.cursor import Stamped, TimeCursor, Window, advance
from sync.connectors.paging import PAGINATORS, Page, Short
from sync.connectors.template import UNSET, render
from sync.connectors.vendor import Call, ListCall, Translate, VendorSpec
from sync.errors import ConnectorError, NotFound, SystemFailure, TransientError
from sync.paths import find_all, get_path, parse_path, parse_query, set_path
from sync.times import parse_time


def _key(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _date(response: httpx.Response) -> Any:
    try:
        return parsedate_to_datetime(response.headers["date"])
    except (KeyError, TypeError, ValueError, IndexError):
        return None


class RestReading(HttpConnector):
    vendor: ClassVar[VendorSpec]

    def __init__(self, settings: Any, http: Any = None) -> None:
        super().__init__(settings, http)
        self.vars = self.variables(settings)
        self._tables: dict[str, tuple[dict[str, Any], dict[str, str]]] = {}
        # a listed record is read by reshape alone: no table to translate by, none hidden
        records = self.vendor.records
        self._lazy = not self.vendor.translate and not records.hidden
        self._shape = envelope.shape(records)

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
        if path is UNSET:  # an option the path names was left out
            raise ConnectorError(f"{self.vendor.title}: {call.path!r} names a value not set")
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
        return await self._whole(None)

    async def list_changed(self, cursor: str | None) -> Listing:
        return await self._whole(cursor)

    async def _whole(self, cursor: str | None) -> Listing:
        """Every page of a listing in one Listing (a record listed twice: the later one)."""
        out = Listing()
        found: dict[str, VendorRecord] = {}
        async for page in self.pages(cursor, out):
            found.update((r.id, r) for r in page)
        out.records = list(found.values())
        return out

    async def pages(self, cursor: str | None, into: Listing) -> AsyncIterator[list[VendorRecord]]:
        spec = self.vendor.list_changed
        old, extra = TimeCursor(), dict[str, Any]()
        call: ListCall | None = self.vendor.list
        if cursor is not None and spec is not None and spec.cursor is not None:
            if spec.cursor.kind == "token":
                call, extra = spec, {"cursor": cursor}
            elif (old := TimeCursor.parse(cursor)).at is not None:  # else: everything again
                since = old.since(_duration(spec.cursor.overlap))
                call, extra = spec, {"cursor": old.text, "since": since}
        if call is None:
            raise NotImplementedError(f"{self.vendor.title} has no listing (write-only)")
        async for page in self._pages(call, old, extra, into):
            yield page

    async def _pages(
        self, call: ListCall, old: TimeCursor, extra: dict[str, Any], into: Listing
    ) -> AsyncIterator[list[VendorRecord]]:
        """Each page's records, read as the mapping reads them, as it arrives; a listing
        cut short too (its records still carry changes; only its deletions and its cursor
        are not kept). The cursor is worked out from a window of the newest update times,
        not from every record listed."""
        variables = {**self.vars, **extra}
        cursor = (self.vendor.list_changed or call).cursor or call.cursor
        overlap = _duration(cursor.overlap) if cursor else _duration("0s")
        fields = [str(render(f, variables)) for f in cursor.field] if cursor else []
        pager = self._paginator(call, variables)
        stamps = Window(old, overlap)
        page: Page | None = pager.first()
        answer: Any = None
        server_now = None
        id_path = str(render(call.row_id or self.vendor.records.id, variables))
        noun = self.vendor.records.noun
        problem: str | None = None
        listed = 0
        while page is not None and problem is None:
            try:
                answer, response = await self._send(call, {**variables, **page.vars}, page)
            except ConnectorError as exc:
                if isinstance(exc, SystemFailure):
                    raise  # no later page can mend it: the system is reported
                problem = f"listing {noun} failed: {exc}"
                break
            server_now = server_now or _date(response)
            items = answer if call.records == "" else envelope.at(answer, call.records)
            if not isinstance(items, list):
                problem = f"listing {noun}: an answer held no list at {call.records!r}"
                break
            kept: dict[str, dict[str, Any]] = {}
            for item in items:
                item_id = envelope.at(item, id_path) if isinstance(item, dict) else None
                if item_id in (None, ""):
                    problem = f"listing {noun}: a listed record has no id (it would look deleted)"
                    break
                stamped = _stamped(str(item_id), item, fields)
                stamps.add(stamped)
                if old.wanted(stamped, overlap):
                    kept[str(item_id)] = item
            listed += len(kept)
            self.page_listed(listed)
            try:
                page = pager.next(answer, items, response) if problem is None else None
            except Short as short:
                problem = f"listing {noun}: {short}"
            records = await self._records(call, kept, into)
            if records:
                yield records
        if problem:
            into.problems.append(problem)
        into.complete = not into.problems
        into.cursor = (
            self._next_cursor(cursor, old, stamps.items(), answer, server_now)
            if into.complete
            else None
        )

    async def _records(
        self, call: ListCall, kept: dict[str, dict[str, Any]], into: Listing
    ) -> list[VendorRecord]:
        if call.fetch:
            records, failed = await self._fetch(list(kept))
            into.problems += failed
        elif self._lazy:  # read only if the scan finds it changed (Unread)
            spec = self.vendor.records
            read = functools.partial(envelope.reshape, spec=spec)
            return [Unread(i, r, self._shape, read) for i, r in kept.items()]
        else:
            records = [(i, await self._read(r)) for i, r in kept.items()]
        return [
            VendorRecord(i, r) for i, r in records if not envelope.hidden(r, self.vendor.records)
        ]

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


def _stamped(item_id: str, item: dict[str, Any], fields: list[str]) -> Stamped:
    if len(fields) == 1:  # one update-time field: most vendors
        text = envelope.at(item, fields[0])
        moment = parse_time(text)
        return Stamped(item_id, None if moment is None else str(text), moment)
    best: tuple[Any, Any] = (None, None)
    for path in fields:
        text = envelope.at(item, path)
        moment = parse_time(text)
        if moment is not None and (best[1] is None or moment > best[1]):
            best = (text, moment)
    return Stamped(item_id, None if best[0] is None else str(best[0]), best[1])


def _duration(text: str) -> Any:
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
