"""The run's rules on plain data: decide() over frozen rows and normalised listings, with no
store, no connector and no clock. Guards, duplicates, first sight, edit against delete, and
the creates that must wait."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from sync.contact import Schema
from sync.decide import decide
from sync.decision import Decision, Recovered, Rules
from sync.mapping_file import identity_mapping
from sync.observe import Listed, Observations, Seen, normalise
from sync.plan import Target
from sync.rows import ContactRow, LinkRow, View
from sync.states import ConflictStatus, Kind

AT = datetime(2024, 5, 1, tzinfo=UTC)
SCHEMA = Schema()
MAP = identity_mapping(SCHEMA)
SYSTEMS = ("crm", "desk", "dialer")


def rules(systems: tuple[str, ...] = ("crm", "desk"), **kw: Any) -> Rules:
    """Rules over `systems` (dialer: a third, write-only one the tests of creates add)."""
    targets = {n: Target(n, MAP, True, True, True) for n in systems}
    base: dict[str, Any] = {"max_delete_fraction": 0.5, "policy": "manual"}
    return Rules(SCHEMA, dict.fromkeys(SYSTEMS, MAP), targets, **(base | kw))


def world(people: int, systems: tuple[str, ...] = ("crm", "desk"), **fields: Any) -> View:
    """`people` contacts p0..pN, each linked in `systems` as <system>-<i>, all agreeing."""
    contacts, links = [], []
    ids = itertools.count(1)
    for i in range(people):
        base = {"email": f"p{i}@example.org", **fields}
        contacts.append(ContactRow(f"c{i}", base["email"], base))
        links += [LinkRow(next(ids), f"c{i}", s, f"{s}-{i}", dict(base)) for s in systems]
    return View.of(contacts, links, [], linked={s: people for s in systems})


def listing(system: str, records: dict[str, dict[str, Any]], **kw: Any) -> Listed:
    rows = [Seen(vid, dict(rec)) for vid, rec in records.items()]
    return Listed(system, kw.pop("full", True), kw.pop("complete", True), rows, **kw)


def seen(*listed: Listed) -> Observations:
    return Observations(systems={ls.system: ls for ls in listed})


def everyone(view: View, system: str, but: set[int] = frozenset(), **edits: Any) -> Listed:  # type: ignore[assignment]
    """The system listing every linked record of `view` except those of people `but`."""
    records = {
        ln.vendor_id: {**ln.snapshot, **edits}
        for (s, _), ln in view.links.items()
        if s == system and int(ln.contact_id[1:]) not in but
    }
    return listing(system, records)


def run(view: View, obs: Observations, **kw: Any) -> Decision:
    counter = itertools.count(100)
    return decide(
        view,
        obs,
        kw.pop("rules", None) or rules(),
        at=AT,
        plans_all=True,
        new_id=lambda: f"n{next(counter)}",
        **kw,
    )


def deletes(d: Decision) -> set[str]:
    return {a.vendor_id or "" for a in d.actions if a.kind == Kind.DELETE}


# --- the deletion guards ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "vanished", "options", "deleted", "held"),
    [
        ("one of four, under the fraction", {1}, {}, {"desk-1"}, set()),
        ("three of four, over the fraction", {0, 1, 2}, {}, set(), {"crm-0", "crm-1", "crm-2"}),
        ("over the fraction, mass delete allowed", {0, 1, 2}, {"allow": True}, {"desk-0", "desk-1", "desk-2"}, set()),  # noqa: E501
        ("the system lists nothing", {0, 1, 2, 3}, {}, set(), {"crm-0", "crm-1", "crm-2", "crm-3"}),
        ("over the fraction, one allowed by a person", {0, 1, 2}, {"allowed": "crm-1"}, {"desk-1"}, {"crm-0", "crm-2"}),  # noqa: E501
        ("an incomplete listing", {0, 1, 2}, {"complete": False}, set(), set()),
        ("an incremental listing", {0, 1, 2}, {"full": False}, set(), set()),
    ],
)  # fmt: skip
def test_deletion_guards(
    case: str, vanished: set[int], options: dict[str, Any], deleted: set[str], held: set[str]
) -> None:
    view = world(4)
    if "allowed" in options:
        view.allowed = {("crm", options["allowed"]): 77}
    crm = everyone(view, "crm", but=vanished)
    crm.full, crm.complete = options.get("full", True), options.get("complete", True)
    d = run(
        view,
        seen(crm, everyone(view, "desk")),
        rules=rules(allow_mass_delete=options.get("allow", False)),
    )
    assert deletes(d) == deleted, case
    assert {h.vendor_id for h in d.held} == held, case
    assert bool(d.held_why.get("crm")) == bool(held), case
    if "allowed" in options:
        assert d.released == [77], "the listing settles the allowance"
    gone_contacts = {c.id for c in d.changed if c.deleted_at is not None}
    assert gone_contacts == {f"c{v[-1]}" for v in deleted}, case


def test_ignored_deletes_only_unlink() -> None:
    view = world(4)
    d = run(
        view,
        seen(everyone(view, "crm", but={1}), everyone(view, "desk")),
        rules=rules(ignore_deletes=frozenset({"crm"})),
    )
    assert d.actions == [] and deletes(d) == set()
    assert d.gone == [next(ln.id for ln in view.links.values() if ln.vendor_id == "crm-1")]
    assert not any(c.deleted_at for c in d.changed)


# --- duplicates ------------------------------------------------------------------------------


def test_two_records_of_one_system_with_one_email_are_not_merged() -> None:
    d = run(
        View(),
        seen(
            listing("crm", {"a": {"email": "ada@example.org"}, "b": {"email": "ada@example.org"}})
        ),
    )
    assert [(f.vendor_id, "share this email" in f.reason) for f in d.failures] == [
        ("a", True),
        ("b", True),
    ]
    assert d.new == set() and d.actions == []


@pytest.mark.parametrize(
    ("case", "old_listed", "full", "duplicate"),
    [
        ("the linked record is still listed", True, True, True),
        ("an incremental listing cannot say it is gone", False, False, True),
        ("a full listing shows it gone: the new record takes the link", False, True, False),
    ],
)
def test_a_new_record_with_the_email_of_a_linked_contact(
    case: str, old_listed: bool, full: bool, duplicate: bool
) -> None:
    view = world(1)
    records = {"crm-new": {"email": "p0@example.org", "title": "Chief"}}
    if old_listed:
        records["crm-0"] = {"email": "p0@example.org"}
    d = run(view, seen(listing("crm", records, full=full), everyone(view, "desk")))
    said = [f.reason for f in d.failures if "already holds this email" in f.reason]
    assert bool(said) == duplicate, case
    if not duplicate:
        assert d.links[("c0", "crm")].vendor_id == "crm-new", "the link moves to the new record"
        assert deletes(d) == set() and d.held == []
        assert [(a.system, a.kind, a.fields) for a in d.actions] == [
            ("desk", Kind.UPDATE, {"title": "Chief"})
        ]


def test_two_records_with_one_vendor_id_are_a_duplicate_named_by_where_they_sit() -> None:
    view = world(1)
    listed = Listed("crm", full=True, complete=True)
    out = Observations()
    records: list[tuple[str, dict[str, Any], str | None, str | None]] = [
        ("crm-0", {"id": "crm-0", "email": "p0@example.org"}, "line 3", None),
        ("crm-0", {"id": "crm-0", "email": "other@example.org"}, "line 7", None),
        ("crm-9", {"id": "crm-9", "email": "new@example.org"}, "line 9", None),
    ]
    normalise(listed, records, MAP, SCHEMA, None, out)
    out.systems["crm"] = listed
    d = run(view, out)
    [failure] = d.failures
    assert failure.vendor_id == "crm-0" and "line 3 and line 7" in failure.reason
    assert "crm" in d.read_failed
    assert deletes(d) == set() and d.held == [], "a duplicated ID is not a vanished record"
    assert set(d.new) == {"n100"} and d.contacts["n100"].email == "new@example.org"
    assert not any(a.contact_id == "c0" for a in d.actions)


def test_a_record_the_connector_cannot_read_fails_alone_and_is_no_deletion() -> None:
    """VendorRecord.error (a malformed card): that record fails with the connector's reason,
    its data is never mapped, its contact is left as it is, and the others sync."""
    view = world(3)
    listed = Listed("crm", full=True, complete=True)
    out = Observations()
    records: list[tuple[str, dict[str, Any], str | None, str | None]] = [
        ("crm-0", {}, None, "crm-0: END:VCARD is missing"),  # linked to c0
        ("crm-1", {"email": "p1@example.org", "title": "Chief"}, None, None),
        ("crm-2", {"email": "p2@example.org"}, None, None),
    ]
    normalise(listed, records, MAP, SCHEMA, None, out)
    out.systems["crm"] = listed
    d = run(view, out)
    assert [(f.system, f.vendor_id, f.reason) for f in d.failures] == [
        ("crm", "crm-0", "crm-0: END:VCARD is missing")
    ]
    assert "crm" in d.read_failed  # its cursor waits until the record is read
    assert deletes(d) == set() and d.held == [], "an unreadable record is not a vanished one"
    assert not any(a.contact_id == "c0" for a in d.actions)
    assert [(a.system, a.contact_id, a.kind) for a in d.actions] == [("desk", "c1", Kind.UPDATE)]


# --- first sight -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "newcomer", "conflict", "update_crm"),
    [
        ("a value that differs from the agreed one", {"title": "Duchess"}, True, {}),
        ("the agreed value", {"title": "Analyst"}, False, {}),
        (
            "a value nobody holds yet",
            {"title": "Analyst", "city": "Paris"},
            False,
            {"city": "Paris"},
        ),
    ],
)
def test_a_newcomer_is_set_against_the_system_holding_the_base(
    case: str, newcomer: dict[str, Any], conflict: bool, update_crm: dict[str, Any]
) -> None:
    view = world(1, ("crm",), title="Analyst")
    d = run(
        view,
        seen(
            everyone(view, "crm"), listing("desk", {"d1": {"email": "p0@example.org", **newcomer}})
        ),
    )
    assert d.links[("c0", "desk")].vendor_id == "d1"
    opened = [(c.field, c.status, set(c.values)) for c in d.new_conflicts]
    expected = [("title", ConflictStatus.OPEN, {"crm", "desk"})] if conflict else []
    assert opened == expected, case
    to_crm = [a.fields for a in d.actions if a.system == "crm"]
    assert to_crm == ([update_crm] if update_crm else []), case
    assert not any(a.system == "desk" and "title" in a.fields for a in d.actions), (
        "a newcomer overwritten"
    )


# --- edit against delete ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "edit", "kept"),
    [("edited elsewhere", {"title": "Countess"}, True), ("not edited", {}, False)],
)
def test_an_edit_elsewhere_beats_a_delete(case: str, edit: dict[str, Any], kept: bool) -> None:
    view = world(4, ("crm", "desk"), title="Analyst")
    desk = everyone(view, "desk")
    desk.rows = [
        replace(r, record={**(r.record or {}), **edit}) if r.vendor_id == "desk-2" else r
        for r in desk.rows
    ]
    d = run(view, seen(everyone(view, "crm", but={2}), desk))
    crm_link = next(ln for ln in view.links.values() if ln.vendor_id == "crm-2")
    assert crm_link in d.dropped, case
    mine = [(a.system, a.kind) for a in d.actions if a.contact_id == "c2"]
    if kept:
        assert mine == [("crm", Kind.CREATE)] and any("kept and re-created" in n for n in d.notes)
        assert d.contacts["c2"].deleted_at is None and d.contacts["c2"].base["title"] == "Countess"
    else:
        assert mine == [("desk", Kind.DELETE)] and d.contacts["c2"].deleted_at == AT


# --- creates that must wait ------------------------------------------------------------------


def newcomer_from_crm() -> Listed:
    return listing("crm", {"a": {"email": "ada@example.org"}})


@pytest.mark.parametrize(
    ("case", "desk", "recovered", "unlinked", "sent", "retry"),
    [
        ("desk listed completely", {"complete": True}, None, False, True, False),
        ("desk's listing was cut short", {"complete": False}, None, False, False, True),
        ("desk's listing failed", {"complete": False, "failure": "credentials refused"}, None, False, False, True),  # noqa: E501
        ("an earlier attempt could not be looked up", {"complete": True}, "blocked", False, False, True),  # noqa: E501
        ("desk holds the contact unlinked", {"complete": True}, None, True, False, False),
    ],
)  # fmt: skip
def test_a_create_waits_while_the_target_might_hold_the_contact(
    case: str,
    desk: dict[str, Any],
    recovered: str | None,
    unlinked: bool,
    sent: bool,
    retry: bool,
) -> None:
    found = Recovered(blocked={("desk", "ada@example.org"): "lookup failed"}) if recovered else None
    view = View()
    obs = seen(newcomer_from_crm(), listing("desk", {}, **desk))
    if unlinked:  # a contact known already, whose create desk refused as a duplicate
        view = View.of([ContactRow("c1", "ada@example.org", {"email": "ada@example.org"})], [], [])
        view.unlinked = {("desk", "c1")}
    d = run(view, obs, recovered=found, rules=rules(SYSTEMS))
    to_desk = [a for a in d.actions if a.system == "desk"]
    assert bool(to_desk) == sent, case
    assert any(a.system == "dialer" and a.kind == Kind.CREATE for a in d.actions), (
        "write-only waits"
    )
    [contact] = d.contacts.values()
    assert contact.dirty == retry, case
    assert (d.deferred["desk"] == 1) == (not sent and not recovered and not unlinked), case


def test_a_create_whose_earlier_attempt_may_have_landed_goes_through_the_duplicate_check() -> None:
    found = Recovered(recheck=frozenset({("dialer", "ada@example.org")}))
    d = run(View(), seen(newcomer_from_crm()), recovered=found, rules=rules(SYSTEMS))
    flags = {a.system: a.unless_exists for a in d.actions}
    assert flags == {"desk": False, "dialer": True}
