"""The verification engine: one order of steps, every step for every format, one detection.

Each format is an adapter the engine (`ancre.trust.engine.run_steps`) drives through the
`Step` enum in order; these tests hold every format to the same list, valid or failing."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from _support import NOW, Issuer, credential, vectors

from ancre.trust.clock import FixedClock
from ancre.trust.codec.b64 import b64url_decode
from ancre.trust.data_integrity.proofs import add_proof
from ancre.trust.did.resolvers import default_resolver
from ancre.trust.engine import ORDER, Kind, VerifyContext, detect_format
from ancre.trust.errors import Code, MalformedError
from ancre.trust.jose.vc_jose import envelope_credential, issue_vc_jwt, issue_vp_jwt
from ancre.trust.keys.jwk import JWK_THUMBPRINT_URI_PREFIX, PrivateKey, jwk_thumbprint
from ancre.trust.policy import VerificationPolicy
from ancre.trust.result import Status, Step, VerificationResult
from ancre.trust.sd_jwt.present import present
from ancre.trust.sd_jwt.vc import issue_sd_jwt_vc
from ancre.trust.vcdm.jsonld import ContextStore
from ancre.verifier.engine import Verifier

AUD, NONCE = "https://verifier.example", "n-0S6_WzA2Mj"
BOUND = VerificationPolicy(audience=AUD, nonce=NONCE)
_EXAMPLES = vectors("vc-di-eddsa.json")["examples_context"]


def _store() -> ContextStore:
    store = ContextStore()
    store.add(_EXAMPLES["url"], _EXAMPLES["document"].encode(), _EXAMPLES["sha256"])
    return store


STORE = _store()


def _engine() -> Verifier:
    return Verifier(VerifyContext(default_resolver(), FixedClock(NOW), contexts=STORE))


def _di_credential(issuer: Issuer) -> dict[str, Any]:
    document = credential(
        issuer.did, **{"@context": [credential("")["@context"][0], _EXAMPLES["url"]]}
    )
    return add_proof(
        document, issuer.key, issuer.kid, created=NOW - timedelta(days=1), contexts=STORE
    )


def _inputs() -> dict[str, tuple[Any, VerificationPolicy]]:
    issuer, holder = Issuer.new(), Issuer.new()
    vc_jwt = issue_vc_jwt(credential(issuer.did), issuer.key, issuer.kid)
    vp_jwt = issue_vp_jwt(
        [vc_jwt], holder.key, holder=holder.did, kid=holder.kid, audience=AUD, nonce=NONCE,
        clock=FixedClock(NOW),
    )  # fmt: skip
    holder_key = PrivateKey.generate("ed25519")
    issued = issue_sd_jwt_vc(
        {"given_name": "Marie"}, issuer.key, issuer=issuer.did, kid=issuer.kid,
        vct="https://credentials.example/identity", disclosable=["/given_name"],
        holder_jwk=holder_key.public_key, issued_at=NOW - timedelta(days=1),
    )  # fmt: skip
    sd_jwt = present(
        issued, ["/given_name"], holder_key=holder_key, audience=AUD, nonce=NONCE,
        clock=FixedClock(NOW),
    )  # fmt: skip
    di_vc = _di_credential(issuer)
    di_vp = add_proof(
        {
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "type": ["VerifiablePresentation"],
            "holder": holder.did,
            "verifiableCredential": [di_vc],
        },
        holder.key, holder.kid, created=NOW - timedelta(minutes=1),
        proof_purpose="authentication", challenge=NONCE, domain=AUD, contexts=STORE,
    )  # fmt: skip
    return {
        "vc+jwt": (vc_jwt, VerificationPolicy()),
        "vp+jwt": (vp_jwt, BOUND),
        "dc+sd-jwt": (sd_jwt, BOUND),
        "ldp_vc": (di_vc, VerificationPolicy()),
        "ldp_vp": (di_vp, BOUND),
        "enveloped vc+jwt": (envelope_credential(vc_jwt), VerificationPolicy()),
    }


INPUTS = _inputs()


def _steps(result: VerificationResult) -> list[Step]:
    return [c.step for c in result.checks]


def test_the_order_is_the_step_enum() -> None:
    assert list(ORDER) == list(Step)
    assert ORDER[0] is Step.PARSE
    assert ORDER[-1] is Step.POLICY


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_every_format_runs_every_step_in_the_same_order(name: str) -> None:
    data, policy = INPUTS[name]
    result = _engine().verify(data, policy=policy)
    assert result.status is Status.VALID, result.to_json()
    assert _steps(result) == list(Step)
    # Not applicable is said, not skipped: only a policy option (here, no trust source)
    # skips a step, and a presentation's trust is its credentials'.
    credentials = result.credentials or (result,)
    if result.credentials:
        assert [c.step for c in result.checks if c.skipped] == []
    for inner in credentials:
        assert _steps(inner) == list(Step)
        assert [c.step for c in inner.checks if c.skipped] == [Step.TRUST]


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_a_failure_stops_the_run_at_its_step(name: str) -> None:
    """A policy the credential cannot meet fails every format at the same step: the ones
    before it ran, in order, and none after it."""
    data, policy = INPUTS[name]
    strict = VerificationPolicy(
        audience=policy.audience, nonce=policy.nonce, required_types=frozenset({"Nope"})
    )
    result = _engine().verify(data, policy=strict)
    assert result.status is Status.INVALID
    first = result if not result.credentials else result.credentials[0]
    assert _steps(first) == list(Step)
    assert [(e.step, e.code) for e in first.errors] == [(Step.POLICY, Code.POLICY_VIOLATION)]
    if result.credentials:  # the presentation stops at its credentials step
        assert _steps(result) == list(Step)[: list(Step).index(Step.CREDENTIALS) + 1]


def test_holder_and_issuer_are_apart() -> None:
    result = _engine().verify(INPUTS["vp+jwt"][0], policy=BOUND)
    assert result.holder is not None
    assert result.credentials[0].issuer is not None
    assert result.credentials[0].holder is None
    assert result.to_json()["holder"] == result.holder
    # The holder is no longer mirrored into `issuer`: a VP has no issuer.
    assert result.issuer is None


def test_an_sd_jwt_names_its_holder_only_when_a_kb_jwt_verified() -> None:
    """The presenter of an SD-JWT+KB is whoever holds `cnf.jwk`: named by its RFC 9278
    thumbprint URI. A bare SD-JWT (the holder's stored copy) names nobody."""
    data, policy = INPUTS["dc+sd-jwt"]
    bound = _engine().verify(data, policy=policy)
    cnf = json.loads(b64url_decode(data.split(".")[1]))["cnf"]["jwk"]
    assert bound.holder == JWK_THUMBPRINT_URI_PREFIX + jwk_thumbprint(cnf)
    bare = data[: data.rindex("~") + 1]
    unbound = _engine().verify(bare, policy=VerificationPolicy(require_key_binding=False))
    assert unbound.status is Status.VALID, unbound.to_json()
    assert unbound.holder is None


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("vc+jwt", Kind.VC_JWT),
        ("vp+jwt", Kind.VP_JWT),
        ("dc+sd-jwt", Kind.SD_JWT_VC),
        ("ldp_vc", Kind.DI_VC),
        ("ldp_vp", Kind.DI_VP),
        ("enveloped vc+jwt", Kind.VC_JWT),
    ],
)
def test_detection_in_one_place(name: str, kind: Kind) -> None:
    assert detect_format(INPUTS[name][0]).kind is kind


