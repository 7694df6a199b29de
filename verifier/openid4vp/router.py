"""The OpenID4VP 1.0 verifier's HTTP endpoints (FastAPI), thin handlers over `transactions`
(life cycle, Request Objects) and `response` (reading and checking what a wallet sends).

| endpoint | caller | what |
|---|---|---|
| `POST /openid4vp/requests` | RP backend | create a transaction from a DCQL query |
| `GET`/`POST /openid4vp/request-objects/{request_id}` | wallet | the signed Request Object |
| `POST /openid4vp/responses/{request_id}` | wallet | the Authorization Response |
| `GET /openid4vp/requests/{transaction_id}/result` | RP backend | the verdict |

Wallet-facing errors are OAuth error responses (`{"error": "invalid_request", …}`); caller
errors are RFC 9457 problems with an ancre `code` (docs/errors.md). Nothing a client sends
yields a traceback.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Mapping
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from ancre.trust.clock import Clock
from ancre.trust.codec.json import loads_strict
from ancre.trust.errors import AncreError, Code
from ancre.trust.net.inbound import read_limited
from ancre.trust.policy import VerificationPolicy
from ancre.trust.problem import problem
from ancre.trust.result import VerificationResult

from .._http import RateLimiter
from .dcql import DcqlError, DcqlQuery, parse_dcql
from .errors import RefusedError
from .onboarding import PROFILES, Resolve, check_query
from .response import ResponseChecker, iso, parse_form, parse_wallet_nonce
from .settings import OpenID4VPSettings
from .transactions import (
    DIRECT_POST_JWT,
    REQUEST_OBJECT_MEDIA_TYPE,
    RESPONSE_MODES,
    MemoryTransactionStore,
    Phase,
    Transaction,
    TransactionStoreError,
    authorization_request,
    new_transaction,
    request_object_uri,
    sign_request_object,
)

__all__ = ["create_router"]

_NO_STORE: Final = {"Cache-Control": "no-store"}
_LOG: Final = logging.getLogger("ancre.verifier.openid4vp")
_CREATE_MEMBERS: Final = frozenset({"dcql_query", "response_mode", "request_uri_method", "profile"})


def _oauth_error(status: int, description: str, error: str = "invalid_request") -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=status, headers=_NO_STORE
    )


def _problem(
    status: int, detail: str, code: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return problem(status, code, detail).response(
        JSONResponse, headers={**_NO_STORE, **(headers or {})}
    )


def _store_failure(error: TransactionStoreError) -> None:
    _LOG.error("OpenID4VP transaction store: %s", error.message)


class _Endpoints:
    """The handlers, sharing the settings, the store and the checker of responses."""

    def __init__(
        self,
        settings: OpenID4VPSettings,
        verify: Callable[[Any, VerificationPolicy], VerificationResult],
        policy: VerificationPolicy,
        clock: Clock,
        resolve: Resolve | None = None,
    ) -> None:
        self.settings = settings
        self.policy = policy
        self.clock = clock
        self.store = settings.store if settings.store is not None else MemoryTransactionStore()
        self.limiter = RateLimiter(
            burst=settings.create_burst, per_minute=settings.create_per_minute
        )
        self.responses = ResponseChecker(
            store=self.store,
            clock=clock,
            policy=policy,
            verify=verify,
            client_id=settings.client_id,
            enc_values=settings.enc_values,
            resolve=resolve,
        )

    def authorized(self, request: Request) -> JSONResponse | None:
        """None when the caller sent the API token (or none is needed), else a 401."""
        token_needed = self.settings.api_token
        if token_needed is None:
            return None
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), token_needed.encode()
        ):
            return _problem(
                401,
                "this endpoint needs `Authorization: Bearer <api token>`",
                "unauthorized",
                {"WWW-Authenticate": 'Bearer realm="openid4vp"'},
            )
        return None

    # ---- caller: create a request ----------------------------------------------------

    async def create_request(self, request: Request) -> JSONResponse:
        """Create a transaction: `{"dcql_query": {…}, "response_mode": "direct_post" |
        "direct_post.jwt" (default), "request_uri_method": "get" (default) | "post",
        "profile": "gaia-x-onboarding" (optional: the answer is also checked as one Gaia-X
        onboarding bundle)}`."""
        denied = self.authorized(request)
        if denied is not None:
            return denied
        # Per client address, after authentication (a caller without the token costs
        # nothing) and before any work: one client cannot take the whole store.
        wait = self.limiter.take(request.client.host if request.client else "")
        if wait is not None:
            return _problem(
                429,
                "too many transactions created from this address; slow down",
                Code.RATE_LIMITED,
                {"Retry-After": str(wait)},
            )
        raw = await read_limited(request, self.settings.max_body_bytes)
        if raw is None:
            return _problem(
                413, f"body over {self.settings.max_body_bytes} bytes", "input_too_large"
            )
        options = self._creation_options(raw)
        if isinstance(options, JSONResponse):
            return options
        return await self._create(*options)

    def _creation_options(
        self, raw: bytes
    ) -> tuple[DcqlQuery, str, str, str | None] | JSONResponse:
        """The DCQL query, response mode, request_uri method and profile of a creation
        body, or the problem that refuses it."""
        try:
            body = loads_strict(raw, what="the body", max_depth=self.policy.max_json_depth)
        except AncreError as error:
            return _problem(400, error.message, error.code.value)
        if not isinstance(body, dict):
            return _problem(400, "the body must be a JSON object", "invalid_request")
        unknown = sorted(set(body) - _CREATE_MEMBERS)
        if unknown:
            return _problem(400, f"unknown member(s) {unknown}", "invalid_request")
        mode = body.get("response_mode", DIRECT_POST_JWT)
        if mode not in RESPONSE_MODES:
            return _problem(
                400, f"response_mode must be one of {sorted(RESPONSE_MODES)}", "invalid_request"
            )
        method = body.get("request_uri_method", "get")
        if method not in ("get", "post"):
            return _problem(400, 'request_uri_method must be "get" or "post"', "invalid_request")
        profile = body.get("profile")
        if profile is not None and (not isinstance(profile, str) or profile not in PROFILES):
            return _problem(400, f"profile must be one of {sorted(PROFILES)}", "invalid_request")
        try:
            query = parse_dcql(body.get("dcql_query"))
            check_query(profile, query)
        except DcqlError as error:
            return _problem(400, error.message, error.code)
        return query, mode, method, profile

    async def _create(
        self, query: DcqlQuery, mode: str, method: str, profile: str | None
    ) -> JSONResponse:
        settings = self.settings
        now = self.clock.now()
        tx = new_transaction(settings, query, mode, method, now, profile)
        if not await run_in_threadpool(self.store.add, tx, now, settings.max_transactions):
            return _problem(
                503,
                f"{settings.max_transactions} transactions are pending; try again later",
                Code.TOO_MANY_TRANSACTIONS,
                {"Retry-After": str(max(1, int(settings.transaction_ttl.total_seconds())))},
            )
        return JSONResponse(
            {
                "transaction_id": tx.transaction_id,
                "client_id": settings.client_id,
                "request_uri": request_object_uri(settings, tx),
                "request_uri_method": method,
                "authorization_request": authorization_request(settings, tx),
                "response_mode": mode,
                **({"profile": profile} if profile is not None else {}),
                "expires_at": iso(tx.expires_at),
            },
            status_code=201,
            headers=_NO_STORE,
        )

    # ---- wallet: the Request Object --------------------------------------------------

    def _pending(self, request_id: str) -> Transaction | JSONResponse:
        now = self.clock.now()
        try:
            tx = self.store.by_request(request_id, now)
        except TransactionStoreError as error:
            _store_failure(error)
            return _oauth_error(500, "the verifier cannot serve this request", "server_error")
        if tx is None:
            return _oauth_error(404, "unknown request")
        phase, _ = self.store.snapshot(tx)
        if phase is not Phase.PENDING or now >= tx.expires_at:
            return _oauth_error(410, "this request has expired or was already answered")
        return tx

    def _request_object(self, tx: Transaction, wallet_nonce: str | None) -> Response:
        signed = sign_request_object(
            self.settings,
            tx,
            now=self.clock.now(),
            algorithms=self.policy.algorithms,
            wallet_nonce=wallet_nonce,
        )
        return Response(signed, media_type=REQUEST_OBJECT_MEDIA_TYPE, headers=_NO_STORE)

    def get_request_object(self, request_id: str) -> Response:
        """The signed Request Object (RFC 9101 `request_uri`)."""
        found = self._pending(request_id)
        return found if isinstance(found, Response) else self._request_object(found, None)

    async def post_request_object(self, request_id: str, request: Request) -> Response:
        """§5.10 `request_uri_method=post`: `wallet_metadata` and `wallet_nonce` (echoed in
        the signed Request Object)."""
        raw = await read_limited(request, 64 * 1024)
        if raw is None:
            return _oauth_error(413, "body too large")
        try:
            form = parse_form(request.headers.get("content-type", ""), raw)
            wallet_nonce = parse_wallet_nonce(form)
        except RefusedError as refused:
            return _oauth_error(400, str(refused))
        found = await run_in_threadpool(self._pending, request_id)
        return found if isinstance(found, Response) else self._request_object(found, wallet_nonce)

    # ---- wallet: the Authorization Response ------------------------------------------

    async def authorization_response(self, request_id: str, request: Request) -> JSONResponse:
        """The `response_uri` (§8.2): `vp_token` + `state`, or `response` (a JWE) for
        direct_post.jwt, or an error response (`error`, `error_description`, `state`)."""
        limit = self.settings.max_body_bytes
        raw = await read_limited(request, limit)
        if raw is None:
            return _oauth_error(413, f"body over {limit} bytes")
        try:
            tx = await run_in_threadpool(self.store.by_request, request_id, self.clock.now())
        except TransactionStoreError as error:
            _store_failure(error)
            return _oauth_error(500, "the verifier cannot serve this request", "server_error")
        if tx is None:
            return _oauth_error(400, "unknown or expired request")
        try:
            form = parse_form(request.headers.get("content-type", ""), raw)
            rejected = await run_in_threadpool(self.responses.process, tx, form)
        except RefusedError as refused:
            return _oauth_error(400, str(refused))
        if rejected is not None:
            return _oauth_error(400, rejected)
        return JSONResponse({}, headers=_NO_STORE)

    # ---- caller: the result ------------------------------------------------------------

    def result(self, transaction_id: str, request: Request) -> JSONResponse:
        """202 `{"status": "pending"}` until the wallet answers; then 200 with the verdict:
        `{"status", "verified", "credentials": {query id: [result…]}, "errors": […]}`, and
        with a profile, `"onboarding"`: the bundle's report (members, holder, missing)."""
        denied = self.authorized(request)
        if denied is not None:
            return denied
        now = self.clock.now()
        try:
            tx = self.store.by_transaction(transaction_id, now)
        except TransactionStoreError as error:
            _store_failure(error)
            return _problem(500, "the verifier cannot read this transaction", error.code.value)
        if tx is None:
            return _problem(
                404, "no such transaction (or its result expired)", Code.TRANSACTION_NOT_FOUND
            )
        phase, verdict = self.store.snapshot(tx)
        if phase is Phase.DONE and verdict is not None:
            return JSONResponse(verdict, headers=_NO_STORE)
        if now >= tx.expires_at and phase is Phase.PENDING:
            return _problem(410, "the wallet did not answer in time", Code.TRANSACTION_EXPIRED)
        return JSONResponse(
            {"status": "pending", "expires_at": iso(tx.expires_at)},
            status_code=202,
            headers=_NO_STORE,
        )


