"""OneContact's own duplicate check, end to end against its emulator (issues 16.15 and 12.5):
a create it refuses (check_repeated = true and the number is there) is recorded as held
unlinked, said once, never resent and linked by a person; with check_repeated = false a
refusal stays a failed record, and a create answered without an ID is never duplicated."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sync.cli import main
from sync.sandbox.onecontact import OneContactEmulator
from tests.sandbox_world import Sandbox, dialer_config

ADA = {"email": "ada@example.org", "first_name": "Ada", "phone": "+44 20 7946 0000"}
BO = {"email": "bo@example.org", "first_name": "Bo", "phone": "+44 20 7946 0001"}


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONECONTACT_TOKEN", OneContactEmulator.DEFAULT_ENV["ONECONTACT_TOKEN"])


def world(tmp_path: Path, dialer: OneContactEmulator, check_repeated: bool) -> Sandbox:
    tables = {"dialer": {"check_repeated": check_repeated}}
    sb = Sandbox(tmp_path, {"dialer": dialer}, {"crm": {}}, tables=tables)
    for n, person in enumerate((ADA, BO), 1):
        sb.records("crm")[f"c{n}"] = {"id": f"c{n}", **person}
    return sb


def status(config: Path, capsys: pytest.CaptureFixture[str], code: int = 0) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["--config", str(config), "status", "--format", "json"]) == code
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    return data


def posts(dialer: OneContactEmulator) -> list[str]:
    """The creates sent: the checkrepeated flag of each, in order."""
    return [r.path.rsplit("/", 1)[1] for r in dialer.log if r.method == "POST"]


def test_a_create_its_duplicate_check_refuses_is_held_unlinked_said_once_and_linked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dialer = OneContactEmulator()
    held = dialer.seed_person({"phone": "+442079460000", "first_name": "Ada"})  # by hand
    sb = world(tmp_path, dialer, check_repeated=True)
    first = sb.run()
    [refused] = first.system("dialer").failed
    assert refused["email"] == "ada@example.org"
    assert "duplicate check refused" in refused["reason"] and "+442079460000" in refused["reason"]
    assert "contactsync link" in refused["reason"]
    assert first.system("dialer").created == 1  # bo, whose number is new
    config = dialer_config(sb, tmp_path, check_repeated=True)
    [shown] = status(config, capsys, code=1)["unlinked"]  # the refusal failed that run
    assert (shown["system"], shown["email"]) == ("dialer", "ada@example.org")
    sent = posts(dialer)
    assert sent == ["true", "true"]
    for _ in range(2):
        quiet = sb.run()
        assert quiet.exit_code == 0 and quiet.system("dialer").failed == [], "said again"
    assert posts(dialer) == sent, "resent"
    assert status(config, capsys)["unlinked"] == [shown]  # shown until a person acts
    assert main(["--config", str(config), "link", "ada@example.org", "dialer", held]) == 0
    assert status(config, capsys)["unlinked"] == []
    linked = sb.run()  # the contact's values go to the record it was linked to
    assert linked.system("dialer").updated == 1 and linked.exit_code == 0
    by_phone = {p["phone"]: p for p in dialer.people()}
    assert len(dialer.people()) == 2 and by_phone["+442079460000"]["id"] == held
    assert by_phone["+442079460000"]["email"] == "ada@example.org"
    assert sb.run().writes == 0


def test_without_the_duplicate_check_a_refused_create_stays_a_failed_record(
    tmp_path: Path,
) -> None:
    """check_repeated = false: OneContact's refusal cannot mean "it exists" (a field the
    service makes mandatory is missing): the record fails and is tried again next run."""
    dialer = OneContactEmulator(extras=("Email", "LastName", "Company", "Mobile"))  # no FirstName
    sb = world(tmp_path, dialer, check_repeated=False)
    for _ in range(2):
        report = sb.run()
        failed = report.system("dialer").failed
        assert len(failed) == 2 and all("mandatory" in f["reason"] for f in failed), failed
    assert posts(dialer) == ["false"] * 4  # each run sends them again
    assert dialer.people() == []


def test_a_create_answered_without_an_id_is_never_duplicated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 12.5 against the emulator: check_repeated = false, and ada's create lands but is
    answered without its ID (OutcomeUnknown: journalled `unknown`). The next run cannot look
    it up (OneContact has no read call), so it resends it only through checkrepeated=true,
    which refuses it: held unlinked, said once, and never sent again."""
    dialer = OneContactEmulator()
    dialer.withhold_ids = {"+442079460000"}
    sb = world(tmp_path, dialer, check_repeated=False)
    first = sb.run()
    [unknown] = first.system("dialer").failed
    assert unknown["email"] == "ada@example.org" and "without an ID" in unknown["reason"]
    assert first.system("dialer").created == 1  # bo's answer carried its ID
    assert sorted(posts(dialer)) == ["false", "false"]
    second = sb.run()  # resent through the duplicate check only: refused, the number is there
    assert len(dialer.people()) == 2, "duplicated"
    [refused] = second.system("dialer").failed
    assert "duplicate check refused it" in refused["reason"]
    assert posts(dialer)[2:] == ["true"]
    for _ in range(2):
        quiet = sb.run()
        assert quiet.exit_code == 0 and quiet.writes == 0, "said or sent again"
    assert len(posts(dialer)) == 3, "resent"
    phones = sorted(p["phone"] for p in dialer.people())
    assert phones == ["+442079460000", "+442079460001"], "duplicated"
    config = dialer_config(sb, tmp_path, check_repeated=False)
    [shown] = status(config, capsys)["unlinked"]
    assert (shown["system"], shown["email"]) == ("dialer", "ada@example.org")
