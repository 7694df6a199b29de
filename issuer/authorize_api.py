"""The HTTP side of the authorization code grant (:mod:`ancre.issuer.authorize`).

:func:`authorization_routers` gives the routers :func:`ancre.issuer.api.create_app` mounts
when a user-authentication step is configured: the wallet's ``GET /authorize`` and the
provider's ``GET /login/callback``, and the bridge's pages (``/login``, ``/login/start``,
``/login/consent``; :mod:`ancre.issuer.pages`), and with operator approval its waiting page
(``/login/wait``; :mod:`ancre.issuer.operator_approval`). A request that cannot be tied to a checked
``redirect_uri`` is answered here (an error page, or JSON at ``/authorize``), never
redirected; a decision goes back to the wallet's ``redirect_uri``, or to the offer page for a
login started on the landing page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qs, parse_qsl, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ancre.issuer.api import (
    _NO_STORE,
    Served,
    _call,
    _error,
    _internal_error,
    _media_type,
    _single_valued,
)
from ancre.issuer.authorize import (
    Approved,
    AuthorizationServer,
    BrowserBinding,
    Redirect,
    Refused,
    UserAuthentication,
    WalletRedirect,
)
from ancre.issuer.delegation import STATUS_PATH as DELEGATION_PAGES
from ancre.issuer.delegation import delegation_router
from ancre.issuer.operator_approval import REFRESH_SECONDS, WAIT_PATH, OperatorApproval
from ancre.issuer.pages import CSS, choose_language, offer_qr_svg, render, security_headers
from ancre.issuer.service import IssuerError, internal_error
from ancre.issuer.templates import TEMPLATES, template
from ancre.trust.display import shown
from ancre.trust.errors import AncreError, Code, InternalError
from ancre.trust.net.inbound import read_limited

__all__ = ["LoginFlow", "authorization_routers"]

LANG_COOKIE: Final = "__Host-ancre-lang"


def _evidence_label(entry: Mapping[str, Any]) -> str:
    """What the consent page names a check by: its register, else its type (a delegation)."""
    register = entry.get("ancre:register")
    if register:
        return str(register)
    kind = entry.get("type")
    return str(kind[0] if isinstance(kind, list) and kind else kind)


@dataclass(frozen=True, slots=True)
class Posted:
    """A page's form, read and CSRF-checked (:meth:`LoginFlow.read_post`): the language
    its pages are in, its fields, and the browser it came from."""

    lang: str
    form: dict[str, str]
    browser: str


class LoginFlow:
    """What the authorization code routes share: the user-authentication step, the
    authorization server, the browser binding, and the pages' rendering."""

    def __init__(
        self, served: Served, authentication: UserAuthentication, code_flow: AuthorizationServer
    ) -> None:
        self.served = served
        self.authentication = authentication
        self.code_flow = code_flow
        self.issuer = code_flow.issuer
        self.binding = BrowserBinding(self.issuer)
        self.form_targets: tuple[str, ...] = tuple(getattr(authentication, "form_targets", ()))
        self.headers = security_headers(self.form_targets)
        configurations = getattr(authentication, "configurations", TEMPLATES)
        self.offered = [c for c in configurations if c in TEMPLATES]

    # -- the browser and its language ------------------------------------------------------

    def browser_of(self, request: Request) -> tuple[str, str | None]:
        found = self.binding.read(request.cookies.get(self.binding.cookie))
        if found is not None:
            return found, None
        return self.binding.new()

    def checked_browser(self, request: Request, form: dict[str, str]) -> str:
        browser = self.binding.read(request.cookies.get(self.binding.cookie))
        if browser is None or not self.binding.check_csrf(browser, form.get("csrf", "")):
            raise IssuerError(Code.CSRF_INVALID, "the form's CSRF token is missing or wrong", 403)
        return browser

    def returned(self, request: Request, what: str) -> tuple[str, dict[str, str]]:
        """A browser coming back from the provider (`what`: "login" or "logout"): its
        binding, which it must still carry, and the query's parameters, each once.
        Raises `login_state_invalid`, `invalid_request`, or `ValueError` for a malformed
        query."""
        browser = self.binding.read(request.cookies.get(self.binding.cookie))
        if browser is None:
            raise IssuerError(
                Code.LOGIN_STATE_INVALID, f"the {what} came back without its browser cookie"
            )
        pairs = parse_qsl(request.url.query, keep_blank_values=True, max_num_fields=16)
        return browser, _single_valued(pairs, "a parameter is repeated")

    @staticmethod
    def lang_of(request: Request, form: dict[str, str] | None = None) -> str:
        # The language chosen on the landing page outlives the trip to the provider in a
        # cookie (the provider's redirect back carries no `lang`).
        asked = (
            (form or {}).get("lang")
            or request.query_params.get("lang")
            or request.cookies.get(LANG_COOKIE)
        )
        return choose_language(asked, request.headers.get("accept-language"))

    async def read_form(self, request: Request) -> dict[str, str]:
        if _media_type(request) != "application/x-www-form-urlencoded":
            raise IssuerError(Code.INVALID_REQUEST, "a form is expected")
        raw = await read_limited(request, self.served.max_body)
        if raw is None:
            raise IssuerError(Code.INPUT_TOO_LARGE, "the form is too large", 413)
        try:
            pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=16)
        except (UnicodeDecodeError, ValueError):
            raise IssuerError(Code.INVALID_REQUEST, "the form is malformed") from None
        return _single_valued(pairs, "a form field is repeated")

    async def read_post(self, request: Request) -> Posted | Response:
        """A page's CSRF form, read in the order its refusals need: the language first (the
        error page for an unreadable form is in the query's or the cookie's), then the
        form and its language, then the browser binding and its CSRF token. The checked
        :class:`Posted`, or the error page to answer with."""
        lang = self.lang_of(request)
        try:
            form = await self.read_form(request)
            lang = self.lang_of(request, form)
            browser = self.checked_browser(request, form)
        except AncreError as error:
            return self.refused(error, lang)
        return Posted(lang, form, browser)

    def refused(self, error: AncreError, lang: str) -> Response:
        """The error page for a refusal: its code, and its status (400 unless it carries
        one). An `InternalError` is the issuer's fault, not the browser's: logged, 500."""
        if isinstance(error, InternalError):
            internal_error(error)
            return self.error_page(error.code, lang, 500)
        return self.error_page(error.code, lang, getattr(error, "status", 400))

    # -- pages -------------------------------------------------------------------------------

    def page(self, name: str, lang: str, status: int = 200, cookie: str | None = None,
             wallet: str = "", **context: Any) -> Response:  # fmt: skip
        """Render `name`; `wallet`: the wallet's ``redirect_uri`` the page's form may end at
        (CSP ``form-action`` applies to the redirect after a form, and browsers enforce it)."""
        body = render(name, lang, self.issuer.public_url, **context)
        source = _csp_source(wallet)
        headers = security_headers((*self.form_targets, source)) if source else self.headers
        response = HTMLResponse(body, status, headers=headers)
        if cookie is not None:
            response.headers.append("set-cookie", self.binding.header(cookie))
        return response

    def error_page(self, code: Code | str, lang: str, status: int = 400) -> Response:
        return self.page("error", lang, status, code=str(code))

    @staticmethod
    def label(configuration: str, lang: str) -> str:
        return str(template(configuration).display.get(lang, configuration))

    def consent(self, approved: Approved, request_id: str, configuration: str, browser: str,
                lang: str, wallet: str = "") -> Response:  # fmt: skip
        chosen = template(configuration)
        disclosable = {p[1:] for p in chosen.disclosable}

        # What will be signed, as the user may read it: hidden characters made visible,
        # mixed-script words flagged (`ancre.trust.display`).
        def text(value: Any) -> str:
            return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)

        claims = [
            (name, shown(text(value)), name in disclosable)
            for name, value in approved.claims.items()
        ]
        evidence = sorted({_evidence_label(e) for e in approved.authorization.evidence})
        # An SD-JWT VC carries the checks as one disclosable claim (SD_EVIDENCE_POINTER).
        evidence_disclosable = chosen.format == "dc+sd-jwt"
        return self.page(
            "consent", lang, csrf=self.binding.csrf(browser), request_id=request_id,
            credential_label=self.label(configuration, lang), claims=claims, evidence=evidence,
            evidence_disclosable=evidence_disclosable, wallet=wallet,
        )  # fmt: skip

    # -- decisions ---------------------------------------------------------------------------

    async def finish(self, back: WalletRedirect, lang: str, browser: str | None = None) -> Response:
        if not back.pages:
            return RedirectResponse(back.url, 303, headers=_NO_STORE)
        if back.refused is not None:
            return self.error_page(back.refused.code, lang)
        approved = back.approved
        if approved is None:  # pages: either refused or approved
            raise InternalError("a finished authorization is neither refused nor approved")
        # A pre-authorized offer with a tx_code: the page (the answer to a POST, never
        # cached) shows both once; a reload re-posts a spent request and gets an error.
        offer = await _call(
            lambda: self.issuer.create_offer(
                back.configuration_id, dict(approved.claims), authorization=approved.authorization,
                tx_code=True,
            )
        )  # fmt: skip
        uri = self.issuer.offer_uri(offer)
        expires = offer.expires_at.strftime("%H:%M UTC")
        # After the credential flow, a logout (RP-initiated) is offered, with its CSRF token.
        can_logout = browser is not None and hasattr(self.authentication, "logout")
        logout_csrf = self.binding.csrf(browser) if browser is not None and can_logout else None
        return self.page(
            "offer", lang, offer_uri=uri, expires=expires, logout_csrf=logout_csrf,
            tx_code=offer.tx_code, qr_svg=offer_qr_svg(uri, lang),
        )  # fmt: skip

    async def decided(self, outcome: Approved | Refused | Redirect, request_id: str,
                      browser: str, cookie: str | None, lang: str, *,
                      ask_consent: bool) -> Response:  # fmt: skip
        if isinstance(outcome, Redirect):
            response: Response = RedirectResponse(outcome.url, 303, headers=_NO_STORE)
        elif isinstance(outcome, Approved) and ask_consent:
            # After a login, the user sees exactly what will be signed before anything is.
            await _call(self.code_flow.hold, request_id, outcome, browser)
            pending = await _call(self.code_flow.pending, request_id)
            response = self.consent(outcome, request_id, pending.configuration_id, browser, lang,
                                    pending.redirect_uri)  # fmt: skip
        else:
            back = await _call(self.code_flow.complete, request_id, outcome, browser)
            response = await self.finish(back, lang, browser)
        if cookie is not None:
            response.headers.append("set-cookie", self.binding.header(cookie))
        return response


