"""ancre.trust.data_integrity.proofs: Data Integrity (eddsa-rdfc-2022) and the legacy Linked Data
proofs (Ed25519Signature2018/2020, JsonWebSignature2020 incl. the Gaia-X flavour)."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from _support import NOW, Issuer, StaticResolver, vectors
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ancre.issuer.builders import Address, legal_person_credential
from ancre.trust.clock import FixedClock
from ancre.trust.codec.b64 import b64url_encode
from ancre.trust.codec.multibase import base58btc_decode
from ancre.trust.data_integrity.proofs import (
    FORMAT_LDP_VC,
    FORMAT_LDP_VP,
    add_proof,
    hash_data,
    verify_data_integrity,
    verify_data_integrity_presentation,
)
from ancre.trust.did.document import CompositeResolver, public_key_from_multikey
from ancre.trust.did.resolvers import default_resolver
from ancre.trust.errors import Code, ConfigurationError, InvalidError
from ancre.trust.jose.vc_jose import issue_vc_jwt
from ancre.trust.keys.jwk import PrivateKey, PublicKey
from ancre.trust.policy import DEFAULT_ALGORITHMS, VerificationPolicy
from ancre.trust.result import Status, Step, VerificationResult
from ancre.trust.steps import PinnedKeys
from ancre.trust.vcdm.jsonld import ContextStore, canonize

VECTOR = vectors("vc-di-eddsa.json")
TAGUS = vectors("gaiax-tagus.json")
EXAMPLES = VECTOR["examples_context"]
VC_V2 = "https://www.w3.org/ns/credentials/v2"
VC_V1 = "https://www.w3.org/2018/credentials/v1"
CREATED = datetime(2026, 1, 2, tzinfo=UTC)


def examples_store() -> ContextStore:
    store = ContextStore()
    store.add(EXAMPLES["url"], EXAMPLES["document"].encode(), EXAMPLES["sha256"])
    return store


STORE = examples_store()


def vector_key() -> PrivateKey:
    """The spec's Ed25519 key: secretKeyMultibase is varint(0x1300) || 32-byte seed."""
    raw = base58btc_decode(VECTOR["key_pair"]["secretKeyMultibase"][1:])
    assert raw[:2] == b"\x80\x26"
    public = public_key_from_multikey(VECTOR["key_pair"]["publicKeyMultibase"])
    return PrivateKey.from_jwk({**public.to_jwk(), "d": b64url_encode(raw[2:])})


def vector_resolver() -> PinnedKeys:
    # The spec's issuer is an https URL whose key is a did:key: only a key pinned for that
    # issuer can vouch for it.
    vm = VECTOR["eddsa_rdfc_2022"]["signed_credential"]["proof"]["verificationMethod"]
    public = public_key_from_multikey(VECTOR["key_pair"]["publicKeyMultibase"])
    return PinnedKeys({"https://vc.example/issuers/5678": [{**public.to_jwk(), "kid": vm}]})


def membership(issuer: str, **overrides: Any) -> dict[str, Any]:
    """A VCDM 2.0 credential whose claims are defined (by the W3C examples context)."""
    doc: dict[str, Any] = {
        "@context": [VC_V2, EXAMPLES["url"]],
        "id": "urn:uuid:6a1bb35e-6b6b-4a4d-9e59-2d8bd0e33c7e",
        "type": ["VerifiableCredential", "ExampleMembership"],
        "issuer": issuer,
        "validFrom": "2026-01-01T00:00:00Z",
        "validUntil": "2027-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:member", "memberOf": "Data space Loire"},
    }
    doc.update(overrides)
    return doc


def signed_membership(issuer: Issuer, **overrides: Any) -> dict[str, Any]:
    return add_proof(
        membership(issuer.did, **overrides), issuer.key, issuer.kid, created=CREATED, contexts=STORE
    )


def verify(document: Any, **kwargs: Any) -> VerificationResult:
    kwargs.setdefault("resolver", default_resolver())
    kwargs.setdefault("clock", FixedClock(NOW))
    kwargs.setdefault("contexts", STORE)
    return verify_data_integrity(document, **kwargs)


def failed(result: VerificationResult) -> tuple[Status, Step, str | None]:
    error = result.errors[-1]
    return result.status, error.step, error.code


# ---- W3C vc-di-eddsa test vectors -------------------------------------------------------------


def test_vector_hash_data_reproduces_the_spec_hashes() -> None:
    case = VECTOR["eddsa_rdfc_2022"]
    options = {k: v for k, v in case["proof_options"].items() if k != "@context"}
    data = hash_data(VECTOR["unsecured_credential"], options, contexts=STORE)
    assert data.hex() == case["combined_hash_hex"]
    assert data[32:].hex() == VECTOR["credential_hash_hex"]
    assert data[:32].hex() == case["proof_options_hash_hex"]


def test_vector_add_proof_reproduces_the_signed_credential_exactly() -> None:
    # Ed25519 is deterministic (RFC 8032 §5.1.6): same key, same data, same signature.
    case = VECTOR["eddsa_rdfc_2022"]
    signed = add_proof(
        VECTOR["unsecured_credential"],
        vector_key(),
        case["proof_options"]["verificationMethod"],
        created=datetime(2023, 2, 24, 23, 36, 38, tzinfo=UTC),
        contexts=STORE,
    )
    assert signed["proof"]["proofValue"] == case["proof_value"]
    assert base58btc_decode(case["proof_value"][1:]).hex() == case["signature_hex"]
    assert signed == case["signed_credential"]
    assert list(signed["proof"]) == list(case["signed_credential"]["proof"])


@pytest.mark.parametrize("suite", ["eddsa_rdfc_2022", "ed25519_signature_2020"])
def test_vector_signed_credential_verifies(suite: str) -> None:
    result = verify(VECTOR[suite]["signed_credential"], resolver=vector_resolver())
    assert result.status is Status.VALID, result.errors
    assert result.format == FORMAT_LDP_VC
    assert result.issuer == "https://vc.example/issuers/5678"
    assert result.types == ("VerifiableCredential", "AlumniCredential")
    assert result.subject == "did:example:abcdefgh"
    assert [c.step for c in result.checks][:4] == [
        Step.PARSE,
        Step.FORMAT,
        Step.ISSUER_KEY,
        Step.SIGNATURE,
    ]


