"""Authentication as httpx.Auth classes; token refresh lives here, not in connectors."""

from __future__ import annotations

import base64
import time
from collections.abc import Generator

import httpx

from sync.config import Credentials
from sync.errors import AuthError, TransientError, error_for


class HeaderAuth(httpx.Auth):
    """A fixed Authorization header (Bearer, SOTicket)."""

    def __init__(self, scheme: str, token: str) -> None:
        self._value = f"{scheme} {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._value
        yield request


class OAuthPasswordAuth(httpx.Auth):
    """OAuth 2 password grant (ServiceOps): client ID and secret as Basic on the token call,
    user name and password in the form. The token is cached until it expires or a 401 says
    it is stale; then it is fetched once more."""

    requires_response_body = True

    def __init__(self, token_url: str, creds: Credentials) -> None:
        self.token_url = token_url
        self._creds = creds
        self._token: str | None = None
        self._expires = 0.0

    def _token_request(self) -> httpx.Request:
        pair = f"{self._creds.get('client_id')}:{self._creds.get('client_secret')}"
        return httpx.Request(
            "POST",
            self.token_url,
            headers={"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()},
            data={
                "username": self._creds.get("username"),
                "password": self._creds.get("password"),
                "grant_type": "password",
            },
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


def build_auth(creds: Credentials, base_url: str | None) -> httpx.Auth | None:
    if creds.kind == "basic":
        return httpx.BasicAuth(creds.get("username"), creds.get("password"))
    if creds.kind == "bearer":
        return HeaderAuth("Bearer", creds.get("token"))
    if creds.kind == "soticket":
        return HeaderAuth("SOTicket", creds.get("token"))
    if creds.kind == "oauth_password":
        url = creds.token_url or (base_url or "").rstrip("/") + "/api/oauth/token"
        return OAuthPasswordAuth(url, creds)
    return None
