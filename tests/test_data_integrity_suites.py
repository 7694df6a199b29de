"""ancre.trust.data_integrity.cryptosuites: eddsa-jcs-2022, ecdsa-rdfc-2019 and ecdsa-jcs-2019
(P-256, P-384) against the W3C specifications' test vectors, and round trips of ancre's own
proofs. Vectors: tests/vectors/vc-di-ecdsa.json, tests/vectors/vc-di-eddsa-jcs.json."""

from __future__ import annotations

import copy
import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest
from _support import NOW, Issuer, vectors

from ancre.trust.clock import FixedClock
from ancre.trust.codec.b64 import b64url_encode
from ancre.trust.codec.multibase import base58btc_decode, base58btc_encode
from ancre.trust.data_integrity.cryptosuites import (
    CRYPTOSUITES,
    cryptosuite,
    hash_data,
    proof_configuration,
    verify_data,
)
from ancre.trust.data_integrity.jcs import jcs_canonicalize
from ancre.trust.data_integrity.proofs import add_proof, verify_data_integrity
from ancre.trust.did.document import public_key_from_multikey
from ancre.trust.did.resolvers import default_resolver
from ancre.trust.errors import AncreError, Code, ConfigurationError, IndeterminateError
from ancre.trust.keys.jwk import KeyType, PrivateKey
from ancre.trust.result import Status, Step, VerificationResult
from ancre.trust.steps import PinnedKeys
from ancre.trust.vcdm.jsonld import ContextStore, canonize

ECDSA = vectors("vc-di-ecdsa.json")
JCS = vectors("vc-di-eddsa-jcs.json")
EXAMPLES = vectors("vc-di-eddsa.json")["examples_context"]
ISSUER = "https://vc.example/issuers/5678"
SUITE_CASES = sorted(ECDSA["suites"])
CREATED = datetime(2023, 2, 24, 23, 36, 38, tzinfo=UTC)


def _store() -> ContextStore:
    store = ContextStore()
    store.add(EXAMPLES["url"], EXAMPLES["document"].encode(), EXAMPLES["sha256"])
    # The "employ" vectors use the citizenship context.
    citizenship = ECDSA["ecdsa_sd_2023"]["citizenship_context"]
    store.add(citizenship["url"], citizenship["document"].encode(), citizenship["sha256"])
    return store


STORE = _store()


def private_key(pair: dict[str, str]) -> PrivateKey:
    """A vector key pair: secretKeyMultibase (privateKeyMultibase in vc-di-eddsa's folder) is
    varint(p256-priv 0x1306 / p384-priv 0x1307 / ed25519-priv 0x1300) || the secret bytes."""
    secret = pair.get("secretKeyMultibase") or pair["privateKeyMultibase"]
    raw = base58btc_decode(secret[1:])
    assert raw[:2] in (b"\x86\x26", b"\x87\x26", b"\x80\x26")
    public = public_key_from_multikey(pair["publicKeyMultibase"])
    return PrivateKey.from_jwk({**public.to_jwk(), "d": b64url_encode(raw[2:])})


def pinned(*pairs: dict[str, str], issuer: str = ISSUER) -> PinnedKeys:
    """The vectors' issuers are https URLs (or other DIDs) whose keys are did:keys: only keys
    pinned for that issuer vouch for them."""
    jwks = []
    for pair in pairs:
        mb = pair["publicKeyMultibase"]
        jwks.append({**public_key_from_multikey(mb).to_jwk(), "kid": f"did:key:{mb}#{mb}"})
    return PinnedKeys({issuer: jwks})


def verify(document: Any, resolver: Any, **kwargs: Any) -> VerificationResult:
    kwargs.setdefault("clock", FixedClock(NOW))
    kwargs.setdefault("contexts", STORE)
    return verify_data_integrity(document, resolver=resolver, **kwargs)


def failed(result: VerificationResult) -> tuple[Status, Step, str | None]:
    error = result.errors[-1]
    return result.status, error.step, error.code


# ---- the specifications' vectors ------------------------------------------------------------


