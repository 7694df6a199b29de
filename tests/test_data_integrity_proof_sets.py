"""Proof sets and proof chains (VC Data Integrity §2.1.1-2.1.2), with vc-di-eddsa's
proof-set-chain vectors (tests/vectors/vc-di-eddsa-jcs.json) and ancre's own documents."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from _support import NOW, Issuer, vectors
from test_data_integrity_suites import STORE, membership, pinned, private_key
from test_ux_cli import ancre

from ancre.trust.clock import FixedClock
from ancre.trust.data_integrity.proof_sets import MAX_PROOFS, chain_order
from ancre.trust.data_integrity.proofs import (
    add_proof,
    verify_data_integrity,
    verify_data_integrity_presentation,
)
from ancre.trust.did.resolvers import default_resolver
from ancre.trust.errors import AncreError, Code
from ancre.trust.policy import VerificationPolicy
from ancre.trust.result import Status, Step, VerificationResult

SETS = vectors("vc-di-eddsa-jcs.json")["proof_sets_and_chains"]
UNSIGNED = vectors("vc-di-eddsa-jcs.json")["unsecured_credential"]
PAIRS = [SETS["key_pairs"][f"keyPair{n}"] for n in range(1, 5)]
ALL_KEYS = pinned(*PAIRS)


def verify(document: Any, resolver: Any = ALL_KEYS) -> VerificationResult:
    return verify_data_integrity(document, resolver=resolver, clock=FixedClock(NOW), contexts=STORE)


def failed(result: VerificationResult) -> tuple[Status, Step, str | None]:
    error = result.errors[-1]
    return result.status, error.step, error.code


def _stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _sign_like(document: dict[str, Any], config: dict[str, Any], pair: dict[str, str]) -> Any:
    """add_proof with the options of one of the vectors' proof configurations."""
    previous = config.get("previousProof")
    return add_proof(
        document,
        private_key(pair),
        config["verificationMethod"],
        created=_stamp(config["created"]),
        cryptosuite=config["cryptosuite"],
        proof_id=config.get("id"),
        previous_proof=previous,
        add_to_proof_set="proof" in document,
        contexts=STORE,
    )


# ---- the specification's vectors ------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["signedProofSet1", "signedProofSet2", "signedProofChain1", "signedProofChain2"]
)
def test_vector_documents_verify_with_every_proof_listed(name: str) -> None:
    document = SETS[name]
    result = verify(document)
    assert result.status is Status.VALID, result.errors
    proofs = document["proof"] if isinstance(document["proof"], list) else [document["proof"]]
    assert [p.status for p in result.proofs] == [Status.VALID] * len(proofs)
    assert [p.verification_method for p in result.proofs] == [
        p["verificationMethod"] for p in proofs
    ]
    out = result.to_json()["proofs"]
    assert [p["index"] for p in out] == list(range(len(proofs)))
    assert all(p["status"] == "valid" for p in out)


def test_vector_chain_is_reproduced_exactly_by_add_proof() -> None:
    # Ed25519 is deterministic: each step of the vectors' set and chain is rebuilt byte for
    # byte, the chained proofs signing the document with the proofs they name.
    document = _sign_like(UNSIGNED, SETS["proofSetConfig1"], PAIRS[0])
    assert document == SETS["signedProofSet1"]
    document = _sign_like(document, SETS["proofSetConfig2"], PAIRS[1])
    assert document == SETS["signedProofSet2"]
    document = _sign_like(document, SETS["proofChainConfig1"], PAIRS[2])
    assert document == SETS["signedProofChain1"]
    document = _sign_like(document, SETS["proofChainConfig2"], PAIRS[3])
    assert document == SETS["signedProofChain2"]
    assert json.dumps(document) == json.dumps(SETS["signedProofChain2"])


def test_a_chained_proof_covers_the_proofs_it_names() -> None:
    # Replace proof 3 (named by proof 4) by another valid proof of the same key: proof 3
    # still verifies on its own, proof 4 no longer does.
    chain = SETS["signedProofChain2"]
    other = _sign_like(
        {**UNSIGNED, "proof": chain["proof"][:2]},
        {**SETS["proofChainConfig1"], "created": "2023-02-26T22:07:38Z"},
        PAIRS[2],
    )
    forged = copy.deepcopy(chain)
    forged["proof"][2] = other["proof"][2]
    result = verify(forged)
    assert failed(result) == (Status.INVALID, Step.SIGNATURE, Code.SIGNATURE_INVALID)
    assert [p.status for p in result.proofs] == [Status.VALID] * 3 + [Status.INVALID]
    assert result.proofs[3].code is Code.SIGNATURE_INVALID
    assert result.errors[-1].message.startswith("proof 4 of 4:")


