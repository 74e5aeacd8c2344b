"""Shared fixtures: a PostgreSQL server started once per session when a test asks for one."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import settings

from sync import masking
from sync.mapping import Mapping
from tests import engine_helpers, pgcluster
from tests.helpers import needs_postgres

# CI runs the property tests with fixed seeds, so a run is reproducible and a red CI names a case
# that fails every time; elsewhere each run explores new cases.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    needs_postgres(pgcluster.available())
    with pgcluster.cluster() as url:
        yield url


@pytest.fixture
def pg_url(pg_server: str) -> str:
    """A fresh, empty database on the session's PostgreSQL server."""
    return pgcluster.fresh_database(pg_server)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run an engine test once per store: Worlds made during it use that backend."""
    if request.param == "postgres":
        monkeypatch.setattr(engine_helpers, "STATE_URL", request.getfixturevalue("pg_url"))
    return str(request.param)


@pytest.fixture
def normalised(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The raw record of every Mapping.from_system call: what a run normalised."""
    calls: list[Any] = []
    real = Mapping.from_system

    def counting(self: Mapping, data: Any, *args: Any, **kw: Any) -> Any:
        calls.append(data)
        return real(self, data, *args, **kw)

    monkeypatch.setattr(Mapping, "from_system", counting)
    return calls


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    """Each test masks only the secrets it configured: one test's 'wrong' password must not
    mask the word in the next test's paths."""
    yield
    masking.forget()
