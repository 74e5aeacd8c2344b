"""Paths into vendor records: `a.b`, `Emails[0].Value`, `Metadata[Name=Email,Type=string].Value`,
`phones[phoneType.id=1].number`.

A `[Key=Value,...]` segment picks the list element whose first pair matches; the key may be
a dotted path inside the element (`phoneType.id`). When writing, a missing element is created
carrying every pair, so `Type` travels with `Name` and `phoneType.id` with the number. A
selector value is compared as text; it is written as a number when it is one (`id=1` writes
1), as text when quoted (`Type='231'` writes "231") or otherwise.

Fallback selectors (vCards: `tel[type~=cell].value`, `adr[type~=work|0].street`) try their
alternatives in order, separated by `|`: `N` (a position), `key=value`, `key~=value` (the
element's `key` is a list holding `value`, or text equal to it, ignoring case) or a bare
`key` (the element whose `key` is true). When writing, a missing element is created from the
first alternative. A path may end in a position in a list of values (`org[1]`).

Vendor files read answers with the same paths plus `[*]` (every element) and several
selectors in a row (`items[*].rows[*][0]`): see `parse_query` and `find_all`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

_SEGMENT = re.compile(r"^(?P<key>[^.\[\]]+)(?:\[(?P<sel>[^\]]*)\])?$")
_NUMBER = re.compile(r"^-?\d+$")


@dataclass(frozen=True)
class Choice:
    """One alternative of a fallback selector: `op` is "#" (position), "=", "~=" or ""
    (the bare key is true)."""

    op: str
    key: str = ""
    value: str = ""
    index: int = 0


@dataclass(frozen=True)
class Segment:
    key: str
    index: int | None = None
    match: tuple[tuple[str, str], ...] = ()
    choices: tuple[Choice, ...] = ()


class PathError(ValueError):
    pass


def parse_path(text: str) -> tuple[Segment, ...]:
    if not text or not isinstance(text, str):
        raise PathError("a path must be non-empty text")
    segments = []
    for part in _split(text):
        m = _SEGMENT.match(part)
        if not m:
            raise PathError(f"cannot read path segment {part!r} in {text!r}")
        sel = m.group("sel")
        if sel is None:
            segments.append(Segment(m.group("key")))
        elif sel.isdigit():
            segments.append(Segment(m.group("key"), index=int(sel)))
        elif _is_fallback(sel):
            segments.append(Segment(m.group("key"), choices=_parse_choices(sel, text)))
        else:
            segments.append(Segment(m.group("key"), match=_pairs(sel, text)))
    return tuple(segments)


def _pairs(sel: str, text: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for pair in sel.split(","):
        k, eq, v = pair.partition("=")
        if not eq or not k.strip() or any(not p for p in k.strip().split(".")):
            raise PathError(f"selector [{sel}] in {text!r} must be Key=Value pairs")
        pairs.append((k.strip(), v.strip()))
    return tuple(pairs)


def _split(text: str, quotes: bool = False) -> list[str]:
    """`a.b[x.y].c` -> a, b[x.y], c: dots inside brackets do not split. With `quotes` (the
    vendor files' queries) a key in single quotes may hold dots too: `'odata.nextLink'`."""
    parts, depth, cur, quoted = [], 0, "", False
    for ch in text:
        if quotes and ch == "'" and depth == 0:
            quoted = not quoted
        elif ch == "[" and not quoted:
            depth += 1
        elif ch == "]" and not quoted:
            depth -= 1
        if ch == "." and depth == 0 and not quoted:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


def _unquoted(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _written(text: str) -> Any:
    """A selector value as it is written into a new element: a number if it is one."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return int(text) if _NUMBER.match(text) else text


def _inner(item: Any, dotted: str) -> Any:
    if "." not in dotted:
        return item.get(dotted) if isinstance(item, dict) else None
    for key in dotted.split("."):
        if not isinstance(item, dict):
            return None
        item = item.get(key)
    return item


def _matches(item: Any, key: str, want: str) -> bool:
    value = _inner(item, key)
    if value is None or isinstance(value, dict | list):
        return False
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return text == _unquoted(want)


def _element_of(match: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    elem: dict[str, Any] = {}
    for dotted, text in match:
        cur = elem
        *outer, last = dotted.split(".")
        for key in outer:
            cur = cur.setdefault(key, {})
        cur[last] = _written(text)
    return elem


def _pick(items: list[Any], seg: Segment) -> Any:
    if seg.index is not None:
        return items[seg.index] if seg.index < len(items) else None
    key, want = seg.match[0]
    for item in items:
        if isinstance(item, dict) and _matches(item, key, want):
            return item
    return None


def get_path(data: Any, path: tuple[Segment, ...]) -> Any:
    cur = data
    for seg in path:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(seg.key)
        if seg.choices:
            cur = _choose(cur, seg.choices)
            continue
        if seg.index is None and not seg.match:
            continue
        if not isinstance(cur, list):
            return None
        cur = _pick(cur, seg)
    return cur


def set_path(data: dict[str, Any], path: tuple[Segment, ...], value: Any) -> None:
    cur: Any = data
    for i, seg in enumerate(path):
        last = i == len(path) - 1
        if seg.choices or (last and seg.index is not None):
            cur = _choose_or_create(cur, seg, last, value)
            if last:
                return
            continue
        if seg.index is None and not seg.match:
            if last:
                cur[seg.key] = value
                return
            nxt = cur.get(seg.key)
            if not isinstance(nxt, dict):
                nxt = cur[seg.key] = {}
            cur = nxt
            continue
        items = cur.get(seg.key)
        if not isinstance(items, list):
            items = cur[seg.key] = []
        elem = _pick(items, seg)
        if elem is None:
            elem = _element_of(seg.match)
            if seg.index is not None:
                while len(items) <= seg.index:
                    items.append({})
                items[seg.index] = elem
            else:
                items.append(elem)
        if last:
            raise PathError("a path must end in a key, not a list element")
        cur = elem


# --- fallback selectors (vCards) ------------------------------------------------------------


def _is_fallback(sel: str) -> bool:
    """`a|b`, `key~=value` or a bare key: what the `Key=Value,...` form cannot say."""
    return "|" in sel or "~=" in sel or ("=" not in sel and not sel.strip().isdigit())


def _parse_choices(sel: str, text: str) -> tuple[Choice, ...]:
    choices = []
    for alt in (a.strip() for a in sel.split("|")):
        if alt.isdigit():
            choices.append(Choice("#", index=int(alt)))
            continue
        for op in ("~=", "="):
            key, found, value = alt.partition(op)
            if found:
                break
        else:
            key, op, value = alt, "", ""
        key, value = key.strip(), value.strip()
        if not key or "," in alt or (op and not value):
            raise PathError(
                f"selector [{sel}] in {text!r}: each alternative is N, key=value, key~=value "
                "or a key"
            )
        choices.append(Choice(op, key, value))
    return tuple(choices)


def _fits(item: Any, c: Choice) -> bool:
    if not isinstance(item, dict):
        return False
    have = item.get(c.key)
    if c.op == "":
        return bool(have)
    if c.op == "=":
        return str(have) == c.value
    want = c.value.casefold()
    if isinstance(have, list):
        return any(str(v).casefold() == want for v in have)
    return have is not None and str(have).casefold() == want


def _choice_at(items: Any, choices: tuple[Choice, ...]) -> int | None:
    """The position the first fitting alternative picks, or None."""
    if not isinstance(items, list):
        return None
    for c in choices:
        if c.op == "#":
            if c.index < len(items):
                return c.index
            continue
        for i, item in enumerate(items):
            if _fits(item, c):
                return i
    return None


def _choose(items: Any, choices: tuple[Choice, ...]) -> Any:
    at = _choice_at(items, choices)
    return None if at is None else items[at]


def _new_element(c: Choice) -> dict[str, Any]:
    if c.op == "~=":
        return {c.key: [c.value]}
    if c.op == "=":
        return {c.key: c.value}
    return {c.key: True} if c.op == "" else {}


def _choose_or_create(cur: dict[str, Any], seg: Segment, last: bool, value: Any) -> Any:
    """Write through a fallback or position segment: the element it picks, created from its
    first alternative when none fits; at the end of a path, the value itself."""
    items = cur.get(seg.key)
    if not isinstance(items, list):
        items = cur[seg.key] = []
    choices = seg.choices or (Choice("#", index=seg.index or 0),)
    at = _choice_at(items, choices)
    if at is None:
        first = choices[0]
        if first.op == "#":
            while len(items) <= first.index:
                items.append("" if last else {})
            at = first.index
        else:
            if last:
                raise PathError("a fallback selector picks an element: end the path in a key")
            items.append(_new_element(first))
            at = len(items) - 1
    if last:
        items[at] = value
        return None
    if not isinstance(items[at], dict):
        items[at] = {}
    return items[at]


# ---- queries: paths that may select several values (vendor files' envelopes) ----

Step = tuple[str, Any]  # ("key", name) | ("index", n) | ("all", None) | ("match", pairs)
_QUERY_PART = re.compile(r"\[([^\]]*)\]")


@functools.lru_cache(maxsize=1024)  # vendor files' paths, read at every record
def parse_query(text: str) -> tuple[Step, ...]:
    """`items[*].rows[*][0]`, `paging.next.after`, `value`: dotted keys, each followed by any
    number of `[n]`, `[*]` or `[Key=Value]` selectors; a key holding dots is single-quoted
    (`'odata.nextLink'`). "" is the answer itself."""
    if not isinstance(text, str):
        raise PathError("a path must be text")
    if text == "":
        return ()
    steps: list[Step] = []
    for part in _split(text, quotes=True):
        if len(part) >= 2 and part[0] == "'" and part.index("'", 1) == len(part) - 1:
            steps.append(("key", part[1:-1]))
            continue
        key, _, rest = part.partition("[")
        rest = "[" + rest if rest else ""
        if not key or "]" in key:
            raise PathError(f"cannot read path segment {part!r} in {text!r}")
        steps.append(("key", key))
        pos = 0
        for m in _QUERY_PART.finditer(rest):
            if m.start() != pos:
                raise PathError(f"cannot read path segment {part!r} in {text!r}")
            sel, pos = m.group(1), m.end()
            if sel == "*":
                steps.append(("all", None))
            elif sel.isdigit():
                steps.append(("index", int(sel)))
            else:
                steps.append(("match", _pairs(sel, text)))
        if pos != len(rest):
            raise PathError(f"cannot read path segment {part!r} in {text!r}")
    return tuple(steps)


def find_all(data: Any, query: tuple[Step, ...]) -> list[Any]:
    """Every value the query reaches (missing branches give nothing, never None)."""
    found = [data]
    for kind, arg in query:
        nxt: list[Any] = []
        for cur in found:
            if kind == "key":
                if isinstance(cur, dict) and cur.get(arg) is not None:
                    nxt.append(cur[arg])
            elif not isinstance(cur, list):
                continue
            elif kind == "all":
                nxt.extend(v for v in cur if v is not None)
            elif kind == "index":
                if arg < len(cur) and cur[arg] is not None:
                    nxt.append(cur[arg])
            else:
                key, want = arg[0]
                nxt.extend(v for v in cur if isinstance(v, dict) and _matches(v, key, want))
        found = nxt
    return found


def find_one(data: Any, query: tuple[Step, ...]) -> Any:
    """The first value the query reaches, or None."""
    cur = data
    for i, (kind, arg) in enumerate(query):
        if kind == "key":
            cur = cur.get(arg) if isinstance(cur, dict) else None
        elif kind == "index":
            cur = cur[arg] if isinstance(cur, list) and arg < len(cur) else None
        else:  # several may match: the general walk for the rest
            found = find_all(cur, query[i:])
            return found[0] if found else None
        if cur is None:
            return None
    return cur
