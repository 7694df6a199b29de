"""Issue 12, point 19: OpenID4VP without `ANCRE_VERIFIER_API_TOKEN` (the default) let
anyone create transactions until every caller got 503 `too_many_transactions`. The caller
endpoints now need the token unless an open backend is asked for explicitly, and creation
is rate-limited per client address (429 `rate_limited` with Retry-After)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from _asgi_server import serve
from _support import NOW
from test_openid4vp import SD_QUERY, TOKEN, _settings, dcql

from ancre.trust.clock import FixedClock
from ancre.trust.errors import ConfigurationError
from ancre.verifier.service import VerifierSettings, create_app


def test_settings_without_token_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="api_token"):
        _settings(api_token=None)
    with pytest.raises(ConfigurationError, match="contradicts"):
        _settings(open_backend=True)  # a token and an open backend


def test_cli_without_token_exits_64(tmp_path: Path) -> None:
    key = tmp_path / "verifier.jwk"
    env = {**os.environ, "ANCRE_VERIFIER_API_TOKEN": ""}
    cli = [sys.executable, "-m", "ancre.cli.main"]
    generated = subprocess.run(
        [*cli, "keys", "generate", "--type", "p256", "--out", str(key)],
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert generated.returncode == 0
    args = ["--no-trust-check", "--openid4vp-key", str(key), "--public-url", "https://v.example"]
    done = subprocess.run(
        [*cli, "verifier", "serve", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=env,
    )
    assert done.returncode == 64
    assert "ANCRE_VERIFIER_API_TOKEN" in done.stderr
    assert "--openid4vp-open-backend" in done.stderr
    assert "Traceback" not in done.stderr


def test_creation_without_token_is_401() -> None:
    app = create_app(
        VerifierSettings(clock=FixedClock(NOW), openid4vp=_settings(), no_trust_check=True)
    )
    with serve(app) as base, httpx.Client(base_url=base, trust_env=False) as anonymous:
        response = anonymous.post("/openid4vp/requests", json={"dcql_query": dcql(SD_QUERY)})
        assert response.status_code == 401
        assert response.json()["code"] == "unauthorized"


@pytest.mark.parametrize("open_backend", [False, True])
def test_one_client_cannot_fill_the_store(open_backend: bool) -> None:
    """A flood from one address is cut at the burst with 429, long before the store is full;
    another address still creates transactions."""
    overrides = {"api_token": None, "open_backend": True} if open_backend else {}
    settings = _settings(create_burst=3, create_per_minute=60, max_transactions=10, **overrides)
    app = create_app(
        VerifierSettings(clock=FixedClock(NOW), openid4vp=settings, no_trust_check=True)
    )
    headers = {} if open_backend else {"Authorization": f"Bearer {TOKEN}"}
    body = {"dcql_query": dcql(SD_QUERY), "response_mode": "direct_post"}
    with (
        serve(app) as base,
        httpx.Client(base_url=base, trust_env=False, headers=headers) as flooder,
        httpx.Client(
            base_url=base,
            trust_env=False,
            headers=headers,
            # Another client: the same loopback server, from another source address.
            transport=httpx.HTTPTransport(local_address="127.0.0.2"),
        ) as other,
    ):
        answers = [flooder.post("/openid4vp/requests", json=body) for _ in range(20)]
        assert [a.status_code for a in answers] == [201] * 3 + [429] * 17
        limited = answers[-1]
        assert limited.json()["code"] == "rate_limited"
        assert limited.headers["Retry-After"] == "1"
        assert other.post("/openid4vp/requests", json=body).status_code == 201
