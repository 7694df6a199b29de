"""schemathesis drives the registry, issuer and verifier apps from their own OpenAPI
documents (issue 17, API fuzzing), in process over ASGI: whatever it sends, with or
without a valid token,

- the server never answers 5xx;
- a response whose status and media type the document describes matches its schema;
- an error is an RFC 9457 problem (`application/problem+json`, `type`
  `urn:ancre:error:<code>`, the status repeated in the body), except where the protocol
  fixes another shape: OAuth 2.0 / OpenID4VCI / OpenID4VP endpoints answer RFC 6749
  `{"error", "error_description"}` JSON, and the VC-API verify endpoints problem details
  as `application/json` (the VC-API requires it; tests/test_problem_details.py).

Time-boxed by `max_examples` per operation (profile `ci`; FUZZ_PROFILE=long for more).
This replaces tests/test_registry_fuzz.py (no 5xx from the registry only), which it extends.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import schemathesis
from _issuer_support import make_issuer
from _support import Issuer
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from ancre.issuer.api import IssuerSettings
from ancre.issuer.api import create_app as issuer_app
from ancre.issuer.vc_api import VcApiSettings
from ancre.registry.api import create_app as registry_app
from ancre.registry.db import make_engine, migrate
from ancre.registry.service import Registry, Role
from ancre.trust.clock import FixedClock
from ancre.trust.did.jwk import did_jwk_from_public_key
from ancre.trust.errors import Code
from ancre.trust.keys.jwk import PrivateKey
from ancre.verifier.openid4vp import OpenID4VPSettings
from ancre.verifier.service import VerifierSettings
from ancre.verifier.service import create_app as verifier_app

NOW = datetime(2026, 3, 1, tzinfo=UTC)
EXAMPLES = 300 if os.environ.get("FUZZ_PROFILE") == "long" else 10
CODES = frozenset(code.value for code in Code)

#: Paths whose protocol fixes an OAuth 2.0 error body (RFC 6749 §5.2, OpenID4VCI §7.3.1,
#: §8.3.1, OpenID4VP §8.5) instead of a problem document; the issuer answers its
#: credential offers by reference (OpenID4VCI §4.1.3) in the same shape.
OAUTH_PATHS = (
    "/token",
    "/credential",
    "/nonce",
    "/deferred_credential",
    "/notification",
    "/authorize",
    "/par",
    "/offers/",
    "/openid4vp/request-objects/",
    "/openid4vp/responses/",
)
#: The Gaia-X Registry's trust-anchor chain check answers its own `{"result": false,
#: "resultCode", "resultMessage"}` body, as the Gaia-X clients expect.
GAIA_X_CHAIN = "/api/trustAnchor/chain"
#: VC-API endpoints whose error bodies are problem documents sent as application/json.
VC_API_JSON_PATHS = ("/credentials/verify", "/presentations/verify")


def check_error_shape(path: str, response: Any) -> None:
    if response.status_code < 400:
        return
    value = response.headers.get("content-type") or [""]
    media = (value if isinstance(value, str) else value[0]).split(";")[0].strip()
    body = json.loads(response.content) if response.content else None
    where = f"{response.status_code} {path}: {response.text[:300]}"
    if media == "application/problem+json" or (
        media == "application/json" and path.endswith(VC_API_JSON_PATHS)
    ):
        assert isinstance(body, dict), where
        assert body.get("status") == response.status_code, where
        assert body.get("code") in CODES, where
        assert body.get("type") == f"urn:ancre:error:{body['code']}", where
        assert isinstance(body.get("title"), str), where
        assert isinstance(body.get("detail"), str), where
        return
    assert media == "application/json", f"error media type {media!r}: {where}"
    assert isinstance(body, dict), where
    if path == GAIA_X_CHAIN:
        assert body.get("result") is False, where
        assert isinstance(body.get("resultMessage"), str), where
        return
    assert any(part in path for part in OAUTH_PATHS), f"an OAuth error body off OAuth: {where}"
    assert isinstance(body.get("error"), str), where


def fuzz_app(app: Any, headers_variants: list[dict[str, str]], minimum: int) -> dict[str, int]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= minimum, [op.label for op in operations]
    seen: dict[str, int] = {}
    failures: list[str] = []

    def exercise(operation: Any) -> None:
        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            for headers in headers_variants:
                response = case.call(headers=headers)
                seen[operation.label] = seen.get(operation.label, 0) + 1
                case.validate_response(
                    response,
                    checks=[not_a_server_error, response_schema_conformance],
                    headers=headers,
                )
                check_error_shape(case.formatted_path, response)

        try:
            run()
        except Exception as error:  # collect every operation's failure, then report them all
            failures.append(f"{operation.label}: {str(error)[:1500]}")

    for operation in operations:
        exercise(operation)
    assert not failures, "\n\n".join(failures)
    assert set(seen) == {op.label for op in operations}  # every operation was exercised
    return seen


def _registry(tmp_path: Path) -> tuple[Any, str, Callable[[], None]]:
    clock = FixedClock(NOW)
    key = Issuer.new("ed25519")
    engine = make_engine(f"sqlite:///{tmp_path / 'fuzz.db'}")
    migrate(engine)
    registry = Registry(engine, clock=clock)
    registry.configure(
        registry_did=key.did, kid=key.kid, operator_name="o", scheme_name="s", two_person_rule=False
    )
    registry.add_anchor("setup", anchor_id="did:web:anchor.example", name="Anchor")
    registry.add_issuer(
        "setup",
        did="did:web:issuer.example",
        legal_name="I",
        accredited_by="did:web:anchor.example",
        credential_types={"gx:LegalPerson": []},
    )
    registry.publish(key.key)
    token = registry.create_token("setup", "fuzzer", Role.APPROVER)
    return create_app(registry, key), token, engine.dispose


def create_app(registry: Registry, key: Issuer) -> Any:
    return registry_app(registry, signer=key.key)


def test_registry_api(tmp_path: Path) -> None:
    app, token, close = _registry(tmp_path)
    try:
        fuzz_app(app, [{"Authorization": f"Bearer {token}"}, {}], minimum=12)
    finally:
        close()


def test_issuer_api(tmp_path: Path) -> None:
    # The port only names the issuer's did:web; nothing here dials it.
    issuer = make_issuer(tmp_path / "issuer", 8443, clock=FixedClock(NOW))
    app = issuer_app(IssuerSettings(issuer, vc_api=VcApiSettings()))
    fuzz_app(app, [{}], minimum=15)


def test_verifier_api() -> None:
    key = PrivateKey.generate("p256")
    did = did_jwk_from_public_key(key.public_key)
    openid4vp = OpenID4VPSettings(
        key=key, did=did, kid=f"{did}#0", base_url="https://verifier.example", api_token="t" * 32
    )
    app = verifier_app(
        VerifierSettings(clock=FixedClock(NOW), openid4vp=openid4vp, no_trust_check=True)
    )
    fuzz_app(app, [{"Authorization": f"Bearer {'t' * 32}"}, {}], minimum=10)
