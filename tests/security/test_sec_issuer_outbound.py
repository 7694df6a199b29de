"""Timeouts and concurrency limits on the issuer's outbound calls (issue 17): a company
register that hangs holds at most `max_in_flight` of the service's threads, each for at
most the network deadline; one more look-up is `register_unavailable` at once (the login
shows the refusal, nothing is issued). The fetch deadline itself (`ancre.trust.net.guard`)
is tested in `tests/security/test_sec_trust_client_deadline.py` and `tests/test_net.py`;
the OIDC provider's calls use the same guard (`ProviderConfig.policy`)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from _http_server import Route, running_server

from ancre.issuer.registers import RetryPolicy, _Transport
from ancre.trust.clock import SystemClock
from ancre.trust.errors import AncreError, Code
from ancre.trust.net.guard import NetworkPolicy


def test_a_hanging_register_holds_at_most_max_in_flight_threads() -> None:
    release = threading.Event()
    with running_server() as server, httpx.Client(trust_env=False) as client:
        server.routes["/slow"] = Route(body=b"{}", hold=release,
                                       headers={"Content-Type": "application/json"})  # fmt: skip
        transport = _Transport(
            register="recherche-entreprises",
            client=client,
            policy=NetworkPolicy(allow_loopback=True, allow_http=True, timeout=3.0),
            clock=SystemClock(),
            retry=RetryPolicy(attempts=1),
            bucket=None,
            max_in_flight=2,
        )
        with ThreadPoolExecutor(2) as pool:
            held = [pool.submit(transport.get, f"{server.base}/slow") for _ in range(2)]
            server.wait_for_hits("/slow", 2)
            started = time.monotonic()
            with pytest.raises(AncreError) as refused:
                transport.get(f"{server.base}/slow")
            assert time.monotonic() - started < 0.5  # at once, not after the deadline
            assert refused.value.code is Code.REGISTER_UNAVAILABLE
            release.set()
            assert [f.result(timeout=10).status for f in held] == [200, 200]
        # Slots are given back: the next look-up goes through.
        assert transport.get(f"{server.base}/slow").status == 200


def test_a_register_that_never_answers_is_cut_at_the_deadline() -> None:
    never = threading.Event()
    with running_server() as server, httpx.Client(trust_env=False) as client:
        server.routes["/hang"] = Route(body=b"{}", hold=never)
        transport = _Transport(
            register="vies",
            client=client,
            policy=NetworkPolicy(allow_loopback=True, allow_http=True, timeout=0.5),
            clock=SystemClock(),
            retry=RetryPolicy(attempts=1),
            bucket=None,
        )
        started = time.monotonic()
        with pytest.raises(AncreError) as refused:
            transport.get(f"{server.base}/hang")
        assert time.monotonic() - started < 2.0
        assert refused.value.code is Code.REGISTER_UNAVAILABLE
        never.set()