def test_vector_ed25519_signature_2020_signature_bytes() -> None:
    case = VECTOR["ed25519_signature_2020"]
    options_hash = hashlib.sha256(canonize(case["proof_options"], contexts=STORE).encode())
    combined = options_hash.digest() + bytes.fromhex(VECTOR["credential_hash_hex"])
    assert combined.hex() == case["combined_hash_hex"]
    assert vector_key().sign(combined).hex() == case["signature_hex"]


def test_vector_issuer_is_not_the_key_controller_so_did_resolution_refuses_it() -> None:
    result = verify(VECTOR["eddsa_rdfc_2022"]["signed_credential"])
    assert failed(result) == (Status.INVALID, Step.ISSUER_KEY, Code.KID_MISMATCH)


def test_vector_without_the_examples_context_is_an_unknown_context() -> None:
    result = verify(
        VECTOR["eddsa_rdfc_2022"]["signed_credential"],
        resolver=vector_resolver(),
        contexts=ContextStore(),
    )
    assert failed(result) == (Status.INDETERMINATE, Step.SIGNATURE, Code.UNKNOWN_CONTEXT)
    assert EXAMPLES["url"] in result.errors[0].message


# ---- issue and verify -------------------------------------------------------------------------


def test_roundtrip_did_key_issuer(ed_issuer: Issuer) -> None:
    signed = signed_membership(ed_issuer)
    assert signed["proof"]["type"] == "DataIntegrityProof"
    assert signed["proof"]["created"] == "2026-01-02T00:00:00Z"
    result = verify(
        json.dumps(signed).encode(),
        policy=VerificationPolicy(trusted_issuers=frozenset({ed_issuer.did})),
    )
    assert result.status is Status.VALID, result.errors
    assert result.issuer == ed_issuer.did
    assert result.credential is not None
    assert "proof" not in result.credential
    assert all(c.ok and not c.skipped for c in result.checks)


def test_roundtrip_gaiax_legal_person_runs_the_schema_step(ed_issuer: Issuer) -> None:
    credential = legal_person_credential(
        issuer=ed_issuer.did,
        credential_id="https://issuer.example/credentials/lp-1",
        subject_id="https://issuer.example/participants/acme#cs",
        name="ACME SAS",
        registration_number_id="https://issuer.example/credentials/lrn-1#cs",
        legal_address=Address(country_code="FR", subdivision_code="FR-75"),
        valid_from=datetime(2026, 1, 1, tzinfo=UTC),
    )
    signed = add_proof(credential, ed_issuer.key, ed_issuer.kid, created=CREATED)
    result = verify(signed, contexts=None)
    assert result.status is Status.VALID, result.errors
    assert next(c for c in result.checks if c.step is Step.SCHEMA).message.startswith(
        "credential subjects match"
    )


def test_roundtrip_vcdm11_with_the_data_integrity_v1_context(ed_issuer: Issuer) -> None:
    credential = {
        "@context": [VC_V1, "https://w3id.org/security/data-integrity/v1"],
        "type": ["VerifiableCredential"],
        "issuer": ed_issuer.did,
        "issuanceDate": "2026-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:subject"},
    }
    signed = add_proof(credential, ed_issuer.key, ed_issuer.kid, created=CREATED)
    result = verify(signed)
    assert result.status is Status.VALID, result.errors
    assert "VCDM 1.1" in next(c for c in result.checks if c.step is Step.DATA_MODEL).message
    refused = verify(signed, policy=VerificationPolicy(accept_vcdm11=False))
    assert failed(refused) == (Status.INVALID, Step.DATA_MODEL, Code.POLICY_VIOLATION)


def test_vcdm11_without_a_data_integrity_context_cannot_be_signed(ed_issuer: Issuer) -> None:
    credential = {
        "@context": [VC_V1],
        "type": ["VerifiableCredential"],
        "issuer": ed_issuer.did,
        "issuanceDate": "2026-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:subject"},
    }
    # credentials/v1 does not define DataIntegrityProof's terms: the proof options cannot be
    # expressed, so nothing is signed.
    with pytest.raises(InvalidError, match="is not defined") as caught:
        add_proof(credential, ed_issuer.key, ed_issuer.kid, created=CREATED)
    assert caught.value.code is Code.CANONICALIZATION_FAILED


@pytest.mark.parametrize("key_type", ["p256", "p384"])
def test_add_proof_needs_an_ed25519_key(key_type: str) -> None:
    issuer = Issuer.new(key_type)
    with pytest.raises(ConfigurationError, match="Ed25519"):
        add_proof(membership(issuer.did), issuer.key, issuer.kid, created=CREATED)


def test_add_proof_refuses_naive_datetimes_and_existing_proofs(ed_issuer: Issuer) -> None:
    with pytest.raises(ConfigurationError, match="timezone"):
        add_proof(
            membership(ed_issuer.did), ed_issuer.key, ed_issuer.kid, created=datetime(2026, 1, 1)
        )
    with pytest.raises(ConfigurationError, match="already has a proof"):
        add_proof(signed_membership(ed_issuer), ed_issuer.key, ed_issuer.kid, created=CREATED)


def test_add_proof_does_not_modify_its_input(ed_issuer: Issuer) -> None:
    document = membership(ed_issuer.did)
    before = copy.deepcopy(document)
    add_proof(document, ed_issuer.key, ed_issuer.kid, created=CREATED, contexts=STORE)
    assert document == before


# ---- negative cases, each with its code ------------------------------------------------------


def _tamper_subject(doc: dict[str, Any], _: Issuer) -> None:
    doc["credentialSubject"]["memberOf"] = "Data space Rhône"


def _tamper_proof_created(doc: dict[str, Any], _: Issuer) -> None:
    doc["proof"]["created"] = "2026-01-03T00:00:00Z"


def _wrong_purpose(doc: dict[str, Any], _: Issuer) -> None:
    doc["proof"]["proofPurpose"] = "authentication"


def _unknown_context(doc: dict[str, Any], _: Issuer) -> None:
    doc["@context"] = [*doc["@context"], "https://contexts.example/unknown/v1"]


def _unknown_cryptosuite(doc: dict[str, Any], _: Issuer) -> None:
    doc["proof"]["cryptosuite"] = "bbs-2023"


