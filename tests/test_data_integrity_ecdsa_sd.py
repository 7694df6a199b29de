"""ancre.trust.data_integrity.ecdsa_sd: ecdsa-sd-2023 derived proofs, with the W3C
vc-di-ecdsa vectors (tests/vectors/vc-di-ecdsa.json, "ecdsa_sd_2023": the permanent resident
card example)."""

from __future__ import annotations

import copy
import hashlib
from datetime import UTC, datetime
from typing import Any

import cbor2
import pytest
from _support import vectors
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ancre.trust.clock import FixedClock
from ancre.trust.codec.b64 import b64url_decode, b64url_encode
from ancre.trust.data_integrity.ecdsa_sd import (
    BASE_HEADER,
    DERIVED_HEADER,
    BaseProofValue,
    DerivedProofValue,
    add_base_proof,
    create_verify_data,
    derive_proof,
    parse_proof_value,
    relabel_nquads,
)
from ancre.trust.data_integrity.proofs import verify_data_integrity
from ancre.trust.data_integrity.sd_primitives import (
    canonicalize_and_group,
    hmac_label_map_factory,
    json_pointer_paths,
    select_json_ld,
)
from ancre.trust.did.document import public_key_from_multikey
from ancre.trust.did.key import did_key_from_public_key
from ancre.trust.errors import AncreError, Code, ConfigurationError
from ancre.trust.keys.jwk import KeyType, PrivateKey
from ancre.trust.result import Status, Step, VerificationResult
from ancre.trust.steps import PinnedKeys
from ancre.trust.vcdm.jsonld import ContextStore

VECTORS = vectors("vc-di-ecdsa.json")
SD = VECTORS["ecdsa_sd_2023"]
#: The permanent resident card (prc) and employment authorization (employ) examples.
EXAMPLES = {"prc": SD, "employ": VECTORS["ecdsa_sd_2023_employ"]}
CITIZENSHIP = SD["citizenship_context"]
#: Inside the example card's validity (2024-12-16 to 2025-12-16).
WHEN = FixedClock(datetime(2025, 6, 1, tzinfo=UTC))
BASE_KEY = SD["key_material"]["baseKeyPair"]["publicKeyMultibase"]


def _store() -> ContextStore:
    store = ContextStore()
    store.add(CITIZENSHIP["url"], CITIZENSHIP["document"].encode(), CITIZENSHIP["sha256"])
    return store


STORE = _store()


def verify(document: Any) -> VerificationResult:
    # The examples' issuers are did:keys, their proofs' key another one: pinned for them.
    pinned = {
        **public_key_from_multikey(BASE_KEY).to_jwk(),
        "kid": f"did:key:{BASE_KEY}#{BASE_KEY}",
    }
    resolver = PinnedKeys({document["issuer"]["id"]: [pinned]})
    return verify_data_integrity(document, resolver=resolver, clock=WHEN, contexts=STORE)


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


@pytest.mark.parametrize("example", list(EXAMPLES))
def test_vector_derived_proof_value_decodes_to_the_vector_components(example: str) -> None:
    sd = EXAMPLES[example]
    parsed = parse_proof_value(sd["derived_credential"]["proof"]["proofValue"])
    assert isinstance(parsed, DerivedProofValue)
    expected = sd["verify_derived_proof_value"]
    assert parsed.base_signature.hex() == expected["baseSignature"]
    assert [s.hex() for s in parsed.signatures] == expected["signatures"]
    assert dict(parsed.label_map) == dict(expected["labelMap"])
    assert list(parsed.mandatory_indexes) == expected["mandatoryIndexes"]
    # The ephemeral key: multicodec p256-pub || compressed point, the vector's multikey.
    assert (
        public_key_from_multikey(expected["publicKey"]).raw_public_bytes()
        == (parsed.public_key[2:])
    )


@pytest.mark.parametrize("example", list(EXAMPLES))
def test_vector_base_proof_value_decodes_to_the_vector_components(example: str) -> None:
    sd = EXAMPLES[example]
    parsed = parse_proof_value(sd["signed_base"]["proof"]["proofValue"])
    assert isinstance(parsed, BaseProofValue)
    info = sd["base_signature_info"]
    assert parsed.base_signature.hex() == info["baseSignature"]
    assert parsed.hmac_key.hex() == sd["key_material"]["hmacKeyString"].lower()
    assert [s.hex() for s in parsed.signatures] == info["signatures"]
    assert list(parsed.mandatory_pointers) == sd["mandatory_pointers"]


@pytest.mark.parametrize("example", list(EXAMPLES))
def test_vector_verify_data_is_reproduced(example: str) -> None:
    sd = EXAMPLES[example]
    unsecured, config, value = _split(sd["derived_credential"])
    data = create_verify_data(unsecured, config, value, contexts=STORE)
    expected = sd["verify_data"]
    assert data.proof_hash.hex() == expected["proofHash"] == sd["base_hash_data"]["proofHash"]
    assert data.mandatory_hash.hex() == expected["mandatoryHash"]
    assert list(data.non_mandatory) == expected["nonMandatory"]


