"""The one Jinja2 environment: the review pages and the exported report share it."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from sync.masking import mask


def show(value: Any) -> str:
    """A value as a person reads it: nothing is an em dash, booleans are yes/no."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def when(value: Any) -> str:
    """ISO timestamps shortened to the minute, in UTC."""
    if not value:
        return "time unknown"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return str(value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"))


def _masked(value: Any) -> Any:
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
    return env


def render_export(items: list[dict[str, Any]], include_all: bool) -> str:
    """`conflicts export --format html`: one file, inline CSS, no scripts, no links out."""
    template = environment().get_template("export.html")
    stamp = datetime.now(UTC)
    return template.render(items=items, include_all=include_all, generated=stamp)
