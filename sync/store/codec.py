"""How JSON columns are written and read: orjson, several times the standard library's speed
on the snapshots, bases and journal fields an initial sync writes by the ten thousand.

What orjson declines (a str with lone surrogates, an integer over 64 bits, non-str keys) and
what it would write differently from the standard library (datetimes and dataclasses, which
json refuses: they are refused here too) goes through `json` as before.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from sync import fastjson

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _refuse(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value, default=_refuse, option=_OPTIONS).decode()
    except TypeError:
        return json.dumps(value)


loads = fastjson.loads  # what json reads, through orjson where that is the same


JSON: dict[str, Any] = {"json_serializer": dumps, "json_deserializer": loads}  # create_engine's
