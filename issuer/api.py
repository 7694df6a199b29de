"""The issuer's HTTP service: did:web document, status lists, OpenID4VCI 1.0 endpoints.

:func:`create_app` builds the FastAPI app around an :class:`~ancre.issuer.service.Issuer`;
nothing runs at import. Endpoints that touch the database run in the thread pool. Every
request body is read with a size limit and parsed strictly; every refusal is the spec's
``{"error", "error_description"}`` with its HTTP status (OpenID4VCI 1.0 §6.3, §8.3.1.2;
RFC 6749 §5.2; RFC 6750 §3.1 for ``invalid_token``), never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, TypeVar
from urllib.parse import parse_qsl, urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from ancre.issuer.admin_api import _MAX_BODY as _ADMIN_MAX_BODY
from ancre.issuer.admin_api import admin_router
from ancre.issuer.authorize import (
    AUTHORIZATION_CODE_GRANT,
    AuthorizationServer,
    UserAuthentication,
)
from ancre.issuer.oid4vci import (
    HolderDids,
    authorization_server_metadata,
    check_proofs,
    credential_issuer_metadata,
    parse_credential_request,
    parse_deferred_request,
    parse_notification_request,
)
from ancre.issuer.service import (
    PRE_AUTHORIZED_GRANT,
    AccessGrant,
    IssuedBatch,
    Issuer,
    IssuerError,
    PendingIssuance,
    internal_error,
)
from ancre.storage.abuse import AbuseGuard, RateLimit
from ancre.storage.outage import add_outage_handlers, add_unexpected_handler, ready_response
from ancre.trust.codec.json import loads_strict
from ancre.trust.did.web import did_web_to_url
from ancre.trust.errors import AncreError, Code, ConfigurationError, InternalError
from ancre.trust.net.guard import NetworkPolicy
from ancre.trust.net.inbound import read_limited
from ancre.trust.problem import problem

if TYPE_CHECKING:
    from ancre.issuer.vc_api import VcApiSettings

__all__ = [
    "IssuerSettings",
    "add_readiness",
    "create_app",
    "did_document_path",
    "include_issuer",
    "issuer_prefix",
    "new_app",
]

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
    #: How holders' did:web documents are fetched for key proofs (``HolderDids``: https
    #: only); None: did:web holders are refused. `ancre issuer serve` allows loopback with
    #: ``--insecure-loopback`` only.
    holder_dids: NetworkPolicy | None = field(default_factory=NetworkPolicy)
    #: Per-client rate limit (by connection address) on the login pages and redirects, the
    #: token endpoint (so `tx_code` guesses) and the nonce and credential endpoints: 429
    #: `rate_limited` with `Retry-After` past it, one bucket per kind of endpoint. None: no
    #: limit (``ancre issuer serve`` sets one).
    rate_limit: RateLimit | None = None

    def largest_body(self) -> int:
        """The largest request body any route of this issuer accepts."""
        largest = max(self.max_body_bytes, _ADMIN_MAX_BODY)
        return max(largest, self.vc_api.max_body_bytes) if self.vc_api else largest


def _error(code: Code | str, description: str, status: int = 400) -> JSONResponse:
    headers = dict(_NO_STORE)
    if code == Code.INVALID_TOKEN:
        headers["WWW-Authenticate"] = f'Bearer error="{Code.INVALID_TOKEN}"'
    return JSONResponse(
        {"error": str(code), "error_description": description}, status, headers=headers
    )


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip()


def _single_valued(pairs: list[tuple[str, str]], repeated: str) -> dict[str, str]:
    """`pairs` as a dict; `repeated` is the refusal when a name comes twice (RFC 6749 §3.2:
    "Request and response parameters MUST NOT be included more than once.")."""
    found = dict(pairs)
    if len(found) != len(pairs):
        raise IssuerError(Code.INVALID_REQUEST, repeated)
    return found


async def _call(fn: Callable[..., _T], *args: Any) -> _T:
    return await run_in_threadpool(fn, *args)


async def _guarded(fn: Callable[[], Any], fallback: Code | None = None) -> Response:
    # One place turns ancre's refusals into the spec's error bodies. Refusals from the
    # trust core (a schema violation at issuance, an insufficient authorization) are
    # reported under the endpoint's own spec code, ancre's code leading the description;
    # an inconsistency of the issuer's own set-up is a server error, not the client's.
    try:
        result: Response = await fn()
    except IssuerError as error:
        return _error(error.code, error.message, error.status)
    except InternalError as error:
        return _internal_error(error)
    except ConfigurationError as error:
        return _error("server_error", f"the issuer cannot serve this: {error.message}", 500)
    except AncreError as error:
        if fallback is None:
            return _error(error.code, error.message, 400)
        return _error(fallback, f"{error.code}: {error.message}", 400)
    return result


def _internal_error(error: InternalError) -> JSONResponse:
    return _error("server_error", internal_error(error), 500)


@dataclass(frozen=True, slots=True)
class Served:
    """What every router of the app shares: the issuer, the path its routes live under (the
    public URL's path) and the request body limit."""

    issuer: Issuer
    prefix: str
    max_body: int


def create_app(settings: IssuerSettings) -> FastAPI:
    """The issuer API for `settings.issuer` (several issuers in one app:
    :func:`ancre.issuer.platform.create_platform_app`)."""
    app = new_app()
    include_issuer(app, settings)
    guard(app, [settings])
    add_readiness(app, [settings])
    return app


def add_readiness(app: FastAPI, members: Sequence[IssuerSettings]) -> None:
    """`/ready` for an app serving `members`: ``SELECT 1`` on each issuer's database, 503
    `service_unavailable` with Retry-After when one does not answer (issue 19); and every
    database outage a route meets answered the same way, a page for browsers (issue 17)."""
    engines = [m.issuer.engine for m in members]

    @app.get("/ready")
    def ready() -> Response:
        """Readiness probe: 200 when every issuer's database answers `SELECT 1`, else 503
        `service_unavailable` with Retry-After."""
        return ready_response(lambda: engines, "issuer")

    add_outage_handlers(app, "issuer")
    add_unexpected_handler(app, "issuer")


def guard(app: FastAPI, members: Sequence[IssuerSettings]) -> None:
    """The abuse limits of an app serving `members` (``ancre.storage.abuse``): a body limit
    on every request (the largest any member's route accepts; each route keeps its own), and
    the members' rate limit (the first that sets one) by kind of endpoint."""
    prefixes = tuple(issuer_prefix(m.issuer.public_url) for m in members)
    rate = next((m.rate_limit for m in members if m.rate_limit is not None), None)

    def bucket(method: str, path: str) -> str | None:
        for prefix in prefixes:
            if path.startswith(prefix + "/"):
                return _rate_bucket(method, path[len(prefix) :])
        return None

    def oauth(path: str) -> str | None:
        for prefix in prefixes:
            if path.startswith(prefix + "/"):
                return _OAUTH_TOO_LARGE.get(path[len(prefix) :])
        return None

    largest = max(m.largest_body() for m in members)
    app.add_middleware(AbuseGuard, max_body=largest, rate=rate, classify=bucket, oauth=oauth)


#: The OAuth endpoints' error codes for a body over the limit (their specs fix the body).
_OAUTH_TOO_LARGE: Final = {
    "/token": str(Code.INVALID_REQUEST),
    "/credential": str(Code.INVALID_CREDENTIAL_REQUEST),
    "/deferred_credential": str(Code.INVALID_CREDENTIAL_REQUEST),
    "/notification": str(Code.INVALID_NOTIFICATION_REQUEST),
}


def _rate_bucket(method: str, path: str) -> str | None:
    """The rate-limit bucket of a request to `path` (below the issuer's prefix)."""
    if method == "POST" and path == "/token":
        return "token"  # pre-authorized codes, tx_codes, authorization codes
    if method == "POST" and path in ("/credential", "/nonce", "/deferred_credential"):
        return "credential"
    if path == "/authorize" or (path.startswith("/login") and not path.endswith(".json")):
        return "login"
    return None


def new_app() -> FastAPI:
    """An app with no issuer yet: its ``/health``, once for however many it will serve."""
    app = FastAPI(title="ancre issuer", version="1", description="OpenID4VCI 1.0 issuer.")

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def include_issuer(app: FastAPI, settings: IssuerSettings) -> None:
    """Add the routes of `settings.issuer` to `app`: every one under the issuer's path (its
    public URL's), the .well-known documents at the issuer's path form, the DID document where
    its did:web resolves. Nothing is shared with the other issuers `app` may serve."""
    issuer = settings.issuer
    served = Served(issuer, issuer_prefix(issuer.public_url), settings.max_body_bytes)
    authentication = settings.authentication
    code_flow = AuthorizationServer(issuer) if authentication is not None else None
    app.include_router(_documents_router(served, authorization_code=code_flow is not None))
    app.include_router(_token_router(served, code_flow))
    if authentication is not None and code_flow is not None:
        from ancre.issuer.authorize_api import LoginFlow, authorization_routers

        flow = LoginFlow(served, authentication, code_flow)
        for router in authorization_routers(flow):
            app.include_router(router)
    holder_dids = None
    if settings.holder_dids is not None:
        holder_dids = HolderDids(settings.holder_dids, issuer.clock)
    app.include_router(_credential_router(served, holder_dids))
    # VC-API for machine clients (`POST /credentials/issue`, `/credentials/status`).
    from ancre.issuer.vc_api import vc_api_router

    app.include_router(vc_api_router(issuer, served.prefix, settings.vc_api))
    app.include_router(admin_router(issuer, served.prefix))


def issuer_prefix(public_url: str) -> str:
    """The path an issuer's routes live under: its public URL's, without a trailing slash
    ("" at the root of its host)."""
    return urlsplit(public_url).path.rstrip("/")


def did_document_path(did: str) -> str:
    """Where the DID document of the did:web `did` is served on its host."""
    return urlsplit(did_web_to_url(did)).path


def _documents_router(served: Served, *, authorization_code: bool) -> APIRouter:
    """What anyone may read: the did:web document, the credential issuer's and the
    authorization server's metadata (.well-known), the status lists and offers by
    reference."""
    router = APIRouter()
    issuer, prefix = served.issuer, served.prefix
    base = issuer.public_url

    @router.get(did_document_path(issuer.did))
    async def did_document() -> Response:
        document = await _call(issuer.did_document)
        return JSONResponse(document, media_type="application/did+json")

    @router.get(f"/.well-known/openid-credential-issuer{prefix}")
    async def issuer_metadata() -> JSONResponse:
        metadata = credential_issuer_metadata(
            base, issuer.config.key_type, batch_size=issuer.config.limits.batch_size
        )
        return JSONResponse(metadata)

    @router.get(f"/.well-known/oauth-authorization-server{prefix}")
    async def as_metadata() -> JSONResponse:
        return JSONResponse(
            authorization_server_metadata(base, authorization_code=authorization_code)
        )

    @router.get(prefix + "/status/{list_id}")
    async def status_list(list_id: str) -> Response:
        # Not an OAuth endpoint: its refusals are RFC 9457 problems (found by API fuzzing).
        if len(list_id) > 64:
            error = IssuerError(Code.CREDENTIAL_NOT_FOUND, "no such status list", 404)
        else:
            try:
                body, media = await _call(issuer.status_list, list_id)
            except IssuerError as raised:
                error = raised
            else:
                error = None
        if error is not None:
            return problem(error.status, error.code, error.message).response(
                JSONResponse, headers=dict(_NO_STORE)
            )
        headers = {"Cache-Control": f"max-age={issuer.config.limits.status_list_ttl}"}
        return Response(body, media_type=media, headers=headers)

    @router.get(prefix + "/offers/{offer_id}")
    async def offer(offer_id: str) -> Response:
        async def run() -> Response:
            if len(offer_id) > 64:
                raise IssuerError(Code.CREDENTIAL_NOT_FOUND, "no such offer", 404)
            document = await _call(issuer.offer_document, offer_id)
            return JSONResponse(document, headers=_NO_STORE)

        return await _guarded(run)

    return router


def _token_router(served: Served, code_flow: AuthorizationServer | None) -> APIRouter:
    """The token endpoint (RFC 6749 §3.2): the pre-authorized code grant, and the
    authorization code grant when `code_flow` is on."""
    router = APIRouter()
    issuer = served.issuer

    @router.post(served.prefix + "/token")
    async def token(request: Request) -> Response:
        async def run() -> Response:
            form = await _token_form(request, served.max_body)
            grant = form.get("grant_type")
            if grant is None:
                raise IssuerError(Code.INVALID_REQUEST, "`grant_type` is required")
            if grant == AUTHORIZATION_CODE_GRANT and code_flow is not None:
                return _token_response(await _call(code_flow.exchange, form))
            if grant != PRE_AUTHORIZED_GRANT:
                raise IssuerError(
                    Code.UNSUPPORTED_GRANT_TYPE, f"only the pre-authorized code grant, not {grant}"
                )
            code, tx_code = _pre_authorized(form)
            return _token_response(await _call(issuer.redeem, code, tx_code))

        return await _guarded(run, Code.INVALID_REQUEST)

    return router


async def _token_form(request: Request, limit: int) -> dict[str, str]:
    if _media_type(request) != "application/x-www-form-urlencoded":
        raise IssuerError(Code.INVALID_REQUEST, "the token request must be form-encoded (RFC 6749)")
    raw = await read_limited(request, limit)
    if raw is None:
        raise IssuerError(Code.INVALID_REQUEST, "the request body is too large", 413)
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(raw))
    except (UnicodeDecodeError, ValueError):
        raise IssuerError(Code.INVALID_REQUEST, "the form body is malformed") from None
    return _single_valued(pairs, "a parameter is repeated")


