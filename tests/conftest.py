from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from _support import NOW, Issuer

from ancre.trust.clock import FixedClock
from ancre.trust.did import CompositeResolver
from ancre.trust.resolvers import default_resolver


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
