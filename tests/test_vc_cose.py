"""VCDM 2.0 credentials and presentations secured with COSE_Sign1 (VC-JOSE-COSE §3.3):
`vc+cose` / `vp+cose`, the W3C test-suite inputs, issuance, enveloping and negative cases."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import cbor2
import pytest
from _support import NOW, Issuer, credential, vectors

from ancre.cli.sign import sign_document
from ancre.trust.clock import FixedClock
from ancre.trust.cose.vc_cose import envelope_cose, issue_vc_cose, issue_vp_cose, verify_vc_cose
from ancre.trust.did.document import CompositeResolver
from ancre.trust.engine import Kind, detect_format
from ancre.trust.jose.vc_jose import issue_vp_jwt
from ancre.trust.keys.jwk import PrivateKey
from ancre.trust.policy import VerificationPolicy, policy_from_json
from ancre.trust.result import Status, Step
from ancre.trust.steps import PinnedKeys
from ancre.verifier.pipeline import verify

SUITE = vectors("vc-jose-cose-sd-jwt-cose.json")
CONTROLLER = "https://example.issuer/vc-jose-cose"
SUITE_KEYS = [k["verification_method"]["publicKeyJwk"] for k in SUITE["test_suite_keys"].values()]
#: What ancre answers for each COSE input of the W3C suite (status, failed step, code).
COSE_OUTCOMES: dict[str, tuple[Status, Step | None, str | None]] = {
    "29.": (Status.VALID, None, None),
    # The holder's COSE signature verifies (asserted below), but the suite's enveloped
    # credential is a placeholder (`data:application/vc+jwt,eyJ…fQ....`, no signature): a
    # presentation is valid only if every credential it carries is.
    "31.": (Status.INVALID, Step.CREDENTIALS, "invalid_presentation"),
    "32.": (Status.INVALID, Step.SIGNATURE, "signature_invalid"),
    "33.": (Status.INVALID, Step.FORMAT, "unsupported_typ"),
    "34.": (Status.INVALID, Step.FORMAT, "unsupported_typ"),
    # Its enveloped credential's id is not a data: URL (VCDM 2.0 §4.13.1).
    "35.": (Status.INVALID, Step.DATA_MODEL, "invalid_presentation"),
}
COSE_CASES = [c for c in SUITE["test_suite_cases"] if "cose" in c["feature"]]
SUITE_CLOCK = FixedClock(datetime(2024, 12, 16, tzinfo=UTC))


def _suite_keys(text: str) -> PinnedKeys:
    # The presentations' holder is a did:example the suite signs with its own keys.
    holders = ["did:example:ebfeb1f712ebc6f1c276e12ec21", CONTROLLER]
    return PinnedKeys(dict.fromkeys(holders, SUITE_KEYS))


@pytest.mark.parametrize("case", COSE_CASES, ids=lambda c: c["name"])
def test_w3c_suite_cose_inputs(case: dict[str, Any]) -> None:
    text = case["input"]
    policy = VerificationPolicy(check_schema=False)
    if case["name"].startswith("30."):
        # Hex, not base64: the suite expects a failure; ancre cannot read it as anything.
        with pytest.raises(Exception) as raised:
            detect_format(text)
        assert getattr(raised.value, "code", None) == "malformed_token"
        return
    result = verify(text, resolver=_suite_keys(text), clock=SUITE_CLOCK, policy=policy)
    status, step, code = COSE_OUTCOMES[case["name"].split(" ")[0]]
    assert result.status is status, result.errors
    if step is not None:
        assert (result.errors[0].step, result.errors[0].code) == (step, code)
    if case["expected_result"] == "success":
        assert next(c.ok for c in result.checks if c.step is Step.SIGNATURE)
    # The same document as an enveloped data URL reads the same.
    data = base64.b64decode(text + "=" * (-len(text) % 4))
    presentation = "presentation" in case["feature"]
    enveloped = envelope_cose(data, presentation=presentation)
    again = verify(enveloped, resolver=_suite_keys(text), clock=SUITE_CLOCK, policy=policy)
    assert again.status is status
    assert (
        verify(enveloped["id"], resolver=_suite_keys(text), clock=SUITE_CLOCK, policy=policy).status
        is status
    )


@pytest.mark.parametrize("key_type", ["ed25519", "p256", "p384", "p521"])
def test_issue_and_verify_vc_cose(
    key_type: str, resolver: CompositeResolver, clock: FixedClock
) -> None:
    issuer = Issuer.new(key_type)
    data = issue_vc_cose(credential(issuer.did), issuer.key, kid=issuer.kid)
    assert data[:1] == b"\xd2"  # tag 18
    result = verify_vc_cose(data, resolver=resolver, clock=clock)
    assert result.status is Status.VALID, result.errors
    assert result.format == "vc+cose"
    text = base64.b64encode(data).decode()
    assert detect_format(text).kind is Kind.VC_COSE
    assert verify(text, resolver=resolver, clock=clock).status is Status.VALID


def test_vp_cose_and_enveloped_in_vp_jwt(resolver: CompositeResolver, clock: FixedClock) -> None:
    issuer, holder = Issuer.new("p256"), Issuer.new("ed25519")
    vc = issue_vc_cose(credential(issuer.did), issuer.key, kid=issuer.kid)
    vp = issue_vp_cose(
        [envelope_cose(vc)], holder.key, holder=holder.did, kid=holder.kid, nonce="n-1"
    )
    policy = VerificationPolicy(nonce="n-1")
    result = verify(base64.b64encode(vp).decode(), resolver=resolver, clock=clock, policy=policy)
    assert result.status is Status.VALID, result.errors
    assert result.format == "vp+cose"
    assert [n.format for n in result.credentials] == ["vc+cose"]
    wrong = verify(
        envelope_cose(vp, presentation=True),
        resolver=resolver,
        clock=clock,
        policy=VerificationPolicy(nonce="other"),
    )
    assert wrong.errors[0].code == "nonce_mismatch"
    # A vp+jwt may carry a vc+cose: the engine reads the enveloped entry.
    jwt_vp = issue_vp_jwt(
        [], holder.key, holder=holder.did, kid=holder.kid, audience="a", nonce="n", clock=clock
    )
    assert verify(jwt_vp, resolver=resolver, clock=clock).status is Status.VALID
    assert detect_format(envelope_cose(vc), within="jose").kind is Kind.VC_COSE


def _resign(
    protected: dict[int, Any], payload: bytes, key: PrivateKey, unprotected: Any = None
) -> bytes:
    protected_bytes = cbor2.dumps(protected)
    tbs = cbor2.dumps(["Signature1", protected_bytes, b"", payload])
    return cbor2.dumps(
        cbor2.CBORTag(18, [protected_bytes, unprotected or {}, payload, key.sign(tbs)])
    )


def test_negative_cases(resolver: CompositeResolver, clock: FixedClock) -> None:
    issuer, other = Issuer.new("p256"), Issuer.new("p256")
    data = issue_vc_cose(credential(issuer.did), issuer.key, kid=issuer.kid)
    protected_bytes, _, payload, signature = cbor2.loads(data).value
    protected = dict(cbor2.loads(protected_bytes))

    def code(value: bytes, policy: VerificationPolicy | None = None) -> str:
        result = verify_vc_cose(
            value, resolver=resolver, clock=clock, policy=policy or VerificationPolicy()
        )
        assert result.status is not Status.VALID
        return str(result.errors[0].code)

    # Tampered payload.
    tampered = payload.replace(b"Data space Loire", b"Data space Evil!")
    forged = cbor2.dumps(cbor2.CBORTag(18, [protected_bytes, {}, tampered, signature]))
    assert code(forged) == "signature_invalid"
    # Wrong key under the issuer's kid.
    assert code(_resign(protected, payload, other.key)) == "signature_invalid"
    # Wrong alg: not allowed by the policy; an unknown COSE alg never is.
    assert code(data, VerificationPolicy(algorithms=frozenset({"EdDSA"}))) == "alg_not_allowed"
    assert code(_resign({**protected, 1: -257}, payload, issuer.key)) == "alg_not_allowed"
    # Wrong typ / content type.
    assert code(_resign({**protected, 16: "application/vp+cose"}, payload, issuer.key)) == (
        "unsupported_typ"
    )
    assert code(_resign({**protected, 3: "application/json"}, payload, issuer.key)) == (
        "unsupported_typ"
    )
    # alg, typ and content type must be protected.
    moved = {k: v for k, v in protected.items() if k != 16}
    assert code(_resign(moved, payload, issuer.key, {16: "application/vc+cose"})) == (
        "invalid_header"
    )
    # Detached payload, unknown crit, not COSE at all, a bad tag.
    detached = cbor2.dumps(cbor2.CBORTag(18, [protected_bytes, {}, None, signature]))
    assert code(detached) == "malformed_token"
    assert code(_resign({**protected, 2: [99], 99: 1}, payload, issuer.key)) == "unknown_crit"
    assert code(b"\xff\x00") == "malformed_token"
    assert code(cbor2.dumps(cbor2.CBORTag(98, [protected_bytes, {}, payload, signature]))) == (
        "malformed_token"
    )
    assert code(b"\xd2" + b"\x00" * 300_000) == "input_too_large"


def test_es512_and_es256k_cose(resolver: CompositeResolver, clock: FixedClock) -> None:
    p521, k1 = Issuer.new("p521"), Issuer.new("secp256k1")
    ok = issue_vc_cose(credential(p521.did), p521.key, kid=p521.kid)
    assert verify_vc_cose(ok, resolver=resolver, clock=clock).status is Status.VALID
    k1_data = issue_vc_cose(credential(k1.did), k1.key, kid=k1.kid)
    off = verify_vc_cose(k1_data, resolver=resolver, clock=clock)
    assert off.errors[0].code == "alg_not_allowed"
    policy = policy_from_json({"algorithms": ["ES256K"]})
    on = verify_vc_cose(k1_data, resolver=resolver, clock=clock, policy=policy)
    assert on.status is Status.VALID, on.errors


def test_cli_sign_vc_cose(resolver: CompositeResolver, clock: FixedClock) -> None:
    key = PrivateKey.generate("ed25519")
    doc = {k: v for k, v in credential("x").items() if k not in ("issuer", "validFrom")}
    text = sign_document(doc, key, "vc+cose", now=NOW)
    result = verify(text, resolver=resolver, clock=clock)
    assert result.status is Status.VALID, result.errors
    assert result.format == "vc+cose"


# ---- cross-implementation: @transmute/cose (npm) -------------------------------------------


def _cose_peer(request: dict[str, Any]) -> dict[str, Any]:
    from test_vc_sd_jwt import NODE_DIR, _peer

    if not (NODE_DIR / "node_modules" / "@transmute" / "cose").is_dir():
        # Not a skip: the interop claim must not pass silently on a machine without it.
        pytest.fail("the npm COSE peer is not installed: run `make node-deps` (make test does)")
    return _peer(request)


def test_transmute_cose_signs_a_vc_cose_ancre_verifies(
    resolver: CompositeResolver, clock: FixedClock
) -> None:
    issuer = Issuer.new("p256")
    doc = credential(issuer.did)
    signed = _cose_peer(
        {
            "op": "cose-sign",
            "payload": json.dumps(doc),
            "jwk": issuer.key.export_private_jwk(),
            "kid": issuer.kid,
        }
    )
    data = base64.b64decode(signed["cose"])
    result = verify_vc_cose(data, resolver=resolver, clock=clock)
    assert result.status is Status.VALID, result.errors
    assert result.credential == doc
    # Enveloped, through the engine's detection, the same.
    assert verify(envelope_cose(data), resolver=resolver, clock=clock).status is Status.VALID
    # Signed by @transmute/cose with another key under the issuer's kid: refused.
    other = Issuer.new("p256")
    forged = _cose_peer(
        {
            "op": "cose-sign",
            "payload": json.dumps(doc),
            "jwk": other.key.export_private_jwk(),
            "kid": issuer.kid,
        }
    )
    refused = verify_vc_cose(base64.b64decode(forged["cose"]), resolver=resolver, clock=clock)
    assert refused.errors[0].code == "signature_invalid"


def test_transmute_cose_verifies_a_vc_cose_ancre_signs() -> None:
    issuer = Issuer.new("p256")
    doc = credential(issuer.did)
    data = issue_vc_cose(doc, issuer.key, kid=issuer.kid)
    public = issuer.key.public_key.to_jwk()
    checked = _cose_peer(
        {"op": "cose-verify", "cose": base64.b64encode(data).decode(), "jwk": public}
    )
    assert "error" not in checked, checked
    assert json.loads(checked["payload"]) == doc
    other = Issuer.new("p256").key.public_key.to_jwk()
    wrong = _cose_peer({"op": "cose-verify", "cose": base64.b64encode(data).decode(), "jwk": other})
    assert "error" in wrong


def test_status_and_document_are_the_payload(
    resolver: CompositeResolver, clock: FixedClock
) -> None:
    """The status step reads the COSE payload: a credential with a status entry and no
    status checker is undecided, as for every other form."""
    issuer = Issuer.new("ed25519")
    status = {
        "id": "https://status.example/1#5",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": "5",
        "statusListCredential": "https://status.example/1",
    }
    doc = credential(issuer.did, credentialStatus=status)
    result = verify_vc_cose(
        issue_vc_cose(doc, issuer.key, kid=issuer.kid), resolver=resolver, clock=clock
    )
    assert result.status is Status.INDETERMINATE
    assert result.errors[0].code == "status_unchecked"
    assert result.credential == doc


def test_a_repeated_protected_label_is_refused(
    resolver: CompositeResolver, clock: FixedClock
) -> None:
    issuer = Issuer.new("p256")
    data = issue_vc_cose(credential(issuer.did), issuer.key, kid=issuer.kid)
    protected_bytes, _, payload, _ = cbor2.loads(data).value
    # {1: -7, …, 1: -35}: the map declares one more entry than its distinct labels.
    body = protected_bytes[1:]
    doubled = bytes([protected_bytes[0] + 1]) + body + cbor2.dumps(1) + cbor2.dumps(-35)
    tbs = cbor2.dumps(["Signature1", doubled, b"", payload])
    forged = cbor2.dumps(cbor2.CBORTag(18, [doubled, {}, payload, issuer.key.sign(tbs)]))
    result = verify_vc_cose(forged, resolver=resolver, clock=clock)
    assert result.errors[0].code == "invalid_header"
    assert "repeats a label" in result.errors[0].message
