"""The sync lease: which process may run the sync, so replicas on one store never run at once.

A holder takes the lease when it is free or expired, and each takeover increments `token`.
Every commit of a run is fenced: it renews the lease row *only if the token is still ours*,
inside the same transaction, so a process that lost the lease (paused, partitioned, presumed
dead) cannot commit, and the row lock keeps a takeover out until that commit ends. Expiry is
judged by the database's clock on PostgreSQL, so replicas on different machines agree.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sync.errors import LeaseLost, UsageError
from sync.store.models import Lease
from sync.store.repo import Store, aware

log = logging.getLogger("sync.lease")

NAME = "sync"


def default_holder(name: str | None = None) -> str:
    """A name unique to this process: host, pid and a random tail, or the configured name."""
    tail = uuid.uuid4().hex[:6]
    return f"{name or socket.gethostname()}:{os.getpid()}:{tail}"


def db_now(s: Session) -> datetime:
    """The database's clock where it has one replicas can share; SQLite is one machine."""
    if s.get_bind().dialect.name == "postgresql":
        return aware(s.scalar(select(func.now())))  # type: ignore[arg-type]
    return datetime.now(UTC)


@dataclass(frozen=True)
class LeaseInfo:
    holder: str
    token: int
    expires_at: datetime
    live: bool


def current(store: Store) -> LeaseInfo | None:
    with store.session() as s:
        row = s.get(Lease, NAME)
        if row is None:
            return None
        expires = aware(row.expires_at)
        return LeaseInfo(row.holder, row.token, expires, expires > db_now(s))


class LeaseKeeper:
    """One process's claim on the lease. `token` is set while it believes it holds it."""

    def __init__(self, store: Store, holder: str, ttl: float) -> None:
        self.store = store
        self.holder = holder
        self.ttl = timedelta(seconds=ttl)
        self.token: int | None = None

    @property
    def held(self) -> bool:
        return self.token is not None

    def acquire(self) -> bool:
        """Take the lease if it is free, expired or already ours; True when held."""
        with self.store.session() as s:
            row = s.scalars(select(Lease).where(Lease.name == NAME).with_for_update()).first()
            moment = db_now(s)
            if row is None:
                s.add(Lease(name=NAME, holder=self.holder, token=1, expires_at=moment + self.ttl))
                try:
                    s.commit()
                except IntegrityError:  # another replica created it first
                    s.rollback()
                    return self.acquire()
                self.token = 1
                log.info("lease taken by %s (token 1)", self.holder)
                return True
            mine = row.holder == self.holder and row.token == self.token
            if not mine and aware(row.expires_at) > moment:
                s.rollback()
                self.token = None
                return False
            if not mine:
                row.token += 1
                log.info("lease taken by %s (token %d) from %s", self.holder, row.token, row.holder)
            row.holder = self.holder
            row.expires_at = moment + self.ttl
            token = row.token
            s.commit()
            self.token = token
            return True

    def fence(self, s: Session) -> None:
        """Called before every commit of a run: extend our lease or refuse the commit."""
        if self.token is None:
            raise LeaseLost(f"{self.holder} does not hold the sync lease")
        moment = db_now(s)
        done = s.execute(
            update(Lease)
            .where(Lease.name == NAME, Lease.holder == self.holder, Lease.token == self.token)
            .values(expires_at=moment + self.ttl)
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            self.token = None
            raise LeaseLost(f"{self.holder} lost the sync lease; this run's commit is refused")

    def renew(self) -> bool:
        """Extend the lease between and during runs; False (and no longer held) if lost."""
        if self.token is None:
            return False
        with self.store.session() as s:
            try:
                self.fence(s)
            except LeaseLost:
                s.rollback()
                log.warning("lease lost by %s", self.holder)
                return False
            s.commit()
        return True

    def release(self) -> None:
        """Give the lease up at once (clean shutdown), so a standby need not wait for expiry."""
        if self.token is None:
            return
        with self.store.session() as s:
            s.execute(
                update(Lease)
                .where(Lease.name == NAME, Lease.holder == self.holder, Lease.token == self.token)
                .values(expires_at=db_now(s))
            )
            s.commit()
        self.token = None
        log.info("lease released by %s", self.holder)

    @contextlib.contextmanager
    def kept(self) -> Iterator[None]:
        """Hold the lease for the length of the block, renewing it in a thread, then release.
        A block that finds the lease taken raises UsageError naming the holder."""
        if not self.acquire():
            info = current(self.store)
            who = f"{info.holder} until {info.expires_at:%Y-%m-%d %H:%M:%S} UTC" if info else "?"
            raise UsageError(f"another contactsync holds the sync lease ({who}); try again later")
        done = threading.Event()

        def keep() -> None:
            while not done.wait(self.ttl.total_seconds() / 3):
                if not self.renew():
                    return

        thread = threading.Thread(target=keep, name="lease", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()
            self.release()
