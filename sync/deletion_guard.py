"""Deletions inferred from complete full listings, behind the mass-delete guard (pure).

A linked record missing from a complete full listing of its system was deleted there. The
guard holds them all when the system listed nothing although records are linked, or when
more than `max_delete_fraction` of its links vanished at once, unless the run allows mass
deletes; a deletion a person allowed goes ahead anyway. An incomplete or incremental listing
never deletes. A vanished record whose contact a new record of the same system took over
(deleted and added again) is no deletion: the link moves to the new record.

The counts are over the whole listing and the whole store (`View.linked`), so a run that
decides its contacts batch by batch can judge the guard once, before the first batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sync.match import Matched, Shown
from sync.observe import Observations
from sync.rows import LinkRow, View


@dataclass(frozen=True, slots=True)
class Held:
    system: str
    contact_id: str
    vendor_id: str
    why: str


@dataclass
class Deletions:
    gone: dict[str, list[LinkRow]] = field(default_factory=dict)  # system -> vanished links
    held: list[Held] = field(default_factory=list)
    released: list[int] = field(default_factory=list)  # allowances this run settles
    reasons: dict[str, str] = field(default_factory=dict)  # system -> why its were held


def infer(
    view: View, seen: Observations, matched: Matched, *, limit: float, allow_mass: bool
) -> Deletions:
    out = Deletions()
    for system, listed in seen.systems.items():
        if not listed.complete_full:
            continue
        allowed = {vid for (name, vid) in view.allowed if name == system}
        # this listing settles each allowance of its system: used or lapsed
        out.released += [view.allowed[(system, vid)] for vid in sorted(allowed)]
        shown = matched.seen.get(system, Shown())
        linked = [ln for (name, _), ln in view.links.items() if name == system and not ln.gone]
        gone = [
            ln
            for ln in linked
            if not shown.has(ln) and system not in matched.obs.get(ln.contact_id, {})
        ]
        if not gone:
            continue
        count = view.linked.get(system, len(linked))
        why = None
        if not shown.count:
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
            held = [
                Held(system, ln.contact_id, ln.vendor_id, why)
                for ln in gone
                if ln.vendor_id not in allowed
            ]
            gone = [ln for ln in gone if ln.vendor_id in allowed]
            if held:
                out.held += held
                out.reasons[system] = why
        if gone:
            out.gone[system] = gone
    return out
