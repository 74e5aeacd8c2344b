"""The declarative base itself, through small vendor files of a made-up vendor: each
paginator and auth kind, token cursors, and vendor files refused at load with every problem
at once (file and key, and the valid names)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from sync.connectors import connector_class
from sync.errors import ConfigError
from tests.helpers import settings_from

BASE = "http://acme.test/api"
PEOPLE = [{"id": str(i), "email": f"p{i}@example.org"} for i in range(1, 6)]
HEAD = 'title = "Acme"\n[get]\npath = "people/{id}"\n'


def vendor(tmp_path: Path, text: str, name: str = "acme") -> Path:
    (tmp_path / "vendors").mkdir(exist_ok=True)
    (tmp_path / "vendors" / f"{name}.toml").write_text(text)
    return tmp_path


def connect(
    tmp_path: Path,
    handler: Any,
    auth: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    **extra: Any,
) -> Any:
    table = {"connector": "acme", "base_url": BASE, "auth": auth or {"kind": "none"}, **extra}
    settings = settings_from({"systems": {"acme": table}}, tmp_path, env or {}).systems["acme"]
    cls = connector_class("acme", tmp_path)
    assert cls is not None
    return cls.build(settings, transport=httpx.MockTransport(handler))


def answered(pages: dict[str, Any], seen: list[httpx.Request]) -> Any:
    """Answers by the request's query string (what a paginator asked for)."""

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        key = request.url.query.decode() or request.content.decode()
        body = pages[key]
        headers = body.pop("_headers", {}) if isinstance(body, dict) else {}
        return httpx.Response(200, json=body, headers=headers)

    return handler


PAGED = {
    "offset-total": (
        '[list]\npath = "people"\nrecords = "items"\n'
        'paginator = { kind = "offset", size = 2, total = "total" }\n',
        {
            "offset=0&limit=2": {"items": PEOPLE[:2], "total": 5},
            "offset=2&limit=2": {"items": PEOPLE[2:4], "total": 5},
            "offset=4&limit=2": {"items": PEOPLE[4:], "total": 5},
        },
    ),
    "offset-has-more": (
        '[list]\npath = "people"\nrecords = "items"\n'
        'paginator = { kind = "offset", size = 3, has_more = "more" }\n',
        {
            "offset=0&limit=3": {"items": PEOPLE[:3], "more": True},
            "offset=3&limit=3": {"items": PEOPLE[3:], "more": False},
        },
    ),
    "page-number": (
        '[list]\npath = "people"\nrecords = "data"\n'
        'paginator = { kind = "page", size = 2, limit_param = "per_page", pages = "meta.pages" }\n',
        {
            "page=1&per_page=2": {"data": PEOPLE[:2], "meta": {"pages": 3}},
            "page=2&per_page=2": {"data": PEOPLE[2:4], "meta": {"pages": 3}},
            "page=3&per_page=2": {"data": PEOPLE[4:], "meta": {"pages": 3}},
        },
    ),
    "next-link": (
        '[list]\npath = "people"\nrecords = "results"\n'
        'paginator = { kind = "next_link", link = "\'links.next\'" }\n',
        {
            "": {"results": PEOPLE[:3], "links.next": f"{BASE}/people?cursor=b"},
            "cursor=b": {"results": PEOPLE[3:], "links.next": None},
        },
    ),
    "link-header": (
        '[list]\npath = "people"\nrecords = ""\npaginator = { kind = "link_header" }\n',
        {
            "": [*PEOPLE[:2]],
            "page=2": [*PEOPLE[2:]],
        },
    ),
    "cursor-token": (
        '[list]\npath = "people"\nrecords = "items"\n'
        'paginator = { kind = "cursor", token = "next", param = "from" }\n',
        {"": {"items": PEOPLE[:4], "next": "t1"}, "from=t1": {"items": PEOPLE[4:], "next": ""}},
    ),
    "single": ('[list]\npath = "people"\nrecords = "all"\n', {"": {"all": PEOPLE}}),
}


