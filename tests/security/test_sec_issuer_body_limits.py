"""Body size limits on every endpoint (issue 17, abuse limits): an oversized body posted to
every POST route of the issuer's, the verifier's and the registry's app — routes enumerated
from each app — is refused with 413 and a stable code, never read into memory, never a 5xx.

A declared `Content-Length` over the limit is refused by `ancre.storage.abuse.AbuseGuard`
before any route runs; a chunked body (no length) is cut as soon as it passes the guard's
limit or a route's own. The refusal is an RFC 9457 problem `input_too_large`, except on the
OAuth endpoints, whose specs fix the error body (`{"error": "invalid_request" |
"invalid_credential_request" | …}`, RFC 6749 §5.2, OpenID4VCI §8.3.1.2). Routes that
authenticate a Bearer key before reading anything refuse an unauthenticated chunked body
with 401 `unauthorized`, unread."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _asgi_server import serve
from _sec_issuer import page_error_code, post_routes, served_issuer
from _support import NOW
from test_openid4vp import _settings

from ancre.trust.clock import FixedClock
from ancre.verifier.service import VerifierSettings
from ancre.verifier.service import create_app as verifier_app

#: Larger than every limit of every service (the largest is the verifier's 1 MiB).
OVERSIZED = 2 * 1024 * 1024 + 1
#: The OAuth endpoints answer in their spec's error format.
OAUTH = {
    "/token": "invalid_request",
    "/credential": "invalid_credential_request",
    "/deferred_credential": "invalid_credential_request",
    "/notification": "invalid_notification_request",
    # The verifier's wallet-facing OpenID4VP endpoints (OpenID4VP 1.0 §8.2 uses RFC 6749's).
    "/openid4vp/responses/x": "invalid_request",
    "/openid4vp/request-objects/x": "invalid_request",
}


def _problem_code(response: httpx.Response) -> str:
    assert response.headers["content-type"].split(";")[0] in (
        "application/problem+json",
        "application/json",  # the VC-API's verify endpoints: RFC 9457 members, its media type
    ), response.headers["content-type"]
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:ancre:error:{body['code']}"
    assert body["status"] == 413
    return str(body["code"])


def _refused(url: str, path: str, *, chunked: bool) -> httpx.Response:
    content: Any
    if chunked:

        def stream() -> Iterator[bytes]:
            for _ in range(OVERSIZED // 65536 + 1):
                yield b"a" * 65536

        content = stream()
    else:
        content = b"a" * OVERSIZED
    with httpx.Client(trust_env=False, timeout=30) as http:
        try:
            form = path == "/token" or path.startswith("/login/")
            media = "application/x-www-form-urlencoded" if form else "application/json"
            return http.post(url + path, content=content, headers={"Content-Type": media})
        except (httpx.RemoteProtocolError, httpx.WriteError) as error:
            # The server answered and closed while the body was still being sent.
            raise AssertionError(f"{path}: no answer read ({error})") from error


#: Routes that authenticate the caller (a Bearer key or access token) before reading a
#: body, and their refusal's code.
KEY_FIRST = {
    "/admin/": "unauthorized",
    "/credentials/issue": "unauthorized",
    "/credentials/status": "unauthorized",
    "/credential": "invalid_token",
    "/deferred_credential": "invalid_token",
    "/notification": "invalid_token",
}


def _key_first(path: str) -> str | None:
    for prefix, code in KEY_FIRST.items():
        if path == prefix or (prefix.endswith("/") and path.startswith(prefix)):
            return code
    return None


def _check_every_route(url: str, paths: list[str], *, chunked: bool = False) -> None:
    assert paths
    for path in paths:
        response = _refused(url, path, chunked=chunked)
        if chunked and path == "/nonce":
            # The nonce endpoint reads no body: the server drains it, nothing keeps it.
            assert response.status_code == 200, response.text[:200]
            continue
        unread = _key_first(path)
        if chunked and unread is not None:
            assert response.status_code == 401, (path, response.text[:200])
            body = response.json()
            assert body.get("code", body.get("error")) == unread, path
            continue
        assert response.status_code == 413, (path, response.status_code, response.text[:200])
        if response.headers["content-type"].startswith("text/html"):  # a login page's form
            assert chunked, path
            assert path.startswith("/login/"), path
            assert page_error_code(response) == "input_too_large", path
        elif path in OAUTH:
            assert response.json()["error"] == OAUTH[path], path
        else:
            assert _problem_code(response) == "input_too_large", path


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_every_issuer_post_route_refuses_an_oversized_body(tmp_path: Path, chunked: bool) -> None:
    with served_issuer(tmp_path / "issuer") as served:
        _check_every_route(served.url, post_routes(served.app), chunked=chunked)


def test_every_verifier_post_route_refuses_an_oversized_body() -> None:
    settings = VerifierSettings(clock=FixedClock(NOW), openid4vp=_settings(), no_trust_check=True)
    app = verifier_app(settings)
    with serve(app) as url:
        _check_every_route(url, post_routes(app))


def test_every_registry_post_route_refuses_an_oversized_body(tmp_path: Path) -> None:
    from _sec_registry import registry_for

    from ancre.registry.api import create_app

    with registry_for(f"sqlite:///{tmp_path / 'r.db'}") as setup:
        app = create_app(setup.registry, signer=setup.key.key)
        with serve(app) as url:
            _check_every_route(url, post_routes(app))
