"""Listing.incomplete / Listing.failed: what a connector returns when a listing is cut short."""

from __future__ import annotations

import pytest

from sync.connectors.base import Listing
from sync.errors import AuthError, ConnectorError, NotFound, TransientError

FOUND = {"1": {"id": 1, "name": "Ada"}, "2": {"id": 2, "name": "Grace"}}


def test_incomplete_keeps_what_was_found_and_says_why() -> None:
    listing = Listing.incomplete(FOUND, "a page came back short", cursor="c1")
    assert not listing.complete
    assert [(r.id, r.data) for r in listing.records] == list(FOUND.items())
    assert listing.problems == ["a page came back short"]
    assert listing.cursor == "c1"


def test_incomplete_without_records() -> None:
    listing = Listing.incomplete(None, "no value list")
    assert (listing.records, listing.complete, listing.cursor) == ([], False, None)


@pytest.mark.parametrize("error", [TransientError("HTTP 503"), NotFound("HTTP 404")])
def test_a_failed_request_makes_the_listing_incomplete(error: ConnectorError) -> None:
    listing = Listing.failed(error, FOUND, "listing contacts")
    assert not listing.complete and len(listing.records) == 2
    assert listing.problems == [f"listing contacts failed: {error}"]


def test_refused_credentials_are_raised_not_reported() -> None:
    refused = AuthError("credentials refused (HTTP 401)", status=401)
    with pytest.raises(AuthError) as caught:
        Listing.failed(refused, FOUND, "listing contacts")
    assert caught.value is refused
