"""The address-book benchmark at small N (bench/dav.py, contactsync's side): a folder into a
real Radicale as whole `contactsync once` processes. Request counts are asserted, from
Radicale's own log, not speed: the initial run one PUT per card and one listing REPORT, the
echo and the no-op one REPORT each and no write."""

from __future__ import annotations

import pytest

from bench import dav
from tests.davservers import available


def test_a_folder_into_radicale_sends_the_minimum(monkeypatch: pytest.MonkeyPatch) -> None:
    if not available("radicale"):
        import os

        if os.environ.get("CONTACTSYNC_REQUIRE_DAV"):
            pytest.fail("CONTACTSYNC_REQUIRE_DAV is set but radicale is not installed")
        pytest.skip("radicale is not installed")
    monkeypatch.setenv("DAV_USER", "unused")  # set by the run itself; restored afterwards
    monkeypatch.setenv("DAV_PASSWORD", "unused")
    runs = dav.radicale(10, tools=("contactsync",))["contactsync"]
    assert runs["initial"]["requests"] == {"PROPFIND": 1, "REPORT": 1, "PUT": 10}
    assert runs["echo"]["requests"] == {"REPORT": 1}  # our own PUTs, etags known: no multiget
    assert runs["noop"]["requests"] == {"REPORT": 1}
