"""One exception tree for contactsync.

SyncError
├── UserError              shown without a traceback; carries every problem at once
│   ├── ConfigError        sync.toml, mapping files, vendor files, environment variables
│   └── UsageError         command-line arguments, unknown conflict IDs
├── RecordError            one record cannot be mapped or would be refused; the run goes on
├── ConnectorError         a request to a system failed
│   ├── TransientError     worth retrying: timeouts, resets, 429, 502, 503, 504
│   │   └── RateLimited    429, with the vendor's Retry-After when it gave one
│   ├── OutcomeUnknown     a write may have landed (answer lost, or no ID in it): journalled
│   │                      `unknown` and looked up before anything is sent again
│   ├── Rejected           the vendor refused this record (400, 409, 412, result=false)
│   │   └── AlreadyExists  a create its own duplicate check refused: the system holds the
│   │                      record already, under an ID it does not tell (journal `unlinked`)
│   ├── NotFound           404: the record is gone
│   └── SystemFailure      the system cannot be used this run: reported once for the system,
│       │                  its other work not sent, nothing inferred from it
│       ├── AuthError      401/403: credentials are wrong; retrying will not help
│       ├── Unreachable    connection refused, DNS or TLS failure, after the retries
│       └── QuotaExhausted a daily request quota is used up; the next run resumes
├── StoreError             the state database cannot be opened or used (names state.url)
└── LeaseLost              another replica holds the sync lease; this one may not commit

What the engine does with each kind is one table (the push's): TransientError left after the
retries and OutcomeUnknown make a create `unknown`; AlreadyExists makes a create `unlinked`
(never resent; a person links it); Rejected, NotFound and RecordError fail that record;
SystemFailure stops that system's work for the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

RETRY_STATUS = {408, 500, 502, 503, 504}
MAX_RETRY_AFTER = 60.0


class SyncError(Exception):
    """Base of every error contactsync raises on purpose; its text never shows a configured
    secret, whatever it quotes (a vendor echoing the token in its refusal)."""

    def __str__(self) -> str:
        from sync.masking import mask

        return mask(super().__str__())


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
        from sync.masking import mask

        lines = [self.title] if self.title else []
        lines += [f"  - {p}" if self.title else str(p) for p in self.problems]
        return mask("\n".join(lines))


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


class OutcomeUnknown(ConnectorError):
    """A write may have landed although no usable answer came back: never resend it blind."""


class SystemFailure(ConnectorError):
    """The system as a whole cannot be used this run (credentials, outage, quota)."""


class AuthError(SystemFailure):
    """Credentials were refused."""


class Unreachable(SystemFailure):
    """The system could not be reached: connection refused, name not resolved, TLS refused."""


class QuotaExhausted(SystemFailure):
    """The credential's daily request quota is used up; work resumes at the next run."""


class NotFound(ConnectorError):
    """The record does not exist (any more)."""


class Rejected(ConnectorError):
    """The system refused this record; the reason is the vendor's own words."""


class AlreadyExists(Rejected):
    """A create refused by the vendor's own duplicate check (OneContact's checkrepeated): the
    system holds that record already, and cannot say under which ID."""


class StoreError(SyncError):
    """The state database is away or unusable; the message names state.url, never a password."""


class LeaseLost(SyncError):
    """This process no longer holds the sync lease and must not commit."""


def retry_after(response: httpx.Response) -> float | None:
    """The vendor's Retry-After in seconds, given as seconds or as an HTTP date (RFC 9110),
    capped at MAX_RETRY_AFTER; None when absent or unreadable."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


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