def test_entry_detection_depends_on_the_presentation_family() -> None:
    di_vc = INPUTS["ldp_vc"][0]
    assert detect_format(di_vc, within="json-ld").kind is Kind.DI_VC
    # A vp+jwt carries tokens or envelopes only: an embedded JSON-LD credential is not one.
    with pytest.raises(Exception, match="not an EnvelopedVerifiableCredential"):
        detect_format(di_vc, within="jose")
    assert detect_format(INPUTS["dc+sd-jwt"][0], within="jose").kind is Kind.SD_JWT_VC


# ---- a secured document must be a map (VC Data Integrity §4.3: "not a map" is an error) ----


def _not_a_map(result: VerificationResult) -> bool:
    return (
        result.status is Status.INVALID
        and result.malformed
        and [(e.step, e.code) for e in result.errors] == [(Step.PARSE, Code.DOCUMENT_NOT_A_MAP)]
    )


@pytest.mark.parametrize("name", ["ldp_vc", "enveloped vc+jwt"])
def test_a_json_string_holding_a_credential_is_not_a_map(name: str) -> None:
    """A service member (`parsed=True`) that is a JSON string holding the credential as JSON
    text: refused, never read as the credential. As text (a file, `ancre.verify(text)`),
    JSON text is how a JSON document arrives and verifies; a JSON string literal holding it
    is refused the same way."""
    document = INPUTS[name][0]
    text = json.dumps(document)
    assert _engine().verify(text).status is Status.VALID
    assert _not_a_map(_engine().verify(text, parsed=True))
    assert _not_a_map(_engine().verify(json.dumps(text)))
    assert _not_a_map(_engine().verify(json.dumps(text).encode()))
    with pytest.raises(MalformedError) as refused:
        detect_format(text, parsed=True)
    assert refused.value.code is Code.DOCUMENT_NOT_A_MAP


