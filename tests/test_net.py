"""ancre.trust.net.guard: the SSRF guard, the guarded fetch, and the HTTP cache helpers.

Network tests use a real HTTP server on 127.0.0.1 (tests/_http_server.py) or
httpx.MockTransport; DNS is a fake `resolve` callable. Nothing leaves the loopback
interface: the test client refuses any non-loopback destination on its own.
"""

from __future__ import annotations

import gzip
import ipaddress
import socket
from collections.abc import Iterator, Sequence
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

from ancre.trust.clock import FixedClock
from ancre.trust.errors import AncreError, Code, IndeterminateError, InvalidError
from ancre.trust.net.guard import (
    CacheControl,
    NetworkPolicy,
    check_url,
    fetch,
    freshness,
    parse_cache_control,
    parse_etag,
)

LOOPBACK = NetworkPolicy(allow_loopback=True, allow_http=True)
#: for deadline tests only: short, so the suite stays fast (the server drips for DRIP_FOR s).
QUICK = NetworkPolicy(allow_loopback=True, allow_http=True, timeout=0.5)
T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


class FakeDns:
    """A `resolve` callable with fixed answers that records what it was asked."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, int]] = []

    def __call__(
        self, host: str, port: int
    ) -> Sequence[tuple[Any, Any, Any, Any, tuple[Any, ...]]]:
        self.calls.append((host, port))
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in self.answers[host]
        ]


def no_dns(host: str, port: int) -> Sequence[tuple[Any, Any, Any, Any, tuple[Any, ...]]]:
    raise AssertionError(f"DNS must not be used here (asked for {host!r})")


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with running_server() as srv:
        yield srv


@pytest.fixture
def client() -> Iterator[tuple[httpx.Client, LoopbackOnlyTransport]]:
    with loopback_client() as pair:
        yield pair


# --------------------------------------------------------------------------------------
# check_url
# --------------------------------------------------------------------------------------


def test_public_ip_literal_is_checked_without_dns() -> None:
    assert check_url("https://93.184.215.14/a?b=c", NetworkPolicy(), resolve=no_dns) == [
        ipaddress.ip_address("93.184.215.14")
    ]
    assert check_url("https://[2606:4700::1]:8443/", NetworkPolicy(), resolve=no_dns) == [
        ipaddress.ip_address("2606:4700::1")
    ]


def test_name_is_resolved_once_and_answers_deduplicated() -> None:
    dns = FakeDns({"issuer.example": ["93.184.215.14", "93.184.215.14", "2606:4700::1"]})
    ips = check_url("https://Issuer.Example/.well-known/did.json", NetworkPolicy(), resolve=dns)
    assert ips == [ipaddress.ip_address("93.184.215.14"), ipaddress.ip_address("2606:4700::1")]
    assert dns.calls == [("issuer.example", 443)]


@pytest.mark.parametrize(
    "host",
    [
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "127.0.0.1",  # loopback, not allowed by the default policy
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # CGNAT
        "0.0.0.0",
        "224.0.0.1",
        "239.255.255.250",
        "255.255.255.255",
        "240.0.0.1",
        "198.18.0.1",
        "192.0.0.8",
        "192.0.2.1",
        "[::1]",
        "[::]",
        "[fe80::1]",
        "[fc00::1]",
        "[fd12:3456::1]",
        "[ff02::1]",
        "[::ffff:10.0.0.1]",  # IPv4-mapped private
        "[::ffff:169.254.169.254]",  # IPv4-mapped link-local
        "[::ffff:127.0.0.1]",
        "[64:ff9b::a9fe:a9fe]",  # NAT64 of 169.254.169.254
        "[::127.0.0.1]",  # IPv4-compatible (deprecated)
        "[2001:db8::1]",
        "[2001::1]",  # Teredo
        "[2002:a00:1::1]",  # 6to4 of 10.0.0.1
        "[100::1]",  # discard prefix
    ],
)
def test_non_public_literals_are_refused(host: str) -> None:
    with pytest.raises(InvalidError) as err:
        check_url(f"https://{host}/x", NetworkPolicy(), resolve=no_dns)
    assert err.value.code is Code.URL_NOT_ALLOWED
    assert "refusing to fetch" in err.value.message


def test_nat64_of_a_public_address_is_allowed() -> None:
    # 64:ff9b::808:808 is what DNS64 synthesises for 8.8.8.8 on an IPv6-only network.
    assert check_url("https://[64:ff9b::808:808]/", NetworkPolicy(), resolve=no_dns) == [
        ipaddress.ip_address("64:ff9b::808:808")
    ]


@pytest.mark.parametrize(
    "answers",
    [
        ["93.184.215.14", "10.0.0.1"],  # ANY bad answer refuses the name
        ["169.254.169.254"],
        ["::ffff:192.168.0.1"],
        ["fe80::1%eth0"],  # scoped link-local, as getaddrinfo returns it
        ["127.0.0.1"],
        ["100.100.100.200"],  # CGNAT (Alibaba Cloud metadata)
    ],
)
def test_dns_answers_pointing_inside_are_refused(answers: list[str]) -> None:
    dns = FakeDns({"evil.example": answers})
    with pytest.raises(InvalidError) as err:
        check_url("https://evil.example/", NetworkPolicy(), resolve=dns)
    assert err.value.code is Code.URL_NOT_ALLOWED
    assert "evil.example resolves to" in err.value.message


def test_loopback_needs_the_policy_and_private_stays_refused() -> None:
    allow = NetworkPolicy(allow_loopback=True)
    assert check_url("https://127.0.0.1:8443/", allow, resolve=no_dns) == [
        ipaddress.ip_address("127.0.0.1")
    ]
    assert check_url("https://[::1]/", allow, resolve=no_dns) == [ipaddress.ip_address("::1")]
    for url in ("https://10.0.0.1/", "https://169.254.169.254/", "https://[fe80::1]/"):
        with pytest.raises(InvalidError) as err:
            check_url(url, allow, resolve=no_dns)
        assert err.value.code is Code.URL_NOT_ALLOWED


@pytest.mark.parametrize(
    ("url", "policy"),
    [
        ("http://93.184.215.14/", NetworkPolicy()),
        ("http://93.184.215.14/", NetworkPolicy(allow_http=True, allow_loopback=True)),
        ("http://127.0.0.1/", NetworkPolicy(allow_loopback=True)),  # http not allowed
        ("http://127.0.0.1/", NetworkPolicy(allow_http=True)),  # loopback not allowed
        ("ftp://93.184.215.14/", NetworkPolicy()),
        ("file:///etc/passwd", NetworkPolicy()),
        ("gopher://93.184.215.14/", NetworkPolicy()),
        ("//93.184.215.14/", NetworkPolicy()),
    ],
)
def test_scheme_rules(url: str, policy: NetworkPolicy) -> None:
    with pytest.raises(InvalidError) as err:
        check_url(url, policy, resolve=no_dns)
    assert err.value.code is Code.URL_NOT_ALLOWED


def test_http_only_when_every_answer_is_loopback() -> None:
    policy = NetworkPolicy(allow_http=True, allow_loopback=True)
    dns = FakeDns({"mixed.test": ["127.0.0.1", "93.184.215.14"], "local.test": ["127.0.0.2"]})
    with pytest.raises(InvalidError) as err:
        check_url("http://mixed.test/", policy, resolve=dns)
    assert "only allowed to loopback" in err.value.message
    assert check_url("http://local.test:8080/", policy, resolve=dns) == [
        ipaddress.ip_address("127.0.0.2")
    ]


@pytest.mark.parametrize(
    "url",
    [
        "https://user:secret@example.com/",
        "https://example.com@10.0.0.1/",
        "https://@example.com/",
        "https://2130706433/",  # 127.0.0.1 as one decimal number
        "https://0x7f000001/",
        "https://127.1/",
        "https://0177.0.0.1/",  # octal
        "https://0x7f.0.0.1/",
        "https://10.0.0.010/",  # leading zero: octal to inet_aton
        "https://example.com\\@10.0.0.1/",
        "https://exa mple.com/",
        "https://example.com/\r\nX-Injected: 1",
        "https://bücher.example/",  # IRI: must be sent as an A-label
        "https://[fe80::1%25eth0]/",
        "https://[::1/",
        "https:///path",
        "https://example..com/",
        "https://example.com./",
        "https://-example.com/",
        "https://exa_mple.com/",
        "https://example.com:99999/",
        "https://example.com:0/",
        "https://example.com:/",
        "https://example.com:+443/",
        "https://" + "a" * 2100 + ".com/",
    ],
)
def test_ambiguous_or_dangerous_urls_are_refused_without_dns(url: str) -> None:
    with pytest.raises(InvalidError) as err:
        check_url(url, NetworkPolicy(allow_loopback=True), resolve=no_dns)
    assert err.value.code is Code.URL_NOT_ALLOWED


def test_dns_failure_is_indeterminate() -> None:
    dns = FakeDns({"empty.example": []})
    with pytest.raises(IndeterminateError) as err:
        check_url("https://nxdomain.example/", NetworkPolicy(), resolve=dns)
    assert err.value.code is Code.NETWORK_ERROR
    assert "could not resolve 'nxdomain.example'" in err.value.message
    with pytest.raises(IndeterminateError) as err:
        check_url("https://empty.example/", NetworkPolicy(), resolve=dns)
    assert err.value.code is Code.NETWORK_ERROR


# --------------------------------------------------------------------------------------
# fetch against a real loopback server
# --------------------------------------------------------------------------------------


def test_fetch_returns_status_headers_and_body(
    server: LoopbackServer, client: tuple[httpx.Client, LoopbackOnlyTransport]
) -> None:
    http, transport = client
    server.routes["/doc"] = Route(body=b'{"a":1}', headers={"Content-Type": "application/json"})
    clock = FixedClock(T0)
    result = fetch(
        f"{server.base}/doc", client=http, policy=LOOPBACK, headers={"Accept": "x/y"}, clock=clock
    )
    assert (result.status, result.body, result.url) == (200, b'{"a":1}', f"{server.base}/doc")
    assert result.headers["content-type"] == "application/json"
    assert result.fetched_at == T0
    seen = server.seen[0].headers
    assert seen["host"] == server.authority
    assert seen["accept"] == "x/y"
    assert seen["connection"] == "close"  # never a pooled connection (see net._send)
    assert seen["accept-encoding"] == "identity"
    assert seen["user-agent"] == LOOPBACK.user_agent
    assert [str(r.url) for r in transport.requests] == [f"{server.base}/doc"]


def test_non_200_statuses_are_returned_not_raised(
    server: LoopbackServer, client: tuple[httpx.Client, LoopbackOnlyTransport]
) -> None:
    result = fetch(f"{server.base}/missing", client=client[0], policy=LOOPBACK)
    assert result.status == 404
    assert result.body == b"not found"


def test_connection_is_pinned_to_the_checked_address(
    server: LoopbackServer, client: tuple[httpx.Client, LoopbackOnlyTransport]
) -> None:
    """DNS rebinding: the name is resolved once, checked, and the connection goes to that
    address with the name in Host; a second (hostile) answer is never asked for."""
    http, transport = client
    server.routes["/x"] = Route(body=b"ok")
    answers = iter([["127.0.0.1"], ["10.0.0.1"]])

    def rebinding_dns(host: str, port: int) -> list[tuple[Any, Any, Any, Any, tuple[Any, ...]]]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in next(answers)]

    result = fetch(
        f"http://pinned.test:{server.port}/x", client=http, policy=LOOPBACK, resolve=rebinding_dns
    )
    assert result.body == b"ok"
    assert result.url == f"http://pinned.test:{server.port}/x"
    assert server.seen[0].headers["host"] == f"pinned.test:{server.port}"
    assert [r.url.host for r in transport.requests] == ["127.0.0.1"]
    assert next(answers) == ["10.0.0.1"]  # the rebinding answer was never consumed


def test_caller_cannot_override_host_or_connection(
    server: LoopbackServer, client: tuple[httpx.Client, LoopbackOnlyTransport]
) -> None:
    server.routes["/x"] = Route(body=b"ok")
    fetch(
        f"{server.base}/x",
        client=client[0],
        policy=LOOPBACK,
        headers={"Host": "internal.admin", "Connection": "keep-alive", "Accept-Encoding": "gzip"},
    )
    seen = server.seen[0].headers
    assert (seen["host"], seen["connection"], seen["accept-encoding"]) == (
        server.authority,
        "close",
        "identity",
    )


def test_redirects_are_followed_and_rechecked(
    server: LoopbackServer, client: tuple[httpx.Client, LoopbackOnlyTransport]
) -> None:
    server.routes["/a"] = Route(status=302, headers={"Location": "/b"})
    server.routes["/b"] = Route(status=301, headers={"Location": f"{server.base}/c?q=1"})
    server.routes["/c?q=1"] = Route(body=b"final")
    result = fetch(f"{server.base}/a", client=client[0], policy=LOOPBACK)
    assert (result.status, result.body, result.url) == (200, b"final", f"{server.base}/c?q=1")
    assert [s.path for s in server.seen] == ["/a", "/b", "/c?q=1"]


@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.1/x",
        "https://10.0.0.1/x",
        "https://[::ffff:169.254.169.254]/latest/meta-data",
        "https://internal.test/x",  # names whose DNS answer is private
        "https://metadata.test/latest/meta-data",
    ],
)
def test_redirect_inside_is_refused_before_any_connection(
    server: LoopbackServer, client: tuple[httpx.Client, LoopbackOnlyTransport], location: str
) -> None:
    http, transport = client
    server.routes["/r"] = Route(status=302, headers={"Location": location})
    dns = FakeDns({"internal.test": ["10.1.2.3"], "metadata.test": ["169.254.169.254"]})
    with pytest.raises(InvalidError) as err:
        fetch(f"{server.base}/r", client=http, policy=LOOPBACK, resolve=dns)
    assert err.value.code is Code.URL_NOT_ALLOWED
    # Exactly one request left this process, to the loopback server; the redirect target
    # was refused by the guard, not by a failed connection.
    assert [str(r.url) for r in transport.requests] == [f"{server.base}/r"]
    assert server.hits["/r"] == 1


@pytest.mark.parametrize(
    ("location", "code"),
    [
        # httpx itself parses Location (Response.next_request) and refuses these first;
        # fetch() translates its exception.
        ("https://[::1", Code.NETWORK_ERROR),
        ("http://[zz]/", Code.NETWORK_ERROR),
        ("https://a b/", Code.URL_NOT_ALLOWED),
        ("https://user@127.0.0.1/", Code.URL_NOT_ALLOWED),
    ],
)
def test_unparseable_redirect_is_refused(
    server: LoopbackServer,
    client: tuple[httpx.Client, LoopbackOnlyTransport],
    location: str,
    code: Code,
) -> None:
    server.routes["/r"] = Route(status=302, headers={"Location": location})
    with pytest.raises(AncreError) as err:
        fetch(f"{server.base}/r", client=client[0], policy=LOOPBACK)
    assert err.value.code is code
    assert len(client[1].requests) == 1


def test_too_many_redirects(
    server: LoopbackServer, client: tuple[httpx.Client, LoopbackOnlyTransport]
) -> None:
    for i in range(6):
        server.routes[f"/r{i}"] = Route(status=307, headers={"Location": f"/r{i + 1}"})
    server.routes["/r6"] = Route(body=b"never")
    policy = NetworkPolicy(allow_loopback=True, allow_http=True, max_redirects=3)
    with pytest.raises(IndeterminateError) as err:
        fetch(f"{server.base}/r0", client=client[0], policy=policy)
    assert err.value.code is Code.NETWORK_ERROR
    assert "redirected more than 3 times" in err.value.message
    assert [s.path for s in server.seen] == ["/r0", "/r1", "/r2", "/r3"]


def test_redirect_loop_is_bounded(
    server: LoopbackServer, client: tuple[httpx.Client, LoopbackOnlyTransport]
) -> None:
    server.routes["/loop"] = Route(status=302, headers={"Location": "/loop"})
    with pytest.raises(IndeterminateError):
        fetch(f"{server.base}/loop", client=client[0], policy=LOOPBACK)
    assert server.hits["/loop"] == LOOPBACK.max_redirects + 1


def test_3xx_without_location_is_returned(
    server: LoopbackServer, client: tuple[httpx.Client, LoopbackOnlyTransport]
) -> None:
    server.routes["/m"] = Route(status=300, body=b"choices")
    assert fetch(f"{server.base}/m", client=client[0], policy=LOOPBACK).status == 300


def test_content_length_over_the_limit_is_refused_before_reading(
    server: LoopbackServer, client: tuple[httpx.Client, LoopbackOnlyTransport]
) -> None:
    server.routes["/big"] = Route(body=b"x" * 5000)
    policy = NetworkPolicy(allow_loopback=True, allow_http=True, max_bytes=4096)
    with pytest.raises(InvalidError) as err:
        fetch(f"{server.base}/big", client=client[0], policy=policy)
    assert err.value.code is Code.RESPONSE_TOO_LARGE
    assert "announces 5000 bytes" in err.value.message


def test_body_without_length_is_cut_at_the_limit(
    server: LoopbackServer, client: tuple[httpx.Client, LoopbackOnlyTransport]
) -> None:
    server.routes["/big"] = Route(body=b"x" * 100_000, no_length=True)
    server.routes["/fits"] = Route(body=b"y" * 4096, no_length=True)
    policy = NetworkPolicy(allow_loopback=True, allow_http=True, max_bytes=4096)
    with pytest.raises(InvalidError) as err:
        fetch(f"{server.base}/big", client=client[0], policy=policy)
    assert err.value.code is Code.RESPONSE_TOO_LARGE
    assert "more than 4096 bytes" in err.value.message
    assert fetch(f"{server.base}/fits", client=client[0], policy=policy).body == b"y" * 4096


def test_gzip_is_decoded_and_a_gzip_bomb_is_cut_short(
    server: LoopbackServer, client: tuple[httpx.Client, LoopbackOnlyTransport]
) -> None:
    server.routes["/small"] = Route(
        body=gzip.compress(b'{"ok":true}'), headers={"Content-Encoding": "gzip"}
    )
    bomb = gzip.compress(b"\0" * 20_000_000)
    assert len(bomb) < LOOPBACK.max_bytes  # small on the wire, 20 MB once inflated
    server.routes["/bomb"] = Route(body=bomb, headers={"Content-Encoding": "gzip"})
    assert fetch(f"{server.base}/small", client=client[0], policy=LOOPBACK).body == b'{"ok":true}'
    with pytest.raises(InvalidError) as err:
        fetch(f"{server.base}/bomb", client=client[0], policy=LOOPBACK)
    assert err.value.code is Code.RESPONSE_TOO_LARGE


def test_unsupported_or_corrupt_content_encoding(
    server: LoopbackServer, client: tuple[httpx.Client, LoopbackOnlyTransport]
) -> None:
    server.routes["/br"] = Route(body=b"xxxx", headers={"Content-Encoding": "br"})
    server.routes["/bad"] = Route(body=b"not gzip", headers={"Content-Encoding": "gzip"})
    server.routes["/cut"] = Route(
        body=gzip.compress(b"a" * 1000)[:-12], headers={"Content-Encoding": "gzip"}
    )
    for path in ("/br", "/bad", "/cut"):
        with pytest.raises(IndeterminateError) as err:
            fetch(f"{server.base}{path}", client=client[0], policy=LOOPBACK)
        assert err.value.code is Code.NETWORK_ERROR


@pytest.mark.parametrize("drip", ["body", "headers"])
def test_slow_drip_hits_the_total_deadline(
    server: LoopbackServer, client: tuple[httpx.Client, LoopbackOnlyTransport], drip: str
) -> None:
    """A byte every 50 ms never trips a per-read timeout; the total deadline must still
    stop the fetch — in the headers too (slowloris). Checked by what happened, not by
    timing it: the fetch fails with the deadline's code, and the server saw the client hang
    up in the middle of a drip meant to last a minute, which it never finished."""
    server.routes["/slow"] = Route(drip=drip, drip_for=60.0)
    with pytest.raises(IndeterminateError) as err:
        fetch(f"{server.base}/slow", client=client[0], policy=QUICK)
    assert err.value.code is Code.NETWORK_TIMEOUT
    assert "took longer than 0.5 s" in err.value.message
    server.wait_for_hang_up("/slow")
    assert server.drips_finished["/slow"] == 0


def test_connection_refused_is_indeterminate(
    client: tuple[httpx.Client, LoopbackOnlyTransport],
) -> None:
    with pytest.raises(IndeterminateError) as err:
        fetch(f"http://127.0.0.1:{free_port()}/", client=client[0], policy=LOOPBACK)
    assert err.value.code is Code.NETWORK_ERROR
    assert "ConnectError" in err.value.message


def test_refused_url_makes_no_request(client: tuple[httpx.Client, LoopbackOnlyTransport]) -> None:
    http, transport = client
    with pytest.raises(InvalidError):
        fetch("http://169.254.169.254/latest/meta-data", client=http, policy=LOOPBACK)
    assert transport.requests == []


# --------------------------------------------------------------------------------------
# fetch with httpx.MockTransport (https paths, error translation)
# --------------------------------------------------------------------------------------

PUBLIC = FakeDns({"issuer.example": ["93.184.215.14"], "other.example": ["93.184.215.15"]})


def mock_client(handler: Any) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler), trust_env=False)


def test_https_pins_ip_and_keeps_sni_and_host() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"ok")

    with mock_client(handler) as http:
        result = fetch(
            "https://issuer.example/.well-known/did.json",
            client=http,
            policy=NetworkPolicy(),
            resolve=PUBLIC,
        )
    assert result.url == "https://issuer.example/.well-known/did.json"
    (request,) = seen
    assert str(request.url) == "https://93.184.215.14/.well-known/did.json"
    assert request.headers["host"] == "issuer.example"
    # httpcore verifies the certificate against sni_hostname, i.e. the name, not the IP.
    assert request.extensions["sni_hostname"] == "issuer.example"


def test_https_to_http_redirect_is_refused() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(302, headers={"Location": "http://127.0.0.1/x"})

    policy = NetworkPolicy(allow_loopback=True, allow_http=True)
    with mock_client(handler) as http, pytest.raises(InvalidError) as err:
        fetch("https://127.0.0.1/", client=http, policy=policy)
    assert err.value.code is Code.URL_NOT_ALLOWED
    assert "non-https" in err.value.message
    assert calls == ["https://127.0.0.1/"]


def test_credentials_are_dropped_on_cross_origin_redirect() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.headers["host"] == "issuer.example":
            return httpx.Response(302, headers={"Location": "https://other.example/doc"})
        return httpx.Response(200, content=b"ok")

    with mock_client(handler) as http:
        fetch(
            "https://issuer.example/",
            client=http,
            policy=NetworkPolicy(),
            headers={"Authorization": "Bearer s3cret", "Accept": "application/json"},
            resolve=PUBLIC,
        )
    assert seen[0].headers["authorization"] == "Bearer s3cret"
    assert "authorization" not in seen[1].headers
    assert seen[1].headers["accept"] == "application/json"
    assert str(seen[1].url) == "https://93.184.215.15/doc"


def test_client_defaults_do_not_leak_to_fetched_hosts() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    http = httpx.Client(
        transport=httpx.MockTransport(handler),
        trust_env=False,
        headers={"Authorization": "Bearer for-the-company-register"},
        cookies={"session": "abc"},
        auth=("user", "pw"),
    )
    with http:
        fetch("https://issuer.example/", client=http, policy=NetworkPolicy(), resolve=PUBLIC)
    assert "authorization" not in seen[0].headers
    assert "cookie" not in seen[0].headers


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (httpx.ReadTimeout("slow"), Code.NETWORK_TIMEOUT),
        (httpx.ConnectTimeout("slow"), Code.NETWORK_TIMEOUT),
        (httpx.ReadError("reset"), Code.NETWORK_ERROR),
        (httpx.RemoteProtocolError("garbage"), Code.NETWORK_ERROR),
        (httpx.ConnectError("tls: certificate verify failed"), Code.NETWORK_ERROR),
    ],
)
def test_httpx_errors_are_translated(exc: Exception, code: Code) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    with mock_client(handler) as http, pytest.raises(IndeterminateError) as err:
        fetch("https://issuer.example/", client=http, policy=NetworkPolicy(), resolve=PUBLIC)
    assert err.value.code is code
    assert err.value.__cause__ is None  # not chained: the httpx exception stays inside


def test_next_checked_address_is_tried_when_one_refuses() -> None:
    dns = FakeDns({"multi.example": ["93.184.215.14", "93.184.215.15"]})
    hosts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        if request.url.host == "93.184.215.14":
            raise httpx.ConnectError("refused")
        return httpx.Response(200, content=b"second")

    with mock_client(handler) as http:
        result = fetch("https://multi.example/", client=http, policy=NetworkPolicy(), resolve=dns)
    assert result.body == b"second"
    assert hosts == ["93.184.215.14", "93.184.215.15"]


# --------------------------------------------------------------------------------------
# HTTP cache helpers
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, CacheControl()),
        ("", CacheControl()),
        ("max-age=60", CacheControl(max_age=60)),
        ("public, MAX-AGE=120", CacheControl(max_age=120)),
        ('max-age="30"', CacheControl(max_age=30)),
        ("no-store", CacheControl(no_store=True)),
        ("No-Cache, max-age=5", CacheControl(max_age=5, no_cache=True)),
        ('no-cache="set-cookie"', CacheControl(no_cache=True)),
        ("max-age=abc", CacheControl(max_age=0)),  # invalid → stale, not "forever"
        ("max-age=-1", CacheControl(max_age=0)),
        ("max-age=10, max-age=20", CacheControl(max_age=0)),  # conflicting → stale
        ("max-age=10, max-age=10", CacheControl(max_age=10)),
        ("s-maxage=100", CacheControl()),  # shared caches only
        ("max-age=٣٠", CacheControl(max_age=0)),  # non-ASCII digits are not digits here
    ],
)
def test_parse_cache_control(value: str | None, expected: CacheControl) -> None:
    assert parse_cache_control(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('"abc"', '"abc"'),
        ('W/"v1"', 'W/"v1"'),
        (' "x" ', '"x"'),
        ('""', '""'),
        ("abc", None),
        ('"a"b"', None),
        ('"a b"', None),
        (None, None),
    ],
)
def test_parse_etag(value: str | None, expected: str | None) -> None:
    assert parse_etag(value) == expected


def test_freshness_rules() -> None:
    clock = FixedClock(T0)

    def fresh(headers: dict[str, str]) -> tuple[bool, timedelta, str | None]:
        f = freshness(headers, clock=clock, default_ttl=300, max_ttl=3600)
        return f.store, f.expires_at - T0, f.etag

    assert fresh({}) == (True, timedelta(seconds=300), None)
    assert fresh({"cache-control": "max-age=60", "etag": '"e"'}) == (
        True,
        timedelta(seconds=60),
        '"e"',
    )
    assert fresh({"cache-control": "max-age=99999"}) == (True, timedelta(seconds=3600), None)
    assert fresh({"cache-control": "max-age=60", "age": "50"}) == (
        True,
        timedelta(seconds=10),
        None,
    )
    assert fresh({"cache-control": "max-age=60", "age": "500"}) == (False, timedelta(0), None)
    assert fresh({"cache-control": "no-store, max-age=60", "etag": '"e"'}) == (
        False,
        timedelta(0),
        None,
    )
    assert fresh({"cache-control": "no-cache", "etag": '"e"'}) == (True, timedelta(0), '"e"')
    assert fresh({"cache-control": "no-cache"}) == (False, timedelta(0), None)
    f = freshness({"cache-control": "max-age=60"}, clock=clock, default_ttl=0, max_ttl=60)
    assert f.is_fresh(T0 + timedelta(seconds=59))
    assert not f.is_fresh(T0 + timedelta(seconds=60))


def test_no_network_turns_fetches_and_waits_into_would_block() -> None:
    """Inside `no_network()` (the verifier service's event loop), a fetch, or a wait on a
    trust-list refresh held by another thread, raises WouldBlock instead of blocking."""
    import threading

    from ancre.trust.clock import SystemClock
    from ancre.trust.did.resolvers import default_resolver
    from ancre.trust.net.guard import WouldBlock, may_block, no_network
    from ancre.trust.trust_list.client import TrustListClient

    assert may_block()
    with httpx.Client() as client, no_network():
        assert not may_block()
        with pytest.raises(WouldBlock):
            fetch("https://example.org/x", client=client, policy=NetworkPolicy())
    assert may_block()
    trust = TrustListClient(
        "https://registry.example/trust-list",
        registry="did:web:registry.example",
        resolver=default_resolver(),
        clock=SystemClock(),
        http_client=object(),
    )
    refreshing = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with trust._lock:
            refreshing.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    refreshing.wait(5)
    try:
        with no_network(), pytest.raises(WouldBlock):
            trust.current()
    finally:
        release.set()
        holder.join(5)
    with no_network(), pytest.raises(WouldBlock):
        trust.current()  # nothing cached: it would have to fetch


def test_pending_dns_lookups_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Look-ups abandoned at their deadline keep a thread until the resolver answers: past
    the bound, a new look-up fails at once instead of adding threads without end."""
    import threading

    from ancre.trust.net import guard as net

    monkeypatch.setattr(net, "_LOOKUP_SLOTS", threading.BoundedSemaphore(1))
    release = threading.Event()

    def stuck(host: str, port: int) -> list[Any]:
        release.wait(30)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port))]

    policy = NetworkPolicy(timeout=0.2)
    try:
        with pytest.raises(IndeterminateError) as first:
            check_url("https://a.example/", policy, stuck)
        assert first.value.code is Code.NETWORK_TIMEOUT
        with pytest.raises(IndeterminateError) as second:
            check_url("https://b.example/", policy, stuck)
        assert second.value.code is Code.NETWORK_ERROR
        assert "still pending" in second.value.message
    finally:
        release.set()


