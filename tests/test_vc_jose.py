"""VC-JOSE issue/verify: round trips, presentations, and the negative suite (each failure
with its own code; parse failures are flagged malformed so the CLI exits 65)."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from _negative import NEGATIVE, negative_resolver
from _support import Issuer, credential, forge, vectors

from ancre.trust.clock import Clock, FixedClock
from ancre.trust.codec.b64 import b64url_decode
from ancre.trust.did.document import CompositeResolver
from ancre.trust.did.jwk import did_jwk_from_public_key
from ancre.trust.errors import ConfigurationError, InvalidError
from ancre.trust.jose.vc_jose import (
    envelope_credential,
    issue_vc_jwt,
    issue_vp_jwt,
    unenvelope,
    verify_vc_jwt,
    verify_vp_jwt,
)
from ancre.trust.keys.jwk import PrivateKey
from ancre.trust.policy import VerificationPolicy
from ancre.trust.result import Status, Step
from ancre.trust.steps import PinnedKeys
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
    # The engine runs every step for every format, in the order of the Step enum.
    assert [c.step for c in result.checks] == list(Step)
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
    assert result.holder == holder
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
        "a~b~",
    ],
)
def test_garbage_input_is_malformed_not_a_crash(
    text: str, resolver: CompositeResolver, clock: FixedClock
) -> None:
    result = verify(text, resolver=resolver, clock=clock)
    assert result.status is Status.INVALID
    assert result.malformed
    assert result.errors[0].step is Step.PARSE


def test_each_format_reaches_its_pipeline(resolver: CompositeResolver, clock: FixedClock) -> None:
    # An embedded proof goes to Data Integrity, a `~` token to SD-JWT VC: neither is valid
    # here, but each is judged by the right verifier rather than refused as unknown.
    assert verify('{"proof":{}}', resolver=resolver, clock=clock).format == "ldp_vc"
    sd = verify("eyJhbGciOiJFZERTQSJ9.e30.AA~", resolver=resolver, clock=clock)
    assert sd.status is Status.INVALID
    assert sd.errors[0].code != "unsupported_format"


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


@pytest.mark.parametrize(
    ("typ", "cty"),
    [("vc+ld+json+jwt", "vc+ld+json"), ("vc+ld+jwt", "vc+ld"), ("application/vc+jwt", "vc")],
)
def test_gaiax_loire_header_variants(
    typ: str, cty: str, ed_issuer: Issuer, resolver: CompositeResolver, clock: FixedClock
) -> None:
    # Gaia-X notaries: other typ/cty spellings, and iat/exp in the *header*, in milliseconds.
    now_ms = int(clock.now().timestamp() * 1000)
    header = {
        "alg": "EdDSA",
        "kid": ed_issuer.kid,
        "iss": ed_issuer.did,
        "typ": typ,
        "cty": cty,
        "iat": now_ms - 1000,
        "exp": now_ms + 86_400_000,
    }
    token = forge(header, credential(ed_issuer.did), ed_issuer.key)
    result = verify(token, resolver=resolver, clock=clock)
    assert result.status is Status.VALID, result.to_json()
    stale = forge({**header, "exp": now_ms - 3_600_000}, credential(ed_issuer.did), ed_issuer.key)
    assert [e.code for e in verify(stale, resolver=resolver, clock=clock).errors] == ["expired"]


def test_reference_loire_lei_code_payload(clock: FixedClock) -> None:
    # The real notary payload (copied from the project's shared/reference/gaiax/examples/ into
    # tests/data/gaiax/), re-signed by a key pinned for its issuer: everything but the
    # signature is the notary's own output.
    from pathlib import Path

    from ancre.trust.jose.vc_jose import PinnedKeys

    path = Path(__file__).parent / "data/gaiax/loire-leicode.notary.vc-jwt.decoded.json"
    example = json.loads(path.read_text())
    key = PrivateKey.generate("p256")
    header = {**example["header"], "alg": "ES256"}
    token = forge(header, example["payload"], key)
    pinned = dict(key.public_key.to_jwk(), kid=header["kid"].split("#")[1])
    keys = PinnedKeys({example["payload"]["issuer"]: [pinned]})
    at = FixedClock(datetime(2025, 4, 1, tzinfo=UTC))
    # Its `evidence` has no `type`, which VCDM 2.0 §5.6 requires: refused by default…
    strict = verify(token, resolver=keys, clock=at)
    assert [(e.step, e.code) for e in strict.errors] == [(Step.DATA_MODEL, "invalid_property")]
    # …accepted only by an explicit policy choice, which the result records.
    lenient = verify(
        token, resolver=keys, clock=at, policy=VerificationPolicy(accept_untyped_evidence=True)
    )
    assert lenient.status is Status.VALID, lenient.to_json()
    assert lenient.types == ("VerifiableCredential", "gx:LeiCode")
    data_model = next(c for c in lenient.checks if c.step is Step.DATA_MODEL)
    assert "without `type` accepted by policy" in data_model.message


class _ListChecker:
    """A status checker over an in-memory set of revoked credential ids (the real checker,
    over published status lists, has its own tests)."""

    def __init__(self, revoked: set[str], reachable: bool = True) -> None:
        self.revoked, self.reachable, self.calls = revoked, reachable, 0

    def check(self, credential: Mapping[str, Any], *, issuer: str, clock: Clock) -> str:
        from ancre.trust.errors import Code, IndeterminateError

        self.calls += 1
        if not self.reachable:
            raise IndeterminateError(Code.STATUS_UNAVAILABLE, "status list unreachable")
        if credential["id"] in self.revoked:
            raise InvalidError(Code.REVOKED, f"{credential['id']} is revoked")
        return "not revoked"


def test_status_step_consults_the_checker(
    ed_issuer: Issuer, resolver: CompositeResolver, clock: FixedClock
) -> None:
    entry = {
        "id": "https://status.example/1#7",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": "7",
        "statusListCredential": "https://status.example/1",
    }
    token = issue_vc_jwt(
        credential(ed_issuer.did, credentialStatus=entry), ed_issuer.key, ed_issuer.kid
    )
    fine = _ListChecker(set())
    ok = verify(token, resolver=resolver, clock=clock, status=fine)
    assert ok.status is Status.VALID
    assert next(c for c in ok.checks if c.step is Step.STATUS).message == "not revoked"
    revoked = verify(
        token,
        resolver=resolver,
        clock=clock,
        status=_ListChecker({credential(ed_issuer.did)["id"]}),
    )
    assert [e.code for e in revoked.errors] == ["revoked"]
    down = verify(
        token, resolver=resolver, clock=clock, status=_ListChecker(set(), reachable=False)
    )
    assert down.status is Status.INDETERMINATE
    off = verify(
        token,
        resolver=resolver,
        clock=clock,
        status=fine,
        policy=VerificationPolicy(check_status=False),
    )
    assert off.status is Status.VALID
    assert next(c for c in off.checks if c.step is Step.STATUS).skipped
    assert fine.calls == 1  # not consulted when the policy turns the step off
    plain = issue_vc_jwt(credential(ed_issuer.did), ed_issuer.key, ed_issuer.kid)
    assert verify(plain, resolver=resolver, clock=clock, status=fine).status is Status.VALID
    assert fine.calls == 1  # nor for a credential without credentialStatus


def test_presentation_with_a_vc_jwt_and_an_sd_jwt_vc(
    ed_issuer: Issuer, resolver: CompositeResolver, clock: FixedClock
) -> None:
    from ancre.trust.sd_jwt.present import present
    from ancre.trust.sd_jwt.vc import issue_sd_jwt_vc

    holder_key = PrivateKey.generate("p256")
    holder = did_jwk_from_public_key(holder_key.public_key)
    sd = issue_sd_jwt_vc(
        {"membership": "gold", "given_name": "Ada", "family_name": "Lovelace"},
        ed_issuer.key,
        issuer=ed_issuer.did,
        kid=ed_issuer.kid,
        vct="urn:example:membership:1",
        disclosable=["/given_name", "/family_name"],
        holder_jwk=holder_key.public_key,
        issued_at=clock.now() - timedelta(minutes=1),
    )
    sd_token = present(
        sd,
        ["/given_name"],
        holder_key=holder_key,
        audience="https://v.example",
        nonce="n1",
        clock=clock,
    )
    envelope = envelope_credential(sd_token)
    assert envelope["id"].startswith("data:application/dc+sd-jwt,")
    vc = issue_vc_jwt(credential(ed_issuer.did), ed_issuer.key, ed_issuer.kid)
    vp = issue_vp_jwt(
        [vc, sd_token],
        holder_key,
        holder=holder,
        kid=f"{holder}#0",
        audience="https://v.example",
        nonce="n1",
        clock=clock,
    )
    policy = VerificationPolicy(audience="https://v.example", nonce="n1")
    result = verify(vp, resolver=resolver, clock=clock, policy=policy)
    assert result.status is Status.VALID, result.to_json()
    assert [r.format for r in result.credentials] == ["vc+jwt", "dc+sd-jwt"]
    disclosed = result.credentials[1].credential
    assert disclosed is not None
    assert disclosed["given_name"] == "Ada"
    assert "family_name" not in disclosed  # withheld by the holder


# ---- presentations without `holder` (VCDM 2.0 §4.13 and 1.1: optional) -------------------

_VCJ = vectors("vc-jose-cose.json")
_EXAMPLE_2 = next(e for e in _VCJ["spec_examples"] if "unsecured presentation" in e["name"])
_EXAMPLE_2_VC = next(e for e in _VCJ["spec_examples"] if e.get("signature_verifiable"))
#: Inside the example credential's validity; its schema is not one ancre ships.
_AT = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
_LENIENT = VerificationPolicy(check_schema=False)


def _holder_less_vp(
    key: PrivateKey, kid: str, **claims: Any
) -> tuple[str, PinnedKeys, dict[str, Any]]:
    """VC-JOSE-COSE Example 2's unsecured presentation — no `holder` — signed as a vp+jwt
    (the spec's own signature is made with an ephemeral key nobody has), and keys for it:
    the enveloped credential's (the spec's P-384 example key) and the signer's."""
    presentation = {**copy.deepcopy(_EXAMPLE_2["presentation"]), **claims}
    assert "holder" not in _EXAMPLE_2["presentation"]
    header = {"alg": "ES256" if key.key_type.value == "p256" else "EdDSA", "kid": kid}
    token = forge({**header, "typ": "vp+jwt", "cty": "vp"}, presentation, key)
    issuer = json.loads(_EXAMPLE_2_VC["payload"])["issuer"]
    keys = PinnedKeys(
        {
            issuer: [_EXAMPLE_2_VC["public_jwk"]],
            kid.split("#")[0]: [{**key.public_key.to_jwk(), "kid": kid}],
        }
    )
    return token, keys, presentation


