"""A CSV system has no change listing, so every run lists the whole file: once a run has
read the file back, the rows it wrote or read are recognised by their raw hash and none is
normalised again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sync.cli import main

HEADER = "id,email,first_name,last_name,mobile,title\n"


def test_the_no_op_after_an_initial_csv_sync_normalises_nothing(
    tmp_path: Path, normalised: list[Any]
) -> None:
    rows = [f"c{i},p{i}@example.org,Person,{i},+1303{2000000 + i},Driver\n" for i in range(20)]
    (tmp_path / "crm.csv").write_text(HEADER + "".join(rows))
    (tmp_path / "shop.csv").write_text(HEADER)
    (tmp_path / "sync.toml").write_text(
        f'[state]\nurl = "sqlite:///{tmp_path / "state.db"}"\n\n'
        '[systems.crm]\nconnector = "csv"\npath = "crm.csv"\n\n'
        '[systems.shop]\nconnector = "csv"\npath = "shop.csv"\n'
    )
    config = ["--config", str(tmp_path / "sync.toml")]
    assert main([*config, "once"]) == 0
    assert (tmp_path / "shop.csv").read_text().count("\n") == 21
    normalised.clear()
    assert main([*config, "once", "--format", "json"]) == 0
    assert normalised == []
    # an edited row is normalised and carried to the other file
    crm = (
        (tmp_path / "crm.csv")
        .read_text()
        .replace("c3,p3@example.org,Person,3", "c3,p3@example.org,Ada,3")
    )
    (tmp_path / "crm.csv").write_text(crm)
    assert main([*config, "once"]) == 0
    # the edited row, and shop's answer to the update it caused: nothing else
    assert normalised and {row["email"] for row in normalised} == {"p3@example.org"}
    assert len(normalised) <= 2
    assert ",p3@example.org,Ada," in (tmp_path / "shop.csv").read_text()
