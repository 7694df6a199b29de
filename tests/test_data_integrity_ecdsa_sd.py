"""ancre.trust.data_integrity.ecdsa_sd: ecdsa-sd-2023 derived proofs, with the W3C
vc-di-ecdsa vectors (tests/vectors/vc-di-ecdsa.json, "ecdsa_sd_2023": the permanent resident
card example)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import cbor2
import pytest
from _support import vectors

from ancre.trust.clock import FixedClock
from ancre.trust.codec.b64 import b64url_decode, b64url_encode
from ancre.trust.data_integrity.ecdsa_sd import (
    DERIVED_HEADER,
    BaseProofValue,
    DerivedProofValue,
    create_verify_data,
    parse_proof_value,
    relabel_nquads,
)
from ancre.trust.data_integrity.proofs import verify_data_integrity
from ancre.trust.did.document import public_key_from_multikey
from ancre.trust.errors import AncreError, Code
from ancre.trust.result import Status, Step, VerificationResult
from ancre.trust.steps import PinnedKeys
from ancre.trust.vcdm.jsonld import ContextStore

SD = vectors("vc-di-ecdsa.json")["ecdsa_sd_2023"]
CITIZENSHIP = SD["citizenship_context"]
#: Inside the example card's validity (2024-12-16 to 2025-12-16).
WHEN = FixedClock(datetime(2025, 6, 1, tzinfo=UTC))
BASE_KEY = SD["key_material"]["baseKeyPair"]["publicKeyMultibase"]


def _store() -> ContextStore:
    store = ContextStore()
    store.add(CITIZENSHIP["url"], CITIZENSHIP["document"].encode(), CITIZENSHIP["sha256"])
    return store


STORE = _store()
# The card's issuer is one did:key, its proof's key another: pinned for the issuer.
RESOLVER = PinnedKeys(
    {
        SD["derived_credential"]["issuer"]["id"]: [
            {
                **public_key_from_multikey(BASE_KEY).to_jwk(),
                "kid": f"did:key:{BASE_KEY}#{BASE_KEY}",
            }
        ]
    }
)


def verify(document: Any) -> VerificationResult:
    return verify_data_integrity(document, resolver=RESOLVER, clock=WHEN, contexts=STORE)


def failed(result: VerificationResult) -> tuple[Status, Step, str | None]:
    error = result.errors[-1]
    return result.status, error.step, error.code


def _split(document: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], str]:
    unsecured = {k: v for k, v in document.items() if k != "proof"}
    proof = document["proof"]
    config = {k: v for k, v in proof.items() if k != "proofValue"}
    config["@context"] = unsecured["@context"]
    return unsecured, config, proof["proofValue"]


def _reencode(value: str, change: Any) -> str:
    raw = b64url_decode(value[1:])
    components = cbor2.loads(raw[3:])
    change(components)
    return "u" + b64url_encode(raw[:3] + cbor2.dumps(components))


# ---- the specification's vectors ------------------------------------------------------------


def test_vector_derived_proof_value_decodes_to_the_vector_components() -> None:
    parsed = parse_proof_value(SD["derived_credential"]["proof"]["proofValue"])
    assert isinstance(parsed, DerivedProofValue)
    expected = SD["verify_derived_proof_value"]
    assert parsed.base_signature.hex() == expected["baseSignature"]
    assert [s.hex() for s in parsed.signatures] == expected["signatures"]
    assert dict(parsed.label_map) == dict(expected["labelMap"])
    assert list(parsed.mandatory_indexes) == expected["mandatoryIndexes"]
    # The ephemeral key: multicodec p256-pub || compressed point, the vector's multikey.
    assert (
        public_key_from_multikey(expected["publicKey"]).raw_public_bytes()
        == (parsed.public_key[2:])
    )


def test_vector_base_proof_value_decodes_to_the_vector_components() -> None:
    parsed = parse_proof_value(SD["signed_base"]["proof"]["proofValue"])
    assert isinstance(parsed, BaseProofValue)
    info = SD["base_signature_info"]
    assert parsed.base_signature.hex() == info["baseSignature"]
    assert parsed.hmac_key.hex() == SD["key_material"]["hmacKeyString"].lower()
    assert [s.hex() for s in parsed.signatures] == info["signatures"]
    assert list(parsed.mandatory_pointers) == SD["mandatory_pointers"]


def test_vector_verify_data_is_reproduced() -> None:
    unsecured, config, value = _split(SD["derived_credential"])
    data = create_verify_data(unsecured, config, value, contexts=STORE)
    expected = SD["verify_data"]
    assert data.proof_hash.hex() == expected["proofHash"] == SD["base_hash_data"]["proofHash"]
    assert data.mandatory_hash.hex() == expected["mandatoryHash"]
    assert list(data.non_mandatory) == expected["nonMandatory"]


def test_vector_derived_credential_verifies() -> None:
    result = verify(SD["derived_credential"])
    assert result.status is Status.VALID, result.errors
    signature = next(c for c in result.checks if c.step is Step.SIGNATURE)
    assert "6 disclosed and 4 mandatory statements" in signature.message
    assert result.proofs[0].suite == "DataIntegrityProof/ecdsa-sd-2023"


# ---- what a verifier must refuse --------------------------------------------------------------


def test_a_base_proof_is_not_for_verifiers() -> None:
    result = verify(SD["signed_base"])
    assert failed(result) == (Status.INVALID, Step.SIGNATURE, Code.DERIVED_PROOF_MISMATCH)
    assert "HMAC key" in result.errors[-1].message


def test_a_changed_disclosed_value_fails_its_signature() -> None:
    document = copy.deepcopy(SD["derived_credential"])
    document["credentialSubject"]["birthCountry"] = "Utopia"
    result = verify(document)
    assert failed(result) == (Status.INVALID, Step.SIGNATURE, Code.SIGNATURE_INVALID)


def test_a_changed_mandatory_value_fails_the_base_signature() -> None:
    document = copy.deepcopy(SD["derived_credential"])
    document["issuer"]["image"] = "data:image/png;base64,AAAA"
    result = verify(document)
    assert failed(result) == (Status.INVALID, Step.SIGNATURE, Code.SIGNATURE_INVALID)
    assert "base signature" in result.errors[-1].message


def test_a_withheld_statement_is_a_derived_proof_mismatch() -> None:
    document = copy.deepcopy(SD["derived_credential"])
    del document["validUntil"]
    result = verify(document)
    assert failed(result) == (Status.INVALID, Step.SIGNATURE, Code.DERIVED_PROOF_MISMATCH)


def test_a_mandatory_index_out_of_range_is_a_derived_proof_mismatch() -> None:
    document = copy.deepcopy(SD["derived_credential"])
    document["proof"]["proofValue"] = _reencode(
        document["proof"]["proofValue"], lambda c: c[4].append(99)
    )
    assert failed(verify(document)) == (
        Status.INVALID,
        Step.SIGNATURE,
        Code.DERIVED_PROOF_MISMATCH,
    )


def test_a_label_map_missing_a_blank_node_is_a_derived_proof_mismatch() -> None:
    document = copy.deepcopy(SD["derived_credential"])
    document["proof"]["proofValue"] = _reencode(
        document["proof"]["proofValue"], lambda c: c[3].pop(0)
    )
    assert failed(verify(document)) == (
        Status.INVALID,
        Step.SIGNATURE,
        Code.DERIVED_PROOF_MISMATCH,
    )


def test_an_ephemeral_key_that_is_not_p256_is_an_invalid_multikey() -> None:
    ed25519 = b"\xed\x01" + bytes(32)

    def swap(components: list[Any]) -> None:
        components[1] = ed25519

    document = copy.deepcopy(SD["derived_credential"])
    document["proof"]["proofValue"] = _reencode(document["proof"]["proofValue"], swap)
    assert failed(verify(document)) == (Status.INVALID, Step.SIGNATURE, Code.INVALID_MULTIKEY)


def test_another_ephemeral_key_fails_the_base_signature() -> None:
    other = b"\x80\x24" + public_key_from_multikey(BASE_KEY).raw_public_bytes()

    def swap(components: list[Any]) -> None:
        components[1] = other

    document = copy.deepcopy(SD["derived_credential"])
    document["proof"]["proofValue"] = _reencode(document["proof"]["proofValue"], swap)
    assert failed(verify(document)) == (Status.INVALID, Step.SIGNATURE, Code.SIGNATURE_INVALID)


@pytest.mark.parametrize(
    "value",
    [
        "z" + "1" * 40,  # not base64url multibase
        "u" + b64url_encode(b"\xd9\x5d\x02" + cbor2.dumps([])),  # unknown header
        "u" + b64url_encode(DERIVED_HEADER + b"\xff\xff"),  # not CBOR
        "u" + b64url_encode(DERIVED_HEADER + cbor2.dumps([1, 2, 3])),  # wrong arity
        "u" + b64url_encode(DERIVED_HEADER + cbor2.dumps([b"", b"", [], {}, []])),
        "u" + b64url_encode(DERIVED_HEADER + cbor2.dumps(cbor2.CBORTag(1, 5))),  # a tag
        "u" + b64url_encode(DERIVED_HEADER + cbor2.dumps([bytes(64), b"k", [], {-1: b""}, []])),
        "u" + b64url_encode(DERIVED_HEADER + cbor2.dumps([bytes(64), b"k", [], {}, [-1]])),
    ],
)
def test_malformed_proof_values_are_refused_at_format(value: str) -> None:
    document = copy.deepcopy(SD["derived_credential"])
    document["proof"]["proofValue"] = value
    assert failed(verify(document)) == (Status.INVALID, Step.FORMAT, Code.INVALID_PROOF)


def test_an_oversized_proof_value_is_refused() -> None:
    with pytest.raises(AncreError) as err:
        parse_proof_value("u" + "A" * (200 * 1024))
    assert err.value.code is Code.INPUT_TOO_LARGE


def test_relabelling_leaves_literals_alone() -> None:
    nquads = (
        '_:c14n0 <https://e.example/p> "_:c14n0 is not a node \\" _:c14n1" .\n'
        "_:c14n1 <https://e.example/q> _:c14n0 _:c14n1 .\n"
    )
    out = relabel_nquads(nquads, {"c14n0": "uB", "c14n1": "uA"})
    # Relabelled, then sorted again (the new labels change the order).
    assert out == [
        "_:uA <https://e.example/q> _:uB _:uA .\n",
        '_:uB <https://e.example/p> "_:c14n0 is not a node \\" _:c14n1" .\n',
    ]