def test_spec_example_presentation_without_holder_proves_its_signer() -> None:
    """The presentation names no holder: what it proves is the DID whose key signed it,
    recorded as the result's `holder`; the binding step says so."""
    key = PrivateKey.generate("p256")
    holder = did_jwk_from_public_key(key.public_key)
    token, keys, _ = _holder_less_vp(key, f"{holder}#0")
    result = verify_vp_jwt(token, resolver=keys, clock=_AT, policy=_LENIENT)
    assert result.status is Status.VALID, result.to_json()
    assert result.holder == holder
    assert [r.issuer for r in result.credentials] == ["https://university.example/issuers/565049"]
    binding = next(c for c in result.checks if c.step is Step.HOLDER_BINDING)
    assert f"no holder named: {holder}, the controller of the key" in binding.message
    # The same through the engine's one door, and with a resolved did:jwk instead of pins.
    assert verify(token, resolver=keys, clock=_AT, policy=_LENIENT).holder == holder


def test_presentation_without_holder_refused_when_the_policy_requires_one() -> None:
    key = PrivateKey.generate("p256")
    holder = did_jwk_from_public_key(key.public_key)
    token, keys, _ = _holder_less_vp(key, f"{holder}#0")
    strict = replace(_LENIENT, require_holder=True)
    result = verify_vp_jwt(token, resolver=keys, clock=_AT, policy=strict)
    assert result.status is Status.INVALID
    assert [(e.step, e.code) for e in result.errors] == [(Step.HOLDER_BINDING, "policy_violation")]
    # `iss` stands in for `holder` (VC-JOSE-COSE): a presentation naming its holder that way
    # meets the requirement.
    named, keys, _ = _holder_less_vp(key, f"{holder}#0", iss=holder)
    result = verify_vp_jwt(named, resolver=keys, clock=_AT, policy=strict)
    assert result.status is Status.VALID, result.to_json()
    assert result.holder == holder


