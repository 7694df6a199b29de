"""CSRF on every state-changing page and clickjacking headers on every page of the issuer
(issue 17). The routes are enumerated from the app, so a page added later is covered."""

from __future__ import annotations

import httpx
import pytest
from _sec_issuer import (
    Served,
    browser_session,
    get_routes,
    page_error_code,
    post_routes,
    served_issuer,
)

#: POST routes a browser's cookie does not authorize: OAuth/OpenID4VCI endpoints (a form
#: grant, a Bearer token or nothing), the admin API and the VC-API (a Bearer key). A
#: cross-site form can reach them but carries none of those credentials.
NOT_COOKIE_AUTHENTICATED = {
    "/token",
    "/nonce",
    "/credential",
    "/deferred_credential",
    "/notification",
    "/admin/credentials/x/status",
    "/credentials/issue",
    "/credentials/status",
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> object:
    with served_issuer(tmp_path_factory.mktemp("csrf") / "issuer") as running:
        yield running


@pytest.fixture
def http() -> object:
    with httpx.Client(trust_env=False, timeout=10) as client:
        yield client


def _pages(served: Served) -> list[str]:
    return [p for p in post_routes(served.app) if p not in NOT_COOKIE_AUTHENTICATED]


def test_every_cookie_authenticated_post_refuses_a_missing_or_wrong_csrf_token(
    served: Served, http: httpx.Client
) -> None:
    pages = _pages(served)
    # The enumeration found the bridge's forms (a route renamed does not silently drop out).
    assert {"/login/start", "/login/consent", "/login/provider", "/login/logout",
            "/login/delegation/login", "/login/delegation/decide",
            "/login/delegation/role"} <= set(pages)  # fmt: skip
    # Every non-page POST route is one we classified on purpose.
    assert set(post_routes(served.app)) - set(pages) == NOT_COOKIE_AUTHENTICATED
    cookie, csrf = browser_session(http, served.url)
    other_cookie, other_csrf = browser_session(http, served.url)
    form = {"configuration": "LegalPerson", "request": "r", "decision": "accept",
            "provider": "one", "code": "c", "delegation": "d"}  # fmt: skip
    for path in pages:
        attempts = {
            "no token": ({"Cookie": cookie}, form),
            "wrong token": ({"Cookie": cookie}, {**form, "csrf": "A" * len(csrf)}),
            "another browser's token": ({"Cookie": cookie}, {**form, "csrf": other_csrf}),
            "no cookie": ({}, {**form, "csrf": csrf}),
            "token of the cookie, cookie of another": ({"Cookie": other_cookie},
                                                        {**form, "csrf": csrf}),
        }  # fmt: skip
        for why, (headers, data) in attempts.items():
            response = http.post(served.url + path, data=data, headers=headers)
            assert response.status_code == 403, (path, why, response.text[:300])
            assert page_error_code(response) == "csrf_invalid", (path, why)
    # Nothing behind the forms ran.
    assert served.authentication.calls == []
    # And the token does work: the check is not refusing everything.
    ok = http.post(f"{served.url}/login/start", headers={"Cookie": other_cookie},
                   data={"configuration": "LegalPerson", "csrf": other_csrf,
                         "provider": "one"})  # fmt: skip
    assert served.authentication.calls == ["start"], page_error_code(ok)


def test_every_page_forbids_framing(served: Served, http: httpx.Client) -> None:
    cookie, _ = browser_session(http, served.url)
    html = 0
    for path in get_routes(served.app):
        for headers in ({}, {"Cookie": cookie}):
            response = http.get(served.url + path, headers=headers)
            if not response.headers.get("content-type", "").startswith("text/html"):
                continue
            html += 1
            csp = response.headers.get("content-security-policy", "")
            assert "frame-ancestors 'none'" in csp, (path, csp)
            assert response.headers.get("x-frame-options") == "DENY", path
    # Error pages of the form routes too.
    for path in _pages(served):
        response = http.post(served.url + path, data={})
        assert response.headers["content-type"].startswith("text/html"), path
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert response.headers.get("x-frame-options") == "DENY", path
        html += 1
    assert html >= 15, html


def test_every_form_refusal_page_is_in_the_language_asked_for(
    served: Served, http: httpx.Client
) -> None:
    # The pages are French unless asked otherwise. A body that is not a form has no `lang`
    # to read: its error page is in the query's language. A form refused for its CSRF token
    # was read first: its page is in the form's language.
    cookie, _ = browser_session(http, served.url)
    calls = list(served.authentication.calls)
    for path in _pages(served):
        unreadable = http.post(
            served.url + path + "?lang=en",
            content=b'{"lang": "fr"}',
            headers={"Cookie": cookie, "Content-Type": "application/json"},
        )
        assert unreadable.status_code == 400, (path, unreadable.text[:300])
        assert page_error_code(unreadable) == "invalid_request", path
        assert '<html lang="en">' in unreadable.text, path
        refused = http.post(
            served.url + path, data={"lang": "en", "csrf": "A" * 43}, headers={"Cookie": cookie}
        )
        assert refused.status_code == 403, (path, refused.text[:300])
        assert page_error_code(refused) == "csrf_invalid", path
        assert '<html lang="en">' in refused.text, path
        french = http.post(served.url + path, data={"csrf": "A"}, headers={"Cookie": cookie})
        assert '<html lang="fr">' in french.text, path
    assert served.authentication.calls == calls  # nothing behind the forms ran