def _cryptosuite_of_another_key_type(doc: dict[str, Any], _: Issuer) -> None:
    # An Ed25519 signature relabelled as ECDSA: the suite must not follow the key.
    doc["proof"]["cryptosuite"] = "ecdsa-rdfc-2019"


def _unknown_proof_type(doc: dict[str, Any], _: Issuer) -> None:
    doc["proof"]["type"] = "BbsBlsSignature2020"


def _other_did(doc: dict[str, Any], _: Issuer) -> None:
    other = Issuer.new()
    doc["proof"]["verificationMethod"] = other.kid


def _no_proof(doc: dict[str, Any], _: Issuer) -> None:
    del doc["proof"]


def _proof_set(doc: dict[str, Any], _: Issuer) -> None:
    # Two proofs, the second's signature over other options: each is verified on its own.
    second = {**doc["proof"], "created": "2026-01-02T00:00:01Z"}
    doc["proof"] = [doc["proof"], second]


def _proof_chain(doc: dict[str, Any], _: Issuer) -> None:
    doc["proof"]["previousProof"] = "urn:uuid:26329423-bec9-4b2e-88cb-a7c7d9dc4544"


def _proof_value_not_multibase(doc: dict[str, Any], _: Issuer) -> None:
    doc["proof"]["proofValue"] = "u" + doc["proof"]["proofValue"][1:]


def _proof_value_short(doc: dict[str, Any], _: Issuer) -> None:
    doc["proof"]["proofValue"] = doc["proof"]["proofValue"][:40]


def _proof_value_not_base58(doc: dict[str, Any], _: Issuer) -> None:
    doc["proof"]["proofValue"] = "z0OIl" + doc["proof"]["proofValue"][5:]


def _proof_jws_instead(doc: dict[str, Any], _: Issuer) -> None:
    doc["proof"]["jws"] = "e30..AA"


def _proof_bad_created(doc: dict[str, Any], _: Issuer) -> None:
    doc["proof"]["created"] = "yesterday"


def _proof_vm_not_url(doc: dict[str, Any], _: Issuer) -> None:
    doc["proof"]["verificationMethod"] = {"id": "did:example:1#k"}


def _proof_own_context(doc: dict[str, Any], _: Issuer) -> None:
    doc["proof"]["@context"] = ["https://w3id.org/security/data-integrity/v2"]


def _expired(doc: dict[str, Any], issuer: Issuer) -> None:
    resigned = add_proof(
        membership(issuer.did, validUntil="2026-01-10T00:00:00Z"),
        issuer.key,
        issuer.kid,
        created=CREATED,
        contexts=STORE,
    )
    doc.clear()
    doc.update(resigned)


def _proof_expired(doc: dict[str, Any], issuer: Issuer) -> None:
    resigned = add_proof(
        membership(issuer.did),
        issuer.key,
        issuer.kid,
        created=CREATED,
        expires=datetime(2026, 1, 5, tzinfo=UTC),
        contexts=STORE,
    )
    doc.clear()
    doc.update(resigned)


def _created_in_future(doc: dict[str, Any], issuer: Issuer) -> None:
    resigned = add_proof(
        membership(issuer.did),
        issuer.key,
        issuer.kid,
        created=NOW + timedelta(days=1),
        contexts=STORE,
    )
    doc.clear()
    doc.update(resigned)


def _not_a_credential(doc: dict[str, Any], _: Issuer) -> None:
    doc["type"] = ["VerifiablePresentation"]


NEGATIVE: dict[str, tuple[Callable[[dict[str, Any], Issuer], None], Status, Step, Code]] = {
    "tampered document": (_tamper_subject, Status.INVALID, Step.SIGNATURE, Code.SIGNATURE_INVALID),
    "tampered proof options": (
        _tamper_proof_created,
        Status.INVALID,
        Step.SIGNATURE,
        Code.SIGNATURE_INVALID,
    ),
    "wrong proofPurpose": (
        _wrong_purpose,
        Status.INVALID,
        Step.ISSUER_KEY,
        Code.PROOF_PURPOSE_MISMATCH,
    ),
    "unknown context": (
        _unknown_context,
        Status.INDETERMINATE,
        Step.SIGNATURE,
        Code.UNKNOWN_CONTEXT,
    ),
    "unknown cryptosuite": (
        _unknown_cryptosuite,
        Status.INDETERMINATE,
        Step.FORMAT,
        Code.UNSUPPORTED_CRYPTOSUITE,
    ),
    "cryptosuite of another key type": (
        _cryptosuite_of_another_key_type,
        Status.INVALID,
        Step.ISSUER_KEY,
        Code.CRYPTOSUITE_KEY_MISMATCH,
    ),
    "unknown proof type": (
        _unknown_proof_type,
        Status.INDETERMINATE,
        Step.FORMAT,
        Code.UNSUPPORTED_CRYPTOSUITE,
    ),
    "verificationMethod of another DID": (
        _other_did,
        Status.INVALID,
        Step.ISSUER_KEY,
        Code.KID_MISMATCH,
    ),
    "expired": (_expired, Status.INVALID, Step.TIME, Code.EXPIRED),
    "proof expired": (_proof_expired, Status.INVALID, Step.TIME, Code.EXPIRED),
    "proof created in the future": (
        _created_in_future,
        Status.INVALID,
        Step.TIME,
        Code.NOT_YET_VALID,
    ),
    "no proof": (_no_proof, Status.INVALID, Step.FORMAT, Code.INVALID_PROOF),
    "proof set with one bad proof": (
        _proof_set,
        Status.INVALID,
        Step.SIGNATURE,
        Code.SIGNATURE_INVALID,
    ),
    "proof chain to a proof not there": (
        _proof_chain,
        Status.INVALID,
        Step.FORMAT,
        Code.PREVIOUS_PROOF_MISSING,
    ),
    "proofValue not base58btc multibase": (
        _proof_value_not_multibase,
        Status.INVALID,
        Step.FORMAT,
        Code.INVALID_PROOF,
    ),
    "proofValue too short": (_proof_value_short, Status.INVALID, Step.FORMAT, Code.INVALID_PROOF),
    "proofValue bad characters": (
        _proof_value_not_base58,
        Status.INVALID,
        Step.FORMAT,
        Code.INVALID_PROOF,
    ),
    "jws on a DataIntegrityProof": (
        _proof_jws_instead,
        Status.INVALID,
        Step.FORMAT,
        Code.INVALID_PROOF,
    ),
    "created not a dateTime": (_proof_bad_created, Status.INVALID, Step.FORMAT, Code.INVALID_PROOF),
    "verificationMethod not a URL": (
        _proof_vm_not_url,
        Status.INVALID,
        Step.FORMAT,
        Code.INVALID_PROOF,
    ),
    "proof @context not a prefix of the document's": (
        _proof_own_context,
        Status.INVALID,
        Step.SIGNATURE,
        Code.INVALID_PROOF,
    ),
    "not a credential": (_not_a_credential, Status.INVALID, Step.FORMAT, Code.INVALID_TYPE),
}


