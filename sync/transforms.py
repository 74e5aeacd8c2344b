"""Named value transforms used by mapping files, each direction its own list.

A transform is written in a mapping as a bare name (`"trim"`) or a one-key table
(`{ max_length = 64 }`). Every transform passes None through unless it exists to replace it
(`default`, `constant`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sync.contact import normalise_phone, parse_bool
from sync.errors import RecordError

Transform = Callable[[Any], Any]


def _text(fn: Callable[[str], Any]) -> Transform:
    def apply(value: Any) -> Any:
        if value is None:
            return None
        return fn(value if isinstance(value, str) else str(value))

    return apply


def _trim(_: Any) -> Transform:
    return _text(str.strip)


def _lower(_: Any) -> Transform:
    return _text(str.lower)


def _upper(_: Any) -> Transform:
    return _text(str.upper)


def _digits(_: Any) -> Transform:
    return _text(lambda s: "".join(ch for ch in s if ch.isdigit()))


def _e164(region: Any) -> Transform:
    return _text(lambda s: normalise_phone(s, region if isinstance(region, str) else None))


def _to_str(_: Any) -> Transform:
    return lambda v: None if v is None else ("1" if v is True else "0" if v is False else str(v))


def _to_int(_: Any) -> Transform:
    def apply(value: Any) -> Any:
        if value is None or value == "":
            return None
        try:
            return int(value)
        except (TypeError, ValueError):
            raise RecordError(f"{value!r} is not a whole number") from None

    return apply


def _bool(spellings: Any) -> Transform:
    """`{ bool = ["1", "0"] }`: a yes/no value to and from the vendor's spellings."""
    yes, no = spellings

    def apply(value: Any) -> Any:
        if value is None or value == "":
            return None
        if value == yes:
            return True
        if value == no:
            return False
        flag = parse_bool(value)
        return yes if flag else no

    return apply


def _max_length(limit: Any) -> Transform:
    def apply(value: Any) -> Any:
        if isinstance(value, str) and len(value) > limit:
            raise RecordError(f"{value[:40]!r}... is {len(value)} characters, the limit is {limit}")
        return value

    return apply


def _pattern(regex: Any) -> Transform:
    """`{ pattern = "^[a-z]{2}(_[A-Z]{2})?$" }`: text that does not match fails the record."""
    compiled = re.compile(regex)

    def apply(value: Any) -> Any:
        if isinstance(value, str) and value and not compiled.fullmatch(value):
            raise RecordError(f"{value[:40]!r} does not have the form {regex}")
        return value

    return apply


def _truncate(limit: Any) -> Transform:
    return lambda v: v[:limit] if isinstance(v, str) else v


def _default(fallback: Any) -> Transform:
    return lambda v: fallback if v is None or v == "" else v


def _constant(fixed: Any) -> Transform:
    return lambda _v: fixed


def _split_name(part: Any) -> Transform:
    """A full name to its first part (all but the last word) or its last word."""

    def apply(value: Any) -> Any:
        if value is None:
            return None
        words = str(value).split()
        if not words:
            return None
        if len(words) == 1:
            return words[0] if part == "first" else None
        return " ".join(words[:-1]) if part == "first" else words[-1]

    return apply


def _lookup(table: Any) -> Transform:
    return lambda v: table.get(v, v) if isinstance(v, str | int | bool) else v


# name -> (factory, what its argument must be: None for no argument)
REGISTRY: dict[str, tuple[Callable[[Any], Transform], str | None]] = {
    "trim": (_trim, None),
    "lower": (_lower, None),
    "upper": (_upper, None),
    "digits": (_digits, None),
    "e164": (_e164, None),
    "str": (_to_str, None),
    "int": (_to_int, None),
    "bool": (_bool, "pair"),
    "max_length": (_max_length, "int"),
    "truncate": (_truncate, "int"),
    "pattern": (_pattern, "regex"),
    "default": (_default, "any"),
    "constant": (_constant, "any"),
    "split_name": (_split_name, "first|last"),
    "lookup": (_lookup, "table"),
}


def build(spec: Any) -> Transform:
    """One transform from its mapping-file spelling; ValueError with a readable reason."""
    if isinstance(spec, str):
        name, arg, has_arg = spec, None, False
    elif isinstance(spec, dict) and len(spec) == 1:
        ((name, arg),) = spec.items()
        has_arg = True
    else:
        raise ValueError("a transform is a name or a table with one key, like { max_length = 64 }")
    if name not in REGISTRY:
        raise ValueError(f"unknown transform {name!r} (valid: {', '.join(sorted(REGISTRY))})")
    factory, wants = REGISTRY[name]
    if wants is None:
        return factory(arg)
    if not has_arg:
        raise ValueError(f"transform {name!r} needs a value, like {{ {name} = ... }}")
    ok = {
        "int": isinstance(arg, int) and not isinstance(arg, bool) and arg > 0,
        "pair": isinstance(arg, list) and len(arg) == 2 and all(isinstance(a, str) for a in arg),
        "first|last": arg in ("first", "last"),
        "table": isinstance(arg, dict),
        "regex": isinstance(arg, str) and _compiles(arg),
        "any": True,
    }[wants]
    if not ok:
        raise ValueError(f"transform {name!r} takes {wants}, not {arg!r}")
    return factory(arg)


def _compiles(regex: str) -> bool:
    try:
        re.compile(regex)
    except re.error:
        return False
    return True


def identity(value: Any) -> Any:
    """No transform: what `chain([])` is, so that a mapping can skip calling it."""
    return value


def chain(transforms: list[Transform]) -> Transform:
    if not transforms:
        return identity
    if len(transforms) == 1:
        return transforms[0]

    def apply(value: Any) -> Any:
        for fn in transforms:
            value = fn(value)
        return value

    return apply