def _pre_authorized(form: dict[str, str]) -> tuple[str, str | None]:
    """The pre-authorized code and the `tx_code` of a token request."""
    code = form.get("pre-authorized_code")
    if not code or len(code) > 256:
        raise IssuerError(Code.INVALID_REQUEST, "`pre-authorized_code` is required")
    tx_code = form.get("tx_code")
    if tx_code is not None and len(tx_code) > 64:
        raise IssuerError(Code.INVALID_GRANT, "wrong tx_code")
    return code, tx_code


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


def _credential_router(served: Served, holder_dids: HolderDids | None = None) -> APIRouter:
    """The credential issuer's nonce (OpenID4VCI §7) and credential (§8) endpoints, and
    those that follow a credential response: deferred credential (§9), notification
    (§11)."""
    router = APIRouter()
    issuer = served.issuer
    limits = issuer.config.limits

    @router.post(served.prefix + "/nonce")
    async def nonce() -> Response:
        value = await _call(issuer.new_nonce)
        return JSONResponse({"c_nonce": value}, headers=_NO_STORE)

    @router.post(served.prefix + "/credential")
    async def credential(request: Request) -> Response:
        async def run() -> Response:
            access_token = _bearer_token(request)
            await _call(issuer.check_access_token, access_token)
            parsed = parse_credential_request(
                await _credential_body(request, served.max_body), batch_size=limits.batch_size
            )
            holders = await _call(
                lambda: check_proofs(
                    parsed.proofs,
                    audience=issuer.public_url,
                    clock=issuer.clock,
                    max_age=limits.proof_max_age,
                    max_skew=limits.proof_max_skew,
                    consume_nonces=issuer.consume_nonces,
                    holder_dids=holder_dids,
                )
            )
            result = await _call(
                issuer.request_credentials, access_token, parsed.configuration_id, holders
            )
            return _credential_response(result)

        return await _guarded(run, Code.INVALID_CREDENTIAL_REQUEST)

    router.include_router(_follow_up_router(served))
    return router