@pytest.mark.parametrize("kind", list(PAGED))
async def test_each_paginator_lists_everyone(tmp_path: Path, kind: str) -> None:
    text, pages = PAGED[kind]
    pages = json.loads(json.dumps(pages))
    if kind == "link-header":  # the first answer names the next page in its Link header
        pages[""] = {"_list": pages[""]}
    seen: list[httpx.Request] = []
    handler = answered(pages, seen)
    if kind == "link-header":

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            if request.url.query:
                return httpx.Response(200, json=PEOPLE[2:])
            link = f'<{BASE}/people?page=2>; rel="next", <{BASE}/people?page=9>; rel="last"'
            return httpx.Response(200, json=PEOPLE[:2], headers={"Link": link})

    conn = connect(vendor(tmp_path, HEAD + text), handler)
    listing = await conn.list_all()
    await conn.aclose()
    assert listing.complete, listing.problems
    assert [r.id for r in listing.records] == [p["id"] for p in PEOPLE]
    assert len(seen) == {"single": 1, "link-header": 2, "next-link": 2, "cursor-token": 2}.get(
        kind, 3 if kind != "offset-has-more" else 2
    )


async def test_a_page_shorter_than_its_total_is_an_incomplete_listing(tmp_path: Path) -> None:
    text, _ = PAGED["offset-total"]
    pages = {
        "offset=0&limit=2": {"items": PEOPLE[:2], "total": 5},
        "offset=2&limit=2": {"items": PEOPLE[2:3], "total": 5},  # one of two
    }
    conn = connect(vendor(tmp_path, HEAD + text), answered(pages, []))
    listing = await conn.list_all()
    await conn.aclose()
    assert not listing.complete and "came back short" in listing.problems[0]


async def test_a_listed_record_without_an_id_makes_the_listing_incomplete(tmp_path: Path) -> None:
    text, _ = PAGED["single"]
    pages = {"": {"all": [*PEOPLE, {"email": "anonymous@example.org"}]}}
    conn = connect(vendor(tmp_path, HEAD + text), answered(pages, []))
    listing = await conn.list_all()
    await conn.aclose()
    assert not listing.complete and "no id" in listing.problems[0]


async def test_a_token_cursor_is_the_vendors_own(tmp_path: Path) -> None:
    text = (
        HEAD
        + '[list]\npath = "people"\nrecords = "items"\n'
        + '[list_changed]\npath = "people/changes"\nrecords = "items"\n'
        + 'params = { since = "{cursor}" }\ncursor = { kind = "token", token = "delta" }\n'
    )
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/changes"):
            return httpx.Response(200, json={"items": PEOPLE[4:], "delta": "d2"})
        return httpx.Response(200, json={"items": PEOPLE, "delta": "d1"})

    conn = connect(vendor(tmp_path, text), handler)
    full = await conn.list_all()
    changed = await conn.list_changed(full.cursor)
    await conn.aclose()
    assert full.cursor == "d1" and changed.cursor == "d2"
    assert seen[-1].url.params["since"] == "d1" and [r.id for r in changed.records] == ["5"]


AUTHS: list[tuple[dict[str, Any], dict[str, str], str, Any]] = [
    ({"kind": "api_key_header", "key_env": "K"}, {"K": "s3"}, "x-api-key", "s3"),
    ({"kind": "api_key_header", "key_env": "K", "header": "X-Acme"}, {"K": "s3"}, "x-acme", "s3"),
    ({"kind": "api_key_query", "key_env": "K", "param": "token"}, {"K": "s3"}, "?token", "s3"),
    (
        {"kind": "api_key_basic", "key_env": "K"},
        {"K": "s3"},
        "authorization",
        "Basic " + base64.b64encode(b"s3:").decode(),
    ),
    ({"kind": "bearer", "token_env": "K"}, {"K": "s3"}, "authorization", "Bearer s3"),
]