def test_dropping_a_proof_a_chain_names_is_previous_proof_missing() -> None:
    chain = copy.deepcopy(SETS["signedProofChain2"])
    del chain["proof"][2]
    result = verify(chain)
    assert failed(result) == (Status.INVALID, Step.FORMAT, Code.PREVIOUS_PROOF_MISSING)
    assert "urn:uuid:d94f792a-c546-4d06-b38a-da070ab56c23" in result.errors[-1].message


def test_every_proof_is_checked_and_listed_when_one_fails() -> None:
    document = copy.deepcopy(SETS["signedProofSet2"])
    document["proof"][0]["created"] = "2023-02-24T23:36:39Z"
    result = verify(document)
    assert failed(result) == (Status.INVALID, Step.SIGNATURE, Code.SIGNATURE_INVALID)
    assert [(p.status, p.code) for p in result.proofs] == [
        (Status.INVALID, Code.SIGNATURE_INVALID),
        (Status.VALID, None),
    ]
    out = result.to_json()
    assert out["proofs"][0]["code"] == "signature_invalid"
    assert out["proofs"][1]["id"] == "urn:uuid:8cc9022b-6b14-4cf3-8571-74972c5feb54"


def test_a_proof_by_a_key_not_the_issuers_fails_the_issuer_key_step() -> None:
    only_first = pinned(PAIRS[0])
    result = verify(SETS["signedProofSet2"], only_first)
    assert failed(result) == (
        Status.INVALID,
        Step.ISSUER_KEY,
        Code.VERIFICATION_METHOD_NOT_FOUND,
    )
    assert [p.status for p in result.proofs] == [Status.INDETERMINATE, Status.INVALID]
    assert result.proofs[0].message == "key resolved"


# ---- hostile shapes -------------------------------------------------------------------------


def _proofs(document: dict[str, Any]) -> list[dict[str, Any]]:
    proofs: list[dict[str, Any]] = document["proof"]
    return proofs


def test_a_chain_loop_is_refused_before_any_signature_work() -> None:
    chain = copy.deepcopy(SETS["signedProofChain1"])
    _proofs(chain)[0]["previousProof"] = "urn:uuid:d94f792a-c546-4d06-b38a-da070ab56c23"
    result = verify(chain)
    assert failed(result) == (Status.INVALID, Step.FORMAT, Code.PREVIOUS_PROOF_MISSING)
    assert "loop" in result.errors[-1].message


def test_a_proof_naming_itself_is_refused() -> None:
    document = copy.deepcopy(SETS["signedProofSet2"])
    _proofs(document)[1]["previousProof"] = _proofs(document)[1]["id"]
    assert failed(verify(document)) == (Status.INVALID, Step.FORMAT, Code.PREVIOUS_PROOF_MISSING)


def test_repeated_proof_ids_are_refused() -> None:
    document = copy.deepcopy(SETS["signedProofSet2"])
    _proofs(document)[1]["id"] = _proofs(document)[0]["id"]
    assert failed(verify(document)) == (Status.INVALID, Step.FORMAT, Code.INVALID_PROOF)


@pytest.mark.parametrize("value", [[], 7, [""], ["urn:a", "urn:a"], {"id": "urn:a"}])
def test_previous_proof_of_the_wrong_shape_is_refused(value: Any) -> None:
    document = copy.deepcopy(SETS["signedProofSet2"])
    _proofs(document)[1]["previousProof"] = value
    assert failed(verify(document)) == (Status.INVALID, Step.FORMAT, Code.INVALID_PROOF)


def test_too_many_proofs_are_refused() -> None:
    document = copy.deepcopy(SETS["signedProofSet1"])
    document["proof"] = [document["proof"]] * (MAX_PROOFS + 1)
    result = verify(document)
    assert failed(result) == (Status.INVALID, Step.FORMAT, Code.INVALID_PROOF)
    assert "limit" in result.errors[-1].message


def test_an_empty_proof_list_is_refused() -> None:
    document = {**UNSIGNED, "proof": []}
    assert failed(verify(document)) == (Status.INVALID, Step.FORMAT, Code.INVALID_PROOF)


def test_chain_order_puts_a_proof_after_those_it_names() -> None:
    assert chain_order([("urn:c", ("urn:b",)), ("urn:b", ("urn:a",)), ("urn:a", ())]) == [2, 1, 0]
    assert chain_order([(None, ()), (None, ())]) == [0, 1]
    with pytest.raises(AncreError) as err:
        chain_order([("urn:a", ("urn:b",)), ("urn:b", ("urn:a",))])
    assert err.value.code is Code.PREVIOUS_PROOF_MISSING


