"""A card as the plain nested record its mapping reads (mappings/vcard.toml):

    {"uid": ..., "version": "3.0", "fn": ..., "n": {"family", "given", "additional", "prefix",
     "suffix"}, "email": [{"value", "type": [...], "pref": True}], "tel": [...], "url": [...],
     "adr": [{"type", "pref", "box", "extended", "street", "city", "region", "code",
     "country"}], "org": {"name", "unit"}, "categories": [...], "title", "role", "note",
     "nickname", "bday"}

Only the first FN, N, ORG and text property counts (ORG's units past the first are kept
as they are); EMAIL, TEL, URL and ADR keep every line,
in order. TYPE values are lower case, without `pref`; `pref` is true on the one most preferred
line of its property (TYPE=pref in 3.0, the lowest PREF in 4.0). A card with FN and no N
shows N split from FN (all but the last word, the last word). 4.0's `tel:` URI prefix is not
shown.
"""

from __future__ import annotations

from typing import Any

from vobject.vcard import stringToTextValues

from sync.vcard.card import Card, Line

NAME_PARTS = ("family", "given", "additional", "prefix", "suffix")
ADR_PARTS = ("box", "extended", "street", "city", "region", "code", "country")
TEXT = {"FN": "fn", "TITLE": "title", "ROLE": "role", "NOTE": "note", "NICKNAME": "nickname",
        "BDAY": "bday", "UID": "uid"}  # fmt: skip
MULTI = {"EMAIL": "email", "TEL": "tel", "URL": "url"}
STRUCTURED = {"N": "n", "ADR": "adr", "ORG": "org", "CATEGORIES": "categories"}


def unescape(value: str) -> str:
    if "\\" not in value:
        return value
    return "".join(stringToTextValues(value, listSeparator=None))


def split(value: str, sep: str) -> list[str]:
    """Components of a structured value, each unescaped (a component's own list joined)."""
    if "\\" not in value:
        return value.split(sep)
    parts = stringToTextValues(value, listSeparator=sep, charList=sep)
    return [",".join(stringToTextValues(p)) if p else "" for p in parts]


def parts(value: str, names: tuple[str, ...]) -> dict[str, str]:
    found = split(value, ";")
    found += [""] * (len(names) - len(found))
    return dict(zip(names, found, strict=False))


def present(card: Card) -> dict[str, Any]:
    out: dict[str, Any] = {"version": card.version}
    for line in card.lines:
        name = line.name
        if name in TEXT:
            out.setdefault(TEXT[name], unescape(line.value))
        elif name in MULTI:
            out.setdefault(MULTI[name], []).append(_typed(line, {"value": _value(line)}))
        elif name == "ADR":
            out.setdefault("adr", []).append(_typed(line, parts(line.value, ADR_PARTS)))
        elif name == "N" and "n" not in out:
            out["n"] = parts(line.value, NAME_PARTS)
        elif name == "ORG" and "org" not in out:
            org = split(line.value, ";")
            out["org"] = {"name": org[0], "unit": org[1] if len(org) > 1 else ""}
        elif name == "CATEGORIES":
            values = stringToTextValues(line.value) if "\\" in line.value else line.value.split(",")
            out.setdefault("categories", []).extend(values)
    if "n" not in out and out.get("fn"):
        out["n"] = name_from(out["fn"])
    for key in ("email", "tel", "url", "adr"):
        _mark_preferred(out.get(key), card.named(key.upper()), card)
    return out


def name_from(fn: str) -> dict[str, str]:
    words = fn.split()
    n = dict.fromkeys(NAME_PARTS, "")
    if words:
        n["family"] = words[-1] if len(words) > 1 else ""
        n["given"] = " ".join(words[:-1]) if len(words) > 1 else words[0]
    return n


def compose(n: dict[str, Any] | None) -> str:
    """FN from N: prefix, given, additional, family, suffix."""
    if not n:
        return ""
    order = ("prefix", "given", "additional", "family", "suffix")
    return " ".join(str(n[k]).strip() for k in order if n.get(k) and str(n[k]).strip())


def _value(line: Line) -> str:
    value = unescape(line.value)
    if line.name == "TEL" and value[:4].lower() == "tel:":
        return value[4:]
    return value


def _typed(line: Line, item: dict[str, Any]) -> dict[str, Any]:
    types = [t.lower() for t in line.param("TYPE")]
    item["type"] = [t for t in types if t != "pref"]
    return item


def _rank(line: Line) -> int | None:
    """How preferred a line is: 1 is most; None when it does not say."""
    if any(t.lower() == "pref" for t in line.param("TYPE")):
        return 1
    for v in line.param("PREF"):
        if v.isdigit():
            return int(v)
    return None


def _mark_preferred(items: list[dict[str, Any]] | None, positions: list[int], card: Card) -> None:
    if not items:
        return
    ranks = [_rank(card.lines[i]) for i in positions]
    known = [r for r in ranks if r is not None]
    if known:
        items[ranks.index(min(known))]["pref"] = True
