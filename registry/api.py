"""The registry's HTTP API (FastAPI app factory; no work at import time).

Public: `GET /trust-list` (the signed JWS, with ETag and Cache-Control), `GET
/trust-list.json` (unsigned view), `GET /issuers/{did}` (history), `GET
/issuers/{did}/trusted?type=…&at=…`. Admin, under `/admin`, with bearer tokens bound to
roles (viewer < editor < approver) and to a *person*: the two-person rule counts people,
not tokens. Every admin call that changes something is audited by the service layer; admin
reads go to a separate access log. Errors are RFC 9457 problem details carrying ancre's
stable `code`; text with control characters is a 400 `invalid_characters`, a database still
locked after retries a 503 `registry_busy` with `Retry-After`, a database that cannot be
reached a 503 `service_unavailable` with `Retry-After` (`ancre.storage.outage`). `/health`
is liveness (touches nothing); `/ready` runs `SELECT 1` on the database.

`create_app` assembles the routers of `ancre.registry.routes` (one per concern) and owns the
error handlers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from ancre.storage.abuse import AbuseGuard
from ancre.storage.outage import add_outage_handlers, add_unexpected_handler, outage_response
from ancre.trust.errors import AncreError, Code
from ancre.trust.keys.jwk import Signer

from .pages import pages_router
from .routes import (
    AuthError,
    RouteContext,
    anchors_router,
    changes_router,
    governance_router,
    health_router,
    issuers_router,
    problem_response,
    public_router,
    tokens_router,
    trust_anchor_router,
)
from .service import Registry, RegistryError

__all__ = ["create_app"]

_RETRY_AFTER: Final = "1"


#: Request bodies over this are refused (413 `input_too_large`) before they are parsed.
MAX_BODY_BYTES: Final = 256 * 1024


def create_app(
    registry: Registry,
    *,
    signer: Signer | None = None,
    did_document: Mapping[str, Any] | None = None,
    page_secret: bytes | None = None,
) -> FastAPI:
    """The registry API over `registry`; `signer` enables `POST /admin/publish`;
    `did_document` (of a did:web registry) is served where did:web resolution fetches it,
    so `--registry-key did:web:…` works against one's own registry. The pages for people
    (`ancre.registry.pages`: the trust-list browser at `/`, the administrators' approvals
    under `/pages/admin/`) sign their session cookies with `page_secret` (default: random
    per process)."""
    app = FastAPI(
        title="ancre registry",
        version="1",
        description="Trust anchors and trusted issuers of a data space, with history, audit "
        "and a signed published trust list.",
    )
    _add_error_handlers(app)
    context = RouteContext.build(registry, signer)
    # In this order: the OpenAPI document lists the paths as the routers add them.
    app.include_router(public_router(context))
    app.include_router(trust_anchor_router(context))
    app.include_router(anchors_router(context))
    app.include_router(changes_router(context))
    app.include_router(issuers_router(context))
    app.include_router(governance_router(context))
    app.include_router(tokens_router(context))
    app.include_router(health_router(registry.engine))
    app.include_router(pages_router(registry, signer, page_secret))
    if did_document is not None and str(did_document.get("id", "")).startswith("did:web:"):
        app.include_router(_did_document_router(dict(did_document)))
    # No route takes more than a few KiB: a body limit before FastAPI parses one (issue 17).
    app.add_middleware(AbuseGuard, max_body=MAX_BODY_BYTES)
    return app


def _did_document_router(document: dict[str, Any]) -> APIRouter:
    from urllib.parse import urlsplit

    from ancre.trust.did.web import did_web_to_url

    router = APIRouter()

    @router.get(urlsplit(did_web_to_url(document["id"])).path)
    def did_json() -> JSONResponse:
        """The registry's DID document (did:web), with the key that signs its lists."""
        return JSONResponse(document, media_type="application/did+json")

    return router


def _add_error_handlers(app: FastAPI) -> None:
    """Every refusal is an RFC 9457 problem with ancre's stable `code`, never a 500."""

    @app.exception_handler(RegistryError)
    async def _registry_error(_: Request, exc: RegistryError) -> JSONResponse:
        response = problem_response(exc.http_status, "Request refused", exc.message, exc.code.value)
        if exc.http_status == 503:
            response.headers["Retry-After"] = _RETRY_AFTER
        return response

    @app.exception_handler(IntegrityError)
    async def _conflict(_: Request, exc: IntegrityError) -> JSONResponse:
        # Two requests raced for the same name; the database kept the first.
        return problem_response(409, "Conflict", "the entry already exists", Code.CONFLICT.value)

    @app.exception_handler(DataError)
    async def _data(_: Request, exc: DataError) -> JSONResponse:
        # A value the database refuses that validation let through: the caller's fault (400),
        # never a 500 with the driver's message.
        return problem_response(
            400, "Invalid request", "a value is not storable", "invalid_request"
        )

    # Any other database outage (PostgreSQL down, a connection cut): 503
    # `service_unavailable` with Retry-After (issue 17); the OperationalError handler below
    # replaces this one's for SQLite's "locked".
    add_outage_handlers(app, "registry")
    add_unexpected_handler(app, "registry")

    @app.exception_handler(OperationalError)
    async def _busy(request: Request, exc: OperationalError) -> Response:
        # SQLite still locked mid-transaction after its busy timeout (writers retry taking
        # the lock in the service): a clean 503, never a 500 with the driver's text.
        if "locked" not in str(exc.orig).lower() and "busy" not in str(exc.orig).lower():
            return outage_response(request, exc, "registry")
        response = problem_response(
            503, "Busy", "the registry database is busy; try again shortly", "registry_busy"
        )
        response.headers["Retry-After"] = _RETRY_AFTER
        return response

    @app.exception_handler(AncreError)
    async def _ancre_error(_: Request, exc: AncreError) -> JSONResponse:
        return problem_response(422, "Invalid request", exc.message, exc.code.value)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5]]
        if any(e["type"] == "invalid_characters" for e in exc.errors()):
            return problem_response(
                400, "Invalid request", "; ".join(errors), Code.INVALID_CHARACTERS.value
            )
        return problem_response(422, "Invalid request", "; ".join(errors), "invalid_request")

    @app.exception_handler(AuthError)
    async def _auth(_: Request, exc: AuthError) -> JSONResponse:
        code = Code.UNAUTHORIZED if exc.status == 401 else Code.FORBIDDEN
        response = problem_response(exc.status, "Not allowed", exc.detail, code)
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="ancre-registry"'
        return response
