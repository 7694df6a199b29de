"""ancre.trust.did.web: DID → URL mapping (spec vectors) and resolution against a real
HTTP server on 127.0.0.1, with the network guard, size/time limits and HTTP caching.

Time is a FixedClock that tests advance; the server counts requests so cache hits and
304 revalidations are proved server-side. Nothing leaves the loopback interface.
"""

from __future__ import annotations

import dataclasses
import json
import socket
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from _http_server import (
    LoopbackOnlyTransport,
    LoopbackServer,
    Route,
    free_port,
    loopback_client,
    running_server,
)
from _support import vectors

from ancre.trust.clock import FixedClock
from ancre.trust.did.document import DidDocument, DidResolver
from ancre.trust.did.web import DidWebResolver, did_web_to_url
from ancre.trust.errors import (
    Code,
    ConfigurationError,
    IndeterminateError,
    InvalidError,
    MalformedError,
)
from ancre.trust.keys.jwk import PrivateKey, PublicKey
from ancre.trust.net.guard import NetworkPolicy

DID_WEB = vectors("did-web.json")
T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
LOOPBACK = NetworkPolicy(allow_loopback=True, allow_http=True, max_bytes=16 * 1024)


# --------------------------------------------------------------------------------------
# did_web_to_url
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", DID_WEB["cases"], ids=[c["example"] for c in DID_WEB["cases"]])
def test_spec_vectors(case: dict[str, str]) -> None:
    assert did_web_to_url(case["did"]) == case["url"]


@pytest.mark.parametrize("did", DID_WEB["example_dids_without_url"])
def test_spec_example_dids_are_accepted(did: str) -> None:
    assert did_web_to_url(did).startswith("https://")


@pytest.mark.parametrize(
    ("did", "url"),
    [
        ("did:web:Example.COM", "https://example.com/.well-known/did.json"),
        ("did:web:example.com%3a8443", "https://example.com:8443/.well-known/did.json"),
        ("did:web:93.184.215.14", "https://93.184.215.14/.well-known/did.json"),
        ("did:web:example.com:users:%7Ealice", "https://example.com/users/%7Ealice/did.json"),
        ("did:web:example.com:j%C3%BCrgen", "https://example.com/j%C3%BCrgen/did.json"),
        ("did:web:xn--bcher-kva.example:a.b", "https://xn--bcher-kva.example/a.b/did.json"),
    ],
)
def test_more_mappings(did: str, url: str) -> None:
    assert did_web_to_url(did) == url


@pytest.mark.parametrize(
    "did",
    [
        "did:web:",
        "did:web",
        "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
        "did:web::example.com",
        "did:web:example.com:",
        "did:web:example.com::alice",
        "did:web:example.com:..",
        "did:web:example.com:.",
        "did:web:example.com:a:..:b",
        "did:web:example.com%3A",
        "did:web:example.com%3A0",
        "did:web:example.com%3A99999",
        "did:web:example.com%3A080",
        "did:web:example.com%3A443%3A80",
        "did:web:ex%61mple.com",  # any other percent-encoding in the host
        "did:web:example.com%2Fevil.com",
        "did:web:example.com%40evil.com",
        "did:web:evil.com%23.example.com",
        "did:web:exa_mple.com",
        "did:web:-example.com",
        "did:web:example.com.",
        "did:web:example..com",
        "did:web:127.1",  # non-canonical IPv4 spellings
        "did:web:2130706433",
        "did:web:0x7f.0.0.1",
        "did:web:example.com:a%2Fb",  # encoded separators in a path segment
        "did:web:example.com:%2E%2E",
        "did:web:example.com:a%5Cb",
        "did:web:example.com:a%00",
        "did:web:example.com:%61lice",  # an encoded unreserved char: a second spelling
        "did:web:example.com/path",
        "did:web:example.com#key-1",
        "did:web:example.com?versionId=1",
        "did:web:" + "a" * 2100,
    ],
)
def test_malformed_did_web(did: str) -> None:
    with pytest.raises(MalformedError) as err:
        did_web_to_url(did)
    assert err.value.code is Code.INVALID_DID


