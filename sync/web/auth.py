"""Who may change things on the review page, and proof that a form came from it.

Login: a person logs in with the review token (from the variable named by `[review]
token_env`). The cookie holds an expiry, a nonce and an HMAC of both under a key derived
from the token, never the token itself; a new token ends every session. The cookie is
HttpOnly and SameSite=Strict.

CSRF: every visitor gets a random nonce in an HttpOnly, SameSite=Strict cookie; each form
carries HMAC(process secret, nonce), checked on every POST with a constant-time compare.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

SESSION_COOKIE = "contactsync_session"
VISIT_COOKIE = "contactsync_visit"
SESSION_SECONDS = 8 * 3600


def _derive(token: str) -> bytes:
    return hmac.new(token.encode(), b"contactsync review session", hashlib.sha256).digest()


def _mac(key: bytes, message: str) -> str:
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


class Guard:
    def __init__(self, token: str | None) -> None:
        self.writable = bool(token)
        # the token itself is kept only as the key it derives; nothing stores or shows it
        self._key = _derive(token) if token else None
        self._csrf_key = secrets.token_bytes(32)

    # --- sessions ---------------------------------------------------------------------------

    def check_token(self, offered: str) -> bool:
        """Constant-time: the derived keys are compared, not the strings."""
        if self._key is None:
            return False
        return hmac.compare_digest(_derive(offered), self._key)

    def new_session(self) -> str:
        assert self._key is not None
        body = f"{int(time.time()) + SESSION_SECONDS}.{secrets.token_hex(16)}"
        return f"{body}.{_mac(self._key, body)}"

    def valid_session(self, cookie: str | None) -> bool:
        if self._key is None or not cookie or cookie.count(".") != 2:
            return False
        expires, nonce, mac = cookie.split(".")
        if not hmac.compare_digest(_mac(self._key, f"{expires}.{nonce}"), mac):
            return False
        return expires.isdigit() and int(expires) > time.time()

    # --- CSRF ---------------------------------------------------------------------------------

    @staticmethod
    def new_visit() -> str:
        return secrets.token_hex(16)

    def csrf_for(self, visit: str) -> str:
        return _mac(self._csrf_key, visit)

    def valid_csrf(self, visit: str | None, offered: str | None) -> bool:
        if not visit or not offered:
            return False
        return hmac.compare_digest(self.csrf_for(visit), offered)
