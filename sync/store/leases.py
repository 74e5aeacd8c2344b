"""The sync lease's SQL: one row in `leases`, taken, renewed (fenced) and released here.
What a holder does with it is sync/lease.py's business.

Expiry is judged by `clock` when one is given (tests), else by the database's clock on
PostgreSQL, so replicas on different machines agree, else by this machine's (SQLite is one
machine).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from sync.store.convert import aware
from sync.store.models import Lease

NAME = "sync"
Clock = Callable[[], datetime]


@dataclass(frozen=True)
class LeaseInfo:
    holder: str
    token: int
    expires_at: datetime
    live: bool


@dataclass(frozen=True)
class Claim:
    """Who believes they hold the lease, under which token, for how long from now."""

    holder: str
    token: int
    ttl: timedelta
    clock: Clock | None = None


def moment(s: Session, clock: Clock | None) -> datetime:
    if clock is not None:
        return aware(clock())
    if s.get_bind().dialect.name == "postgresql":
        return aware(s.scalar(select(func.now())))  # type: ignore[arg-type]
    return datetime.now(UTC)


def extend(s: Session, claim: Claim) -> bool:
    """Inside the caller's transaction: push the expiry on if the token is still ours."""
    done = s.execute(
        update(Lease)
        .where(Lease.name == NAME, Lease.holder == claim.holder, Lease.token == claim.token)
        .values(expires_at=moment(s, claim.clock) + claim.ttl)
    )
    return done.rowcount == 1  # type: ignore[attr-defined]


class Leases:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def current(self, clock: Clock | None = None) -> LeaseInfo | None:
        with self.sessions() as s:
            row = s.get(Lease, NAME)
            if row is None:
                return None
            expires = aware(row.expires_at)
            return LeaseInfo(row.holder, row.token, expires, expires > moment(s, clock))

    def acquire(
        self,
        holder: str,
        token: int | None,
        ttl: timedelta,
        clock: Clock | None,
        dead: Callable[[str], bool],
    ) -> tuple[int | None, str | None]:
        """Take the lease if it is free, expired, ours already, or held by a process `dead`
        says is gone. (our token or None, the holder we took it from)."""
        with self.sessions() as s:
            row = s.scalars(select(Lease).where(Lease.name == NAME).with_for_update()).first()
            at = moment(s, clock)
            if row is None:
                s.add(Lease(name=NAME, holder=holder, token=1, expires_at=at + ttl))
                try:
                    s.commit()
                except IntegrityError:  # another replica created it first
                    s.rollback()
                    return self.acquire(holder, token, ttl, clock, dead)
                return 1, None
            mine = row.holder == holder and row.token == token
            if not mine and aware(row.expires_at) > at and not dead(row.holder):
                s.rollback()
                return None, None
            previous = None
            if not mine:
                row.token += 1
                previous = row.holder
            row.holder = holder
            row.expires_at = at + ttl
            taken = row.token
            s.commit()
            return taken, previous

    def renew(self, claim: Claim) -> bool:
        with self.sessions() as s:
            if not extend(s, claim):
                s.rollback()
                return False
            s.commit()
            return True

    def release(self, claim: Claim) -> None:
        with self.sessions() as s:
            s.execute(
                update(Lease)
                .where(Lease.name == NAME, Lease.holder == claim.holder, Lease.token == claim.token)
                .values(expires_at=moment(s, claim.clock))
            )
            s.commit()
