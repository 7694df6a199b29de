"""Issue 12, point 17: a presentation bound to another verifier's `aud` was accepted when
the request carried no `domain` (and with only `challenge` the audience went unchecked).
The service checks presentations against its own audiences (`--public-url`, `--audience`)
by default; with none configured, a presentation bound to anyone is refused."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from _asgi_server import serve
from _support import NOW, Issuer, credential, service_verdict

from ancre.trust.clock import FixedClock
from ancre.trust.data_integrity.proofs import add_proof
from ancre.trust.did.jwk import did_jwk_from_public_key
from ancre.trust.jose.vc_jose import envelope_credential, issue_vc_jwt, issue_vp_jwt
from ancre.trust.keys.jwk import PrivateKey
from ancre.verifier.service import VerifierSettings, create_app

US = "https://verifier.example"
THEM = "https://other-verifier.example"


def vp_jwt(audience: str, nonce: str = "n-1") -> dict[str, str]:
    issuer = Issuer.new()
    holder_key = PrivateKey.generate("ed25519")
    holder = did_jwk_from_public_key(holder_key.public_key)
    vc = issue_vc_jwt(credential(issuer.did), issuer.key, issuer.kid)
    vp = issue_vp_jwt(
        [vc],
        holder_key,
        holder=holder,
        kid=f"{holder}#0",
        audience=audience,
        nonce=nonce,
        clock=FixedClock(NOW),
    )
    return {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": "EnvelopedVerifiablePresentation",
        "id": f"data:application/vp+jwt,{vp}",
    }


def di_presentation(domain: str | None) -> dict[str, Any]:
    holder = Issuer.new()
    issuer = Issuer.new()
    vc = issue_vc_jwt(credential(issuer.did), issuer.key, issuer.kid)
    presentation = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiablePresentation"],
        "holder": holder.did,
        "verifiableCredential": [envelope_credential(vc)],
    }
    return add_proof(
        presentation,
        holder.key,
        holder.kid,
        created=NOW - timedelta(minutes=1),
        proof_purpose="authentication",
        challenge="n-1",
        domain=domain,
    )


def post(http: httpx.Client, vp: Any, **options: Any) -> tuple[str, list[str]]:
    body: dict[str, Any] = {"verifiablePresentation": vp}
    if options:
        body["options"] = options
    return service_verdict(http.post("/presentations/verify", json=body))


def _client(**settings: Any) -> Iterator[httpx.Client]:
    config = VerifierSettings(clock=FixedClock(NOW), no_trust_check=True, **settings)
    with serve(create_app(config)) as base, httpx.Client(base_url=base, trust_env=False) as c:
        yield c


@pytest.fixture(scope="module")
def ours() -> Iterator[httpx.Client]:
    yield from _client(audiences=frozenset({US, "did:web:verifier.example"}))


@pytest.fixture(scope="module")
def anonymous() -> Iterator[httpx.Client]:
    yield from _client()


def test_another_verifiers_presentation_without_domain_is_refused(ours: httpx.Client) -> None:
    stolen = vp_jwt(THEM)
    assert post(ours, stolen) == ("invalid", ["audience_mismatch"])
    # Only a challenge: the audience is checked all the same.
    assert post(ours, stolen, challenge="n-1") == ("invalid", ["audience_mismatch"])


def test_own_presentation_without_domain_is_accepted(ours: httpx.Client) -> None:
    assert post(ours, vp_jwt(US), challenge="n-1") == ("valid", [])
    assert post(ours, vp_jwt("did:web:verifier.example")) == ("valid", [])


def test_an_explicit_domain_still_decides(ours: httpx.Client) -> None:
    assert post(ours, vp_jwt(THEM), challenge="n-1", domain=THEM) == ("valid", [])
    assert post(ours, vp_jwt(US), domain=THEM) == ("invalid", ["audience_mismatch"])


def test_data_integrity_presentation_domain_is_checked(ours: httpx.Client) -> None:
    assert post(ours, di_presentation(THEM), challenge="n-1") == (
        "invalid",
        ["audience_mismatch"],
    )
    assert post(ours, di_presentation(US), challenge="n-1") == ("valid", [])
    # No domain in the proof: not bound to this verifier.
    assert post(ours, di_presentation(None)) == ("invalid", ["audience_mismatch"])


def test_without_configured_audience_a_bound_presentation_is_refused(
    anonymous: httpx.Client,
) -> None:
    """The service cannot tell whether it is the audience named: it is someone's."""
    assert post(anonymous, vp_jwt(THEM)) == ("invalid", ["audience_mismatch"])
    assert post(anonymous, di_presentation(THEM)) == ("invalid", ["audience_mismatch"])
    # A presentation bound to no one proves nothing about whom it was for: verified, and
    # its holder binding reported replayable.
    answer = anonymous.post(
        "/presentations/verify", json={"verifiablePresentation": di_presentation(None)}
    )
    assert service_verdict(answer) == ("valid", [])
    # The caller who knows the audience still says so.
    assert post(anonymous, vp_jwt(THEM), domain=THEM) == ("valid", [])