# --------------------------------------------------------------------------------------
# Resolution against a loopback server
# --------------------------------------------------------------------------------------


def did_document(did: str, jwk: dict[str, str] | None = None) -> dict[str, Any]:
    key = jwk or PrivateKey.generate("ed25519").public_key.to_jwk()
    vm = f"{did}#key-1"
    return {
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/jwk/v1"],
        "id": did,
        "verificationMethod": [
            {"id": vm, "type": "JsonWebKey", "controller": did, "publicKeyJwk": key}
        ],
        "assertionMethod": [vm],
        "authentication": [vm],
    }


def serve(server: LoopbackServer, path: str, doc: Any, **route: Any) -> None:
    server.routes[path] = Route(body=json.dumps(doc).encode(), **route)


class Env:
    def __init__(
        self,
        server: LoopbackServer,
        client: httpx.Client,
        transport: LoopbackOnlyTransport,
        clock: FixedClock,
    ) -> None:
        self.server = server
        self.client = client
        self.transport = transport
        self.clock = clock
        self.did = f"did:web:127.0.0.1%3A{server.port}"

    def resolver(self, policy: NetworkPolicy = LOOPBACK, **kw: Any) -> DidWebResolver:
        return DidWebResolver(self.client, policy, self.clock, **kw)


@pytest.fixture
def env() -> Iterator[Env]:
    with running_server() as server, loopback_client() as (client, transport):
        yield Env(server, client, transport, FixedClock(T0))


WELL_KNOWN = "/.well-known/did.json"


def test_resolver_is_a_did_resolver(env: Env) -> None:
    assert isinstance(env.resolver(), DidResolver)


def test_resolve_root_did(env: Env) -> None:
    key = PrivateKey.generate("ed25519").public_key
    serve(env.server, WELL_KNOWN, did_document(env.did, key.to_jwk()))
    doc = env.resolver().resolve(env.did)
    assert isinstance(doc, DidDocument)
    assert doc.id == env.did
    assert doc.assertion_key(f"{env.did}#key-1") == key
    assert env.server.seen[0].path == WELL_KNOWN
    assert "application/did+json" in env.server.seen[0].headers["accept"]


def test_resolve_did_with_path(env: Env) -> None:
    did = f"{env.did}:user:alice"
    key = PrivateKey.generate("p256").public_key
    serve(env.server, "/user/alice/did.json", did_document(did, key.to_jwk()))
    doc = env.resolver().resolve(did)
    assert doc.authentication_key("#key-1") == key
    assert env.server.hits == {"/user/alice/did.json": 1}


def test_https_is_used_unless_the_policy_allows_http_to_loopback() -> None:
    urls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        urls.append(str(request.url))
        return httpx.Response(404)

    did = "did:web:127.0.0.1%3A8443:x"
    with httpx.Client(transport=httpx.MockTransport(handler), trust_env=False) as client:
        for policy in (NetworkPolicy(allow_loopback=True), LOOPBACK):
            with pytest.raises(IndeterminateError):
                DidWebResolver(client, policy, FixedClock(T0)).resolve(did)
    assert urls == ["https://127.0.0.1:8443/x/did.json", "http://127.0.0.1:8443/x/did.json"]


@pytest.mark.parametrize(("status", "code"), [(404, Code.DID_NOT_FOUND), (410, Code.DID_NOT_FOUND)])
def test_not_found(env: Env, status: int, code: Code) -> None:
    env.server.routes[WELL_KNOWN] = Route(status=status, body=b"gone")
    with pytest.raises(IndeterminateError) as err:
        env.resolver().resolve(env.did)
    assert err.value.code is code


@pytest.mark.parametrize("status", [500, 503, 403, 204, 300])
def test_other_statuses_fail_resolution(env: Env, status: int) -> None:
    serve(env.server, WELL_KNOWN, did_document(env.did), status=status)
    with pytest.raises(IndeterminateError) as err:
        env.resolver().resolve(env.did)
    assert err.value.code is Code.DID_RESOLUTION_FAILED
    assert f"HTTP {status}" in err.value.message


