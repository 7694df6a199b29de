"""Issue 17: the verifier's peers — the issuer's did:web host, the status-list host and the
registry serving the trust list — down (connection refused) or slow (a loopback server that
holds the request past the deadline). The verifier service answers `indeterminate` with a
stable code, within its network deadline: never `valid`, never a hang.

The elapsed-time bound is functional (the deadline is honoured), not a performance target:
`DEADLINE` + a generous `MARGIN` for a loaded 2-core machine, far below a hang's length
(the held server would wait for the test to end).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from _asgi_server import serve
from _http_server import LoopbackServer, Route, free_port, running_server
from _support import NOW, Issuer, credential, service_verdict

from ancre.trust.clock import FixedClock
from ancre.trust.jose.vc_jose import envelope_credential, issue_vc_jwt
from ancre.trust.keys.jwk import PrivateKey
from ancre.trust.net.guard import NetworkPolicy
from ancre.verifier.service import VerifierSettings, create_app

#: The verifier's network deadline (`NetworkPolicy.timeout`, a total per fetch).
DEADLINE = 1.0
MARGIN = 4.0
LOOPBACK = NetworkPolicy(allow_loopback=True, allow_http=True, timeout=DEADLINE)


@pytest.fixture
def slow() -> Iterator[LoopbackServer]:
    """A loopback server whose every path is held (no answer) until the test ends."""
    with running_server() as server:
        held = threading.Event()
        for path in ("/.well-known/did.json", "/status/1", "/trust-list"):
            server.routes[path] = Route(hold=held)
        try:
            yield server
        finally:
            held.set()


def _verify(settings: VerifierSettings, token: str) -> tuple[tuple[str, list[str]], float]:
    with (
        serve(create_app(settings)) as base,
        httpx.Client(base_url=base, trust_env=False, timeout=DEADLINE + MARGIN + 30) as http,
    ):
        started = time.monotonic()
        response = http.post(
            "/credentials/verify", json={"verifiableCredential": envelope_credential(token)}
        )
        elapsed = time.monotonic() - started
        return service_verdict(response), elapsed


def _did_web_token(authority: str) -> str:
    did = f"did:web:{authority.replace(':', '%3A')}"
    key = PrivateKey.generate("ed25519")
    return issue_vc_jwt(credential(did), key, f"{did}#key-1")


def _status_token(base: str) -> str:
    issuer = Issuer.new()
    url = f"{base}/status/1"
    entry = {
        "id": f"{url}#42",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": "42",
        "statusListCredential": url,
    }
    return issue_vc_jwt(credential(issuer.did, credentialStatus=entry), issuer.key, issuer.kid)


def _no_trust(**kw: Any) -> VerifierSettings:
    return VerifierSettings(clock=FixedClock(NOW), network=LOOPBACK, no_trust_check=True, **kw)


def _trust_from(base: str) -> VerifierSettings:
    return VerifierSettings(
        clock=FixedClock(NOW),
        network=LOOPBACK,
        trust_list_url=f"{base}/trust-list",
        registry_did="did:web:registry.example",
    )


def _down() -> str:
    return f"http://127.0.0.1:{free_port()}"


def _assert_indeterminate_in_time(
    outcome: tuple[tuple[str, list[str]], float], codes: set[str]
) -> None:
    (status, found), elapsed = outcome
    assert status == "indeterminate", found
    assert found, "an indeterminate verdict names its code"
    assert found[0] in codes, found
    assert elapsed < DEADLINE + MARGIN, f"answered after {elapsed:.1f} s"


def test_did_web_host_down_is_indeterminate_in_time() -> None:
    token = _did_web_token(_down().removeprefix("http://"))
    _assert_indeterminate_in_time(_verify(_no_trust(), token), {"network_error"})


def test_did_web_host_slow_is_indeterminate_in_time(slow: LoopbackServer) -> None:
    token = _did_web_token(slow.authority)
    _assert_indeterminate_in_time(_verify(_no_trust(), token), {"network_timeout"})
    assert slow.hits["/.well-known/did.json"] >= 1  # it did ask, and was held


def test_status_list_host_down_is_indeterminate_in_time() -> None:
    token = _status_token(_down())
    _assert_indeterminate_in_time(_verify(_no_trust(), token), {"status_unavailable"})


def test_status_list_host_slow_is_indeterminate_in_time(slow: LoopbackServer) -> None:
    token = _status_token(slow.base)
    _assert_indeterminate_in_time(_verify(_no_trust(), token), {"status_unavailable"})
    assert slow.hits["/status/1"] >= 1


def test_trust_list_registry_down_is_indeterminate_in_time() -> None:
    issuer = Issuer.new()
    token = issue_vc_jwt(credential(issuer.did), issuer.key, issuer.kid)
    _assert_indeterminate_in_time(_verify(_trust_from(_down()), token), {"trust_list_unavailable"})


def test_trust_list_registry_slow_is_indeterminate_in_time(slow: LoopbackServer) -> None:
    issuer = Issuer.new()
    token = issue_vc_jwt(credential(issuer.did), issuer.key, issuer.kid)
    outcome = _verify(_trust_from(slow.base), token)
    _assert_indeterminate_in_time(outcome, {"trust_list_unavailable"})
    assert slow.hits["/trust-list"] >= 1


def test_the_deadline_is_what_bounds_the_wait(slow: LoopbackServer) -> None:
    # The same held status list with a deadline three times longer takes longer: the bound
    # above is the deadline's doing, not a fast failure of some other kind.
    token = _status_token(slow.base)
    longer = dataclasses.replace(LOOPBACK, timeout=3 * DEADLINE)
    settings = VerifierSettings(clock=FixedClock(NOW), network=longer, no_trust_check=True)
    (verdict, _), elapsed = _verify(settings, token)
    assert verdict == "indeterminate"
    assert 3 * DEADLINE - 0.2 <= elapsed < 3 * DEADLINE + MARGIN