def _csp_source(uri: str) -> str:
    """A CSP source for a wallet's ``redirect_uri`` (already checked by
    :func:`ancre.issuer.authorize._check_redirect_uri`): its origin, or its private-use
    scheme; ``""`` for none, or for anything that could break out of the header."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if not re.fullmatch(r"[a-z][a-z0-9+.-]{0,63}", scheme):
        return ""
    if scheme not in ("http", "https"):
        return f"{scheme}:"
    if not re.fullmatch(r"[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?",
                        parts.netloc):  # fmt: skip
        return ""
    return f"{scheme}://{parts.netloc}"


def authorization_routers(flow: LoginFlow) -> tuple[APIRouter, ...]:
    """The login pages' router, then the wallet's and the provider's; with operator
    approval, the waiting page's."""
    routers = [_pages_router(flow), _redirects_router(flow)]
    if hasattr(flow.authentication, "logout"):
        routers.append(_logout_router(flow, flow.authentication))
    if isinstance(flow.authentication, OperatorApproval):
        routers.append(_waiting_router(flow, flow.authentication))
    if hasattr(flow.authentication, "start_approval"):
        routers.append(delegation_router(flow))
    return tuple(routers)


def _waiting_router(flow: LoginFlow, step: OperatorApproval) -> APIRouter:
    """Operator approval's waiting page (``GET /login/wait?login=ID``): the browser that
    started the login reloads it until the operator decides, then goes back to the wallet
    with a code or ``access_denied`` (or, for a login started on the landing page, to the
    offer page)."""
    router = APIRouter()

    @router.get(flow.served.prefix + WAIT_PATH)
    async def waiting(request: Request) -> Response:
        browser = flow.binding.read(request.cookies.get(flow.binding.cookie))
        lang = flow.lang_of(request)
        try:
            if browser is None:
                message = "the waiting page came without its browser cookie"
                raise IssuerError(Code.LOGIN_STATE_INVALID, message, 403)
            login_id = request.query_params.get("login", "")
            decided = await _call(step.poll, login_id, browser)
            if decided is None:
                return flow.page("waiting", lang, refresh=REFRESH_SECONDS, login_id=login_id)
            request_id, outcome = decided
            back = await _call(flow.code_flow.complete, request_id, outcome, browser)
            return await flow.finish(back, lang)
        except AncreError as error:
            return flow.refused(error, lang)

    return router


