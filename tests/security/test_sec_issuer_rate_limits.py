"""Per-client rate limits (issue 17, abuse limits) on the issuer's login, token (so
`tx_code` guesses), nonce and credential endpoints and on the verifier's verification
endpoints: past the bucket, 429 problem `rate_limited` with `Retry-After`; each kind of
endpoint has its own bucket and each client address its own (a second loopback address,
127.0.0.2, is a second client)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from _asgi_server import serve
from _sec_issuer import served_issuer
from _support import NOW

from ancre.storage.abuse import RateLimit, RateLimiter
from ancre.trust.clock import FixedClock
from ancre.trust.errors import ConfigurationError
from ancre.verifier.service import VerifierSettings
from ancre.verifier.service import create_app as verifier_app

PRE_AUTHORIZED = "urn:ietf:params:oauth:grant-type:pre-authorized_code"


def _client(address: str = "127.0.0.1") -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(trust_env=False, timeout=10, transport=transport)


def _limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text[:200]
    assert response.headers["content-type"] in ("application/problem+json", "application/json")
    assert response.json()["code"] == "rate_limited"
    assert int(response.headers["retry-after"]) >= 1


def test_issuer_token_login_and_credential_buckets(tmp_path: Path) -> None:
    with served_issuer(tmp_path / "issuer", rate_limit=RateLimit(burst=3, per_minute=1)) as s:
        with _client() as http:
            guess = {"grant_type": PRE_AUTHORIZED, "pre-authorized_code": "x", "tx_code": "0"}
            for _ in range(3):
                assert http.post(f"{s.url}/token", data=guess).json()["error"] == "invalid_grant"
            _limited(http.post(f"{s.url}/token", data=guess))
            # Other kinds of endpoint keep their own bucket.
            for _ in range(3):
                assert http.post(f"{s.url}/nonce").status_code == 200
            _limited(http.post(f"{s.url}/nonce"))
            _limited(http.post(f"{s.url}/credential", json={}))
            for _ in range(3):
                assert http.get(f"{s.url}/login").status_code == 200
            _limited(http.get(f"{s.url}/login"))
            _limited(http.post(f"{s.url}/login/start", data={}))
            _limited(http.get(f"{s.url}/authorize"))
            # Documents are not limited.
            assert http.get(f"{s.url}/.well-known/openid-credential-issuer").status_code == 200
        # Another client address has its own buckets.
        with _client("127.0.0.2") as other:
            assert other.post(f"{s.url}/token", data=guess).json()["error"] == "invalid_grant"


def test_without_a_rate_limit_the_library_app_does_not_limit(tmp_path: Path) -> None:
    with served_issuer(tmp_path / "issuer") as s, _client() as http:
        for _ in range(40):
            assert http.post(f"{s.url}/nonce").status_code == 200


def test_verifier_verification_endpoints_are_limited_per_client() -> None:
    settings = VerifierSettings(
        clock=FixedClock(NOW), no_trust_check=True, rate_limit=RateLimit(burst=2, per_minute=1)
    )
    with serve(verifier_app(settings)) as url, _client() as http:
        for _ in range(2):
            answer = http.post(f"{url}/credentials/verify", json={"verifiableCredential": {}})
            assert answer.status_code in (200, 400), answer.text[:200]
        _limited(http.post(f"{url}/presentations/verify", json={}))
        _limited(http.post(f"{url}/credentials/verify", json={}))
        assert http.get(f"{url}/health").status_code == 200
        with _client("127.0.0.2") as other:
            answer = other.post(f"{url}/credentials/verify", json={"verifiableCredential": {}})
            assert answer.status_code != 429


def test_the_bucket_refills_and_is_bounded() -> None:
    limiter = RateLimiter(burst=2, per_minute=60, max_clients=2)
    assert limiter.take("a", 0.0) is None
    assert limiter.take("a", 0.0) is None
    assert limiter.take("a", 0.0) == 1
    assert limiter.take("a", 1.0) is None  # one token a second
    for client in ("b", "c", "d"):
        limiter.take(client, 1.0)
    assert len(limiter._buckets) == 2


@pytest.mark.parametrize("bad", [{"burst": 0}, {"per_minute": 0}, {"burst": True}])
def test_a_nonsensical_rate_limit_is_refused(bad: dict[str, int]) -> None:
    with pytest.raises(ConfigurationError):
        RateLimit(**bad)
