"""Open redirects through the login bridge (issue 17). The issuer sends browsers to three
kinds of places: the wallet's `redirect_uri` (checked before anything else and never
redirected to while unchecked), the provider (from the bridge's own configuration), and
its own delegation pages (a provider's return may not send the browser anywhere else).
`post_logout_redirect_uri` is never taken from the request: the registered one is sent to
the provider (`tests/test_bridge_login.py::
test_logout_ignores_a_redirect_uri_from_the_request_and_is_single_use`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import pytest
from _sec_issuer import EveryRouteAuthentication, Served, page_error_code, served_issuer

from ancre.issuer.authorize import Outcome, Redirect

CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
GOOD = {
    "response_type": "code",
    "client_id": "wallet",
    "code_challenge": CHALLENGE,
    "code_challenge_method": "S256",
    "scope": "LegalPerson",
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with served_issuer(tmp_path_factory.mktemp("redirects") / "issuer") as running:
        yield running


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=10, follow_redirects=False) as client:
        yield client


@pytest.mark.parametrize(
    "uri",
    [
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "http://evil.example/cb",  # http only on loopback
        "https://wallet.example/cb#frag",
        "//evil.example/cb",  # scheme-relative
        "https:///cb",
        "",
    ],
)
def test_an_unacceptable_redirect_uri_is_refused_without_redirecting(
    served: Served, http: httpx.Client, uri: str
) -> None:
    response = http.get(f"{served.url}/authorize", params={**GOOD, "redirect_uri": uri})
    assert response.status_code == 400, response.text
    assert "location" not in response.headers
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    "broken",
    [
        {"code_challenge_method": "plain"},
        {"code_challenge": "short"},
        {"response_type": "token"},
        {"scope": "NoSuchCredential"},
    ],
)
def test_a_refused_request_never_redirects_to_its_redirect_uri(
    served: Served, http: httpx.Client, broken: dict[str, str]
) -> None:
    """RFC 6749 §4.1.2.1 lets a server redirect errors to a valid redirect URI; a public
    client's URI is unregistered, so the bridge answers the error itself."""
    params = {**GOOD, "redirect_uri": "https://evil.example/cb", **broken}
    response = http.get(f"{served.url}/authorize", params=params)
    assert response.status_code == 400, response.text
    assert "location" not in response.headers
    assert response.json()["error"] in ("invalid_request", "invalid_scope",
                                        "unknown_credential_configuration")  # fmt: skip


class _Redirecting(EveryRouteAuthentication):
    """A step whose provider return asks to send the browser somewhere."""

    target = "https://evil.example/phish"

    def resume(self, params: Mapping[str, str], browser: str) -> tuple[str, Outcome]:
        return "request", Redirect(self.target)


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/phish",
        "https://localhost:8443.evil.example/login/delegation?id=1",
        "https://localhost:8443/login/delegationX",  # a prefix of the real path only
        "https://localhost:8443/authorize?redirect_uri=https://evil.example",
    ],
)
def test_a_provider_return_cannot_redirect_off_the_delegation_pages(
    tmp_path: Path, http: httpx.Client, target: str
) -> None:
    from _asgi_server import serve
    from _issuer_support import make_issuer
    from _sec_issuer import PUBLIC_PORT, browser_session

    import ancre.issuer.api as api

    issuer = make_issuer(tmp_path / "issuer", PUBLIC_PORT)
    step = _Redirecting(issuer)
    step.target = target
    with serve(api.create_app(api.IssuerSettings(issuer, authentication=step))) as url:
        cookie, _ = browser_session(http, url)
        response = http.get(f"{url}/login/callback?code=x&state=y", headers={"Cookie": cookie})
    assert response.status_code == 400, response.text[:300]
    assert "location" not in response.headers
    assert page_error_code(response) == "invalid_request"
