"""OpenID4VCI 1.0 refusals over loopback HTTPS: each with the spec's error code and HTTP
status, and without side effects that would let a retry or a replay through."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from _issuer_support import (
    LEGAL_PERSON_CLAIMS,
    Tls,
    Wallet,
    make_tls,
    proof_jwt,
    running_issuer,
)

from ancre.issuer.config import DATABASE_FILE
from ancre.issuer.service import Issuer
from ancre.issuer.templates import Authorization
from ancre.trust.clock import FixedClock, SystemClock
from ancre.trust.codec.b64 import b64url_encode
from ancre.trust.keys.jwk import PrivateKey

OPERATOR = Authorization(method="operator", actor="alice", register_checked=True)
PRE = "urn:ietf:params:oauth:grant-type:pre-authorized_code"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(SystemClock().now())


@pytest.fixture
def served(tmp_path: Path, tls: Tls, clock: FixedClock) -> Iterator[tuple[Issuer, str]]:
    with running_issuer(tmp_path / "issuer", tls, clock=clock) as pair:
        yield pair


@pytest.fixture
def wallet(tls: Tls) -> Iterator[Wallet]:
    with httpx.Client(trust_env=False, timeout=10, verify=tls.context()) as http:
        yield Wallet(http)


def _refused(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error, body
    assert isinstance(body["error_description"], str)
    assert response.headers["cache-control"] == "no-store"


def _offer(issuer: Issuer, tx_code: bool = False) -> tuple[str, str | None]:
    offer = issuer.create_offer(
        "LegalPerson", LEGAL_PERSON_CLAIMS, authorization=OPERATOR, tx_code=tx_code
    )
    return offer.pre_authorized_code, offer.tx_code


def _access(issuer: Issuer, url: str, wallet: Wallet) -> str:
    code, _ = _offer(issuer)
    response = wallet.token(url, code, None)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


# -- token endpoint ------------------------------------------------------------------------


def test_wrong_tx_code_then_lock_out(served: tuple[Issuer, str], wallet: Wallet) -> None:
    issuer, url = served
    code, pin = _offer(issuer, tx_code=True)
    assert pin is not None
    wrong = "".join("2" if digit == "1" else "1" for digit in pin)
    for left in (4, 3, 2, 1, 0):
        response = wallet.token(url, code, wrong)
        _refused(response, 400, "invalid_grant")
        assert f"({left} attempt(s) left)" in response.json()["error_description"]
    # The right code no longer helps: the offer is locked for good.
    locked = wallet.token(url, code, pin)
    _refused(locked, 400, "invalid_grant")
    assert "locked" in locked.json()["error_description"]


def test_missing_tx_code_is_invalid_request(served: tuple[Issuer, str], wallet: Wallet) -> None:
    issuer, url = served
    code, pin = _offer(issuer, tx_code=True)
    _refused(wallet.token(url, code, None), 400, "invalid_request")
    # Not counted as an attempt, and the code still works with its tx_code.
    assert wallet.token(url, code, pin).status_code == 200


def test_pre_authorized_code_is_single_use(served: tuple[Issuer, str], wallet: Wallet) -> None:
    issuer, url = served
    code, pin = _offer(issuer, tx_code=True)
    assert wallet.token(url, code, pin).status_code == 200
    again = wallet.token(url, code, pin)
    _refused(again, 400, "invalid_grant")
    assert "already used" in again.json()["error_description"]


def test_a_broken_invariant_is_a_logged_500_not_the_wallets_fault(
    served: tuple[Issuer, str], wallet: Wallet, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    issuer, url = served
    code, _ = _offer(issuer)
    # The database changed behind the issuer's back: the offer the code points to is gone
    # (a foreign key the issuer's own connections enforce; this one does not).
    database = sqlite3.connect(tmp_path / "issuer" / DATABASE_FILE)
    try:
        with database:
            [(offer_id,)] = database.execute("SELECT id FROM offers").fetchall()
            database.execute("DELETE FROM offers")
    finally:
        database.close()
    with caplog.at_level(logging.ERROR, logger="ancre.issuer"):
        response = wallet.token(url, code, None)
    # Not the wallet's fault (no 4xx), and nothing of the issuer's state in the answer.
    _refused(response, 500, "server_error")
    description = response.json()["error_description"]
    assert description.startswith("invalid_state: "), description
    assert offer_id not in description
    # The operator's log has what happened, with the traceback.
    [record] = [r for r in caplog.records if r.name == "ancre.issuer"]
    assert f"offer {offer_id} of a pre-authorized code is gone" in record.getMessage()
    assert record.exc_info is not None


def test_expired_pre_authorized_code(
    served: tuple[Issuer, str], wallet: Wallet, clock: FixedClock
) -> None:
    issuer, url = served
    code, _ = _offer(issuer)
    clock.advance(timedelta(seconds=issuer.config.limits.offer_lifetime + 1))
    expired = wallet.token(url, code, None)
    _refused(expired, 400, "invalid_grant")
    assert "expired" in expired.json()["error_description"]


def test_unknown_code_grant_type_and_repeated_parameters(
    served: tuple[Issuer, str], wallet: Wallet
) -> None:
    _, url = served
    http = wallet.client
    _refused(wallet.token(url, "no-such-code", None), 400, "invalid_grant")
    _refused(
        http.post(f"{url}/token", data={"grant_type": "authorization_code", "code": "x"}),
        400,
        "unsupported_grant_type",
    )
    repeated = f"grant_type={PRE}&pre-authorized_code=a&pre-authorized_code=b"
    _refused(
        http.post(
            f"{url}/token",
            content=repeated,
            headers={"content-type": "application/x-www-form-urlencoded"},
        ),
        400,
        "invalid_request",
    )
    _refused(http.post(f"{url}/token", json={"grant_type": PRE}), 400, "invalid_request")


# -- credential endpoint -------------------------------------------------------------------


def test_proof_nonce_missing_unknown_reused_and_stale(
    served: tuple[Issuer, str], wallet: Wallet, clock: FixedClock
) -> None:
    issuer, url = served
    access = _access(issuer, url, wallet)
    key = wallet.key

    missing = proof_jwt(key, audience=url, nonce=None)
    _refused(wallet.request(url, access, "LegalPerson", missing), 400, "invalid_proof")
    unknown = proof_jwt(key, audience=url, nonce="never-issued")
    _refused(wallet.request(url, access, "LegalPerson", unknown), 400, "invalid_nonce")

    stale_nonce = wallet.nonce(url)
    clock.advance(timedelta(seconds=issuer.config.limits.nonce_lifetime + 1))
    now = int(clock.now().timestamp())
    stale = proof_jwt(key, audience=url, nonce=stale_nonce, iat=now)
    # The access token lives 300 s like the nonce: take a fresh one after the clock moved.
    access = _access(issuer, url, wallet)
    _refused(wallet.request(url, access, "LegalPerson", stale), 400, "invalid_nonce")

    nonce = wallet.nonce(url)
    good = proof_jwt(key, audience=url, nonce=nonce, iat=now)
    assert wallet.request(url, access, "LegalPerson", good).status_code == 200
    # The same nonce, in a new proof under a new access token: consumed already.
    other = _access(issuer, url, wallet)
    replay = proof_jwt(key, audience=url, nonce=nonce, iat=now)
    _refused(wallet.request(url, other, "LegalPerson", replay), 400, "invalid_nonce")


def _forged(header: dict[str, Any], payload: dict[str, Any], signature: bytes) -> str:
    def part(value: dict[str, Any]) -> str:
        return b64url_encode(json.dumps(value).encode())

    return f"{part(header)}.{part(payload)}.{b64url_encode(signature) if signature else ''}"


def test_bad_proofs_are_invalid_proof_and_spare_the_nonce(
    served: tuple[Issuer, str], wallet: Wallet
) -> None:
    import hashlib
    import hmac
    import time

    issuer, url = served
    access = _access(issuer, url, wallet)
    key, other = wallet.key, PrivateKey.generate("p256")
    nonce = wallet.nonce(url)
    payload = {"aud": url, "iat": int(time.time()), "nonce": nonce}
    jwk_header = {"typ": "openid4vci-proof+jwt", "jwk": key.public_key.to_jwk()}

    # Signed by another key than the header's `jwk`.
    foreign = proof_jwt(other, audience=url, nonce=nonce, header={"jwk": key.public_key.to_jwk()})
    # alg none, and a MAC keyed with the public key's bytes (the classic confusion).
    none = _forged({**jwk_header, "alg": "none"}, payload, b"")
    mac_header = {**jwk_header, "alg": "HS256"}
    signing_input = _forged(mac_header, payload, b"").rstrip(".")
    mac = hmac.new(
        json.dumps(key.public_key.to_jwk()).encode(), signing_input.encode(), hashlib.sha256
    ).digest()
    hs256 = f"{signing_input}.{b64url_encode(mac)}"
    cases = {
        "foreign key": foreign,
        "alg none": none,
        "HS256": hs256,
        "wrong aud": proof_jwt(key, audience="https://other.example", nonce=nonce),
        "wrong typ": proof_jwt(key, audience=url, nonce=nonce, header={"typ": "JWT"}),
        "old iat": proof_jwt(key, audience=url, nonce=nonce, iat=int(time.time()) - 3600),
        "future iat": proof_jwt(key, audience=url, nonce=nonce, iat=int(time.time()) + 3600),
        "jwk and kid": proof_jwt(key, audience=url, nonce=nonce, header={"kid": "did:x#1"}),
        "private jwk": proof_jwt(
            key, audience=url, nonce=nonce, header={"jwk": key.export_private_jwk()}
        ),
        "not a jws": "not.a.jws",
    }
    for name, proof in cases.items():
        response = wallet.request(url, access, "LegalPerson", proof)
        assert response.json()["error"] == "invalid_proof", (name, response.text)
        assert response.status_code == 400, name
    # None of them consumed the nonce or the access token.
    good = proof_jwt(key, audience=url, nonce=nonce)
    assert wallet.request(url, access, "LegalPerson", good).status_code == 200


def test_proof_by_did_key_kid_binds_that_did(served: tuple[Issuer, str], wallet: Wallet) -> None:
    from ancre.trust.did.key import did_key_from_public_key
    from ancre.trust.jose.jws import parse_compact

    issuer, url = served
    access = _access(issuer, url, wallet)
    key = PrivateKey.generate("ed25519")
    did = did_key_from_public_key(key.public_key)
    kid = f"{did}#{did.removeprefix('did:key:')}"
    proof = proof_jwt(key, audience=url, nonce=wallet.nonce(url), header={"kid": kid, "jwk": None})
    response = wallet.request(url, access, "LegalPerson", proof)
    assert response.status_code == 200, response.text
    credential = response.json()["credentials"][0]["credential"]
    payload = parse_compact(credential, allowed_algs=("EdDSA",)).payload_json()
    assert payload["credentialSubject"]["id"] == did


def test_unknown_configuration_and_malformed_requests(
    served: tuple[Issuer, str], wallet: Wallet
) -> None:
    issuer, url = served
    access = _access(issuer, url, wallet)
    proof = proof_jwt(wallet.key, audience=url, nonce=wallet.nonce(url))
    _refused(
        wallet.request(url, access, "NoSuchThing", proof), 400, "unknown_credential_configuration"
    )
    _refused(
        wallet.request(url, access, "VatID", proof), 400, "invalid_credential_request"
    )  # known, but not what this token was offered for
    http = wallet.client
    bearer = {"Authorization": f"Bearer {access}", "content-type": "application/json"}
    for body in (
        b"{",
        b'{"credential_configuration_id": "A", "credential_configuration_id": "B"}',
        b"[]",
    ):
        _refused(
            http.post(f"{url}/credential", content=body, headers=bearer),
            400,
            "invalid_credential_request",
        )
    too_big = b'{"x": "' + b"a" * 70_000 + b'"}'
    _refused(
        http.post(f"{url}/credential", content=too_big, headers=bearer),
        413,
        "invalid_credential_request",
    )
    # After all that, the token still works.
    good = proof_jwt(wallet.key, audience=url, nonce=wallet.nonce(url))
    assert wallet.request(url, access, "LegalPerson", good).status_code == 200


def test_access_token_missing_unknown_and_single_use(
    served: tuple[Issuer, str], wallet: Wallet
) -> None:
    issuer, url = served
    http = wallet.client
    missing = http.post(f"{url}/credential", json={"credential_configuration_id": "LegalPerson"})
    _refused(missing, 401, "invalid_token")
    assert missing.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    proof = proof_jwt(wallet.key, audience=url, nonce=wallet.nonce(url))
    _refused(wallet.request(url, "made-up", "LegalPerson", proof), 401, "invalid_token")

    access = _access(issuer, url, wallet)
    proof = proof_jwt(wallet.key, audience=url, nonce=wallet.nonce(url))
    assert wallet.request(url, access, "LegalPerson", proof).status_code == 200
    again = proof_jwt(wallet.key, audience=url, nonce=wallet.nonce(url))
    _refused(wallet.request(url, access, "LegalPerson", again), 401, "invalid_token")


def test_metadata_documents(served: tuple[Issuer, str], wallet: Wallet) -> None:
    issuer, url = served
    meta = wallet.metadata(url)
    assert meta["credential_issuer"] == url
    assert meta["credential_endpoint"] == f"{url}/credential"
    assert meta["nonce_endpoint"] == f"{url}/nonce"
    configurations = meta["credential_configurations_supported"]
    assert sorted(configurations) == [
        "AdministrativeService",
        "Certification",
        "DirectorCertification",
        "EUID",
        "LegalPerson",
        "LeiCode",
        "LocalRegistrationNumber",
        "Mandate",
        "VatID",
    ]
    assert configurations["Mandate"]["format"] == "dc+sd-jwt"
    assert configurations["Mandate"]["vct"] == "urn:eu.europa.ec.eudi:por:1"
    assert configurations["LegalPerson"]["format"] == "jwt_vc_json"
    assert configurations["LegalPerson"]["credential_definition"]["type"] == [
        "VerifiableCredential",
        "gx:LegalPerson",
    ]
    locales = {d["locale"] for d in configurations["VatID"]["credential_metadata"]["display"]}
    assert locales == {"fr", "en"}
    algs = configurations["VatID"]["proof_types_supported"]["jwt"]
    assert "none" not in algs["proof_signing_alg_values_supported"]
    server = wallet.client.get(f"{url}/.well-known/oauth-authorization-server").json()
    assert server["issuer"] == url
    assert server["token_endpoint"] == f"{url}/token"
    assert server["pre-authorized_grant_anonymous_access_supported"] is True
    document = wallet.client.get(f"{url}/.well-known/did.json")
    assert document.headers["content-type"] == "application/did+json"
    assert document.json()["id"] == issuer.did


def test_status_lists_are_signed_with_ttl_and_refreshed(
    served: tuple[Issuer, str], wallet: Wallet, clock: FixedClock
) -> None:
    from ancre.trust.jose.jws import parse_compact

    _, url = served
    http = wallet.client
    bitstring = http.get(f"{url}/status/revocation-1")
    assert bitstring.headers["content-type"] == "application/vc+jwt"
    assert bitstring.headers["cache-control"] == "max-age=300"
    document = parse_compact(bitstring.text, allowed_algs=("EdDSA",)).payload_json()
    assert document["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert document["credentialSubject"]["statusPurpose"] == "revocation"
    assert document["credentialSubject"]["ttl"] == 300_000
    tokens = http.get(f"{url}/status/tokens-1")
    assert tokens.headers["content-type"] == "application/statuslist+jwt"
    claims = parse_compact(tokens.text, allowed_algs=("EdDSA",)).payload_json()
    assert claims["sub"] == f"{url}/status/tokens-1"
    assert claims["ttl"] == 300
    assert claims["exp"] - claims["iat"] == 86_400
    assert claims["status_list"]["bits"] == 2
    # Served as stored while fresh; re-signed past half its lifetime.
    assert http.get(f"{url}/status/tokens-1").text == tokens.text
    clock.advance(timedelta(hours=13))
    later = parse_compact(
        http.get(f"{url}/status/tokens-1").text, allowed_algs=("EdDSA",)
    ).payload_json()
    assert later["iat"] == claims["iat"] + 13 * 3600
    missing = http.get(f"{url}/offers/nope")  # OpenID4VCI: an OAuth error body
    assert (missing.status_code, missing.json()["error"]) == (404, "credential_not_found")
    for path in ("/status/nope", "/status/" + "x" * 65):  # not OAuth: an RFC 9457 problem
        missing = http.get(f"{url}{path}")
        assert missing.headers["content-type"] == "application/problem+json"
        assert (missing.status_code, missing.json()["code"]) == (404, "credential_not_found")
