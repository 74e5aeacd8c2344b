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

from sync.changes import changes as changes_of
from sync.changes import conflict_rows
from sync.changes import snapshots as snapshots_of
from sync.decision import Decision, LinkSeen, Recovered, Rules
from sync.deletion_guard import infer
from sync.history import field_rows
from sync.match import Matched, RecordFailure, match
from sync.merge import OpenConflict, merge
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
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
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
        shown = self.matched.seen.get(system)
        if listed is None or not listed.complete_full:
            return False
        return shown is None or vendor_id not in shown

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
        changes = changes_of(contact, links, seen, rules.mappings)
        snapshots = snapshots_of(links, seen, rules.mappings)
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
        changed, new = conflict_rows(
            cid, result, live, policy=rules.policy, run_id=self.run_id, at=d.at
        )
        d.conflict_changes += changed
        d.new_conflicts += new
        for c in new:
            d.conflicts.update(list(c.values))  # each system in a new conflict
        if result.values != contact.base:  # a no-op run writes no row
            d.stamped.add(cid)
        email = result.values.get("email") or contact.email
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
            key = (system, email or "")
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
        dirty = bool(fails) or retry
        self._settle(replace(contact, base=result.values, email=email, dirty=dirty))

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