@pytest.mark.parametrize("case", list(NEGATIVE))
def test_negative(case: str, ed_issuer: Issuer) -> None:
    mutate, status, step, code = NEGATIVE[case]
    document = signed_membership(ed_issuer)
    mutate(document, ed_issuer)
    assert failed(verify(document)) == (status, step, code)


def test_undefined_claim_added_after_signing_is_refused(ed_issuer: Issuer) -> None:
    # The classic JSON-LD attack: add a claim no context defines (VCDM 1.1 has no @vocab).
    # JSON-LD drops it before hashing, so without safe mode the signature still "verifies" a
    # credential that says more than what was signed.
    credential = {
        "@context": [VC_V1, "https://w3id.org/security/data-integrity/v2"],
        "type": ["VerifiableCredential"],
        "issuer": ed_issuer.did,
        "issuanceDate": "2026-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:subject"},
    }
    signed = add_proof(credential, ed_issuer.key, ed_issuer.kid, created=CREATED)
    tampered = copy.deepcopy(signed)
    tampered["credentialSubject"]["role"] = "administrator"
    unsecured = {k: v for k, v in tampered.items() if k != "proof"}
    assert _pyld_canonical(unsecured) == _pyld_canonical(credential)  # the attack is real
    result = verify(tampered)
    assert failed(result) == (Status.INVALID, Step.SIGNATURE, Code.CANONICALIZATION_FAILED)
    assert "'role'" in result.errors[0].message


def test_vm_fragment_of_the_same_did_that_is_not_in_the_document(ed_issuer: Issuer) -> None:
    document = signed_membership(ed_issuer)
    document["proof"]["verificationMethod"] = ed_issuer.did + "#other-key"
    assert failed(verify(document)) == (
        Status.INVALID,
        Step.ISSUER_KEY,
        Code.VERIFICATION_METHOD_NOT_FOUND,
    )


def test_key_listed_only_for_authentication_cannot_sign_credentials() -> None:
    key = PrivateKey.generate("ed25519")
    did = "did:web:issuer.example"
    vm = f"{did}#key-1"
    document = {
        "id": did,
        "verificationMethod": [
            {
                "id": vm,
                "type": "JsonWebKey2020",
                "controller": did,
                "publicKeyJwk": key.public_key.to_jwk(),
            }
        ],
        "authentication": [vm],
    }
    resolver = CompositeResolver({"web": StaticResolver({did: document})})
    signed = add_proof(membership(did), key, vm, created=CREATED, contexts=STORE)
    assert failed(verify(signed, resolver=resolver)) == (
        Status.INVALID,
        Step.ISSUER_KEY,
        Code.KEY_NOT_ASSERTION_METHOD,
    )


def test_proof_by_a_p256_key_is_a_cryptosuite_key_mismatch(ed_issuer: Issuer) -> None:
    # A DataIntegrityProof claiming eddsa-rdfc-2022 from an issuer whose key is P-256.
    p256 = Issuer.new("p256")
    document = signed_membership(ed_issuer)
    document["issuer"] = p256.did
    document["proof"]["verificationMethod"] = p256.kid
    result = verify(document)
    assert failed(result) == (Status.INVALID, Step.ISSUER_KEY, Code.CRYPTOSUITE_KEY_MISMATCH)
    assert "eddsa-rdfc-2022 signs with Ed25519 keys, the key is P-256" in result.errors[-1].message


def test_trust_status_and_policy_steps(ed_issuer: Issuer) -> None:
    signed = signed_membership(ed_issuer)
    untrusted = verify(signed, policy=VerificationPolicy(trusted_issuers=frozenset()))
    assert failed(untrusted) == (Status.INVALID, Step.TRUST, Code.ISSUER_NOT_TRUSTED)
    required = verify(
        signed, policy=VerificationPolicy(required_types=frozenset({"gx:LegalPerson"}))
    )
    assert failed(required) == (Status.INVALID, Step.POLICY, Code.POLICY_VIOLATION)
    with_status = add_proof(
        membership(
            ed_issuer.did,
            credentialStatus={
                "id": "https://issuer.example/status/1#94567",
                "type": "BitstringStatusListEntry",
                "statusPurpose": "revocation",
                "statusListIndex": "94567",
                "statusListCredential": "https://issuer.example/status/1",
            },
        ),
        ed_issuer.key,
        ed_issuer.kid,
        created=CREATED,
        contexts=STORE,
    )
    unchecked = verify(with_status)
    assert failed(unchecked) == (Status.INDETERMINATE, Step.STATUS, Code.STATUS_UNCHECKED)

    class Revoked:
        def check(self, credential: Any, *, issuer: str, clock: Any) -> str:
            assert credential["credentialStatus"]["statusListIndex"] == "94567"
            raise InvalidError(Code.REVOKED, "revoked")

    revoked = verify(with_status, status=Revoked())
    assert failed(revoked) == (Status.INVALID, Step.STATUS, Code.REVOKED)


@pytest.mark.parametrize(
    ("document", "code"),
    [
        (b"{not json", Code.MALFORMED_JSON),
        (b'{"a": 1, "a": 2}', Code.DUPLICATE_JSON_KEY),
        (b"[]", Code.MALFORMED_JSON),
        (b"{}" + b" " * 300_000, Code.INPUT_TOO_LARGE),
    ],
)
def test_unparseable_input_is_malformed(document: bytes, code: Code) -> None:
    result = verify(document)
    assert failed(result) == (Status.INVALID, Step.PARSE, code)
    assert result.malformed


_ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
_FUZZ_ISSUER = Issuer.new()
_FUZZ_SIGNED = add_proof(
    membership(_FUZZ_ISSUER.did),
    _FUZZ_ISSUER.key,
    _FUZZ_ISSUER.kid,
    created=CREATED,
    contexts=STORE,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    where=st.sampled_from(["proof", "document"]),
    member=st.sampled_from(
        [
            "type",
            "cryptosuite",
            "proofValue",
            "jws",
            "created",
            "verificationMethod",
            "proofPurpose",
            "domain",
            "@context",
            "issuer",
            "credentialSubject",
            "validFrom",
        ]
    ),
    value=_ANY_JSON,
)
def test_hostile_members_never_raise(where: str, member: str, value: Any) -> None:
    document = copy.deepcopy(_FUZZ_SIGNED)
    target = document["proof"] if where == "proof" else document
    target[member] = value
    result = verify(document)
    assert isinstance(result, VerificationResult)
    if result.status is not Status.VALID:
        assert result.errors[-1].code in {c.value for c in Code}


def test_oversized_mapping_is_refused_before_any_json_ld(ed_issuer: Issuer) -> None:
    signed = signed_membership(ed_issuer)
    signed["credentialSubject"]["memberOf"] = "x" * 300_000
    assert failed(verify(signed)) == (Status.INVALID, Step.PARSE, Code.INPUT_TOO_LARGE)


# ---- Gaia-X Tagus: JsonWebSignature2020, RSA PS256, the Gaia-X flavour ----------------------

TAGUS_DID = "did:web:notary.example"
TAGUS_VM = f"{TAGUS_DID}#X509-JWK2020"
GX_HEADER = {"alg": "PS256", "b64": False, "crit": ["b64"]}
TAGUS_CONTEXT = (
    "https://registry.lab.gaia-x.eu/development/api/trusted-shape-registry/v1/shapes/jsonld/"
    "trustframework#"
)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def tagus_resolver(
    key: rsa.RSAPrivateKey, did: str = TAGUS_DID, vm: str = TAGUS_VM
) -> CompositeResolver:
    document = {
        "@context": [
            "https://www.w3.org/ns/did/v1",
            "https://w3id.org/security/suites/jws-2020/v1",
        ],
        "id": did,
        "verificationMethod": [
            {
                "id": vm,
                "type": "JsonWebKey2020",
                "controller": did,
                "publicKeyJwk": PublicKey(key.public_key()).to_jwk(),
            }
        ],
        "assertionMethod": [vm],
    }
    return CompositeResolver({"web": StaticResolver({did: document})})


def _pyld_canonical(document: dict[str, Any]) -> str:
    """What gx-compliance does: JSON-LD canonize, URDNA2015, N-Quads, no safe mode — with
    pyld's own API and frozen loader (serving ancre's context files), not ancre's canonize()."""
    from pyld import jsonld
    from pyld.documentloader.frozen import FrozenDocumentLoader

    store = ContextStore()
    documents: dict[str, Any] = {url: store.document(url) for url in store.urls}
    documents[TAGUS_CONTEXT] = store.document(TAGUS_CONTEXT)
    result: str = jsonld.normalize(
        document,
        {
            "algorithm": "URDNA2015",
            "format": "application/n-quads",
            "documentLoader": FrozenDocumentLoader(documents),
        },
    )
    return result


def _detached_ps256(header: dict[str, Any], payload: bytes, key: rsa.RSAPrivateKey) -> str:
    h64 = b64url_encode(json.dumps(header, separators=(",", ":")).encode())
    signature = key.sign(
        h64.encode() + b"." + payload,
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH),
        hashes.SHA256(),
    )
    return f"{h64}..{b64url_encode(signature)}"


def gaiax_sign(
    document: dict[str, Any], key: rsa.RSAPrivateKey, vm: str = TAGUS_VM
) -> dict[str, Any]:
    """The Gaia-X flavour of JsonWebSignature2020 (gx-compliance SignatureService.sign and
    ProofService.checkSignature): a detached PS256 JWS whose payload is the hex SHA-256 of the
    canonical document without proof."""
    digest = hashlib.sha256(_pyld_canonical(document).encode()).hexdigest()
    return {
        **document,
        "proof": {
            "type": "JsonWebSignature2020",
            "created": "2025-02-23T16:44:25.000Z",
            "proofPurpose": "assertionMethod",
            "verificationMethod": vm,
            "jws": _detached_ps256(GX_HEADER, digest.encode(), key),
        },
    }


def tagus_lrn(issuer: str = TAGUS_DID) -> dict[str, Any]:
    """The notary v1 registration-number credential, without its proof, issued by `issuer`."""
    document = {k: v for k, v in TAGUS["notary_v1_registration_number"].items() if k != "proof"}
    return {**copy.deepcopy(document), "issuer": issuer}


def test_gaiax_flavour_notary_credential_verifies(rsa_key: rsa.RSAPrivateKey) -> None:
    signed = gaiax_sign(tagus_lrn(), rsa_key)
    result = verify(signed, resolver=tagus_resolver(rsa_key))
    assert result.status is Status.VALID, result.errors
    assert result.header == GX_HEADER
    signature = next(c for c in result.checks if c.step is Step.SIGNATURE)
    assert "Gaia-X flavour" in signature.message
    assert "proof options are not signed" in signature.message


def test_gaiax_flavour_tampered_document_fails(rsa_key: rsa.RSAPrivateKey) -> None:
    signed = gaiax_sign(tagus_lrn(), rsa_key)
    signed["credentialSubject"]["gx:vatID"] = "FR40303265045"
    result = verify(signed, resolver=tagus_resolver(rsa_key))
    assert failed(result) == (Status.INVALID, Step.SIGNATURE, Code.SIGNATURE_INVALID)


def test_gaiax_flavour_leaves_proof_options_unsigned(rsa_key: rsa.RSAPrivateKey) -> None:
    # What the flavour gives up: `created` can be rewritten without breaking the signature.
    signed = gaiax_sign(tagus_lrn(), rsa_key)
    signed["proof"]["created"] = "2025-12-31T00:00:00Z"
    assert verify(signed, resolver=tagus_resolver(rsa_key)).status is Status.VALID


