"""A malicious issuer against the wallet (issue 17): metadata that redirects to an internal
address or to another issuer's document, oversized answers, a POST endpoint that redirects.
The wallet's HTTP layer (`ancre.wallet.http.Http`) is what every offer, metadata and
credential exchange goes through; a real loopback server plays the issuer.

Elsewhere: an offer naming an internal address (`tests/test_wallet_flow.py::
test_hostile_offers_are_refused`, `url_not_allowed`), a credential bound to another holder
(`tests/test_wallet_present.py::test_a_credential_for_someone_else_is_refused`,
`credential_refused`), an archive naming `../` paths (`tests/test_wallet_org_archive.py`,
`archive_invalid`)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import httpx
import pytest
from _http_server import LoopbackServer, Route, running_server

from ancre.trust.errors import AncreError, Code
from ancre.wallet.http import MAX_RESPONSE_BYTES, Http, network_policy
from ancre.wallet.oid4vci import _issuer_metadata, parse_offer

WELL_KNOWN = "/.well-known/openid-credential-issuer"


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with running_server() as running:
        yield running


@pytest.fixture
def http() -> Iterator[Http]:
    with httpx.Client(trust_env=False, follow_redirects=False) as client:
        yield Http(client, network_policy(insecure_loopback=True))


def _offer(base: str) -> object:
    return parse_offer(
        {"credential_issuer": base, "credential_configuration_ids": ["X"],
         "grants": {"urn:ietf:params:oauth:grant-type:pre-authorized_code":
                    {"pre-authorized_code": "c"}}}
    )  # fmt: skip


def _code(call: object) -> str:
    assert callable(call)
    with pytest.raises(AncreError) as refused:
        call()
    return str(refused.value.code)


@pytest.mark.parametrize(
    "target",
    ["http://169.254.169.254/latest/meta-data", "http://10.0.0.1/x", "http://[::ffff:10.0.0.1]/"],
)
def test_metadata_redirecting_to_an_internal_address_is_refused(
    server: LoopbackServer, http: Http, target: str
) -> None:
    server.routes[WELL_KNOWN] = Route(status=302, headers={"Location": target})
    offer = _offer(server.base)
    assert _code(lambda: _issuer_metadata(offer, http)) == Code.URL_NOT_ALLOWED  # type: ignore[arg-type]


def test_metadata_redirecting_to_another_issuers_document_is_refused(
    server: LoopbackServer, http: Http
) -> None:
    """A redirect the guard allows still cannot make the wallet take another issuer's
    metadata for this one's (OpenID4VCI §12.2.4)."""
    other = {"credential_issuer": "https://other.example", "credential_endpoint": "x"}
    server.routes["/elsewhere"] = Route(body=json.dumps(other).encode(),
                                        headers={"Content-Type": "application/json"})  # fmt: skip
    server.routes[WELL_KNOWN] = Route(status=302, headers={"Location": "/elsewhere"})
    offer = _offer(server.base)
    assert _code(lambda: _issuer_metadata(offer, http)) == Code.OFFER_INVALID  # type: ignore[arg-type]


def test_oversized_metadata_is_refused(server: LoopbackServer, http: Http) -> None:
    server.routes[WELL_KNOWN] = Route(body=b"{" + b" " * (MAX_RESPONSE_BYTES + 10) + b"}",
                                      headers={"Content-Type": "application/json"})  # fmt: skip
    code = _code(lambda: http.get(server.base + WELL_KNOWN))
    assert code in (Code.INPUT_TOO_LARGE, Code.RESPONSE_TOO_LARGE)


class _PostHandler(BaseHTTPRequestHandler):
    """A credential endpoint: `/huge` answers more than the wallet reads, `/redirect`
    answers 307 to an internal address, `/target` counts hits."""

    hits: ClassVar[list[str]] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        _PostHandler.hits.append(self.path)
        if self.path == "/huge":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            try:
                chunk = b" " * 65536
                for _ in range(MAX_RESPONSE_BYTES // len(chunk) + 4):
                    self.wfile.write(chunk)
            except OSError:
                pass  # the wallet hung up: what we want
            return
        self.send_response(307)
        self.send_header("Location", f"http://127.0.0.1:{self.server.server_address[1]}/target")
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def post_server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _PostHandler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    _PostHandler.hits = []
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_an_oversized_credential_response_is_refused(post_server: str, http: Http) -> None:
    code = _code(lambda: http.post(post_server + "/huge", json_body={"x": 1}))
    assert code == Code.RESPONSE_TOO_LARGE


def test_a_post_endpoint_redirect_is_not_followed(post_server: str, http: Http) -> None:
    answer = http.post(post_server + "/redirect", json_body={"proof": "secret"})
    assert answer.status == 307
    # The credential request (with its proof and access token) went nowhere else.
    assert _PostHandler.hits == ["/redirect"]