def test_document_for_another_did_is_refused(env: Env) -> None:
    serve(env.server, WELL_KNOWN, did_document("did:web:attacker.example"))
    with pytest.raises(InvalidError) as err:
        env.resolver().resolve(env.did)
    assert err.value.code is Code.INVALID_DID_DOCUMENT
    assert "did:web:attacker.example" in err.value.message


def test_document_with_a_private_key_is_refused(env: Env) -> None:
    private_jwk = PrivateKey.generate("ed25519").export_private_jwk()
    serve(env.server, WELL_KNOWN, did_document(env.did, private_jwk))
    with pytest.raises(InvalidError) as err:
        env.resolver().resolve(env.did)
    assert err.value.code is Code.INVALID_KEY
    assert "private members ['d']" in err.value.message


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"id": "x", "id": "y"}', Code.DUPLICATE_JSON_KEY),
        (b"<html>hello</html>", Code.MALFORMED_JSON),
        (b"\xff\xfe{}", Code.MALFORMED_JSON),
        (b"[" * 100 + b"]" * 100, Code.JSON_TOO_DEEP),
    ],
)
def test_bad_json_is_malformed(env: Env, body: bytes, code: Code) -> None:
    env.server.routes[WELL_KNOWN] = Route(body=body)
    with pytest.raises(MalformedError) as err:
        env.resolver().resolve(env.did)
    assert err.value.code is code


def test_oversized_document(env: Env) -> None:
    doc = did_document(env.did)
    doc["padding"] = "x" * (LOOPBACK.max_bytes + 1)
    serve(env.server, WELL_KNOWN, doc)
    with pytest.raises(InvalidError) as err:
        env.resolver().resolve(env.did)
    assert err.value.code is Code.RESPONSE_TOO_LARGE


def test_slow_drip_times_out(env: Env) -> None:
    env.server.routes[WELL_KNOWN] = Route(drip="body")
    with pytest.raises(IndeterminateError) as err:
        env.resolver(dataclasses.replace(LOOPBACK, timeout=0.5)).resolve(env.did)
    assert err.value.code is Code.NETWORK_TIMEOUT


def test_unreachable_host_is_indeterminate(env: Env) -> None:
    with pytest.raises(IndeterminateError) as err:
        env.resolver().resolve(f"did:web:127.0.0.1%3A{free_port()}")
    assert err.value.code is Code.NETWORK_ERROR


@pytest.mark.parametrize(
    "location", ["http://169.254.169.254/latest/meta-data", "http://10.0.0.1/x"]
)
def test_redirect_to_internal_address_is_refused_before_connecting(env: Env, location: str) -> None:
    env.server.routes[WELL_KNOWN] = Route(status=302, headers={"Location": location})
    with pytest.raises(InvalidError) as err:
        env.resolver().resolve(env.did)
    assert err.value.code is Code.URL_NOT_ALLOWED
    assert [r.url.host for r in env.transport.requests] == ["127.0.0.1"]


def test_redirect_within_the_host_is_followed_but_id_must_still_match(env: Env) -> None:
    env.server.routes[WELL_KNOWN] = Route(status=301, headers={"Location": "/moved/did.json"})
    serve(env.server, "/moved/did.json", did_document(env.did))
    assert env.resolver().resolve(env.did).id == env.did
    assert [s.path for s in env.server.seen] == [WELL_KNOWN, "/moved/did.json"]


def test_too_long_redirect_chain(env: Env) -> None:
    for i in range(5):
        env.server.routes[f"/r{i}"] = Route(status=302, headers={"Location": f"/r{i + 1}"})
    env.server.routes[WELL_KNOWN] = Route(status=302, headers={"Location": "/r0"})
    with pytest.raises(IndeterminateError) as err:
        env.resolver().resolve(env.did)
    assert err.value.code is Code.NETWORK_ERROR
    assert len(env.server.seen) == LOOPBACK.max_redirects + 1


