"""The registry's domain rules over a real database (SQLite file; PostgreSQL when available)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from _support import Issuer
from sqlalchemy import text

from ancre.registry.db import make_engine, migrate
from ancre.registry.service import Registry, RegistryError, Role
from ancre.trust.clock import FixedClock
from ancre.trust.did.resolvers import default_resolver
from ancre.trust.errors import Code, InvalidError
from ancre.trust.trust_list.model import ClaimConstraint, EntryStatus
from ancre.trust.trust_list.signed import verify_trust_list

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
ANCHOR = "did:web:association.example"
AGENCY = "did:web:agency.example"
LP, CERT = "gx:LegalPerson", "ancre:Certification"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def registry_key() -> Issuer:
    return Issuer.new("p256")


@pytest.fixture
def registry(database_url: str, clock: FixedClock, registry_key: Issuer) -> Iterator[Registry]:
    engine = make_engine(database_url)
    migrate(engine)
    reg = Registry(engine, clock=clock)
    reg.configure(
        registry_did=registry_key.did,
        kid=registry_key.kid,
        operator_name="Loire data space",
        scheme_name="Trusted issuers",
    )
    yield reg
    engine.dispose()


def _anchor(reg: Registry) -> None:
    change = reg.add_anchor("alice", anchor_id=ANCHOR, name="Association")
    assert change is not None
    reg.approve("bob", change.id)


def test_the_registry_story(registry: Registry, clock: FixedClock, registry_key: Issuer) -> None:
    # Adding an anchor takes two people.
    change = registry.add_anchor("alice", anchor_id=ANCHOR, name="Association")
    assert change is not None
    assert registry.anchors() == []
    with pytest.raises(RegistryError, match="cannot approve their own"):
        registry.approve("alice", change.id)
    registry.approve("bob", change.id)
    assert [a.id for a in registry.anchors()] == [ANCHOR]

    registry.add_issuer(
        "alice",
        did=AGENCY,
        legal_name="Agence",
        accredited_by=ANCHOR,
        credential_types={
            LP: [ClaimConstraint("credentialSubject.gx:legalAddress.gx:countryCode", ("FR",))]
        },
    )
    first = registry.publish(registry_key.key)
    clock.advance(timedelta(days=10))
    registry.set_issuer_status("alice", AGENCY, EntryStatus.SUSPENDED, reason="audit pending")
    suspended_at = clock.now()
    clock.advance(timedelta(hours=1))
    second = registry.publish(registry_key.key)
    assert second.sequence == first.sequence + 1

    resolver = default_resolver()
    tl = verify_trust_list(
        second.jws,
        registry=registry_key.did,
        resolver=resolver,
        clock=clock,
        min_sequence=first.sequence,
    )
    assert tl.is_trusted(AGENCY, LP, T0 + timedelta(days=1))  # before the suspension
    assert not tl.is_trusted(AGENCY, LP, suspended_at + timedelta(minutes=1))
    assert not tl.is_trusted(AGENCY, CERT, T0 + timedelta(days=1))  # never allowed
    # A verifier that already saw #2 refuses #1 (rollback).
    with pytest.raises(InvalidError) as err:
        verify_trust_list(
            first.jws,
            registry=registry_key.did,
            resolver=resolver,
            clock=FixedClock(T0 + timedelta(hours=1)),
            min_sequence=second.sequence,
        )
    assert err.value.code is Code.TRUST_LIST_ROLLBACK

    view = registry.issuer_view(AGENCY)
    assert [h["status"] for h in view["status"]] == ["active", "suspended"]
    assert registry.verify_audit().ok


def test_reinstating_a_withdrawn_issuer_needs_a_second_approver(
    registry: Registry, clock: FixedClock
) -> None:
    _anchor(registry)
    registry.add_issuer(
        "alice", did=AGENCY, legal_name="Agence", accredited_by=ANCHOR, credential_types={LP: []}
    )
    registry.set_issuer_status("alice", AGENCY, EntryStatus.WITHDRAWN, reason="fraud")
    clock.advance(timedelta(days=1))
    pending = registry.set_issuer_status("alice", AGENCY, EntryStatus.ACTIVE, reason="appeal won")
    assert pending is not None
    assert registry.issuer_view(AGENCY)["status"][-1]["status"] == "withdrawn"
    registry.approve("carol", pending.id)
    assert registry.issuer_view(AGENCY)["status"][-1]["status"] == "active"
    # Suspending and lifting a suspension are single-person changes.
    assert registry.set_issuer_status("alice", AGENCY, EntryStatus.SUSPENDED, reason="x") is None
    assert registry.set_issuer_status("alice", AGENCY, EntryStatus.ACTIVE, reason="y") is None


def test_rules(registry: Registry, clock: FixedClock) -> None:
    _anchor(registry)
    with pytest.raises(RegistryError, match="no trust anchor") as unknown:
        registry.add_issuer(
            "alice",
            did=AGENCY,
            legal_name="A",
            accredited_by="did:web:nobody",
            credential_types={LP: []},
        )
    assert (unknown.value.code, unknown.value.http_status) == (Code.UNKNOWN_ANCHOR, 422)
    with pytest.raises(RegistryError, match="DID") as not_did:
        registry.add_issuer(
            "alice", did="agency", legal_name="A", accredited_by=ANCHOR, credential_types={LP: []}
        )
    assert (not_did.value.code, not_did.value.http_status) == (Code.INVALID_DID, 422)
    with pytest.raises(RegistryError, match="credential type") as no_type:
        registry.add_issuer(
            "alice", did=AGENCY, legal_name="A", accredited_by=ANCHOR, credential_types={}
        )
    assert (no_type.value.code, no_type.value.http_status) == (Code.INVALID_REQUEST, 422)
    registry.add_issuer(
        "alice", did=AGENCY, legal_name="A", accredited_by=ANCHOR, credential_types={LP: []}
    )
    with pytest.raises(RegistryError, match="exists") as exists:
        registry.add_issuer(
            "alice", did=AGENCY, legal_name="A", accredited_by=ANCHOR, credential_types={LP: []}
        )
    assert (exists.value.code, exists.value.http_status) == (Code.CONFLICT, 409)
    with pytest.raises(RegistryError, match="past") as past:
        registry.set_issuer_status(
            "alice",
            AGENCY,
            EntryStatus.SUSPENDED,
            reason="r",
            effective_from=T0 - timedelta(days=1),
        )
    assert (past.value.code, past.value.http_status) == (Code.BACKDATED_CHANGE, 422)
    with pytest.raises(RegistryError, match="already") as already:
        registry.set_issuer_status("alice", AGENCY, EntryStatus.ACTIVE, reason="r")
    assert (already.value.code, already.value.http_status) == (Code.ALREADY_IN_STATE, 409)


def test_scheduled_suspension_and_type_withdrawal(
    registry: Registry, clock: FixedClock, registry_key: Issuer
) -> None:
    _anchor(registry)
    registry.add_issuer(
        "alice",
        did=AGENCY,
        legal_name="A",
        accredited_by=ANCHOR,
        credential_types={LP: [], CERT: []},
    )
    registry.set_issuer_status(
        "alice",
        AGENCY,
        EntryStatus.SUSPENDED,
        reason="planned",
        effective_from=T0 + timedelta(days=5),
    )
    registry.withdraw_type("alice", AGENCY, CERT, reason="accreditation lapsed")
    tl = verify_trust_list(
        registry.publish(registry_key.key).jws,
        registry=registry_key.did,
        resolver=default_resolver(),
        clock=clock,
    )
    assert tl.is_trusted(AGENCY, LP, T0 + timedelta(days=1))
    assert not tl.is_trusted(AGENCY, LP, T0 + timedelta(days=6))  # the scheduled suspension
    assert not tl.is_trusted(AGENCY, CERT, T0 + timedelta(hours=1))


def test_publication_is_deterministic_for_a_state(registry: Registry, clock: FixedClock) -> None:
    _anchor(registry)
    registry.add_issuer(
        "alice", did=AGENCY, legal_name="A", accredited_by=ANCHOR, credential_types={LP: []}
    )
    a = registry.build_document(sequence=5, issued_at=T0, next_update=T0 + timedelta(days=1))
    b = registry.build_document(sequence=5, issued_at=T0, next_update=T0 + timedelta(days=1))
    assert a.to_json() == b.to_json()


def test_audit_chain_detects_edits_and_removals(registry: Registry) -> None:
    _anchor(registry)
    registry.add_issuer(
        "alice", did=AGENCY, legal_name="A", accredited_by=ANCHOR, credential_types={LP: []}
    )
    report = registry.verify_audit()
    assert report.ok
    assert report.events >= 5
    with registry.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 3"))
    broken = registry.verify_audit()
    assert (broken.ok, broken.first_broken) == (False, 3)
    with registry.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq >= 3"))
    truncated = registry.verify_audit()
    assert (truncated.ok, truncated.first_broken) == (False, 3)
    assert "removed" in truncated.reason


def test_tokens_are_stored_hashed(registry: Registry) -> None:
    token = registry.create_token("root", "ops", Role.EDITOR)
    assert registry.authenticate(token) == ("ops", Role.EDITOR)
    assert registry.authenticate(token + "x") is None
    with registry.engine.connect() as conn:
        stored = [row[0] for row in conn.execute(text("SELECT token_sha256 FROM admin_tokens"))]
    assert token not in stored
    assert len(stored[0]) == 64


CRASH_WRITER = """
import sys
from datetime import UTC, datetime
from ancre.registry.db import make_engine
from ancre.registry.service import Registry
from ancre.trust.clock import SystemClock
reg = Registry(make_engine(sys.argv[1]), clock=SystemClock())
print("ready", flush=True)
for i in range(100000):
    reg.add_issuer("writer", did=f"did:web:issuer{i}.example", legal_name=f"Issuer {i}",
                   accredited_by="did:web:association.example",
                   credential_types={"gx:LegalPerson": []})
