"""The plain-address short cut of normalise_email agrees with email_validator."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sync.contact import _PLAIN_EMAIL, normalise_email
from sync.errors import RecordError

PARTS = st.text(alphabet="ab0-._+", min_size=0, max_size=8)
TLDS = st.sampled_from(["com", "org", "test", "localhost", "c", "co", "1a", "onion", "x-y"])


@settings(max_examples=400, deadline=None)
@given(local=PARTS, domain=PARTS, tld=TLDS)
@example(local="0", domain="00--0", tld="com")  # found by this test: IDNA "--" labels
def test_the_short_cut_accepts_only_what_the_validator_accepts(
    local: str, domain: str, tld: str
) -> None:
    email = f"{local}@{domain}.{tld}"
    try:
        validate_email(email, check_deliverability=False)
        valid = True
    except EmailNotValidError:
        valid = False
    if _PLAIN_EMAIL.fullmatch(email):
        # the short cut's own length and special-use checks follow the match
        try:
            normalise_email(email)
            accepted = True
        except RecordError:
            accepted = False
        assert accepted == valid, email
    elif not valid:
        with pytest.raises(RecordError):
            normalise_email(email)


def test_plain_addresses_take_the_short_cut_and_odd_ones_still_fail() -> None:
    assert _PLAIN_EMAIL.fullmatch("person000001@example.com")
    assert normalise_email("  Person@Example.COM ") == "person@example.com"
    for bad in ("a..b@example.com", "a@example.test", "a@localhost", "a@-x.com", "@x.com"):
        with pytest.raises(RecordError):
            normalise_email(bad)