def ip_did_dns(host: str, port: int) -> Sequence[tuple[Any, Any, Any, Any, tuple[Any, ...]]]:
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.20.30.40", port))]


def test_did_naming_a_private_host_is_refused_without_connecting(env: Env) -> None:
    resolver = env.resolver(getaddrinfo=ip_did_dns)
    for did in ("did:web:10.0.0.1", "did:web:169.254.169.254", "did:web:intranet.example"):
        with pytest.raises(InvalidError) as err:
            resolver.resolve(did)
        assert err.value.code is Code.URL_NOT_ALLOWED
    assert env.transport.requests == []


# --------------------------------------------------------------------------------------
# Caching
# --------------------------------------------------------------------------------------


def test_max_age_cache_then_etag_revalidation(env: Env) -> None:
    key = PrivateKey.generate("ed25519").public_key
    serve(
        env.server,
        WELL_KNOWN,
        did_document(env.did, key.to_jwk()),
        etag='"v1"',
        headers={"Cache-Control": "max-age=60"},
    )
    resolver = env.resolver()
    first = resolver.resolve(env.did)
    env.clock.advance(timedelta(seconds=59))
    assert resolver.resolve(env.did) is first  # fresh: served from the cache
    assert env.server.hits[WELL_KNOWN] == 1

    env.clock.advance(timedelta(seconds=2))  # now stale
    assert resolver.resolve(env.did) is first  # 304 → the cached document
    assert env.server.hits[WELL_KNOWN] == 2
    assert env.server.seen[1].headers["if-none-match"] == '"v1"'
    assert "if-none-match" not in env.server.seen[0].headers

    env.clock.advance(timedelta(seconds=59))  # the 304 renewed the lifetime
    assert resolver.resolve(env.did).assertion_key("#key-1") == key
    assert env.server.hits[WELL_KNOWN] == 2


def test_changed_document_replaces_the_cached_one(env: Env) -> None:
    serve(
        env.server,
        WELL_KNOWN,
        did_document(env.did),
        etag='"v1"',
        headers={"Cache-Control": "max-age=10"},
    )
    resolver = env.resolver()
    old = resolver.resolve(env.did)
    rotated = PrivateKey.generate("ed25519").public_key
    serve(
        env.server,
        WELL_KNOWN,
        did_document(env.did, rotated.to_jwk()),
        etag='"v2"',
        headers={"Cache-Control": "max-age=10"},
    )
    env.clock.advance(timedelta(seconds=11))
    new = resolver.resolve(env.did)
    assert new != old
    assert new.assertion_key("#key-1") == rotated
    assert env.server.seen[1].headers["if-none-match"] == '"v1"'


def test_no_store_is_never_cached(env: Env) -> None:
    serve(
        env.server,
        WELL_KNOWN,
        did_document(env.did),
        etag='"v1"',
        headers={"Cache-Control": "no-store"},
    )
    resolver = env.resolver()
    for _ in range(3):
        resolver.resolve(env.did)
    assert env.server.hits[WELL_KNOWN] == 3
    assert all("if-none-match" not in s.headers for s in env.server.seen)


def test_no_cache_revalidates_every_time(env: Env) -> None:
    serve(
        env.server,
        WELL_KNOWN,
        did_document(env.did),
        etag='"v1"',
        headers={"Cache-Control": "no-cache"},
    )
    resolver = env.resolver()
    docs = [resolver.resolve(env.did) for _ in range(3)]
    assert docs[0] is docs[1] is docs[2]
    assert env.server.hits[WELL_KNOWN] == 3
    assert [s.headers.get("if-none-match") for s in env.server.seen] == [None, '"v1"', '"v1"']


