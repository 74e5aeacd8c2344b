"""The review page through HTTP (in-process): what it shows, and that only a logged-in
person's own forms can change anything."""

from __future__ import annotations

import dataclasses
import logging
import re
import sqlite3
import warnings
from pathlib import Path
from typing import Any

import pytest

from sync.config import ReviewSpec
from sync.web import create_app
from tests.engine_helpers import World, held_deletions_world

with warnings.catch_warnings():
    # Starlette's TestClient announces a move to httpx2; what it tests here is the same
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

TOKEN = "review-token-7c1f0d9e"
ORIGIN = "http://127.0.0.1"


def world_with_conflict(tmp_path: Path, **sync: Any) -> World:
    w = World(tmp_path, ["crm", "desk"], **sync)
    w.add("crm", email="ada@example.org", title="Analyst")
    w.add("crm", first_name="No", last_name="Email")  # a failed record, with its reason
    w.sync()
    w.edit("crm", "ada@example.org", title="Countess")
    w.edit("desk", "ada@example.org", title="Duchess")
    w.sync()
    return w


def client(w: World, token_env: str | None = "CS_REVIEW", token: str | None = TOKEN) -> TestClient:
    settings = dataclasses.replace(w.settings, review=ReviewSpec(token_env=token_env))
    env = {token_env: token} if token_env and token else {}
    return TestClient(create_app(settings, w.store, env=env), base_url=ORIGIN)


def csrf(c: TestClient, path: str = "/") -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', c.get(path).text)
    assert found, "no CSRF field on the page"
    return found.group(1)


def login(c: TestClient) -> None:
    r = c.post("/login", data={"token": TOKEN, "csrf": csrf(c, "/login")}, follow_redirects=False)
    assert r.status_code == 303


def dump(w: World) -> str:
    path = w.settings.state_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        return "\n".join(db.iterdump())


def conflict_id(w: World) -> int:
    [(conflict, _)] = w.store.conflicts()
    return conflict.id


def test_pages_show_conflicts_failures_runs_and_why(tmp_path: Path) -> None:
    w = world_with_conflict(tmp_path)
    c = client(w)
    page = c.get("/").text
    assert "ada@example.org" in page and "title" in page
    assert "Countess" in page and "Duchess" in page and "Analyst" in page
    assert "Take crm" not in page  # not logged in: no actions offered
    problems = c.get("/problems").text
    assert "no email: contacts are matched by email" in problems
    runs = c.get("/runs").text
    assert "crm" in runs and "desk" in runs and "Run 2" in runs
    why = c.get("/contact", params={"email": "ada@example.org"}).text
    assert "first seen" in why and "conflict #" in why
    missing = c.get("/contact", params={"email": "nobody@example.org"})
    assert missing.status_code == 404 and "no contact with email" in missing.text


def test_a_logged_in_choice_is_stored_and_pushed_by_the_next_run(tmp_path: Path) -> None:
    w = world_with_conflict(tmp_path)
    c = client(w)
    login(c)
    cid = conflict_id(w)
    assert f'id="take-{cid}-desk"' in c.get("/").text
    data = {"csrf": csrf(c), "action": "take", "system": "desk"}
    r = c.post(f"/conflicts/{cid}/resolve", data=data, follow_redirects=False)
    assert r.status_code == 303
    assert "resolved" in c.get(r.headers["location"]).text
    w.sync()
    assert w.one("crm", "ada@example.org")["title"] == "Duchess"
    assert w.one("desk", "ada@example.org")["title"] == "Duchess"


def test_entering_a_value_and_dismissing(tmp_path: Path) -> None:
    w = world_with_conflict(tmp_path)
    c = client(w)
    login(c)
    cid = conflict_id(w)
    data = {"csrf": csrf(c), "action": "value", "value": "  Engineer "}
    assert c.post(f"/conflicts/{cid}/resolve", data=data).status_code == 200
    again = c.post(f"/conflicts/{cid}/resolve", data={"csrf": csrf(c), "action": "dismiss"})
    assert again.status_code == 400 and "not open" in again.text
    w.sync()
    assert w.one("desk", "ada@example.org")["title"] == "Engineer"


