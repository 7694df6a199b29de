"""Issue 12, point 9: a failing registry must not be fetched on every request.

Attack: the registry's list has a short `max-age`, then the registry fails. Before the fix
each verification started its own refresh: 3,000 requests made 3,000 fetches and cut the
verifier's throughput by five. Now one refresh runs at a time (single flight), a failed
one is retried with exponential backoff and jitter, and the cached list answers meanwhile.
The server counts the fetches it received."""

from __future__ import annotations

import threading
from datetime import timedelta

import httpx
from _asgi_server import serve
from _http_server import Route, loopback_client, running_server
from _sec_trustclient_support import LOOPBACK, listed_token, post, signed_list
from _support import NOW, Issuer

from ancre.trust.clock import FixedClock
from ancre.trust.did.resolvers import default_resolver
from ancre.trust.trust_list.client import TrustListClient
from ancre.verifier.service import VerifierSettings, create_app

REGISTRY = Issuer.new("p256")
ISSUER = Issuer.new()
REQUESTS = 300


def test_300_requests_against_a_failing_registry_make_a_handful_of_fetches() -> None:
    clock = FixedClock(NOW)
    token = listed_token(ISSUER)
    with running_server() as registry:
        registry.routes["/trust-list"] = Route(
            body=signed_list(REGISTRY, [ISSUER.did], 2), headers={"Cache-Control": "max-age=1"}
        )
        settings = VerifierSettings(
            clock=clock,
            network=LOOPBACK,
            trust_list_url=f"{registry.base}/trust-list",
            registry_did=REGISTRY.did,
        )
        with serve(create_app(settings)) as base, httpx.Client(base_url=base) as http:
            assert post(base, token) == ("valid", [])
            registry.routes["/trust-list"] = Route(status=503, body=b"overloaded")
            verdicts: set[tuple[str, tuple[str, ...]]] = set()
            for _ in range(REQUESTS):
                # 100 ms between requests: 30 s in all, max-age=1 is long over after the
                # first ten — before the fix, every later request fetched.
                clock.advance(timedelta(milliseconds=100))
                status, codes = post(base, token)
                verdicts.add((status, tuple(codes)))
            fetches = registry.hits["/trust-list"] - 1
            failures = http.get("/ready").json()["refresh"]["failures"]
    assert verdicts == {("valid", ())}, "the cached list answered throughout"
    # Backoff 1 s doubling (each delay jittered to 50-100 %): at most attempts at about
    # 1, 2, 4, 8, 16 s after the first failure within these 30 s.
    assert 1 <= fetches <= 7, fetches
    assert failures == fetches


def test_one_refresh_in_flight_and_the_others_are_served_from_cache() -> None:
    """While one caller's refresh hangs on a slow registry, other callers neither wait for it
    nor start their own: they get the cached list at once."""
    clock = FixedClock(NOW)
    release = threading.Event()
    with running_server() as registry, loopback_client() as (http, _):
        registry.routes["/trust-list"] = Route(body=signed_list(REGISTRY, [ISSUER.did], 2))
        client = TrustListClient(
            f"{registry.base}/trust-list",
            registry=REGISTRY.did,
            resolver=default_resolver(),
            clock=clock,
            http_client=http,
            network=LOOPBACK,
        )
        assert client.current().sequence == 2
        registry.routes["/trust-list"] = Route(
            body=signed_list(REGISTRY, [ISSUER.did], 3), hold=release
        )
        clock.advance(timedelta(minutes=10))  # past the default 5 minutes' freshness
        outcome: list[int] = []
        refresher = threading.Thread(target=lambda: outcome.append(client.current().sequence))
        refresher.start()
        served: list[int] = []
        try:
            registry.wait_for_hits("/trust-list", 2)  # the refresh is now in flight
            caller = threading.Thread(
                target=lambda: served.extend(client.current().sequence for _ in range(REQUESTS)),
                daemon=True,
            )
            caller.start()
            caller.join(10)  # generous: the cached answers take milliseconds
            assert not caller.is_alive(), "the other callers waited for the held refresh"
            assert refresher.is_alive(), "the refresh was still held while the others ran"
        finally:
            release.set()
            refresher.join(10)
        assert served == [2] * REQUESTS
        assert registry.hits["/trust-list"] == 2, "no second refresh while one was in flight"
        assert outcome == [3]
        assert client.current().sequence == 3


def test_no_list_and_a_failing_registry_backs_off_too() -> None:
    """With nothing cached the verdict is the refresh's failure, repeated without asking the
    registry again until the backoff has passed."""
    clock = FixedClock(NOW)
    with running_server() as registry, loopback_client() as (http, _):
        registry.routes["/trust-list"] = Route(status=500, body=b"error")
        client = TrustListClient(
            f"{registry.base}/trust-list",
            registry=REGISTRY.did,
            resolver=default_resolver(),
            clock=clock,
            http_client=http,
            network=LOOPBACK,
        )
        codes = set()
        for _ in range(REQUESTS):
            try:
                client.current()
            except Exception as error:
                codes.add((type(error).__name__, str(getattr(error, "code", ""))))
        assert codes == {("IndeterminateError", "trust_list_unavailable")}
        assert registry.hits["/trust-list"] == 1
        status = client.refresh_status()
        assert (status.failures, status.consecutive_failures) == (1, 1)
        assert status.next_attempt_at is not None
        assert NOW + timedelta(seconds=0.5) <= status.next_attempt_at <= NOW + timedelta(seconds=1)
        clock.advance(timedelta(seconds=1))
        registry.routes["/trust-list"] = Route(body=signed_list(REGISTRY, [ISSUER.did], 2))
        assert client.current().sequence == 2
        assert registry.hits["/trust-list"] == 2