def test_presentation_without_holder_keeps_its_binding_checked(
    ed_issuer: Issuer, resolver: CompositeResolver, clock: FixedClock
) -> None:
    """Without a holder the audience and nonce still bind it; the key must be the kid's
    DID's authentication key; a forged signature is still a forged signature."""
    key = PrivateKey.generate("ed25519")
    holder = did_jwk_from_public_key(key.public_key)
    vc = issue_vc_jwt(credential(ed_issuer.did), ed_issuer.key, ed_issuer.kid)
    payload = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiablePresentation"],
        "verifiableCredential": [envelope_credential(vc)],
        "aud": "https://verifier.example",
        "nonce": "n-1",
        "iat": int(clock.now().timestamp()),
    }
    header = {"alg": "EdDSA", "typ": "vp+jwt", "kid": f"{holder}#0"}
    token = forge(header, payload, key)
    policy = VerificationPolicy(audience="https://verifier.example", nonce="n-1")
    result = verify_vp_jwt(token, resolver=resolver, clock=clock, policy=policy)
    assert result.status is Status.VALID, result.to_json()
    assert result.holder == holder
    replayed = verify_vp_jwt(
        token, resolver=resolver, clock=clock, policy=replace(policy, nonce="n-2")
    )
    assert [e.code for e in replayed.errors] == ["nonce_mismatch"]
    elsewhere = verify_vp_jwt(
        token, resolver=resolver, clock=clock, policy=replace(policy, audience="https://x.example")
    )
    assert [e.code for e in elsewhere.errors] == ["audience_mismatch"]
    thief = forge(header, payload, PrivateKey.generate("ed25519"))
    stolen = verify_vp_jwt(thief, resolver=resolver, clock=clock, policy=policy)
    assert [(e.step, e.code) for e in stolen.errors] == [(Step.SIGNATURE, "signature_invalid")]
    # `iss` in the header still has to be the signer's DID.
    other = did_jwk_from_public_key(PrivateKey.generate("ed25519").public_key)
    mismatch = forge({**header, "iss": other}, payload, key)
    refused = verify_vp_jwt(mismatch, resolver=resolver, clock=clock, policy=policy)
    assert [(e.step, e.code) for e in refused.errors] == [(Step.ISSUER_KEY, "holder_mismatch")]


