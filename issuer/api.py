"""The issuer's HTTP service: did:web document, status lists, OpenID4VCI 1.0 endpoints.

:func:`create_app` builds the FastAPI app around an :class:`~ancre.issuer.service.Issuer`;
nothing runs at import. Endpoints that touch the database run in the thread pool. Every
request body is read with a size limit and parsed strictly; every refusal is the spec's
``{"error", "error_description"}`` with its HTTP status (OpenID4VCI 1.0 §6.3, §8.3.1.2;
RFC 6749 §5.2; RFC 6750 §3.1 for ``invalid_token``), never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeVar
from urllib.parse import parse_qsl, urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from ancre.issuer.oid4vci import (
    authorization_server_metadata,
    check_proof,
    credential_issuer_metadata,
    parse_credential_request,
)
from ancre.issuer.service import PRE_AUTHORIZED_GRANT, Issuer, IssuerError
from ancre.trust._json import loads_strict
from ancre.trust.did_web import did_web_to_url
from ancre.trust.errors import AncreError, Code, ConfigurationError

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
        return JSONResponse(authorization_server_metadata(base))

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
            body = {
                "access_token": grant_result.access_token,
                "token_type": "Bearer",
                "expires_in": grant_result.expires_in,
                "authorization_details": [
                    {
                        "type": "openid_credential",
                        "credential_configuration_id": grant_result.configuration_id,
                    }
                ],
            }
            return JSONResponse(body, headers=_NO_STORE)

        return await guarded(run, Code.INVALID_REQUEST)

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
