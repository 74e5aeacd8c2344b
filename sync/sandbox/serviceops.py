"""Motadata ServiceOps 8.4 emulator: OAuth tokens, requesters, requests.

From ../shared/seeds/001_03338e10568f8112.txt and the notes in ../shared/seeds/README.md:

- `POST /api/oauth/token`: Basic client_id:client_secret, form username / password /
  grant_type=password; answers a JWT `access_token` with `expires_in`. Tokens expire after
  `token_lifetime` seconds of `clock` (both settable, so tests can age a token); an expired or
  unknown token answers 401 `{"error": "invalid_token", ...}`, as Spring's OAuth server does;
- every other call needs `Authorization: Bearer <token>`;
- requesters: `POST /api/v1/requester`, `PATCH|DELETE /api/v1/requester/{id}` and
  `POST /api/v1/requester/search/byqual?offset=&size=` with a `qualDetails` body
  (FlatQualificationRest of RelationalQualificationRest), answering
  `{"objectList": [...], "totalCount": n}` in id order; times are epoch milliseconds;
- requests: `POST /api/v1/request` with the documented keys (and `name`, which the document's
  sample sends), for a registered `requesterEmail`; answered like the document's sample.

Where the document is silent we chose: requester keys are the documented ones only, `name`
and a unique `email` are required, text is at most 100 characters (phone numbers 30), and
`locationName` must name a known location ("Location Must Exist"). Errors answer
`{"errorCode", "userMessage"}`; wrong verbs 405. Qualification keys: `user.email`,
`user.name`, `user.id`, `user.createdTime`, `user.updatedTime`; operators `equal`,
`not_equal`, `greater_than`, `greater_than_or_equal`, `less_than`, `less_than_or_equal`,
`contains`, `in`. The `truncate` fault cuts a page in half while `totalCount` counts it whole.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from datetime import timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sync.sandbox.base import Emulator, PageResponse
from sync.sandbox.kit import Clock, Records, Refused, json_body
from sync.sandbox.serviceops_model import (
    CANONICAL,
    CLIENT_ID,
    CLIENT_SECRET,
    PASSWORD,
    REQUESTER_PHONES,
    REQUESTER_TEXT,
    USERNAME,
    _b64,
    _check_request,
    _check_requester,
    _qualifier,
    _split,
)


class ServiceOpsEmulator(Emulator):
    name = "serviceops"
    DEFAULT_ENV: dict[str, str] = {
        "SERVICEOPS_CLIENT_ID": CLIENT_ID,
        "SERVICEOPS_CLIENT_SECRET": CLIENT_SECRET,
        "SERVICEOPS_USERNAME": USERNAME,
        "SERVICEOPS_PASSWORD": PASSWORD,
    }

    def __init__(self, *, token_lifetime: float = 3600.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.token_lifetime = token_lifetime
        self.clock = Clock(timedelta(milliseconds=1))  # ServiceOps keeps epoch milliseconds
        self.tokens: dict[str, float] = {}  # access token -> expiry on the clock
        # by ID with an email index, and the last search's matches: kept so that a create
        # or a page costs O(1), not a scan of every requester (benchmarks at 100k)
        self.store = Records(lambda r: r.get("email"))
        self.requesters: dict[int, dict[str, Any]] = self.store.by_id
        self.requests: list[dict[str, Any]] = []
        self._last_search: tuple[tuple[str, int], list[dict[str, Any]]] | None = None
        self._key = uuid.uuid4().bytes
        verbs = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        self.app = Starlette(routes=[Route("/{path:path}", self.handle, methods=verbs)])

    def system_table(self, base_url: str) -> dict[str, Any]:
        return {
            "connector": "serviceops",
            "base_url": base_url.rstrip("/"),
            "mapping": "mappings/serviceops.toml",
            "auth": {
                "kind": "oauth_password",
                "client_id_env": "SERVICEOPS_CLIENT_ID",
                "client_secret_env": "SERVICEOPS_CLIENT_SECRET",
                "username_env": "SERVICEOPS_USERNAME",
                "password_env": "SERVICEOPS_PASSWORD",
            },
        }

    # --- the store, as a technician in ServiceOps would change it ---

    def _now(self) -> int:
        """Strictly increasing epoch milliseconds."""
        return int(self.clock.stamp().timestamp() * 1000)

    def _store(self, body: dict[str, Any], requester_id: int | None = None) -> dict[str, Any]:
        now = self._now()
        if requester_id is None:
            requester_id = self.new_id()
            record: dict[str, Any] = {"id": requester_id, "createdTime": now}
            record |= {k: None for k in (*REQUESTER_TEXT, *REQUESTER_PHONES)}
            record |= {"vipRequester": False, "customField": {}}
        else:
            record = dict(self.requesters[requester_id])
        record.update({k: v for k, v in body.items()}, updatedTime=now)
        return self.store.put(requester_id, record)

    @staticmethod
    def _body_of(person: dict[str, Any], old_name: str | None = None) -> dict[str, Any]:
        body = {key: person[field] for field, key in CANONICAL.items() if field in person}
        if "first_name" in person or "last_name" in person:
            first, last = _split(old_name)
            parts = [person.get("first_name", first), person.get("last_name", last)]
            body["name"] = " ".join(p for p in parts if p)
        return body

    def seed_person(self, person: dict[str, Any]) -> str:
        return str(self._store(self._body_of(person))["id"])

    def edit(self, vendor_id: str, **canonical_fields: Any) -> None:
        old = self.requesters[int(vendor_id)]["name"]
        self._store(self._body_of(canonical_fields, old), int(vendor_id))

    def remove(self, vendor_id: str) -> None:
        self.store.remove(int(vendor_id))

    def restamp(self, vendor_id: str, like: str) -> None:
        self.requesters[int(vendor_id)]["updatedTime"] = self.requesters[int(like)]["updatedTime"]
        self.store.version += 1

    def people(self) -> list[dict[str, Any]]:
        out = []
        for r in self.requesters.values():
            first, last = _split(r["name"])
            person = {"id": str(r["id"]), "first_name": first, "last_name": last}
            person |= {field: r[key] for field, key in CANONICAL.items()}
            out.append({k: v for k, v in person.items() if v not in (None, "")})
        return out

    # --- the API ---

    def refusal(self, request: Request, refused: Refused) -> Response:
        if refused.code in ("invalid_token", "unauthorized", "invalid_client"):
            body = {"error": refused.code, "error_description": refused.message}
        else:
            body = {"errorCode": refused.code or "BAD_REQUEST", "userMessage": refused.message}
        return JSONResponse(body, status_code=refused.status)

    async def route(self, request: Request) -> Response:
        path, method = request.url.path.rstrip("/"), request.method
        if path == "/api/oauth/token":
            self._allow(method, "POST")
            return await self._token(request)
        self._bearer(request)
        if path == "/api/v1/requester":
            self._allow(method, "POST")
            return await self._create(request)
        if path == "/api/v1/requester/search/byqual":
            self._allow(method, "POST")
            return await self._search(request)
        if path == "/api/v1/request":
            self._allow(method, "POST")
            return await self._request(request)
        match = re.fullmatch(r"/api/v1/requester/(\d+)", path)
        if match:
            self._allow(method, "PATCH", "DELETE")
            requester = self.requesters.get(int(match.group(1)))
            if requester is None:
                raise Refused(f"Requester {match.group(1)} not found", 404, "NOT_FOUND")
            if method == "DELETE":
                self.store.remove(requester["id"])
                return Response(status_code=200)
            return await self._update(request, requester)
        raise Refused(f"No resource at {path}", 404, "NOT_FOUND")

    @staticmethod
    def _allow(method: str, *allowed: str) -> None:
        if method not in allowed:
            raise Refused(f"Request method '{method}' not supported", 405, "METHOD_NOT_ALLOWED")

    async def _token(self, request: Request) -> Response:
        pair = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {pair}":
            raise Refused("Bad client credentials", 401, "invalid_client")
        form = await request.form()
        if form.get("grant_type") != "password":
            raise Refused("Unsupported grant type", 400, "unsupported_grant_type")
        if (form.get("username"), form.get("password")) != (USERNAME, PASSWORD):
            raise Refused("Bad credentials", 400, "invalid_grant")
        now = self.clock.timestamp()
        claims = {
            "user_name": USERNAME,
            "client_id": CLIENT_ID,
            "exp": int(now + self.token_lifetime),
        }
        claims["jti"] = str(uuid.uuid4())
        head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64(json.dumps(claims).encode())
        signature = _b64(hmac.new(self._key, f"{head}.{payload}".encode(), hashlib.sha256).digest())
        token = f"{head}.{payload}.{signature}"
        self.tokens[token] = now + self.token_lifetime
        return JSONResponse(
            {
                "access_token": token,
                "token_type": "bearer",
                "refresh_token": _b64(uuid.uuid4().bytes),
                "expires_in": int(self.token_lifetime),
                "scope": "NO-SCOPE",
                "jti": claims["jti"],
            }
        )

    def _bearer(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            raise Refused("Full authentication is required", 401, "unauthorized")
        expiry = self.tokens.get(header[len("Bearer ") :])
        if expiry is None:
            raise Refused("Invalid access token", 401, "invalid_token")
        if self.clock.timestamp() >= expiry:
            raise Refused("Access token expired", 401, "invalid_token")

    @staticmethod
    async def _json(request: Request) -> Any:
        return await json_body(
            request,
            media=lambda _: Refused("Content type must be application/json", 415, "UNSUPPORTED"),
            malformed=lambda: Refused("Malformed JSON request"),
        )

    async def _object(self, request: Request) -> dict[str, Any]:
        body = await self._json(request)
        if not isinstance(body, dict):
            raise Refused("The body must be a JSON object")
        return body

    def _email_taken(self, email: str, but: int | None = None) -> bool:
        return bool(self.store.with_email(email, but))

    async def _create(self, request: Request) -> Response:
        body = await self._object(request)
        _check_requester(body, creating=True)
        if self._email_taken(body["email"]):
            raise Refused(f"Requester with email {body['email']} already exists", 400, "DUPLICATE")
        return JSONResponse(self._store(body))

    async def _update(self, request: Request, requester: dict[str, Any]) -> Response:
        body = await self._object(request)
        _check_requester(body, creating=False)
        if body.get("email") and self._email_taken(body["email"], requester["id"]):
            raise Refused(f"Requester with email {body['email']} already exists", 400, "DUPLICATE")
        return JSONResponse(self._store(body, requester["id"]))

    async def _search(self, request: Request) -> Response:
        params = request.query_params
        offset, size = params.get("offset", "0"), params.get("size", "25")
        if not offset.isdigit() or not size.isdigit() or not 1 <= int(size) <= 1000:
            raise Refused("offset must be 0 or more and size from 1 to 1000")
        body = await self._json(request)
        test = _qualifier(body)
        key = (json.dumps(body, sort_keys=True), self.store.version)
        if self._last_search is not None and self._last_search[0] == key:
            found = self._last_search[1]  # the next page of the same search
        else:
            # matched, then sorted: a change search of a million requesters finds a few
            found = [r for _, r in sorted((i, r) for i, r in self.requesters.items() if test(r))]
            self._last_search = (key, found)
        page = found[int(offset) : int(offset) + int(size)]
        if len(page) > 1 and self.faults.hit("truncate"):
            page = page[: len(page) // 2]
        return PageResponse({"objectList": page, "totalCount": len(found)})

    async def _request(self, request: Request) -> Response:
        body = await self._object(request)
        _check_request(body)
        ids = self.store.with_email(body["requesterEmail"])
        requester = self.requesters[ids[0]] if ids else None
        if requester is None:
            raise Refused(f"No requester registered with {body['requesterEmail']}")
        now = self._now()
        request_id = len(self.requests) + 1
        answer = {
            "id": request_id,
            "createdTime": now,
            "updatedTime": now,
            "requesterEmail": body["requesterEmail"],
            "requesterName": requester["name"],
            "ccEmailSet": body.get("ccEmailSet", []),
            "subject": body["subject"],
            "impactName": body.get("impactName", "Low"),
            "priorityName": body.get("priorityName", "Low"),
            "statusName": body.get("statusName", "Open"),
            "urgencyName": body.get("urgencyName", "Low"),
            "tags": body.get("tags", []),
            "customField": body.get("customField", {}),
            "source": body.get("source", "External"),
            "spam": body.get("spam", False),
            "departmentName": body.get("departmentName"),
            "supportLevel": body.get("supportLevel", "tier1"),
            "name": body.get("name", f"INC-{request_id}"),
        }
        self.requests.append({**body, "id": request_id})
        return JSONResponse(answer)