def _pages_router(flow: LoginFlow) -> APIRouter:
    """The bridge's own pages: the stylesheet, the landing page, starting a login from it,
    and the consent decision."""
    router = APIRouter()
    prefix, code_flow = flow.served.prefix, flow.code_flow

    @router.get(prefix + "/static/bridge.css")
    async def stylesheet() -> Response:
        return Response(CSS, media_type="text/css", headers={"Cache-Control": "max-age=3600"})

    if hasattr(flow.authentication, "jwks"):

        @router.get(prefix + "/login/jwks.json")
        async def client_jwks() -> Response:
            # The public keys the providers check private_key_jwt assertions with (the
            # `jwks_uri` registered with them).
            bridge: Any = flow.authentication
            body = json.dumps(bridge.jwks, separators=(",", ":"))
            return Response(body, media_type="application/json",
                            headers={"Cache-Control": "max-age=300"})  # fmt: skip

    @router.get(prefix + "/login")
    async def landing(request: Request) -> Response:
        browser, cookie = flow.browser_of(request)
        lang = flow.lang_of(request)
        configurations = [(c, flow.label(c, lang)) for c in flow.offered]
        # Operator approval is not a ProConnect login: the page must not offer one.
        operator = isinstance(flow.authentication, OperatorApproval)
        providers = getattr(flow.authentication, "providers", ())
        return flow.page("landing", lang, cookie=cookie, csrf=flow.binding.csrf(browser),
                         configurations=configurations, operator=operator,
                         providers=providers)  # fmt: skip

    @router.post(prefix + "/login/start")
    async def start(request: Request) -> Response:
        posted = await flow.read_post(request)
        if isinstance(posted, Response):
            return posted
        lang, form, browser = posted.lang, posted.form, posted.browser
        try:
            configuration = form.get("configuration", "")
            if configuration not in flow.offered:
                raise IssuerError(Code.UNKNOWN_CREDENTIAL_CONFIGURATION, "no such credential")
            # Several providers: the button pressed names one (the bridge refuses others).
            provider = form.get("provider")
            if provider is not None and not hasattr(flow.authentication, "providers"):
                raise IssuerError(Code.INVALID_REQUEST, "this issuer has no login provider")
            pending = await _call(code_flow.begin_page, configuration, browser)
            if provider is None:
                outcome = await _call(flow.authentication.start, pending, browser)
            else:
                start: Any = flow.authentication.start
                outcome = await _call(start, pending, browser, provider[:64])
            response = await flow.decided(outcome, pending.id, browser, None, lang,
                                          ask_consent=True)  # fmt: skip
        except AncreError as error:
            return flow.refused(error, lang)
        response.headers.append("set-cookie", f"{LANG_COOKIE}={lang}; Path=/; Secure; SameSite=Lax")
        return response

    if hasattr(flow.authentication, "providers"):
        _provider_choice(router, flow)

    @router.post(prefix + "/login/consent")
    async def consent_decision(request: Request) -> Response:
        posted = await flow.read_post(request)
        if isinstance(posted, Response):
            return posted
        lang, form, browser = posted.lang, posted.form, posted.browser
        try:
            request_id = form.get("request", "")
            if not request_id or len(request_id) > 64:
                raise IssuerError(Code.INVALID_REQUEST, "no request")
            decision = form.get("decision")
            outcome: Approved | Refused
            if decision == "accept":
                outcome = await _call(code_flow.held, request_id, browser)
            elif decision == "refuse":
                outcome = Refused(Code.CONSENT_REFUSED, "the user declined")
            else:
                raise IssuerError(Code.INVALID_REQUEST, "no decision")
            back = await _call(code_flow.complete, request_id, outcome, browser)
            return await flow.finish(back, lang, browser)
        except AncreError as error:
            return flow.refused(error, lang)

    return router