class _Body:
    """A request as `read_limited` sees it: headers and a stream of chunks."""

    def __init__(self, chunks: list[bytes], length: str | None = None) -> None:
        self.headers = {} if length is None else {"content-length": length}
        self._chunks = chunks
        self.read = 0

    async def stream(self) -> Any:
        for chunk in self._chunks:
            self.read += 1
            yield chunk


@pytest.mark.parametrize(
    ("chunks", "length", "expected", "read"),
    [
        ([b"ab", b"cd"], "4", b"abcd", 2),  # exactly the limit
        ([b"ab", b"cd"], None, b"abcd", 2),  # no declared length: counted while streaming
        ([b"abcde"], "5", None, 0),  # declared over the limit: refused unread
        ([b"ab"], "2x", None, 0),  # a length that is not a number
        ([b"ab", b"cd", b"ef", b"gh"], "2", None, 2),  # sends more than it declared
        ([b"abc", b"de", b"never"], None, None, 2),  # grows past the limit: stops there
        ([b"ab", b"cde"], "4", None, 2),  # lies about its length: stops at the limit
    ],
)
def test_read_limited_refuses_what_is_over_the_limit(
    chunks: list[bytes], length: str | None, expected: bytes | None, read: int
) -> None:
    import asyncio

    from ancre.trust.net.inbound import read_limited

    body = _Body(chunks, length)
    limit = 2 if length == "2" else 4
    assert asyncio.run(read_limited(body, limit)) == expected
    assert body.read == read
