"""Issue 16.15: a OneContact create refused by its own duplicate check (the create whose
answer was lost is resent through checkrepeated, and OneContact says the phone number exists)
is recorded once, shown by `status`, never resent, and a person links the record with
`contactsync link EMAIL SYSTEM VENDOR_ID`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sync.cli import main
from sync.sandbox.base import Faults, LoggedRequest
from sync.sandbox.onecontact import OneContactEmulator
from tests.sandbox_world import Sandbox, dialer_config

ADA = {
    "email": "ada@example.org",
    "first_name": "Ada",
    "last_name": "L",
    "phone": "+44 20 7946 0000",
}


def status(config: Path, capsys: pytest.CaptureFixture[str], code: int = 0) -> dict:
    """`status --format json`; exit 1 while the last run of a system failed."""
    capsys.readouterr()
    assert main(["--config", str(config), "status", "--format", "json"]) == code
    return json.loads(capsys.readouterr().out)


def test_a_refused_create_is_recorded_shown_once_and_linked_by_a_person(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONECONTACT_TOKEN", OneContactEmulator.DEFAULT_ENV["ONECONTACT_TOKEN"])
    dialer = OneContactEmulator()
    sb = Sandbox(
        tmp_path, {"dialer": dialer}, {"crm": {}}, tables={"dialer": {"check_repeated": False}}
    )
    sb.records("crm")["c1"] = {"id": "c1", **ADA}
    lost = [True]

    def first_create_answer_lost(r: LoggedRequest) -> str | None:
        if r.method == "POST" and lost[0]:
            lost[0] = False
            return "lost_response"
        return None

    dialer.faults = Faults(script=first_create_answer_lost)
    sb.run()  # the create landed, its answer was lost
    refused = sb.run()  # resent through checkrepeated: refused, as the number exists
    assert [
        "duplicate check refused it" in f["reason"] for f in refused.system("dialer").failed
    ] == [True]
    config = dialer_config(sb, tmp_path)
    [shown] = status(config, capsys, code=1)["unlinked"]  # the refusal failed that run
    assert (shown["system"], shown["email"]) == ("dialer", "ada@example.org")
    posts = [r for r in dialer.log if r.method == "POST"]
    for _ in range(2):
        quiet = sb.run()
        assert quiet.exit_code == 0 and quiet.system("dialer").failed == [], "reported again"
    assert [r for r in dialer.log if r.method == "POST"] == posts, "resent"
    [held] = dialer.people()
    assert main(["--config", str(config), "link", "ada@example.org", "dialer", held["id"]]) == 0
    assert status(config, capsys)["unlinked"] == []
    linked = sb.run()  # the contact's values go to the record it was linked to
    assert linked.system("dialer").updated == 1 and linked.exit_code == 0
    sb.records("crm")["c1"]["last_name"] = "Lovelace"
    assert sb.run().system("dialer").updated == 1  # and later edits follow
    [person] = dialer.people()
    assert (person["id"], person["last_name"]) == (held["id"], "Lovelace")
    assert sb.run().writes == 0


def test_link_and_unlink_refuse_what_they_cannot_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONECONTACT_TOKEN", OneContactEmulator.DEFAULT_ENV["ONECONTACT_TOKEN"])
    sb = Sandbox(tmp_path, {"dialer": OneContactEmulator()}, {"crm": {}})
    sb.records("crm")["c1"] = {"id": "c1", **ADA}
    sb.run()
    config = dialer_config(sb, tmp_path)
    base = ["--config", str(config)]
    cases = [
        (["link", "nobody@example.org", "dialer", "9"], "no contact with email"),
        (["link", "ada@example.org", "nowhere", "9"], "no system 'nowhere'"),
        (["link", "ada@example.org", "dialer", "9"], "linked to dialer record"),
        (["unlink", "ada@example.org", "crm"], "lists its records"),
    ]
    for args, said in cases:
        capsys.readouterr()
        assert main([*base, *args]) == 2, args
        err = capsys.readouterr().err
        assert said in err and "Traceback" not in err, (args, err)
    dialer: OneContactEmulator = sb.emulators["dialer"]  # type: ignore[assignment]
    [gone] = dialer.people()
    dialer.remove(gone["id"])  # a person deletes it in OneContact, then tells contactsync
    assert main([*base, "unlink", "ada@example.org", "dialer"]) == 0
    assert sb.run().system("dialer").created == 1
    [again] = dialer.people()
    assert again["id"] != gone["id"] and again["email"] == "ada@example.org"