def test_unauthenticated_posts_change_nothing(tmp_path: Path) -> None:
    w = world_with_conflict(tmp_path)
    c = client(w)
    before = dump(w)
    cid = conflict_id(w)
    token = csrf(c, "/login")  # a valid form token, but no session
    for path, data in (
        (f"/conflicts/{cid}/resolve", {"csrf": token, "action": "take", "system": "crm"}),
        (f"/conflicts/{cid}/resolve", {"csrf": token, "action": "dismiss"}),
        ("/deletions/1/allow", {"csrf": token}),
    ):
        r = c.post(path, data=data)
        assert r.status_code == 403 and "Log in" in r.text
    c.cookies.set("contactsync_session", "9999999999.00.forged")
    r = c.post(f"/conflicts/{cid}/resolve", data={"csrf": token, "action": "dismiss"})
    assert r.status_code == 403
    assert dump(w) == before


def test_a_wrong_or_missing_csrf_token_is_refused(tmp_path: Path) -> None:
    w = world_with_conflict(tmp_path)
    c = client(w)
    login(c)
    cid = conflict_id(w)
    before = dump(w)
    good = csrf(c)
    for data in (
        {"csrf": "0" * 64, "action": "dismiss"},
        {"action": "dismiss"},
    ):
        r = c.post(f"/conflicts/{cid}/resolve", data=data)
        assert r.status_code == 403 and "expired" in r.text
    other = c.post(
        f"/conflicts/{cid}/resolve",
        data={"csrf": good, "action": "dismiss"},
        headers={"origin": "http://evil.example"},
    )
    assert other.status_code == 403
    c.cookies.delete("contactsync_visit")  # a token from another visitor's page
    r = c.post(f"/conflicts/{cid}/resolve", data={"csrf": good, "action": "dismiss"})
    assert r.status_code == 403
    assert dump(w) == before


def test_the_token_never_appears_in_responses_cookies_or_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    w = world_with_conflict(tmp_path)
    c = client(w)
    seen: list[str] = []
    wrong = c.post("/login", data={"token": TOKEN + "x", "csrf": csrf(c, "/login")})
    assert wrong.status_code == 403 and "not the token" in wrong.text
    seen += [wrong.text, str(wrong.headers)]
    r = c.post("/login", data={"token": TOKEN, "csrf": csrf(c, "/login")})
    seen += [r.text, str(r.headers), *(str(h) for h in r.history)]
    seen += [str(h.headers) for h in r.history]
    for path in ("/", "/problems", "/runs", "/login", "/contact?email=ada@example.org"):
        page = c.get(path)
        seen += [page.text, str(page.headers)]
    session = c.cookies.get("contactsync_session")
    assert session and TOKEN not in session
    seen += [str(dict(c.cookies)), caplog.text, dump(w)]
    assert all(TOKEN not in text for text in seen)
    assert "Log out" in c.get("/").text  # the right token did log in


def test_session_cookie_is_httponly_and_strict(tmp_path: Path) -> None:
    w = world_with_conflict(tmp_path)
    c = client(w)
    r = c.post("/login", data={"token": TOKEN, "csrf": csrf(c, "/login")}, follow_redirects=False)
    cookie = r.headers["set-cookie"].lower()
    assert "contactsync_session=" in cookie and "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "script-src" not in r.headers.get("content-security-policy", "")
    headers = c.get("/").headers
    assert "default-src 'none'" in headers["content-security-policy"]
    # "no-referrer" would make browsers send Origin: null on our own forms, refused below
    assert headers["referrer-policy"] == "same-origin"


