"""VC-JOSE issue/verify: round trips, presentations, and the negative suite (each failure
with its own code; parse failures are flagged malformed so the CLI exits 65)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from _support import Issuer, StaticResolver, b64json, credential, forge

from ancre.trust._b64 import b64url_decode, b64url_encode
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


# ---- the negative suite ----------------------------------------------------------------


def _header(issuer: Issuer, **extra: Any) -> dict[str, Any]:
    return {
        "alg": issuer.key.alg,
        "kid": issuer.kid,
        "typ": "vc+jwt",
        "cty": "vc",
        "iss": issuer.did,
        **extra,
    }


def _case_alg_none(i: Issuer) -> str:
    return (
        f"{b64json({'alg': 'none', 'typ': 'vc+jwt', 'kid': i.kid})}.{b64json(credential(i.did))}."
    )


def _case_hs256(i: Issuer) -> str:
    # The classic confusion: an HMAC keyed with the issuer's public key.
    import hashlib
    import hmac

    secret = json.dumps(i.key.public_key.to_jwk()).encode()
    head = b64json(_header(i, alg="HS256"))
    body = b64json(credential(i.did))
    mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url_encode(mac)}"


def _case_alg_key_mismatch(i: Issuer) -> str:
    # Signed with the Ed25519 key, but the header claims ES256.
    return forge(_header(i, alg="ES256"), credential(i.did), i.key)


def _case_unknown_crit(i: Issuer) -> str:
    return forge(_header(i, crit=["exp-policy"], **{"exp-policy": 1}), credential(i.did), i.key)


def _case_tampered_payload(i: Issuer) -> str:
    token = issue_vc_jwt(credential(i.did), i.key, i.kid)
    head, _, sig = token.split(".")
    forged = dict(credential(i.did), iss=i.did)
    forged["credentialSubject"] = {"id": "did:example:member", "memberOf": "Somewhere else"}
    return f"{head}.{b64json(forged)}.{sig}"


def _case_tampered_header(i: Issuer) -> str:
    token = issue_vc_jwt(credential(i.did), i.key, i.kid)
    _, body, sig = token.split(".")
    return f"{b64json(_header(i, typ='vc+ld+json+jwt'))}.{body}.{sig}"


def _case_kid_of_other_did(i: Issuer) -> str:
    other = Issuer.new()
    return forge(_header(i, kid=other.kid), credential(i.did), other.key)


def _case_kid_unknown_fragment(i: Issuer) -> str:
    return forge(_header(i, kid=f"{i.did}#nope"), credential(i.did), i.key)


def _case_key_not_assertion(i: Issuer) -> str:
    return forge(
        _header(i, kid="did:example:authonly#key-1", iss="did:example:authonly"),
        credential("did:example:authonly"),
        i.key,
    )


def _case_expired(i: Issuer) -> str:
    return issue_vc_jwt(
        credential(i.did, validFrom="2025-01-01T00:00:00Z", validUntil="2025-12-31T23:59:59Z"),
        i.key,
        i.kid,
    )


def _case_not_yet_valid(i: Issuer) -> str:
    return issue_vc_jwt(
        credential(i.did, validFrom="2026-06-01T00:00:00Z", validUntil="2027-06-01T00:00:00Z"),
        i.key,
        i.kid,
    )


def _case_non_canonical_b64(i: Issuer) -> str:
    token = issue_vc_jwt(credential(i.did), i.key, i.kid)
    head, body, sig = token.split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # Ed25519 signatures are 64 bytes = 86 chars: the last char carries 4 spare bits.
    sig = sig[:-1] + alphabet[alphabet.index(sig[-1]) | 1]
    return f"{head}.{body}.{sig}"


def _case_duplicate_keys(i: Issuer) -> str:
    body = json.dumps(credential(i.did), separators=(",", ":"))
    body = body[:-1] + ',"issuer":"did:web:evil.example"}'
    return forge(_header(i), body, i.key)


def _case_huge(i: Issuer) -> str:
    return forge(_header(i), credential(i.did, padding="A" * (10 * 1024 * 1024)), None)


def _case_deep(i: Issuer) -> str:
    return forge(_header(i), '{"a":' + "[" * 200 + "]" * 200 + "}", i.key)


def _case_wrong_typ(i: Issuer) -> str:
    return forge(_header(i, typ="JWT"), credential(i.did), i.key)


def _case_issuer_mismatch(i: Issuer) -> str:
    return forge(_header(i, iss="did:web:someone.else"), credential(i.did), i.key)


def _case_bad_context(i: Issuer) -> str:
    doc = credential(i.did)
    doc["@context"] = ["https://www.w3.org/2018/credentials/v1x"]
    return forge(_header(i), doc, i.key)


def _case_empty_subject(i: Issuer) -> str:
    return forge(_header(i), credential(i.did, credentialSubject={}), i.key)


def _case_unknown_did_method(i: Issuer) -> str:
    return forge(
        _header(i, kid="did:ion:abc#k", iss="did:ion:abc"), credential("did:ion:abc"), i.key
    )


def _case_status_unchecked(i: Issuer) -> str:
    status = {
        "id": "https://status.example/1#7",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": "7",
        "statusListCredential": "https://status.example/1",
    }
    return issue_vc_jwt(credential(i.did, credentialStatus=status), i.key, i.kid)


# name → (token maker, status, code, malformed)
NEGATIVE: dict[str, tuple[Callable[[Issuer], str], Status, str, bool]] = {
    "alg none": (_case_alg_none, Status.INVALID, "alg_not_allowed", False),
    "HS256 with public key as secret": (_case_hs256, Status.INVALID, "alg_not_allowed", False),
    "alg/key-type mismatch": (_case_alg_key_mismatch, Status.INVALID, "alg_key_mismatch", False),
    "unknown crit": (_case_unknown_crit, Status.INVALID, "unknown_crit", False),
    "tampered payload": (_case_tampered_payload, Status.INVALID, "signature_invalid", False),
    "tampered header": (_case_tampered_header, Status.INVALID, "signature_invalid", False),
    "kid of another DID": (_case_kid_of_other_did, Status.INVALID, "kid_mismatch", False),
    "kid not in the DID document": (
        _case_kid_unknown_fragment,
        Status.INVALID,
        "verification_method_not_found",
        False,
    ),
    "key not in assertionMethod": (
        _case_key_not_assertion,
        Status.INVALID,
        "key_not_assertion_method",
        False,
    ),
    "expired": (_case_expired, Status.INVALID, "expired", False),
    "not yet valid": (_case_not_yet_valid, Status.INVALID, "not_yet_valid", False),
    "non-canonical base64url": (
        _case_non_canonical_b64,
        Status.INVALID,
        "non_canonical_base64url",
        True,
    ),
    "duplicate JSON keys": (_case_duplicate_keys, Status.INVALID, "duplicate_json_key", True),
    "10 MB token": (_case_huge, Status.INVALID, "input_too_large", True),
    "200-deep JSON nesting": (_case_deep, Status.INVALID, "json_too_deep", True),
    "typ JWT without vc claim": (_case_wrong_typ, Status.INVALID, "unsupported_typ", False),
    "header iss is not the issuer": (
        _case_issuer_mismatch,
        Status.INVALID,
        "issuer_mismatch",
        False,
    ),
    "wrong base context": (_case_bad_context, Status.INVALID, "invalid_context", False),
    "empty credentialSubject": (
        _case_empty_subject,
        Status.INVALID,
        "invalid_credential_subject",
        False,
    ),
    "unsupported DID method": (
        _case_unknown_did_method,
        Status.INDETERMINATE,
        "unsupported_did_method",
        False,
    ),
    "status list not checkable yet": (
        _case_status_unchecked,
        Status.INDETERMINATE,
        "status_unchecked",
        False,
    ),
}


def negative_resolver(issuer: Issuer) -> CompositeResolver:
    from ancre.trust.did_key import DidKeyResolver

    authonly = {
        "id": "did:example:authonly",
        "verificationMethod": [
            {
                "id": "#key-1",
                "type": "JsonWebKey",
                "controller": "did:example:authonly",
                "publicKeyJwk": issuer.key.public_key.to_jwk(),
            }
        ],
        "authentication": ["#key-1"],
    }
    return CompositeResolver(
        {"key": DidKeyResolver(), "example": StaticResolver({"did:example:authonly": authonly})}
    )


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
