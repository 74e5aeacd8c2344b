"""Finding the address book (RFC 6764 and RFC 6352 section 7): the URL given may be a server
root (then /.well-known/carddav, whose redirect may be relative), a principal, an address
book home or an address book itself."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urljoin, urlsplit

from sync.connectors import webdav as dav
from sync.errors import ConnectorError, NotFound, SystemFailure
from sync.http import HttpClient

REDIRECTS = (301, 302, 303, 307, 308)
PROBE = [dav.RESOURCETYPE, dav.DISPLAYNAME, dav.PRINCIPAL, dav.HOME_SET]


class BookNotChosen(SystemFailure):
    """No address book, or several and `address_book` names none of them: a configuration
    problem, reported for the system (its other systems sync on)."""


@dataclass(frozen=True)
class Book:
    href: str  # as the server spelled it, a path
    name: str  # display name, or the last path segment

    @property
    def segment(self) -> str:
        return unquote(self.href.rstrip("/").rsplit("/", 1)[-1])


async def _propfind(http: HttpClient, path: str, depth: str) -> dav.MultiStatus:
    found: dav.MultiStatus = await http.request_read(
        "PROPFIND",
        path,
        lambda response: dav.parse(response.content, path),
        content=dav.propfind(PROBE),
        headers={**dav.XML_HEADERS, "Depth": depth},
    )
    return found


async def _well_known(http: HttpClient) -> str | None:
    """Where /.well-known/carddav points (followed up to five times), or None."""
    path = "/.well-known/carddav"
    for _ in range(5):
        try:
            response = await http.request(
                "PROPFIND",
                path,
                content=dav.propfind([dav.PRINCIPAL]),
                headers={**dav.XML_HEADERS, "Depth": "0"},
                ok=(*REDIRECTS, 404, 405, 501),
            )
        except ConnectorError as exc:
            if isinstance(exc, SystemFailure):
                raise
            return None
        if response.status_code not in REDIRECTS:
            return path if response.status_code == 207 else None
        location = response.headers.get("Location")
        if not location:
            return None
        path = urlsplit(urljoin(path, location)).path or "/"
    return None


async def find_books(http: HttpClient, url: str) -> list[Book]:
    """Every address book the URL leads to."""
    path = urlsplit(url).path or "/"
    if path == "/":
        path = await _well_known(http) or "/"
    seen: set[str] = set()
    for _ in range(4):  # context path -> principal -> home -> books
        if path in seen:
            break
        seen.add(path)
        try:
            here = await _propfind(http, path, "0")
        except NotFound:
            return []
        me = _self(here, path)
        if me is None:
            return []
        if me.is_a(dav.ADDRESSBOOK):
            return [_book(me)]
        homes = me.hrefs(dav.HOME_SET)
        if homes:
            return await _books_in(http, urljoin(path, homes[0]))
        principals = me.hrefs(dav.PRINCIPAL)
        if not principals:
            return await _books_in(http, path)  # perhaps a home without saying so
        path = urlsplit(urljoin(path, principals[0])).path
    return []


async def _books_in(http: HttpClient, home: str) -> list[Book]:
    found = await _propfind(http, urlsplit(home).path, "1")
    return [_book(m) for m in found.members if m.is_a(dav.ADDRESSBOOK)]


def _self(found: dav.MultiStatus, path: str) -> dav.Member | None:
    want = dav.path_of(path).rstrip("/")
    for member in found.members:
        if member.path.rstrip("/") == want:
            return member
    return found.members[0] if found.members else None


def _book(member: dav.Member) -> Book:
    href = urlsplit(member.href).path
    href = href if href.endswith("/") else href + "/"
    name = (member.text(dav.DISPLAYNAME) or "").strip()
    book = Book(href, name)
    return Book(href, name or book.segment)


def choose(books: list[Book], wanted: str | None, system: str, url: str) -> Book:
    """The book `address_book` names (display name or last path segment), or the only one."""
    listed = ", ".join(f"{b.name!r} ({b.href})" for b in books) or "none"
    if wanted:
        for book in books:
            if wanted in (book.name, book.segment):
                return book
        raise BookNotChosen(
            f"systems.{system}.address_book = {wanted!r}: no such address book at {url} "
            f"(found: {listed})"
        )
    if len(books) == 1:
        return books[0]
    if not books:
        raise BookNotChosen(f"systems.{system}.url: no address book found at {url}")
    raise BookNotChosen(
        f"systems.{system}: {len(books)} address books at {url}: {listed}; "
        "set address_book to the display name or last path segment of one"
    )
