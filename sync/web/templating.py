"""The one Jinja2 environment: the review pages and the exported report share it."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from sync.masking import mask


def show(value: Any) -> str:
    """A value as a person reads it: nothing is an em dash, booleans are yes/no."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def when(value: Any, now: datetime | None = None) -> Markup | str:
    """A time as a person reads it: to the minute, in UTC (saying so), and how long ago
    when that is within a week; the exact time in the tooltip."""
    moment = _moment(value)
    if moment is None:
        return "time unknown" if not value else str(value)
    iso = moment.isoformat(timespec="seconds")
    text = moment.strftime("%Y-%m-%d %H:%M UTC")
    ago = _ago(moment, now or datetime.now(UTC))
    shown = f"{text} ({ago})" if ago else text
    return Markup('<time datetime="{0}" title="{0}">{1}</time>').format(iso, shown)


def _moment(value: Any) -> datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


def _ago(moment: datetime, now: datetime) -> str | None:
    seconds = (now - moment).total_seconds()
    if abs(seconds) >= 7 * 86400:
        return None
    span = abs(seconds)
    if span < 60:
        return "just now"
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if span >= size:
            n = int(span // size)
            amount = f"{n} {unit}{'s' if unit == 'day' and n > 1 else ''}"
            return f"{amount} ago" if seconds > 0 else f"in {amount}"
    return None


def cursor(value: Any) -> Markup | str:
    """A system's cursor: a time reads as one; a long opaque token is shortened (all of it
    in the tooltip)."""
    if value is None or value == "":
        return "—"
    if _moment(value) is not None:
        return when(value)
    text = str(value)
    if len(text) <= 24:
        return text
    return Markup('<span title="{0}">{1}…{2}</span>').format(text, text[:12], text[-8:])


def keeps(base: Any) -> str:
    """What dismissing a conflict keeps: the value agreed before the edits."""
    if base is None or base == "":
        return "Dismiss: keep it empty (clears the field in every system)"
    return f"Dismiss: keep “{show(base)}”"


def _masked(value: Any) -> Any:
    if isinstance(value, Markup):
        return Markup(mask(str(value)))
    return mask(value) if isinstance(value, str) else value


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("sync.web", "templates"),
        autoescape=select_autoescape(["html", "css"], default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_masked,  # every value a page or an export shows
    )
    env.filters["show"] = show
    env.filters["when"] = when
    env.filters["cursor"] = cursor
    env.filters["keeps"] = keeps
    return env


def render_export(items: list[dict[str, Any]], include_all: bool) -> str:
    """`conflicts export --format html`: one file, inline CSS, no scripts, no links out."""
    template = environment().get_template("export.html")
    stamp = datetime.now(UTC)
    return template.render(items=items, include_all=include_all, generated=stamp)
