"""The issuer's HTTP service: did:web document, status lists, OpenID4VCI 1.0 endpoints.

:func:`create_app` builds the FastAPI app around an :class:`~ancre.issuer.service.Issuer`;
nothing runs at import. Endpoints that touch the database run in the thread pool. Every
request body is read with a size limit and parsed strictly; every refusal is the spec's
``{"error", "error_description"}`` with its HTTP status (OpenID4VCI 1.0 §6.3, §8.3.1.2;
RFC 6749 §5.2; RFC 6750 §3.1 for ``invalid_token``), never a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeVar
from urllib.parse import parse_qs, parse_qsl, urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from ancre.issuer.authorize import (
    AUTHORIZATION_CODE_GRANT,
    BROWSER_COOKIE,
    Approved,
    AuthorizationServer,
    BrowserBinding,
    Redirect,
    Refused,
    UserAuthentication,
)
from ancre.issuer.oid4vci import (
    authorization_server_metadata,
    check_proof,
    credential_issuer_metadata,
    parse_credential_request,
)
from ancre.issuer.service import PRE_AUTHORIZED_GRANT, AccessGrant, Issuer, IssuerError
from ancre.trust.codec.json import loads_strict
from ancre.trust.did.web import did_web_to_url
from ancre.trust.errors import AncreError, Code, ConfigurationError, InternalError

if TYPE_CHECKING:
    from ancre.issuer.vc_api import VcApiSettings

__all__ = ["IssuerSettings", "create_app"]

_T = TypeVar("_T")
_NO_STORE: Final = {"Cache-Control": "no-store"}
MAX_BODY_BYTES: Final = 64 * 1024


@dataclass(frozen=True, slots=True)
class IssuerSettings:
    """What the app serves: one issuer, and the request body limit. `vc_api`: the VC-API
    for machine clients (``ancre.issuer.vc_api``), off when None."""

    issuer: Issuer
    max_body_bytes: int = MAX_BODY_BYTES
    vc_api: VcApiSettings | None = None
    #: The user-authentication step of the authorization code grant (the login bridge, or a
    #: test one); None: only the pre-authorized code grant is offered.
    authentication: UserAuthentication | None = None


def _error(code: Code | str, description: str, status: int = 400) -> JSONResponse:
    headers = dict(_NO_STORE)
    if code == Code.INVALID_TOKEN:
        headers["WWW-Authenticate"] = f'Bearer error="{Code.INVALID_TOKEN}"'
    return JSONResponse(
        {"error": str(code), "error_description": description}, status, headers=headers
    )


async def _read_body(request: Request, limit: int) -> bytes | None:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _did_path(did: str) -> str:
    return urlsplit(did_web_to_url(did)).path


def create_app(settings: IssuerSettings) -> FastAPI:
    """The issuer API for `settings.issuer`."""
    issuer = settings.issuer
    base = issuer.public_url
    prefix = urlsplit(base).path.rstrip("/")
    limits = issuer.config.limits
    app = FastAPI(title="ancre issuer", version="1", description="OpenID4VCI 1.0 issuer.")
    code_flow = AuthorizationServer(issuer) if settings.authentication is not None else None

    async def call(fn: Callable[..., _T], *args: Any) -> _T:
        return await run_in_threadpool(fn, *args)

    async def guarded(fn: Callable[[], Any], fallback: Code | None = None) -> Response:
        # One place turns ancre's refusals into the spec's error bodies. Refusals from the
        # trust core (a schema violation at issuance, an insufficient authorization) are
        # reported under the endpoint's own spec code, ancre's code leading the description;
        # an inconsistency of the issuer's own set-up is a server error, not the client's.
        try:
            result: Response = await fn()
        except IssuerError as error:
            return _error(error.code, error.message, error.status)
        except ConfigurationError as error:
            return _error("server_error", f"the issuer cannot serve this: {error.message}", 500)
        except AncreError as error:
            if fallback is None:
                return _error(error.code, error.message, 400)
            return _error(fallback, f"{error.code}: {error.message}", 400)
        return result

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(_did_path(issuer.did))
    async def did_document() -> Response:
        document = await call(issuer.did_document)
        return JSONResponse(document, media_type="application/did+json")

    @app.get(f"/.well-known/openid-credential-issuer{prefix}")
    async def issuer_metadata() -> JSONResponse:
        return JSONResponse(credential_issuer_metadata(base, issuer.config.key_type))

    @app.get(f"/.well-known/oauth-authorization-server{prefix}")
    async def as_metadata() -> JSONResponse:
        return JSONResponse(
            authorization_server_metadata(
                base, authorization_code=settings.authentication is not None
            )
        )

    @app.get(prefix + "/status/{list_id}")
    async def status_list(list_id: str) -> Response:
        async def run() -> Response:
            if len(list_id) > 64:
                raise IssuerError(Code.CREDENTIAL_NOT_FOUND, "no such status list", 404)
            body, media = await call(issuer.status_list, list_id)
            headers = {"Cache-Control": f"max-age={limits.status_list_ttl}"}
            return Response(body, media_type=media, headers=headers)

        return await guarded(run)

    @app.get(prefix + "/offers/{offer_id}")
    async def offer(offer_id: str) -> Response:
        async def run() -> Response:
            if len(offer_id) > 64:
                raise IssuerError(Code.CREDENTIAL_NOT_FOUND, "no such offer", 404)
            document = await call(issuer.offer_document, offer_id)
            return JSONResponse(document, headers=_NO_STORE)

        return await guarded(run)

    @app.post(prefix + "/token")
    async def token(request: Request) -> Response:
        async def run() -> Response:
            content_type = request.headers.get("content-type", "").split(";")[0].strip()
            if content_type != "application/x-www-form-urlencoded":
                raise IssuerError(
                    Code.INVALID_REQUEST, "the token request must be form-encoded (RFC 6749)"
                )
            raw = await _read_body(request, settings.max_body_bytes)
            if raw is None:
                raise IssuerError(Code.INVALID_REQUEST, "the request body is too large", 413)
            try:
                pairs = parse_qsl(
                    raw.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(raw)
                )
            except (UnicodeDecodeError, ValueError):
                raise IssuerError(Code.INVALID_REQUEST, "the form body is malformed") from None
            form = dict(pairs)
            if len(form) != len(pairs):
                # RFC 6749 §3.2: "Request and response parameters MUST NOT be included more
                # than once."
                raise IssuerError(Code.INVALID_REQUEST, "a parameter is repeated")
            grant = form.get("grant_type")
            if grant is None:
                raise IssuerError(Code.INVALID_REQUEST, "`grant_type` is required")
            if grant == AUTHORIZATION_CODE_GRANT and code_flow is not None:
                grant_result = await call(code_flow.exchange, form)
                return _token_response(grant_result)
            if grant != PRE_AUTHORIZED_GRANT:
                raise IssuerError(
                    Code.UNSUPPORTED_GRANT_TYPE, f"only the pre-authorized code grant, not {grant}"
                )
            code = form.get("pre-authorized_code")
            if not code or len(code) > 256:
                raise IssuerError(Code.INVALID_REQUEST, "`pre-authorized_code` is required")
            tx_code = form.get("tx_code")
            if tx_code is not None and len(tx_code) > 64:
                raise IssuerError(Code.INVALID_GRANT, "wrong tx_code")
            grant_result = await call(issuer.redeem, code, tx_code)
            return _token_response(grant_result)

        return await guarded(run, Code.INVALID_REQUEST)

    if settings.authentication is not None and code_flow is not None:
        _authorization_routes(
            app, prefix, settings.authentication, code_flow, call, settings.max_body_bytes
        )

    @app.post(prefix + "/nonce")
    async def nonce() -> Response:
        value = await call(issuer.new_nonce)
        return JSONResponse({"c_nonce": value}, headers=_NO_STORE)

    @app.post(prefix + "/credential")
    async def credential(request: Request) -> Response:
        async def run() -> Response:
            authorization = request.headers.get("authorization", "")
            scheme, _, access_token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not access_token or len(access_token) > 256:
                raise IssuerError(Code.INVALID_TOKEN, "a Bearer access token is required", 401)
            await call(issuer.check_access_token, access_token)
            content_type = request.headers.get("content-type", "").split(";")[0].strip()
            if content_type != "application/json":
                raise IssuerError(
                    Code.INVALID_CREDENTIAL_REQUEST, "the credential request must be JSON"
                )
            raw = await _read_body(request, settings.max_body_bytes)
            if raw is None:
                raise IssuerError(
                    Code.INVALID_CREDENTIAL_REQUEST, "the request body is too large", 413
                )
            try:
                body = loads_strict(raw, what="credential request")
            except AncreError as error:
                raise IssuerError(Code.INVALID_CREDENTIAL_REQUEST, error.message) from None
            parsed = parse_credential_request(body)
            holder = await call(
                lambda: check_proof(
                    parsed.proof,
                    audience=base,
                    clock=issuer.clock,
                    max_age=limits.proof_max_age,
                    max_skew=limits.proof_max_skew,
                    consume_nonce=issuer.consume_nonce,
                )
            )
            issued = await call(
                issuer.issue_for_token, access_token, parsed.configuration_id, holder
            )
            return JSONResponse(
                {"credentials": [{"credential": issued.credential}]}, headers=_NO_STORE
            )

        return await guarded(run, Code.INVALID_CREDENTIAL_REQUEST)

    # VC-API for machine clients (`POST /credentials/issue`, `/credentials/status`).
    from ancre.issuer.vc_api import vc_api_router

    app.include_router(vc_api_router(issuer, prefix, settings.vc_api))
    return app


def _token_response(grant: AccessGrant) -> JSONResponse:
    body = {
        "access_token": grant.access_token,
        "token_type": "Bearer",
        "expires_in": grant.expires_in,
        "authorization_details": [
            {"type": "openid_credential", "credential_configuration_id": grant.configuration_id}
        ],
    }
    return JSONResponse(body, headers=_NO_STORE)


def _authorization_routes(
    app: FastAPI,
    prefix: str,
    authentication: UserAuthentication,
    code_flow: AuthorizationServer,
    call: Callable[..., Any],
    max_body: int,
) -> None:
    """The authorization code grant's ``GET /authorize`` and ``GET /login/callback``, and the
    bridge's pages (``/login``, ``/login/start``, ``/login/consent``; ancre.issuer.pages).
    A request that cannot be tied to a checked ``redirect_uri`` is answered here (an error
    page, or JSON at ``/authorize``), never redirected; a decision goes back to the wallet's
    ``redirect_uri``, or to the offer page for a login started on the landing page."""
    from fastapi.responses import HTMLResponse

    from ancre.issuer.authorize import WalletRedirect
    from ancre.issuer.pages import CSS, choose_language, render, security_headers
    from ancre.issuer.templates import TEMPLATES, template

    LANG_COOKIE = "__Host-ancre-lang"  # noqa: N806 - a constant local to these routes
    issuer = code_flow.issuer
    base = issuer.public_url
    binding = BrowserBinding(issuer)
    headers = security_headers(getattr(authentication, "form_targets", ()))
    offered = [c for c in getattr(authentication, "configurations", TEMPLATES) if c in TEMPLATES]

    def browser_of(request: Request) -> tuple[str, str | None]:
        found = binding.read(request.cookies.get(BROWSER_COOKIE))
        if found is not None:
            return found, None
        return binding.new()

    def lang_of(request: Request, form: dict[str, str] | None = None) -> str:
        # The language chosen on the landing page outlives the trip to the provider in a
        # cookie (the provider's redirect back carries no `lang`).
        asked = (
            (form or {}).get("lang")
            or request.query_params.get("lang")
            or request.cookies.get(LANG_COOKIE)
        )
        return choose_language(asked, request.headers.get("accept-language"))

    def page(name: str, lang: str, status: int = 200, cookie: str | None = None,
             **context: Any) -> Response:  # fmt: skip
        response = HTMLResponse(render(name, lang, base, **context), status, headers=headers)
        if cookie is not None:
            response.headers.append("set-cookie", BrowserBinding.header(cookie))
        return response

    def error_page(code: Code | str, lang: str, status: int = 400) -> Response:
        return page("error", lang, status, code=str(code))

    def label(configuration: str, lang: str) -> str:
        return str(template(configuration).display.get(lang, configuration))

    def consent(approved: Approved, request_id: str, configuration: str, browser: str,
                lang: str) -> Response:  # fmt: skip
        chosen = template(configuration)
        disclosable = {p[1:] for p in chosen.disclosable}
        claims = [
            (name, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False),
             name in disclosable)
            for name, value in approved.claims.items()
        ]  # fmt: skip
        evidence = sorted({str(e.get("ancre:register")) for e in approved.authorization.evidence})
        return page(
            "consent", lang, csrf=binding.csrf(browser), request_id=request_id,
            credential_label=label(configuration, lang), claims=claims, evidence=evidence,
        )  # fmt: skip

    async def finish(back: WalletRedirect, lang: str) -> Response:
        if not back.pages:
            return RedirectResponse(back.url, 303, headers=_NO_STORE)
        if back.refused is not None:
            return error_page(back.refused.code, lang)
        approved = back.approved
        if approved is None:  # pages: either refused or approved
            raise InternalError("a finished authorization is neither refused nor approved")
        offer = await call(
            lambda: issuer.create_offer(
                back.configuration_id, dict(approved.claims), authorization=approved.authorization
            )
        )
        uri = issuer.offer_uri(offer)
        expires = offer.expires_at.strftime("%H:%M UTC")
        return page("offer", lang, offer_uri=uri, expires=expires)

    async def decided(outcome: Approved | Refused | Redirect, request_id: str, browser: str,
                      cookie: str | None, lang: str, *, ask_consent: bool) -> Response:  # fmt: skip
        if isinstance(outcome, Redirect):
            response: Response = RedirectResponse(outcome.url, 303, headers=_NO_STORE)
        elif isinstance(outcome, Approved) and ask_consent:
            # After a login, the user sees exactly what will be signed before anything is.
            await call(code_flow.hold, request_id, outcome, browser)
            pending = await call(code_flow.pending, request_id)
            response = consent(outcome, request_id, pending.configuration_id, browser, lang)
        else:
            back = await call(code_flow.complete, request_id, outcome, browser)
            response = await finish(back, lang)
        if cookie is not None:
            response.headers.append("set-cookie", BrowserBinding.header(cookie))
        return response

    async def read_form(request: Request) -> dict[str, str]:
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        if content_type != "application/x-www-form-urlencoded":
            raise IssuerError(Code.INVALID_REQUEST, "a form is expected")
        raw = await _read_body(request, max_body)
        if raw is None:
            raise IssuerError(Code.INVALID_REQUEST, "the form is too large", 413)
        try:
            pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=16)
        except (UnicodeDecodeError, ValueError):
            raise IssuerError(Code.INVALID_REQUEST, "the form is malformed") from None
        form = dict(pairs)
        if len(form) != len(pairs):
            raise IssuerError(Code.INVALID_REQUEST, "a form field is repeated")
        return form

    def checked_browser(request: Request, form: dict[str, str]) -> str:
        browser = binding.read(request.cookies.get(BROWSER_COOKIE))
        if browser is None or not binding.check_csrf(browser, form.get("csrf", "")):
            raise IssuerError(Code.CSRF_INVALID, "the form's CSRF token is missing or wrong", 403)
        return browser

    @app.get(prefix + "/static/bridge.css")
    async def stylesheet() -> Response:
        return Response(CSS, media_type="text/css", headers={"Cache-Control": "max-age=3600"})

    @app.get(prefix + "/login")
    async def landing(request: Request) -> Response:
        browser, cookie = browser_of(request)
        lang = lang_of(request)
        configurations = [(c, label(c, lang)) for c in offered]
        return page("landing", lang, cookie=cookie, csrf=binding.csrf(browser),
                    configurations=configurations)  # fmt: skip

    @app.post(prefix + "/login/start")
    async def start(request: Request) -> Response:
        lang = lang_of(request)
        try:
            form = await read_form(request)
            lang = lang_of(request, form)
            browser = checked_browser(request, form)
            configuration = form.get("configuration", "")
            if configuration not in offered:
                raise IssuerError(Code.UNKNOWN_CREDENTIAL_CONFIGURATION, "no such credential")
            pending = await call(code_flow.begin_page, configuration, browser)
            outcome = await call(authentication.start, pending, browser)
            response = await decided(outcome, pending.id, browser, None, lang, ask_consent=True)
        except AncreError as error:
            return error_page(error.code, lang, getattr(error, "status", 400))
        response.headers.append("set-cookie", f"{LANG_COOKIE}={lang}; Path=/; Secure; SameSite=Lax")
        return response

    @app.post(prefix + "/login/consent")
    async def consent_decision(request: Request) -> Response:
        lang = lang_of(request)
        try:
            form = await read_form(request)
            lang = lang_of(request, form)
            browser = checked_browser(request, form)
            request_id = form.get("request", "")
            if not request_id or len(request_id) > 64:
                raise IssuerError(Code.INVALID_REQUEST, "no request")
            decision = form.get("decision")
            outcome: Approved | Refused
            if decision == "accept":
                outcome = await call(code_flow.held, request_id, browser)
            elif decision == "refuse":
                outcome = Refused(Code.CONSENT_REFUSED, "the user declined")
            else:
                raise IssuerError(Code.INVALID_REQUEST, "no decision")
            back = await call(code_flow.complete, request_id, outcome, browser)
            return await finish(back, lang)
        except AncreError as error:
            return error_page(error.code, lang, getattr(error, "status", 400))

    @app.get(prefix + "/authorize")
    async def authorize(request: Request) -> Response:
        browser, cookie = browser_of(request)
        try:
            params = parse_qs(request.url.query, keep_blank_values=True, max_num_fields=32)
            pending = await call(code_flow.begin, params, browser)
            outcome = await call(authentication.start, pending, browser)
            return await decided(
                outcome, pending.id, browser, cookie, lang_of(request), ask_consent=False
            )
        except AncreError as error:
            return _error(error.code, error.message, getattr(error, "status", 400))
        except ValueError:
            return _error(Code.INVALID_REQUEST, "the query is malformed")

    @app.get(prefix + "/login/callback")
    async def login_callback(request: Request) -> Response:
        browser = binding.read(request.cookies.get(BROWSER_COOKIE))
        lang = lang_of(request)
        try:
            if browser is None:
                raise IssuerError(
                    Code.LOGIN_STATE_INVALID, "the login came back without its browser cookie"
                )
            pairs = parse_qsl(request.url.query, keep_blank_values=True, max_num_fields=16)
            params = dict(pairs)
            if len(params) != len(pairs):
                raise IssuerError(Code.INVALID_REQUEST, "a parameter is repeated")
            request_id, outcome = await call(authentication.resume, params, browser)
            if isinstance(outcome, Redirect):
                raise IssuerError(Code.INVALID_REQUEST, "a login may not redirect twice")
            return await decided(outcome, request_id, browser, None, lang, ask_consent=True)
        except AncreError as error:
            return error_page(error.code, lang, getattr(error, "status", 400))
        except ValueError:
            return error_page(Code.INVALID_REQUEST, lang)
