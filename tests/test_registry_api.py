"""The registry over real HTTP on loopback: the administrators' story and the verifier's
client, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from _asgi_server import serve
from _support import Issuer

from ancre.registry.api import create_app
from ancre.registry.db import make_engine, migrate
from ancre.registry.service import Registry, Role
from ancre.trust.clock import FixedClock
from ancre.trust.did.resolvers import default_resolver
from ancre.trust.errors import Code, IndeterminateError
from ancre.trust.net.guard import NetworkPolicy
from ancre.trust.trust_list.client import TrustListClient

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
ANCHOR, AGENCY = "did:web:association.example", "did:web:agency.example"
LP, CERT = "gx:LegalPerson", "ancre:Certification"
LOOPBACK = NetworkPolicy(allow_loopback=True, allow_http=True)


@pytest.fixture
def setup(database_url: str) -> Iterator[tuple[Registry, Issuer, FixedClock, dict[str, str], str]]:
    clock = FixedClock(T0)
    key = Issuer.new("ed25519")
    engine = make_engine(database_url)
    migrate(engine)
    registry = Registry(engine, clock=clock)
    registry.configure(
        registry_did=key.did, kid=key.kid, operator_name="Loire", scheme_name="Issuers"
    )
    tokens = {
        "alice": registry.create_token("bootstrap", "alice", Role.APPROVER),
        "bob": registry.create_token("bootstrap", "bob", Role.APPROVER),
        "ed": registry.create_token("bootstrap", "ed", Role.EDITOR),
        "vi": registry.create_token("bootstrap", "vi", Role.VIEWER),
    }
    with serve(create_app(registry, signer=key.key)) as base:
        yield registry, key, clock, tokens, base
    engine.dispose()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_administrators_and_a_verifier(
    setup: tuple[Registry, Issuer, FixedClock, dict[str, str], str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry, key, clock, tokens, base = setup
    caplog.set_level(logging.DEBUG)
    with httpx.Client(base_url=base, trust_env=False) as http:
        assert http.get("/trust-list").status_code == 404
        filed = http.post(
            "/admin/anchors",
            json={"id": ANCHOR, "name": "Association"},
            headers=auth(tokens["alice"]),
        )
        assert filed.status_code == 202
        change = filed.json()["pending_change"]
        own = http.post(f"/admin/changes/{change}/approve", headers=auth(tokens["alice"]))
        assert (own.status_code, own.json()["code"]) == (403, Code.SAME_PERSON.value)
        assert own.headers["content-type"] == "application/problem+json"
        assert (
            http.post(f"/admin/changes/{change}/approve", headers=auth(tokens["bob"])).status_code
            == 200
        )
        issuer = {
            "did": AGENCY,
            "legal_name": "Agence",
            "accredited_by": ANCHOR,
            "credential_types": {LP: []},
        }
        assert (
            http.post("/admin/issuers", json=issuer, headers=auth(tokens["ed"])).status_code == 201
        )
        assert http.post("/admin/publish", headers=auth(tokens["ed"])).json()["sequence"] == 1

        with httpx.Client(trust_env=False) as transport:
            client = TrustListClient(
                f"{base}/trust-list",
                registry=key.did,
                resolver=default_resolver(),
                clock=clock,
                http_client=transport,
                network=LOOPBACK,
            )
            assert client.is_trusted(AGENCY, LP, T0 + timedelta(minutes=1))
            assert not client.is_trusted(AGENCY, CERT, T0 + timedelta(minutes=1))

            clock.advance(timedelta(days=2))
            suspended_at = clock.now()
            status = http.post(
                f"/admin/issuers/{AGENCY}/status",
                json={"status": "suspended", "reason": "audit"},
                headers=auth(tokens["ed"]),
            )
            assert status.status_code == 202
            clock.advance(timedelta(hours=1))
            assert http.post("/admin/publish", headers=auth(tokens["ed"])).json()["sequence"] == 2
            latest = client.current()
            assert latest.sequence == 2
            assert not client.is_trusted(AGENCY, LP, suspended_at + timedelta(seconds=1))
            assert client.is_trusted(AGENCY, LP, suspended_at - timedelta(days=1))  # before it

        etag = http.get("/trust-list").headers["etag"]
        assert http.get("/trust-list", headers={"If-None-Match": etag}).status_code == 304
        answer = http.get(
            f"/issuers/{AGENCY}/trusted",
            params={"type": LP, "at": (T0 + timedelta(hours=1)).isoformat()},
        ).json()
        assert (answer["trusted"], answer["status"]) == (True, "active")
        assert http.get(f"/issuers/{AGENCY}").json()["status"][-1]["status"] == "suspended"
        assert http.get("/admin/audit/verify", headers=auth(tokens["vi"])).json()["ok"] is True
        # Reads go to the access log, never into the audit chain (issue 12 point 4).
        assert not [e for e in registry.audit_events(limit=1000) if e.action == "admin_read"]
        reads = registry.access_log()
        assert {(e.actor, e.path) for e in reads} == {("vi", "/admin/audit/verify")}
    # Tokens are never logged.
    assert all(t not in caplog.text for t in tokens.values())


def test_admin_authentication_and_roles(
    setup: tuple[Registry, Issuer, FixedClock, dict[str, str], str],
) -> None:
    _, _, _, tokens, base = setup
    with httpx.Client(base_url=base, trust_env=False) as http:
        anonymous = http.post("/admin/publish")
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        assert http.post("/admin/publish", headers=auth("ancre_forged")).status_code == 401
        assert (
            http.post("/admin/publish", headers={"Authorization": tokens["ed"]}).status_code == 401
        )
        viewer = http.post("/admin/publish", headers=auth(tokens["vi"]))
        assert (viewer.status_code, viewer.json()["code"]) == (403, Code.FORBIDDEN.value)
        assert http.get("/admin/anchors", headers=auth(tokens["vi"])).status_code == 200
        bad = http.post("/admin/issuers", json={"did": "not-a-did"}, headers=auth(tokens["ed"]))
        assert bad.status_code == 422
        assert bad.json()["code"] == "invalid_request"
        assert "/admin/issuers" in http.get("/openapi.json").json()["paths"]


def test_client_offline_file_and_unreachable(
    tmp_path: object, setup: tuple[Registry, Issuer, FixedClock, dict[str, str], str]
) -> None:
    from pathlib import Path

    registry, key, clock, _, _ = setup
    # Turning the two-person rule off is itself a two-person change.
    change = registry.set_two_person_rule("alice", False)
    assert change is not None
    registry.approve("bob", change.id)
    registry.add_anchor("alice", anchor_id=ANCHOR, name="Association")
    registry.add_issuer(
        "alice", did=AGENCY, legal_name="A", accredited_by=ANCHOR, credential_types={LP: []}
    )
    saved = Path(str(tmp_path)) / "list.jwt"
    saved.write_text(registry.publish(key.key).jws)
    state = Path(str(tmp_path)) / "seen"
    offline = TrustListClient(
        str(saved),
        registry=key.did,
        resolver=default_resolver(),
        clock=clock,
        state_file=str(state),
    )
    assert offline.is_trusted(AGENCY, LP, T0)
    assert state.read_text().strip() == "1"
    # Past NextUpdate, nothing answers: indeterminate, never a stale "trusted".
    late = TrustListClient(
        str(saved),
        registry=key.did,
        resolver=default_resolver(),
        clock=FixedClock(T0 + timedelta(days=3)),
    )
    with pytest.raises(IndeterminateError) as stale:
        late.current()
    assert stale.value.code is Code.TRUST_LIST_STALE
    with httpx.Client(trust_env=False) as transport:
        down = TrustListClient(
            "http://127.0.0.1:9/trust-list",
            registry=key.did,
            resolver=default_resolver(),
            clock=clock,
            http_client=transport,
            network=LOOPBACK,
        )
        with pytest.raises(IndeterminateError):
            down.current()


def test_gaiax_trust_anchor_chain(database_url: str) -> None:
    from _x509_pki import make_ca, make_leaf, pem_chain
    from cryptography.hazmat.primitives import serialization

    root = make_ca("Data space root")
    intermediate = make_ca("Notary CA", issuer=root)
    leaf = make_leaf(intermediate, dns_names=["notary.example"])
    stranger = make_leaf(make_ca("Other root"), dns_names=["x.example"])
    clock = FixedClock(datetime.now(UTC))
    engine = make_engine(database_url)
    migrate(engine)
    registry = Registry(engine, clock=clock)
    registry.configure(
        registry_did="did:web:r.example",
        kid="did:web:r.example#k",
        operator_name="o",
        scheme_name="s",
        two_person_rule=False,
    )
    root_pem = root.certificate.public_bytes(serialization.Encoding.PEM).decode()
    registry.add_anchor("alice", anchor_id="did:web:root.example", name="Root", x509_pem=root_pem)
    with serve(create_app(registry)) as base, httpx.Client(base_url=base, trust_env=False) as http:
        chain = [leaf.certificate, intermediate.certificate]
        ok = http.post("/api/trustAnchor/chain", json={"certs": pem_chain(chain, newlines=False)})
        assert (ok.status_code, ok.json()) == (200, {"result": True})
        refused = http.post(
            "/api/trustAnchor/chain", json={"certs": pem_chain([stranger.certificate])}
        )
        assert refused.status_code == 409
        assert refused.json()["resultMessage"] == "No valid certificate paths found"
        assert (
            http.post("/api/trustAnchor/chain", json={"certs": "not a certificate"}).status_code
            == 400
        )
    engine.dispose()


def test_a_server_without_a_signing_key_refuses_to_sign(
    setup: tuple[Registry, Issuer, FixedClock, dict[str, str], str],
) -> None:
    registry, _, _, tokens, _ = setup
    with (
        serve(create_app(registry)) as base,
        httpx.Client(base_url=base, trust_env=False) as http,
    ):
        for path in ("/admin/publish", "/admin/audit/checkpoint"):
            refused = http.post(path, headers=auth(tokens["ed"]))
            assert (refused.status_code, refused.json()["code"]) == (503, "no_signing_key")
