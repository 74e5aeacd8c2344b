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
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from sync import commit
from sync.config import Settings
from sync.connectors import connector_class
from sync.connectors.base import Connector, Listing
from sync.contact import Record
from sync.diff import changed_fields, raw_hash, raw_salt, record_hash
from sync.errors import (
    AuthError,
    ConnectorError,
    RecordError,
)
from sync.history import field_rows
from sync.merge import Change, MergeResult, OpenConflict, merge
from sync.plan import Action, LinkState, Target, plan_contact
from sync.push import Pusher, hold_uncertain
from sync.recovery import recover
from sync.report import RunReport
from sync.runstate import Observed, RunState, Touched
from sync.store.models import Conflict, Contact, Link
from sync.store.repo import Store, aware, new_id, now

if TYPE_CHECKING:
    import httpx  # only for a type: a CSV-only run never loads an HTTP client

log = logging.getLogger("sync.engine")
CRASH_ENV = "CONTACTSYNC_TEST_CRASH_AT"


def checkpoint(phase: str) -> None:
    """Test seam, off by default: with $CONTACTSYNC_TEST_CRASH_AT set to this phase
    (recovered, journalled, pushed) the process dies here by SIGKILL, as in a crash."""
    if os.environ.get(CRASH_ENV) == phase:
        os.kill(os.getpid(), signal.SIGKILL)


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
            recovered = await recover(s, connectors, run.id, self.settings)
            checkpoint("recovered")
            state = self._load(s)
            listings = await self._poll(connectors, state, full_scan, report)
            plan_key = self._plan_key(connectors)
            # a full listing (or none) evaluates every contact: a full planning
            plans_all = not listings or any(full for _, full in listings.values())
            trusted = plans_all and planned_with == plan_key
            adopted_emails = {email for _, email in recovered.adopted}
            self._read(s, state, listings, adopted_emails, plans_all, trusted)
            if plans_all:
                planned_with = plan_key  # every contact was planned, or is as planned
            obs, seen, read_failed = self._match(listings, state, report)
            deleted_in = self._deletions(listings, seen, obs, state, allow_mass, report)
            # a create that landed but whose record a full listing no longer shows was
            # deleted before we ever linked it: nothing to adopt, the contact is planned anew
            adopted = {
                (system, email): found
                for (system, email), found in recovered.adopted.items()
                if not _vanished(listings.get(system), seen.get(system, set()), found[0])
            }
            actions, touched = self._decide(
                state, obs, deleted_in, plans_all, adopted, connectors, report
            )
            actions = hold_uncertain(actions, recovered.blocked, state.contacts, report)
            if dry_run:
                report.plan = [_describe(a) for a in actions]
                report.status = "dry-run"
                s.rollback()
                run.status, run.finished_at = "dry-run", now()
                run.summary = report.to_dict()
                s.commit()
                return report
            entry_ids = Store.journal(s, run.id, [_journal_row(a) for a in actions])
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
            # this commit carries the new base values of existing contacts: their history
            # goes with it (new contacts, and their history, are inserted at the end)
            new = {c.id for c in state.new_contacts}
            Store.add_history(s, [h for h in state.history if h["contact_id"] not in new])
            state.history = [h for h in state.history if h["contact_id"] in new]
            s.commit()
            checkpoint("journalled")
            pusher = Pusher(self.schema, recovered.recheck, self.stop)
            work = list(zip(entry_ids, actions, strict=True))
            outcomes = await pusher.push(s, connectors, work)
            checkpoint("pushed")
            commit.apply(outcomes, state, touched, report)
            commit.advance_cursors(listings, read_failed, state)
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
            "schema": settings.schema.identity,
            "policy": [settings.sync.conflict_policy, settings.sync.priority],
        }
        return record_hash(key)

    @staticmethod
    def _planned_with(s: Session) -> str | None:
        last = Store.last_finished_run(s)
        value = (last.summary or {}).get("planned_with") if last is not None else None
        return value if isinstance(value, str) else None

    # --- load, poll, match ------------------------------------------------------------------

    def _load(self, s: Session) -> RunState:
        """Cursors, live conflicts and allowed deletions; contacts and links come in _read."""
        conflicts: dict[str, dict[str, Conflict]] = defaultdict(dict)
        for c in Store.live_conflicts(s):
            conflicts[c.contact_id][c.field] = c
        state = RunState(
            contacts={},
            links={},
            by_contact=defaultdict(dict),
            by_email={},
            cursors=Store.cursors(s),
            conflicts=conflicts,
            session=s,
        )
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
            r.listed = listing.complete
            for problem in listing.problems:
                r.fail(problem)
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
        full: bool,
        trusted: bool,
    ) -> None:
        """Normalise the listed records, then load the contacts and links they touch (by
        vendor ID and by email) and those with work pending (dirty, live conflicts): an
        incremental run costs what changed. A `full` planning evaluates every contact;
        `trusted` (a full planning keyed as the last one, see plan_key) means it loads only
        the contacts with a record that differs from its snapshot or vanished: planning the
        rest again would find what it found last time, nothing to do. Before that, a record
        whose raw hash is the one kept on its link is not even normalised: it normalises to
        the snapshot (the hash covers the mapping and schema; a write clears it)."""
        hashes = Store.link_hashes(s) if trusted and listings else None
        emails = set(adopted_emails)
        changed: dict[str, list[str]] = defaultdict(list)
        schema = self.schema
        for system, (listing, _) in listings.items():
            mapping = self.settings.systems[system].mapping
            salt = raw_salt(mapping.fingerprint, schema)
            known = hashes.get(system, {}) if hashes is not None else None
            rows: list[tuple[str, Record | RecordError | None, datetime | None]] = []
            for vr in listing.records:
                raw = raw_hash(salt, vr.data)
                kept = known.get(vr.id) if known is not None else None
                if kept is not None and kept[1] == raw and kept[0]:
                    rows.append((vr.id, None, None))
                    continue
                try:
                    record = mapping.from_system(vr.data, schema)
                except RecordError as exc:
                    rows.append((vr.id, exc, None))
                    continue
                if kept is not None:
                    if kept[0] == record_hash(record):
                        rows.append((vr.id, None, None))
                        state.raw_fixes.append((system, vr.id, raw))
                        continue
                    changed[system].append(vr.id)
                state.raw[(system, vr.id)] = raw
                rows.append((vr.id, record, mapping.vendor_updated(vr.data)))
                if record.get("email"):
                    emails.add(record["email"])
            state.read[system] = rows
            listing.records = []  # done with the vendor's dicts: do not hold every record twice
        if hashes is not None:
            # a linked record missing from a complete full listing: a deletion to decide
            for system, (listing, listed_all) in listings.items():
                known = hashes.get(system, {})
                state.linked[system] = sum(1 for h, _ in known.values() if h)
                if listed_all and listing.complete:
                    shown = {row[0] for row in state.read[system]}
                    changed[system] += [v for v, (h, _) in known.items() if h and v not in shown]
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
            listed_in = report.system(system)

            for vendor_id, record, updated in state.read.get(system, []):
                seen[system].add(vendor_id)
                if record is None:
                    continue  # as last planned: its contact is not evaluated
                if isinstance(record, RecordError):
                    listed_in.fail(str(record), vendor_id, None)
                    read_failed.add(system)
                    continue
                ob = Observed(vendor_id, record, updated)
                link = state.links.get((system, vendor_id))
                if link is not None:
                    obs[link.contact_id][system] = ob
                elif not record.get("email"):
                    listed_in.fail("no email: contacts are matched by email", vendor_id, None)
                else:
                    unlinked[record["email"]].append(ob)
            for email, found in unlinked.items():
                if len(found) > 1:
                    ids = ", ".join(o.vendor_id for o in found)
                    for o in found:
                        listed_in.fail(
                            f"duplicate: records {ids} share this email; "
                            "not merged, fix it in the system",
                            o.vendor_id,
                            email,
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
                        listed_in.fail(
                            f"duplicate: record {old.vendor_id} already "
                            "holds this email; not merged",
                            ob.vendor_id,
                            email,
                        )
                        continue
                ob.new_link = True
                obs[contact.id][system] = ob
        return obs, seen, read_failed

    def _deletions(
        self,
        listings: dict[str, tuple[Listing, bool]],
        seen: dict[str, set[str]],
        obs: dict[str, dict[str, Observed]],
        state: RunState,
        allow_mass: bool,
        report: RunReport,
    ) -> dict[str, list[Link]]:
        """Deletions inferred from complete full listings, behind the mass-delete guard. A
        vanished record whose contact a new record of the same system took over (deleted and
        added again) is no deletion: the link moves to the new record."""
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
            gone = [
                ln
                for ln in linked
                if ln.vendor_id not in seen[system] and system not in obs.get(ln.contact_id, {})
            ]
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
        plans_all: bool,
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
        evaluate = set(obs) | set(deleted_by) | set(state.conflicts)
        evaluate |= {c.id for c in state.contacts.values() if c.dirty}
        if plans_all:
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
                raw = state.raw.get((system, seen_here.vendor_id))
                if raw is not None:
                    touched.raw[(cid, system)] = raw
                if seen_here.updated is not None:
                    touched.updated[(cid, system)] = seen_here.updated
            # a system's record seen now is the one to write to (it may have taken over the
            # link of one that vanished) and exists, whatever the link said before
            states = {s: LinkState(obs[cid][s].vendor_id, snap) for s, snap in snapshots.items()}
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
                report.system(f.system).fail(f.reason, email=f.email)
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


def _vanished(listed: tuple[Listing, bool] | None, seen: set[str], vendor_id: str) -> bool:
    """Absent from a complete full listing of its system."""
    return listed is not None and listed[1] and listed[0].complete and vendor_id not in seen


def _due(last: datetime | None, interval: float) -> bool:
    return last is None or now() - aware(last) >= timedelta(seconds=interval)


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