def test_without_a_token_the_page_is_read_only(tmp_path: Path) -> None:
    w = world_with_conflict(tmp_path)
    for c, says in (
        (client(w, token_env=None), "no review token is configured"),
        (client(w, token_env="CS_REVIEW", token=None), "CS_REVIEW is not set"),
    ):
        page = c.get("/").text
        assert "Read-only" in page and says in page and "Log in" not in page
        before = dump(w)
        r = c.post("/login", data={"token": TOKEN, "csrf": "0" * 64})
        assert r.status_code == 403 and "read-only" in r.text
        assert "contactsync_session" not in r.headers.get("set-cookie", "")
        assert dump(w) == before


def test_a_held_deletion_allowed_on_the_page_is_carried_out(tmp_path: Path) -> None:
    w = held_deletions_world(tmp_path)
    w.sync()
    c = client(w)
    login(c)
    page = c.get("/problems").text
    ids = re.findall(r'id="allow-(\d+)"', page)
    assert len(ids) == 3 and "p0@example.org" in page
    r = c.post(f"/deletions/{ids[0]}/allow", data={"csrf": csrf(c, "/problems")})
    assert r.status_code == 200 and "Deletion allowed" in r.text
    assert c.post(f"/deletions/{ids[0]}/allow", data={"csrf": csrf(c)}).status_code == 404
    w.sync()
    assert len(w.records("desk")) == 7


# --- what the pages say: times, cursors, why a run was partial, dismissing an empty base ---------


def test_times_say_their_zone_and_how_long_ago(tmp_path: Path) -> None:
    w = world_with_conflict(tmp_path)
    runs = client(w).get("/runs").text
    assert re.search(r"<time datetime=\"[^\"]+\+00:00\"[^>]*>\d{4}-\d\d-\d\d \d\d:\d\d UTC", runs)
    assert "(just now)" in runs


def test_a_partial_run_says_why(tmp_path: Path) -> None:
    w = world_with_conflict(tmp_path)  # its runs failed a record without an email
    runs = client(w).get("/runs").text
    section = runs[runs.index('id="run-2"') :]
    assert "partial" in section[:200] and "Why it was not ok" in section
    assert "crm: 1 record(s) failed: no email: contacts are matched by email" in section


def test_dismissing_says_what_it_keeps_when_the_base_is_empty(tmp_path: Path) -> None:
    w = World(tmp_path, ["crm", "desk"])
    w.add("crm", email="ada@example.org")
    w.sync()
    w.edit("crm", "ada@example.org", department="Mathematics")
    w.edit("desk", "ada@example.org", department="Engines")
    w.sync()
    c = client(w)
    login(c)
    page = c.get("/").text
    cid = conflict_id(w)
    assert f'id="dismiss-{cid}">Dismiss: keep it empty (clears the field in every system)' in page
    assert "keep —" not in page


def test_a_long_cursor_is_shortened_and_a_time_cursor_reads_as_a_time() -> None:
    from sync.web.templating import cursor

    token = "eyJhbGciOiJIUzI1NiJ9." + "x" * 80 + ".signature"
    shown = str(cursor(token))
    assert f'title="{token}"' in shown and ">eyJhbGciOiJI…ignature<" in shown
    assert "2024-06-01 12:30 UTC" in str(cursor("2024-06-01T12:30:00Z"))


def test_every_deletion_held_in_a_system_is_allowed_in_one_action(tmp_path: Path) -> None:
    w = held_deletions_world(tmp_path)
    w.sync()
    c = client(w)
    assert 'id="allow-all-crm"' not in c.get("/problems").text  # not logged in
    login(c)
    page = c.get("/problems").text
    assert 'id="allow-all-crm">Allow all 3 deletions in crm' in page
    r = c.post("/systems/crm/deletions/allow", data={"csrf": csrf(c, "/problems")})
    assert r.status_code == 200 and "3 deletion(s) allowed" in r.text
    again = c.post("/systems/crm/deletions/allow", data={"csrf": csrf(c, "/problems")})
    assert again.status_code == 404
    w.sync()
    assert len(w.records("desk")) == 5