def _provider_choice(router: APIRouter, flow: LoginFlow) -> None:
    """With several providers, a wallet's request waits on a page listing them
    (``GET /login/choose?request=ID``); the button pressed starts that provider's login
    (``POST /login/provider``, CSRF form). The request stays bound to its browser: it is
    completed only there (:meth:`AuthorizationServer.complete`)."""
    prefix, code_flow = flow.served.prefix, flow.code_flow
    bridge: Any = flow.authentication

    @router.get(prefix + "/login/choose")
    async def choose(request: Request) -> Response:
        lang = flow.lang_of(request)
        try:
            browser = flow.binding.read(request.cookies.get(flow.binding.cookie))
            if browser is None:
                message = "the provider choice came without its browser cookie"
                raise IssuerError(Code.LOGIN_STATE_INVALID, message, 403)
            request_id = request.query_params.get("request", "")
            if not request_id or len(request_id) > 64:
                raise IssuerError(Code.INVALID_REQUEST, "no request")
            pending = await _call(code_flow.pending, request_id)
        except AncreError as error:
            return flow.refused(error, lang)
        return flow.page(
            "choose", lang, csrf=flow.binding.csrf(browser), request_id=request_id,
            credential_label=flow.label(pending.configuration_id, lang),
            providers=bridge.providers, wallet=pending.redirect_uri,
        )  # fmt: skip

    @router.post(prefix + "/login/provider")
    async def chosen(request: Request) -> Response:
        posted = await flow.read_post(request)
        if isinstance(posted, Response):
            return posted
        lang, form, browser = posted.lang, posted.form, posted.browser
        try:
            request_id, provider = form.get("request", ""), form.get("provider", "")
            if not request_id or len(request_id) > 64 or not provider or len(provider) > 64:
                raise IssuerError(Code.INVALID_REQUEST, "no request or no provider")
            pending = await _call(code_flow.pending, request_id)
            outcome = await _call(bridge.start, pending, browser, provider)
            return await flow.decided(outcome, request_id, browser, None, lang, ask_consent=False)
        except AncreError as error:
            return flow.refused(error, lang)


