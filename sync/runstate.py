"""What one run holds in memory between its phases: the state loaded from the store, what
each system's listing said, and what the run changed, applied at commit."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from sync.contact import Record
from sync.errors import RecordError
from sync.store.models import Action as JournalEntry
from sync.store.models import Conflict, Contact, Cursor, Link


@dataclass
class Observed:
    vendor_id: str
    record: Record
    updated: datetime | None
    new_link: bool = False


@dataclass
class Touched:
    """What _decide changed in links, applied at commit: new or refreshed snapshots by
    (contact, system) -> (vendor ID, snapshot), and links to drop."""

    links: dict[tuple[str, str], tuple[str, Record]] = field(default_factory=dict)
    dropped: list[Link] = field(default_factory=list)
    # the raw hash of the record each new snapshot was read from (none: from a write's answer)
    raw: dict[tuple[str, str], str] = field(default_factory=dict)
    # the vendor's own update time of each record read, for "when did it change"
    updated: dict[tuple[str, str], datetime] = field(default_factory=dict)


@dataclass
class RunState:
    """Everything one run loaded from the store, indexed for matching."""

    contacts: dict[str, Contact]
    links: dict[tuple[str, str], Link]
    by_contact: dict[str, dict[str, Link]]
    by_email: dict[str, Contact]
    cursors: dict[str, Cursor]
    conflicts: dict[str, dict[str, Conflict]]
    session: Session
    new_contacts: list[Contact] = field(default_factory=list)
    new_conflicts: list[Conflict] = field(default_factory=list)
    held: list[tuple[str, str, str, str]] = field(default_factory=list)
    # held deletions a person allowed, by (system, vendor ID); field history rows to insert
    allowed: dict[tuple[str, str], JournalEntry] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    # each system's listed records, normalised: (vendor ID, record or why not, vendor time)
    # (a record None: unchanged since its snapshot, its contact not loaded; see _read)
    read: dict[str, list[tuple[str, Record | RecordError | None, datetime | None]]] = field(
        default_factory=dict
    )
    # linked records per system, when not every link was loaded (the mass-delete guard)
    linked: dict[str, int] = field(default_factory=dict)

    def drop_link(self, link: Link) -> None:
        """Out of both indexes, and deleted at the next flush."""
        self.by_contact.get(link.contact_id, {}).pop(link.system, None)
        self.links.pop((link.system, link.vendor_id), None)
        self.session.delete(link)

    # raw record hash of each listed record that normalised, by (system, vendor ID); and
    # (system, vendor ID, raw hash) of links to give the hash of a record their snapshot matched
    raw: dict[tuple[str, str], str] = field(default_factory=dict)
    raw_fixes: list[tuple[str, str, str]] = field(default_factory=list)
