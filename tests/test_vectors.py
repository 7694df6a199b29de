"""Spec test vectors, run as data (each file under tests/vectors/ says where it came from)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from _support import vectors

from ancre.trust.clock import FixedClock
from ancre.trust.codec.b64 import b64url_decode, b64url_encode
from ancre.trust.did.jwk import DidJwkResolver
from ancre.trust.did.key import DidKeyResolver, did_key_from_public_key
from ancre.trust.errors import AncreError, Code, InvalidError
from ancre.trust.jose.jws import parse_compact
from ancre.trust.jose.vc_jose import PinnedKeys, verify_vc_jwt, verify_vp_jwt
from ancre.trust.keys.jwk import ALG_KEY_TYPES, PrivateKey, PublicKey, jwk_thumbprint
from ancre.trust.policy import VerificationPolicy
from ancre.trust.result import Status, Step

RFC7515 = vectors("rfc7515.json")["cases"]
ALL_ALGS = frozenset(ALG_KEY_TYPES) | {"HS256", "ES512", "none"}


def _public(jwk: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in jwk.items() if k in ("kty", "crv", "x", "y", "n", "e")}


# ---- RFC 7515 Appendix A ----------------------------------------------------------------


@pytest.mark.parametrize("case", RFC7515, ids=[c["section"] for c in RFC7515])
def test_rfc7515_appendix_a(case: dict[str, Any]) -> None:
    token = case["compact"]
    head, payload, _ = token.split(".")
    # The vectors' exact octets, CR LF included, are what is signed.
    assert b64url_decode(head) == case["protected_header"].encode()
    assert b64url_decode(payload) == case["payload"].encode()
    if case["alg"] in ("RS256", "ES256", "ES512"):
        parsed = parse_compact(token, allowed_algs=ALL_ALGS)
        key = PublicKey.from_jwk(_public(case["jwk"]))
        assert parsed.signing_input.decode() == case["signing_input"]
        assert key.verify(parsed.alg, parsed.signing_input, parsed.signature)
        assert not key.verify(parsed.alg, parsed.signing_input + b"x", parsed.signature)
    else:
        # HS256 (A.1) and the unsecured JWS (A.5) are never accepted, whatever the caller allows.
        with pytest.raises(AncreError) as err:
            parse_compact(token, allowed_algs=ALL_ALGS)
        assert err.value.code is Code.ALG_NOT_ALLOWED


def test_rfc7515_a5_unsecured_header_refused_even_with_a_signature() -> None:
    a5 = next(c for c in RFC7515 if c["alg"] == "none")
    head, payload, _ = a5["compact"].split(".")
    with pytest.raises(InvalidError) as err:
        parse_compact(f"{head}.{payload}.AAAA", allowed_algs=ALL_ALGS)
    assert err.value.code is Code.ALG_NOT_ALLOWED


# ---- RFC 7638 / RFC 8037 ------------------------------------------------------------------


@pytest.mark.parametrize("case", vectors("rfc7638.json")["cases"], ids=lambda c: c["name"])
def test_rfc7638_thumbprints(case: dict[str, Any]) -> None:
    assert jwk_thumbprint(case["jwk"]) == case["thumbprint_sha256"]
    if case["jwk"]["kty"] != "RSA" or len(b64url_decode(case["jwk"]["n"])) * 8 >= 2048:
        assert PublicKey.from_jwk(_public(case["jwk"])).thumbprint() == case["thumbprint_sha256"]


def test_rfc8037_ed25519_sign_is_byte_exact() -> None:
    v = vectors("rfc8037.json")
    key = PrivateKey.from_jwk(v["private_key"]["jwk"])
    assert key.public_key.to_jwk() == _public(v["public_key"]["jwk"])
    signing = v["signing"]
    # Ed25519 is deterministic (RFC 8032): ancre must reproduce the RFC's signature exactly.
    assert b64url_encode(key.sign(signing["signing_input"].encode())) == signing["signature_b64url"]
    assert f"{signing['signing_input']}.{signing['signature_b64url']}" == signing["compact"]


def test_rfc8037_ed25519_verify() -> None:
    v = vectors("rfc8037.json")["verification"]
    parsed = parse_compact(v["compact"], allowed_algs={"EdDSA"})
    key = PublicKey.from_jwk(v["public_jwk"])
    assert key.verify(parsed.alg, parsed.signing_input, parsed.signature) is v["expected_valid"]
    assert parsed.payload_bytes.decode() == v["expected_payload"]


# ---- did:key / did:jwk ----------------------------------------------------------------------


@pytest.mark.parametrize("case", vectors("did-key.json")["cases"], ids=lambda c: c["name"])
def test_did_key_vectors(case: dict[str, Any]) -> None:
    resolver = DidKeyResolver()
    doc = resolver.resolve(case["did"])
    fragment = case["did"].removeprefix("did:key:")
    key = doc.assertion_key(f"#{fragment}")
    assert doc.authentication_key(f"{case['did']}#{fragment}") == key
    if case["publicKeyJwk"]:
        assert key.to_jwk() == _public(case["publicKeyJwk"])
        assert did_key_from_public_key(PublicKey.from_jwk(case["publicKeyJwk"])) == case["did"]
    else:  # Ed25519 vectors give the raw key in base58
        from ancre.trust.codec.multibase import base58btc_decode

        raw = base58btc_decode(case["publicKeyBase58"])
        assert b64url_decode(key.to_jwk()["x"]) == raw
        seed = bytes.fromhex(case["seed_hex"])
        private = PrivateKey.from_jwk(
            {"kty": "OKP", "crv": "Ed25519", "d": b64url_encode(seed), "x": key.to_jwk()["x"]}
        )
        assert did_key_from_public_key(private.public_key) == case["did"]


@pytest.mark.parametrize("case", vectors("did-jwk.json")["cases"], ids=lambda c: c["name"])
def test_did_jwk_vectors(case: dict[str, Any]) -> None:
    jwk = json.loads(case["decoded_jwk_string"])
    if jwk.get("crv") == "X25519":
        # A key-agreement key: ancre's did:jwk resolver serves signature verification only.
        with pytest.raises(InvalidError) as err:
            DidJwkResolver().resolve(case["did"])
        assert err.value.code is Code.UNSUPPORTED_KEY_TYPE
        return
    doc = DidJwkResolver().resolve(case["did"])
    assert doc.assertion_key(case["did_url"]).to_jwk() == _public(jwk)


# ---- W3C VC-JOSE-COSE -------------------------------------------------------------------

VCJ = vectors("vc-jose-cose.json")
# What ancre answers for each test-suite fixture, and why where it differs from the suite.
SUITE_OUTCOMES: dict[str, tuple[Status, Step | None, str | None]] = {
    "minimal vc+jwt (ES256)": (Status.INVALID, Step.TIME, "invalid_datetime"),
    "vp+jwt (ES384)": (Status.INVALID, Step.CREDENTIALS, "invalid_presentation"),
    "invalid signature": (Status.INVALID, Step.SIGNATURE, "signature_invalid"),
    "vc+jwt with bad typ/cty": (Status.INVALID, Step.FORMAT, "unsupported_typ"),
    "vc and vp claims": (Status.INVALID, Step.FORMAT, "invalid_property"),
    "vp+jwt with bad typ/cty": (Status.INVALID, Step.FORMAT, "unsupported_typ"),
    # VCDM 2.0 §4.13.1: an enveloped credential's id MUST be a data: URL — a data-model error.
    "not a credential": (Status.INVALID, Step.DATA_MODEL, "invalid_presentation"),
}
# For presentations: each enveloped credential's (status, first error code).
SUITE_NESTED: dict[str, list[tuple[Status, str]]] = {
    # vc+jwt (string `iat`, see below), then a VCDM credential secured with SD-JWT
    # (VC-JOSE-COSE §3.2; string `iat` too) and one with COSE (§3.3), which verifies.
    "vp+jwt (ES384)": [
        (Status.INVALID, "invalid_datetime"),
        (Status.INVALID, "invalid_datetime"),
        (Status.VALID, ""),
    ],
    "not a credential": [],
}


def _suite_outcome(name: str) -> tuple[Status, Step | None, str | None]:
    for fragment, outcome in SUITE_OUTCOMES.items():
        if fragment in name:
            return outcome
    raise AssertionError(f"no expectation for {name}")


@pytest.mark.parametrize("case", VCJ["test_suite_cases"], ids=lambda c: c["name"])
def test_vc_jose_cose_test_suite(case: dict[str, Any]) -> None:
    header = json.loads(case["protected_header"])
    payload = json.loads(case["payload"])
    controller = payload.get("issuer") or payload.get("holder")
    keys = PinnedKeys({controller: [case["public_jwk"]]})
    # Verify at a time inside each fixture's own iat..exp window.
    iat = payload.get("iat")
    at = (
        datetime.fromtimestamp(iat + 60, UTC)
        if isinstance(iat, int)
        else datetime(2024, 12, 16, tzinfo=UTC)
    )
    clock = FixedClock(at)
    policy = VerificationPolicy(check_schema=False)
    is_vp = "vp" in header.get("typ", "") or "VerifiablePresentation" in str(payload.get("type"))
    verify = verify_vp_jwt if is_vp else verify_vc_jwt
    if is_vp:
        # The enveloped credentials are signed by the suite's other keys.
        suite_keys = VCJ["test_suite_keys"].values()
        keys = PinnedKeys(
            {controller: [k["verification_method"]["publicKeyJwk"] for k in suite_keys]}
        )
    result = verify(case["compact"], resolver=keys, clock=clock, policy=policy)
    status, step, code = _suite_outcome(case["name"])
    failed = result.errors
    assert result.status is status, result.to_json()
    assert failed, result.to_json()
    assert (failed[0].step, failed[0].code) == (step, code), result.to_json()
    for fragment, nested in SUITE_NESTED.items():
        if fragment in case["name"]:
            got = [(r.status, r.errors[0].code if r.errors else "") for r in result.credentials]
            assert got == nested, result.to_json()
    signature_ran = any(c.step is Step.SIGNATURE for c in result.checks)
    if case["signature_valid"] and signature_ran:
        assert any(c.step is Step.SIGNATURE and c.ok for c in result.checks)
    if case["expected_result"] == "success":
        # The suite expects success; ancre refuses because RFC 7519 §4.1.6 makes `iat` a
        # NumericDate and the fixture's `iat` is a date string (pyjwt refuses it too).
        assert '"iat":"2010-01-01T19:23:24Z"' in case["payload"] or is_vp


def test_vc_jose_cose_spec_example_2_enveloped_credential_verifies() -> None:
    example = next(e for e in VCJ["spec_examples"] if e.get("signature_verifiable"))
    payload = json.loads(example["payload"])
    keys = PinnedKeys({payload["issuer"]: [example["public_jwk"]]})

    result = verify_vc_jwt(
        example["compact"],
        resolver=keys,
        clock=FixedClock(datetime(2026, 1, 1, tzinfo=UTC)),
        policy=VerificationPolicy(check_schema=False),
    )
    assert result.status is Status.VALID, result.to_json()
    assert result.issuer == "https://university.example/issuers/565049"
    assert result.format == "vc+jwt"  # no `typ`: recognised from the VCDM 2.0 payload
