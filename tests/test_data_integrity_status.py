"""Status list credentials secured with Data Integrity proofs (issue 16): a
BitstringStatusListCredential with an embedded proof is verified like any credential — every
allow-listed cryptosuite, proof sets — and must be signed by the credential's issuer.
Served over loopback by tests/_http_server.py, as in tests/test_status.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from _support import Issuer
from test_status import Env, env, expect

from ancre.trust.data_integrity.proofs import add_proof, verify_data_integrity
from ancre.trust.errors import Code, IndeterminateError, InvalidError
from ancre.trust.result import Status, Step
from ancre.trust.status.bitstring import BitstringStatusList

__all__ = ["env"]  # the fixture, imported for pytest

CREATED = datetime(2026, 1, 10, tzinfo=UTC)


def _signed_list(env: Env, path: str, lst: BitstringStatusList, signer: Issuer, suite: str) -> Any:
    document = env.list_document(path, lst, issuer=signer.did)
    return add_proof(document, signer.key, signer.kid, created=CREATED, cryptosuite=suite)


def _serve(env: Env, path: str, document: dict[str, Any]) -> None:
    env.serve(path, json.dumps(document).encode(), headers={"Content-Type": "application/vc"})


@pytest.mark.parametrize(
    ("suite", "key_type"),
    [
        ("eddsa-rdfc-2022", "ed25519"),
        ("eddsa-jcs-2022", "ed25519"),
        ("ecdsa-rdfc-2019", "p256"),
        ("ecdsa-jcs-2019", "p384"),
    ],
)
def test_data_integrity_list_revokes_and_keeps(env: Env, suite: str, key_type: str) -> None:
    env.issuer = Issuer.new(key_type)
    lst = BitstringStatusList()
    lst.set(9)
    _serve(env, "/rev", _signed_list(env, "/rev", lst, env.issuer, suite))
    checker = env.checker()
    message = env.check(checker, env.holding(env.entry("/rev", 8)))
    assert message == f"revocation: status 0 (unset) at {env.url('/rev')} index 8"
    expect(InvalidError, Code.REVOKED, env, checker, env.holding(env.entry("/rev", 9)))


def test_data_integrity_list_through_credential_verification(env: Env) -> None:
    lst = BitstringStatusList()
    lst.set(3)
    _serve(env, "/rev", _signed_list(env, "/rev", lst, env.issuer, "eddsa-rdfc-2022"))
    # A credential whose claims the VCDM 2.0 context defines (JSON-LD safe mode).
    holding = {
        **env.holding(env.entry("/rev", 3)),
        "type": ["VerifiableCredential"],
        "credentialSubject": {"id": "did:example:x"},
    }
    held = add_proof(holding, env.issuer.key, env.issuer.kid, created=CREATED)
    result = verify_data_integrity(
        held, resolver=env.resolver, clock=env.clock, status=env.checker()
    )
    assert (result.status, result.errors[-1].step, result.errors[-1].code) == (
        Status.INVALID,
        Step.STATUS,
        Code.REVOKED,
    )


def test_tampered_data_integrity_list_is_undecidable(env: Env) -> None:
    lst = BitstringStatusList()
    lst.set(9)
    document = _signed_list(env, "/rev", lst, env.issuer, "eddsa-jcs-2022")
    clear = env.list_document("/rev", BitstringStatusList())
    document["credentialSubject"]["encodedList"] = clear["credentialSubject"][
        "encodedList"
    ]  # un-revokes index 9
    _serve(env, "/rev", document)
    text = expect(
        IndeterminateError,
        Code.STATUS_UNAVAILABLE,
        env,
        env.checker(),
        env.holding(env.entry("/rev", 9)),
    )
    assert "signature_invalid" in text


def test_data_integrity_list_by_a_stranger(env: Env) -> None:
    stranger = Issuer.new()
    _serve(
        env, "/rev", _signed_list(env, "/rev", BitstringStatusList(), stranger, "eddsa-rdfc-2022")
    )
    expect(
        InvalidError,
        Code.STATUS_LIST_ISSUER_MISMATCH,
        env,
        env.checker(),
        env.holding(env.entry("/rev", 1)),
    )


def test_data_integrity_list_claiming_the_issuer_with_a_strangers_key(env: Env) -> None:
    stranger = Issuer.new()
    document = env.list_document("/rev", BitstringStatusList(), issuer=env.issuer.did)
    signed = add_proof(document, stranger.key, stranger.kid, created=CREATED)
    _serve(env, "/rev", signed)
    expect(
        InvalidError,
        Code.STATUS_LIST_ISSUER_MISMATCH,
        env,
        env.checker(),
        env.holding(env.entry("/rev", 1)),
    )
