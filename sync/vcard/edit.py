"""Write a changed record back into its card, line by line.

Only the properties whose value in the record changed are touched: their lines get the new
value (their group and parameters kept), a line whose value was cleared is removed, a new
value gets a new line beside the others of its property. Every other line, PHOTO and NOTE
and X- properties and the second EMAIL included, stays byte for byte. When N changes and FN
does not, FN follows N (vCard requires FN, and a renamed person keeps no stale FN).
"""

from __future__ import annotations

import re
from typing import Any

from vobject.base import backslashEscape

from sync.vcard.card import Card, Line, parse, serialise
from sync.vcard.record import ADR_PARTS, NAME_PARTS, compose, present

TEXT = {"fn": "FN", "title": "TITLE", "role": "ROLE", "note": "NOTE", "nickname": "NICKNAME",
        "bday": "BDAY"}  # fmt: skip
MULTI = {"email": "EMAIL", "tel": "TEL", "url": "URL", "adr": "ADR"}
_UNESCAPED_SEMICOLON = re.compile(r"(?<!\\);")
# the order of a new card's lines
ORDER = ("fn", "n", "org", "title", "role", "email", "tel", "adr", "url", "nickname", "bday",
         "categories", "note")  # fmt: skip


def escape(value: Any) -> str:
    return backslashEscape("" if value is None else str(value))


def new_card(record: dict[str, Any], uid: str, version: str = "3.0") -> str:
    """A new card holding `record`, with this UID."""
    return new_card_and_record(record, uid, version)[0]


def new_card_and_record(
    record: dict[str, Any], uid: str, version: str = "3.0"
) -> tuple[str, dict[str, Any]]:
    """A new card's text, and its record as a listing will show it (without reading the
    text again)."""
    nl = "\r\n"
    card = parse(f"BEGIN:VCARD{nl}VERSION:{version}{nl}UID:{escape(uid)}{nl}END:VCARD{nl}")
    record = dict(record)
    if not record.get("fn"):
        emails = [e.get("value") for e in record.get("email") or [] if isinstance(e, dict)]
        record["fn"] = compose(record.get("n")) or next((e for e in emails if e), "")
    if version.startswith("3") and not record.get("n"):
        record["n"] = dict.fromkeys(NAME_PARTS, "")  # vCard 3.0 requires N
    editor = _Editor(card, {"version": version})
    text = editor.write(record, always_fn=True)
    lines = [line for slot in editor.slots for line in slot]
    return text, present(Card(lines, card.newline, card.trailer))


def apply(card: Card, record: dict[str, Any]) -> str:
    """The card's text with `record`'s changed properties written into it."""
    return _Editor(card, present(card)).write(record)


