"""The review application and `contactsync serve`."""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Mapping

from rich.console import Console
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sync import masking
from sync.config import Settings, parse_listen
from sync.errors import UsageError
from sync.store.repo import Store
from sync.web.auth import Guard
from sync.web.routes import Review
from sync.web.templating import environment

log = logging.getLogger("sync.web")

# no scripts at all; styles only inline; nothing may frame the page
HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        b"frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),  # no-referrer would make form posts send Origin: null
    (b"cache-control", b"no-store"),
]


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def review_token(settings: Settings, env: Mapping[str, str] | None = None) -> str | None:
    name = settings.review.token_env
    if not name:
        return None
    value = (os.environ if env is None else env).get(name, "")
    masking.add(value)
    return value or None


def create_app(
    settings: Settings, store: Store, *, env: Mapping[str, str] | None = None
) -> Starlette:
    guard = Guard(review_token(settings, env))
    templates = Jinja2Templates(env=environment())
    review = Review(settings, store, guard, templates)
    return Starlette(routes=review.routes(), middleware=[Middleware(SecurityHeaders)])


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(settings: Settings, store: Store, listen: str | None, console: Console) -> int:
    import uvicorn

    try:
        host, port = parse_listen(listen or settings.review.listen)
    except ValueError as exc:
        raise UsageError(f"--listen: {exc}") from None
    if not _loopback(host):
        console.print(
            f"[yellow]warning[/yellow]: listening on {host}, not loopback; the session cookie "
            "travels in clear unless a TLS proxy is in front"
        )
    if review_token(settings) is None:
        env = settings.review.token_env
        why = f"{env} is not set" if env else "no [review] token_env in the configuration"
        console.print(f"read-only: {why}; conflicts can be viewed, not resolved")
    from sync.monitor import bind

    sock = bind(f"{host}:{port}", "--listen" if listen else "review.listen")  # taken: exit 2
    console.print(f"review page on http://{host}:{port}/ (Ctrl-C to stop)")
    app = create_app(settings, store)
    config = uvicorn.Config(app, log_level="warning", proxy_headers=False)
    uvicorn.Server(config).run(sockets=[sock])
    return 0
