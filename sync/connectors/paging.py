"""Paginators, by name (dlt's and singer-sdk's shape): each says what the next request asks
for, from the answer to the last one, and notices a page that came back short.

    single        one request is the whole listing
    offset        offset/limit parameters; ends by a total, a has-more flag or a short page
    page          a page number; ends by a page count, a has-more flag or a short page
    next_link     a link to the next page at a path in the body
    link_header   RFC 8288: the `Link: <...>; rel="next"` header
    cursor        a token at a path in the body, sent back as a parameter (query or body)
    keyset        the last record's key (`id>{last}`): rows deleted meanwhile cannot shift a
                  page; ties of a non-unique key are stepped over by offset; a page the server
                  cut itself is followed by its next link

A paginator raises Short when an answer reveals a page that came back short (fewer records
than its total or its flag promise): such a listing is incomplete, never taken for complete.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qsl, urlsplit

import httpx
from pydantic import BaseModel, ConfigDict

from sync.paths import find_one, parse_query
from sync.times import parse_time


class Short(Exception):
    """A page came back shorter than the answer promised."""


@dataclass
class Page:
    params: dict[str, Any] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)
    url: str | None = None  # follow this link verbatim
    vars: dict[str, Any] = field(default_factory=dict)


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: str
    size: int | str | None = None  # records per page (a template: "{options.page_size}")
    limit_param: str | None = None  # where the size is sent
    send_in: Literal["query", "body"] = "query"


class Paginator:
    Spec: ClassVar[type[_Spec]] = _Spec

    def __init__(self, spec: Any, size: int | None, start: dict[str, Any]) -> None:
        self.spec = spec
        self.size = size
        self.vars = dict(start)

    def _page(self, **params: Any) -> Page:
        sent = {k: v for k, v in params.items() if k}
        if self.size is not None and self.spec.limit_param:
            sent[self.spec.limit_param] = self.size
        if self.spec.send_in == "body":
            return Page(body=sent, vars=dict(self.vars))
        return Page(params=sent, vars=dict(self.vars))

    def first(self) -> Page:
        return self._page()

    def next(self, answer: Any, items: list[Any], response: httpx.Response) -> Page | None:
        return None


def _at(answer: Any, path: str | None) -> Any:
    return None if path is None else find_one(answer, parse_query(path))


class Single(Paginator):
    pass


class _CountedSpec(_Spec):
    total: str | None = None  # body path of the number of records the listing holds
    has_more: str | None = None  # body path of a "there is more" flag


class _Counted(Paginator):
    """Shared by offset and keyset: a page shorter than its total or flag promised is Short."""

    counted: int | None = None
    offset = 0

    def _check(self, answer: Any, items: list[Any]) -> bool:
        """Short if the page is short; whether the answer says more follows (None: silent)."""
        total = _at(answer, self.spec.total)
        if isinstance(total, int) and not isinstance(total, bool):
            if self.counted is not None and total < self.counted:
                raise Short("records were deleted while paging; one may be skipped")
            self.counted = total
            expected = min(self.size or len(items), total - self.offset)
            if len(items) < expected:
                raise Short(f"a page came back short ({len(items)} of {expected} records)")
        more = _at(answer, self.spec.has_more) if self.spec.has_more else None
        if more and self.size and len(items) < self.size:
            raise Short(f"a page came back short ({len(items)} records, more promised)")
        self.offset += len(items)
        if not items:
            return False
        if self.spec.has_more:
            return bool(more)
        if isinstance(total, int):
            return self.offset < total
        return self.size is None or len(items) >= self.size


class OffsetSpec(_CountedSpec):
    offset_param: str = "offset"
    limit_param: str | None = "limit"


class Offset(_Counted):
    Spec = OffsetSpec

    def first(self) -> Page:
        return self._page(**{self.spec.offset_param: 0})

    def next(self, answer: Any, items: list[Any], response: httpx.Response) -> Page | None:
        if not self._check(answer, items):
            return None
        return self._page(**{self.spec.offset_param: self.offset})


class PageSpec(_Spec):
    page_param: str = "page"
    start: int = 1
    pages: str | None = None  # body path of the number of pages
    has_more: str | None = None


class PageNumber(Paginator):
    Spec = PageSpec

    def first(self) -> Page:
        self.number = self.spec.start
        return self._page(**{self.spec.page_param: self.number})

    def next(self, answer: Any, items: list[Any], response: httpx.Response) -> Page | None:
        pages, more = _at(answer, self.spec.pages), _at(answer, self.spec.has_more)
        if more and self.size and len(items) < self.size:
            raise Short(f"a page came back short ({len(items)} records, more promised)")
        last = self.number - self.spec.start + 1
        if not items or (self.spec.has_more and not more):
            return None
        if isinstance(pages, int) and last >= pages:
            return None
        if pages is None and not self.spec.has_more and self.size and len(items) < self.size:
            return None
        self.number += 1
        return self._page(**{self.spec.page_param: self.number})


class NextLinkSpec(_Spec):
    link: str  # body path of the next page's URL
    offset_param: str | None = None  # the link's offset: it must add up to the records read


def _offset_of(url: str | None, name: str) -> int | None:
    if not url:
        return 0
    for key, value in parse_qsl(urlsplit(url).query):
        if key == name:
            return int(value) if value.isdigit() else None
    return 0


def _follow(
    answer: Any, items: list[Any], response: httpx.Response, link_path: str, skip: str | None
) -> str | None:
    link = _at(answer, link_path)
    if not link:
        return None
    if skip is not None:
        before = _offset_of(str(response.request.url), skip)
        after = _offset_of(str(link), skip)
        if before is None or after is None or after - before != len(items):
            meant = None if before is None or after is None else after - before
            raise Short(f"a page came back short ({len(items)} of {meant} records)")
    return str(link)


class NextLink(Paginator):
    Spec = NextLinkSpec

    def next(self, answer: Any, items: list[Any], response: httpx.Response) -> Page | None:
        link = _follow(answer, items, response, self.spec.link, self.spec.offset_param)
        return None if link is None else Page(url=link)


class LinkHeader(Paginator):
    def next(self, answer: Any, items: list[Any], response: httpx.Response) -> Page | None:
        link = response.links.get("next", {}).get("url")
        return Page(url=str(response.url.join(link))) if link else None


class CursorSpec(_Spec):
    token: str  # body path of the next page's token
    param: str = "after"  # where it is sent back


class Cursor(Paginator):
    Spec = CursorSpec

    def next(self, answer: Any, items: list[Any], response: httpx.Response) -> Page | None:
        token = _at(answer, self.spec.token)
        if token in (None, "") or not items:
            return None
        return self._page(**{self.spec.param: token})


class KeysetSpec(_CountedSpec):
    key: str  # item path of the key the listing is ordered by
    start: Any = None  # the first `last` (a template: "{cursor}"); unset: from the start
    offset_param: str | None = None  # steps over a run of equal keys longer than a page
    next_link: str | None = None  # body path of a link when the server cut the page
    skip_param: str | None = None  # that link's offset, which must add up


class Keyset(_Counted):
    """Variable `last` holds the key to continue after; the call's parameters use it."""

    Spec = KeysetSpec
    batch = 0  # records read through next links since the key last moved
    top: Any = None  # the last key read

    def first(self) -> Page:
        return self._page()

    def next(self, answer: Any, items: list[Any], response: httpx.Response) -> Page | None:
        # the last record that carries a key (read from the end: one, not the whole page)
        key = next(
            (k for k in (_at(i, self.spec.key) for i in reversed(items)) if k is not None), None
        )
        if items and key is None:
            raise Short("the listed records carry no key to page by")
        self.top = key if key is not None else self.top
        if self.spec.next_link:
            link = _follow(answer, items, response, self.spec.next_link, self.spec.skip_param)
            self.batch += len(items)
            if link is not None:
                return Page(url=link)
            got, self.batch = self.batch, 0
            more = got > 0 and self.size is not None and got >= self.size
        else:
            more = self._check(answer, items)
        if not more:
            return None
        last = self.vars.get("last")
        if last is not None and _same(self.top, last):
            if not self.spec.offset_param:
                raise Short("more records than a page share one key")
            return self._page(**{self.spec.offset_param: self.offset})
        self.vars["last"], self.offset, self.counted = self.top, 0, None
        return self._page()


def _same(a: Any, b: Any) -> bool:
    if str(a) == str(b):
        return True
    ta, tb = parse_time(a), parse_time(b)
    return ta is not None and ta == tb


PAGINATORS: dict[str, type[Paginator]] = {
    "single": Single,
    "offset": Offset,
    "page": PageNumber,
    "next_link": NextLink,
    "link_header": LinkHeader,
    "cursor": Cursor,
    "keyset": Keyset,
}
