"""parse_time: vendor update times (ISO 8601 text, epoch milliseconds) to aware datetimes.
The ISO text most vendors write is read directly; it must mean what the general rules say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sync.times import parse_time


def reference(text: str) -> datetime | None:
    """The general rules for ISO text: a trailing Z is UTC, a time without a zone is UTC."""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


zones: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m))),
)


@given(
    moment=st.datetimes(min_value=datetime(1000, 1, 1), timezones=zones),
    spec=st.sampled_from(["auto", "seconds", "milliseconds", "microseconds"]),
    zulu=st.booleans(),
)
def test_iso_text_means_what_the_general_rules_say(moment: datetime, spec: str, zulu: bool) -> None:
    text = moment.isoformat(timespec=spec)
    if zulu and text.endswith("+00:00"):
        text = text[: -len("+00:00")] + "Z"
    assert parse_time(text) == reference(text)
    assert parse_time(text) is not None and parse_time(text).tzinfo is not None  # type: ignore[union-attr]


def test_digits_are_epoch_milliseconds_and_bad_text_is_none() -> None:
    # 13 digits could be read as a basic-format ISO date and time; they are milliseconds
    assert parse_time("2026120112345") == datetime.fromtimestamp(2026120112.345, tz=UTC)
    assert parse_time(" 1764611567123 ") == datetime.fromtimestamp(1764611567.123, tz=UTC)
    assert parse_time(1764611567123) == datetime.fromtimestamp(1764611567.123, tz=UTC)
    assert parse_time("2026-12-01") == datetime(2026, 12, 1, tzinfo=UTC)
    for bad in ("2026-13-01T00:00:00Z", "2026-12-01T17:52:47Z ", "yesterday", "", None, True):
        assert parse_time(bad) is None, bad