# ---- mixed suites, issued by ancre ----------------------------------------------------------


def test_a_proof_set_of_different_suites_and_curves_verifies() -> None:
    ed, p256, p384 = Issuer.new("ed25519"), Issuer.new("p256"), Issuer.new("p384")
    resolver = pinned(
        *({"publicKeyMultibase": i.did.removeprefix("did:key:")} for i in (ed, p256, p384)),
        issuer="https://issuer.example",
    )
    created = datetime(2026, 1, 2, tzinfo=UTC)
    document = add_proof(
        membership("https://issuer.example"),
        ed.key,
        ed.kid,
        created=created,
        cryptosuite="eddsa-jcs-2022",
        proof_id="urn:uuid:1",
    )
    document = add_proof(
        document,
        p256.key,
        p256.kid,
        created=created,
        cryptosuite="ecdsa-rdfc-2019",
        add_to_proof_set=True,
        contexts=STORE,
    )
    document = add_proof(
        document,
        p384.key,
        p384.kid,
        created=created,
        cryptosuite="ecdsa-jcs-2019",
        previous_proof="urn:uuid:1",
    )
    result = verify(document, resolver)
    assert result.status is Status.VALID, result.errors
    assert [p.suite for p in result.proofs] == [
        "DataIntegrityProof/eddsa-jcs-2022",
        "DataIntegrityProof/ecdsa-rdfc-2019",
        "DataIntegrityProof/ecdsa-jcs-2019",
    ]
    fmt = next(c for c in result.checks if c.step is Step.FORMAT)
    assert "proof chain of 3" in fmt.message


def test_add_proof_chains_only_to_proofs_that_are_there() -> None:
    issuer = Issuer.new()
    signed = add_proof(membership(issuer.did), issuer.key, issuer.kid, created=NOW, contexts=STORE)
    with pytest.raises(AncreError) as err:
        add_proof(signed, issuer.key, issuer.kid, created=NOW, previous_proof="urn:uuid:nope")
    assert err.value.code is Code.PREVIOUS_PROOF_MISSING


def test_a_single_proof_is_listed_too() -> None:
    issuer = Issuer.new()
    signed = add_proof(membership(issuer.did), issuer.key, issuer.kid, created=NOW, contexts=STORE)
    result = verify(signed, default_resolver())
    assert result.status is Status.VALID
    [proof] = result.to_json()["proofs"]
    assert proof == {
        "index": 0,
        "status": "valid",
        "suite": "DataIntegrityProof/eddsa-rdfc-2022",
        "verificationMethod": issuer.kid,
        "message": "DataIntegrityProof/eddsa-rdfc-2022 Ed25519 signature verifies",
    }


# ---- policy -------------------------------------------------------------------------------------


def _verify_with(document: Any, policy: VerificationPolicy, resolver: Any = ALL_KEYS) -> Any:
    return verify_data_integrity(
        document, resolver=resolver, clock=FixedClock(NOW), contexts=STORE, policy=policy
    )


ONE_SUFFICES = VerificationPolicy(require_all_proofs=False)


def test_policy_one_valid_proof_suffices_but_every_proof_is_listed() -> None:
    document = copy.deepcopy(SETS["signedProofSet2"])
    _proofs(document)[0]["created"] = "2023-02-24T23:36:39Z"
    result = _verify_with(document, ONE_SUFFICES)
    assert result.status is Status.VALID, result.errors
    assert [p.status for p in result.proofs] == [Status.INVALID, Status.VALID]
    signature = next(c for c in result.checks if c.step is Step.SIGNATURE)
    assert "1 proof(s) invalid (policy: one proof suffices)" in signature.message


def test_policy_one_suffices_accepts_a_co_signer_key_it_cannot_resolve() -> None:
    result = _verify_with(SETS["signedProofSet2"], ONE_SUFFICES, pinned(PAIRS[1]))
    assert result.status is Status.VALID, result.errors
    assert [(p.status, p.code) for p in result.proofs] == [
        (Status.INVALID, Code.VERIFICATION_METHOD_NOT_FOUND),
        (Status.VALID, None),
    ]


def test_policy_one_suffices_still_needs_one() -> None:
    document = copy.deepcopy(SETS["signedProofSet2"])
    for proof in _proofs(document):
        proof["created"] = "2023-02-24T23:36:39Z"
    result = _verify_with(document, ONE_SUFFICES)
    assert failed(result) == (Status.INVALID, Step.SIGNATURE, Code.SIGNATURE_INVALID)
    result = _verify_with(SETS["signedProofSet2"], ONE_SUFFICES, pinned(PAIRS[3]))
    assert failed(result) == (Status.INVALID, Step.ISSUER_KEY, Code.VERIFICATION_METHOD_NOT_FOUND)


