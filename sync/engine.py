"""One run: poll, normalise, match, diff, merge, plan, journal, push, commit.

The pure steps live in contact/mapping (normalise), diff, merge and plan; this module moves
data between them, the connectors and the store, and decides nothing they can decide.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.orm import Session

from sync.config import Settings
from sync.connectors import connector_class
from sync.connectors.base import Connector, Listing
from sync.contact import Record
from sync.diff import changed_fields, record_hash
from sync.errors import (
    AuthError,
    ConnectorError,
    RecordError,
    TransientError,
)
from sync.history import field_rows
from sync.merge import Change, MergeResult, OpenConflict, merge
from sync.plan import Action, LinkState, Target, plan_contact
from sync.report import RunReport
from sync.store.models import Action as JournalEntry
from sync.store.models import Conflict, Contact, Cursor, Link
from sync.store.repo import Store, aware, new_id, now

log = logging.getLogger("sync.engine")
CRASH_ENV = "CONTACTSYNC_TEST_CRASH_AT"


def checkpoint(phase: str) -> None:
    """Test seam, off by default: with $CONTACTSYNC_TEST_CRASH_AT set to this phase
    (recovered, journalled, pushed) the process dies here by SIGKILL, as in a crash."""
    if os.environ.get(CRASH_ENV) == phase:
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class Recovered:
    """Creates left in flight, by (system, email): landed ones to adopt (vendor ID and
    snapshot), ones not to send this run (outcome unknown, lookup failed: the reason), and
    ones to resend through the vendor's own duplicate check (no lookup exists)."""

    adopted: dict[tuple[str, str], tuple[str, Record]] = field(default_factory=dict)
    blocked: dict[tuple[str, str], str] = field(default_factory=dict)
    recheck: set[tuple[str, str]] = field(default_factory=set)
    # each journal entry read, and the state it takes when this run commits (not before:
    # a run that dies after its recovery must find the same entries again)
    settle: dict[Any, str] = field(default_factory=dict)


@dataclass
class Observed:
    vendor_id: str
    record: Record
    updated: datetime | None
    new_link: bool = False


@dataclass
class Outcome:
    action: Action
    state: str
    error: str | None = None
    vendor_id: str | None = None
    snapshot: Record | None = None


@dataclass
class Touched:
    """What _decide changed in links, applied at commit: new or refreshed snapshots by
    (contact, system) -> (vendor ID, snapshot), and links to drop."""

    links: dict[tuple[str, str], tuple[str, Record]] = field(default_factory=dict)
    dropped: list[Link] = field(default_factory=list)
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