@pytest.mark.parametrize("name", SUITE_CASES)
def test_ecdsa_vector_canonical_forms_and_hashes_are_reproduced(name: str) -> None:
    case = ECDSA["suites"][name]
    suite = cryptosuite(case["cryptosuite"])
    unsecured = case["unsecured_credential"]
    config = case["proof_config"]
    if "upstream_inconsistent" in case:
        # The folder's canonical form is of an older document: consistent with its own
        # hash, not with the credential it ships (see the vector file's note).
        assert (
            hashlib.sha384(case["canonical_document"].encode()).hexdigest()
            == (case["document_hash_hex"])
        )
        assert canonize(unsecured, contexts=STORE) != case["canonical_document"]
        return
    if case["cryptosuite"] == "ecdsa-jcs-2019":
        assert jcs_canonicalize(unsecured).decode() == case["canonical_document"]
        assert jcs_canonicalize(config).decode() == case["canonical_proof_config"]
    else:
        assert canonize(unsecured, contexts=STORE) == case["canonical_document"]
        assert canonize(config, contexts=STORE) == case["canonical_proof_config"]
    key_type = KeyType.P256 if case["curve"] == "P-256" else KeyType.P384
    data = hash_data(suite, key_type, unsecured, config, contexts=STORE)
    assert data.hex() == case["combined_hash_hex"]
    half = len(data) // 2
    assert half == (32 if key_type is KeyType.P256 else 48)
    assert data[:half].hex() == case["proof_config_hash_hex"]
    assert data[half:].hex() == case["document_hash_hex"]


@pytest.mark.parametrize("name", SUITE_CASES)
def test_ecdsa_vector_signature_is_the_proof_value_and_verifies(name: str) -> None:
    case = ECDSA["suites"][name]
    signature = base58btc_decode(case["proof_value"][1:])
    # IEEE P1363 r || s: 64 bytes for P-256, 96 for P-384.
    assert signature.hex() == case["signature_hex"]
    assert len(signature) == (64 if case["curve"] == "P-256" else 96)
    key = public_key_from_multikey(ECDSA["key_pairs"][case["curve"]]["publicKeyMultibase"])
    suite = cryptosuite(case["cryptosuite"])
    data = bytes.fromhex(case["combined_hash_hex"])
    assert verify_data(suite, key, data, signature)
    assert not verify_data(suite, key, bytes([data[0] ^ 1]) + data[1:], signature)


def _issuer(document: dict[str, Any]) -> str:
    issuer = document["issuer"]
    return str(issuer["id"] if isinstance(issuer, dict) else issuer)


@pytest.mark.parametrize("name", SUITE_CASES)
def test_ecdsa_vector_signed_credential_verifies_through_the_engine(name: str) -> None:
    case = ECDSA["suites"][name]
    signed = case["signed_credential"]
    assert {k: v for k, v in signed.items() if k != "proof"} == case["unsecured_credential"]
    resolver = pinned(ECDSA["key_pairs"][case["curve"]], issuer=_issuer(signed))
    result = verify(signed, resolver)
    if "upstream_inconsistent" in case:
        # Signed over another document than the one it carries: rightly refused.
        assert failed(result) == (Status.INVALID, Step.SIGNATURE, Code.SIGNATURE_INVALID)
        return
    assert result.status is Status.VALID, result.errors
    signature = next(c for c in result.checks if c.step is Step.SIGNATURE)
    assert f"{case['cryptosuite']} {case['curve']} signature verifies" in signature.message
    [proof] = result.proofs
    assert (proof.status, proof.suite) == (
        Status.VALID,
        f"DataIntegrityProof/{case['cryptosuite']}",
    )


@pytest.mark.parametrize("name", SUITE_CASES)
def test_ecdsa_vector_tampered_claim_fails_the_signature(name: str) -> None:
    case = ECDSA["suites"][name]
    document = copy.deepcopy(case["signed_credential"])
    document["validFrom"] = "2024-01-01T00:00:00Z"
    resolver = pinned(ECDSA["key_pairs"][case["curve"]], issuer=_issuer(document))
    result = verify(document, resolver)
    assert failed(result) == (Status.INVALID, Step.SIGNATURE, Code.SIGNATURE_INVALID)