def test_policy_restricts_the_cryptosuites() -> None:
    only_ecdsa = VerificationPolicy(cryptosuites=frozenset({"ecdsa-rdfc-2019"}))
    result = _verify_with(SETS["signedProofSet1"], only_ecdsa)
    assert failed(result) == (Status.INVALID, Step.FORMAT, Code.POLICY_VIOLATION)
    assert "eddsa-rdfc-2022" in result.errors[-1].message


# ---- through the CLI ----------------------------------------------------------------------------


def test_cli_verify_json_lists_every_proof(tmp_path: Path) -> None:
    issuer = Issuer.new()
    document = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential"],
        "issuer": issuer.did,
        "validFrom": "2026-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:member"},
    }
    created = datetime(2026, 1, 2, tzinfo=UTC)
    first = add_proof(document, issuer.key, issuer.kid, created=created, proof_id="urn:uuid:p1")
    chain = add_proof(
        first,
        issuer.key,
        issuer.kid,
        created=created,
        cryptosuite="eddsa-jcs-2022",
        previous_proof="urn:uuid:p1",
    )
    path = tmp_path / "chain.json"
    path.write_text(json.dumps(chain))
    done = ancre("verify", str(path), "--json", "--trusted-issuer", issuer.did)
    assert done.returncode == 0, done.stdout
    out = json.loads(done.stdout)
    assert out["status"] == "valid"
    assert [(p["index"], p["status"], p["suite"]) for p in out["proofs"]] == [
        (0, "valid", "DataIntegrityProof/eddsa-rdfc-2022"),
        (1, "valid", "DataIntegrityProof/eddsa-jcs-2022"),
    ]
    assert out["proofs"][1]["previousProof"] == ["urn:uuid:p1"]
    chain["proof"][0]["created"] = "2026-01-02T00:00:01Z"  # breaks proof 1, hence proof 2
    path.write_text(json.dumps(chain))
    done = ancre("verify", str(path), "--json", "--trusted-issuer", issuer.did)
    assert done.returncode != 0
    out = json.loads(done.stdout)
    assert [(p["status"], p.get("code")) for p in out["proofs"]] == [
        ("invalid", "signature_invalid"),
        ("invalid", "signature_invalid"),
    ]
    assert out["errors"][-1]["code"] == "signature_invalid"


# ---- presentations ------------------------------------------------------------------------------


def test_a_presentation_proof_set_binds_every_proof() -> None:
    issuer, holder = Issuer.new(), Issuer.new("p256")
    credential = add_proof(
        {
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "type": ["VerifiableCredential"],
            "issuer": issuer.did,
            "validFrom": "2026-01-01T00:00:00Z",
            "credentialSubject": {"id": holder.did},
        },
        issuer.key,
        issuer.kid,
        created=datetime(2026, 1, 2, tzinfo=UTC),
    )
    presentation = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiablePresentation"],
        "holder": holder.did,
        "verifiableCredential": [credential],
    }
    binding = {"proof_purpose": "authentication", "challenge": "n-1", "domain": "https://v.example"}
    signed = presentation
    for suite in ("ecdsa-rdfc-2019", "ecdsa-jcs-2019"):
        signed = add_proof(
            signed,
            holder.key,
            holder.kid,
            created=datetime(2026, 1, 15, 11, 59, tzinfo=UTC),
            cryptosuite=suite,
            add_to_proof_set=True,
            **binding,
        )
    policy = VerificationPolicy(nonce="n-1", audience="https://v.example")
    result = verify_data_integrity_presentation(
        signed, resolver=default_resolver(), clock=FixedClock(NOW), policy=policy
    )
    assert result.status is Status.VALID, result.errors
    assert [p.status for p in result.proofs] == [Status.VALID, Status.VALID]
    unbound = copy.deepcopy(signed)
    del unbound["proof"][1]["challenge"]  # breaks its signature too: re-sign it unbound
    unbound["proof"][1] = add_proof(
        presentation,
        holder.key,
        holder.kid,
        created=datetime(2026, 1, 15, 11, 59, tzinfo=UTC),
        cryptosuite="ecdsa-jcs-2019",
        proof_purpose="authentication",
        domain="https://v.example",
    )["proof"]
    result = verify_data_integrity_presentation(
        unbound, resolver=default_resolver(), clock=FixedClock(NOW), policy=policy
    )
    assert failed(result) == (Status.INVALID, Step.HOLDER_BINDING, Code.NONCE_MISMATCH)
