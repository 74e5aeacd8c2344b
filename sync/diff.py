"""What a system changed since we last agreed: the only importer of deepdiff.

A hash of the canonical projection settles the common case (nothing changed) without a diff.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from typing import Any

import orjson

from sync.contact import Record, Schema

_ROOT_KEY = re.compile(r"^root\['([^']+)'\]")


def record_hash(record: Record) -> str:
    if all(type(v) is str or type(v) is bool for v in record.values()):  # a canonical record
        # orjson writes what json writes for printable ASCII without escapes: the same hash
        try:
            text = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
        except TypeError:  # surrogates, keys that are not text: json decides
            text = b"\\"
        if text.isascii() and b"\\" not in text and b"\x7f" not in text:
            return hashlib.sha256(text).hexdigest()
    plain = json.dumps(record, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(plain.encode()).hexdigest()


def raw_salt(mapping_fingerprint: str, schema: Schema, shape: str | None = None) -> str:
    """What a raw record's normalised form depends on besides the record. `shape`: what
    reads a record as listed before the mapping does (the vendor file's record rules), for
    records hashed as listed rather than as read."""
    parts = {"mapping": mapping_fingerprint, "schema": schema.identity}
    return record_hash(parts if shape is None else {**parts, "shape": shape})


def raw_hash(salt: str, data: dict[str, Any]) -> str:
    """A vendor's record as it came, under one system's mapping and schema (`salt`): equal
    hashes normalise to equal records, so an unchanged record need not be normalised."""
    return _hashed(salt, data, sort=True)


def listed_hash(salt: str, item: dict[str, Any]) -> str:
    """A vendor's record as it was listed, before anything reshaped it (`salt` from
    raw_salt with the shape), in the vendor's own key order: the same answer serialises
    the same, and a vendor that reorders keys costs one normalisation, never a missed
    change (unequal hashes are only ever read again). Not sorting is ~2x faster."""
    return _hashed(salt, item, sort=False)


def _hashed(salt: str, data: dict[str, Any], *, sort: bool) -> str:
    try:  # orjson: ~8x json.dumps; a hash from before it only costs one normalisation
        text = orjson.dumps(data, option=orjson.OPT_SORT_KEYS if sort else 0, default=str)
    except TypeError:  # what orjson refuses (surrogates, huge ints, non-str keys)
        text = json.dumps(data, sort_keys=sort, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(salt.encode() + text).hexdigest()


def changed_fields(snapshot: Record, current: Record, fields: Iterable[str]) -> dict[str, Any]:
    """{field: new value} for each of `fields` that differs (None: the value was removed)."""
    wanted = set(fields)
    old = {k: v for k, v in snapshot.items() if k in wanted}
    new = {k: v for k, v in current.items() if k in wanted}
    if old == new:
        return {}
    from deepdiff import DeepDiff  # only when something changed: a no-op run never loads it

    diff = DeepDiff(old, new)
    touched: set[str] = set()
    for paths in diff.values():
        for path in paths:
            m = _ROOT_KEY.match(str(path))
            if m:
                touched.add(m.group(1))
    return {name: new.get(name) for name in sorted(touched)}
