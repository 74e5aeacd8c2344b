"""Engine scenarios with a real address book (Radicale and Xandikos) beside a CSV file and a
vendor emulator: two-way sync, a no-op run writing nothing, a conflict, deletions with their
guards, the forced 412, and the unmapped properties of a card surviving contactsync's edits."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path
from typing import Any

import httpx

from sync.engine import Engine
from sync.report import RunReport
from sync.sandbox.lightening import LighteningEmulator
from sync.store.repo import Store
from tests.connectors.test_carddav import OTHER, UNMAPPED
from tests.davservers import ENV, DavProxy, DavServer, dav, fake_server, radicale, xandikos
from tests.helpers import settings_from

__all__ = ["dav", "radicale", "xandikos"]

CSV_HEAD = "id,email,first_name,last_name,mobile,title\n"


class World:
    """An address book on `server`, a CSV file and optionally a Lightening emulator."""

    def __init__(self, server: DavServer, tmp: Path, *, desk: bool = False, **sync: Any):
        self.server, self.tmp = server, tmp
        self.url = server.new_book()
        self.proxy = DavProxy(server)
        self.csv = tmp / "crm.csv"
        if not self.csv.exists():
            self.csv.write_text(CSV_HEAD)
        systems: dict[str, Any] = {
            "book": server.table(self.url, cache_dir=str(tmp / "cache")),
            "crm": {"connector": "csv", "path": str(self.csv), "stamp_updates": False},
        }
        env = dict(ENV)
        self.transports: dict[str, httpx.AsyncBaseTransport] = {}
        self.desk: LighteningEmulator | None = None
        if desk:
            self.desk = LighteningEmulator()
            systems["desk"] = {**self.desk.system_table("http://desk.test"), "backoff": 0}
            env.update(LighteningEmulator.DEFAULT_ENV)
        raw = {
            "state": {"url": f"sqlite:///{tmp / 'state.db'}"},
            "sync": {"max_delete_fraction": 0.5, **sync},
            "systems": systems,
        }
        self.settings = settings_from(raw, Path.cwd(), env)
        self.store = Store(self.settings.state_url)

    def run(self, **kw: Any) -> RunReport:
        transports = {"book": self.proxy.transport()}
        if self.desk is not None:
            transports["desk"] = self.desk.transport()
        engine = Engine(self.settings, self.store, transports=transports)
        return asyncio.run(engine.run(**kw))

    def rows(self) -> dict[str, dict[str, str]]:
        with self.csv.open(newline="") as fh:
            return {r["email"]: r for r in csv.DictReader(fh)}

    def add_row(self, **fields: str) -> None:
        with self.csv.open("a", newline="") as fh:
            csv.DictWriter(fh, fieldnames=CSV_HEAD.strip().split(",")).writerow(fields)

    def set_cell(self, email: str, column: str, value: str) -> None:
        rows = list(self.rows().values())
        for r in rows:
            if r["email"] == email:
                r[column] = value
        with self.csv.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)

    def cards(self) -> dict[str, str]:
        """name -> text of every card in the book, read as another client would."""
        with self.server.client() as c:
            body = (
                '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/>'
                "</D:prop></D:propfind>"
            )
            r = c.request("PROPFIND", self.url, content=body,
                          headers={"Depth": "1", "Content-Type": "application/xml"})  # fmt: skip
            names = [
                seg.split("<")[0]
                for seg in r.text.split(self.url[len(self.server.origin) :])[1:]
                if seg.split("<")[0]
            ]
            return {n: c.get(self.url + n).text for n in names}

    def card_with(self, needle: str) -> tuple[str, str]:
        found = [(n, t) for n, t in self.cards().items() if needle in t]
        assert len(found) == 1, (needle, list(self.cards()))
        return found[0]


def test_two_way_with_a_csv_file_then_a_run_that_writes_nothing(
    dav: DavServer, tmp_path: Path
) -> None:
    w = World(dav, tmp_path)
    w.add_row(id="c1", email="ada@example.org", first_name="Ada", last_name="Lovelace",
              mobile="+14155550100", title="Analyst")  # fmt: skip
    assert dav.put(w.url, "grace.vcf", OTHER).is_success
    first = w.run()
    assert not any(r.failed for r in first.systems.values()), first.systems
    assert w.rows()["grace@navy.example.org"]["title"] == "Programmer"
    _, ada = w.card_with("ada@example.org")
    assert "FN:Ada Lovelace" in ada and "TEL;TYPE=CELL:+14155550100" in ada

    w.proxy.log.clear()
    quiet = w.run()
    assert quiet.writes == 0 and w.proxy.writes() == []
    assert [m for m, _, _ in w.proxy.log] == ["REPORT"]  # one sync-collection, nothing else

    # an edit on each side travels to the other; Grace's unmapped lines survive
    w.set_cell("grace@navy.example.org", "title", "Rear Admiral")
    name, ada_text = w.card_with("ada@example.org")
    assert dav.put(w.url, name, ada_text.replace("TITLE:Analyst", "TITLE:Countess")).is_success
    w.run()
    assert w.rows()["ada@example.org"]["title"] == "Countess"
    _, grace = w.card_with("grace@navy.example.org")
    assert "TITLE:Rear Admiral" in grace
    for kept in UNMAPPED:
        assert kept in grace, kept
    again = w.run()
    assert again.writes == 0


def test_the_same_field_changed_on_both_sides_is_a_conflict(dav: DavServer, tmp_path: Path) -> None:
    w = World(dav, tmp_path)  # conflict_policy manual: each side keeps its value
    assert dav.put(w.url, "grace.vcf", OTHER).is_success
    w.run()
    w.set_cell("grace@navy.example.org", "title", "Commodore")
    assert dav.put(w.url, "grace.vcf", OTHER.replace("Programmer", "Admiral")).is_success
    report = w.run()
    assert report.open_conflicts == 1
    assert "TITLE:Admiral" in dav.get(w.url, "grace.vcf").text
    assert w.rows()["grace@navy.example.org"]["title"] == "Commodore"


def test_deletions_carry_over_and_an_emptied_book_is_held(dav: DavServer, tmp_path: Path) -> None:
    w = World(dav, tmp_path)
    for i in range(4):
        card = OTHER.replace("other-client-1", f"p{i}").replace("grace@navy", f"p{i}@navy")
        assert dav.put(w.url, f"p{i}.vcf", card).is_success
    w.run()
    assert len(w.rows()) == 4
    with dav.client() as c:
        assert c.delete(w.url + "p0.vcf").is_success
    w.run()  # incremental: a change listing cannot show a deletion
    assert len(w.rows()) == 4
    w.run(full_scan=True)
    assert set(w.rows()) == {f"p{i}@navy.example.org" for i in (1, 2, 3)}
    with dav.client() as c:
        for i in (1, 2, 3):
            assert c.delete(w.url + f"p{i}.vcf").is_success
    held = w.run(full_scan=True)
    assert held.systems["crm"].deleted == 0 and any(r.held for r in held.systems.values())
    assert len(w.rows()) == 3


def test_another_client_editing_between_listing_and_write_is_merged(
    dav: DavServer, tmp_path: Path
) -> None:
    """The forced 412: just before contactsync's PUT lands, another client changes the card
    (NOTE and TEL). The PUT is refused (412), the card read again, contactsync's title laid
    over the other client's edit; nothing of either is lost, and the next run writes nothing
    more than carrying the other client's mobile to the CSV file."""
    w = World(dav, tmp_path)
    assert dav.put(w.url, "grace.vcf", OTHER).is_success
    w.run()
    w.set_cell("grace@navy.example.org", "title", "Rear Admiral")
    theirs = OTHER.replace("NOTE:Invented", "NOTE:Also invented").replace(
        "+1 202 555 0100", "+1 202 555 0199"
    )

    def meanwhile(request: httpx.Request) -> None:
        if request.method == "PUT" and request.url.path.endswith("grace.vcf"):
            w.proxy.before = None
            assert dav.put(w.url, "grace.vcf", theirs).is_success

    w.proxy.before = meanwhile
    w.proxy.log.clear()
    report = w.run()
    assert not report.systems["book"].failed
    assert next(s for m, _, s in w.proxy.log if m == "PUT") == 412
    text = dav.get(w.url, "grace.vcf").text
    assert "TITLE:Rear Admiral" in text and "Also invented" in text and "202 555 0199" in text
    for kept in UNMAPPED:
        assert kept in text, kept
    w.run()
    assert w.rows()["grace@navy.example.org"]["mobile"] == "+12025550199"
    assert w.run().writes == 0