def test_eddsa_jcs_vector_reproduced_exactly() -> None:
    # Ed25519 is deterministic (RFC 8032 §5.1.6): same key, same data, same signature.
    case = JCS["eddsa_jcs_2022"]
    unsecured = JCS["unsecured_credential"]
    assert jcs_canonicalize(unsecured).decode() == case["canonical_document"]
    assert jcs_canonicalize(case["proof_config"]).decode() == case["canonical_proof_config"]
    assert (
        hashlib.sha256(case["canonical_document"].encode()).hexdigest()
        == (case["document_hash_hex"])
    )
    signed = add_proof(
        unsecured,
        private_key(JCS["key_pair"]),
        case["proof_config"]["verificationMethod"],
        created=CREATED,
        cryptosuite="eddsa-jcs-2022",
    )
    assert signed == case["signed_credential"]
    assert list(signed["proof"]) == list(case["signed_credential"]["proof"])
    assert base58btc_decode(case["proof_value"][1:]).hex() == case["signature_hex"]
    suite = cryptosuite("eddsa-jcs-2022")
    doc = {k: v for k, v in signed.items() if k != "proof"}
    config = proof_configuration(suite, doc, signed["proof"])
    assert hash_data(suite, KeyType.ED25519, doc, config).hex() == case["combined_hash_hex"]


def test_eddsa_jcs_vector_verifies_and_a_tampered_copy_does_not() -> None:
    signed = JCS["eddsa_jcs_2022"]["signed_credential"]
    resolver = pinned(JCS["key_pair"])
    assert verify(signed, resolver).status is Status.VALID
    tampered = copy.deepcopy(signed)
    tampered["name"] = "Forged Credential"
    assert failed(verify(tampered, resolver)) == (
        Status.INVALID,
        Step.SIGNATURE,
        Code.SIGNATURE_INVALID,
    )


def test_jcs_proof_context_must_start_the_document_context() -> None:
    signed = copy.deepcopy(JCS["eddsa_jcs_2022"]["signed_credential"])
    signed["proof"]["@context"] = ["https://www.w3.org/ns/credentials/examples/v2"]
    assert failed(verify(signed, pinned(JCS["key_pair"]))) == (
        Status.INVALID,
        Step.SIGNATURE,
        Code.INVALID_PROOF,
    )


def test_jcs_signs_json_members_rdfc_would_not_see() -> None:
    # JCS signs the JSON as it is: a member added after signing breaks the signature even
    # where JSON-LD would have no term for it.
    signed = copy.deepcopy(JCS["eddsa_jcs_2022"]["signed_credential"])
    signed["credentialSubject"]["extra"] = True
    result = verify(signed, pinned(JCS["key_pair"]))
    assert failed(result) == (Status.INVALID, Step.SIGNATURE, Code.SIGNATURE_INVALID)


# ---- round trips with fresh keys -------------------------------------------------------------


def membership(issuer: str) -> dict[str, Any]:
    return {
        "@context": ["https://www.w3.org/ns/credentials/v2", EXAMPLES["url"]],
        "id": "urn:uuid:6a1bb35e-6b6b-4a4d-9e59-2d8bd0e33c7e",
        "type": ["VerifiableCredential", "ExampleMembership"],
        "issuer": issuer,
        "validFrom": "2026-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:member", "memberOf": "Data space Loire"},
    }


ROUND_TRIPS = [
    ("eddsa-rdfc-2022", "ed25519"),
    ("eddsa-jcs-2022", "ed25519"),
    ("ecdsa-rdfc-2019", "p256"),
    ("ecdsa-rdfc-2019", "p384"),
    ("ecdsa-jcs-2019", "p256"),
    ("ecdsa-jcs-2019", "p384"),
]