@pytest.mark.parametrize("kid", [None, "key-1", "https://holder.example/keys#1"])
def test_presentation_without_holder_needs_a_did_kid(kid: str | None) -> None:
    """Nothing but a DID URL `kid` can say whose key signed a holder-less presentation."""
    key = PrivateKey.generate("ed25519")
    header = {"alg": "EdDSA", "typ": "vp+jwt", **({} if kid is None else {"kid": kid})}
    token = forge(header, _EXAMPLE_2["presentation"], key)
    result = verify_vp_jwt(token, resolver=PinnedKeys({}), clock=_AT, policy=_LENIENT)
    assert result.status is Status.INVALID
    assert [(e.step, e.code) for e in result.errors] == [(Step.ISSUER_KEY, "invalid_presentation")]


# ---- EnvelopedVerifiablePresentation / Credential with `data:application/jwt` (VCDM 1.1) ---


def _vcdm11_jwt(key: PrivateKey, kid: str, claim: str, body: dict[str, Any], **extra: Any) -> str:
    """A VCDM 1.1 JWT (`vc` or `vp` claim, `typ: JWT`) as did-jwt-vc and didkit make them."""
    header = {"alg": "EdDSA", "typ": "JWT", "kid": kid}
    return forge(header, {claim: body, **extra}, key)


