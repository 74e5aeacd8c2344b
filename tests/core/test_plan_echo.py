"""Planning echoes a contact once per distinct mapping, with the same result as echoing it
for each system."""

from __future__ import annotations

from typing import Any

import pytest

from sync.contact import Schema
from sync.mapping import Mapping
from sync.mapping_file import compile_mapping
from sync.plan import LinkState, Target, plan_contact

schema = Schema(phone_region="US")


def _mapping(role_path: str = "role") -> Mapping:
    raw = {
        "id": "id",
        "fields": {
            "email": {"path": "email"},
            "phone": {"path": "tel"},
            "title": {"path": role_path},
        },
    }
    return compile_mapping(raw, "m.toml")


@pytest.fixture
def echoes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = Mapping.echo

    def counted(self: Mapping, record: Any, s: Schema) -> Any:
        calls.append(self.fingerprint)
        return real(self, record, s)

    monkeypatch.setattr(Mapping, "echo", counted)
    return calls


values = {"email": "a@b.org", "phone": "+12025550100", "title": "X"}


def _plan(a: Mapping, b: Mapping, held: set[str] | None = None) -> Any:
    targets = {"a": Target("a", a, True, True, True), "b": Target("b", b, True, True, True)}
    links = {"a": LinkState("1", {"email": "a@b.org", "phone": "+12025550100", "title": "Y"})}
    acts, fails = plan_contact(
        "c1", values, held=held or set(), links=links, targets=targets, schema=schema
    )
    assert fails == []
    return {x.system: x for x in acts}


def test_systems_mapped_alike_share_one_echo(echoes: list[str]) -> None:
    a, b = _mapping(), _mapping()
    acts = _plan(a, b)
    assert len(echoes) == 1  # the update's check and the create: one echo
    expected = a.echo(values, schema)
    assert acts["a"].echo == expected and acts["b"].echo == expected
    assert acts["a"].echo is not acts["b"].echo  # each action owns its record
    assert acts["a"].payload == {"role": "X"} and acts["b"].kind == "create"


def test_systems_mapped_differently_echo_each(echoes: list[str]) -> None:
    a, b = _mapping(), _mapping("job")
    acts = _plan(a, b)
    assert len(echoes) == 2
    assert acts["b"].payload == {"email": "a@b.org", "tel": "+12025550100", "job": "X"}


def test_a_held_field_is_echoed_apart(echoes: list[str]) -> None:
    acts = _plan(_mapping(), _mapping(), held={"title"})
    assert len(echoes) == 2  # the held record differs from the values
    assert "a" not in acts  # the held title keeps what a has: nothing to update
    assert acts["b"].echo["title"] == "X"
