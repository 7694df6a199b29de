from __future__ import annotations

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