def test_gaiax_terms_and_conditions_shape(rsa_key: rsa.RSAPrivateKey) -> None:
    document = copy.deepcopy(TAGUS["deltadao_terms_and_conditions"])
    did = document["issuer"]
    resolver = tagus_resolver(rsa_key, did, f"{did}#X509-JWK2020")
    # As published, its top-level type is defined by no context: JSON-LD drops it from the
    # signed data, and safe mode refuses to verify a type nobody signed.
    as_published = gaiax_sign(document, rsa_key, f"{did}#X509-JWK2020")
    refused = verify(as_published, resolver=resolver)
    assert failed(refused) == (Status.INVALID, Step.SIGNATURE, Code.CANONICALIZATION_FAILED)
    assert "GaiaXTermsAndConditions" in refused.errors[0].message
    # With the type written as the defined compact IRI, the same shape verifies.
    document["type"] = ["VerifiableCredential", "gx:GaiaXTermsAndConditions"]
    fixed = gaiax_sign(document, rsa_key, f"{did}#X509-JWK2020")
    assert verify(fixed, resolver=resolver).status is Status.VALID


def test_json_web_signature_2020_specification_flavour_with_rsa(
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    document = tagus_lrn()
    document["@context"] = [VC_V1, "https://w3id.org/security/suites/jws-2020/v1"]
    options = {
        "type": "JsonWebSignature2020",
        "created": "2025-02-23T16:44:25Z",
        "proofPurpose": "assertionMethod",
        "verificationMethod": TAGUS_VM,
        "@context": document["@context"],
    }
    hashed = (
        hashlib.sha256(_pyld_canonical(options).encode()).digest()
        + hashlib.sha256(_pyld_canonical(document).encode()).digest()
    )
    proof = {k: v for k, v in options.items() if k != "@context"}
    proof["jws"] = _detached_ps256(GX_HEADER, hashed, rsa_key)
    result = verify({**document, "proof": proof}, resolver=tagus_resolver(rsa_key))
    assert result.status is Status.VALID, result.errors
    assert "PS256 detached JWS verifies" in result.checks[3].message
    assert "Gaia-X" not in result.checks[3].message


def test_ps256_refused_when_the_policy_does_not_allow_it(rsa_key: rsa.RSAPrivateKey) -> None:
    signed = gaiax_sign(tagus_lrn(), rsa_key)
    policy = VerificationPolicy(algorithms=DEFAULT_ALGORITHMS - {"PS256"})
    result = verify(signed, resolver=tagus_resolver(rsa_key), policy=policy)
    assert failed(result) == (Status.INVALID, Step.FORMAT, Code.ALG_NOT_ALLOWED)


@pytest.mark.parametrize(
    ("header", "code"),
    [
        ({"alg": "PS256"}, Code.INVALID_PROOF),  # b64 missing: not an unencoded payload
        ({"alg": "PS256", "b64": False}, Code.INVALID_PROOF),  # b64 not critical (RFC 7797 §6)
        ({"alg": "PS256", "b64": False, "crit": ["b64", "x"], "x": 1}, Code.UNKNOWN_CRIT),
        ({"alg": "none", "b64": False, "crit": ["b64"]}, Code.ALG_NOT_ALLOWED),
        ({"alg": "HS256", "b64": False, "crit": ["b64"]}, Code.ALG_NOT_ALLOWED),
    ],
)
def test_detached_jws_header_rules(
    header: dict[str, Any], code: Code, rsa_key: rsa.RSAPrivateKey
) -> None:
    signed = gaiax_sign(tagus_lrn(), rsa_key)
    digest = hashlib.sha256(_pyld_canonical(tagus_lrn()).encode()).hexdigest()
    signed["proof"]["jws"] = _detached_ps256(header, digest.encode(), rsa_key)
    result = verify(signed, resolver=tagus_resolver(rsa_key))
    assert failed(result) == (Status.INVALID, Step.FORMAT, code)


def test_attached_payload_is_not_a_detached_jws(rsa_key: rsa.RSAPrivateKey) -> None:
    signed = gaiax_sign(tagus_lrn(), rsa_key)
    head, _, sig = signed["proof"]["jws"].split(".")
    signed["proof"]["jws"] = f"{head}.e30.{sig}"
    result = verify(signed, resolver=tagus_resolver(rsa_key))
    assert failed(result) == (Status.INVALID, Step.FORMAT, Code.INVALID_PROOF)


def test_real_tagus_notary_credential_parses_up_to_its_signature() -> None:
    # Signed by a local notary whose key is not published: with some other RSA key for that
    # DID, every step before the signature passes and the signature (rightly) fails.
    credential = TAGUS["notary_v1_registration_number"]
    did = credential["issuer"]
    assert credential["proof"]["verificationMethod"] == did
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    result = verify(credential, resolver=tagus_resolver(stranger, did, did))
    assert failed(result) == (Status.INVALID, Step.SIGNATURE, Code.SIGNATURE_INVALID)
    assert result.header == GX_HEADER
    assert result.types == ("VerifiableCredential",)
    assert result.subject == "did:web:gaia-x.eu:legalRegistrationNumber.json"
    assert "Gaia-X flavour" in result.errors[0].message


# ---- presentations ------------------------------------------------------------------------------


def _presentation(holder: Issuer, credentials: list[Any]) -> dict[str, Any]:
    return {
        "@context": [VC_V2, EXAMPLES["url"]],
        "type": ["VerifiablePresentation"],
        "holder": holder.did,
        "verifiableCredential": credentials,
    }


def _signed_presentation(
    holder: Issuer, credentials: list[Any], purpose: str = "authentication"
) -> dict[str, Any]:
    return add_proof(
        _presentation(holder, credentials),
        holder.key,
        holder.kid,
        created=NOW - timedelta(minutes=1),
        proof_purpose=purpose,
        challenge="n-0S6_WzA2Mj",
        domain="https://verifier.example",
        contexts=STORE,
    )


BOUND = VerificationPolicy(nonce="n-0S6_WzA2Mj", audience="https://verifier.example")


def verify_vp(presentation: Any, **kwargs: Any) -> VerificationResult:
    kwargs.setdefault("resolver", default_resolver())
    kwargs.setdefault("clock", FixedClock(NOW))
    kwargs.setdefault("contexts", STORE)
    return verify_data_integrity_presentation(presentation, **kwargs)


def test_presentation_with_an_embedded_credential(ed_issuer: Issuer) -> None:
    holder = Issuer.new()
    vp = _signed_presentation(holder, [signed_membership(ed_issuer)])
    result = verify_vp(vp, policy=BOUND)
    assert result.status is Status.VALID, result.errors
    assert result.format == FORMAT_LDP_VP
    assert result.holder == holder.did
    assert [r.status for r in result.credentials] == [Status.VALID]
    assert result.credentials[0].issuer == ed_issuer.did
    binding = next(c for c in result.checks if c.step is Step.HOLDER_BINDING)
    assert binding.message == "domain https://verifier.example, challenge matches"


def test_presentation_with_a_vc_jwt_entry(ed_issuer: Issuer) -> None:
    credential = {
        "@context": [VC_V2],
        "id": "urn:uuid:1b7b1b1e-0d0f-4d59-9c1a-3f6b7d1f2a10",
        "type": ["VerifiableCredential"],
        "issuer": ed_issuer.did,
        "validFrom": "2026-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:member"},
    }
    token = issue_vc_jwt(credential, ed_issuer.key, ed_issuer.kid)
    holder = Issuer.new()
    envelope = {
        "@context": [VC_V2],
        "id": f"data:application/vc+jwt,{token}",
        "type": "EnvelopedVerifiableCredential",
    }
    result = verify_vp(_signed_presentation(holder, [envelope]), policy=BOUND)
    assert result.status is Status.VALID, result.errors
    assert result.credentials[0].format == "vc+jwt"