def _redirects_router(flow: LoginFlow) -> APIRouter:
    """Where browsers are sent: the wallet's authorization request (``GET /authorize``) and
    the provider's redirect back (``GET /login/callback``)."""
    router = APIRouter()
    prefix, code_flow = flow.served.prefix, flow.code_flow

    @router.get(prefix + "/authorize")
    async def authorize(request: Request) -> Response:
        browser, cookie = flow.browser_of(request)
        try:
            params = parse_qs(request.url.query, keep_blank_values=True, max_num_fields=32)
            pending = await _call(code_flow.begin, params, browser)
            outcome = await _call(flow.authentication.start, pending, browser)
            return await flow.decided(
                outcome, pending.id, browser, cookie, flow.lang_of(request), ask_consent=False
            )
        except InternalError as error:
            return _internal_error(error)
        except AncreError as error:
            return _error(error.code, error.message, getattr(error, "status", 400))
        except ValueError:
            return _error(Code.INVALID_REQUEST, "the query is malformed")

    @router.get(prefix + "/login/callback")
    async def login_callback(request: Request) -> Response:
        lang = flow.lang_of(request)
        try:
            browser, params = flow.returned(request, "login")
            request_id, outcome = await _call(flow.authentication.resume, params, browser)
            if isinstance(outcome, Redirect):
                # Only to the issuer's own delegation pages (a delegation request's, or a
                # director's decision): never to another site.
                pages = flow.issuer.public_url + DELEGATION_PAGES
                if not outcome.url.startswith((pages + "?", pages + "/")):
                    raise IssuerError(Code.INVALID_REQUEST, "a login may not redirect twice")
                return RedirectResponse(outcome.url, 303, headers=_NO_STORE)
            return await flow.decided(outcome, request_id, browser, None, lang, ask_consent=True)
        except AncreError as error:
            return flow.refused(error, lang)
        except ValueError:
            return flow.error_page(Code.INVALID_REQUEST, lang)

    return router


def _logout_router(flow: LoginFlow, step: Any) -> APIRouter:
    """RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): ``POST /login/logout``
    (CSRF form) sends the browser to the provider's ``end_session_endpoint``, or ends
    ancre's own session only and says so; ``GET /login/logged-out`` is the registered
    ``post_logout_redirect_uri`` the provider sends it back to (``state`` checked)."""
    router = APIRouter()
    prefix = flow.served.prefix
    # The browser binding ends with the logout (ancre's own session).
    cleared = f"{flow.binding.cookie}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax"

    @router.post(prefix + "/login/logout")
    async def logout(request: Request) -> Response:
        posted = await flow.read_post(request)
        if isinstance(posted, Response):
            return posted
        lang = posted.lang
        try:
            url = await _call(step.logout, posted.browser)
        except AncreError as error:
            return flow.refused(error, lang)
        if url is not None:
            return RedirectResponse(url, 303, headers=_NO_STORE)
        response = flow.page("logged_out", lang, local_only=True)
        response.headers.append("set-cookie", cleared)
        return response

    @router.get(prefix + "/login/logged-out")
    async def logged_out(request: Request) -> Response:
        lang = flow.lang_of(request)
        try:
            browser, params = flow.returned(request, "logout")
            await _call(step.logged_out, params, browser)
        except AncreError as error:
            return flow.refused(error, lang)
        except ValueError:
            return flow.error_page(Code.INVALID_REQUEST, lang)
        response = flow.page("logged_out", lang, local_only=False)
        response.headers.append("set-cookie", cleared)
        return response

    return router