@pytest.mark.parametrize(("auth", "env", "where", "value"), AUTHS)
async def test_each_auth_kind_is_sent_where_it_belongs(
    tmp_path: Path, auth: dict[str, Any], env: dict[str, str], where: str, value: str
) -> None:
    seen: list[httpx.Request] = []
    text, _pages = PAGED["single"]
    conn = connect(vendor(tmp_path, HEAD + text), answered({"": {"all": []}}, seen), auth, env)
    if where.startswith("?"):  # the key in the query: the answers are keyed by it
        conn = connect(
            vendor(tmp_path, HEAD + text), answered({"token=s3": {"all": []}}, seen), auth, env
        )
    await conn.list_all()
    await conn.aclose()
    sent = seen[-1]
    got = sent.url.params.get(where[1:]) if where.startswith("?") else sent.headers.get(where)
    assert got == value


async def test_oauth_client_credentials_fetch_a_token_from_the_vendors_token_url(
    tmp_path: Path,
) -> None:
    text = HEAD + '[auth]\ntoken_url = "{base_url}/oauth/token"\n' + PAGED["single"][0]
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/oauth/token"):
            return httpx.Response(200, json={"access_token": "tok", "expires_in": 60})
        return httpx.Response(200, json={"all": PEOPLE})

    auth = {"kind": "oauth_client_credentials", "client_id_env": "I", "client_secret_env": "S"}
    auth["scope"] = "contacts.read"
    conn = connect(vendor(tmp_path, text), handler, auth, {"I": "id", "S": "secret"})
    await conn.list_all()
    await conn.aclose()
    token, listing = seen
    assert str(token.url) == BASE + "/oauth/token"
    assert dict(httpx.QueryParams(token.content.decode())) == {
        "grant_type": "client_credentials",
        "scope": "contacts.read",
    }
    assert listing.headers["authorization"] == "Bearer tok"


def test_a_broken_vendor_file_lists_every_problem_with_file_and_key(tmp_path: Path) -> None:
    vendor(
        tmp_path,
        """
title = "Acme"
colour = "blue"

[auth]
kinds = ["kerberos"]

[options.region]
type = "str"

[list]
path = "people/{options.zone}"
records = "items[["
paginator = { kind = "infinite_scroll" }

[create]
path = "people"
body = { name = "{payload.name|shout}" }
""",
    )
    with pytest.raises(ConfigError) as caught:
        settings_from({"systems": {"acme": {"connector": "acme", "base_url": BASE}}}, tmp_path)
    text = str(caught.value)
    assert "vendors/acme.toml: colour: unknown key" in text
    assert "unknown auth kind 'kerberos' (valid: none, basic, bearer" in text
    assert "list.paginator.kind: unknown paginator 'infinite_scroll' (valid: single, offset" in text
    assert "list.path: no option 'zone' (options: region)" in text
    assert "list.records: cannot read path segment" in text
    assert "create.body: unknown filter 'shout'" in text


def test_an_unknown_connector_names_the_vendor_files_too(tmp_path: Path) -> None:
    vendor(tmp_path, HEAD + PAGED["single"][0], name="our_crm")
    with pytest.raises(ConfigError, match=r"unknown connector \(valid: .*hubspot.*our_crm"):
        settings_from({"systems": {"x": {"connector": "nosuch"}}}, tmp_path)


def test_unknown_options_are_refused_with_the_vendors_valid_keys(tmp_path: Path) -> None:
    vendor(tmp_path, HEAD + '[options.region]\ntype = "str"\n' + PAGED["single"][0])
    table = {"connector": "acme", "base_url": BASE, "zone": "eu"}
    with pytest.raises(ConfigError, match=r"systems\.acme\.zone: unknown key \(valid: .*region"):
        settings_from({"systems": {"acme": table}}, tmp_path)
