"""The state database's password comes from the environment or a file, never sync.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.config import build_settings
from sync.errors import ConfigError

URL = "postgresql+psycopg://sync@db.example/contactsync"


def test_password_from_the_environment_is_merged_at_connect_time_and_masked(
    tmp_path: Path,
) -> None:
    s = build_settings(
        {"state": {"url": URL, "password_env": "CS_DB_PW"}},
        "sync.toml",
        tmp_path,
        {"CS_DB_PW": "s3cret!@/"},
    )
    assert s.state_url == URL  # what may be shown: no password
    url = s.state_connect_url
    assert url.password == "s3cret!@/"
    assert "s3cret" not in str(url) and "s3cret" not in repr(url) and "***" in str(url)


def test_password_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "db-password").write_text("from-file\n")
    s = build_settings(
        {"state": {"url": URL, "password_file": "db-password"}}, "sync.toml", tmp_path, {}
    )
    assert s.state_connect_url.password == "from-file"


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ({"url": URL, "password_env": "CS_DB_PW_UNSET"}, "state.password_env"),
        ({"url": URL, "password_file": "nope"}, "state.password_file"),
        ({"url": "postgresql+psycopg://sync:hunter2@db/x"}, "password_env or password_file"),
    ],
)
def test_a_password_that_cannot_be_had_or_sits_in_the_file_is_a_config_error(
    tmp_path: Path, state: dict[str, str], expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        build_settings({"state": state}, "sync.toml", tmp_path, {})
    text = caught.value.render()
    assert expected in text and "hunter2" not in text
