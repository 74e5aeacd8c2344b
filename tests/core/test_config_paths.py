"""Every path in sync.toml is read the same way: `~` is the home folder, a relative path is
under the config file's folder, whatever the working directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.config import load_config
from sync.paths import parse_path
from tests.helpers import ca_pem

MAPPING = '[fields.email]\npath = "mail"\n'


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    monkeypatch.setenv("HOME", str(folder))
    monkeypatch.chdir(tmp_path)  # neither the config's folder nor home
    return folder


def config(folder: Path, prefix: str) -> Path:
    path = folder / "etc" / "sync.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(
        f'[state]\nurl = "sqlite:///{prefix}state.db"\n'
        "[systems.crm]\n"
        f'connector = "csv"\npath = "{prefix}crm.csv"\nmapping = "{prefix}m.toml"\n'
        "[systems.desk]\n"
        'connector = "lightening"\nbase_url = "http://x"\ncustomer_ids = [1]\n'
        f'ca_bundle = "{prefix}ca.pem"\n'
        f'auth = {{kind = "bearer", token_file = "{prefix}token"}}\n'
    )
    return path


@pytest.mark.parametrize("where", ["home", "config"])
def test_paths_resolve_alike(home: Path, where: str) -> None:
    path = config(home, "~/") if where == "home" else config(home, "")
    base = home if where == "home" else path.parent
    (base / "m.toml").write_text(MAPPING)
    (base / "token").write_text("s3cret\n")
    (base / "ca.pem").write_bytes(ca_pem())
    settings = load_config(path)
    crm, desk = settings.systems["crm"], settings.systems["desk"]
    assert settings.state_url == f"sqlite:///{base / 'state.db'}"
    assert crm.resolve(crm.options.path) == base / "crm.csv"  # type: ignore[attr-defined]
    assert crm.mapping.fields["email"].path == parse_path("mail")
    assert desk.credentials.get("token") == "s3cret"
    assert desk.resolve("ca.pem") == (home / "etc" / "ca.pem")
    assert desk.resolve("~/ca.pem") == home / "ca.pem"