@pytest.mark.parametrize("value", [[], [{"proof": {}}], 42, True, None, "[1, 2]"])
def test_other_json_values_are_not_maps(value: Any) -> None:
    """Any JSON value that is not an object, as a parsed member or as JSON text."""
    if isinstance(value, str):  # JSON text of an array
        assert _not_a_map(_engine().verify(value))
        return
    assert _not_a_map(_engine().verify(value, parsed=True))
    assert _not_a_map(_engine().verify(json.dumps([value])))


@pytest.mark.parametrize("name", ["vc+jwt", "vp+jwt", "dc+sd-jwt"])
def test_a_token_in_a_json_string_is_still_a_token(name: str) -> None:
    """`verifiableCredential` as a string is legitimately a compact JWT or an SD-JWT."""
    token, policy = INPUTS[name]
    assert _engine().verify(token, parsed=True, policy=policy).status is Status.VALID
    assert _engine().verify(json.dumps(token), policy=policy).status is Status.VALID


def test_a_string_that_is_neither_json_nor_a_token_is_a_malformed_token() -> None:
    result = _engine().verify('{"not json', parsed=True)
    assert result.status is Status.INVALID
    assert result.malformed
    assert result.errors[0].code is not Code.DOCUMENT_NOT_A_MAP


def test_a_presentation_entry_holding_json_text_is_not_a_map() -> None:
    """The same rule for what a presentation carries: a `verifiableCredential` entry that is
    a string holding a JSON object is refused, and the presentation with it."""
    vc_jwt = INPUTS["vc+jwt"][0]
    with pytest.raises(MalformedError) as refused:
        detect_format(json.dumps(envelope_credential(vc_jwt)), within="jose")
    assert refused.value.code is Code.DOCUMENT_NOT_A_MAP
    di_vc = INPUTS["ldp_vc"][0]
    with pytest.raises(MalformedError):
        detect_format(json.dumps(di_vc), within="json-ld")


def test_require_holder_for_every_presentation_format() -> None:
    """`require_holder`: a vp+jwt and a Data Integrity presentation name theirs (`holder`),
    an SD-JWT VC through its key-binding JWT; a bare SD-JWT names nobody and is refused."""
    strict = replace(BOUND, require_holder=True)
    for name in ("vp+jwt", "ldp_vp", "dc+sd-jwt"):
        data, _ = INPUTS[name]
        assert _engine().verify(data, policy=strict).status is Status.VALID, name
    sd_jwt = INPUTS["dc+sd-jwt"][0]
    bare = sd_jwt[: sd_jwt.rindex("~") + 1]
    lenient = VerificationPolicy(require_key_binding=False)
    assert _engine().verify(bare, policy=lenient).status is Status.VALID
    refused = _engine().verify(bare, policy=replace(lenient, require_holder=True))
    assert [(e.step, e.code) for e in refused.errors] == [
        (Step.HOLDER_BINDING, Code.POLICY_VIOLATION)
    ]