def _follow_up_router(served: Served) -> APIRouter:
    """The deferred credential (§9) and notification (§11) endpoints: both take the
    access token the credential request was made with (consumed by then, but bound to
    the held request or the notification id)."""
    from ancre.issuer.deferred import collect
    from ancre.issuer.notification import notify

    router = APIRouter()
    issuer = served.issuer

    @router.post(served.prefix + "/deferred_credential")
    async def deferred_credential(request: Request) -> Response:
        async def run() -> Response:
            access_token = _bearer_token(request)
            transaction_id = parse_deferred_request(
                await _credential_body(request, served.max_body)
            )
            return _credential_response(await _call(collect, issuer, access_token, transaction_id))

        return await _guarded(run, Code.INVALID_CREDENTIAL_REQUEST)

    @router.post(served.prefix + "/notification")
    async def notification(request: Request) -> Response:
        async def run() -> Response:
            access_token = _bearer_token(request)
            try:
                body = await _credential_body(request, served.max_body)
            except IssuerError as error:
                raise IssuerError(
                    Code.INVALID_NOTIFICATION_REQUEST, error.message, error.status
                ) from None
            parsed = parse_notification_request(body)
            await _call(
                notify,
                issuer,
                access_token,
                parsed.notification_id,
                parsed.event,
                parsed.description,
            )
            return Response(status_code=204, headers=_NO_STORE)

        return await _guarded(run, Code.INVALID_NOTIFICATION_REQUEST)

    return router


