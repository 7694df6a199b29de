"""Issue 12, point 10: a fetch cut by its deadline is a timeout, never a parsed partial body.

Attack: the server sends most of a document at once, then the rest one byte at a time,
with no Content-Length (the body ends when the connection closes). The fetch's watchdog
shuts the socket at the deadline — and before the fix the client read that close as the
end of the body: a trust list "has 2 parts" (invalid) and a DID document was
`malformed_json`. A deadline must give `network_timeout` (indeterminate)."""

from __future__ import annotations

import json
import time

import pytest
from _http_server import Route, loopback_client, running_server
from _sec_trustclient_support import LOOPBACK, signed_list
from _support import NOW, Issuer

from ancre.trust.clock import FixedClock
from ancre.trust.did.resolvers import default_resolver
from ancre.trust.did.web import DidWebResolver
from ancre.trust.errors import Code, IndeterminateError
from ancre.trust.net.guard import NetworkPolicy, fetch
from ancre.trust.trust_list.client import TrustListClient

REGISTRY = Issuer.new("p256")
#: Short enough to keep the test fast, long enough for the first half to arrive on a
#: loaded machine; the drip's tail takes many seconds.
DEADLINE = NetworkPolicy(allow_loopback=True, allow_http=True, timeout=0.75)
BOUND = 5.0  # generous: the fetch must give up at its deadline, not at the drip's end


def _dripped(body: bytes) -> Route:
    return Route(body=body, drip="body", no_length=True)


def test_a_dripped_list_without_length_is_a_timeout_not_a_truncated_list() -> None:
    body = signed_list(REGISTRY, ["did:web:agency.example"], 2, filler=40)
    with running_server() as server, loopback_client() as (http, _):
        server.routes["/trust-list"] = _dripped(body)
        start = time.monotonic()
        with pytest.raises(IndeterminateError) as raw:
            fetch(f"{server.base}/trust-list", client=http, policy=DEADLINE)
        assert raw.value.code is Code.NETWORK_TIMEOUT
        assert time.monotonic() - start < BOUND

        client = TrustListClient(
            f"{server.base}/trust-list",
            registry=REGISTRY.did,
            resolver=default_resolver(),
            clock=FixedClock(NOW),
            http_client=http,
            network=DEADLINE,
        )
        with pytest.raises(IndeterminateError) as listed:
            client.current()
        assert listed.value.code is Code.TRUST_LIST_UNAVAILABLE
        assert "network_timeout" in listed.value.message
        assert "parts" not in listed.value.message


def test_a_dripped_did_document_is_a_timeout_not_malformed_json() -> None:
    with running_server() as server, loopback_client() as (http, _):
        did = f"did:web:127.0.0.1%3A{server.port}"
        document = {
            "@context": ["https://www.w3.org/ns/did/v1"],
            "id": did,
            "verificationMethod": [],
            "padding": "x" * 400,
        }
        server.routes["/.well-known/did.json"] = _dripped(json.dumps(document).encode())
        resolver = DidWebResolver(http, DEADLINE, FixedClock(NOW))
        start = time.monotonic()
        with pytest.raises(IndeterminateError) as error:
            resolver.resolve(did)
        assert error.value.code is Code.NETWORK_TIMEOUT
        assert time.monotonic() - start < BOUND


def test_a_complete_body_without_length_is_still_read() -> None:
    """The fix refuses bodies cut by the deadline only: a close-delimited body that arrives
    in time is whole and accepted."""
    body = signed_list(REGISTRY, ["did:web:agency.example"], 2)
    with running_server() as server, loopback_client() as (http, _):
        server.routes["/trust-list"] = Route(body=body, no_length=True)
        result = fetch(f"{server.base}/trust-list", client=http, policy=LOOPBACK)
        assert result.body == body
