"""JSON read through orjson, several times the standard library's speed, where it reads what
json would. orjson reads an integer beyond 64 bits as a float, silently (a vendor's 20-digit
ID would change), so text with a run of 19 digits or more goes through json, and so does what
orjson refuses (NaN, bad UTF-8, lone surrogates): json's answer or json's error, always."""

from __future__ import annotations

import json
from typing import Any

import orjson

# every ASCII digit to "0", every other byte to a space: a run of 19 digits is then a plain
# substring search (a tenth of a regular expression's time, a fifth of orjson's parse)
_DIGITS = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))
_RUN = b"0" * 19


def may_hold_long_numbers(text: str | bytes) -> bool:
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    return _RUN in raw.translate(_DIGITS)


def loads(text: str | bytes) -> Any:
    """What `json.loads` answers (or raises), through orjson wherever that is the same."""
    if may_hold_long_numbers(text):
        return json.loads(text)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
