"""Issue 12, point 16: `verifier serve` with no trust configured answered `verified: true`
for any self-signed did:key credential, with only a "skipped" warning. A verifier service
now refuses to start without a trust source unless told `no_trust_check` /
`--no-trust-check`, and then says so at start-up and on every response."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import httpx
import pytest
from _asgi_server import serve
from _support import NOW, Issuer, credential, service_verdict

from ancre.trust.clock import FixedClock
from ancre.trust.errors import ConfigurationError
from ancre.trust.jose.vc_jose import envelope_credential, issue_vc_jwt
from ancre.trust.policy import VerificationPolicy
from ancre.verifier.service import VerifierSettings, create_app


def self_signed() -> dict[str, str]:
    """What anyone can make: a did:key issuer vouching for itself."""
    nobody = Issuer.new()
    token = issue_vc_jwt(credential(nobody.did), nobody.key, nobody.kid)
    return envelope_credential(token)


def test_service_without_trust_source_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="no trust source"):
        create_app(VerifierSettings(clock=FixedClock(NOW)))
    with pytest.raises(ConfigurationError, match="no trust source"):
        create_app()  # the defaults too


def test_no_trust_check_contradicting_a_trust_source_is_refused() -> None:
    policy = VerificationPolicy(trusted_issuers=frozenset({"did:web:issuer.example"}))
    with pytest.raises(ConfigurationError, match="contradicts"):
        create_app(VerifierSettings(policy=policy, no_trust_check=True))


def test_cli_serve_without_trust_exits_64() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ancre.cli.main", "verifier", "serve", "--port", "1"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**os.environ, "ANCRE_VERIFIER_API_TOKEN": ""},
    )
    assert done.returncode == 64
    assert "no trust source" in done.stderr
    assert "--no-trust-check" in done.stderr
    assert "Traceback" not in done.stderr


def test_explicit_no_trust_check_is_loud_and_marks_every_response(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="ancre.verifier"):
        app = create_app(VerifierSettings(clock=FixedClock(NOW), no_trust_check=True))
    assert any("TRUST NOT CHECKED" in r.getMessage() for r in caplog.records)
    with serve(app) as base, httpx.Client(base_url=base, trust_env=False) as http:
        answer = http.post("/credentials/verify", json={"verifiableCredential": self_signed()})
        # Valid, as asked for: a signature check only, and the response says so twice.
        assert service_verdict(answer) == ("valid", [])
        assert answer.headers["Ancre-Trust"] == "not-checked"
        assert {"step": "trust", "type": "urn:ancre:warning:skipped"}.items() <= answer.json()[
            "problemDetails"
        ][0].items()
        for other in (http.get("/health"), http.get("/metrics"), http.post("/credentials/verify")):
            assert other.headers["Ancre-Trust"] == "not-checked"


def test_with_a_trust_source_a_self_signed_issuer_is_not_trusted() -> None:
    policy = VerificationPolicy(trusted_issuers=frozenset({"did:web:issuer.example"}))
    app = create_app(VerifierSettings(clock=FixedClock(NOW), policy=policy))
    with serve(app) as base, httpx.Client(base_url=base, trust_env=False) as http:
        answer = http.post("/credentials/verify", json={"verifiableCredential": self_signed()})
        assert service_verdict(answer) == ("invalid", ["issuer_not_trusted"])
        assert "Ancre-Trust" not in answer.headers
