"""The examples of the SD-JWT VC draft (draft-ietf-oauth-sd-jwt-vc-19, §2.3 and Appendix A.1)
verified through `verify_sd_jwt_vc`: the issued SD-JWTs and the presentations, with and
without a KB-JWT, each against the processed payload the draft prints (or, for an issued
SD-JWT, the input claims it prints), and the draft's listed Disclosures against the tokens.
The vectors are copied from the draft; see tests/vectors/sd-jwt-vc-draft.json."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from _support import vectors

from ancre.trust.clock import FixedClock
from ancre.trust.codec.b64 import b64url_decode, b64url_encode
from ancre.trust.errors import Code
from ancre.trust.jose.vc_jose import PinnedKeys
from ancre.trust.policy import VerificationPolicy
from ancre.trust.result import Status, Step, VerificationResult
from ancre.trust.sd_jwt.vc import verify_sd_jwt_vc

DRAFT = vectors("sd-jwt-vc-draft.json")
EXAMPLES: list[dict[str, Any]] = DRAFT["examples"]
#: Registered claims the Issuer adds to the input claims (iss is in Figure 23's input).
_ADDED_BY_ISSUER = ("iss", "iat", "exp", "cnf")


def _by_name(examples: list[dict[str, Any]]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("example", examples, ids=[e["name"] for e in examples])


def _payload(token: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(b64url_decode(token.split("~")[0].split(".")[1]))
    return payload


def _verify(example: dict[str, Any], **policy: Any) -> VerificationResult:
    token = example["sd_jwt"]
    payload = _payload(token)
    kb = example["key_binding"]
    # A KB-JWT is judged at its own `iat` (it may be at most 5 minutes old); an SD-JWT
    # without one at its issuance time. Both lie inside the credential's iat..exp window.
    moment = kb["iat"] if kb else payload["iat"]
    assert payload["iat"] <= moment < payload["exp"]
    base = VerificationPolicy(
        check_schema=False,
        check_status=False,
        require_key_binding=example["has_key_binding"],
        audience=kb["aud"] if kb else None,
        nonce=kb["nonce"] if kb else None,
    )
    return verify_sd_jwt_vc(
        token,
        resolver=PinnedKeys({payload["iss"]: [DRAFT["issuer_public_jwk"]]}),
        clock=FixedClock(datetime.fromtimestamp(moment, UTC)),
        policy=replace(base, **policy),
    )


def _codes(result: VerificationResult) -> list[tuple[Step, str | None]]:
    return [(c.step, c.code) for c in result.errors]


def test_the_vectors_are_the_drafts_examples() -> None:
    assert [(e["section"], e["figure"]) for e in EXAMPLES] == [
        ("2.3.1", 7),
        ("2.3.2", 8),
        ("2.3.2", 10),
        ("A.1", 24),
        ("A.1", 26),
    ]
    for example in EXAMPLES:
        has_kb = not example["sd_jwt"].endswith("~")
        assert example["has_key_binding"] is has_kb
        assert (example["key_binding"] is not None) is has_kb


@_by_name(EXAMPLES)
def test_example_verifies(example: dict[str, Any]) -> None:
    result = _verify(example)
    assert result.status is Status.VALID, result.to_json()
    payload = _payload(example["sd_jwt"])
    assert result.types == (payload["vct"],)
    assert result.issuer == payload["iss"]
    if example["expected_claims"] is not None:
        # The processed SD-JWT payload the draft prints (Figures 9, 11, 28).
        assert result.credential == example["expected_claims"]
    else:
        # An issued SD-JWT with every Disclosure: the draft prints the input claims
        # (Figures 5, 23); the processed payload is those plus the Issuer's registered claims.
        expected = dict(example["input_claims"])
        expected.update({k: payload[k] for k in _ADDED_BY_ISSUER if k in payload})
        assert result.credential == expected


@_by_name([e for e in EXAMPLES if e["disclosures"]])
def test_listed_disclosures_match_the_token(example: dict[str, Any]) -> None:
    disclosures = example["sd_jwt"].split("~")[1:-1]
    assert sorted(d["disclosure"] for d in example["disclosures"]) == sorted(disclosures)
    for listed in example["disclosures"]:
        digest = b64url_encode(hashlib.sha256(listed["disclosure"].encode("ascii")).digest())
        assert digest == listed["digest"], listed["claim"]
        contents = json.loads(b64url_decode(listed["disclosure"]))
        assert contents == listed["contents"]
        assert contents[1] == listed["claim"]


@_by_name([e for e in EXAMPLES if e["has_key_binding"]])
def test_key_binding_is_checked(example: dict[str, Any]) -> None:
    wrong_nonce = _verify(example, nonce="not-" + example["key_binding"]["nonce"])
    assert _codes(wrong_nonce) == [(Step.HOLDER_BINDING, Code.NONCE_MISMATCH)]
    wrong_audience = _verify(example, audience="https://elsewhere.example")
    assert _codes(wrong_audience) == [(Step.HOLDER_BINDING, Code.AUDIENCE_MISMATCH)]


@_by_name([e for e in EXAMPLES if not e["has_key_binding"]])
def test_without_key_binding(example: dict[str, Any]) -> None:
    # Figures 7 and 24 carry `cnf`: a verifier requiring key binding refuses them bare.
    # Figure 10 has no `cnf`, a bearer credential, so there is nothing to bind.
    result = _verify(example, require_key_binding=True)
    if "cnf" in _payload(example["sd_jwt"]):
        assert _codes(result) == [(Step.HOLDER_BINDING, Code.KEY_BINDING_MISSING)]
    else:
        assert result.status is Status.VALID, result.to_json()
