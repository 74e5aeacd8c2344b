"""The run's decisions over plain data: observations and stored rows in, a Decision out (pure).

    match      each listed record to its contact (sync/match.py)
    deletions  inferred from complete full listings, behind the guards (sync/deletion_guard.py)
    per contact: diff against the snapshots (first sight conflicts with the system holding
               the base), edit beats delete, merge (sync/merge.py), conflicts, history,
               plan (sync/plan.py), and the hold on creates that must not go out now

Matching and the guards look at whole listings; everything after is per contact, so a pass
that streams contacts can call `Round.contact` batch by batch after `Round.start`.
No SQL, no HTTP, no clock: the run's moment and the ID factory come in.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime

from sync.decision import (
    ConflictChange,
    Decision,
    LinkSeen,
    NewConflict,
    Recovered,
    Rules,
)
from sync.deletion_guard import infer
from sync.diff import changed_fields
from sync.history import field_rows
from sync.match import Matched, Observed, RecordFailure, match
from sync.merge import Change, MergeResult, OpenConflict, merge
from sync.observe import Observations
from sync.plan import Action, LinkState, plan_contact
from sync.rows import ContactRow, LinkRow, View
from sync.states import ConflictStatus, Kind


def decide(
    view: View,
    seen: Observations,
    rules: Rules,
    *,
    at: datetime,
    recovered: Recovered | None = None,
    plans_all: bool = False,
    run_id: int | None = None,
    new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
) -> Decision:
    """Every decision of one run. `plans_all`: every loaded live contact is evaluated (a
    full planning), not only those with something new."""
    round_ = Round(view, seen, rules, at, recovered or Recovered(), run_id, new_id)
    round_.contacts(round_.start(plans_all))
    return round_.d


class Round:
    def __init__(
        self,
        view: View,
        seen: Observations,
        rules: Rules,
        at: datetime,
        recovered: Recovered,
        run_id: int | None,
        new_id: Callable[[], str],
    ) -> None:
        self.view, self.seen, self.rules, self.recovered = view, seen, rules, recovered
        self.run_id = run_id
        self.d = Decision(at=at, raw_fixes=list(seen.raw_fixes))
        self.matched: Matched = match(view, seen, new_id)
        self.by_contact = view.by_contact
        self.deleted_by: dict[str, list[str]] = {}
        # listable systems whose listing this run was cut short or failed: a create there
        # could duplicate a record we did not see
        self.short = {s for s, listed in seen.systems.items() if not listed.complete}

    def start(self, plans_all: bool) -> list[str]:
        """Judge the whole listings (duplicates, deletions and their guards); the contacts
        to evaluate, in order."""
        d, m, view, rules = self.d, self.matched, self.view, self.rules
        d.failures += m.failures
        d.read_failed = set(m.read_failed)
        d.new = set(m.new)
        d.contacts.update(m.new)
        dels = infer(
            view,
            self.seen,
            m,
            limit=rules.max_delete_fraction,
            allow_mass=rules.allow_mass_delete,
        )
        d.held, d.released, d.held_why = dels.held, dels.released, dels.reasons
        for system, gone in dels.gone.items():
            for link in gone:
                if system in rules.ignore_deletes:  # only unlink: the contact lives on
                    d.gone.append(link.id)
                    if self.by_contact is view.by_contact:
                        self.by_contact = dict(view.by_contact)
                    mine = self.by_contact.get(link.contact_id, {})
                    self.by_contact[link.contact_id] = {**mine, system: replace(link, gone=True)}
                else:
                    self.deleted_by.setdefault(link.contact_id, []).append(system)
        # a create that landed but that a complete full listing no longer shows was
        # deleted before we linked it: nothing to adopt, the contact is planned anew
        self.adopted = {
            key: found
            for key, found in self.recovered.adopted.items()
            if not self._vanished(key[0], found[0])
        }
        evaluate = set(m.obs) | set(self.deleted_by) | set(view.conflicts)
        evaluate |= {c.id for c in view.contacts.values() if c.dirty}
        if plans_all:
            evaluate |= {c.id for c in view.contacts.values() if c.deleted_at is None}
        return sorted(evaluate)

    def _vanished(self, system: str, vendor_id: str) -> bool:
        listed = self.seen.systems.get(system)
        shown = self.matched.seen.get(system, set())
        return listed is not None and listed.complete_full and vendor_id not in shown

    def contacts(self, ids: Iterable[str]) -> None:
        for cid in ids:
            self.contact(cid)

    def contact(self, cid: str) -> None:
        d, rules = self.d, self.rules
        contact = d.contacts.get(cid) or self.view.contacts[cid]
        links = self.by_contact.get(cid, {})
        if contact.deleted_at is not None:
            self._delete_everywhere(contact, links)
            return
        seen = self.matched.obs.get(cid, {})
        changes = self._changes(contact, links, seen)
        snapshots = self._snapshots(links, seen)
        deleting = self.deleted_by.get(cid, [])
        dropped: list[LinkRow] = []
        if deleting:
            if not changes:
                self._delete_everywhere(replace(contact, deleted_at=d.at), links)
                return
            # an edit elsewhere beats a delete: keep the contact, re-create it there
            for system in deleting:
                dropped.append(links[system])
                snapshots.pop(system, None)
            d.dropped += dropped
            d.notes.append(
                f"{contact.email}: deleted in {', '.join(deleting)} but edited in "
                f"{', '.join(changes)}; kept and re-created"
            )
        live = self.view.conflicts.get(cid, {})
        existing = {
            f: OpenConflict(
                c.id,
                f,
                {s: v["value"] for s, v in c.values.items()},
                c.resolution,
                c.status == ConflictStatus.RESOLVED,
            )
            for f, c in live.items()
        }
        result = merge(
            contact.base,
            changes,
            policy=rules.policy,
            priority=list(rules.priority),
            existing=existing,
        )
        d.history += field_rows(
            cid, contact.base, result, changes, live, rules.policy, self.run_id, d.at
        )
        self._conflicts(cid, result)
        if result.values != contact.base:  # a no-op run writes no row
            d.stamped.add(cid)
        email = result.values.get("email") or contact.email
        contact = replace(contact, base=result.values, email=email)
        states: dict[str, LinkState] = {}
        for system, snap in snapshots.items():
            ob = seen[system]
            d.links[(cid, system)] = LinkSeen(ob.vendor_id, snap, ob.raw, ob.updated)
            # the record seen now is the one to write to (it may have taken over the link of
            # one that vanished) and exists, whatever the link said before
            states[system] = LinkState(ob.vendor_id, snap)
        for system, ln in links.items():
            if system not in states and ln not in dropped:
                states[system] = LinkState(ln.vendor_id, ln.snapshot, ln.gone)
        for system in rules.targets:
            key = (system, contact.email or "")
            if system not in states and key in self.adopted:
                vid, snap = self.adopted[key]
                states[system] = LinkState(vid, snap)
                d.links[(cid, system)] = LinkSeen(vid, snap)
        acts, fails = plan_contact(
            cid,
            result.values,
            held=result.held,
            links=states,
            targets=rules.targets,
            schema=rules.schema,
        )
        d.failures += [RecordFailure(f.system, f.reason, email=f.email) for f in fails]
        kept, retry = self._hold_creates(acts)
        d.actions += kept
        self._settle(replace(contact, dirty=bool(fails) or retry))

    def _hold_creates(self, actions: list[Action]) -> tuple[list[Action], bool]:
        """Creates that must not go out now, and whether a later run must try again. Into a
        system holding the contact unlinked: never (a person links it). One whose earlier
        attempt may have landed and could not be looked up: not this run. Into a listable
        system whose listing was incomplete: not until a complete one shows the contact is
        not there. The last two keep the contact dirty, so a later run decides it again."""
        kept, retry = [], False
        for a in actions:
            if a.kind != Kind.CREATE:
                kept.append(a)
                continue
            key = (a.system, a.email or "")
            if (a.system, a.contact_id) in self.view.unlinked:
                continue
            why = self.recovered.blocked.get(key)
            if why is not None:
                failure = RecordFailure(a.system, f"create held: {why}", email=a.email)
                self.d.failures.append(failure)
                retry = True
                continue
            if a.system in self.short:
                self.d.deferred[a.system] += 1
                retry = True
                continue
            kept.append(replace(a, unless_exists=True) if key in self.recovered.recheck else a)
        return kept, retry

    def _settle(self, contact: ContactRow) -> None:
        """The contact's decided state; an existing one that differs is written."""
        d = self.d
        d.contacts[contact.id] = contact
        if contact.id in d.new:
            return
        before = self.view.contacts[contact.id]
        if contact != before:
            d.changed.append(contact)
        if contact.deleted_at != before.deleted_at:
            d.stamped.add(contact.id)

    def _delete_everywhere(self, contact: ContactRow, links: dict[str, LinkRow]) -> None:
        """Deletes of a contact deleted now, or of one deleted earlier that still has links:
        deletes that failed, or were in flight at a crash (the journal's commit can carry the
        tombstone), are sent again."""
        d = self.d
        if links:
            gone_here = [s for s in self.deleted_by.get(contact.id, []) if s in links]
            d.dropped += [links[s] for s in gone_here]
            states = {
                s: LinkState(ln.vendor_id, ln.snapshot, ln.gone)
                for s, ln in links.items()
                if s not in gone_here
            }
            acts, _ = plan_contact(
                contact.id,
                contact.base,
                held=set(),
                links=states,
                targets=self.rules.targets,
                schema=self.rules.schema,
                deleted=True,
            )
            d.actions += acts
            contact = replace(contact, dirty=False)
        self._settle(contact)

    def _changes(
        self, contact: ContactRow, links: dict[str, LinkRow], seen: dict[str, Observed]
    ) -> dict[str, dict[str, Change]]:
        changes: dict[str, dict[str, Change]] = {}
        base = contact.base
        for system, ob in seen.items():
            read = self.rules.mappings[system].read_fields
            if ob.new_link or system not in links:
                found = {f: v for f, v in ob.record.items() if f in read and v != base.get(f)}
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
            diff = changed_fields(links[system].snapshot, ob.record, read)
            if diff:
                changes[system] = {f: Change(system, v, ob.updated) for f, v in diff.items()}
        return changes

    def _snapshots(self, links: dict[str, LinkRow], seen: dict[str, Observed]) -> dict[str, dict]:
        """The new snapshot of each observed link: what it showed, plus the fields it never
        shows (written only), carried over from the old snapshot."""
        out = {}
        for system, ob in seen.items():
            read = self.rules.mappings[system].read_fields
            old = links[system].snapshot if system in links and not ob.new_link else {}
            carried = {f: v for f, v in old.items() if f not in read}
            out[system] = {**carried, **ob.record}
        return out

    def _conflicts(self, cid: str, result: MergeResult) -> None:
        d, rules = self.d, self.rules
        per = dict(self.view.conflicts.get(cid, {}))
        for conflict_id, status in result.settled.items():
            for f, c in list(per.items()):
                if c.id == conflict_id:
                    d.conflict_changes.append(
                        ConflictChange(c.id, status=status, resolved_at=c.resolved_at or d.at)
                    )
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
                        d.conflict_changes.append(ConflictChange(row.id, values=values))
                continue
            for s in fc.changes:
                d.conflicts[s] += 1
            won = fc.winner is not None
            d.new_conflicts.append(
                NewConflict(
                    contact_id=cid,
                    field=fc.field,
                    base_value=fc.base,
                    values=values,
                    status=ConflictStatus.OPEN if fc.held else ConflictStatus.AUTO,
                    run_id=self.run_id,
                    created_at=d.at,
                    resolution=fc.changes[fc.winner].value if fc.winner is not None else None,
                    resolved_by=f"policy {rules.policy}: {fc.winner}" if won else None,
                    resolved_at=d.at if won else None,
                )
            )
