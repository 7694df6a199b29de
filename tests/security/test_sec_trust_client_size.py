"""Issue 12, point 11: the trust list has its own size limit, large enough for a real data
space, and is read within a memory budget.

Attack (availability): `ancre verifier serve` fetched the list under the network policy's
256 KiB limit, sized for DID documents, so a list of about 300 issuers could never be
loaded and the service never became ready. The list now has its own limit
(`--trust-list-max-bytes`, 32 MiB by default: the registry's bench publishes about 14 MB
for 10,000 issuers); a list over the limit is still refused, while it streams in."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
from pathlib import Path

import httpx
import pytest
from _asgi_server import serve
from _http_server import Route, loopback_client, running_server
from _sec_trustclient_support import LOOPBACK, listed_token, post, signed_list
from _support import NOW, Issuer

from ancre.trust.clock import FixedClock
from ancre.trust.did.resolvers import default_resolver
from ancre.trust.errors import Code, IndeterminateError
from ancre.trust.trust_list.client import TrustListClient
from ancre.trust.trust_list.signed import MAX_TRUST_LIST_BYTES
from ancre.verifier.service import VerifierSettings, create_app

REGISTRY = Issuer.new("p256")
ISSUER = Issuer.new()


def test_the_service_loads_a_list_far_over_the_network_limit() -> None:
    body = signed_list(REGISTRY, [ISSUER.did], 4, filler=1000)
    assert len(body) > 2 * LOOPBACK.max_bytes  # ~740 KiB against 256 KiB
    with running_server() as registry:
        registry.routes["/trust-list"] = Route(body=body)
        settings = VerifierSettings(
            clock=FixedClock(NOW),
            network=LOOPBACK,
            trust_list_url=f"{registry.base}/trust-list",
            registry_did=REGISTRY.did,
        )
        with serve(create_app(settings)) as base:
            ready = httpx.get(f"{base}/ready")
            assert ready.status_code == 200, ready.text
            assert ready.json()["trust_list"] == 4
            assert post(base, listed_token(ISSUER)) == ("valid", [])


def test_a_list_over_its_own_limit_is_refused_while_it_streams() -> None:
    body = signed_list(REGISTRY, [ISSUER.did], 4, filler=1000)
    with running_server() as registry, loopback_client() as (http, _):
        # No Content-Length: the limit must hold while reading, not only on the header.
        registry.routes["/trust-list"] = Route(body=body, no_length=True)
        client = TrustListClient(
            f"{registry.base}/trust-list",
            registry=REGISTRY.did,
            resolver=default_resolver(),
            clock=FixedClock(NOW),
            http_client=http,
            network=LOOPBACK,
            max_bytes=len(body) - 1,
        )
        with pytest.raises(IndeterminateError) as error:
            client.current()
        assert error.value.code is Code.TRUST_LIST_UNAVAILABLE
        assert "response_too_large" in error.value.message
        settings = VerifierSettings(
            clock=FixedClock(NOW),
            network=LOOPBACK,
            trust_list_url=f"{registry.base}/trust-list",
            registry_did=REGISTRY.did,
            trust_list_max_bytes=len(body) - 1,
        )
        with serve(create_app(settings)) as base:
            assert httpx.get(f"{base}/ready").status_code == 503
            assert post(base, listed_token(ISSUER)) == ("indeterminate", ["trust_list_unavailable"])


@pytest.mark.slow
def test_ten_thousand_issuers_load_by_default_within_a_memory_budget() -> None:
    body = signed_list(REGISTRY, [ISSUER.did], 5, filler=10_000)
    assert 4 * 1024 * 1024 < len(body) < MAX_TRUST_LIST_BYTES
    with running_server() as registry, loopback_client() as (http, _):
        registry.routes["/trust-list"] = Route(body=body)
        client = TrustListClient(
            f"{registry.base}/trust-list",
            registry=REGISTRY.did,
            resolver=default_resolver(),
            clock=FixedClock(NOW),
            http_client=http,
            network=LOOPBACK,
        )
        tracemalloc.start()
        try:
            listed = client.current()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert listed.is_trusted(ISSUER.did, "ExampleMembership", NOW)
    assert len(listed.document.entities) == 10_001
    # The budget: the parsed list and its index, about 15 times the signed bytes; a leak of
    # copies (the body kept twice, a base64 and a JSON text per stage) would show here.
    assert peak < 24 * len(body), (peak, len(body))


def test_the_cli_takes_the_limit_as_an_option(tmp_path: Path) -> None:
    body = signed_list(REGISTRY, [ISSUER.did], 4, filler=1000)
    saved = tmp_path / "list.jwt"
    saved.write_bytes(body)
    token = tmp_path / "vc.jwt"
    token.write_text(listed_token(ISSUER))

    def verify(*extra: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "ancre.cli.main", "verify", str(token), "--json"]
        argv += ["--trust-list", str(saved), "--registry-key", REGISTRY.did, *extra]
        argv += ["--at", "2026-01-15T12:00:00Z"]
        return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)

    assert verify().returncode == 0
    small = verify("--trust-list-max-bytes", "262144")
    assert small.returncode == 1, small.stdout + small.stderr
    assert '"trust_list_invalid"' in small.stdout
    assert verify("--trust-list-max-bytes", "0").returncode == 64
