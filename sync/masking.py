"""Secret values masked wherever contactsync prints or stores text.

The configuration registers every secret value it loads (passwords, tokens, client secrets,
API keys, the review token, the database password) and the forms they travel in (a Basic
header's base64, URL and JSON escaping); the OAuth flow registers the tokens it is issued.
`mask` replaces each with MASK in any text, whatever it came from: a vendor that quotes the
token back in its 401 is masked as surely as our own messages. It is applied at the doors
where text leaves the process: the log handler (sync/logs.py), error and report rendering
(sync/errors.py, sync/report.py), the store's columns of error text and run summaries
(sync/store/models.py), the command line's output (sync/cli.py), the review page and the
exports (sync/web/templating.py), the daemon's /healthz (sync/monitor.py).

Values shorter than MIN_LENGTH are not masked: they would blank out ordinary words, and a
secret that short is guessed faster than it is read from a log. User names and OAuth client
IDs are identifiers, not secrets, and are left as they are.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO
from urllib.parse import quote, quote_plus

MASK = "[redacted]"
MIN_LENGTH = 4

_lock = threading.Lock()
_values: set[str] = set()
_pattern: re.Pattern[str] | None = None


def add(*values: str | None) -> None:
    """Mask these values (and their escaped forms) from now on, in this process."""
    global _pattern
    forms = set()
    for value in values:
        if value and len(value) >= MIN_LENGTH:
            forms |= {value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1]}
    with _lock:
        if forms <= _values:
            return
        _values.update(forms)
        longest_first = sorted(_values, key=len, reverse=True)
        _pattern = re.compile("|".join(map(re.escape, longest_first)))


def forget() -> None:
    """Mask nothing until values are added again (between tests: one process, many configs)."""
    global _pattern
    with _lock:
        _values.clear()
        _pattern = None


def add_pair(user: str | None, secret: str | None) -> None:
    """A Basic credential: base64 of `user:secret` is as secret as the secret."""
    if user is not None and secret:
        add(base64.b64encode(f"{user}:{secret}".encode()).decode())


def add_credentials(values: dict[str, str]) -> None:
    """A system's credentials by name (sync.config.Credentials): all but identifiers, and
    the Basic headers made of them (an API key as the user name with an empty password)."""
    add(*(v for k, v in values.items() if k not in ("username", "client_id")))
    add_pair(values.get("username"), values.get("password"))
    add_pair(values.get("client_id"), values.get("client_secret"))
    if values.get("key"):
        add(base64.b64encode(f"{values['key']}:".encode()).decode())


def mask(text: str) -> str:
    pattern = _pattern
    if pattern is None or not text:
        return text
    return pattern.sub(MASK, text)


def mask_tree(value: Any) -> Any:
    """Every string in a JSON-like value masked (run summaries, reports)."""
    if _pattern is None:
        return value
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {k: mask_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_tree(v) for v in value]
    return value


class MaskedStream:
    """A text stream whose writes are masked (standard output and error of the CLI)."""

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner

    def write(self, text: str) -> int:
        self._inner.write(mask(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@contextmanager
def masked_output() -> Iterator[None]:
    """sys.stdout and sys.stderr masked while the block runs (rich's Console writes to
    whatever sys.stdout is when it prints)."""
    import sys

    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = MaskedStream(out), MaskedStream(err)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = out, err
