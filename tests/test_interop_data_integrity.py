"""Cross-implementation Data Integrity (issue 16, acceptance 2): Digital Bazaar's stack
(npm @digitalbazaar/vc with the eddsa-rdfc-2022, ecdsa-rdfc-2019 and ecdsa-sd-2023
cryptosuites, tests/node_di/) signs credentials ancre verifies, and verifies the ones ancre
signs — ecdsa-sd-2023 both ways through each side's derivation. Offline: the peer's document
loader serves the contexts from its npm packages and derives did:key documents itself."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from _support import Issuer

from ancre.trust.clock import FixedClock
from ancre.trust.data_integrity.ecdsa_sd import add_base_proof, derive_proof
from ancre.trust.data_integrity.proofs import add_proof, verify_data_integrity
from ancre.trust.did.resolvers import default_resolver
from ancre.trust.result import Status, VerificationResult

pytestmark = [pytest.mark.interop, pytest.mark.slow]

NODE_DI = Path(__file__).parent / "node_di"
SUITES_SIGNED = ["eddsa-rdfc-2022", "ecdsa-rdfc-2019"]
MANDATORY = ["/issuer", "/validFrom", "/validUntil"]
SELECTIVE = ["/credentialSubject/memberOf"]


def _credential(issuer: str | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "@context": [
            "https://www.w3.org/ns/credentials/v2",
            "https://www.w3.org/ns/credentials/undefined-terms/v2",
        ],
        "id": "urn:uuid:3f9a1c1e-7d2b-4c55-9a0e-1b2c3d4e5f60",
        "type": ["VerifiableCredential", "ExampleMembership"],
        "validFrom": "2026-01-01T00:00:00Z",
        "validUntil": "2036-01-01T00:00:00Z",
        "credentialSubject": {
            "id": "did:example:member",
            "memberOf": "Data space Loire",
            "role": "board member",
        },
    }
    if issuer is not None:
        doc["issuer"] = issuer
    return doc


def _peer(request: dict[str, Any]) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None or not (NODE_DI / "node_modules" / "@digitalbazaar" / "vc").is_dir():
        # Not a skip: the interop claim must not pass silently on a machine without it.
        pytest.fail("the npm Data Integrity peer is not installed: run `make node-deps`")
    done = subprocess.run(
        [node, str(NODE_DI / "di.mjs")],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    answer: dict[str, Any] = json.loads(done.stdout or "{}")
    assert done.returncode == 0, answer.get("failed", done.stderr)
    return answer


def _now() -> FixedClock:
    # The peer stamps `created` with its own clock: verify a little after it.
    return FixedClock(datetime.now(UTC) + timedelta(minutes=1))


def _ancre_verify(document: dict[str, Any]) -> VerificationResult:
    return verify_data_integrity(document, resolver=default_resolver(), clock=_now())


@pytest.mark.parametrize("suite", SUITES_SIGNED)
def test_digital_bazaar_credentials_verify_with_ancre(suite: str) -> None:
    signed = _peer({"op": "issue", "suite": suite, "credential": _credential()})["signed"]
    assert signed["proof"]["cryptosuite"] == suite
    result = _ancre_verify(signed)
    assert result.status is Status.VALID, result.to_json()
    tampered = copy.deepcopy(signed)
    tampered["credentialSubject"]["role"] = "chair"
    bad = _ancre_verify(tampered)
    assert bad.status is Status.INVALID
    assert bad.errors[0].code == "signature_invalid"


@pytest.mark.parametrize("suite", SUITES_SIGNED)
def test_ancre_credentials_verify_with_digital_bazaar(suite: str) -> None:
    issuer = Issuer.new("ed25519" if suite == "eddsa-rdfc-2022" else "p256")
    signed = add_proof(
        _credential(issuer.did),
        issuer.key,
        issuer.kid,
        created=datetime.now(UTC) - timedelta(minutes=1),
        cryptosuite=suite,
    )
    answer = _peer({"op": "verify", "document": signed})
    assert answer["verified"], answer["error"]
    tampered = copy.deepcopy(signed)
    tampered["credentialSubject"]["role"] = "chair"
    assert not _peer({"op": "verify", "document": tampered})["verified"]


def test_digital_bazaar_sd_credential_derived_there_verifies_with_ancre() -> None:
    base = _peer(
        {
            "op": "issue",
            "suite": "ecdsa-sd-2023",
            "credential": _credential(),
            "mandatoryPointers": MANDATORY,
        }
    )["signed"]
    derived = _peer({"op": "derive", "document": base, "selectivePointers": SELECTIVE})["derived"]
    assert "role" not in derived["credentialSubject"]
    result = _ancre_verify(derived)
    assert result.status is Status.VALID, result.to_json()
    # ancre derives its own disclosure from the peer's base proof, and the peer accepts it.
    ours = derive_proof(base, ["/credentialSubject/role"])
    assert ours["credentialSubject"]["role"] == "board member"
    assert "memberOf" not in ours["credentialSubject"]
    answer = _peer({"op": "verify", "document": ours})
    assert answer["verified"], answer["error"]
    tampered = copy.deepcopy(derived)
    tampered["credentialSubject"]["memberOf"] = "Another data space"
    assert _ancre_verify(tampered).status is Status.INVALID


def test_ancre_sd_credential_derived_by_either_side_verifies_with_both() -> None:
    issuer = Issuer.new("p256")
    base = add_base_proof(
        _credential(issuer.did),
        issuer.key,
        issuer.kid,
        created=datetime.now(UTC) - timedelta(minutes=1),
        mandatory_pointers=MANDATORY,
    )
    derived = derive_proof(base, SELECTIVE)
    answer = _peer({"op": "verify", "document": derived})
    assert answer["verified"], answer["error"]
    theirs = _peer({"op": "derive", "document": base, "selectivePointers": SELECTIVE})["derived"]
    result = _ancre_verify(theirs)
    assert result.status is Status.VALID, result.to_json()
    tampered = copy.deepcopy(derived)
    tampered["credentialSubject"]["memberOf"] = "Another data space"
    assert not _peer({"op": "verify", "document": tampered})["verified"]


def test_an_ancre_sign_base_proof_derived_by_digital_bazaar_verifies_with_ancre_verify(
    tmp_path: Path,
) -> None:
    """`ancre sign --cryptosuite ecdsa-sd-2023 --mandatory …` makes a base proof the peer's
    holder side derives from, and `ancre verify` accepts the peer's derived credential."""

    def ancre(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ancre.cli.main", *args],
            capture_output=True, text=True, check=False, timeout=60,
            env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
        )  # fmt: skip

    key = tmp_path / "p256.jwk"
    assert ancre("keys", "generate", "--type", "p256", "--out", str(key)).returncode == 0
    (tmp_path / "in.json").write_text(json.dumps(_credential()))
    signed = ancre(
        "sign", str(tmp_path / "in.json"), "--key", str(key), "--format", "di",
        "--cryptosuite", "ecdsa-sd-2023", "--mandatory", "/issuer",
        "--mandatory", "/credentialSubject/id",
    )  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    base = json.loads(signed.stdout)
    derived = _peer({"op": "derive", "document": base, "selectivePointers": SELECTIVE})["derived"]
    assert derived["credentialSubject"] == {
        "id": "did:example:member",
        "memberOf": "Data space Loire",
    }
    assert derived["issuer"] == base["issuer"]
    (tmp_path / "derived.json").write_text(json.dumps(derived))
    done = ancre("verify", str(tmp_path / "derived.json"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[0].startswith("VALID"), done.stdout
    assert "ecdsa-sd-2023 derived proof verifies" in done.stdout
    # The peer's verifier accepts it too, and neither accepts it changed.
    assert _peer({"op": "verify", "document": derived})["verified"]
    derived["credentialSubject"]["memberOf"] = "Another data space"
    (tmp_path / "derived.json").write_text(json.dumps(derived))
    assert ancre("verify", str(tmp_path / "derived.json")).returncode == 1
