"""Paths into vendor records: `a.b`, `Emails[0].Value`, `Metadata[Name=Email,Type=string].Value`.

A `[Key=Value,...]` segment picks the list element whose first pair matches; when writing,
a missing element is created carrying every pair, so `Type` travels with `Name`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_SEGMENT = re.compile(r"^(?P<key>[^.\[\]]+)(?:\[(?P<sel>[^\]]*)\])?$")


@dataclass(frozen=True)
class Segment:
    key: str
    index: int | None = None
    match: tuple[tuple[str, str], ...] = ()


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
