"""The verifier service against the W3C CCG VC-API specification (verify credential and verify
presentation), over real HTTP on loopback.

The shapes and examples come from `tests/vectors/vc-api.json`, copied from the w3c-ccg/vc-api
repository (its OpenAPI `verifier.yml`, the components it references and `index.html`); see
that file's `source` and `notes`. Each rule is one test, asserting what the specification
requires. (Until the service adopted the VC-API response shape, 23 of them were strict xfails;
docs/architecture.md says why the service departs from DESIGN.md's "400 with verified:false".)
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from _asgi_server import serve
from _support import NOW, Issuer, credential, forge, service_verdict, vectors

from ancre.trust.clock import FixedClock
from ancre.trust.did.jwk import did_jwk_from_public_key
from ancre.trust.jose.vc_jose import envelope_credential, issue_vc_jwt, issue_vp_jwt
from ancre.trust.keys.jwk import PrivateKey
from ancre.verifier.service import MAX_BODY_BYTES, VerifierSettings, create_app

SPEC = vectors("vc-api.json")
SCHEMAS = SPEC["schemas"]
VC_RESULT = SCHEMAS["VerifyCredentialResult"]["9f30beb976316d307b86864b02de03da9944a3b2"]
VP_RESULT = SCHEMAS["VerifyPresentationResult"]
VC_OPTIONS = SCHEMAS["VerifyCredentialOptions"]
VP_OPTIONS_EXAMPLE = SCHEMAS["VerifyPresentationOptions"]["example"]
VCDM2 = "https://www.w3.org/ns/credentials/v2"

CREDENTIALS = "/credentials/verify"
PRESENTATIONS = "/presentations/verify"


def example(name: str) -> Any:
    """A fresh copy of a specification example (tests must not share mutations)."""
    return copy.deepcopy(SCHEMAS[name]["example"])


@pytest.fixture(scope="module")
def service() -> Iterator[str]:
    with serve(create_app(VerifierSettings(clock=FixedClock(NOW), no_trust_check=True))) as base:
        yield base


@pytest.fixture
def http(service: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service, trust_env=False) as client:
        yield client


@pytest.fixture(scope="module")
def token() -> str:
    """A vc+jwt ancre can verify (did:key issuer)."""
    issuer = Issuer.new()
    return issue_vc_jwt(credential(issuer.did), issuer.key, issuer.kid)


@pytest.fixture(scope="module")
def forged_token() -> str:
    """A vc+jwt whose signature does not match the issuer's key: verification runs and fails."""
    issuer, other = Issuer.new(), Issuer.new()
    return issue_vc_jwt(credential(issuer.did), other.key, issuer.kid)


def enveloped_presentation(token: str, *, challenge: str, domain: str) -> dict[str, Any]:
    """An EnvelopedVerifiablePresentation (vp+jwt) bound to `challenge` (nonce) and `domain`
    (audience), as a holder answering the specification's options example would send it."""
    holder_key = PrivateKey.generate("ed25519")
    holder = did_jwk_from_public_key(holder_key.public_key)
    vp = issue_vp_jwt(
        [token],
        holder_key,
        holder=holder,
        kid=f"{holder}#0",
        audience=domain,
        nonce=challenge,
        clock=FixedClock(NOW),
    )
    return {
        "@context": [VCDM2],
        "id": f"data:application/vp+jwt,{vp}",
        "type": "EnvelopedVerifiablePresentation",
    }


def request(kind: str, token: str, forged_token: str) -> tuple[str, dict[str, Any]]:
    """Named requests: a verification that succeeds, and verifications that run and fail."""
    challenge, domain = VP_OPTIONS_EXAMPLE["challenge"], VP_OPTIONS_EXAMPLE["domain"]
    if kind == "valid credential":
        return CREDENTIALS, {"verifiableCredential": envelope_credential(token)}
    if kind == "forged credential":
        return CREDENTIALS, {"verifiableCredential": envelope_credential(forged_token)}
    if kind == "spec credential example":
        return CREDENTIALS, {"verifiableCredential": example("VerifiableCredential")}
    envelope = enveloped_presentation(token, challenge=challenge, domain=domain)
    if kind == "valid presentation":
        return PRESENTATIONS, {
            "verifiablePresentation": envelope,
            "options": {"challenge": challenge, "domain": domain},
        }
    if kind == "presentation, wrong challenge":
        return PRESENTATIONS, {
            "verifiablePresentation": envelope,
            "options": {"challenge": "not-the-challenge", "domain": domain},
        }
    raise AssertionError(kind)


