"""`check` reports every problem of sync.toml and its mapping files in one pass: a value that
fails its schema does not hide the problems of the other tables, systems and files."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.cli import main
from sync.config import load_config
from sync.errors import ConfigError

CONFIG = """
[sync]
conflict_policy = "loudest"
max_delete_fraction = 7
priority = ["crm", "nowhere"]

[daemon]
listen = "no port"
bogus_daemon_key = 1

[systems.crm]
connector = "csv"
path = "crm.csv"
colour = "blue"
mapping = "m.toml"
timeout = -1

[systems.typo]
connector = "cvs"

[systems.desk]
connector = "lightening"
base_url = "http://x"
customer_ids = [1]
[systems.desk.auth]
kind = "basic"
username_env = "CS_TEST_NOT_SET_USER"
password_env = "CS_TEST_NOT_SET_PASS"

[systems.oracle]
connector = "oracle_b2b"
base_url = "http://x"
auth = { kind = "bearer", token_file = "no-such-token" }

[systems.api]
connector = "memory"
[systems.api.auth]
kind = "magic"
token_env = "CS_TEST_NOT_SET_TOKEN"

[systems.gone]
mapping = "missing.toml"
"""

MAPPING = """
[fields.email]
path = "mail"
direction = "sideways"
[fields.favourite_colour]
path = "colour"
"""

EXPECTED = [
    "sync.conflict_policy",
    "sync.max_delete_fraction",
    "sync.priority[1]",
    "daemon.listen",
    "daemon.bogus_daemon_key",
    "systems.crm.colour",
    "systems.crm.timeout",
    "systems.typo.connector",
    "systems.desk.auth.username_env",
    "CS_TEST_NOT_SET_USER",
    "CS_TEST_NOT_SET_PASS",
    "auth.kind = 'bearer' will not do",
    "systems.oracle.auth.token_file",
    "systems.api.auth.kind",
    "systems.gone.connector",
    "m.toml: fields.email.direction",
    "m.toml: fields.favourite_colour",
    "missing.toml",
]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "m.toml").write_text(MAPPING)
    path = tmp_path / "sync.toml"
    path.write_text(CONFIG)
    return path


def test_every_problem_comes_out_of_one_check(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config), "check"]) == 2
    err = capsys.readouterr().err
    missing = [e for e in EXPECTED if e not in err]
    assert not missing, err
    assert "Traceback" not in err
    assert not (config.parent / ".contactsync").exists()


def test_the_problems_are_listed_once_each(config: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(config, env={})
    texts = [str(p) for p in caught.value.problems]
    assert len(texts) == len(set(texts)), texts
    assert f"has {len(texts)} problem(s)" in caught.value.render()


def test_a_good_part_next_to_a_bad_one_is_not_reported(tmp_path: Path) -> None:
    path = tmp_path / "sync.toml"
    path.write_text(
        '[sync]\nconflict_policy = "loudest"\n[systems.crm]\nconnector = "csv"\npath = "crm.csv"\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert [p.where.split(": ")[-1] for p in caught.value.problems] == ["sync.conflict_policy"]
