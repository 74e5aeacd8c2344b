"""How JSON columns are written and read: orjson, several times the standard library's speed
on the snapshots, bases and journal fields an initial sync writes by the ten thousand.

What orjson declines (a str with lone surrogates, an integer over 64 bits, non-str keys) and
what it would write differently from the standard library (datetimes and dataclasses, which
json refuses: they are refused here too) goes through `json` as before.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
# orjson reads an integer beyond 64 bits as a float, silently: a run of 19 digits or more may
# be one, and goes through json (a string holding such digits only costs the slower parse)
_LONG = re.compile(r"\d{19}")
_LONG_BYTES = re.compile(rb"\d{19}")


def _refuse(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value, default=_refuse, option=_OPTIONS).decode()
    except TypeError:
        return json.dumps(value)


def loads(text: str | bytes) -> Any:
    if (_LONG.search(text) if isinstance(text, str) else _LONG_BYTES.search(text)) is not None:
        return json.loads(text)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # NaN and the like, which json wrote and reads
        return json.loads(text)


JSON: dict[str, Any] = {"json_serializer": dumps, "json_deserializer": loads}  # create_engine's