def is_url(value: object) -> bool:
    return isinstance(value, str) and bool(urlsplit(value).scheme) and " " not in value


def problem_details_ok(items: object) -> bool:
    """A list of ProblemDetails: each a map whose `type` is present and a URL (index.html,
    Error Handling: MUST)."""
    return isinstance(items, list) and all(
        isinstance(item, dict) and is_url(item.get("type")) for item in items
    )


# --- Request shapes ----------------------------------------------------------------------


def test_enveloped_credential_request_is_verified(http: httpx.Client, token: str) -> None:
    """VerifyEnvelopedCredentialRequest: `verifiableCredential` as an
    EnvelopedVerifiableCredential (`@context` array, `id` a data: URL, `type`)."""
    response = http.post(CREDENTIALS, json={"verifiableCredential": envelope_credential(token)})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["verified"] is True


def test_json_ld_credential_example_is_processed_not_verified(http: httpx.Client) -> None:
    """VerifyCredentialRequest with the specification's VerifiableCredential example: the shape
    is accepted (a verification result, not a request rejection) and, its proof being
    unverifiable (did:example key, placeholder proofValue), `verified` is false."""
    response = http.post(
        CREDENTIALS, json={"verifiableCredential": example("VerifiableCredential")}
    )
    assert response.status_code in (200, 400)
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert isinstance(body["verified"], bool)
    assert body["verified"] is False


@pytest.mark.parametrize(
    ("path", "member", "name"),
    [
        (CREDENTIALS, "verifiableCredential", "EnvelopedVerifiableCredential"),
        (PRESENTATIONS, "verifiablePresentation", "EnvelopedVerifiablePresentation"),
        (PRESENTATIONS, "verifiablePresentation", "VerifiablePresentation"),
    ],
)
def test_malformed_spec_examples_are_not_verified(
    http: httpx.Client, path: str, member: str, name: str
) -> None:
    """The envelope examples carry elided payloads ('QzVjV...RMjU', 'eyJraWQiO...zhwGfQ') and
    the presentation example's `verifiableCredential` reads as a list of single-key maps
    (notes in the vectors). Either answer the specification allows: 400 (malformed input) or
    200 with `verified` false; never verified."""
    response = http.post(path, json={member: example(name)})
    assert response.status_code in (200, 400)
    body = response.json()
    assert isinstance(body, dict)
    assert body.get("verified") is not True
    if response.status_code == 200:
        assert body["verified"] is False


def test_presentation_options_example_is_accepted(http: httpx.Client, token: str) -> None:
    """VerifyEnvelopedPresentationRequest with the VerifyPresentationOptions example verbatim
    (`domain`, `challenge`, `returnPresentation`): a presentation bound to that challenge and
    domain verifies."""
    options = copy.deepcopy(VP_OPTIONS_EXAMPLE)
    envelope = enveloped_presentation(
        token, challenge=options["challenge"], domain=options["domain"]
    )
    response = http.post(
        PRESENTATIONS, json={"verifiablePresentation": envelope, "options": options}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["verified"] is True


@pytest.mark.parametrize("option", ["challenge", "domain"])
def test_presentation_options_are_enforced(http: httpx.Client, token: str, option: str) -> None:
    """`options.challenge` / `options.domain` are checked against the presentation's proof."""
    options = {"challenge": VP_OPTIONS_EXAMPLE["challenge"], "domain": VP_OPTIONS_EXAMPLE["domain"]}
    envelope = enveloped_presentation(token, **options)
    options[option] = "other.example" if option == "domain" else "other-challenge"
    response = http.post(
        PRESENTATIONS, json={"verifiablePresentation": envelope, "options": options}
    )
    assert response.json()["verified"] is False


def test_proofless_presentation_request_is_accepted(http: httpx.Client, token: str) -> None:
    presentation = {
        "@context": [VCDM2],
        "type": ["VerifiablePresentation"],
        "verifiableCredential": [envelope_credential(token)],
    }
    response = http.post(PRESENTATIONS, json={"presentation": presentation})
    assert response.status_code == 200
    result = response.json()
    assert "verified" in result
    assert isinstance(result["verified"], bool)


# --- Status codes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind",
    [
        "presentation, wrong challenge",
        "forged credential",
        "spec credential example",
    ],
)
def test_failed_verification_is_200_with_verified_false(
    http: httpx.Client, token: str, forged_token: str, kind: str
) -> None:
    path, body = request(kind, token, forged_token)
    response = http.post(path, json=body)
    assert response.json()["verified"] is False
    assert response.status_code == 200


