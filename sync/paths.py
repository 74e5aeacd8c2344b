"""Paths into vendor records: `a.b`, `Emails[0].Value`, `Metadata[Name=Email,Type=string].Value`.

A `[Key=Value,...]` segment picks the list element whose first pair matches; when writing,
a missing element is created carrying every pair, so `Type` travels with `Name`.

Fallback selectors (vCards: `tel[type~=cell].value`, `adr[type~=work|0].street`) try their
alternatives in order, separated by `|`: `N` (a position), `key=value`, `key~=value` (the
element's `key` is a list holding `value`, or text equal to it, ignoring case) or a bare
`key` (the element whose `key` is true). When writing, a missing element is created from the
first alternative. A path may end in a position in a list of values (`org[1]`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_SEGMENT = re.compile(r"^(?P<key>[^.\[\]]+)(?:\[(?P<sel>[^\]]*)\])?$")


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
        elif _is_fallback(sel):
            segments.append(Segment(m.group("key"), choices=_parse_choices(sel, text)))
        elif sel.isdigit():
            segments.append(Segment(m.group("key"), index=int(sel)))
        else:
            pairs = []
            for pair in sel.split(","):
                k, eq, v = pair.partition("=")
                if not eq or not k.strip():
                    raise PathError(f"selector [{sel}] in {text!r} must be Key=Value pairs")
                pairs.append((k.strip(), v.strip()))
            segments.append(Segment(m.group("key"), match=tuple(pairs)))
    return tuple(segments)


def _split(text: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "." and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


def _pick(items: list[Any], seg: Segment) -> Any:
    if seg.index is not None:
        return items[seg.index] if seg.index < len(items) else None
    key, want = seg.match[0]
    for item in items:
        if isinstance(item, dict) and str(item.get(key)) == want:
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
            elem = dict(seg.match)
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
