"""The store's JSON (orjson, json for what orjson declines) and the snapshot hash's fast path
write what the standard library writes: stored values read back alike, and every hash kept
in a database stays the hash of its snapshot."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from sync import fastjson
from sync.diff import record_hash
from sync.http import HttpClient
from sync.store import codec
from sync.store.repo import Store


def json_hash(record: dict[str, Any]) -> str:
    """record_hash as it was before its fast path (the hashes stored since)."""
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


canonical = st.dictionaries(st.text(), st.one_of(st.text(), st.booleans()), max_size=8)


@given(canonical)
@example({"first_name": "Zoë", "title": "a\x7fb"})
@example({"note": 'say "hi"\n', "city": "a\\b", "x": "\ud800"})
@example({"active": True, "email": "ada@example.org"})
def test_a_canonical_record_hashes_as_it_did(record: dict[str, Any]) -> None:
    assert record_hash(record) == json_hash(record)


def test_other_records_hash_as_they_did() -> None:
    record = {"n": 1, "f": 1e16, "when": datetime(2024, 1, 2, tzinfo=UTC), "list": [1, "a"]}
    assert record_hash(record) == json_hash(record)


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),  # orjson writes them null
        st.text(),
    ),
    lambda inner: st.one_of(st.lists(inner), st.dictionaries(st.text(), inner)),
    max_leaves=20,
)


@given(json_values)
@example({"big": 2**70, "lone": "\udc80", 1: "int key"})
@example(-(2**63) - 1)  # orjson read it as a float (found by CI's fixed seed)
@example([2**64, "x"])
def test_stored_json_reads_back_as_json_would(value: Any) -> None:
    assert codec.loads(codec.dumps(value)) == json.loads(json.dumps(value))


def test_what_json_refuses_is_refused() -> None:
    with pytest.raises(TypeError):
        codec.dumps({"at": datetime(2024, 1, 2, tzinfo=UTC)})


def test_text_json_wrote_is_read(tmp_path: Any) -> None:
    assert codec.loads('{"a": NaN}')["a"] != 0  # NaN: json wrote it, orjson refuses it
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        assert store.engine.dialect._json_serializer is codec.dumps
    finally:
        store.dispose()


@pytest.mark.parametrize("number", [2**64, -(2**63) - 1, 10**25])
def test_a_vendor_answer_keeps_an_id_beyond_64_bits(number: int) -> None:
    """orjson reads such a number as a float: a vendor's 20-digit ID would lose its last
    digits and name another record."""
    body = json.dumps({"items": [{"id": number, "note": "x"}]}).encode()
    answer = httpx.Response(200, content=body, request=httpx.Request("GET", "http://h/p"))
    assert HttpClient.json(answer)["items"][0]["id"] == number
    assert fastjson.loads(body.decode())["items"][0]["id"] == number


def test_an_answer_with_bad_utf8_and_a_long_id_keeps_both() -> None:
    """A long number sends the body through json, which refuses bad UTF-8 with its own error:
    the bytes still become surrogates (one record fails later), not a malformed answer."""
    body = b'{"items": [{"id": 123456789012345678901, "name": "Ad\xffa"}]}'
    answer = httpx.Response(200, content=body, request=httpx.Request("GET", "http://h/p"))
    item = HttpClient.json(answer)["items"][0]
    assert item["id"] == 123456789012345678901 and item["name"] == "Ad\udcffa"