@pytest.mark.parametrize("path", [CREDENTIALS, PRESENTATIONS])
@pytest.mark.parametrize("content", [b"not json", b"[]", b"{}"])
def test_malformed_request_is_400(http: httpx.Client, path: str, content: bytes) -> None:
    """400: invalid or malformed input that prevented the verification process."""
    response = http.post(path, content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == 400


def test_oversized_presentation_is_413(http: httpx.Client) -> None:
    """413 'Payload too large' is listed for POST /presentations/verify."""
    content = b'{"verifiablePresentation": "' + b"A" * (MAX_BODY_BYTES + 1) + b'"}'
    response = http.post(
        PRESENTATIONS, content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


# --- Response members and types ----------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "verified"),
    [
        ("valid credential", True),
        ("forged credential", False),
        ("spec credential example", False),
        ("valid presentation", True),
        ("presentation, wrong challenge", False),
    ],
)
def test_verified_is_a_boolean_matching_the_outcome(
    http: httpx.Client, token: str, forged_token: str, kind: str, verified: bool
) -> None:
    """`verified` (boolean): true if no errors were detected, otherwise false."""
    path, body = request(kind, token, forged_token)
    result = http.post(path, json=body).json()
    assert result["verified"] is verified


@pytest.mark.parametrize(
    "kind",
    [
        "valid credential",
        "forged credential",
        "valid presentation",
        "presentation, wrong challenge",
    ],
)
def test_response_has_only_schema_members(
    http: httpx.Client, token: str, forged_token: str, kind: str
) -> None:
    path, body = request(kind, token, forged_token)
    result = http.post(path, json=body).json()
    schema = VC_RESULT if path == CREDENTIALS else VP_RESULT
    assert set(result) <= set(schema["properties"])


@pytest.mark.parametrize(
    "kind",
    [
        "forged credential",
        "spec credential example",
        "presentation, wrong challenge",
    ],
)
def test_failure_lists_problem_details(
    http: httpx.Client, token: str, forged_token: str, kind: str
) -> None:
    path, body = request(kind, token, forged_token)
    result = http.post(path, json=body).json()
    assert result["verified"] is False
    assert result.get("problemDetails")
    assert problem_details_ok(result["problemDetails"])


@pytest.mark.parametrize(
    "kind",
    [
        "valid credential",
        "forged credential",
        "spec credential example",
        "presentation, wrong challenge",
    ],
)
def test_reported_problems_are_problem_details(
    http: httpx.Client, token: str, forged_token: str, kind: str
) -> None:
    """Whichever member lists them (`problemDetails` in the OpenAPI schemas, `warnings` and
    `errors` in index.html's example), problems are ProblemDetails."""
    path, body = request(kind, token, forged_token)
    result = http.post(path, json=body).json()
    listed = [result.get(m, []) for m in ("problemDetails", "warnings", "errors")]
    assert any(listed)
    assert all(problem_details_ok(items) for items in listed)


def test_return_presentation_true_returns_the_presentation(http: httpx.Client, token: str) -> None:
    options = copy.deepcopy(VP_OPTIONS_EXAMPLE)
    assert options["returnPresentation"] is True
    envelope = enveloped_presentation(
        token, challenge=options["challenge"], domain=options["domain"]
    )
    response = http.post(
        PRESENTATIONS, json={"verifiablePresentation": envelope, "options": options}
    )
    assert response.status_code == 200
    result = response.json()
    assert "verifiablePresentation" in result
    assert isinstance(result["verifiablePresentation"], dict)


def test_presentation_not_returned_unless_asked(http: httpx.Client, token: str) -> None:
    """'If false or not provided, then the verified presentation MUST NOT be returned.'"""
    path, body = request("valid presentation", token, "")
    assert "returnPresentation" not in body["options"]
    result = http.post(path, json=body).json()
    assert "verifiablePresentation" not in result


@pytest.mark.parametrize(
    "commit",
    ["b595aa66dbce0bb9ec4cd22f026eb5e07bf99f94", "8845768614f1d59cf1fcfa91d0ed8962c43af64e"],
)
def test_credential_options_example_is_honoured_or_refused(
    http: httpx.Client, token: str, commit: str
) -> None:
    options = copy.deepcopy(VC_OPTIONS[commit]["example"])
    response = http.post(
        CREDENTIALS,
        json={"verifiableCredential": envelope_credential(token), "options": options},
    )
    assert response.status_code == 200
    result = response.json()
    assert set(result) <= set(VC_RESULT["properties"])
    assert result["credential"] == envelope_credential(token)
    if options.get("returnResults"):
        assert set(result["results"]) == set(VC_RESULT["properties"]["results"]["properties"])
    assert ("problemDetails" in result) is options.get("returnProblemDetails", True)


@pytest.mark.parametrize(
    "path",
    [CREDENTIALS, PRESENTATIONS],
)
def test_unknown_option_is_an_error(http: httpx.Client, token: str, path: str) -> None:
    _, body = request(
        "valid credential" if path == CREDENTIALS else "valid presentation", token, ""
    )
    body["options"] = {**body.get("options", {}), "ancreTestUnknownOption": True}
    response = http.post(path, json=body)
    assert response.status_code == 400


@pytest.mark.parametrize(
    "kind",
    [
        "valid credential",
        "forged credential",
        "valid presentation",
        "presentation, wrong challenge",
    ],
)
def test_verification_bodies_are_application_json(
    http: httpx.Client, token: str, forged_token: str, kind: str
) -> None:
    """Content Serialization: bodies MUST be JSON with `Content-Type: application/json`."""
    path, body = request(kind, token, forged_token)
    response = http.post(path, json=body)
    assert response.headers["content-type"] == "application/json"
    assert isinstance(response.json(), dict)


@pytest.mark.parametrize(
    ("path", "content", "status"),
    [
        pytest.param(path, content, status, id=f"{path}-{label}")
        for path, content, status, label in [
            (CREDENTIALS, b"not json", 400, "not-json"),
            (PRESENTATIONS, b"{}", 400, "missing-member"),
            (
                PRESENTATIONS,
                b'{"verifiablePresentation": "' + b"A" * (MAX_BODY_BYTES + 1) + b'"}',
                413,
                "too-large",
            ),
        ]
    ],
)
def test_error_bodies_are_application_json(
    http: httpx.Client, path: str, content: bytes, status: int
) -> None:
    response = http.post(path, content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"


# --- Options the VC-API and VCALM define: checks, expectedProofPurpose, challenge/domain ----


def test_checks_option_is_honoured_and_says_which_ran(http: httpx.Client, token: str) -> None:
    """The earlier VC-API's `options.checks` (`{"checks": ["proof"]}`, what the W3C test
    suites send): accepted, run, and echoed as the checks performed."""
    envelope = envelope_credential(token)
    for checks in (["proof"], ["proof", "credentialStatus", "expiration"], []):
        response = http.post(
            CREDENTIALS, json={"verifiableCredential": envelope, "options": {"checks": checks}}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["verified"] is True
        assert body["checks"] == checks
        assert not [p for p in body["problemDetails"] if "check" in p]
    # Without `checks` the VCALM body is unchanged: no `checks` member.
    plain = http.post(CREDENTIALS, json={"verifiableCredential": envelope}).json()
    assert "checks" not in plain


def test_a_check_the_verification_did_not_reach_is_said(
    http: httpx.Client, forged_token: str
) -> None:
    """A verification stops at its first failure: a listed check after it did not run, and
    the answer says so rather than listing it."""
    response = http.post(
        CREDENTIALS,
        json={
            "verifiableCredential": envelope_credential(forged_token),
            "options": {"checks": ["proof", "credentialStatus"]},
        },
    )
    body = response.json()
    assert (response.status_code, body["verified"], body["checks"]) == (200, False, ["proof"])
    (not_run,) = [p for p in body["problemDetails"] if p.get("check")]
    assert not_run["check"] == "credentialStatus"
    assert not_run["type"] == "urn:ancre:warning:check-not-run"
    assert [p["code"] for p in body["problemDetails"] if "code" in p] == ["signature_invalid"]


@pytest.fixture(scope="module")
def lenient_service() -> Iterator[str]:
    """A service whose operator turned the status check off (policy `check_status: false`)."""
    from ancre.trust.policy import VerificationPolicy

    settings = VerifierSettings(
        clock=FixedClock(NOW), no_trust_check=True, policy=VerificationPolicy(check_status=False)
    )
    with serve(create_app(settings)) as base:
        yield base


def test_a_listed_check_runs_even_where_the_policy_skips_it(lenient_service: str) -> None:
    """`checks` switches a step on through the policy (`check_status`, `require_trust`);
    never off: what is not listed runs as the service's policy says."""
    issuer = Issuer.new()
    entry = {
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": "4",
        # Loopback over plain HTTP: the service's network guard never fetches it.
        "statusListCredential": "http://127.0.0.1:9/status/1",
        "id": "http://127.0.0.1:9/status/1#4",
    }
    vc = issue_vc_jwt(credential(issuer.did, credentialStatus=entry), issuer.key, issuer.kid)
    body = {"verifiableCredential": envelope_credential(vc)}
    with httpx.Client(base_url=lenient_service, trust_env=False) as http:
        skipped = http.post(CREDENTIALS, json=body)
        assert skipped.json()["verified"] is True
        assert "status" in [p.get("step") for p in skipped.json()["problemDetails"]]
        for name in ("credentialStatus", "status"):
            asked = http.post(CREDENTIALS, json={**body, "options": {"checks": [name]}})
            assert asked.headers["Ancre-Status"] == "indeterminate"
            result = asked.json()
            assert (result["verified"], result["checks"]) == (False, [name])
            assert [p["code"] for p in result["problemDetails"] if "code" in p] == [
                "status_unavailable"
            ]
        trust = http.post(CREDENTIALS, json={**body, "options": {"checks": ["trust"]}}).json()
        assert (trust["verified"], trust["checks"]) == (False, ["trust"])
        codes = [p["code"] for p in trust["problemDetails"] if "code" in p]
        assert codes == ["trust_not_configured"], trust


@pytest.mark.parametrize(
    ("options", "code"),
    [
        ({"checks": ["proof", "nope"]}, "unknown_option"),
        ({"checks": "proof"}, "invalid_request"),
        ({"checks": [1]}, "invalid_request"),
        ({"checks": ["holder"]}, "unknown_option"),  # a presentation's check
        ({"expectedProofPurpose": "authentication"}, "invalid_request"),
        ({"expectedProofPurpose": 1}, "invalid_request"),
        ({"returnPresentation": True}, "unknown_option"),
    ],
)
def test_credential_options_refused(
    http: httpx.Client, token: str, options: dict[str, Any], code: str
) -> None:
    response = http.post(
        CREDENTIALS, json={"verifiableCredential": envelope_credential(token), "options": options}
    )
    assert response.status_code == 400
    assert response.json()["code"] == code


def test_every_defined_credential_option_is_accepted(http: httpx.Client, token: str) -> None:
    """VerifyCredentialOptions (VCALM) and the earlier VerifyOptions: returnCredential,
    returnResults, returnProblemDetails, checks, expectedProofPurpose, challenge, domain."""
    options = {
        "returnCredential": True,
        "returnResults": True,
        "returnProblemDetails": True,
        "checks": ["proof"],
        "expectedProofPurpose": "assertionMethod",
    }
    envelope = envelope_credential(token)
    response = http.post(CREDENTIALS, json={"verifiableCredential": envelope, "options": options})
    assert response.status_code == 200, response.text
    assert response.json()["verified"] is True
    # A bare credential carries no binding: asked for one, it is not verified (never a 400,
    # never a silently dropped binding).
    bound = http.post(
        CREDENTIALS,
        json={"verifiableCredential": envelope, "options": {"challenge": "c", "domain": "d"}},
    )
    assert bound.status_code == 200
    assert service_verdict(bound) == ("invalid", ["policy_violation"])


def test_every_defined_presentation_option_is_accepted(http: httpx.Client, token: str) -> None:
    options = {**VP_OPTIONS_EXAMPLE, "returnResults": True, "returnProblemDetails": True}
    options |= {
        "checks": ["proof", "challenge", "domain"],
        "expectedProofPurpose": "authentication",
    }
    envelope = enveloped_presentation(
        token, challenge=options["challenge"], domain=options["domain"]
    )
    response = http.post(
        PRESENTATIONS, json={"verifiablePresentation": envelope, "options": options}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["verified"], body["checks"]) == (True, ["proof", "challenge", "domain"])
    assert body["verifiablePresentation"] == envelope


@pytest.mark.parametrize(
    ("options", "proofless", "code"),
    [
        ({"checks": ["challenge"], "domain": "d"}, False, "invalid_request"),
        ({"checks": ["domain"], "challenge": "c"}, False, "invalid_request"),
        ({"checks": ["holder"]}, True, "invalid_request"),
        ({"expectedProofPurpose": "assertionMethod"}, False, "invalid_request"),
        ({"returnCredential": True}, False, "unknown_option"),
        ({"checks": ["proof", "issuer-dance"]}, False, "unknown_option"),
    ],
)
def test_presentation_options_refused(
    http: httpx.Client, token: str, options: dict[str, Any], proofless: bool, code: str
) -> None:
    """A listed binding check with nothing to check it against (no challenge, no domain and
    no audience of the service's own, a proofless presentation) is refused, not passed."""
    envelope = enveloped_presentation(token, challenge="c", domain="d")
    member = "presentation" if proofless else "verifiablePresentation"
    response = http.post(PRESENTATIONS, json={member: envelope, "options": options})
    assert response.status_code == 400
    assert response.json()["code"] == code


# --- Presentations without holder, VCDM 1.1 JWT envelopes, documents that are not maps -----


def _holder_less(token: str, *, challenge: str, domain: str, holder: bool = False) -> Any:
    key = PrivateKey.generate("ed25519")
    did = did_jwk_from_public_key(key.public_key)
    payload = {
        "@context": [VCDM2],
        "type": ["VerifiablePresentation"],
        "verifiableCredential": [envelope_credential(token)],
        "aud": domain,
        "nonce": challenge,
        **({"holder": did} if holder else {}),
    }
    vp = forge({"alg": "EdDSA", "typ": "vp+jwt", "kid": f"{did}#0"}, payload, key)
    return {
        "@context": [VCDM2],
        "id": f"data:application/vp+jwt,{vp}",
        "type": "EnvelopedVerifiablePresentation",
    }


def test_presentation_without_holder_is_verified(http: httpx.Client, token: str) -> None:
    options = {"challenge": "c-1", "domain": "https://verifier.example"}
    envelope = _holder_less(token, challenge="c-1", domain="https://verifier.example")
    response = http.post(
        PRESENTATIONS, json={"verifiablePresentation": envelope, "options": options}
    )
    assert service_verdict(response) == ("valid", [])
    wrong = http.post(
        PRESENTATIONS,
        json={"verifiablePresentation": envelope, "options": {**options, "challenge": "c-2"}},
    )
    assert service_verdict(wrong) == ("invalid", ["nonce_mismatch"])
    # Asking for the holder check: a named holder passes, a missing one does not.
    asked = {**options, "checks": ["holder"]}
    refused = http.post(PRESENTATIONS, json={"verifiablePresentation": envelope, "options": asked})
    assert service_verdict(refused) == ("invalid", ["policy_violation"])
    assert refused.json()["checks"] == ["holder"]
    named = _holder_less(token, challenge="c-1", domain="https://verifier.example", holder=True)
    passed = http.post(PRESENTATIONS, json={"verifiablePresentation": named, "options": asked})
    assert service_verdict(passed) == ("valid", [])


@pytest.mark.parametrize("member", ["credential", "envelope"])
def test_credential_as_a_json_string_is_not_a_map(
    http: httpx.Client, token: str, member: str
) -> None:
    """VC Data Integrity: "the secured document is not a map" is an error. A credential sent
    as a JSON string holding its JSON is refused (it verified true before), a token string
    is a token."""
    document = example("VerifiableCredential") if member == "credential" else None
    document = document or envelope_credential(token)
    response = http.post(CREDENTIALS, json={"verifiableCredential": json.dumps(document)})
    assert response.status_code == 200
    assert service_verdict(response) == ("invalid", ["document_not_a_map"])
    for value in ([document], 42, None):
        refused = http.post(CREDENTIALS, json={"verifiableCredential": value})
        assert service_verdict(refused) == ("invalid", ["document_not_a_map"])
    as_token = http.post(CREDENTIALS, json={"verifiableCredential": token})
    assert service_verdict(as_token) == ("valid", [])


def test_presentation_as_a_json_string_is_not_a_map(http: httpx.Client, token: str) -> None:
    envelope = enveloped_presentation(token, challenge="c", domain="d")
    response = http.post(
        PRESENTATIONS,
        json={
            "verifiablePresentation": json.dumps(envelope),
            "options": {"challenge": "c", "domain": "d"},
        },
    )
    assert service_verdict(response) == ("invalid", ["document_not_a_map"])
    proofless = http.post(
        PRESENTATIONS,
        json={"presentation": {"@context": [VCDM2], "type": ["VerifiablePresentation"],
                               "verifiableCredential": [json.dumps(envelope_credential(token))]}},
    )  # fmt: skip
    assert service_verdict(proofless) == ("invalid", ["invalid_presentation"])
    assert "document_not_a_map" in proofless.json()["problemDetails"][-1]["detail"]


def test_enveloped_vcdm11_jwt_presentation(http: httpx.Client) -> None:
    """`data:application/jwt,…`: a VCDM 1.1 JWT presentation (`vp` claim), as didkit and
    did-jwt-vc make them, read like the 1.1 JWT credentials it carries."""
    issuer, holder_key = Issuer.new(), PrivateKey.generate("ed25519")
    holder = did_jwk_from_public_key(holder_key.public_key)
    vc = forge(
        {"alg": "EdDSA", "typ": "JWT", "kid": issuer.kid},
        {
            "iss": issuer.did,
            "nbf": int(NOW.timestamp()) - 3600,
            "vc": {
                "@context": ["https://www.w3.org/2018/credentials/v1"],
                "type": ["VerifiableCredential"],
                "credentialSubject": {"id": holder},
            },
        },
        issuer.key,
    )
    vp = forge(
        {"alg": "EdDSA", "typ": "JWT", "kid": f"{holder}#0"},
        {
            "iss": holder,
            "aud": "https://verifier.example",
            "nonce": "c-1",
            "vp": {
                "@context": ["https://www.w3.org/2018/credentials/v1"],
                "type": ["VerifiablePresentation"],
                "verifiableCredential": [vc],
            },
        },
        holder_key,
    )
    envelope = {
        "@context": [VCDM2],
        "id": f"data:application/jwt,{vp}",
        "type": "EnvelopedVerifiablePresentation",
    }
    options = {"challenge": "c-1", "domain": "https://verifier.example"}
    response = http.post(
        PRESENTATIONS, json={"verifiablePresentation": envelope, "options": options}
    )
    assert service_verdict(response) == ("valid", [])


# --- Failure status: VCALM's 200 by default, 400 on request -----------------------------------


@pytest.fixture(scope="module")
def strict_status_service() -> Iterator[str]:
    settings = VerifierSettings(clock=FixedClock(NOW), no_trust_check=True, failure_status=400)
    with serve(create_app(settings)) as base:
        yield base


@pytest.mark.parametrize(
    ("kind", "verified"),
    [
        ("valid credential", True),
        ("forged credential", False),
        ("spec credential example", False),
        ("valid presentation", True),
        ("presentation, wrong challenge", False),
    ],
)
def test_failure_status_400_answers_a_failed_verification_400_with_the_same_body(
    http: httpx.Client,
    strict_status_service: str,
    token: str,
    forged_token: str,
    kind: str,
    verified: bool,
) -> None:
    """With `failure_status=400` (`--failure-status 400`), a verification that ran and did
    not succeed answers 400; the body is the VerificationResult the default mode gives."""
    path, body = request(kind, token, forged_token)
    default = http.post(path, json=body)
    with httpx.Client(base_url=strict_status_service, trust_env=False) as strict:
        answered = strict.post(path, json=body)
    assert default.status_code == 200
    assert answered.status_code == (200 if verified else 400)
    assert answered.headers["content-type"] == "application/json"
    assert answered.headers["Ancre-Status"] == default.headers["Ancre-Status"]
    assert answered.json() == default.json()
    assert answered.json()["verified"] is verified


def test_failure_status_400_keeps_request_errors_apart(strict_status_service: str) -> None:
    """A request the service could not process is still a problem body with a `code`."""
    with httpx.Client(base_url=strict_status_service, trust_env=False) as strict:
        response = strict.post(CREDENTIALS, json={"verifiableCredential": "x", "options": []})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"
    assert "verified" not in response.json()


@pytest.mark.parametrize("status", [201, 422, 500])
def test_failure_status_is_200_or_400(status: int) -> None:
    from ancre.trust.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="failure_status"):
        create_app(VerifierSettings(no_trust_check=True, failure_status=status))
