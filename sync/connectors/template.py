"""Templates in vendor files: `{name}` and `{name|filter|filter:arg}` inside paths, parameters,
headers and bodies.

A string that is one placeholder and nothing else gives the value itself (a list stays a
list, a number a number); otherwise values are written into the text. A placeholder whose
variable is not set makes its whole string unset: a parameter, body key or list element
that is unset is left out (`q = "id>{last}"` is sent only once there is a `last`), unless a
`default:` filter gives a value. `{{` and `}}` are literal braces.

Variables: `options.<name>` (the system's options), the vendor file's `[vars]`, `base_url`,
`id`, `email`, `cursor`, `since`, `last`, `mapped.<prefix>` (the keys under that prefix that
the system's mapping names), and what a paginator sets.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][\w.]*)((?:\|[a-z_]+(?::[^|{}]*)?)*)\}")


def _moment(value: Any) -> datetime:
    if not isinstance(value, datetime):
        raise ValueError(f"{value!r} is not a time")
    return value.astimezone(UTC)


def _iso(value: Any) -> str:
    moment = _moment(value)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _quoted(value: Any) -> str:
    """A single-quoted literal, quotes inside doubled (ROQL, OData, SQL)."""
    return "'" + str(value).replace("'", "''") + "'"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return _iso(value)
    return str(value)


FILTERS: dict[str, Callable[[Any, str | None], Any]] = {
    "quoted": lambda v, _: _quoted(v),
    "url": lambda v, _: quote(_text(v), safe=""),
    "epoch_ms": lambda v, _: int(_moment(v).timestamp() * 1000),
    "iso": lambda v, _: _iso(v),
    "date": lambda v, _: _moment(v).date().isoformat(),
    "day_before": lambda v, _: (_moment(v) - timedelta(days=1)).date().isoformat(),
    "lower": lambda v, _: _text(v).lower(),
    "join": lambda v, arg: (arg or ",").join(_text(x) for x in v),
    "int": lambda v, _: int(v),
    "str": lambda v, _: _text(v),
    "first": lambda v, _: v[0] if isinstance(v, list | tuple) and v else UNSET,
    # {"a": "x"} -> {"a": {"lookupName": "x"}}: a table's values wrapped in objects
    "each_as": lambda v, arg: {k: {arg or "value": x} for k, x in dict(v).items()},
    "default": lambda v, arg: v,  # applied before lookup failure, see _apply
}


class TemplateError(ValueError):
    pass


def lookup(variables: Mapping[str, Any], name: str) -> Any:
    cur: Any = variables
    for part in name.split("."):
        if not isinstance(cur, Mapping) or part not in cur or cur[part] is None:
            return UNSET
        cur = cur[part]
    return cur


def _apply(value: Any, filters: str) -> Any:
    for spec in filter(None, filters.split("|")):
        name, _, arg = spec.partition(":")
        if name == "default":
            value = arg if value is UNSET else value
            continue
        if value is UNSET:
            return UNSET
        try:
            value = FILTERS[name](value, arg or None)
        except (TypeError, ValueError, KeyError) as exc:
            raise TemplateError(f"filter {name} cannot take {value!r}: {exc}") from None
    return value


def render(
    template: Any, variables: Mapping[str, Any], escape: Callable[[str], str] | None = None
) -> Any:
    """The template with its variables; UNSET when a variable it needs is not set.
    `escape` is applied to every value written into a larger string (paths: URL quoting)."""
    if isinstance(template, dict):
        out = {k: render(v, variables, escape) for k, v in template.items()}
        return {k: v for k, v in out.items() if v is not UNSET}
    if isinstance(template, list):
        items = [render(v, variables, escape) for v in template]
        return [v for v in items if v is not UNSET]
    if not isinstance(template, str):
        return template
    whole = _PLACEHOLDER.fullmatch(template)
    if whole is not None:
        return _apply(lookup(variables, whole.group(1)), whole.group(2))
    missing = False

    def one(m: re.Match[str]) -> str:
        nonlocal missing
        value = _apply(lookup(variables, m.group(1)), m.group(2))
        if value is UNSET:
            missing = True
            return ""
        text = _text(value)
        return escape(text) if escape else text

    text = _PLACEHOLDER.sub(one, template)
    if missing:
        return UNSET
    return text.replace("{{", "{").replace("}}", "}")


def names(template: Any) -> set[str]:
    """The variables a template refers to, for the checks at load."""
    if isinstance(template, dict):
        return set().union(*(names(v) for v in template.values())) if template else set()
    if isinstance(template, list):
        return set().union(*(names(v) for v in template)) if template else set()
    if not isinstance(template, str):
        return set()
    found = set()
    for m in _PLACEHOLDER.finditer(template):
        for spec in filter(None, m.group(2).split("|")):
            if spec.partition(":")[0] not in FILTERS:
                raise TemplateError(f"unknown filter {spec!r} (valid: {', '.join(FILTERS)})")
        found.add(m.group(1))
    return found
