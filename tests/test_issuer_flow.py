"""End to end over loopback HTTP: an `ancre.issuer` app, a small test wallet running the
OpenID4VCI 1.0 pre-authorized code flow, and the result checked by ancre's verifier and by
independent libraries (jwcrypto, sd-jwt)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from _issuer_support import (
    DIRECTOR_CLAIMS,
    LEGAL_PERSON_CLAIMS,
    Tls,
    Wallet,
    make_tls,
    running_issuer,
)
from jwcrypto import jwk, jws

from ancre.issuer.service import Issuer
from ancre.issuer.templates import Authorization
from ancre.trust.clock import SystemClock
from ancre.trust.did.resolvers import default_resolver
from ancre.trust.net.guard import NetworkPolicy
from ancre.trust.policy import VerificationPolicy
from ancre.trust.result import Status
from ancre.trust.status.checker import StatusListChecker
from ancre.verifier.engine import Verifier
from ancre.verifier.factory import build_context
from ancre.verifier.pipeline import verify

LOOPBACK = NetworkPolicy(allow_loopback=True, max_bytes=4 * 1024 * 1024)
OPERATOR = Authorization(method="operator", actor="alice", register_checked=True)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def served(tmp_path: Path, tls: Tls) -> Iterator[tuple[Issuer, str]]:
    with running_issuer(tmp_path / "issuer", tls) as pair:
        yield pair


@pytest.fixture
def client(tls: Tls) -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=10, verify=tls.context()) as http:
        yield http


def _verify(token: str, client: httpx.Client) -> Any:
    clock = SystemClock()
    resolver = default_resolver(http_client=client, network=LOOPBACK, clock=clock)
    status = StatusListChecker(client=client, resolver=resolver, network=LOOPBACK)
    return verify(token, resolver=resolver, clock=clock, status=status)


def _jwcrypto_check(token: str, did_document: dict[str, Any]) -> dict[str, Any]:
    compact = token.split("~")[0]
    parsed = jws.JWS()
    parsed.deserialize(compact)
    kid = parsed.jose_header["kid"]
    method = next(m for m in did_document["verificationMethod"] if m["id"] == kid)
    parsed.verify(jwk.JWK(**method["publicKeyJwk"]))
    payload: dict[str, Any] = json.loads(parsed.payload)
    return payload


def test_vc_jwt_pre_authorized_flow_with_tx_code(
    served: tuple[Issuer, str], client: httpx.Client
) -> None:
    issuer, url = served
    offer = issuer.create_offer(
        "LegalPerson", LEGAL_PERSON_CLAIMS, authorization=OPERATOR, tx_code=True
    )
    assert offer.tx_code is not None
    assert len(offer.tx_code) == 6
    assert offer.tx_code.isdigit()
    uri = issuer.offer_uri(offer)
    assert uri.startswith("openid-credential-offer://?credential_offer_uri=")
    wallet = Wallet(client)
    fetched = wallet.fetch_offer(uri)
    assert fetched["grants"]["urn:ietf:params:oauth:grant-type:pre-authorized_code"]["tx_code"] == {
        "input_mode": "numeric",
        "length": 6,
        "description": "Code envoyé séparément par l'émetteur / code sent by the issuer",
    }
    token = wallet.obtain(uri, offer.tx_code)

    result = _verify(token, client)
    assert result.status is Status.VALID, result.to_json()
    assert result.issuer == issuer.did
    assert result.types == ("VerifiableCredential", "gx:LegalPerson")

    did_document = client.get(f"{url}/.well-known/did.json").json()
    payload = _jwcrypto_check(token, did_document)
    from ancre.trust.did.jwk import did_jwk_from_public_key

    assert payload["credentialSubject"]["id"] == did_jwk_from_public_key(wallet.key.public_key)
    assert payload["credentialSubject"]["schema:name"] == "DANONE"
    statuses = {e["statusPurpose"] for e in payload["credentialStatus"]}
    assert statuses == {"revocation", "suspension"}

    # The offer is gone once redeemed; its claims are erased once issued.
    assert client.get(f"{url}/offers/{offer.id}").status_code == 404
    row = issuer.credential_info(payload["id"])
    assert row is not None
    assert row.state == "valid"
    assert row.offer_id == offer.id
    assert issuer.verify_audit().ok


def test_sd_jwt_director_certification_flow(
    served: tuple[Issuer, str], client: httpx.Client
) -> None:
    from sd_jwt.verifier import SDJWTVerifier  # the reference implementation (PyPI sd-jwt)

    issuer, url = served
    authorization = Authorization(method="operator", actor="alice", register_checked=True)
    offer = issuer.create_offer(
        "DirectorCertification", DIRECTOR_CLAIMS, authorization=authorization
    )
    wallet = Wallet(client)
    token = wallet.obtain(issuer.offer_uri(offer, by_value=True), None)
    _issuer_jwt, *disclosures = token.split("~")
    assert disclosures[-1] == ""  # no key-binding JWT: the holder adds one when presenting

    payload = _jwcrypto_check(token, client.get(f"{url}/.well-known/did.json").json())
    assert payload["cnf"] == {"jwk": wallet.key.public_key.to_jwk()}
    assert "given_name" not in payload
    assert "family_name" not in payload
    assert payload["status"]["status_list"]["uri"] == f"{url}/status/tokens-1"

    did_document = client.get(f"{url}/.well-known/did.json").json()
    method = did_document["verificationMethod"][0]

    def issuer_key(iss: str, header: dict[str, Any]) -> Any:
        assert iss == issuer.did
        return jwk.JWK(**method["publicKeyJwk"])

    verified = SDJWTVerifier(token, issuer_key, None, None, serialization_format="compact")
    claims = verified.get_verified_payload()
    assert claims["given_name"] == "Antoine"
    assert claims["family_name"] == "de Saint-Affrique"

    # Nothing personal is kept once issued.
    row = issuer.credential_info(issuer.credentials()[0].id)
    assert row is not None
    assert row.holder == wallet.key.public_key.thumbprint()

    result = _verify(token, client)
    # A bare SD-JWT VC without key binding: everything but the holder binding holds.
    assert [c.code for c in result.errors] == ["key_binding_missing"], result.to_json()


def test_revocation_is_seen_after_a_status_list_refresh(
    served: tuple[Issuer, str], client: httpx.Client
) -> None:
    issuer, _ = served
    offer = issuer.create_offer("LegalPerson", LEGAL_PERSON_CLAIMS, authorization=OPERATOR)
    token = Wallet(client).obtain(issuer.offer_uri(offer), None)
    assert _verify(token, client).status is Status.VALID
    credential_id = issuer.credentials()[0].id

    assert issuer.set_status(credential_id, "suspend", actor="alice") == "suspended"
    suspended = _verify(token, client)  # a new checker: a refreshed list
    assert [c.code for c in suspended.errors] == ["suspended"]
    assert issuer.set_status(credential_id, "reinstate", actor="alice") == "valid"
    assert _verify(token, client).status is Status.VALID
    assert issuer.set_status(credential_id, "revoke", actor="bob") == "revoked"
    assert [c.code for c in _verify(token, client).errors] == ["revoked"]
    report = issuer.verify_audit()
    assert report.ok
    assert report.events == 6


class _VerifierClock:
    """The verifier's wall clock, which the test can move forward (the issuer keeps its own)."""

    def __init__(self) -> None:
        self.ahead = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.ahead