def _vcdm11_pair(
    issuer: Issuer, clock: FixedClock, *, aud: str = "https://verifier.example"
) -> tuple[str, str, str]:
    """(the 1.1 credential JWT, the 1.1 presentation JWT carrying it, the holder's DID)."""
    vc = _vcdm11_jwt(
        issuer.key,
        issuer.kid,
        "vc",
        {
            "@context": ["https://www.w3.org/2018/credentials/v1"],
            "type": ["VerifiableCredential"],
            "credentialSubject": {"memberOf": "Data space Loire"},
        },
        iss=issuer.did,
        nbf=int(clock.now().timestamp()) - 86400,
    )
    holder_key = PrivateKey.generate("ed25519")
    holder = did_jwk_from_public_key(holder_key.public_key)
    vp = _vcdm11_jwt(
        holder_key,
        f"{holder}#0",
        "vp",
        {
            "@context": ["https://www.w3.org/2018/credentials/v1"],
            "type": ["VerifiablePresentation"],
            "verifiableCredential": [vc],
        },
        iss=holder,
        aud=aud,
        nonce="n-1",
    )
    return vc, vp, holder


def _enveloped(kind: str, media: str, token: str) -> dict[str, Any]:
    return {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": f"data:application/{media},{token}",
        "type": f"Enveloped{kind}",
    }


def test_enveloped_vcdm11_jwt_presentation_is_read_like_a_bare_one(
    ed_issuer: Issuer, resolver: CompositeResolver, clock: FixedClock
) -> None:
    vc, vp, holder = _vcdm11_pair(ed_issuer, clock)
    policy = VerificationPolicy(audience="https://verifier.example", nonce="n-1")
    bare = verify(vp, resolver=resolver, clock=clock, policy=policy)
    assert bare.status is Status.VALID, bare.to_json()
    for separator in (",", ";"):
        envelope = _enveloped("VerifiablePresentation", "jwt", vp)
        envelope["id"] = envelope["id"].replace(",", separator, 1)
        result = verify(json.dumps(envelope), resolver=resolver, clock=clock, policy=policy)
        assert result.status is Status.VALID, result.to_json()
        assert (result.format, result.holder) == ("jwt_vp (VCDM 1.1)", holder)
        assert [r.format for r in result.credentials] == ["jwt_vc (VCDM 1.1)"]
    credential_envelope = _enveloped("VerifiableCredential", "jwt", vc)
    result = verify(json.dumps(credential_envelope), resolver=resolver, clock=clock)
    assert (result.status, result.format) == (Status.VALID, "jwt_vc (VCDM 1.1)")


def test_enveloped_jwt_must_be_the_kind_its_envelope_says(
    ed_issuer: Issuer, resolver: CompositeResolver, clock: FixedClock
) -> None:
    """A VCDM 1.1 credential JWT in a presentation envelope (and the reverse) is not read as
    what the envelope claims."""
    vc, vp, _ = _vcdm11_pair(ed_issuer, clock)
    as_vp = verify(
        json.dumps(_enveloped("VerifiablePresentation", "jwt", vc)), resolver=resolver, clock=clock
    )
    assert [(e.step, e.code) for e in as_vp.errors] == [(Step.FORMAT, "unsupported_typ")]
    as_vc = verify(
        json.dumps(_enveloped("VerifiableCredential", "jwt", vp)), resolver=resolver, clock=clock
    )
    assert [(e.step, e.code) for e in as_vc.errors] == [(Step.FORMAT, "unsupported_typ")]
    refused = verify(
        json.dumps(_enveloped("VerifiablePresentation", "vp+cose", vp)),
        resolver=resolver,
        clock=clock,
    )
    # VC-JOSE-COSE §3.3: a COSE data URL is base64; a JWT in one is not COSE.
    assert [e.code for e in refused.errors] == ["malformed_token"]
