"""WebDAV XML (RFC 4918, 6352, 6578): request bodies and 207 Multi-Status answers, with the
standard library's ElementTree. Hrefs are compared unquoted: servers percent-encode them
differently (`%40` or `@`)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from urllib.parse import unquote, urljoin, urlsplit

from sync.errors import TransientError

DAV = "DAV:"
CARD = "urn:ietf:params:xml:ns:carddav"
XML_HEADERS = {"Content-Type": "application/xml; charset=utf-8"}
ET.register_namespace("D", DAV)
ET.register_namespace("C", CARD)


def tag(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


GETETAG = tag(DAV, "getetag")
RESOURCETYPE = tag(DAV, "resourcetype")
DISPLAYNAME = tag(DAV, "displayname")
PRINCIPAL = tag(DAV, "current-user-principal")
HOME_SET = tag(CARD, "addressbook-home-set")
ADDRESSBOOK = tag(CARD, "addressbook")
ADDRESS_DATA = tag(CARD, "address-data")
SYNC_TOKEN = tag(DAV, "sync-token")


def _body(root: ET.Element) -> bytes:
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _props(parent: ET.Element, props: list[str]) -> None:
    prop = ET.SubElement(parent, tag(DAV, "prop"))
    for name in props:
        ET.SubElement(prop, name)


def propfind(props: list[str]) -> bytes:
    root = ET.Element(tag(DAV, "propfind"))
    _props(root, props)
    return _body(root)


def sync_collection(token: str | None, props: list[str]) -> bytes:
    """RFC 6578: members changed since `token` (None: every member, and a first token)."""
    root = ET.Element(tag(DAV, "sync-collection"))
    ET.SubElement(root, SYNC_TOKEN).text = token or None
    ET.SubElement(root, tag(DAV, "sync-level")).text = "1"
    _props(root, props)
    return _body(root)


def multiget(hrefs: list[str], props: list[str]) -> bytes:
    """RFC 6352 addressbook-multiget of these hrefs (as the server spelled them)."""
    root = ET.Element(tag(CARD, "addressbook-multiget"))
    _props(root, props)
    for href in hrefs:
        ET.SubElement(root, tag(DAV, "href")).text = href
    return _body(root)


@dataclass
class Member:
    """One <response>: its href (as sent, and unquoted path), the status of the response or
    of its found properties, and those properties."""

    href: str
    path: str
    status: int
    props: dict[str, ET.Element] = field(default_factory=dict)

    def text(self, name: str) -> str | None:
        el = self.props.get(name)
        return None if el is None else (el.text or "")

    def hrefs(self, name: str) -> list[str]:
        el = self.props.get(name)
        return [] if el is None else [h.text.strip() for h in el.iter(tag(DAV, "href")) if h.text]

    def is_a(self, kind: str) -> bool:
        el = self.props.get(RESOURCETYPE)
        return el is not None and el.find(kind) is not None


@dataclass
class MultiStatus:
    members: list[Member]
    sync_token: str | None = None


def path_of(href: str, base: str = "") -> str:
    """The unquoted path an href names (relative hrefs resolved against `base`)."""
    return unquote(urlsplit(urljoin(base, href)).path)


def parse(body: bytes, base: str = "") -> MultiStatus:
    """A 207 answer; a body that is not XML is transient (the server answered half)."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise TransientError(f"malformed WebDAV XML: {exc}") from None
    members = []
    for response in root.findall(tag(DAV, "response")):
        href_el = response.find(tag(DAV, "href"))
        href = (href_el.text or "").strip() if href_el is not None else ""
        if not href:
            continue
        status = _status(response.find(tag(DAV, "status")))
        props: dict[str, ET.Element] = {}
        codes = []
        for propstat in response.findall(tag(DAV, "propstat")):
            code = _status(propstat.find(tag(DAV, "status")))
            codes.append(code)
            if 200 <= code < 300:
                for prop in propstat.findall(tag(DAV, "prop")):
                    for el in prop:
                        props[el.tag] = el
        if not status:  # no status of its own: found properties mean found
            ok = [c for c in codes if 200 <= c < 300]
            status = ok[0] if ok else (codes[0] if codes and codes[0] else 200)
        members.append(Member(href, path_of(href, base), status, props))
    token = root.find(SYNC_TOKEN)
    return MultiStatus(members, token.text.strip() if token is not None and token.text else None)


def _status(el: ET.Element | None) -> int:
    """'HTTP/1.1 404 Not Found' -> 404; 0 when absent or unreadable."""
    if el is None or not el.text:
        return 0
    parts = el.text.split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def has_precondition(body: bytes, name: str) -> bool:
    """An error body naming this precondition (`valid-sync-token`), per RFC 4918 16."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return False
    return root.find(tag(DAV, name)) is not None
