"""Shared set-up for the registry's security regression tests (issue 12)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from _asgi_server import serve
from _support import Issuer

from ancre.registry.api import create_app
from ancre.registry.db import make_engine, migrate
from ancre.registry.service import Registry, Role
from ancre.trust.clock import FixedClock

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
ANCHOR, AGENCY = "did:web:association.example", "did:web:agency.example"
LP = "gx:LegalPerson"


@dataclass
class Setup:
    registry: Registry
    key: Issuer
    clock: FixedClock
    tokens: dict[str, str]


@contextmanager
def registry_for(database_url: str, *, two_person_rule: bool = True) -> Iterator[Setup]:
    """A configured registry with two approvers (alice, bob), an editor and a viewer."""
    clock = FixedClock(T0)
    key = Issuer.new("ed25519")
    engine = make_engine(database_url)
    migrate(engine)
    registry = Registry(engine, clock=clock)
    registry.configure(
        registry_did=key.did,
        kid=key.kid,
        operator_name="Loire",
        scheme_name="Issuers",
        two_person_rule=two_person_rule,
    )
    tokens = {
        "alice": registry.create_token("init", "alice", Role.APPROVER),
        "bob": registry.create_token("init", "bob", Role.APPROVER),
        "ed": registry.create_token("init", "ed", Role.EDITOR),
        "vi": registry.create_token("init", "vi", Role.VIEWER),
    }
    try:
        yield Setup(registry, key, clock, tokens)
    finally:
        engine.dispose()


@contextmanager
def served(setup: Setup) -> Iterator[str]:
    with serve(create_app(setup.registry, signer=setup.key.key)) as base:
        yield base


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def with_anchor_and_agency(setup: Setup) -> None:
    """An active anchor (approved by a second person) accrediting an agency for LP."""
    registry = setup.registry
    change = registry.add_anchor("alice", anchor_id=ANCHOR, name="Association")
    if change is not None:
        registry.approve("bob", change.id)
    registry.add_issuer(
        "alice", did=AGENCY, legal_name="Agence", accredited_by=ANCHOR, credential_types={LP: []}
    )
