"""fleet.toml: `contactsync fleet check` validates it and every configuration it names at once,
each problem under its own file; two configurations on one store are refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sync.cli import main
from sync.fleet.settings import load_fleet, store_key

QUEUE = '[queue]\nurl = "postgresql://fleet@127.0.0.1:5432/fleet"\n'
CSV = (
    '[systems.a]\nconnector = "csv"\npath = "a.csv"\n'
    '[systems.b]\nconnector = "csv"\npath = "b.csv"\n'
)


def org(root: Path, name: str, body: str) -> Path:
    folder = root / "orgs" / name
    folder.mkdir(parents=True)
    path = folder / "sync.toml"
    path.write_text(body)
    return path


def state(name: str) -> str:
    return f'[state]\nurl = "postgresql://u@db:5432/orgs?options=-csearch_path%3D{name}"\n'


def check(root: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["fleet", "check", "--fleet", str(root / "fleet.toml")])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_good_fleet_lists_its_configurations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "fleet.toml").write_text(
        QUEUE + '[configs]\npaths = ["orgs/*/sync.toml"]\n[defaults.sync]\ninterval = "10m"\n'
    )
    org(tmp_path, "acme", state("acme") + CSV)
    org(tmp_path, "globex", state("globex") + '[sync]\ninterval = "1m"\n' + CSV)
    code, out, _ = check(tmp_path, capsys)
    assert code == 0
    assert "2 configuration(s)" in out
    fleet = load_fleet(tmp_path / "fleet.toml")
    # fleet.toml's defaults fill what a configuration leaves unset, and only that
    assert fleet.members["acme"].interval == 600
    assert fleet.members["globex"].interval == 60


def test_every_problem_at_once_each_under_its_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_SUCH_PASSWORD", raising=False)
    (tmp_path / "fleet.toml").write_text(
        '[queue]\nurl = "postgresql://fleet@127.0.0.1/fleet"\npassword_env = "NO_SUCH_PASSWORD"\n'
        '[configs]\npaths = ["orgs/*/sync.toml", "more/*.toml"]\n'
    )
    bad = org(tmp_path, "bad", state("bad") + '[systems.x]\nconnector = "nosuch"\n')
    org(tmp_path, "one", state("shared") + CSV)
    two = org(tmp_path, "two", state("shared") + CSV)
    code, out, err = check(tmp_path, capsys)
    assert code == 2 and out == ""
    assert f"{bad}: systems.x.connector: unknown connector" in err
    assert f"{two}: state.url: the store of one too" in err
    assert "fleet.toml: queue.password_env: environment variable NO_SUCH_PASSWORD is not set" in err
    assert "fleet.toml: configs.paths[1]: no file matches more/*.toml" in err
    assert "Traceback" not in err


def test_fleet_toml_itself_wrong_still_checks_the_configurations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "fleet.toml").write_text(
        '[queue]\nurl = "postgresql://fleet:hunter2@127.0.0.1/fleet"\n'
        '[configs]\npaths = ["orgs/*/sync.toml"]\n[worker]\nconcurrency = 0\ntick = "7s"\n'
        "colour = 1\n"
    )
    bad = org(tmp_path, "bad", state("bad") + '[sync]\ninterval = "soon"\n' + CSV)
    code, _, err = check(tmp_path, capsys)
    assert code == 2
    assert "queue.url: Value error, holds a password" in err
    assert "hunter2" not in err
    assert "worker.concurrency" in err and "worker.tick" in err
    assert "worker.colour: unknown key" in err
    assert f"{bad}: sync.interval" in err


def test_a_store_is_told_apart_by_database_and_schema() -> None:
    base = "postgresql+psycopg://u:secret@db:5432/orgs"
    assert store_key(base) == store_key(
        "postgresql://other@db:5432/orgs?options=-csearch_path%3Dpublic"
    )
    assert store_key(base) != store_key(base + "?options=-csearch_path%3Dacme")
    assert store_key(base) != store_key("postgresql://u@db:5432/orgs2")
    assert "secret" not in store_key(base)


def test_a_configuration_on_the_queues_database_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "fleet.toml").write_text(QUEUE + '[configs]\npaths = ["orgs/*/sync.toml"]\n')
    path = org(tmp_path, "acme", '[state]\nurl = "postgresql://x@127.0.0.1:5432/fleet"\n' + CSV)
    code, _, err = check(tmp_path, capsys)
    assert code == 2 and f"{path}: state.url: is the queue's database" in err


def test_two_budgets_claiming_one_system_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("L_TOKEN", "t")
    (tmp_path / "fleet.toml").write_text(
        QUEUE + '[configs]\npaths = ["orgs/*/sync.toml"]\n'
        '[budgets.one]\nbase_url = "https://api.example"\nrate = 5\n'
        '[budgets.two]\nbase_url = "https://api.example"\nrate = 2\n'
        '[budgets.narrow]\nbase_url = "https://api.example/v2"\nrate = 1\nconfigs = ["globex"]\n'
    )
    system = (
        '[systems.l]\nconnector = "lightening"\nbase_url = "https://api.example/v2"\n'
        'customer_ids = [1]\n[systems.l.auth]\nkind = "bearer"\ntoken_env = "L_TOKEN"\n'
    )
    acme = org(tmp_path, "acme", state("acme") + CSV + system)
    org(tmp_path, "globex", state("globex") + CSV + system)
    code, _, err = check(tmp_path, capsys)
    assert code == 2
    assert f"{acme}: systems.l: budgets one, two both cover https://api.example/v2" in err
    assert "globex" not in err  # the longer base_url decides for globex


def test_a_plain_once_never_imports_procrastinate() -> None:
    code = (
        "import sys; from sync.cli import build_parser; build_parser(); "
        "import sync.engine; print('procrastinate' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("command", [["worker"], ["fleet", "status"]])
def test_a_queue_database_that_is_away_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    (tmp_path / "fleet.toml").write_text(
        '[queue]\nurl = "postgresql://fleet@127.0.0.1:9/fleet"\n'  # nothing listens on 9
        '[configs]\npaths = ["orgs/*/sync.toml"]\n'
    )
    org(tmp_path, "acme", state("acme") + CSV)
    code = main([*command, "--fleet", str(tmp_path / "fleet.toml")])
    _, err = capsys.readouterr()
    assert code == 2
    assert "queue.url: cannot use the queue database postgresql+psycopg://fleet@127.0.0.1:9" in err
    assert "Traceback" not in err


def test_fleet_files_are_read_like_sync_toml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """fleet.toml and its configurations go through the one reader of sync.toml files
    (sync/inputfiles.py): an infinite rate and a configuration that is not UTF-8 are each
    named, never a traceback."""
    (tmp_path / "fleet.toml").write_text(
        QUEUE + '[configs]\npaths = ["orgs/*/sync.toml"]\n'
        '[budgets.crm]\nbase_url = "http://crm"\nrate = inf\n'
    )
    code, _, err = check(tmp_path, capsys)
    assert code == 2 and "fleet.toml: budgets.crm.rate: inf is not a finite number" in err
    (tmp_path / "fleet.toml").write_text(QUEUE + '[configs]\npaths = ["orgs/*/sync.toml"]\n')
    latin = org(tmp_path, "latin", "")
    latin.write_bytes(b'[sync]\ninterval = "5m" # caf\xe9\n')
    code, _, err = check(tmp_path, capsys)
    assert code == 2 and f"{latin}: not UTF-8" in err and "Traceback" not in err