"""


def test_killed_mid_write_leaves_database_and_audit_consistent(
    database_url: str, registry: Registry
) -> None:
    import signal
    import subprocess
    import sys

    # Turning the two-person rule off is itself a two-person change.
    change = registry.set_two_person_rule("alice", False)
    assert change is not None
    registry.approve("bob", change.id)
    registry.add_anchor("alice", anchor_id=ANCHOR, name="Association")
    command = [sys.executable, "-c", CRASH_WRITER, database_url]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as writer:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "ready"
        # Let it write until a few issuers exist (bounded), then kill it without warning.
        for _ in range(3000):
            if len(registry.issuers()) >= 5:
                break
            try:
                writer.wait(timeout=0.01)  # returns only if the writer died on its own
            except subprocess.TimeoutExpired:
                continue
            break
        assert writer.poll() is None, "the writer stopped before it was killed"
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    issuers = registry.issuers()
    assert len(issuers) >= 5
    report = registry.verify_audit()
    assert report.ok, report
    # Every issuer row has its audit event and its status: nothing half-written.
    audited = {e.subject for e in registry.audit_events(limit=100000) if e.action == "add_issuer"}
    assert {i.did for i in issuers} == audited
    for issuer in issuers:
        view = registry.issuer_view(issuer.did)
        assert view["status"][0]["status"] == "active"
        assert list(view["types"]) == ["gx:LegalPerson"]
    # And the registry keeps working after the crash.
    registry.add_issuer(
        "alice",
        did="did:web:after.example",
        legal_name="After",
        accredited_by=ANCHOR,
        credential_types={LP: []},
    )
    assert registry.verify_audit().ok


def _refusal(call: Callable[[], object]) -> tuple[Code, int]:
    with pytest.raises(RegistryError) as refused:
        call()
    return refused.value.code, refused.value.http_status


def test_each_refusal_has_its_own_code(registry: Registry) -> None:
    """Clients tell refusals apart by `code`, never by the HTTP status alone."""
    _anchor(registry)
    registry.add_issuer(
        "alice", did=AGENCY, legal_name="A", accredited_by=ANCHOR, credential_types={LP: []}
    )
    assert _refusal(lambda: registry.set_two_person_rule("alice", True)) == (
        Code.ALREADY_IN_STATE,
        409,
    )
    assert _refusal(
        lambda: registry.set_anchor_status("alice", ANCHOR, EntryStatus.ACTIVE, reason="r")
    ) == (Code.ALREADY_IN_STATE, 409)
    assert _refusal(lambda: registry.grant_type("alice", AGENCY, LP)) == (
        Code.ALREADY_IN_STATE,
        409,
    )
    registry.set_issuer_status(
        "alice", AGENCY, EntryStatus.SUSPENDED, reason="r", effective_from=T0 + timedelta(days=5)
    )
    assert _refusal(
        lambda: registry.set_issuer_status(
            "alice",
            AGENCY,
            EntryStatus.WITHDRAWN,
            reason="r",
            effective_from=T0 + timedelta(days=1),
        )
    ) == (Code.BACKDATED_CHANGE, 422)
    registry.withdraw_type("alice", AGENCY, LP, reason="r")
    assert _refusal(lambda: registry.withdraw_type("alice", AGENCY, LP, reason="r")) == (
        Code.ALREADY_IN_STATE,
        409,
    )
    assert _refusal(lambda: registry.create_token("alice", "t", Role.VIEWER, person=" ")) == (
        Code.INVALID_REQUEST,
        422,
    )
    registry.create_token("alice", "t", Role.VIEWER)
    registry.revoke_token("alice", "t")
    assert _refusal(lambda: registry.revoke_token("alice", "t")) == (Code.ALREADY_IN_STATE, 409)
