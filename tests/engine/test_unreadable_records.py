"""A record a connector lists but cannot read (VendorRecord.error: a malformed card in a
folder or an address book) fails alone with its reason: the run goes on, its contact stays
everywhere (a broken card is not a deleted one), and once the card is mended it syncs."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

from sync.engine import Engine
from sync.report import RunReport
from sync.store.repo import Store
from tests.connectors.test_carddav import OTHER
from tests.helpers import settings_from

CSV_HEAD = "id,email,first_name,last_name,title\n"
SECOND = OTHER.replace("other-client-1", "other-client-2").replace("grace@navy", "ada@navy")


class Folder:
    """A vdir folder of cards and a CSV file, synced by the engine."""

    def __init__(self, tmp: Path) -> None:
        self.cards = tmp / "cards"
        self.cards.mkdir()
        self.csv = tmp / "crm.csv"
        self.csv.write_text(CSV_HEAD)
        raw = {
            "state": {"url": f"sqlite:///{tmp / 'state.db'}"},
            "systems": {
                "book": {
                    "connector": "vdir",
                    "path": str(self.cards),
                    "cache_dir": str(tmp / "cache"),
                },
                "crm": {"connector": "csv", "path": str(self.csv), "stamp_updates": False},
            },
        }
        self.settings = settings_from(raw, tmp)
        self.store = Store(self.settings.state_url)

    def run(self) -> RunReport:
        return asyncio.run(Engine(self.settings, self.store).run())

    def rows(self) -> dict[str, dict[str, str]]:
        with self.csv.open(newline="") as fh:
            return {r["email"]: r for r in csv.DictReader(fh)}


def test_a_card_that_breaks_fails_alone_is_not_deleted_and_syncs_once_mended(
    tmp_path: Path,
) -> None:
    w = Folder(tmp_path)
    (w.cards / "grace.vcf").write_text(OTHER)
    (w.cards / "ada.vcf").write_text(SECOND)
    first = w.run()
    assert first.exit_code == 0, first.systems
    assert set(w.rows()) == {"grace@navy.example.org", "ada@navy.example.org"}

    # another program leaves grace's card cut short, and ada's title changes
    (w.cards / "grace.vcf").write_text(OTHER.replace("END:VCARD\r\n", ""))
    (w.cards / "ada.vcf").write_text(SECOND.replace("Programmer", "Admiral"))
    broken = w.run()
    [failure] = broken.systems["book"].failed
    assert failure["vendor_id"] == "grace.vcf"
    assert failure["reason"] == "grace.vcf: END:VCARD is missing"
    assert broken.exit_code == 1 and broken.systems["crm"].deleted == 0
    rows = w.rows()
    assert rows["grace@navy.example.org"]["title"] == "Programmer", "its contact was touched"
    assert rows["ada@navy.example.org"]["title"] == "Admiral"  # the others sync
    assert w.run().systems["book"].failed == [failure], "said each run while it is broken"

    (w.cards / "grace.vcf").write_text(OTHER.replace("Programmer", "Commodore"))
    mended = w.run()
    assert mended.exit_code == 0 and mended.systems["crm"].updated == 1
    assert w.rows()["grace@navy.example.org"]["title"] == "Commodore"
    assert "Programmer" not in (w.cards / "grace.vcf").read_text()
    assert w.run().writes == 0
