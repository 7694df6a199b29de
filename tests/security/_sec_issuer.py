"""Shared set-up for the issuer, login-bridge and wallet attack tests (issue 17): an issuer
whose app has every route the login bridge can add (pages, provider choice, logout,
delegation), served on loopback over plain HTTP."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from _asgi_server import serve
from _issuer_support import make_issuer

from ancre.issuer.api import IssuerSettings, create_app
from ancre.issuer.authorize import Outcome, PendingAuthorization, Refused
from ancre.issuer.delegation import Delegations
from ancre.issuer.service import Issuer, IssuerError
from ancre.issuer.vc_api import VcApiSettings
from ancre.trust.errors import Code

#: The port in the issuer's DID and public URL; the app itself is served on any port.
PUBLIC_PORT = 8443


class EveryRouteAuthentication:
    """A user-authentication step with every optional member the app looks for
    (``providers``, ``logout``, ``start_approval``, ``jwks``): the app then has all its
    routes. It refuses everything it is asked: the attacks below must be stopped before."""

    providers = (("one", "One", False),)
    jwks: Mapping[str, Any] = {"keys": []}
    form_targets = ("https://op.example",)

    def __init__(self, issuer: Issuer) -> None:
        self.delegations = Delegations(issuer)
        self.calls: list[str] = []

    def start(self, pending: PendingAuthorization, browser: str, provider: str = "") -> Outcome:
        self.calls.append("start")
        return Refused(Code.AUTHORIZATION_INSUFFICIENT, "refused by the test step")

    def resume(self, params: Mapping[str, str], browser: str) -> tuple[str, Outcome]:
        self.calls.append("resume")
        raise IssuerError(Code.LOGIN_STATE_INVALID, "no login is pending in these tests")

    def logout(self, browser: str) -> str | None:
        self.calls.append("logout")
        return None

    def logged_out(self, params: Mapping[str, str], browser: str) -> None:
        self.calls.append("logged_out")
        raise IssuerError(Code.LOGIN_STATE_INVALID, "no logout is pending in these tests")

    def start_approval(self, code: str, browser: str, provider: str | None = None) -> str:
        self.calls.append("start_approval")
        return "https://op.example/authorize"


@dataclass
class Served:
    issuer: Issuer
    app: Any
    url: str
    authentication: EveryRouteAuthentication


@contextmanager
def served_issuer(directory: Path, **settings: Any) -> Iterator[Served]:
    issuer = make_issuer(directory, PUBLIC_PORT)
    authentication = EveryRouteAuthentication(issuer)
    settings.setdefault("vc_api", VcApiSettings())
    app = create_app(IssuerSettings(issuer, authentication=authentication, **settings))
    with serve(app) as url:
        yield Served(issuer, app, url, authentication)


def browser_session(http: httpx.Client, url: str) -> tuple[str, str]:
    """The landing page's browser cookie (``name=value``) and its form's CSRF token."""
    page = http.get(f"{url}/login")
    assert page.status_code == 200, page.text
    cookie = page.headers["set-cookie"].split(";", 1)[0]
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return cookie, found.group(1)


def page_error_code(page: httpx.Response) -> str:
    found = re.search(r'id="error-code">([a-z_]+)<', page.text)
    assert found is not None, page.text[:500]
    return found.group(1)


def routes(app: Any, method: str) -> list[str]:
    """Every `method` path of `app` (path parameters filled with ``x``), from its OpenAPI
    document (FastAPI lists every route there unless told not to; see `hidden_routes`)."""
    paths = app.openapi()["paths"]
    return sorted(
        re.sub(r"\{[^}]+\}", "x", path)
        for path, operations in paths.items()
        if method.lower() in operations
    )


def post_routes(app: Any) -> list[str]:
    return routes(app, "post")


def get_routes(app: Any) -> list[str]:
    return routes(app, "get")