@pytest.mark.parametrize("example", list(EXAMPLES))
def test_vector_derived_credential_verifies(example: str) -> None:
    sd = EXAMPLES[example]
    result = verify(sd["derived_credential"])
    assert result.status is Status.VALID, result.errors
    signature = next(c for c in result.checks if c.step is Step.SIGNATURE)
    expected = sd["verify_data"]
    disclosed, mandatory = (
        len(expected["nonMandatory"]),
        len(sd["verify_derived_proof_value"]["mandatoryIndexes"]),
    )
    assert f"{disclosed} disclosed and {mandatory} mandatory statements" in signature.message
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


# ---- the issuer's base proof and the holder's derivation ---------------------------------------


@pytest.mark.parametrize("example", list(EXAMPLES))
def test_vector_base_transformation_is_reproduced(example: str) -> None:
    sd = EXAMPLES[example]
    # The HMAC-relabelled canonical statements and the mandatory ones are the vectors'; the
    # vector's base signatures then verify over ancre's statements with its proof key.
    base = sd["signed_base"]
    unsecured = {k: v for k, v in base.items() if k != "proof"}
    key = bytes.fromhex(sd["key_material"]["hmacKeyString"])
    grouped = canonicalize_and_group(
        unsecured,
        hmac_label_map_factory(key),
        {"mandatory": sd["mandatory_pointers"]},
        contexts=STORE,
    )
    assert grouped.nquads == sd["base_hmac_canonical_nquads"]
    mandatory = grouped.groups["mandatory"]
    assert sorted(mandatory.matching.items()) == [
        (i, q) for i, q in sd["base_transform"]["mandatory"]["value"]
    ]
    non_mandatory = [mandatory.non_matching[i] for i in sorted(mandatory.non_matching)]
    parsed = parse_proof_value(base["proof"]["proofValue"])
    assert isinstance(parsed, BaseProofValue)
    proof_key = public_key_from_multikey(sd["key_material"]["proofKeyPair"]["publicKeyMultibase"])
    assert parsed.public_key[2:] == proof_key.raw_public_bytes()
    assert (
        len(parsed.signatures)
        == len(non_mandatory)
        == len(sd["base_transform"]["nonMandatory"]["value"])
    )
    for statement, signature in zip(non_mandatory, parsed.signatures, strict=True):
        assert proof_key.verify("ES256", statement.encode(), signature)
    mandatory_hash = hashlib.sha256("".join(mandatory.matching.values()).encode()).digest()
    assert mandatory_hash.hex() == sd["base_hash_data"]["mandatoryHash"]
    issuer_key = public_key_from_multikey(BASE_KEY)
    proof_hash = bytes.fromhex(sd["base_hash_data"]["proofHash"])
    assert issuer_key.verify(
        "ES256", proof_hash + parsed.public_key + mandatory_hash, parsed.base_signature
    )


@pytest.mark.parametrize("example", list(EXAMPLES))
def test_vector_derivation_is_reproduced_exactly(example: str) -> None:
    sd = EXAMPLES[example]
    # Deriving picks signatures and relabels: nothing random, so the holder's output is the
    # vector's byte for byte, proofValue included.
    derived = derive_proof(sd["signed_base"], sd["selective_pointers"], contexts=STORE)
    assert derived == sd["derived_credential"]
    assert {k: v for k, v in derived.items() if k != "proof"} == sd["derived_unsigned_reveal"]
    parsed = parse_proof_value(derived["proof"]["proofValue"])
    assert isinstance(parsed, DerivedProofValue)
    assert (
        list(parsed.mandatory_indexes) == (sd["derived_mandatory_indexes"]["adjMandatoryIndexes"])
    )


def _card(issuer: str) -> dict[str, Any]:
    card = copy.deepcopy(SD["unsecured_credential"])
    card["issuer"]["id"] = issuer
    return card


def _issued(**kwargs: Any) -> tuple[dict[str, Any], PinnedKeys]:
    key = PrivateKey.generate(KeyType.P256)
    did = did_key_from_public_key(key.public_key)
    kid = f"{did}#{did.removeprefix('did:key:')}"
    base = add_base_proof(
        _card(did),
        key,
        kid,
        created=datetime(2025, 1, 1, tzinfo=UTC),
        contexts=STORE,
        **kwargs,
    )
    return base, PinnedKeys({did: [{**key.public_key.to_jwk(), "kid": kid}]})


