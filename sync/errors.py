"""One exception tree for contactsync.

SyncError
├── UserError              shown without a traceback; carries every problem at once
│   ├── ConfigError        sync.toml, mapping files, environment variables
│   └── UsageError         command-line arguments, unknown conflict IDs
├── RecordError            one record cannot be mapped or would be refused; the run goes on
├── ConnectorError         a request to a system failed
│   ├── TransientError     worth retrying: timeouts, resets, 429, 502, 503, 504
│   │   └── RateLimited    429, with the vendor's Retry-After when it gave one
│   ├── AuthError          401/403: credentials are wrong; retrying will not help
│   ├── NotFound           404: the record is gone
│   └── Rejected           the vendor refused this record (400, 409, 412, result=false)
└── LeaseLost              another replica holds the sync lease; this one may not commit
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

RETRY_STATUS = {408, 500, 502, 503, 504}
MAX_RETRY_AFTER = 60.0


class SyncError(Exception):
    """Base of every error contactsync raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with user input: where (file and key) and what."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class UserError(SyncError):
    """An error the user can fix; printed as a list of problems, never as a traceback."""

    def __init__(self, problems: list[Problem] | str, *, title: str = "") -> None:
        if isinstance(problems, str):
            problems = [Problem("", problems)]
        self.problems = problems
        self.title = title
        super().__init__(self.render())

    def render(self) -> str:
        lines = [self.title] if self.title else []
        lines += [f"  - {p}" if self.title else str(p) for p in self.problems]
        return "\n".join(lines)


class ConfigError(UserError):
    """sync.toml or a mapping file is wrong."""


class UsageError(UserError):
    """The command line asks for something that cannot be done."""


class RecordError(SyncError):
    """One vendor record cannot be mapped, or the target would refuse it."""


class ConnectorError(SyncError):
    """A request to a system failed; `status` is the HTTP status when there was one."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TransientError(ConnectorError):
    """Worth retrying later: the system was slow, busy or briefly broken."""


class RateLimited(TransientError):
    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message, status=429)
        self.retry_after = retry_after


class AuthError(ConnectorError):
    """Credentials were refused."""


class NotFound(ConnectorError):
    """The record does not exist (any more)."""


class Rejected(ConnectorError):
    """The system refused this record; the reason is the vendor's own words."""


class LeaseLost(SyncError):
    """This process no longer holds the sync lease and must not commit."""


def retry_after(response: httpx.Response) -> float | None:
    """The vendor's Retry-After in seconds (capped), or None when absent or a date."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER)
    except ValueError:
        return None


def error_for(response: httpx.Response, reason: str | None = None) -> ConnectorError:
    """The error kind for a failed response; `reason` is the vendor's own words if known."""
    status = response.status_code
    text = reason or f"HTTP {status}"
    if status in (401, 403):
        return AuthError(f"credentials refused ({text})", status=status)
    if status == 404:
        return NotFound(text, status=status)
    if status == 429:
        return RateLimited(text, retry_after=retry_after(response))
    if status in RETRY_STATUS:
        return TransientError(text, status=status)
    return Rejected(text, status=status)