@pytest.mark.parametrize(
    ("configuration", "claims", "list_kind"),
    [
        ("LegalPerson", LEGAL_PERSON_CLAIMS, "revocation"),
        ("DirectorCertification", DIRECTOR_CLAIMS, "tokens"),
    ],
)
def test_a_long_lived_verifier_sees_a_revocation_within_one_refresh(
    served: tuple[Issuer, str],
    client: httpx.Client,
    configuration: str,
    claims: dict[str, Any],
    list_kind: str,
) -> None:
    """One verifier kept for the whole test, as a connector keeps it: its cached status list
    (Bitstring for `vc+jwt`, Token Status List for SD-JWT VC) still says valid right after
    the revocation, and says revoked once the list's `ttl` has passed."""
    issuer, url = served
    offer = issuer.create_offer(configuration, claims, authorization=OPERATOR)
    token = Wallet(client).obtain(issuer.offer_uri(offer), None)
    clock = _VerifierClock()
    context = build_context(
        clock=clock,
        # The holder's own copy: an SD-JWT VC without a KB-JWT.
        policy=VerificationPolicy(require_key_binding=False),
        http=client,
        network=LOOPBACK,
    )
    verifier = Verifier(context)
    assert verifier.verify(token).status is Status.VALID, verifier.verify(token).to_json()
    fetched = client.get(f"{url}/status/{list_kind}-1")
    ttl = issuer.config.limits.status_list_ttl
    assert fetched.headers["cache-control"] == f"max-age={ttl}"

    assert issuer.set_status(issuer.credentials()[0].id, "revoke", actor="bob") == "revoked"
    # Within the list's ttl the verifier answers from the list it holds ...
    assert verifier.verify(token).status is Status.VALID
    # ... and after it, from the refreshed one.
    clock.ahead = timedelta(seconds=ttl + 1)
    assert [c.code for c in verifier.verify(token).errors] == ["revoked"]


def test_issuer_under_a_path(tmp_path: Path, tls: Tls, client: httpx.Client) -> None:
    """did:web:host:issuers:agency → DID document at /issuers/agency/did.json, credential
    issuer https://host/issuers/agency, metadata at /.well-known/…/issuers/agency."""
    from _issuer_support import bound_socket, make_issuer, serve_on

    from ancre.issuer.api import IssuerSettings, create_app

    sock, port = bound_socket()
    issuer = make_issuer(tmp_path / "issuer", port, path="/issuers/agency")
    assert issuer.did == f"did:web:localhost%3A{port}:issuers:agency"
    with serve_on(sock, create_app(IssuerSettings(issuer)), tls) as origin:
        url = f"{origin}/issuers/agency"
        assert client.get(f"{url}/did.json").json()["id"] == issuer.did
        assert client.get(f"{origin}/.well-known/did.json").status_code == 404
        assert client.get(f"{origin}/.well-known/openid-credential-issuer").status_code == 404
        offer = issuer.create_offer("LegalPerson", LEGAL_PERSON_CLAIMS, authorization=OPERATOR)
        token = Wallet(client).obtain(issuer.offer_uri(offer), None)
        result = _verify(token, client)
        assert result.status is Status.VALID, result.to_json()
        payload = _jwcrypto_check(token, client.get(f"{url}/did.json").json())
        assert (
            payload["credentialStatus"][0]["statusListCredential"] == f"{url}/status/revocation-1"
        )
