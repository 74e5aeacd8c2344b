"""The sync lease: which process may run the sync, so replicas on one store never run at once.

A holder takes the lease when it is free or expired, and each takeover increments `token`.
Every commit of a run is fenced: it renews the lease row *only if the token is still ours*,
inside the same transaction, so a process that lost the lease (paused, partitioned, presumed
dead) cannot commit, and the row lock keeps a takeover out until that commit ends. Expiry is
judged by the database's clock on PostgreSQL (sync/store/leases.py), or by an injected
`clock`. A holder on this host whose process no longer exists (killed -9) loses the lease at
once; one on another host keeps it until it expires, since we cannot see its processes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta

from sync.errors import LeaseLost, UsageError
from sync.store.leases import Claim, Clock, LeaseInfo
from sync.store.repo import Store

log = logging.getLogger("sync.lease")

__all__ = ["LeaseInfo", "LeaseKeeper", "current", "default_holder", "holder_gone"]


def default_holder(name: str | None = None) -> str:
    """A name unique to this process: host (or the configured name), pid and a random tail;
    a configured name carries the host after an @, so a dead holder can be recognised."""
    host = socket.gethostname()
    tail = uuid.uuid4().hex[:6]
    return f"{name}:{os.getpid()}:{tail}@{host}" if name else f"{host}:{os.getpid()}:{tail}"


def holder_gone(holder: str) -> bool:
    """Whether `holder` names a process of this host that no longer exists."""
    head, _, rest = holder.partition(":")
    pid_text, _, tail = rest.partition(":")
    host = tail.partition("@")[2] or head
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid() or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists, under another user
        return False
    return False


def current(store: Store, clock: Clock | None = None) -> LeaseInfo | None:
    return store.leases.current(clock)


class LeaseKeeper:
    """One process's claim on the lease. `token` is set while it believes it holds it.
    `clock` (a callable giving an aware datetime) replaces the database's clock."""

    def __init__(self, store: Store, holder: str, ttl: float, clock: Clock | None = None) -> None:
        self.store = store
        self.holder = holder
        self.ttl = timedelta(seconds=ttl)
        self.clock = clock
        self.token: int | None = None

    @property
    def held(self) -> bool:
        return self.token is not None

    def claim(self) -> Claim:
        if self.token is None:
            raise LeaseLost(f"{self.holder} does not hold the sync lease")
        return Claim(self.holder, self.token, self.ttl, self.clock)

    def acquire(self) -> bool:
        """Take the lease if it is free, expired, already ours or its holder is dead."""
        token, previous = self.store.leases.acquire(
            self.holder, self.token, self.ttl, self.clock, holder_gone
        )
        if token is not None and token != self.token:
            source = f" from {previous}" if previous else ""
            log.info("lease taken by %s (token %d)%s", self.holder, token, source)
        self.token = token
        return token is not None

    def fence(self, extend: Callable[[Claim], bool]) -> None:
        """Called before every commit of a run with that commit's `extend`: our lease is
        extended in the same transaction, or the commit is refused."""
        if not extend(self.claim()):
            self.token = None
            raise LeaseLost(f"{self.holder} lost the sync lease; this run's commit is refused")

    def renew(self) -> bool:
        """Extend the lease between and during runs; False (and no longer held) if lost."""
        if self.token is None:
            return False
        if not self.store.leases.renew(self.claim()):
            self.token = None
            log.warning("lease lost by %s", self.holder)
            return False
        return True

    def release(self) -> None:
        """Give the lease up at once (clean shutdown), so a standby need not wait for expiry."""
        if self.token is None:
            return
        self.store.leases.release(self.claim())
        self.token = None
        log.info("lease released by %s", self.holder)

    @contextlib.contextmanager
    def kept(self, every: float | None = None) -> Iterator[None]:
        """Hold the lease for the length of the block, renewing it in a thread every `every`
        seconds (a third of the TTL), then release. A block that finds the lease taken
        raises UsageError naming the holder."""
        if not self.acquire():
            info = current(self.store, self.clock)
            who = f"{info.holder} until {info.expires_at:%Y-%m-%d %H:%M:%S} UTC" if info else "?"
            raise UsageError(f"another contactsync holds the sync lease ({who}); try again later")
        done = threading.Event()
        wait = every if every is not None else self.ttl.total_seconds() / 3

        def keep() -> None:
            while not done.wait(wait):
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