def test_default_ttl_without_cache_headers_and_no_etag(env: Env) -> None:
    serve(env.server, WELL_KNOWN, did_document(env.did))
    resolver = env.resolver(default_ttl=100)
    resolver.resolve(env.did)
    env.clock.advance(timedelta(seconds=99))
    resolver.resolve(env.did)
    assert env.server.hits[WELL_KNOWN] == 1
    env.clock.advance(timedelta(seconds=1))
    resolver.resolve(env.did)
    assert env.server.hits[WELL_KNOWN] == 2
    assert "if-none-match" not in env.server.seen[1].headers


def test_max_ttl_caps_max_age(env: Env) -> None:
    serve(
        env.server, WELL_KNOWN, did_document(env.did), headers={"Cache-Control": "max-age=31536000"}
    )
    resolver = env.resolver(max_ttl=600)
    resolver.resolve(env.did)
    env.clock.advance(timedelta(seconds=601))
    resolver.resolve(env.did)
    assert env.server.hits[WELL_KNOWN] == 2


def test_errors_are_not_cached_and_stale_documents_are_not_served(env: Env) -> None:
    serve(env.server, WELL_KNOWN, did_document(env.did), headers={"Cache-Control": "max-age=10"})
    resolver = env.resolver()
    resolver.resolve(env.did)
    env.server.routes[WELL_KNOWN] = Route(status=503)
    env.clock.advance(timedelta(seconds=11))
    with pytest.raises(IndeterminateError) as err:
        resolver.resolve(env.did)  # fail closed: no stale fallback
    assert err.value.code is Code.DID_RESOLUTION_FAILED
    env.server.routes[WELL_KNOWN] = Route(status=404)
    with pytest.raises(IndeterminateError) as err:
        resolver.resolve(env.did)
    assert err.value.code is Code.DID_NOT_FOUND
    serve(env.server, WELL_KNOWN, did_document(env.did))
    resolver.resolve(env.did)
    assert env.server.hits[WELL_KNOWN] == 4


def test_lru_is_bounded(env: Env) -> None:
    dids = [f"{env.did}:u{i}" for i in range(3)]
    for i, did in enumerate(dids):
        serve(env.server, f"/u{i}/did.json", did_document(did))
    resolver = env.resolver(max_entries=2)
    resolver.resolve(dids[0])
    resolver.resolve(dids[1])
    resolver.resolve(dids[0])  # refresh u0: u1 is now least recently used
    resolver.resolve(dids[2])  # evicts u1
    resolver.resolve(dids[0])
    resolver.resolve(dids[2])
    assert env.server.hits["/u0/did.json"] == 1
    assert env.server.hits["/u2/did.json"] == 1
    resolver.resolve(dids[1])
    assert env.server.hits["/u1/did.json"] == 2


def test_invalidate(env: Env) -> None:
    serve(env.server, WELL_KNOWN, did_document(env.did))
    resolver = env.resolver()
    resolver.resolve(env.did)
    resolver.invalidate(env.did)
    resolver.resolve(env.did)
    resolver.invalidate()
    resolver.resolve(env.did)
    assert env.server.hits[WELL_KNOWN] == 3


def test_concurrent_resolution_is_safe(env: Env) -> None:
    dids = [f"{env.did}:t{i}" for i in range(4)]
    keys: dict[str, PublicKey] = {}
    for i, did in enumerate(dids):
        keys[did] = PrivateKey.generate("ed25519").public_key
        serve(
            env.server,
            f"/t{i}/did.json",
            did_document(did, keys[did].to_jwk()),
            headers={"Cache-Control": "max-age=3600"},
        )
    resolver = env.resolver(max_entries=3)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(resolver.resolve, dids * 10))
    assert all(doc.assertion_key("#key-1") == keys[doc.id] for doc in results)
    assert [doc.id for doc in results] == dids * 10
    assert sum(env.server.hits.values()) >= len(dids)


@pytest.mark.parametrize(
    "kwargs",
    [{"max_entries": -1}, {"default_ttl": -1}, {"default_ttl": 100, "max_ttl": 50}],
)
def test_bad_configuration(env: Env, kwargs: dict[str, int]) -> None:
    with pytest.raises(ConfigurationError):
        env.resolver(**kwargs)