class _Editor:
    def __init__(self, card: Card, old: dict[str, Any]) -> None:
        self.card = card
        self.old = old
        self.v4 = card.version.startswith("4")
        self.lines = list(card.lines)  # what each position holds now (the card is not changed)
        self.slots: list[list[Line]] = [[line] for line in card.lines]

    def write(self, new: dict[str, Any], always_fn: bool = False) -> str:
        new = dict(new)
        old = self.old
        if not _same(new.get("n"), old.get("n")) and _same(new.get("fn"), old.get("fn")):
            new["fn"] = compose(new.get("n")) or old.get("fn")
        for key in ORDER:
            if _same(new.get(key), old.get(key)) and not (always_fn and key == "fn"):
                continue
            if key in TEXT:
                self._single(TEXT[key], None if new.get(key) is None else escape(new[key]))
            elif key == "n":
                n: dict[str, Any] = new["n"] if isinstance(new.get("n"), dict) else {}
                self._single("N", ";".join(escape(n.get(k)) for k in NAME_PARTS))
            elif key == "org":
                self._single("ORG", self._org(new.get("org")))
            elif key == "categories":
                self._single("CATEGORIES", _joined(new.get("categories"), ","))
            else:
                self._multi(MULTI[key], old.get(key) or [], new.get(key) or [])
        lines = [line for slot in self.slots for line in slot]
        return "".join(line.raw for line in lines) + self.card.trailer

    # --- one property ---------------------------------------------------------------------

    def _named(self, name: str) -> list[int]:
        return [i for i, line in enumerate(self.lines) if line.name == name]

    def _single(self, name: str, wire: str | None) -> None:
        at = self._named(name)
        if not wire and name != "FN":
            if at:
                self._replace(at[0], None)
            return
        if at:
            self._replace(at[0], self._with(self.lines[at[0]], wire or ""))
        else:
            self._add(name, Line("", name, None, [], wire or ""))

    def _multi(self, name: str, old: list[Any], new: list[Any]) -> None:
        at = self._named(name)
        for i, item in enumerate(new):
            item = item if isinstance(item, dict) else {"value": item}
            before = old[i] if i < len(old) else None
            if item == before:
                continue
            wire = self._wire(name, item)
            if i < len(at):
                line = self.lines[at[i]]
                if not wire:
                    self._replace(at[i], None)
                    continue
                if line.name == "TEL" and line.value[:4].lower() == "tel:":
                    wire = "tel:" + wire
                changed = self._with(line, wire)
                if isinstance(before, dict) and item.get("type") != before.get("type"):
                    changed.params = [p for p in changed.params if p[0].upper() != "TYPE"]
                    changed.params += self._types(item.get("type") or [], bool(before.get("pref")))
                self._replace(at[i], changed)
            elif wire:
                params = self._types(item.get("type") or [], bool(item.get("pref")))
                self._add(name, Line("", name, None, params, wire))

    def _org(self, org: Any) -> str | None:
        """ORG from name and unit; the units after the first stay as they were."""
        org = org if isinstance(org, dict) else {}
        at = self._named("ORG")
        rest = _UNESCAPED_SEMICOLON.split(self.lines[at[0]].value)[2:] if at else []
        parts = [escape(org.get("name")), escape(org.get("unit")), *rest]
        while parts and not parts[-1]:
            parts.pop()
        return ";".join(parts) or None

    def _wire(self, name: str, item: dict[str, Any]) -> str:
        if name == "ADR":
            if not any(item.get(k) for k in ADR_PARTS):
                return ""
            return ";".join(escape(item.get(k)) for k in ADR_PARTS)
        return escape(item.get("value")) if item.get("value") else ""

    def _types(self, types: list[Any], pref: bool) -> list[list[str]]:
        words = [str(t).lower() for t in types if str(t).strip() and str(t).lower() != "pref"]
        params: list[list[str]] = []
        if pref and self.v4:
            params.append(["PREF", "1"])
        elif pref:
            words.append("pref")
        if words:
            params.append(["TYPE", *(w if self.v4 else w.upper() for w in words)])
        return params

    # --- lines ------------------------------------------------------------------------------

    def _with(self, line: Line, wire: str) -> Line:
        """`line` with a new value; a 2.1 quoted-printable encoding no longer applies."""
        keep = [p for p in line.params if p[0].upper() not in ("ENCODING", "CHARSET")]
        keep = [p for p in keep if p[0].upper() != "QUOTED-PRINTABLE"]
        return Line("", line.name, line.group, keep, wire)

    def _replace(self, at: int, line: Line | None) -> None:
        """Position `at` holds `line` instead (None: nothing, the line is removed)."""
        slot = self.slots[at]
        i = next(k for k, x in enumerate(slot) if x is self.lines[at])
        if line is None:
            del slot[i]
            self.lines[at] = Line("", "", None, [], "")
            return
        line.raw = serialise(line, self.card.newline)
        slot[i] = self.lines[at] = line

    def _add(self, name: str, line: Line) -> None:
        """After the last line of the same property, else before END:VCARD."""
        line.raw = serialise(line, self.card.newline)
        at = self._named(name)
        self.slots[at[-1] if at else len(self.slots) - 2].append(line)


def _joined(values: Any, sep: str) -> str | None:
    if not values:
        return None
    items = [escape(v) for v in (values if isinstance(values, list) else [values])]
    while items and not items[-1]:
        items.pop()
    return sep.join(items) or None


def _same(a: Any, b: Any) -> bool:
    empty: tuple[Any, ...] = (None, "", [], {})
    return (a in empty and b in empty) or a == b
