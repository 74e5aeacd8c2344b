"""Vendor times: ISO 8601 text, epoch milliseconds (as numbers or digits), to aware datetimes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 text or epoch milliseconds to an aware datetime; None when unreadable.
    A time without a zone is taken as UTC."""
    if type(value) is str and value[:4].isdigit() and value[4:5] == "-":  # ISO, most of them
        try:  # 3.11 reads a trailing Z itself: the same moment as the "+00:00" below
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass  # the general path decides
        else:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) > 8:
        value = int(value)  # epoch milliseconds written as text (ServiceOps cursors)
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
