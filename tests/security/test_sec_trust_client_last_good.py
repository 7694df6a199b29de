"""Issue 12, point 8: one bad answer from the registry must not discard a good cached list.

Attack: while a verifier holds a valid list #2, the registry (or whoever sits in its place)
answers the next refresh with garbage, a list signed by another key, or the older list #1.
Before the fix every verdict became `invalid trust_list_invalid` and `/ready` answered 503.
Now the last good list serves until its NextUpdate, the failure shows on `/ready`, in
`/metrics` and in the log, and only once the list is stale does the verdict become
indeterminate."""

from __future__ import annotations

import logging
from datetime import timedelta

import httpx
import pytest
from _asgi_server import serve
from _http_server import Route, running_server
from _sec_trustclient_support import LOOPBACK, listed_token, post, signed_list
from _support import NOW, Issuer

from ancre.trust.clock import FixedClock
from ancre.verifier.service import VerifierSettings, create_app

REGISTRY = Issuer.new("p256")
ISSUER = Issuer.new()
STRANGER = Issuer.new()

# What the registry answers with when the verifier refreshes, and the code it fails with.
BAD_ANSWERS = {
    "garbage": (Route(body=b"<html>502 Bad Gateway</html>"), "trust_list_invalid"),
    "truncated": (Route(body=signed_list(REGISTRY, [ISSUER.did], 3)[:-20]), "trust_list_invalid"),
    "forged": (Route(body=signed_list(STRANGER, [STRANGER.did], 3)), "trust_list_invalid"),
    "older": (
        Route(body=signed_list(REGISTRY, [ISSUER.did, STRANGER.did], 1)),
        "trust_list_rollback",
    ),
    "unreachable": (Route(status=503, body=b"down"), "trust_list_unavailable"),
}


@pytest.mark.parametrize("answer", sorted(BAD_ANSWERS))
def test_a_bad_refresh_keeps_the_last_good_list_until_it_is_stale(
    answer: str, caplog: pytest.LogCaptureFixture
) -> None:
    bad_route, code = BAD_ANSWERS[answer]
    clock = FixedClock(NOW)
    token = listed_token(ISSUER)
    with running_server() as registry:
        registry.routes["/trust-list"] = Route(
            body=signed_list(REGISTRY, [ISSUER.did], 2), headers={"Cache-Control": "max-age=60"}
        )
        settings = VerifierSettings(
            clock=clock,
            network=LOOPBACK,
            trust_list_url=f"{registry.base}/trust-list",
            registry_did=REGISTRY.did,
        )
        with serve(create_app(settings)) as base, httpx.Client(base_url=base) as http:
            assert post(base, token) == ("valid", [])
            assert registry.hits["/trust-list"] == 1
            registry.routes["/trust-list"] = bad_route
            clock.advance(timedelta(minutes=2))  # past max-age: the next use refreshes
            with caplog.at_level(logging.WARNING, logger="ancre.trust.trust_list.client"):
                assert post(base, token) == ("valid", [])
            assert registry.hits["/trust-list"] == 2, "the refresh was attempted"
            assert f"failed ({code}:" in caplog.text
            assert "serving #2 until" in caplog.text
            # A listed-only-in-the-bad-answer issuer gains nothing from it.
            assert post(base, listed_token(STRANGER)) == ("invalid", ["issuer_not_trusted"])

            ready = http.get("/ready")
            assert ready.status_code == 200
            detail = ready.json()
            assert (detail["status"], detail["trust_list"]) == ("ready", 2)
            assert detail["refresh"]["ok"] is False
            assert detail["refresh"]["failures"] == 1
            assert detail["refresh"]["last_error"]["code"] == code
            assert "next_attempt_at" in detail["refresh"]
            metrics = http.get("/metrics").text
            assert "ancre_trust_list_refresh_failures_total 1\n" in metrics
            assert "ancre_trust_list_sequence 2\n" in metrics

            # Past list #2's NextUpdate, with the registry still bad: indeterminate, never an
            # answer from a stale list, and not ready.
            clock.advance(timedelta(days=1))
            assert post(base, token) == ("indeterminate", ["trust_list_stale"])
            stale = http.get("/ready")
            assert stale.status_code == 503
            assert stale.json()["refresh"]["last_error"]["code"] == code


def test_the_registry_recovering_is_picked_up_after_a_failure() -> None:
    """The kept list is a fallback, not a pin: once the backoff has passed, a good newer list
    replaces it and the failure is cleared."""
    clock = FixedClock(NOW)
    token = listed_token(ISSUER)
    with running_server() as registry:
        registry.routes["/trust-list"] = Route(body=signed_list(REGISTRY, [ISSUER.did], 2))
        settings = VerifierSettings(
            clock=clock,
            network=LOOPBACK,
            trust_list_url=f"{registry.base}/trust-list",
            registry_did=REGISTRY.did,
        )
        with serve(create_app(settings)) as base, httpx.Client(base_url=base) as http:
            assert post(base, token) == ("valid", [])
            registry.routes["/trust-list"] = Route(body=b"garbage")
            clock.advance(timedelta(minutes=10))
            assert post(base, token) == ("valid", [])
            assert http.get("/ready").json()["refresh"]["ok"] is False
            # #3 withdraws nobody but lists the stranger too: visible once it is accepted.
            registry.routes["/trust-list"] = Route(
                body=signed_list(REGISTRY, [ISSUER.did, STRANGER.did], 3)
            )
            clock.advance(timedelta(minutes=10))  # past the backoff (seconds)
            assert post(base, listed_token(STRANGER)) == ("valid", [])
            detail = http.get("/ready").json()
            assert (detail["trust_list"], detail["refresh"]["ok"]) == (3, True)
            assert detail["refresh"]["failures"] == 1
            assert detail["refresh"]["consecutive_failures"] == 0