def _credential_response(result: IssuedBatch | PendingIssuance) -> JSONResponse:
    """A credential response (§8.3): 200 with the credentials (and the notification id),
    or 202 with the transaction id to poll the deferred credential endpoint with."""
    if isinstance(result, PendingIssuance):
        body: dict[str, Any] = {
            "transaction_id": result.transaction_id,
            "interval": result.interval,
        }
        return JSONResponse(body, 202, headers=_NO_STORE)
    body = {"credentials": [{"credential": c.credential} for c in result.credentials]}
    if result.notification_id is not None:
        body["notification_id"] = result.notification_id
    return JSONResponse(body, headers=_NO_STORE)


def _bearer_token(request: Request) -> str:
    authorization = request.headers.get("authorization", "")
    scheme, _, access_token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not access_token or len(access_token) > 256:
        raise IssuerError(Code.INVALID_TOKEN, "a Bearer access token is required", 401)
    return access_token


async def _credential_body(request: Request, limit: int) -> Any:
    """The credential request's JSON body, parsed strictly."""
    if _media_type(request) != "application/json":
        raise IssuerError(Code.INVALID_CREDENTIAL_REQUEST, "the credential request must be JSON")
    raw = await read_limited(request, limit)
    if raw is None:
        raise IssuerError(Code.INVALID_CREDENTIAL_REQUEST, "the request body is too large", 413)
    try:
        return loads_strict(raw, what="credential request")
    except AncreError as error:
        raise IssuerError(Code.INVALID_CREDENTIAL_REQUEST, error.message) from None