def test_two_way_with_a_vendor_emulator(dav: DavServer, tmp_path: Path) -> None:
    w = World(dav, tmp_path, desk=True)
    assert w.desk is not None
    linus = w.desk.seed_person({"email": "linus@example.org", "first_name": "Linus",
                                "last_name": "Torvalds", "title": "Maintainer"})  # fmt: skip
    assert dav.put(w.url, "grace.vcf", OTHER).is_success
    first = w.run()
    assert not any(r.failed for r in first.systems.values()), first.systems
    _, card = w.card_with("linus@example.org")
    assert "FN:Linus Torvalds" in card and "TITLE:Maintainer" in card
    people = {p["email"]: p for p in w.desk.people()}
    assert people["grace@navy.example.org"]["title"] == "Programmer"
    assert w.run().writes == 0
    w.desk.edit(linus, title="Benevolent Dictator")
    w.run()
    assert "TITLE:Benevolent Dictator" in w.card_with("linus@example.org")[1]
    assert w.rows()["linus@example.org"]["title"] == "Benevolent Dictator"
    assert w.run().writes == 0


def test_a_malformed_card_fails_alone_and_the_run_goes_on(tmp_path: Path) -> None:
    csv_file = tmp_path / "crm.csv"
    csv_file.write_text(CSV_HEAD)
    raw = {
        "state": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
        "systems": {
            "book": {
                "connector": "carddav",
                "url": "http://dav.test/book/",
                "cache_dir": str(tmp_path / "cache"),
            },
            "crm": {"connector": "csv", "path": str(csv_file)},
        },
    }
    settings = settings_from(raw, tmp_path)
    cards = {"good.vcf": OTHER, "bad.vcf": "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:cut\r\n"}
    engine = Engine(settings, Store(settings.state_url), transports={"book": fake_server(cards)})
    report = asyncio.run(engine.run())
    failed = report.systems["book"].failed
    assert [f["vendor_id"] for f in failed] == ["bad.vcf"]
    assert "bad.vcf: END:VCARD is missing" in failed[0]["reason"]
    assert "grace@navy.example.org" in csv_file.read_text()
