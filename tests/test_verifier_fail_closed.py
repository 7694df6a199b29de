"""Fail-closed behaviour of the verifier service: what it cannot check is never valid, and a
cold start answers exactly like a warm one."""

from __future__ import annotations

import socket
from datetime import timedelta

import httpx
from _asgi_server import serve
from _support import NOW, Issuer, credential, service_verdict

from ancre.trust.clock import FixedClock
from ancre.trust.net import NetworkPolicy
from ancre.trust.vc_jose import envelope_credential, issue_vc_jwt
from ancre.verifier.service import VerifierSettings, create_app

LOOPBACK = NetworkPolicy(allow_loopback=True, allow_http=True)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # nothing listens there once the socket is closed


def _post(base: str, token: str) -> tuple[str, list[str]]:
    with httpx.Client(base_url=base, trust_env=False) as http:
        response = http.post(
            "/credentials/verify", json={"verifiableCredential": envelope_credential(token)}
        )
        return service_verdict(response)


def test_registry_down_and_no_cached_list_is_indeterminate() -> None:
    issuer = Issuer.new()
    token = issue_vc_jwt(credential(issuer.did), issuer.key, issuer.kid)
    settings = VerifierSettings(
        clock=FixedClock(NOW),
        network=LOOPBACK,
        trust_list_url=f"http://127.0.0.1:{_closed_port()}/trust-list",
        registry_did="did:web:registry.example",
    )
    with serve(create_app(settings)) as base:
        assert _post(base, token) == ("indeterminate", ["trust_list_unavailable"])
        with httpx.Client(base_url=base, trust_env=False) as http:
            assert http.get("/ready").status_code == 503


def test_status_list_unreachable_is_indeterminate() -> None:
    issuer = Issuer.new()
    url = f"http://127.0.0.1:{_closed_port()}/status/1"
    entry = {
        "id": f"{url}#42",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": "42",
        "statusListCredential": url,
    }
    token = issue_vc_jwt(credential(issuer.did, credentialStatus=entry), issuer.key, issuer.kid)
    with serve(create_app(VerifierSettings(clock=FixedClock(NOW), network=LOOPBACK))) as base:
        assert _post(base, token) == ("indeterminate", ["status_unavailable"])


def test_cold_start_and_warm_calls_agree() -> None:
    issuer = Issuer.new()
    good = issue_vc_jwt(credential(issuer.did), issuer.key, issuer.kid)
    expired = issue_vc_jwt(
        credential(issuer.did, validFrom="2020-01-01T00:00:00Z", validUntil="2021-01-01T00:00:00Z"),
        issuer.key,
        issuer.kid,
    )
    answers = []
    for _restart in range(2):  # two processes' worth of app instances: cold, then warm calls
        with serve(create_app(VerifierSettings(clock=FixedClock(NOW)))) as base:
            answers.append([_post(base, t) for t in (good, expired, good, expired)])
    first, second = answers
    assert first == second
    assert first[0] == first[2]  # warm call == cold call within one instance
    assert [a[0] for a in first] == ["valid", "invalid", "valid", "invalid"]


def test_time_moves_the_verdict_not_the_cache() -> None:
    issuer = Issuer.new()
    token = issue_vc_jwt(
        credential(issuer.did, validUntil="2026-02-01T00:00:00Z"), issuer.key, issuer.kid
    )
    clock = FixedClock(NOW)
    with serve(create_app(VerifierSettings(clock=clock))) as base:
        assert _post(base, token) == ("valid", [])
        clock.advance(timedelta(days=30))  # past validUntil: a cached "valid" must not survive
        assert _post(base, token) == ("invalid", ["expired"])