@pytest.mark.parametrize(
    "pointers",
    [
        ["/credentialSubject/type"],
        ["/credentialSubject/birthCountry"],
        ["/validFrom", "/credentialSubject/givenName", "/credentialSubject/familyName"],
        ["/credentialSubject/permanentResidentCard/lprNumber"],
        ["/credentialSubject"],
        ["/credentialSubject/type/1", "/name", "/description"],
    ],
)
def test_issue_derive_and_verify_round_trip(pointers: list[str]) -> None:
    base, resolver = _issued(mandatory_pointers=["/issuer", "/type", "/validUntil"])
    assert base["proof"]["proofValue"].startswith("u2V0A")
    derived = derive_proof(base, pointers, contexts=STORE)
    result = verify_data_integrity(derived, resolver=resolver, clock=WHEN, contexts=STORE)
    assert result.status is Status.VALID, result.errors
    assert derived["validUntil"] == base["validUntil"]  # mandatory, always disclosed
    if "/credentialSubject/birthCountry" not in pointers and "/credentialSubject" not in pointers:
        assert "birthCountry" not in derived.get("credentialSubject", {})


def test_a_derived_proof_cannot_be_stretched_to_a_withheld_claim() -> None:
    base, resolver = _issued(mandatory_pointers=["/issuer"])
    derived = derive_proof(base, ["/credentialSubject/givenName"], contexts=STORE)
    derived["credentialSubject"]["familyName"] = "SMITH"  # true, but not disclosed
    result = verify_data_integrity(derived, resolver=resolver, clock=WHEN, contexts=STORE)
    assert failed(result) == (Status.INVALID, Step.SIGNATURE, Code.DERIVED_PROOF_MISMATCH)


def test_base_proof_with_fixed_keys_carries_them() -> None:
    proof_key = PrivateKey.generate(KeyType.P256)
    base, _ = _issued(hmac_key=bytes(range(32)), proof_key=proof_key)
    parsed = parse_proof_value(base["proof"]["proofValue"])
    assert isinstance(parsed, BaseProofValue)
    assert parsed.hmac_key == bytes(range(32))
    assert parsed.public_key == b"\x80\x24" + proof_key.public_key.raw_public_bytes()
    assert parsed.mandatory_pointers == ()


def test_derivation_refuses_pointers_that_do_not_match() -> None:
    base, _ = _issued()
    for pointer in ("/credentialSubject/nickname", "credentialSubject", "/type/9", "/a~2b"):
        with pytest.raises(ConfigurationError):
            derive_proof(base, [pointer], contexts=STORE)


def test_derivation_needs_a_base_proof() -> None:
    with pytest.raises(AncreError) as err:
        derive_proof(SD["derived_credential"], [], contexts=STORE)
    assert err.value.code is Code.INVALID_PROOF
    with pytest.raises(AncreError) as err:
        derive_proof({"proof": {"cryptosuite": "ecdsa-rdfc-2019"}}, [], contexts=STORE)
    assert err.value.code is Code.INVALID_PROOF


def test_base_proofs_are_issued_only_with_p256_keys() -> None:
    key = PrivateKey.generate(KeyType.P384)
    with pytest.raises(ConfigurationError, match="P-256"):
        add_base_proof(
            _card("did:example:x"), key, "did:example:x#k", created=datetime(2025, 1, 1, tzinfo=UTC)
        )


def test_json_pointer_paths() -> None:
    assert json_pointer_paths("/a/0/b~1c/~0d/01") == ["a", 0, "b/c", "~d", "01"]


def test_selection_keeps_ids_and_types_on_the_way_and_makes_arrays_dense() -> None:
    document = {
        "@context": "https://example.org/ctx",
        "id": "urn:doc",
        "type": "Doc",
        "items": [{"id": "_:b0", "type": "A", "v": 1}, {"type": "B", "v": 2}, {"v": 3}],
    }
    selection = select_json_ld(["/items/2/v", "/items/0"], document)
    assert selection == {
        "id": "urn:doc",
        "type": "Doc",
        "@context": "https://example.org/ctx",
        "items": [{"id": "_:b0", "type": "A", "v": 1}, {"v": 3}],
    }
    assert select_json_ld([], document) is None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    header=st.sampled_from([BASE_HEADER, DERIVED_HEADER]),
    body=st.one_of(
        st.binary(max_size=300),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.binary(max_size=70) | st.text(),
            lambda inner: (
                st.lists(inner, max_size=6)
                | st.dictionaries(st.integers(-2, 40) | st.text(max_size=3), inner, max_size=4)
            ),
            max_leaves=20,
        ).map(cbor2.dumps),
    ),
)
def test_hostile_proof_values_fail_with_a_stable_code(header: bytes, body: bytes) -> None:
    # Whatever the bytes after the header, parsing ends in a value or in ancre's own error.
    value = "u" + b64url_encode(header + body)
    outcome: Any
    try:
        outcome = parse_proof_value(value)
    except AncreError as exc:
        outcome = exc.code
    assert outcome in (Code.INVALID_PROOF, Code.INPUT_TOO_LARGE) or isinstance(
        outcome, BaseProofValue | DerivedProofValue
    )