@pytest.mark.parametrize(
    ("policy", "step", "code"),
    [
        (
            VerificationPolicy(nonce="another", audience="https://verifier.example"),
            Step.HOLDER_BINDING,
            Code.NONCE_MISMATCH,
        ),
        (
            VerificationPolicy(nonce="n-0S6_WzA2Mj", audience="https://other.example"),
            Step.HOLDER_BINDING,
            Code.AUDIENCE_MISMATCH,
        ),
    ],
)
def test_presentation_binding(
    policy: VerificationPolicy, step: Step, code: Code, ed_issuer: Issuer
) -> None:
    vp = _signed_presentation(Issuer.new(), [signed_membership(ed_issuer)])
    assert failed(verify_vp(vp, policy=policy)) == (Status.INVALID, step, code)


def test_presentation_without_binding_policy_is_recorded_as_replayable(ed_issuer: Issuer) -> None:
    vp = _signed_presentation(Issuer.new(), [signed_membership(ed_issuer)])
    result = verify_vp(vp)
    assert result.status is Status.VALID
    assert "replayable" in next(c for c in result.checks if c.step is Step.HOLDER_BINDING).message


def test_presentation_negative_cases(ed_issuer: Issuer) -> None:
    holder = Issuer.new()
    credential = signed_membership(ed_issuer)
    wrong_purpose = _signed_presentation(holder, [credential], purpose="assertionMethod")
    assert failed(verify_vp(wrong_purpose, policy=BOUND)) == (
        Status.INVALID,
        Step.ISSUER_KEY,
        Code.PROOF_PURPOSE_MISMATCH,
    )
    tampered = _signed_presentation(holder, [credential])
    tampered["verifiableCredential"][0]["credentialSubject"]["memberOf"] = "forged"
    assert failed(verify_vp(tampered, policy=BOUND)) == (
        Status.INVALID,
        Step.SIGNATURE,
        Code.SIGNATURE_INVALID,
    )
    stranger = _signed_presentation(holder, [credential])
    stranger["holder"] = Issuer.new().did
    assert failed(verify_vp(stranger, policy=BOUND)) == (
        Status.INVALID,
        Step.ISSUER_KEY,
        Code.KID_MISMATCH,
    )
    bad_inner = copy.deepcopy(credential)
    bad_inner["proof"]["proofValue"] = signed_membership(ed_issuer, id="urn:uuid:other")["proof"][
        "proofValue"
    ]
    inner_invalid = verify_vp(_signed_presentation(holder, [bad_inner]), policy=BOUND)
    assert failed(inner_invalid) == (Status.INVALID, Step.CREDENTIALS, Code.INVALID_PRESENTATION)
    assert failed(inner_invalid.credentials[0]) == (
        Status.INVALID,
        Step.SIGNATURE,
        Code.SIGNATURE_INVALID,
    )
    not_vp = _signed_presentation(holder, [credential])
    not_vp["type"] = ["VerifiableCredential"]
    assert failed(verify_vp(not_vp)) == (Status.INVALID, Step.FORMAT, Code.INVALID_PRESENTATION)


# ---- presentations without `holder` (VCDM 2.0 §4.13, 1.1 §4.10: optional) ----------------------


def _holder_less(holder: Issuer, credentials: list[Any], vm: str | None = None) -> dict[str, Any]:
    presentation = _presentation(holder, credentials)
    del presentation["holder"]
    return add_proof(
        presentation,
        holder.key,
        vm or holder.kid,
        created=NOW - timedelta(minutes=1),
        proof_purpose="authentication",
        challenge="n-0S6_WzA2Mj",
        domain="https://verifier.example",
        contexts=STORE,
    )


def test_presentation_without_holder_proves_its_verification_method(ed_issuer: Issuer) -> None:
    """What the presentation proves is the proof's verification method and its controller:
    recorded as the result's holder; domain and challenge bind it as before."""
    holder = Issuer.new()
    vp = _holder_less(holder, [signed_membership(ed_issuer)])
    result = verify_vp(vp, policy=BOUND)
    assert result.status is Status.VALID, result.errors
    assert result.holder == holder.did
    binding = next(c for c in result.checks if c.step is Step.HOLDER_BINDING)
    assert binding.message.startswith("domain https://verifier.example, challenge matches; ")
    assert f"no holder named: {holder.did}, the controller of the key" in binding.message
    for policy, code in (
        (replace(BOUND, nonce="replayed"), Code.NONCE_MISMATCH),
        (replace(BOUND, audience="https://other.example"), Code.AUDIENCE_MISMATCH),
    ):
        assert failed(verify_vp(vp, policy=policy)) == (Status.INVALID, Step.HOLDER_BINDING, code)
    added = copy.deepcopy(vp)
    added["holder"] = Issuer.new().did  # naming someone else afterwards breaks the proof
    assert failed(verify_vp(added, policy=BOUND))[2] in (Code.KID_MISMATCH, Code.SIGNATURE_INVALID)


