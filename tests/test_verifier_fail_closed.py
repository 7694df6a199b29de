"""Fail-closed behaviour of the verifier service: what it cannot check is never valid, and a
cold start answers exactly like a warm one."""

from __future__ import annotations

import socket
from datetime import timedelta
from pathlib import Path

import httpx
from _asgi_server import serve
from _support import NOW, Issuer, credential, service_verdict

from ancre.trust.clock import FixedClock
from ancre.trust.jose.vc_jose import envelope_credential, issue_vc_jwt
from ancre.trust.net.guard import NetworkPolicy
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
    with serve(
        create_app(VerifierSettings(clock=FixedClock(NOW), network=LOOPBACK, no_trust_check=True))
    ) as base:
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
        with serve(
            create_app(VerifierSettings(clock=FixedClock(NOW), no_trust_check=True))
        ) as base:
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
    with serve(create_app(VerifierSettings(clock=clock, no_trust_check=True))) as base:
        assert _post(base, token) == ("valid", [])
        clock.advance(timedelta(days=30))  # past validUntil: a cached "valid" must not survive
        assert _post(base, token) == ("invalid", ["expired"])


def _signed_list(registry: Issuer, issuer: str, sequence: int) -> bytes:
    from datetime import UTC, datetime

    from ancre.trust.trust_list.model import (
        EntryStatus,
        StatusPeriod,
        TrustedEntity,
        TrustedService,
        TrustListDocument,
    )
    from ancre.trust.trust_list.signed import sign_trust_list

    start = datetime(2025, 12, 1, tzinfo=UTC)
    entity = TrustedEntity(
        id=issuer,
        name="Agence",
        services=(TrustedService("ExampleMembership", (StatusPeriod(EntryStatus.ACTIVE, start),)),),
    )
    document = TrustListDocument(
        sequence=sequence,
        issued_at=NOW - timedelta(hours=1),
        next_update=NOW + timedelta(days=1),
        operator_name="Loire data space",
        scheme_name="Trusted credential issuers",
        entities=(entity,),
    )
    token = sign_trust_list(document, registry.key, kid=registry.kid, issuer=registry.did)
    return token.encode()


def test_restart_with_a_warm_cache_file_gives_the_same_answers(tmp_path: Path) -> None:
    """A verifier restarted while the registry is down answers from its cache file exactly as
    before; without the file it cannot decide; a tampered file is not used."""
    from _http_server import Route, running_server

    registry, issuer, stranger = Issuer.new("p256"), Issuer.new(), Issuer.new()
    listed = issue_vc_jwt(credential(issuer.did), issuer.key, issuer.kid)
    unlisted = issue_vc_jwt(credential(stranger.did), stranger.key, stranger.kid)
    tokens = (listed, unlisted)
    cache = tmp_path / "cache"

    def settings(url: str, cache_dir: Path | None) -> VerifierSettings:
        return VerifierSettings(
            clock=FixedClock(NOW),
            network=LOOPBACK,
            trust_list_url=url,
            registry_did=registry.did,
            cache_dir=str(cache_dir) if cache_dir else None,
        )

    with running_server() as server:
        url = f"{server.base}/trust-list"
        server.routes["/trust-list"] = Route(body=_signed_list(registry, issuer.did, 7))
        with serve(create_app(settings(url, cache))) as base:
            before = [_post(base, t) for t in tokens]
    assert before == [("valid", []), ("invalid", ["issuer_not_trusted"])]
    # The registry is gone (its server closed): restart with and without the cache file.
    with serve(create_app(settings(url, cache))) as base:
        assert [_post(base, t) for t in tokens] == before
    with serve(create_app(settings(url, None))) as base:
        assert _post(base, listed) == ("indeterminate", ["trust_list_unavailable"])
    (cached,) = cache.glob("*.jwt")
    assert (cache / cached.name.replace(".jwt", ".sequence")).read_text() == "7\n"
    head, body, sig = cached.read_text().split(".")
    cached.write_text(f"{head}.{body}.{sig[:-4]}AAAA")
    with serve(create_app(settings(url, cache))) as base:
        assert _post(base, listed) == ("indeterminate", ["trust_list_unavailable"])


def test_a_cached_sequence_refuses_an_older_list_after_restart(tmp_path: Path) -> None:
    from _http_server import Route, running_server

    registry, issuer = Issuer.new("p256"), Issuer.new()
    token = issue_vc_jwt(credential(issuer.did), issuer.key, issuer.kid)
    with running_server() as server:
        url = f"{server.base}/trust-list"
        server.routes["/trust-list"] = Route(body=_signed_list(registry, issuer.did, 7))
        settings = VerifierSettings(
            clock=FixedClock(NOW),
            network=LOOPBACK,
            trust_list_url=url,
            registry_did=registry.did,
            cache_dir=str(tmp_path),
        )
        with serve(create_app(settings)) as base:
            assert _post(base, token) == ("valid", [])
        for cached in tmp_path.glob("*.jwt"):
            cached.unlink()  # only the sequence survives
        server.routes["/trust-list"] = Route(body=_signed_list(registry, issuer.did, 6))
        with serve(create_app(settings)) as base:
            assert _post(base, token) == ("invalid", ["trust_list_rollback"])
