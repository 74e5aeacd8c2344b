"""Actions per contact and writable system (pure).

create   no link yet, the contact passes the system's filter, and the system can create
update   only the fields whose value, as the system will hold it, differs from its snapshot
delete   the contact was deleted elsewhere and the deletion propagates
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sync.contact import Record, Schema
from sync.errors import RecordError
from sync.mapping import Mapping
from sync.states import Kind


@dataclass(frozen=True)
class Target:
    """What the planner needs to know of one system."""

    name: str
    mapping: Mapping
    can_create: bool
    can_update: bool
    can_delete: bool


@dataclass(frozen=True)
class LinkState:
    vendor_id: str
    snapshot: Record
    gone: bool = False


@dataclass
class Action:
    """One write to one system, as planned (the journal keeps a row of each)."""

    kind: Kind
    system: str
    contact_id: str
    email: str | None
    vendor_id: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)  # canonical values being written
    payload: dict[str, Any] = field(default_factory=dict)  # vendor-shaped changes
    full: dict[str, Any] = field(default_factory=dict)  # vendor-shaped whole record
    echo: Record = field(default_factory=dict)  # what the system will hold afterwards
    # an earlier attempt may have landed: send only through the vendor's duplicate check
    unless_exists: bool = False

    def sent(self) -> None:
        """Its answer is in: the bodies go, since nothing reads them again (a run holds its
        every action until the commit: 100,000 creates held 100,000 payloads)."""
        self.payload = self.full = self.echo = {}

    def describe(self) -> dict[str, Any]:
        """As a dry run prints it."""
        return {
            "kind": str(self.kind),
            "system": self.system,
            "email": self.email,
            "vendor_id": self.vendor_id,
            "fields": self.fields,
        }


@dataclass
class Failure:
    system: str
    contact_id: str
    email: str | None
    reason: str


def plan_contact(
    contact_id: str,
    values: Record,
    *,
    held: set[str],
    links: dict[str, LinkState],
    targets: dict[str, Target],
    schema: Schema,
    deleted: bool = False,
) -> tuple[list[Action], list[Failure]]:
    actions: list[Action] = []
    failures: list[Failure] = []
    email = values.get("email")
    echo = _Echoes(values, schema)
    for name, target in targets.items():
        link = links.get(name)
        if deleted:
            if link is not None and not link.gone and target.can_delete:
                actions.append(Action(Kind.DELETE, name, contact_id, email, link.vendor_id))
            continue
        if link is not None and link.gone:
            continue
        try:
            if link is None:
                action = _create(contact_id, values, target, echo)
            else:
                action = _update(contact_id, values, held, link, target, echo)
        except RecordError as exc:
            failures.append(Failure(name, contact_id, email, str(exc)))
            continue
        if action is not None:
            actions.append(action)
    return actions, failures


class _Echoes:
    """Mapping.echo of one contact's values, once per distinct mapping: systems configured
    alike (equal fingerprints) hold the same echo, so a create into one and the check of the
    other cost one echo (half of planning an initial sync between two CSV files)."""

    def __init__(self, values: Record, schema: Schema) -> None:
        self.values, self.schema = values, schema
        self.done: dict[str, Record] = {}

    def __call__(self, m: Mapping, record: Record) -> Record:
        if record is not self.values or not m.fingerprint:
            return m.echo(record, self.schema)
        found = self.done.get(m.fingerprint)
        if found is None:
            found = self.done[m.fingerprint] = m.echo(record, self.schema)
        return dict(found)  # each action owns its echo


def _create(contact_id: str, values: Record, target: Target, echo: _Echoes) -> Action | None:
    m = target.mapping
    if not target.can_create or not m.passes_filter(values):
        return None
    payload = m.to_system(values, create=True)
    wanted = {k: v for k, v in values.items() if k in m.write_fields}
    return Action(
        Kind.CREATE,
        target.name,
        contact_id,
        values.get("email"),
        fields=wanted,
        payload=payload,
        full=payload,
        echo=echo(m, values),
    )


def _update(
    contact_id: str,
    values: Record,
    held: set[str],
    link: LinkState,
    target: Target,
    echoes: _Echoes,
) -> Action | None:
    m = target.mapping
    if not target.can_update:
        return None
    # a held (conflicting) field keeps what this system already has
    desired = values if not held else dict(values)
    for name in held:
        if name in link.snapshot:
            desired[name] = link.snapshot[name]
        else:
            desired.pop(name, None)
    echo = echoes(m, desired)
    changed = sorted(name for name in m.write_fields if echo.get(name) != link.snapshot.get(name))
    if not changed:
        return None
    return Action(
        Kind.UPDATE,
        target.name,
        contact_id,
        values.get("email"),
        vendor_id=link.vendor_id,
        fields={name: desired.get(name) for name in changed},
        payload=m.to_system(desired, changed),
        full=m.to_system(desired),
        echo=echo,
    )