@pytest.mark.parametrize(("suite", "key_type"), ROUND_TRIPS)
def test_round_trip_through_did_key(suite: str, key_type: str) -> None:
    issuer = Issuer.new(key_type)
    signed = add_proof(
        membership(issuer.did),
        issuer.key,
        issuer.kid,
        created=datetime(2026, 1, 2, tzinfo=UTC),
        cryptosuite=suite,
        contexts=STORE,
    )
    assert signed["proof"]["cryptosuite"] == suite
    assert ("@context" in signed["proof"]) is ("jcs" in suite)
    signature = base58btc_decode(signed["proof"]["proofValue"][1:])
    assert len(signature) == (96 if key_type == "p384" else 64)
    result = verify(signed, default_resolver())
    assert result.status is Status.VALID, result.errors
    tampered = copy.deepcopy(signed)
    tampered["credentialSubject"]["memberOf"] = "Data space Rhône"
    assert failed(verify(tampered, default_resolver())) == (
        Status.INVALID,
        Step.SIGNATURE,
        Code.SIGNATURE_INVALID,
    )


@pytest.mark.parametrize(
    ("suite", "key_type"),
    [
        ("eddsa-jcs-2022", "p256"),
        ("ecdsa-rdfc-2019", "ed25519"),
        ("ecdsa-jcs-2019", "ed25519"),
    ],
)
def test_signing_with_a_key_of_another_type_is_refused(suite: str, key_type: str) -> None:
    issuer = Issuer.new(key_type)
    with pytest.raises(ConfigurationError, match="signs with"):
        add_proof(membership(issuer.did), issuer.key, issuer.kid, created=NOW, cryptosuite=suite)


def test_unknown_and_selective_disclosure_suites_are_not_issued() -> None:
    issuer = Issuer.new("p256")
    for name in ("bbs-2023", "ecdsa-sd-2023", "ECDSA-RDFC-2019"):
        with pytest.raises(ConfigurationError):
            add_proof(membership(issuer.did), issuer.key, issuer.kid, created=NOW, cryptosuite=name)


def test_the_allow_list_is_explicit() -> None:
    assert set(CRYPTOSUITES) == {
        "eddsa-rdfc-2022",
        "eddsa-jcs-2022",
        "ecdsa-rdfc-2019",
        "ecdsa-jcs-2019",
        "ecdsa-sd-2023",
    }
    with pytest.raises(IndeterminateError) as err:
        cryptosuite("ecdsa-2019")
    assert err.value.code is Code.UNSUPPORTED_CRYPTOSUITE


@pytest.mark.parametrize(("curve", "other"), [("P-256", "P-384"), ("P-384", "P-256")])
def test_a_signature_relabelled_to_the_other_curve_fails(curve: str, other: str) -> None:
    # The vector signed with P-256, its verification method swapped for the P-384 key:
    # the hash follows the key's curve, and the 64-byte signature is not a P-384 one.
    name = f"ecdsa-rdfc-2019 {curve}"
    document = copy.deepcopy(ECDSA["suites"][name]["signed_credential"])
    mb = ECDSA["key_pairs"][other]["publicKeyMultibase"]
    document["proof"]["verificationMethod"] = f"did:key:{mb}#{mb}"
    result = verify(document, pinned(ECDSA["key_pairs"][other]))
    assert failed(result) == (Status.INVALID, Step.SIGNATURE, Code.SIGNATURE_INVALID)


def test_ecdsa_proof_value_of_a_wrong_size_is_refused_at_format() -> None:
    document = copy.deepcopy(ECDSA["suites"]["ecdsa-rdfc-2019 P-256"]["signed_credential"])
    document["proof"]["proofValue"] = "z" + base58btc_encode(b"\x01" * 80)
    result = verify(document, pinned(ECDSA["key_pairs"]["P-256"]))
    assert failed(result) == (Status.INVALID, Step.FORMAT, Code.INVALID_PROOF)


def test_jcs_refuses_numbers_outside_ieee_754() -> None:
    with pytest.raises(AncreError) as err:
        jcs_canonicalize({"n": 2**64})
    assert err.value.code is Code.CANONICALIZATION_FAILED
    with pytest.raises(AncreError) as err:
        jcs_canonicalize({"n": float("inf")})
    assert err.value.code is Code.CANONICALIZATION_FAILED


