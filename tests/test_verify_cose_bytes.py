"""Issue 16: a `vc+cose` COSE_Sign1 given as raw bytes (what `issue_vc_cose` returns and a
`.cose` file holds) is read as CBOR, not mangled into text — through `ancre.Verifier`,
`ancre.verify` and `ancre verify FILE`; other binary input is refused with a clear code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from _support import Issuer, credential

import ancre
from ancre.trust.cose.vc_cose import envelope_cose, issue_vc_cose, issue_vp_cose
from ancre.trust.policy import VerificationPolicy
from ancre.trust.result import Status

AT = "2026-06-01T00:00:00Z"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ancre.cli.main", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "NO_COLOR": "1"},
        timeout=60,
    )


def test_raw_cose_bytes_verify_through_the_python_api() -> None:
    issuer = Issuer.new("p256")
    raw = issue_vc_cose(credential(issuer.did), issuer.key, kid=issuer.kid)
    assert raw[:1] == b"\xd2"
    result = ancre.verify(raw, trust=[issuer.did])
    assert result.status is Status.VALID, result.errors
    assert result.format == "vc+cose"
    with ancre.Verifier.from_trusted_issuers([issuer.did]) as verifier:
        assert verifier.verify(raw).valid
        assert verifier.verify(bytearray(raw)).valid
        # The bare COSE_Sign1 array (untagged) is read too.
        untagged = verifier.verify(raw[1:])
        assert untagged.valid, untagged.errors
        # A flipped byte in the signature: read as COSE, refused by the signature step.
        tampered = verifier.verify(raw[:-1] + bytes([raw[-1] ^ 1]))
    assert tampered.status is Status.INVALID
    assert [e.code for e in tampered.errors] == ["signature_invalid"]


def test_raw_vp_cose_bytes_are_a_presentation() -> None:
    issuer, holder = Issuer.new("ed25519"), Issuer.new("ed25519")
    vc = issue_vc_cose(credential(issuer.did), issuer.key, kid=issuer.kid)
    vp = issue_vp_cose(
        [envelope_cose(vc)], holder.key, holder=holder.did, kid=holder.kid, nonce="n-1"
    )
    result = ancre.verify(vp, trust=[issuer.did], nonce="n-1")
    assert result.status is Status.VALID, result.errors
    assert result.format == "vp+cose"
    assert [n.format for n in result.credentials] == ["vc+cose"]


def test_binary_garbage_and_oversized_cbor_are_refused_clearly() -> None:
    garbage = ancre.verify(b"%PDF-1.7\n\xe2\xe3\xcf\xd3\n\x00\xff")
    assert garbage.status is Status.INVALID
    assert garbage.malformed
    assert [e.code for e in garbage.errors] == ["malformed_token"]
    assert "binary data" in garbage.errors[0].message
    policy = VerificationPolicy(max_token_bytes=1024)
    big = ancre.verify(b"\xd2\x84" + b"\x00" * 2000, policy=policy)
    assert [e.code for e in big.errors] == ["input_too_large"]
    assert big.malformed
    # Truncated CBOR: the COSE reader names it, no exception escapes.
    issuer = Issuer.new("ed25519")
    raw = issue_vc_cose(credential(issuer.did), issuer.key, kid=issuer.kid)
    cut = ancre.verify(raw[: len(raw) // 2])
    assert cut.status is not Status.VALID
    assert cut.errors
    assert cut.errors[0].code in {"malformed_token", "malformed_json"}


def test_cli_verifies_a_binary_cose_file(tmp_path: Path) -> None:
    issuer = Issuer.new("ed25519")
    path = tmp_path / "credential.cose"
    path.write_bytes(issue_vc_cose(credential(issuer.did), issuer.key, kid=issuer.kid))
    done = _cli("verify", str(path), "--trusted-issuer", issuer.did, "--at", AT, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    answer = json.loads(done.stdout)
    assert (answer["status"], answer["format"]) == ("valid", "vc+cose")
    garbage = tmp_path / "photo.bin"
    garbage.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    refused = _cli("verify", str(garbage))
    assert refused.returncode == 65
    assert "Traceback" not in refused.stderr
    assert "is not a credential or presentation" in refused.stderr


def test_a_cose_credential_is_not_a_presentation() -> None:
    """A `vc+cose` credential carries no holder binding: a verifier asking for a nonce or an
    audience, or for a presentation, refuses it rather than dropping the binding; a
    `vp+cose` is not taken where a credential is expected."""
    issuer, holder = Issuer.new("ed25519"), Issuer.new("ed25519")
    raw = issue_vc_cose(credential(issuer.did), issuer.key, kid=issuer.kid)
    bound = ancre.verify(raw, trust=[issuer.did], nonce="n-1", audience="https://v.example")
    assert bound.status is Status.INVALID
    assert [(e.step.value, e.code) for e in bound.errors] == [
        ("holder_binding", "policy_violation")
    ]
    vp = issue_vp_cose(
        [envelope_cose(raw)], holder.key, holder=holder.did, kid=holder.kid, nonce="n-1"
    )
    with ancre.Verifier.from_trusted_issuers([issuer.did]) as verifier:
        wrong = verifier.verify(raw, expect="presentation")
        assert [e.code for e in wrong.errors] == ["unsupported_format"]
        assert verifier.verify(raw, expect="credential").valid
        other = verifier.verify(vp, expect="credential")
        assert [e.code for e in other.errors] == ["unsupported_format"]
        assert verifier.verify(vp, expect="presentation", nonce="n-1").valid
