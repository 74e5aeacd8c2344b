"""The states a journal entry, a run and a conflict can be in: one declaration each.

They are StrEnums stored as the same plain strings they always were, so the database needs
no migration and a row read back compares equal to its member.

Journal entries (one per planned action):

    pending    journalled before the first request; becomes one of the next three
    done       the system answered and the answer was applied
    failed     refused, or not sent (stopping, a system failure): decided again next run
    unknown    the write may have landed (answer lost, or no ID in it): looked up by
               recovery before anything is resent, or resent only through the vendor's own
               duplicate check
    unlinked   the system holds the contact but its ID cannot be read back (the vendor's
               duplicate check refused a create): not sent again; a person links it
               (`contactsync link`) or clears it (`contactsync unlink`)
    held       a deletion held by a guard; a person may mark it allowed
    allowed    a held deletion a person allowed: the next complete full listing of its
               system carries it out
    released   an allowance or an unlinked record settled (used, lapsed, or linked)
    recovered  read by the recovery of a later run (it did not finish)
    landed     a `done` entry of a crashed run, adopted by the recovery of a later run
"""

from __future__ import annotations

from enum import StrEnum


class JournalState(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    UNKNOWN = "unknown"
    UNLINKED = "unlinked"
    HELD = "held"
    ALLOWED = "allowed"
    RELEASED = "released"
    RECOVERED = "recovered"
    LANDED = "landed"


class RunStatus(StrEnum):
    RUNNING = "running"
    OK = "ok"
    PARTIAL = "partial"  # committed, with failed records, held deletions or a system down
    DRY_RUN = "dry-run"
    CRASHED = "crashed"  # found running by a later run: it never committed


# runs that committed what they did (not dry, not crashed)
FINISHED = (RunStatus.OK, RunStatus.PARTIAL)


class ConflictStatus(StrEnum):
    OPEN = "open"  # waits for a person
    RESOLVED = "resolved"  # chosen, not yet pushed
    APPLIED = "applied"  # pushed
    AUTO = "auto"  # settled by the newest or priority policy
    AGREED = "agreed"  # the systems came to agree


# conflicts a run carries: still open, or resolved and waiting to be pushed
LIVE = (ConflictStatus.OPEN, ConflictStatus.RESOLVED)


class Kind(StrEnum):
    """What an action does to a system's record."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
