"""Authentication kinds, by name, as httpx.Auth classes; token refresh lives here, not in
connectors.

    none                      nothing sent
    basic                     username, password
    bearer                    token                         Authorization: Bearer <token>
    soticket                  token                         Authorization: SOTicket <token>
    api_key_header            key (+ header, default X-API-Key)
    api_key_query             key (+ param, default api_key)
    api_key_basic             key as the Basic user name, empty password
    oauth_password            client_id, client_secret, username, password (+ token_url)
    oauth_client_credentials  client_id, client_secret (+ token_url, scope)

sync.toml names the secrets by reference (`<secret>_env` or `<secret>_file`); the settings in
brackets are plain values, given in sync.toml or defaulted by the vendor file. An unknown kind
is refused with this list.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING

import httpx

from sync import masking
from sync.errors import AuthError, TransientError, error_for

if TYPE_CHECKING:
    from sync.config import Credentials


class HeaderAuth(httpx.Auth):
    """A fixed header: `Authorization: Bearer ...`, `SOTicket ...`, or an API key header."""

    def __init__(self, value: str, header: str = "Authorization") -> None:
        self._value = value
        self._header = header

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[self._header] = self._value
        yield request


class QueryAuth(httpx.Auth):
    """An API key as a query parameter."""

    def __init__(self, param: str, key: str) -> None:
        self._param, self._key = param, key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.url = request.url.copy_merge_params({self._param: self._key})
        yield request


class OAuthAuth(httpx.Auth):
    """OAuth 2 token grants: client ID and secret as Basic on the token call, the grant's own
    fields in the form. The token is cached until it expires or a 401 says it is stale; then
    it is fetched once more."""

    requires_response_body = True

    def __init__(self, token_url: str, creds: Credentials, form: dict[str, str]) -> None:
        self.token_url = token_url
        self._creds = creds
        self._form = form
        self._token: str | None = None
        self._expires = 0.0

    def _token_request(self) -> httpx.Request:
        pair = f"{self._creds.get('client_id')}:{self._creds.get('client_secret')}"
        return httpx.Request(
            "POST",
            self.token_url,
            headers={"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()},
            data=self._form,
        )

    def _take(self, response: httpx.Response) -> None:
        if response.status_code != 200:
            # a busy or broken token server (408, 429, 5xx) is retried like any request;
            # any other refusal means the credentials or the token URL are wrong
            reason = f"token request refused with HTTP {response.status_code}"
            error = error_for(response, reason)
            if isinstance(error, TransientError):
                raise error
            raise AuthError(reason, status=response.status_code)
        try:
            body = response.json()
            self._token = str(body["access_token"])
        except (ValueError, KeyError, TypeError):
            raise AuthError("token response carried no access_token") from None
        masking.add(self._token, str(body.get("refresh_token") or ""))  # issued: as secret
        lifetime = body.get("expires_in")
        ttl = float(lifetime) if isinstance(lifetime, int | float) else 3600.0
        self._expires = time.monotonic() + max(ttl - 30, 1)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self._token is None or time.monotonic() >= self._expires:
            self._take((yield self._token_request()))
        request.headers["Authorization"] = f"Bearer {self._token}"
        response = yield request
        if response.status_code == 401:
            self._take((yield self._token_request()))
            request.headers["Authorization"] = f"Bearer {self._token}"
            yield request


def OAuthPasswordAuth(token_url: str, creds: Credentials) -> OAuthAuth:
    """The password grant (ServiceOps): user name and password in the form."""
    form = {
        "username": creds.get("username"),
        "password": creds.get("password"),
        "grant_type": "password",
    }
    return OAuthAuth(token_url, creds, form)


def _basic(user: str, password: str) -> httpx.Auth:
    return httpx.BasicAuth(user, password)


Builder = Callable[["Credentials", dict[str, str]], httpx.Auth | None]


def _oauth_password(creds: Credentials, settings: dict[str, str]) -> httpx.Auth:
    return OAuthPasswordAuth(_token_url(settings), creds)


def _oauth_client(creds: Credentials, settings: dict[str, str]) -> httpx.Auth:
    form = {"grant_type": "client_credentials"}
    if settings.get("scope"):
        form["scope"] = settings["scope"]
    return OAuthAuth(_token_url(settings), creds, form)


def _token_url(settings: dict[str, str]) -> str:
    url = settings.get("token_url")
    if not url:
        raise AuthError("this auth kind needs a token_url (in sync.toml or the vendor file)")
    return url


BUILDERS: dict[str, Builder] = {
    "none": lambda c, s: None,
    "basic": lambda c, s: _basic(c.get("username"), c.get("password")),
    "bearer": lambda c, s: HeaderAuth(f"Bearer {c.get('token')}"),
    "soticket": lambda c, s: HeaderAuth(f"SOTicket {c.get('token')}"),
    "api_key_header": lambda c, s: HeaderAuth(c.get("key"), s.get("header") or "X-API-Key"),
    "api_key_query": lambda c, s: QueryAuth(s.get("param") or "api_key", c.get("key")),
    "api_key_basic": lambda c, s: _basic(c.get("key"), ""),
    "oauth_password": _oauth_password,
    "oauth_client_credentials": _oauth_client,
}


def build_auth(
    creds: Credentials, base_url: str | None, defaults: dict[str, str] | None = None
) -> httpx.Auth | None:
    """The httpx.Auth for these credentials. `defaults` are the vendor file's settings
    (token_url, header, ...), already rendered; sync.toml's own settings win."""
    settings = {k: v for k, v in (defaults or {}).items() if v}
    settings |= {k: v for k, v in creds.settings.items() if v}
    builder = BUILDERS.get(creds.kind)
    return builder(creds, settings) if builder else None