def test_presentation_without_holder_and_the_require_holder_policy(ed_issuer: Issuer) -> None:
    holder = Issuer.new()
    strict = replace(BOUND, require_holder=True)
    holder_less = _holder_less(holder, [signed_membership(ed_issuer)])
    assert failed(verify_vp(holder_less, policy=strict)) == (
        Status.INVALID,
        Step.HOLDER_BINDING,
        Code.POLICY_VIOLATION,
    )
    named = _signed_presentation(holder, [signed_membership(ed_issuer)])
    assert verify_vp(named, policy=strict).status is Status.VALID


def test_presentation_without_holder_needs_a_did_verification_method(ed_issuer: Issuer) -> None:
    holder = Issuer.new()
    vm = "https://holder.example/keys#1"
    vp = _holder_less(holder, [signed_membership(ed_issuer)], vm=vm)
    keys = PinnedKeys({"https://holder.example/keys": [holder.key.public_key.to_jwk()]})
    assert failed(verify_vp(vp, policy=BOUND, resolver=keys)) == (
        Status.INVALID,
        Step.ISSUER_KEY,
        Code.INVALID_PRESENTATION,
    )


# ---- didkit (Spruce ssi, Rust) → ancre ---------------------------------------------------------


async def _didkit_issue(
    jwk: dict[str, str], proof_type: str | None, *, holder: bool = True
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    import didkit

    key = json.dumps(jwk)
    did = didkit.key_to_did("key", key)
    vm = await didkit.key_to_verification_method("key", key)
    credential = {
        "@context": [VC_V1],
        "type": ["VerifiableCredential"],
        "issuer": did,
        "issuanceDate": "2026-01-01T00:00:00Z",
        "expirationDate": "2027-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:holder"},
    }
    options: dict[str, Any] = {
        "proofFormat": "ldp",
        "verificationMethod": vm,
        "proofPurpose": "assertionMethod",
        # didkit stamps the wall clock by default; a fixed `created` keeps the test timeless.
        "created": "2026-01-02T00:00:00Z",
    }
    if proof_type is not None:
        options["type"] = proof_type
    issued = json.loads(
        await didkit.issue_credential(json.dumps(credential), json.dumps(options), key)
    )
    presentation: dict[str, Any] = {
        "@context": [VC_V1],
        "type": ["VerifiablePresentation"],
        "verifiableCredential": [issued],
    }
    if holder:
        presentation["holder"] = did
    vp_options = {
        "proofFormat": "ldp",
        "verificationMethod": vm,
        "proofPurpose": "authentication",
        "challenge": "n-0S6_WzA2Mj",
        "domain": "https://verifier.example",
        "created": "2026-01-10T00:00:00Z",
    }
    vp = json.loads(
        await didkit.issue_presentation(json.dumps(presentation), json.dumps(vp_options), key)
    )
    return did, issued, vp


@pytest.mark.interop
@pytest.mark.parametrize(
    ("key_type", "proof_type", "expected"),
    [
        ("ed25519", None, "Ed25519Signature2018"),  # didkit's default LD proof
        ("ed25519", "Ed25519Signature2020", "Ed25519Signature2020"),
        ("ed25519", "JsonWebSignature2020", "JsonWebSignature2020"),
        ("p256", "JsonWebSignature2020", "JsonWebSignature2020"),
    ],
)
def test_didkit_ld_proofs_verify_in_ancre(
    key_type: str, proof_type: str | None, expected: str
) -> None:
    key = PrivateKey.generate(key_type)
    did, credential, _ = asyncio.run(_didkit_issue(key.export_private_jwk(), proof_type))
    assert credential["proof"]["type"] == expected
    result = verify(credential, contexts=None)
    assert result.status is Status.VALID, result.errors
    assert result.issuer == did
    assert result.format == FORMAT_LDP_VC
    tampered = copy.deepcopy(credential)
    tampered["credentialSubject"]["id"] = "did:example:mallory"
    assert failed(verify(tampered, contexts=None)) == (
        Status.INVALID,
        Step.SIGNATURE,
        Code.SIGNATURE_INVALID,
    )


@pytest.mark.interop
def test_didkit_ed25519_signature_2018_presentation_verifies_in_ancre() -> None:
    key = PrivateKey.generate("ed25519")
    did, _, vp = asyncio.run(_didkit_issue(key.export_private_jwk(), None))
    assert vp["proof"]["type"] == "Ed25519Signature2018"
    result = verify_vp(vp, policy=BOUND, contexts=None)
    assert result.status is Status.VALID, result.errors
    assert result.holder == did
    assert [r.status for r in result.credentials] == [Status.VALID]
    wrong_nonce = verify_vp(vp, policy=VerificationPolicy(nonce="replayed"), contexts=None)
    assert failed(wrong_nonce) == (Status.INVALID, Step.HOLDER_BINDING, Code.NONCE_MISMATCH)


@pytest.mark.interop
def test_didkit_presentation_without_holder_verifies_in_ancre() -> None:
    """didkit signs a presentation that names no holder: ancre records the DID whose key
    signed it, and refuses it when its policy requires a named holder."""
    key = PrivateKey.generate("ed25519")
    did, _, vp = asyncio.run(_didkit_issue(key.export_private_jwk(), None, holder=False))
    assert "holder" not in vp
    result = verify_vp(vp, policy=BOUND, contexts=None)
    assert result.status is Status.VALID, result.errors
    assert result.holder == did
    strict = replace(BOUND, require_holder=True)
    assert failed(verify_vp(vp, policy=strict, contexts=None)) == (
        Status.INVALID,
        Step.HOLDER_BINDING,
        Code.POLICY_VIOLATION,
    )


@pytest.mark.interop
def test_didkit_p256_default_proof_is_an_unsupported_suite() -> None:
    # didkit signs P-256 keys with EcdsaSecp256r1Signature2019 unless told otherwise.
    key = PrivateKey.generate("p256")
    _, credential, _ = asyncio.run(_didkit_issue(key.export_private_jwk(), None))
    assert failed(verify(credential, contexts=None)) == (
        Status.INDETERMINATE,
        Step.FORMAT,
        Code.UNSUPPORTED_CRYPTOSUITE,
    )