class Engine:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        transports: dict[str, httpx.AsyncBaseTransport] | None = None,
        holder: str | None = None,
        fence: Callable[[Session], None] | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.transports = transports or {}
        self.holder = holder
        self.fence = fence
        self.stop = stop  # set (SIGTERM): requests in flight finish, no new one starts
        self.schema = settings.schema
        self._recheck: set[tuple[str, str]] = set()

    def connect(self) -> dict[str, Connector]:
        out = {}
        for name, sys in self.settings.systems.items():
            cls = connector_class(sys.connector)
            assert cls is not None
            out[name] = cls.build(sys, self.transports.get(name))
        return out

    async def run(
        self, *, dry_run: bool = False, allow_mass_delete: bool = False, full_scan: bool = False
    ) -> RunReport:
        connectors = self.connect()
        try:
            return await self._run(connectors, dry_run, allow_mass_delete, full_scan)
        finally:
            for conn in connectors.values():
                await conn.aclose()

    async def _run(
        self, connectors: dict[str, Connector], dry_run: bool, allow_mass: bool, full_scan: bool
    ) -> RunReport:
        report = RunReport(dry_run=dry_run)
        for name in connectors:
            report.system(name)
        with self.store.session() as s:
            if self.fence is not None:
                # every commit of the run, journal flushes included, is fenced
                event.listen(s, "before_commit", self.fence)
            planned_with = self._planned_with(s)
            run = Store.start_run(s, self.holder)
            report.run_id = run.id
            s.commit()
            recovered = await self._recover(s, connectors, run.id)
            self._recheck = recovered.recheck
            checkpoint("recovered")
            state = self._load(s)
            listings = await self._poll(connectors, state, full_scan, report)
            plan_key = self._plan_key(connectors)
            trust = planned_with == plan_key
            self._read(s, state, listings, {email for _, email in recovered.adopted}, trust)
            if not listings or any(full for _, full in listings.values()):
                planned_with = plan_key  # every contact was planned, or is as planned
            obs, seen, read_failed = self._match(listings, state, report)
            deleted_in = self._deletions(listings, seen, state, allow_mass, report)
            actions, touched = self._decide(
                state, obs, deleted_in, listings, recovered.adopted, connectors, report
            )
            actions = _hold_uncertain(actions, recovered.blocked, state, report)
            if dry_run:
                report.plan = [_describe(a) for a in actions]
                report.status = "dry-run"
                s.rollback()
                run.status, run.finished_at = "dry-run", now()
                run.summary = report.to_dict()
                s.commit()
                return report
            rows = Store.journal(s, run.id, [_journal_row(a) for a in actions])
            held_rows: list[dict[str, Any]] = [
                {
                    "system": system,
                    "contact_id": cid,
                    "email": None,
                    "kind": "delete",
                    "vendor_id": vid,
                    "fields": {},
                    "state": "held",
                    "error": why,
                }
                for system, cid, vid, why in state.held
            ]
            Store.journal(s, run.id, held_rows)
            s.commit()
            checkpoint("journalled")
            outcomes = await self._push(s, connectors, list(zip(rows, actions, strict=True)))
            checkpoint("pushed")
            self._apply(outcomes, state, touched, report)
            self._advance_cursors(listings, read_failed, state, report)
            for entry, settled in recovered.settle.items():
                entry.state = settled
            run.status = "partial" if report.exit_code else "ok"
            run.finished_at = now()
            report.status = run.status
            report.open_conflicts = sum(
                1 for per in state.conflicts.values() for c in per.values() if c.status == "open"
            )
            run.summary = {**report.to_dict(), "planned_with": planned_with}
            s.commit()
        return report

    def _plan_key(self, connectors: dict[str, Connector]) -> str:
        """What planning depends on besides the data: the mappings, what each system can do,
        the schema and the conflict policy. A full scan skips a contact whose records all
        equal their snapshots only if the last full planning used the same key."""
        settings = self.settings
        systems = {}
        for name, sys in settings.systems.items():
            conn = connectors.get(name)
            caps = [conn.can_create, conn.can_update, conn.can_delete] if conn else None
            systems[name] = [sys.mapping.fingerprint, sys.connector, caps, sys.spec.deletes]
        key = {
            "systems": systems,
            "schema": [settings.schema.types, settings.schema.phone_region],
            "policy": [settings.sync.conflict_policy, settings.sync.priority],
        }
        return record_hash(key)

    @staticmethod
    def _planned_with(s: Session) -> str | None:
        last = Store.last_finished_run(s)
        value = (last.summary or {}).get("planned_with") if last is not None else None
        return value if isinstance(value, str) else None

    # --- recovery ---------------------------------------------------------------------------

    async def _recover(
        self, s: Session, connectors: dict[str, Connector], run_id: int
    ) -> Recovered:
        """What a crashed run left in flight, and creates whose answer was lost. Creates that
        landed are adopted, never resent: a create with a known answer is taken from the
        journal, one without is looked up; when the lookup fails it is not sent this run."""
        out = Recovered()
        adopted = out.adopted
        for entry in Store.unfinished_actions(s):
            out.settle[entry] = "landed" if entry.state == "done" else "recovered"
            if entry.state != "done":
                # what did not finish is decided again, even if nothing lists it this run
                crashed = s.get(Contact, entry.contact_id)
                if crashed is not None:
                    crashed.dirty = True
            if entry.kind != "create" or not entry.email:
                continue
            key = (entry.system, entry.email)
            if entry.vendor_id:
                adopted[key] = (entry.vendor_id, dict(entry.fields))
                continue
            conn = connectors.get(entry.system)
            if conn is None:
                continue
            if not conn.can_find_by_email:
                if conn.can_refuse_repeats:
                    out.recheck.add(key)
                continue
            try:
                found = await conn.find_by_email(entry.email)
            except ConnectorError as exc:
                log.warning("could not look up %s in %s: %s", entry.email, entry.system, exc)
                out.settle[entry] = "unknown"  # looked up again next run
                out.blocked[key] = f"an earlier create may have landed; looking it up failed: {exc}"
                continue
            if found is not None:
                mapping = self.settings.systems[entry.system].mapping
                try:
                    adopted[key] = (found.id, mapping.from_system(found.data, self.schema))
                except RecordError:
                    adopted[key] = (found.id, dict(entry.fields))
        Store.abandon_runs(s, run_id)
        s.commit()
        return out

    # --- load, poll, match ------------------------------------------------------------------

    def _load(self, s: Session) -> RunState:
        """Cursors, live conflicts and allowed deletions; contacts and links come in _read."""
        conflicts: dict[str, dict[str, Conflict]] = defaultdict(dict)
        for c in Store.live_conflicts(s):
            conflicts[c.contact_id][c.field] = c
        state = RunState({}, {}, defaultdict(dict), {}, Store.cursors(s), conflicts, s)
        state.allowed = {(a.system, a.vendor_id or ""): a for a in Store.allowed_deletions(s)}
        return state

    async def _poll(
        self,
        connectors: dict[str, Connector],
        state: RunState,
        full_scan: bool,
        report: RunReport,
    ) -> dict[str, tuple[Listing, bool]]:
        async def one(name: str, conn: Connector) -> tuple[str, Listing, bool]:
            cursor = state.cursors.get(name)
            full = (
                full_scan
                or not conn.can_list_changes
                or cursor is None
                or cursor.value is None
                or _due(cursor.last_full_scan, self.settings.full_scan_interval)
            )
            try:
                if full:
                    listing = await conn.list_all()
                else:
                    assert cursor is not None
                    listing = await conn.list_changed(cursor.value)
            except (ConnectorError, OSError) as exc:
                kind = "credentials" if isinstance(exc, AuthError) else "listing"
                return name, Listing(complete=False, problems=[f"{kind} failed: {exc}"]), full
            return name, listing, full

        tasks = [one(n, c) for n, c in connectors.items() if c.can_list]
        results = await asyncio.gather(*tasks)
        out = {}
        for name, listing, full in results:
            r = report.system(name)
            r.read = len(listing.records)
            r.listing = ("full" if full else "changes") + (
                "" if listing.complete else " (incomplete)"
            )
            for problem in listing.problems:
                r.failed.append({"vendor_id": None, "email": None, "reason": problem})
            out[name] = (listing, full)
        for name, conn in connectors.items():
            if not conn.can_list:
                report.system(name).listing = "write-only"
        return out

    def _read(
        self,
        s: Session,
        state: RunState,
        listings: dict[str, tuple[Listing, bool]],
        adopted_emails: set[str],
        trust: bool = False,
    ) -> None:
        """Normalise the listed records, then load the contacts and links they touch (by
        vendor ID and by email) and those with work pending (dirty, live conflicts): an
        incremental run costs what changed. A full listing, or none, evaluates every contact;
        with `trust` (planning is keyed as last time, see plan_key) a full scan loads only
        the contacts with a record that differs from its snapshot or vanished: planning the
        rest again would find what it found last time, nothing to do."""
        full = not listings or any(full for _, full in listings.values())
        hashes = Store.link_hashes(s) if full and trust and listings else None
        emails = set(adopted_emails)
        changed: dict[str, list[str]] = defaultdict(list)
        for system, (listing, _) in listings.items():
            mapping = self.settings.systems[system].mapping
            known = hashes.get(system, {}) if hashes is not None else None
            rows: list[tuple[str, Record | RecordError | None, datetime | None]] = []
            for vr in listing.records:
                try:
                    record = mapping.from_system(vr.data, self.schema)
                except RecordError as exc:
                    rows.append((vr.id, exc, None))
                    continue
                if known is not None and vr.id in known:
                    if known[vr.id] == record_hash(record):
                        rows.append((vr.id, None, None))
                        continue
                    changed[system].append(vr.id)
                rows.append((vr.id, record, mapping.vendor_updated(vr.data)))
                if record.get("email"):
                    emails.add(record["email"])
            state.read[system] = rows
            listing.records = []  # done with the vendor's dicts: do not hold every record twice
        if hashes is not None:
            # a linked record missing from a complete full listing: a deletion to decide
            for system, (listing, listed_all) in listings.items():
                known = hashes.get(system, {})
                state.linked[system] = sum(1 for h in known.values() if h)
                if listed_all and listing.complete:
                    shown = {row[0] for row in state.read[system]}
                    changed[system] += [v for v, h in known.items() if h and v not in shown]
        if full and hashes is None:
            contacts = list(Store.contacts(s).values())
            links = Store.links(s)
        else:
            ids = Store.dirty_contact_ids(s) | set(state.conflicts)
            ids |= Store.contact_ids_by_email(s, emails)
            by_system = (
                changed
                if full
                else {system: [row[0] for row in rows] for system, rows in state.read.items()}
            )
            for system, vendor_ids in by_system.items():
                listed = Store.links_by_vendor(s, system, vendor_ids)
                ids |= {ln.contact_id for ln in listed}
            contacts = Store.contacts_by_ids(s, ids)
            links = Store.links_of_contacts(s, ids)
        for c in contacts:
            state.contacts[c.id] = c
            if c.email and c.deleted_at is None:
                state.by_email[c.email] = c
        for ln in links:
            state.links[(ln.system, ln.vendor_id)] = ln
            state.by_contact[ln.contact_id][ln.system] = ln

    def _match(
        self, listings: dict[str, tuple[Listing, bool]], state: RunState, report: RunReport
    ) -> tuple[dict[str, dict[str, Observed]], dict[str, set[str]], set[str]]:
        obs: dict[str, dict[str, Observed]] = defaultdict(dict)
        seen: dict[str, set[str]] = {}
        read_failed: set[str] = set()
        for system, (_, full) in listings.items():
            seen[system] = set()
            unlinked: dict[str, list[Observed]] = defaultdict(list)
            fails = report.system(system).failed

            for vendor_id, record, updated in state.read.get(system, []):
                seen[system].add(vendor_id)
                if record is None:
                    continue  # as last planned: its contact is not evaluated
                if isinstance(record, RecordError):
                    _fail(fails, vendor_id, None, str(record))
                    read_failed.add(system)
                    continue
                ob = Observed(vendor_id, record, updated)
                link = state.links.get((system, vendor_id))
                if link is not None:
                    obs[link.contact_id][system] = ob
                elif not record.get("email"):
                    _fail(fails, vendor_id, None, "no email: contacts are matched by email")
                else:
                    unlinked[record["email"]].append(ob)
            for email, found in unlinked.items():
                if len(found) > 1:
                    ids = ", ".join(o.vendor_id for o in found)
                    for o in found:
                        _fail(
                            fails,
                            o.vendor_id,
                            email,
                            f"duplicate: records {ids} share this email; "
                            "not merged, fix it in the system",
                        )
                    continue
                ob = found[0]
                contact = state.by_email.get(email)
                if contact is None:
                    contact = Contact(
                        id=new_id(),
                        email=email,
                        base={},
                        dirty=False,
                        created_at=now(),
                        updated_at=now(),
                    )
                    state.contacts[contact.id] = contact
                    state.by_email[email] = contact
                    state.new_contacts.append(contact)
                else:
                    old = state.by_contact.get(contact.id, {}).get(system)
                    # the linked record still exists (or may: an incremental listing
                    # does not say), so this one is a second record with the same email
                    if (
                        old is not None
                        and not old.gone
                        and (old.vendor_id in seen[system] or not full)
                    ):
                        _fail(
                            fails,
                            ob.vendor_id,
                            email,
                            f"duplicate: record {old.vendor_id} already "
                            "holds this email; not merged",
                        )
                        continue
                ob.new_link = True
                obs[contact.id][system] = ob
        return obs, seen, read_failed

    def _deletions(
        self,
        listings: dict[str, tuple[Listing, bool]],
        seen: dict[str, set[str]],
        state: RunState,
        allow_mass: bool,
        report: RunReport,
    ) -> dict[str, list[Link]]:
        """Deletions inferred from complete full listings, behind the mass-delete guard."""
        out: dict[str, list[Link]] = {}
        limit = self.settings.sync.max_delete_fraction
        for system, (listing, full) in listings.items():
            if not (full and listing.complete):
                continue
            allowed = {v for (n, v) in state.allowed if n == system}
            for vid in allowed:  # this listing settles each allowance: used or lapsed
                state.allowed[(system, vid)].state = "released"
            linked = [
                ln for (sysname, _), ln in state.links.items() if sysname == system and not ln.gone
            ]
            gone = [ln for ln in linked if ln.vendor_id not in seen[system]]
            if not gone:
                continue
            count = state.linked.get(system, len(linked))  # not every link may be loaded
            why = None
            if not seen[system]:
                why = (
                    f"{system} listed no contacts although {count} are linked: "
                    f"{len(gone)} deletion(s) held"
                )
            elif len(gone) > limit * count:
                why = (
                    f"{len(gone)} of {count} contacts vanished from {system}, more than "
                    f"max_delete_fraction {limit:g}: deletions held"
                )
            if why and not allow_mass:
                held = [ln for ln in gone if ln.vendor_id not in allowed]
                gone = [ln for ln in gone if ln.vendor_id in allowed]
            else:
                held = []
            if held:
                r = report.system(system)
                r.held.append(f"{why} (run with --allow-mass-delete to apply them)")
                report.notes.append(f"{system}: {len(held)} deletion(s) held")
                state.held += [(system, ln.contact_id, ln.vendor_id, str(why)) for ln in held]
            if gone:
                out[system] = gone
        return out

    # --- decide: diff, merge, plan ----------------------------------------------------------

    def _decide(
        self,
        state: RunState,
        obs: dict[str, dict[str, Observed]],
        deleted_in: dict[str, list[Link]],
        listings: dict[str, tuple[Listing, bool]],
        adopted: dict[tuple[str, str], tuple[str, Record]],
        connectors: dict[str, Connector],
        report: RunReport,
    ) -> tuple[list[Action], Touched]:
        settings = self.settings
        policy, priority = settings.sync.conflict_policy, settings.sync.priority
        targets = {
            name: Target(
                name, settings.systems[name].mapping, c.can_create, c.can_update, c.can_delete
            )
            for name, c in connectors.items()
            if c.writable
        }
        deleted_by: dict[str, list[str]] = defaultdict(list)
        for system, gone in deleted_in.items():
            for link in gone:
                if settings.systems[system].spec.deletes == "ignore":
                    link.gone = True
                else:
                    deleted_by[link.contact_id].append(system)
        any_full = any(full for _, full in listings.values())
        evaluate = set(obs) | set(deleted_by) | set(state.conflicts)
        evaluate |= {c.id for c in state.contacts.values() if c.dirty}
        if any_full or not listings:
            evaluate |= {c.id for c in state.contacts.values() if c.deleted_at is None}
        actions: list[Action] = []
        touched = Touched()
        for cid in sorted(evaluate):
            contact = state.contacts[cid]
            if contact.deleted_at is not None:
                actions += self._plan_deletes(contact, state, deleted_by, targets, touched)
                continue
            links = state.by_contact.get(cid, {})
            changes = self._changes(contact, links, obs.get(cid, {}))
            snapshots = self._observed_snapshots(links, obs.get(cid, {}))
            deleting = deleted_by.get(cid, [])
            if deleting:
                if changes:
                    # an edit elsewhere beats a delete: keep the contact, re-create it there
                    for system in deleting:
                        touched.dropped.append(links[system])
                        snapshots.pop(system, None)
                    report.notes.append(
                        f"{contact.email}: deleted in {', '.join(deleting)} but edited in "
                        f"{', '.join(changes)}; kept and re-created"
                    )
                else:
                    contact.deleted_at = now()
                    contact.updated_at = now()
                    state.by_email.pop(contact.email or "", None)
                    actions += self._plan_deletes(contact, state, deleted_by, targets, touched)
                    continue
            existing = {
                f: OpenConflict(
                    c.id,
                    f,
                    {s: v["value"] for s, v in c.values.items()},
                    c.resolution,
                    c.status == "resolved",
                )
                for f, c in state.conflicts.get(cid, {}).items()
            }
            result = merge(
                contact.base, changes, policy=policy, priority=priority, existing=existing
            )
            state.history += field_rows(
                cid,
                contact.base,
                result,
                changes,
                state.conflicts.get(cid, {}),
                policy,
                report.run_id,
                now(),
            )
            self._record_conflicts(contact, result, state, report)
            if result.values != contact.base:  # a no-op run writes no row
                contact.updated_at = now()
            contact.base = result.values
            if result.values.get("email") and result.values["email"] != contact.email:
                state.by_email.pop(contact.email or "", None)
                contact.email = result.values["email"]
                state.by_email[contact.email] = contact
            for system, snap in snapshots.items():
                seen_here = obs[cid][system]
                touched.links[(cid, system)] = (seen_here.vendor_id, snap)
                if seen_here.updated is not None:
                    touched.updated[(cid, system)] = seen_here.updated
            states = {
                s: LinkState(
                    links[s].vendor_id if s in links else obs[cid][s].vendor_id,
                    snap,
                    links[s].gone if s in links else False,
                )
                for s, snap in snapshots.items()
            }
            for s, ln in links.items():
                if s not in states and ln not in touched.dropped:
                    states[s] = LinkState(ln.vendor_id, ln.snapshot, ln.gone)
            for system in targets:
                key = (system, contact.email or "")
                if system not in states and key in adopted:
                    vid, snap = adopted[key]
                    states[system] = LinkState(vid, snap)
                    touched.links[(cid, system)] = (vid, snap)
            acts, fails = plan_contact(
                cid,
                result.values,
                held=result.held,
                links=states,
                targets=targets,
                schema=self.schema,
            )
            for f in fails:
                report.system(f.system).failed.append(
                    {"vendor_id": None, "email": f.email, "reason": f.reason}
                )
            contact.dirty = bool(fails)
            actions += acts
        return actions, touched

    def _plan_deletes(
        self,
        contact: Contact,
        state: RunState,
        deleted_by: dict[str, list[str]],
        targets: dict[str, Target],
        touched: Touched,
    ) -> list[Action]:
        """Deletes of a contact deleted now, or of one deleted earlier that still has links:
        deletes that failed, or were in flight at a crash (the journal's commit can carry the
        tombstone), are sent again."""
        links = state.by_contact.get(contact.id, {})
        if not links:
            return []
        gone_here = [s for s in deleted_by.get(contact.id, []) if s in links]
        touched.dropped += [links[s] for s in gone_here]
        states = {
            s: LinkState(ln.vendor_id, ln.snapshot, ln.gone)
            for s, ln in links.items()
            if s not in gone_here
        }
        contact.dirty = False
        acts, _ = plan_contact(
            contact.id,
            contact.base,
            held=set(),
            links=states,
            targets=targets,
            schema=self.schema,
            deleted=True,
        )
        return acts

    def _changes(
        self, contact: Contact, links: dict[str, Link], seen: dict[str, Observed]
    ) -> dict[str, dict[str, Change]]:
        changes: dict[str, dict[str, Change]] = {}
        base = contact.base
        for system, ob in seen.items():
            mapping = self.settings.systems[system].mapping
            if ob.new_link or system not in links:
                found = {
                    f: v
                    for f, v in ob.record.items()
                    if f in mapping.read_fields and v != base.get(f)
                }
                if not found:
                    continue
                changes[system] = {f: Change(system, v, ob.updated) for f, v in found.items()}
                # no common ancestor: a differing value already agreed is the other side
                for f in found:
                    if base.get(f) is None:
                        continue
                    holder = next(
                        (
                            s
                            for s, ln in links.items()
                            if ln.snapshot.get(f) == base[f] and s not in seen
                        ),
                        None,
                    )
                    if holder:
                        changes.setdefault(holder, {})[f] = Change(
                            holder, base[f], links[holder].vendor_updated
                        )
                continue
            diff = changed_fields(links[system].snapshot, ob.record, mapping.read_fields)
            if diff:
                changes[system] = {f: Change(system, v, ob.updated) for f, v in diff.items()}
        return changes

    def _observed_snapshots(
        self, links: dict[str, Link], seen: dict[str, Observed]
    ) -> dict[str, Record]:
        """The new snapshot of each observed link: what it showed, plus the fields it never
        shows (written only), carried over from the old snapshot."""
        out = {}
        for system, ob in seen.items():
            mapping = self.settings.systems[system].mapping
            old = links[system].snapshot if system in links and not ob.new_link else {}
            carried = {f: v for f, v in old.items() if f not in mapping.read_fields}
            out[system] = {**carried, **ob.record}
        return out

    def _record_conflicts(
        self, contact: Contact, result: MergeResult, state: RunState, report: RunReport
    ) -> None:
        per = state.conflicts.setdefault(contact.id, {})
        for conflict_id, status in result.settled.items():
            for f, c in list(per.items()):
                if c.id == conflict_id:
                    c.status = status
                    c.resolved_at = c.resolved_at or now()
                    del per[f]
        for fc in result.conflicts:
            values = {
                s: {"value": ch.value, "changed_at": ch.at.isoformat() if ch.at else None}
                for s, ch in fc.changes.items()
            }
            if fc.existing is not None:
                row = per.get(fc.field)
                if row is not None:
                    before = row.values or {}
                    for s, v in values.items():  # an unchanged value keeps when it changed
                        if v["changed_at"] is None and before.get(s, {}).get("value") == v["value"]:
                            v["changed_at"] = before[s].get("changed_at")
                    if values != before:  # a no-op run writes no row
                        row.values = values
                continue
            for s in fc.changes:
                report.system(s).conflicts += 1
            row = Conflict(
                contact_id=contact.id,
                field=fc.field,
                base_value=fc.base,
                values=values,
                run_id=report.run_id,
                created_at=now(),
                status="open" if fc.held else "auto",
            )
            if fc.winner is not None:
                row.resolution = fc.changes[fc.winner].value
                row.resolved_by = f"policy {self.settings.sync.conflict_policy}: {fc.winner}"
                row.resolved_at = now()
            else:
                per[fc.field] = row
            state.new_conflicts.append(row)

    # --- push and commit --------------------------------------------------------------------

    async def _push(
        self, s: Session, connectors: dict[str, Connector], work: list[Any]
    ) -> list[Outcome]:
        limits = {n: asyncio.Semaphore(c.concurrency) for n, c in connectors.items()}
        buffer: list[tuple[int, str, str | None, str | None]] = []

        async def one(row: Any, action: Action) -> Outcome:
            async with limits[action.system]:
                if self.stop is not None and self.stop.is_set():
                    outcome = Outcome(action, "failed", error=STOPPED)
                else:
                    outcome = await self._send(connectors[action.system], action)
            buffer.append((row.id, outcome.state, outcome.vendor_id, outcome.error))
            return outcome

        async def flusher() -> None:
            while True:
                await asyncio.sleep(0.1)
                self._flush(s, buffer)

        task = asyncio.create_task(flusher())
        try:
            outcomes = await asyncio.gather(*(one(r, a) for r, a in work))
        finally:
            task.cancel()
        self._flush(s, buffer)
        return list(outcomes)

    @staticmethod
    def _flush(s: Session, buffer: list[tuple[int, str, str | None, str | None]]) -> None:
        if not buffer:
            return
        batch = buffer[:]
        del buffer[: len(batch)]
        Store.finish_actions(s, batch)
        s.commit()

    async def _send(self, conn: Connector, action: Action) -> Outcome:
        mapping = conn.settings.mapping
        try:
            if action.kind == "create":
                if (action.system, action.email or "") in self._recheck:
                    again = await conn.create_unless_exists(action.payload, email=action.email)
                    if again is None:
                        return Outcome(action, "unknown", error=REPEAT_REFUSED)
                    written = again
                else:
                    written = await conn.create(action.payload, email=action.email)
                snap = self._answered(written.record, action, mapping)
                return Outcome(action, "done", vendor_id=written.vendor_id, snapshot=snap)
            if action.kind == "update":
                assert action.vendor_id is not None
                answer = await conn.update(action.vendor_id, action.payload, action.full)
                snap = self._answered(answer, action, mapping)
                return Outcome(action, "done", vendor_id=action.vendor_id, snapshot=snap)
            assert action.vendor_id is not None
            await conn.delete(action.vendor_id)
            return Outcome(action, "done", vendor_id=action.vendor_id)
        except TransientError as exc:
            # a create whose answer was lost may have landed: look it up before resending
            state = "unknown" if action.kind == "create" else "failed"
            return Outcome(action, state, error=str(exc))
        except (ConnectorError, RecordError) as exc:
            return Outcome(action, "failed", error=str(exc))

    def _answered(self, record: dict[str, Any] | None, action: Action, mapping: Any) -> Record:
        if not record:
            return action.echo
        try:
            shown = mapping.from_system(record, self.schema)
        except RecordError:
            return action.echo
        carried = {f: v for f, v in action.echo.items() if f not in mapping.read_fields}
        return {**carried, **shown}

    def _apply(
        self, outcomes: list[Outcome], state: RunState, touched: Touched, report: RunReport
    ) -> None:
        stamp = now()
        session = state.session
        session.add_all(state.new_contacts)
        session.flush()  # contacts before the rows that point at them
        session.add_all(state.new_conflicts)
        Store.add_history(session, state.history)
        for link in touched.dropped:
            state.by_contact.get(link.contact_id, {}).pop(link.system, None)
            state.links.pop((link.system, link.vendor_id), None)
            session.delete(link)
        session.flush()
        for (cid, system), (vid, snap) in touched.links.items():
            self._set_link(session, state, cid, system, vid, snap, stamp)
            when = touched.updated.get((cid, system))
            link = state.by_contact[cid][system]
            old = link.vendor_updated
            if when is not None and (old is None or aware(old) != when):
                link.vendor_updated = when
        for o in outcomes:
            a = o.action
            r = report.system(a.system)
            if o.state != "done":
                r.failed.append(
                    {
                        "vendor_id": a.vendor_id,
                        "email": a.email,
                        "reason": f"{a.kind} failed: {o.error}",
                    }
                )
                state.contacts[a.contact_id].dirty = True
                continue
            if a.kind == "delete":
                r.deleted += 1
                gone = state.by_contact.get(a.contact_id, {}).pop(a.system, None)
                if gone is not None:
                    state.links.pop((gone.system, gone.vendor_id), None)
                    session.delete(gone)
                continue
            if a.kind == "create":
                r.created += 1
            else:
                r.updated += 1
            self._set_link(
                session, state, a.contact_id, a.system, o.vendor_id, o.snapshot or {}, stamp
            )

    def _set_link(
        self,
        session: Session,
        state: RunState,
        cid: str,
        system: str,
        vendor_id: str | None,
        snapshot: Record,
        stamp: datetime,
    ) -> None:
        link = state.by_contact.get(cid, {}).get(system)
        if link is None:
            assert vendor_id is not None
            link = Link(
                contact_id=cid,
                system=system,
                vendor_id=vendor_id,
                snapshot=snapshot,
                snapshot_hash=record_hash(snapshot),
                gone=False,
                updated_at=stamp,
            )
            session.add(link)
            state.by_contact.setdefault(cid, {})[system] = link
            state.links[(system, vendor_id)] = link
            return
        if (not vendor_id or link.vendor_id == vendor_id) and link.snapshot == snapshot:
            return  # unchanged: a no-op run writes no row
        if vendor_id and link.vendor_id != vendor_id:
            link.vendor_id = vendor_id
        link.snapshot = snapshot
        link.snapshot_hash = record_hash(snapshot)
        link.updated_at = stamp

    def _advance_cursors(
        self,
        listings: dict[str, tuple[Listing, bool]],
        read_failed: set[str],
        state: RunState,
        report: RunReport,
    ) -> None:
        session = state.session
        stamp = now()
        for system, (listing, full) in listings.items():
            cur = state.cursors.get(system)
            if cur is None:
                cur = Cursor(system=system, updated_at=stamp)
                session.add(cur)
                state.cursors[system] = cur
            cur.updated_at = stamp
            if not listing.complete:
                cur.last_error = "; ".join(listing.problems) or "listing incomplete"
                continue
            cur.last_success = stamp
            cur.last_error = None
            if system in read_failed:
                continue  # re-read the failed records next time
            if listing.cursor is not None:
                cur.value = listing.cursor
            if full:
                cur.last_full_scan = stamp


