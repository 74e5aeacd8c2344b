"""One vCard as its content lines, each kept with its raw text (folds and line ends).

vobject reads each logical line (`parseLine`: name, group, parameters, value) and writes the
lines contactsync changes. The card as a whole is never round-tripped through vobject: it
re-orders properties and cuts a vCard 4.0 `PHOTO:data:image/png;base64,...` at the comma, so
only the lines of mapped properties that changed are re-serialised; every other line is kept
as the server or the file held it.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field

from vobject.base import ParseError, dquoteEscape, foldOneLine, parseLine

from sync.errors import RecordError

_PHYSICAL = re.compile(r"[^\n]*\n|[^\n]+$")


class CardError(RecordError):
    """The text is not one readable vCard; the record fails with this reason."""


@dataclass
class Line:
    raw: str  # as it was: folded, with its line end
    name: str  # upper case
    group: str | None
    params: list[list[str]]  # vobject's shape: [NAME, value, ...] or [singleton]
    value: str  # unfolded, still escaped as on the wire

    def param(self, name: str) -> list[str]:
        """The values of parameter `name` (TYPE, PREF, VALUE), and for TYPE the bare
        singletons of vCard 2.1 (`TEL;CELL:...`)."""
        out: list[str] = []
        for p in self.params:
            if p[0].upper() == name:
                for v in p[1:]:
                    out += [x for x in v.split(",") if x]
            elif len(p) == 1 and name == "TYPE":
                out.append(p[0])
        return out


@dataclass
class Card:
    lines: list[Line]  # every line from BEGIN:VCARD to END:VCARD, in order
    newline: str = "\r\n"
    trailer: str = ""  # what followed END:VCARD (a final line end or nothing)
    version: str = field(init=False, default="3.0")

    def __post_init__(self) -> None:
        for line in self.lines:
            if line.name == "VERSION":
                self.version = line.value.strip()
                break

    def named(self, name: str) -> list[int]:
        """Positions of the lines of property `name`, in order."""
        return [i for i, line in enumerate(self.lines) if line.name == name]

    def text(self) -> str:
        return "".join(line.raw for line in self.lines) + self.trailer


def parse(text: str) -> Card:
    """One vCard; CardError names the line that cannot be read."""
    if not text.strip():
        raise CardError("the card is empty")
    newline = "\r\n" if "\r\n" in text else "\n"
    blocks: list[tuple[int, list[str]]] = []
    for number, physical in enumerate(_PHYSICAL.findall(text), start=1):
        if physical[:1] in (" ", "\t") and blocks:
            blocks[-1][1].append(physical)
        elif physical.strip():
            blocks.append((number, [physical]))
        elif blocks:
            blocks[-1][1].append(physical)  # a blank line stays where it was
    lines = [_line(number, parts) for number, parts in blocks]
    if not lines or lines[0].name != "BEGIN" or lines[0].value.strip().upper() != "VCARD":
        raise CardError("it does not begin with BEGIN:VCARD")
    depth, end = 0, None
    for i, line in enumerate(lines):
        if line.name == "BEGIN":
            depth += 1
        elif line.name == "END":
            depth -= 1
            if depth == 0:
                end = i
                break
    if end is None:
        raise CardError("END:VCARD is missing")
    if end != len(lines) - 1:
        raise CardError("more than one card, or text after END:VCARD")
    if not any(line.name == "VERSION" for line in lines):
        raise CardError("VERSION is missing")
    last = lines[-1]
    body = last.raw.rstrip("\r\n")
    trailer = last.raw[len(body) :]
    last.raw = body
    return Card(lines, newline, trailer)


def _line(number: int, parts: list[str]) -> Line:
    raw = "".join(parts)
    logical = "".join(
        (p if i == 0 else p[1:]).rstrip("\r\n") for i, p in enumerate(parts) if p.strip()
    )
    try:
        name, params, value, group = parseLine(logical, number)
    except ParseError:
        shown = logical[:60] + ("..." if len(logical) > 60 else "")
        raise CardError(f"line {number} cannot be read: {shown!r}") from None
    return Line(raw, name.upper(), group, params, value)


def serialise(line: Line, newline: str) -> str:
    """A line's text from its fields, its parameters in their order (vobject quotes their
    values and folds the line at 75 octets)."""
    params = "".join(";" + _param(p) for p in line.params)
    group = f"{line.group}." if line.group else ""
    out = io.StringIO()
    foldOneLine(out, f"{group}{line.name}{params}:{line.value}", 75)
    text = out.getvalue()
    return text if newline == "\r\n" else text.replace("\r\n", newline)


def _param(p: list[str]) -> str:
    if len(p) == 1:
        return p[0]  # a 2.1 singleton (TEL;CELL)
    return p[0] + "=" + ",".join(dquoteEscape(v.replace('"', "")) for v in p[1:])