@pytest.mark.parametrize(
    ("url", "term", "value"),
    [
        ("https://w3id.org/security/multikey/v1", "Multikey", {"publicKeyMultibase": "z6Mk"}),
        ("https://w3id.org/security/jwk/v1", "JsonWebKey", {"publicKeyJwk": {"kty": "OKP"}}),
    ],
)
def test_the_key_contexts_are_shipped(url: str, term: str, value: dict[str, Any]) -> None:
    # A credential about a key (a controller document's method) signs with the shipped
    # multikey and JWK contexts, never fetched.
    issuer = Issuer.new("p256")
    document = {
        "@context": ["https://www.w3.org/ns/credentials/v2", url],
        "type": ["VerifiableCredential"],
        "issuer": issuer.did,
        "validFrom": "2026-01-01T00:00:00Z",
        "credentialSubject": {
            "id": "did:example:holder#key-1",
            "type": term,
            "controller": "did:example:holder",
            **value,
        },
    }
    signed = add_proof(document, issuer.key, issuer.kid, created=NOW, cryptosuite="ecdsa-rdfc-2019")
    nquads = canonize({k: v for k, v in signed.items() if k != "proof"})
    assert f"<https://w3id.org/security#{term}>" in nquads
    assert verify(signed, default_resolver(), contexts=None).status is Status.VALID


def test_jcs_refuses_a_context_appended_after_signing() -> None:
    # The spec's verification hashes the document with the proof's @context: a context
    # appended after signing would be unsigned, yet change the document's JSON-LD meaning
    # (here: give `memberOf` a definition). The signature alone would still verify.
    issuer = Issuer.new()
    document = {**membership(issuer.did), "@context": ["https://www.w3.org/ns/credentials/v2"]}
    signed = add_proof(document, issuer.key, issuer.kid, created=NOW, cryptosuite="eddsa-jcs-2022")
    signed["@context"] = [*signed["@context"], EXAMPLES["url"]]
    suite = cryptosuite("eddsa-jcs-2022")
    spec_view = {k: v for k, v in signed.items() if k != "proof"}
    spec_view["@context"] = signed["proof"]["@context"]
    data = hash_data(
        suite,
        KeyType.ED25519,
        spec_view,
        {k: v for k, v in signed["proof"].items() if k != "proofValue"},
    )
    assert verify_data(
        suite, issuer.key.public_key, data, base58btc_decode(signed["proof"]["proofValue"][1:])
    )
    result = verify(signed, default_resolver())
    assert failed(result) == (Status.INVALID, Step.SIGNATURE, Code.INVALID_PROOF)
    assert "does not sign" in result.errors[-1].message


@pytest.mark.parametrize(
    "value",
    [
        "uDnaepBuvsQ8cpsWrVKw8fbpGpvPeNSjVPTWoq6cRqaYzBKVP",  # not base58btc multibase
        "zDnaepBuvsQ8cpsWrVKw8fbpGpvPeNSjVPTWoq6cRqaYzBKV0",  # "0" is not base58
        "z" + base58btc_encode(b"\x80\x24\x02" + bytes(31)),  # P-256 point cut short
        "z" + base58btc_encode(b"\x80\x24\x05" + bytes(32)),  # not a SEC1 point
        "z" + base58btc_encode(b"\x81\x24\x02" + bytes(47)),  # P-384 point cut short
        "z" + base58btc_encode(b"\x80"),  # a varint that never ends
    ],
)
def test_bad_multikeys_are_invalid_multikey(value: str) -> None:
    with pytest.raises(AncreError) as err:
        public_key_from_multikey(value)
    assert err.value.code is Code.INVALID_MULTIKEY


def test_the_vector_multikeys_decode_to_their_curves() -> None:
    assert public_key_from_multikey(ECDSA["key_pairs"]["P-256"]["publicKeyMultibase"]).key_type is (
        KeyType.P256
    )
    assert public_key_from_multikey(ECDSA["key_pairs"]["P-384"]["publicKeyMultibase"]).key_type is (
        KeyType.P384
    )