def create_router(
    settings: OpenID4VPSettings,
    *,
    verify: Callable[[Any, VerificationPolicy], VerificationResult],
    policy: VerificationPolicy,
    clock: Clock,
    resolve: Resolve | None = None,
) -> APIRouter:
    """The OpenID4VP endpoints. `verify(item, policy)` runs ancre's verification pipeline
    (with the app's shared resolver, status and trust caches); `policy` is the service's,
    bound per transaction to its nonce and the Client Identifier. `resolve`: the service's
    DID resolver, for a profile's cross-checks (is an SD-JWT member's key the DID holder's)."""
    endpoints = _Endpoints(settings, verify, policy, clock, resolve)
    router = APIRouter(prefix="/openid4vp", tags=["OpenID4VP"])
    router.add_api_route(
        "/requests",
        endpoints.create_request,
        methods=["POST"],
        status_code=201,
        responses={400: {}, 401: {}, 413: {}, 429: {}, 503: {}},
    )
    router.add_api_route(
        "/request-objects/{request_id}",
        endpoints.get_request_object,
        methods=["GET"],
        responses={404: {}, 410: {}, 500: {}},
    )
    router.add_api_route(
        "/request-objects/{request_id}",
        endpoints.post_request_object,
        methods=["POST"],
        responses={400: {}, 404: {}, 410: {}, 500: {}},
    )
    router.add_api_route(
        "/responses/{request_id}",
        endpoints.authorization_response,
        methods=["POST"],
        responses={400: {}, 413: {}, 500: {}},
    )
    router.add_api_route(
        "/requests/{transaction_id}/result",
        endpoints.result,
        methods=["GET"],
        responses={401: {}, 404: {}, 410: {}, 500: {}},
    )
    return router
