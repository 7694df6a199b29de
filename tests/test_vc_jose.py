"""VC-JOSE issue/verify: round trips, presentations, and the negative suite (each failure
with its own code; parse failures are flagged malformed so the CLI exits 65)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest
from _negative import NEGATIVE, negative_resolver
from _support import Issuer, credential, forge

from ancre.trust._b64 import b64url_decode
from ancre.trust.clock import FixedClock
from ancre.trust.did import CompositeResolver
from ancre.trust.did_jwk import did_jwk_from_public_key
from ancre.trust.errors import ConfigurationError, InvalidError
from ancre.trust.keys import PrivateKey
from ancre.trust.policy import VerificationPolicy
from ancre.trust.result import Status, Step
from ancre.trust.vc_jose import (
    envelope_credential,
    issue_vc_jwt,
    issue_vp_jwt,
    unenvelope,
    verify_vc_jwt,
    verify_vp_jwt,
)
from ancre.verifier.pipeline import verify


def test_issue_and_verify_round_trip(
    issuer: Issuer, resolver: CompositeResolver, clock: FixedClock
) -> None:
    token = issue_vc_jwt(credential(issuer.did), issuer.key, issuer.kid)
    header = json.loads(b64url_decode(token.split(".")[0]))
    assert header == {
        "alg": issuer.key.alg,
        "kid": issuer.kid,
        "typ": "vc+jwt",
        "cty": "vc",
        "iss": issuer.did,
    }
    result = verify_vc_jwt(token, resolver=resolver, clock=clock)
    assert result.status is Status.VALID, result.to_json()
    assert result.issuer == issuer.did
    assert result.types == ("VerifiableCredential", "ExampleMembership")
    assert result.subject == "did:example:member"
    assert [c.step for c in result.checks] == [
        Step.PARSE, Step.FORMAT, Step.ISSUER_KEY, Step.SIGNATURE, Step.DATA_MODEL,
        Step.TIME, Step.SCHEMA, Step.STATUS, Step.TRUST, Step.POLICY,
    ]  # fmt: skip
    trust = next(c for c in result.checks if c.step is Step.TRUST)
    assert trust.skipped  # no trusted issuers given: recorded, not silently passed


def test_trusted_issuer_policy(
    ed_issuer: Issuer, resolver: CompositeResolver, clock: FixedClock
) -> None:
    token = issue_vc_jwt(credential(ed_issuer.did), ed_issuer.key, ed_issuer.kid)
    ok = verify_vc_jwt(
        token,
        resolver=resolver,
        clock=clock,
        policy=VerificationPolicy(trusted_issuers=frozenset({ed_issuer.did})),
    )
    assert ok.status is Status.VALID
    stranger = verify_vc_jwt(
        token,
        resolver=resolver,
        clock=clock,
        policy=VerificationPolicy(trusted_issuers=frozenset({"did:web:other.example"})),
    )
    assert stranger.status is Status.INVALID
    assert stranger.errors[0].code == "issuer_not_trusted"


def test_issue_refuses_bad_credentials(ed_issuer: Issuer) -> None:
    with pytest.raises(InvalidError) as err:
        issue_vc_jwt(
            credential(ed_issuer.did, validFrom="2026-01-01"), ed_issuer.key, ed_issuer.kid
        )
    assert err.value.code == "invalid_datetime"
    with pytest.raises(ConfigurationError):
        issue_vc_jwt(credential(ed_issuer.did), ed_issuer.key, "did:key:zOther#k")


@pytest.mark.parametrize("name", list(NEGATIVE))
def test_negative_suite(name: str, ed_issuer: Issuer, clock: FixedClock) -> None:
    make, status, code, malformed = NEGATIVE[name]
    token = make(ed_issuer)
    result = verify(token, resolver=negative_resolver(ed_issuer), clock=clock)
    assert result.status is status, result.to_json()
    assert [e.code for e in result.errors] == [code]
    assert result.malformed is malformed
    assert not result.valid


def test_presentation_round_trip_and_binding(
    ed_issuer: Issuer, resolver: CompositeResolver, clock: FixedClock
) -> None:
    holder_key = PrivateKey.generate("p256")
    holder = did_jwk_from_public_key(holder_key.public_key)
    vc = issue_vc_jwt(credential(ed_issuer.did), ed_issuer.key, ed_issuer.kid)
    vp = issue_vp_jwt(
        [vc],
        holder_key,
        holder=holder,
        kid=f"{holder}#0",
        audience="https://verifier.example",
        nonce="n-0S6_WzA2Mj",
        clock=clock,
    )
    policy = VerificationPolicy(audience="https://verifier.example", nonce="n-0S6_WzA2Mj")
    result = verify(vp, resolver=resolver, clock=clock, policy=policy)
    assert result.status is Status.VALID, result.to_json()
    assert result.issuer == holder
    assert [r.status for r in result.credentials] == [Status.VALID]
    assert result.credentials[0].issuer == ed_issuer.did

    wrong_aud = verify_vp_jwt(
        vp, resolver=resolver, clock=clock, policy=replace(policy, audience="https://other.example")
    )
    assert [e.code for e in wrong_aud.errors] == ["audience_mismatch"]
    replay = verify_vp_jwt(
        vp, resolver=resolver, clock=clock, policy=replace(policy, nonce="another")
    )
    assert [e.code for e in replay.errors] == ["nonce_mismatch"]
    late = FixedClock(clock.now() + timedelta(minutes=10))
    assert [
        e.code for e in verify_vp_jwt(vp, resolver=resolver, clock=late, policy=policy).errors
    ] == ["expired"]


def test_presentation_fails_when_a_credential_fails(
    ed_issuer: Issuer, resolver: CompositeResolver, clock: FixedClock
) -> None:
    holder_key = PrivateKey.generate("ed25519")
    holder = did_jwk_from_public_key(holder_key.public_key)
    expired = issue_vc_jwt(
        credential(
            ed_issuer.did, validFrom="2024-01-01T00:00:00Z", validUntil="2025-01-01T00:00:00Z"
        ),
        ed_issuer.key,
        ed_issuer.kid,
    )
    vp = issue_vp_jwt(
        [expired],
        holder_key,
        holder=holder,
        kid=f"{holder}#0",
        audience="a",
        nonce="n",
        clock=clock,
    )
    result = verify_vp_jwt(vp, resolver=resolver, clock=clock)
    assert result.status is Status.INVALID
    assert result.errors[0].code == "invalid_presentation"
    assert result.credentials[0].errors[0].code == "expired"
    binding = next(c for c in result.checks if c.step is Step.HOLDER_BINDING)
    assert "replayable" in binding.message  # no audience asked for: said, not hidden


def test_presentation_signed_by_someone_else(
    ed_issuer: Issuer, resolver: CompositeResolver, clock: FixedClock
) -> None:
    holder_key, thief_key = PrivateKey.generate("ed25519"), PrivateKey.generate("ed25519")
    holder = did_jwk_from_public_key(holder_key.public_key)
    vp = issue_vp_jwt(
        [], thief_key, holder=holder, kid=f"{holder}#0", audience="a", nonce="n", clock=clock
    )
    assert [e.code for e in verify_vp_jwt(vp, resolver=resolver, clock=clock).errors] == [
        "signature_invalid"
    ]


def test_enveloped_credential_json_is_verified(
    ed_issuer: Issuer, resolver: CompositeResolver, clock: FixedClock
) -> None:
    token = issue_vc_jwt(credential(ed_issuer.did), ed_issuer.key, ed_issuer.kid)
    envelope = envelope_credential(token)
    assert unenvelope(envelope) == token
    # Gaia-X Loire variants of the media type and separator are read too.
    legacy = dict(envelope, id="data:application/vc+ld+json+jwt;" + token)
    for doc in (envelope, legacy):
        assert verify(json.dumps(doc), resolver=resolver, clock=clock).status is Status.VALID


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not a token",
        "a.b",
        "a.b.c.d.e",
        '{"type":"VerifiableCredential"}',
        "[1,2]",
        '{"proof":{}}',
    ],
)
def test_garbage_input_is_malformed_not_a_crash(
    text: str, resolver: CompositeResolver, clock: FixedClock
) -> None:
    result = verify(text, resolver=resolver, clock=clock)
    assert result.status is Status.INVALID
    assert result.malformed
    assert result.errors[0].step is Step.PARSE


def test_vcdm11_jwt_fractional_dates(
    ed_issuer: Issuer, resolver: CompositeResolver, clock: FixedClock
) -> None:
    vc = {
        "@context": ["https://www.w3.org/2018/credentials/v1"],
        "type": ["VerifiableCredential"],
        "credentialSubject": {"name": "x"},
    }
    payload = {
        "iss": ed_issuer.did,
        "nbf": 1767225600.5,
        "exp": 1798761600.25,
        "sub": "did:example:s",
        "jti": "urn:uuid:1",
        "vc": vc,
    }
    token = forge({"alg": "EdDSA", "kid": ed_issuer.kid}, payload, ed_issuer.key)
    result = verify(token, resolver=resolver, clock=clock)
    assert result.status is Status.VALID, result.to_json()
    assert result.format == "jwt_vc (VCDM 1.1)"
    assert result.subject == "did:example:s"
    strict = verify(
        token, resolver=resolver, clock=clock, policy=VerificationPolicy(accept_vcdm11=False)
    )
    assert [e.code for e in strict.errors] == ["policy_violation"]
    expired = verify(token, resolver=resolver, clock=FixedClock(clock.now() + timedelta(days=800)))
    assert [e.code for e in expired.errors] == ["expired"]
