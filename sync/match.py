"""Which contact each listed record belongs to (pure).

By link (system, vendor ID), then by normalised email, else a new contact. Two records of one
system with one email are duplicates, not merged; so is a new record whose email belongs to a
contact already linked in that system, unless a full listing shows the linked record is gone
(then the new record takes the link over).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sync.contact import Record
from sync.observe import LinkBits, Observations
from sync.rows import ContactRow, LinkRow, View


@dataclass(frozen=True, slots=True)
class Observed:
    vendor_id: str
    record: Record
    updated: datetime | None
    raw: str | None = None
    new_link: bool = False  # first sight of this record for its contact


@dataclass(frozen=True, slots=True)
class RecordFailure:
    """One record or write that failed, for the run report."""

    system: str
    reason: str
    vendor_id: str | None = None
    email: str | None = None


@dataclass
class Shown:
    """What one listing showed: the records kept as rows by vendor ID, those a trusted full
    scan let go of unchanged by their link's ID."""

    ids: set[str] = field(default_factory=set)
    links: LinkBits = field(default_factory=LinkBits)
    count: int = 0

    def has(self, link: LinkRow) -> bool:
        return link.vendor_id in self.ids or link.id in self.links

    def __contains__(self, vendor_id: object) -> bool:
        """A vendor ID no link holds (it would have a row)."""
        return vendor_id in self.ids


@dataclass
class Matched:
    obs: dict[str, dict[str, Observed]] = field(default_factory=dict)  # contact -> system
    seen: dict[str, Shown] = field(default_factory=dict)  # what each system listed
    read_failed: set[str] = field(default_factory=set)  # systems with a record not read
    new: dict[str, ContactRow] = field(default_factory=dict)  # contacts first seen now
    failures: list[RecordFailure] = field(default_factory=list)


def match(view: View, seen: Observations, new_id: Callable[[], str]) -> Matched:
    out = Matched()
    by_email = view.by_email()
    for system, listed in seen.systems.items():
        ids: set[str] = set()
        shown = out.seen[system] = Shown(ids, listed.links, listed.listed)
        unlinked: dict[str, list[Observed]] = {}
        for row in listed.rows:
            ids.add(row.vendor_id)
            if row.error is not None:
                out.failures.append(RecordFailure(system, row.error, row.vendor_id))
                out.read_failed.add(system)
                continue
            if row.record is None:
                continue  # as last planned: its contact is not evaluated
            ob = Observed(row.vendor_id, row.record, row.updated, row.raw)
            link = view.links.get((system, row.vendor_id))
            if link is not None:
                out.obs.setdefault(link.contact_id, {})[system] = ob
            elif not row.record.get("email"):
                reason = "no email: contacts are matched by email"
                out.failures.append(RecordFailure(system, reason, row.vendor_id))
            else:
                unlinked.setdefault(row.record["email"], []).append(ob)
        for email, found in unlinked.items():
            if len(found) > 1:
                names = ", ".join(o.vendor_id for o in found)
                reason = (
                    f"duplicate: records {names} share this email; not merged, fix it in the system"
                )
                out.failures += [RecordFailure(system, reason, o.vendor_id, email) for o in found]
                continue
            ob = found[0]
            contact = by_email.get(email)
            if contact is None:
                contact = ContactRow(new_id(), email, {})
                out.new[contact.id] = by_email[email] = contact
            else:
                old = view.by_contact.get(contact.id, {}).get(system)
                # the linked record still exists (or may: an incremental listing does not
                # say), so this one is a second record with the same email
                if old is not None and not old.gone and (shown.has(old) or not listed.full):
                    reason = (
                        f"duplicate: record {old.vendor_id} already holds this email; not merged"
                    )
                    out.failures.append(RecordFailure(system, reason, ob.vendor_id, email))
                    continue
            out.obs.setdefault(contact.id, {})[system] = Observed(
                ob.vendor_id, ob.record, ob.updated, ob.raw, new_link=True
            )
    return out
