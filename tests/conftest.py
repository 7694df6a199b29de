from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from _support import NOW, Issuer

from ancre.trust.clock import FixedClock
from ancre.trust.did.document import CompositeResolver
from ancre.trust.did.resolvers import default_resolver


def pytest_configure(config: pytest.Config) -> None:
    # ancre remembers trust-list sequences in a state directory ($ANCRE_STATE_DIR, else the
    # user's): no test may write into the real home. This session-wide default covers code
    # that runs before any test fixture (and CLI subprocesses, which inherit os.environ).
    import tempfile

    os.environ["ANCRE_STATE_DIR"] = tempfile.mkdtemp(prefix="ancre-test-state-")


def pytest_unconfigure(config: pytest.Config) -> None:
    import shutil

    shutil.rmtree(os.environ.get("ANCRE_STATE_DIR", ""), ignore_errors=True)


@pytest.fixture(autouse=True)
def ancre_state_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A fresh state directory per test, so one test's rollback memory (the highest
    trust-list sequence per registry) cannot leak into another's."""
    folder = tmp_path_factory.mktemp("ancre-state")
    monkeypatch.setenv("ANCRE_STATE_DIR", str(folder))
    return folder


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def resolver() -> CompositeResolver:
    return default_resolver()


@pytest.fixture(params=["ed25519", "p256", "p384"])
def issuer(request: pytest.FixtureRequest) -> Issuer:
    return Issuer.new(request.param)


@pytest.fixture
def ed_issuer() -> Issuer:
    return Issuer.new("ed25519")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    from _postgres import postgres_cluster

    with postgres_cluster() as server:
        yield server


def database_backends() -> list[str]:
    """SQLite always; PostgreSQL unless explicitly skipped (never silently)."""
    return ["sqlite"] if os.environ.get("ANCRE_SKIP_POSTGRES") == "1" else ["sqlite", "postgresql"]


@pytest.fixture(params=database_backends())
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'registry.db'}"
    from _postgres import fresh_database

    server: str = request.getfixturevalue("postgres_server")
    return fresh_database(server)
