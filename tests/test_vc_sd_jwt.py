"""VCDM 2.0 credentials and presentations secured with SD-JWT (VC-JOSE-COSE §3.2):
`vc+sd-jwt` / `vp+sd-jwt`, the W3C test-suite inputs, issuance and negative cases."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from _support import NOW, Issuer, b64json, credential, vectors

from ancre.cli.sign import sign_document
from ancre.trust.clock import FixedClock
from ancre.trust.codec.b64 import b64url_encode
from ancre.trust.did.document import CompositeResolver
from ancre.trust.engine import Kind, detect_format
from ancre.trust.jose.vc_jose import envelope_credential, issue_vp_jwt
from ancre.trust.keys.jwk import PrivateKey
from ancre.trust.policy import VerificationPolicy, policy_from_json
from ancre.trust.result import Status, Step, VerificationResult
from ancre.trust.sd_jwt.vcdm import issue_vc_sd_jwt, issue_vp_sd_jwt
from ancre.trust.steps import PinnedKeys
from ancre.verifier.pipeline import verify

SUITE = vectors("vc-jose-cose-sd-jwt-cose.json")
CONTROLLER = "https://example.issuer/vc-jose-cose"
SUITE_KEYS = [k["verification_method"]["publicKeyJwk"] for k in SUITE["test_suite_keys"].values()]
#: What ancre answers for each SD-JWT input of the W3C suite, and why where it differs. The
#: suite's "success" inputs carry `iat` as an RFC 3339 string: RFC 7519 §4.1.6 makes `iat` a
#: NumericDate, so ancre refuses them at the time step, *after* their issuer signature and
#: every disclosure digest verified (asserted below) — as it does the suite's vc+jwt.
SD_JWT_OUTCOMES: dict[str, tuple[Status, Step, str]] = {
    "20.": (Status.INVALID, Step.TIME, "invalid_datetime"),
    "21.": (Status.INVALID, Step.TIME, "invalid_datetime"),
    "22.": (Status.INVALID, Step.CREDENTIALS, "invalid_presentation"),
    "23.": (Status.INVALID, Step.SIGNATURE, "signature_invalid"),
    "24.": (Status.INVALID, Step.FORMAT, "unsupported_typ"),
    "25.": (Status.INVALID, Step.FORMAT, "unsupported_typ"),
    "26.": (Status.INVALID, Step.FORMAT, "unsupported_typ"),
}
SD_CASES = [c for c in SUITE["test_suite_cases"] if "sdjwt" in c["feature"]]
SUITE_CLOCK = FixedClock(datetime(2024, 12, 16, tzinfo=UTC))


def _step(result: VerificationResult, step: Step) -> bool:
    return next(c.ok for c in result.checks if c.step is step)


@pytest.mark.parametrize("case", SD_CASES, ids=lambda c: c["name"])
def test_w3c_suite_sd_jwt_inputs(case: dict[str, Any]) -> None:
    keys = PinnedKeys({CONTROLLER: SUITE_KEYS})
    result = verify(
        case["input"],
        resolver=keys,
        clock=SUITE_CLOCK,
        policy=VerificationPolicy(check_schema=False),
    )
    status, step, code = SD_JWT_OUTCOMES[case["name"].split(" ")[0]]
    assert (result.status, result.errors[0].step, result.errors[0].code) == (status, step, code)
    if case["expected_result"] == "success":
        # The issuer's signature (ES384, ES512) and the disclosures verify; so does the data
        # model of the disclosed document.
        assert _step(result, Step.SIGNATURE)
        assert _step(result, Step.DATA_MODEL)
    if case["name"].startswith("22."):
        assert result.format == "vp+sd-jwt"
        [nested] = result.credentials
        assert nested.errors[0].code == "invalid_datetime"


@pytest.mark.parametrize("key_type", ["ed25519", "p256", "p384", "p521"])
def test_issue_and_verify_vc_sd_jwt(
    key_type: str, resolver: CompositeResolver, clock: FixedClock
) -> None:
    issuer = Issuer.new(key_type)
    doc = credential(issuer.did)
    token = issue_vc_sd_jwt(
        doc, issuer.key, kid=issuer.kid, disclosable=["/credentialSubject/memberOf"], issued_at=NOW
    ).serialize()
    assert detect_format(token).kind is Kind.VC_SD_JWT
    result = verify(token, resolver=resolver, clock=clock)
    assert result.status is Status.VALID, result.errors
    assert result.format == "vc+sd-jwt"
    assert result.credential is not None
    assert result.credential["credentialSubject"]["memberOf"] == "Data space Loire"
    assert "iss" not in result.credential
    assert "_sd" not in str(result.credential)
    # Withholding the disclosure: still valid, the member is simply absent.
    bare = token.split("~")[0] + "~"
    withheld = verify(bare, resolver=resolver, clock=clock)
    assert withheld.status is Status.VALID
    assert withheld.credential is not None
    assert "memberOf" not in withheld.credential["credentialSubject"]


def test_enveloped_vc_sd_jwt_in_a_vp_jwt(resolver: CompositeResolver, clock: FixedClock) -> None:
    issuer, holder = Issuer.new("p256"), Issuer.new("ed25519")
    token = issue_vc_sd_jwt(
        credential(issuer.did), issuer.key, kid=issuer.kid, disclosable=[]
    ).serialize()
    envelope = envelope_credential(token)
    envelope["id"] = envelope["id"].replace("dc+sd-jwt", "vc+sd-jwt")
    assert detect_format(envelope).kind is Kind.VC_SD_JWT
    vp = issue_vp_jwt(
        [],
        holder.key,
        holder=holder.did,
        kid=holder.kid,
        audience="https://verifier.example",
        nonce="n-1",
        clock=clock,
    )
    # A vp+sd-jwt carrying it, bound by aud/nonce claims.
    sd_vp = issue_vp_sd_jwt(
        [envelope],
        holder.key,
        holder=holder.did,
        kid=holder.kid,
        audience="https://verifier.example",
        nonce="n-1",
        clock=clock,
    ).serialize()
    assert detect_format(sd_vp).kind is Kind.VP_SD_JWT
    policy = VerificationPolicy(audience="https://verifier.example", nonce="n-1")
    result = verify(sd_vp, resolver=resolver, clock=clock, policy=policy)
    assert result.status is Status.VALID, result.errors
    assert [n.format for n in result.credentials] == ["vc+sd-jwt"]
    wrong = verify(sd_vp, resolver=resolver, clock=clock, policy=VerificationPolicy(nonce="other"))
    assert wrong.errors[0].code == "nonce_mismatch"
    assert verify(vp, resolver=resolver, clock=clock).status is Status.VALID


def _forged(header: dict[str, Any], payload: dict[str, Any], key: PrivateKey) -> str:
    signing_input = f"{b64json(header)}.{b64json(payload)}"
    return f"{signing_input}.{b64url_encode(key.sign(signing_input.encode()))}~"


def test_negative_cases(resolver: CompositeResolver, clock: FixedClock) -> None:
    issuer, other = Issuer.new("p256"), Issuer.new("p256")
    doc = credential(issuer.did)
    token = issue_vc_sd_jwt(
        doc, issuer.key, kid=issuer.kid, disclosable=["/credentialSubject/memberOf"]
    ).serialize()
    jwt, disclosure, _ = token.split("~")

    def code(value: str, policy: VerificationPolicy | None = None) -> str:
        result = verify(
            value, resolver=resolver, clock=clock, policy=policy or VerificationPolicy()
        )
        assert result.status is not Status.VALID
        return result.errors[0].code

    # Tampered payload: the issuer's signature no longer holds.
    head, body, sig = jwt.split(".")
    tampered = b64json({**_payload(body), "validUntil": "2099-01-01T00:00:00Z"})
    assert code(f"{head}.{tampered}.{sig}~{disclosure}~") == "signature_invalid"
    # A disclosure the issuer did not sign a digest for.
    fake = b64url_encode(b'["c2FsdA","memberOf","Evil"]')
    assert code(f"{jwt}~{fake}~") == "disclosure_unreferenced"
    # Wrong key: signed by another key under the issuer's kid.
    header = {"alg": "ES256", "typ": "vc+sd-jwt", "cty": "vc", "kid": issuer.kid}
    assert code(_forged(header, _payload(body), other.key)) == "signature_invalid"
    # Wrong alg: the policy does not allow it.
    assert code(token, VerificationPolicy(algorithms=frozenset({"EdDSA"}))) == "alg_not_allowed"
    # Wrong typ / cty.
    for bad in ({"typ": "vc+jwt"}, {"typ": "vp+sd-jwt"}, {"cty": "vp"}):
        assert code(_forged({**header, **bad}, _payload(body), issuer.key)) in (
            "unsupported_typ",
            "invalid_header",
        )
    # The format may be turned off by policy.
    assert code(token, VerificationPolicy(formats=frozenset({"vc+jwt"}))) == "policy_violation"


def _payload(body: str) -> dict[str, Any]:
    import json

    from ancre.trust.codec.b64 import b64url_decode

    value: dict[str, Any] = json.loads(b64url_decode(body, what="payload"))
    return value


def test_es512_and_es256k_behind_the_allow_list(
    resolver: CompositeResolver, clock: FixedClock
) -> None:
    p521, k1 = Issuer.new("p521"), Issuer.new("secp256k1")
    assert p521.key.alg == "ES512"
    assert k1.key.alg == "ES256K"
    for issuer in (p521, k1):
        token = issue_vc_sd_jwt(credential(issuer.did), issuer.key, kid=issuer.kid, disclosable=[])
        result = verify(token.serialize(), resolver=resolver, clock=clock)
        if issuer is p521:
            assert result.status is Status.VALID, result.errors
        else:  # ES256K is off by default…
            assert result.errors[0].code == "alg_not_allowed"
    # …and a policy enables it.
    policy = policy_from_json({"algorithms": ["ES256K", "ES256"]})
    token = issue_vc_sd_jwt(credential(k1.did), k1.key, kid=k1.kid, disclosable=[])
    result = verify(token.serialize(), resolver=resolver, clock=clock, policy=policy)
    assert result.status is Status.VALID, result.errors


def test_cli_sign_vc_sd_jwt(resolver: CompositeResolver, clock: FixedClock) -> None:
    key = PrivateKey.generate("p384")
    doc = {k: v for k, v in credential("x").items() if k not in ("issuer", "validFrom")}
    token = sign_document(doc, key, "vc+sd-jwt", now=NOW, disclose=["/credentialSubject/memberOf"])
    result = verify(token, resolver=resolver, clock=clock)
    assert result.status is Status.VALID, result.errors
    assert result.format == "vc+sd-jwt"


# ---- cross-implementation: the OpenWallet Foundation's @sd-jwt/core ------------------------

NODE_DIR = Path(__file__).parent / "node_sdjwt"


def _peer(request: dict[str, Any]) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "@sd-jwt" / "core").is_dir():
        # Not a skip: the interop claim must not pass silently on a machine without it.
        pytest.fail("the npm SD-JWT peer is not installed: run `make node-deps` (make test does)")
    done = subprocess.run(
        [node, str(NODE_DIR / "peer.mjs")],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def test_sd_jwt_core_signs_a_vc_sd_jwt_ancre_verifies(
    resolver: CompositeResolver, clock: FixedClock
) -> None:
    issuer = Issuer.new("p256")
    doc = credential(issuer.did)
    frame = {"credentialSubject": {"_sd": ["memberOf"]}, "_sd": ["id"]}
    signed = _peer(
        {
            "op": "sign",
            "payload": doc,
            "frame": frame,
            "jwk": issuer.key.export_private_jwk(),
            "kid": issuer.kid,
        }
    )
    token = signed["token"]
    assert token.count("~") == 3  # two disclosures, no KB-JWT
    result = verify(token, resolver=resolver, clock=clock)
    assert result.status is Status.VALID, result.errors
    assert result.format == "vc+sd-jwt"
    assert result.credential is not None
    assert result.credential["credentialSubject"]["memberOf"] == "Data space Loire"
    assert result.credential["id"] == doc["id"]
    # Its disclosure tampered with: refused.
    jwt, first, second, _ = token.split("~")
    tampered = f"{jwt}~{first[:-2]}AA~{second}~"
    assert verify(tampered, resolver=resolver, clock=clock).status is not Status.VALID


def test_sd_jwt_core_verifies_a_vc_sd_jwt_ancre_signs() -> None:
    issuer = Issuer.new("p256")
    token = issue_vc_sd_jwt(
        credential(issuer.did),
        issuer.key,
        kid=issuer.kid,
        disclosable=["/credentialSubject/memberOf", "/id"],
        issued_at=NOW,
    ).serialize()
    public = issuer.key.public_key.to_jwk()
    checked = _peer({"op": "verify", "token": token, "jwk": public})
    assert "error" not in checked, checked
    assert checked["header"]["typ"] == "vc+sd-jwt"
    assert checked["payload"]["credentialSubject"]["memberOf"] == "Data space Loire"
    assert checked["payload"]["issuer"] == issuer.did
    # Signed by another key: the peer refuses it too.
    other = Issuer.new("p256").key.public_key.to_jwk()
    assert "error" in _peer({"op": "verify", "token": token, "jwk": other})


# ---- the specification's own examples -------------------------------------------------------

SPEC = vectors("vc-jose-cose-spec-examples.json")


def test_spec_example_vc_sd_jwt_disclosures_match_their_digests() -> None:
    from ancre.trust.sd_jwt.verify import parse_sd_jwt, process_disclosures
    from ancre.trust.vcdm.model import check_credential

    example = next(e for e in SPEC["examples"] if e["form"] == "vc+sd-jwt")
    detected = detect_format(example["data_url"])
    assert detected.kind is Kind.VC_SD_JWT
    parsed = parse_sd_jwt(detected.item)
    # Its signature cannot be checked (ephemeral key); every disclosure matches a digest.
    processed = process_disclosures(parsed)
    assert processed.disclosed == 6
    claims = processed.claims
    assert claims["id"] == "http://university.example/credentials/1872"
    assert claims["credentialSubject"]["degree"]["type"] == "BachelorDegree"
    check_credential({k: v for k, v in claims.items() if k not in ("iss", "iat", "exp", "cnf")})
    # With a key that did not sign it: everything up to the signature passes.
    issuer = "https://university.example/issuers/565049"
    key = dict(PrivateKey.generate("p384").public_key.to_jwk(), kid=parsed.header["kid"])
    result = verify(
        example["data_url"],
        resolver=PinnedKeys({issuer: [key]}),
        clock=FixedClock(datetime(2024, 1, 1, tzinfo=UTC)),
        policy=VerificationPolicy(check_schema=False),
    )
    assert [(e.step, e.code) for e in result.errors] == [(Step.SIGNATURE, "signature_invalid")]


@pytest.mark.parametrize(
    ("form", "step", "code"),
    [
        ("vp+sd-jwt", Step.PARSE, "disclosure_invalid"),
        ("vp+cose", Step.ISSUER_KEY, "invalid_presentation"),
    ],
)
def test_spec_examples_that_cannot_verify(form: str, step: Step, code: str) -> None:
    example = next(e for e in SPEC["examples"] if e["form"] == form)
    result = verify(
        example["data_url"],
        resolver=PinnedKeys({}),
        clock=FixedClock(datetime(2024, 1, 1, tzinfo=UTC)),
    )
    assert [(e.step, e.code) for e in result.errors] == [(step, code)]


def test_what_validation_reads_may_not_come_from_a_disclosure(
    resolver: CompositeResolver, clock: FixedClock
) -> None:
    """An issuer (not ancre, whose issuance refuses it) that made `validUntil` disclosable:
    the holder could withhold the expiry, so a disclosed one is refused."""
    from ancre.trust.sd_jwt.issue import issue_sd_jwt

    issuer = Issuer.new("ed25519")
    payload = {**credential(issuer.did), "iss": issuer.did}
    header = {"typ": "vc+sd-jwt", "cty": "vc", "kid": issuer.kid}
    token = issue_sd_jwt(payload, issuer.key, disclosable=["/validUntil"], header=header)
    result = verify(token.serialize(), resolver=resolver, clock=clock)
    assert [(e.step, e.code) for e in result.errors] == [(Step.SIGNATURE, "invalid_property")]
    with pytest.raises(Exception, match="must not be selectively disclosable"):
        issue_vc_sd_jwt(
            credential(issuer.did), issuer.key, kid=issuer.kid, disclosable=["/validUntil"]
        )


def test_vc_jwt_es512_and_es256k(resolver: CompositeResolver, clock: FixedClock) -> None:
    """ES512 and ES256K behind the allow-list for compact JWS too, with did:key resolution
    of P-521 (p521-pub) and secp256k1 (secp256k1-pub) keys."""
    from ancre.trust.jose.vc_jose import issue_vc_jwt

    for key_type, alg in (("p521", "ES512"), ("secp256k1", "ES256K")):
        issuer = Issuer.new(key_type)
        token = issue_vc_jwt(credential(issuer.did), issuer.key, issuer.kid)
        assert _payload(token.split(".")[0])["alg"] == alg
        default = verify(token, resolver=resolver, clock=clock)
        enabled = verify(
            token,
            resolver=resolver,
            clock=clock,
            policy=VerificationPolicy(algorithms=frozenset({alg})),
        )
        assert enabled.status is Status.VALID, enabled.errors
        if alg == "ES256K":
            assert default.errors[0].code == "alg_not_allowed"
        else:
            assert default.status is Status.VALID, default.errors
        # The algorithm must match the key's curve.
        other = Issuer.new("p256")
        forged = _forged(
            {"alg": alg, "typ": "vc+jwt", "kid": other.kid}, credential(other.did), other.key
        ).removesuffix("~")
        assert (
            verify(forged, resolver=resolver, clock=clock, policy=enabled_policy(alg))
            .errors[0]
            .code
            == "alg_key_mismatch"
        )


def enabled_policy(alg: str) -> VerificationPolicy:
    return VerificationPolicy(algorithms=frozenset({alg, "ES256"}))
