"""Issue 12, point 13: DNS resolution counts against the fetch deadline.

Attack: a name whose DNS answer takes 12 s (a slow or hostile stub resolver) made a fetch
with a 5 s deadline take 12.1 s, because the look-up ran before the deadline started.
Resolution now runs within the deadline; the SSRF guard still checks every answer and the
connection still goes to the checked (pinned) address. The resolver here is injected, so
no DNS traffic leaves the machine."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest
from _http_server import Route, loopback_client, running_server

from ancre.trust.errors import Code, IndeterminateError, InvalidError
from ancre.trust.net.guard import NetworkPolicy, check_url, fetch

POLICY = NetworkPolicy(allow_loopback=True, allow_http=True, timeout=0.5)
BOUND = 5.0  # generous; before the fix the fetch waited for the resolver (here: forever)

Answer = Sequence[tuple[Any, Any, Any, Any, tuple[Any, ...]]]


def _answer(*ips: str) -> Answer:
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, 0)) for ip in ips]


class BlockingResolver:
    """A stub resolver that answers only when released (the test releases it at the end)."""

    def __init__(self, *ips: str) -> None:
        self.release = threading.Event()
        self.calls = 0
        self._ips = ips

    def __call__(self, host: str, port: int) -> Answer:
        self.calls += 1
        self.release.wait(30)
        return _answer(*self._ips)


def test_a_resolver_that_never_answers_times_out_at_the_deadline() -> None:
    resolver = BlockingResolver("127.0.0.1")
    try:
        with loopback_client() as (http, transport):
            start = time.monotonic()
            with pytest.raises(IndeterminateError) as error:
                fetch(
                    "http://registry.example:8600/trust-list",
                    client=http,
                    policy=POLICY,
                    resolve=resolver,
                )
            assert time.monotonic() - start < BOUND
            assert error.value.code is Code.NETWORK_TIMEOUT
            assert "resolving 'registry.example'" in error.value.message
            assert transport.requests == [], "nothing was sent"
    finally:
        resolver.release.set()


def test_check_url_also_bounds_dns_by_the_policy_timeout() -> None:
    resolver = BlockingResolver("93.184.215.14")
    try:
        start = time.monotonic()
        with pytest.raises(IndeterminateError) as error:
            check_url("https://registry.example/trust-list", POLICY, resolver)
        assert error.value.code is Code.NETWORK_TIMEOUT
        assert time.monotonic() - start < BOUND
    finally:
        resolver.release.set()


def test_every_answer_is_still_checked() -> None:
    """A private address among the answers refuses the name, resolved in its thread or not."""
    for answers in (("10.0.0.7",), ("93.184.215.14", "169.254.169.254")):
        with pytest.raises(InvalidError) as error:
            check_url(
                "https://registry.example/x", NetworkPolicy(), lambda h, p, a=answers: _answer(*a)
            )
        assert error.value.code is Code.URL_NOT_ALLOWED


def test_rebinding_is_still_refused_the_connection_goes_to_the_checked_address() -> None:
    """Resolved once per hop: a second, different answer is never asked for, let alone used."""
    with running_server() as server, loopback_client() as (http, transport):
        server.routes["/x"] = Route(body=b"ok")
        calls: list[str] = []

        def rebinding(host: str, port: int) -> Answer:
            calls.append(host)
            return _answer("127.0.0.1" if len(calls) == 1 else "10.0.0.1")

        url = f"http://rebind.example:{server.port}/x"
        assert fetch(url, client=http, policy=POLICY, resolve=rebinding).body == b"ok"
        assert calls == ["rebind.example"]
        assert [r.url.host for r in transport.requests] == ["127.0.0.1"]