STOPPED = "not sent: contactsync was stopping; it is sent at the next run"

REPEAT_REFUSED = (
    "an earlier create of this contact landed but its answer was lost, and the system's own"
    " duplicate check refused it again; its ID cannot be read back: link or remove it by hand"
)


def _hold_uncertain(
    actions: list[Action], blocked: dict[tuple[str, str], str], state: RunState, report: RunReport
) -> list[Action]:
    """Drop creates whose earlier attempt may have landed (lookup failed): never resend blind."""
    kept = []
    for a in actions:
        why = blocked.get((a.system, a.email or "")) if a.kind == "create" else None
        if why is None:
            kept.append(a)
            continue
        report.system(a.system).failed.append(
            {"vendor_id": None, "email": a.email, "reason": f"create held: {why}"}
        )
        state.contacts[a.contact_id].dirty = True
    return kept


def _fail(fails: list[dict[str, Any]], vendor_id: str, email: str | None, reason: str) -> None:
    fails.append({"vendor_id": vendor_id, "email": email, "reason": reason})


def _due(last: datetime | None, interval: float) -> bool:
    if last is None:
        return True
    if last.tzinfo is None:
        from datetime import UTC

        last = last.replace(tzinfo=UTC)
    return now() - last >= timedelta(seconds=interval)


def _describe(a: Action) -> dict[str, Any]:
    return {
        "kind": a.kind,
        "system": a.system,
        "email": a.email,
        "vendor_id": a.vendor_id,
        "fields": a.fields,
    }


def _journal_row(a: Action) -> dict[str, Any]:
    return {
        **_describe(a),
        "contact_id": a.contact_id,
        "state": "pending",
        "error": None,
    }
