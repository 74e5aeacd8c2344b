"""The authentication kinds as data: what each needs and uses. sync/auth.py turns a kind
into an httpx.Auth; the configuration checks against this table without importing httpx
(a configuration of files only never loads an HTTP client).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AuthKind:
    needs: tuple[str, ...]  # secrets, each given as <name>_env or <name>_file
    uses: tuple[str, ...] = ()  # plain settings it reads (token_url, header, param, scope)


KINDS: dict[str, AuthKind] = {
    "none": AuthKind(()),
    "basic": AuthKind(("username", "password")),
    "bearer": AuthKind(("token",)),
    "soticket": AuthKind(("token",)),
    "api_key_header": AuthKind(("key",), ("header",)),
    "api_key_query": AuthKind(("key",), ("param",)),
    "api_key_basic": AuthKind(("key",)),
    "oauth_password": AuthKind(
        ("client_id", "client_secret", "username", "password"), ("token_url",)
    ),
    "oauth_client_credentials": AuthKind(("client_id", "client_secret"), ("token_url", "scope")),
}
SECRETS = sorted({s for kind in KINDS.values() for s in kind.needs})
SETTINGS = ("token_url", "header", "param", "scope")
