"""The registry's public routes, without authentication: the published trust list, issuer
histories and trust queries, the Gaia-X trust-anchor check, and the health probe."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse, Response
from pydantic import Field
from sqlalchemy.engine import Engine

from ancre.storage.outage import ready_response
from ancre.trust.trust_list.model import EntryStatus

from .bodies import ChainIn, aware
from .context import RouteContext, problem_response


def _not_published() -> JSONResponse:
    return problem_response(404, "Not published", "no trust list published yet", "not_found")


def public_router(context: RouteContext) -> APIRouter:
    """`/trust-list` (signed), `/trust-list.json`, `/issuers/{did}` and its `/trusted`."""
    router = APIRouter()
    registry = context.registry

    @router.get("/trust-list", response_class=Response, responses={404: {}})
    def trust_list(if_none_match: Annotated[str | None, Header()] = None) -> Response:
        """The latest signed trust list (`trust-list+jwt`)."""
        latest = registry.latest_publication()
        if latest is None:
            return _not_published()
        etag = '"' + hashlib.sha256(latest.jws.encode()).hexdigest()[:32] + '"'
        remaining = int((latest.next_update - registry.clock.now()).total_seconds())
        headers = {"ETag": etag, "Cache-Control": f"public, max-age={max(0, min(remaining, 300))}"}
        if if_none_match == etag:
            return Response(status_code=304, headers=headers)
        return Response(latest.jws, media_type="application/trust-list+jwt", headers=headers)

    @router.get("/trust-list.json", responses={404: {}})
    def trust_list_json() -> Any:
        """The latest published list, unsigned (for people and dashboards)."""
        latest = registry.latest_publication()
        if latest is None:
            return _not_published()
        payload = latest.jws.split(".")[1]
        from ancre.trust.codec.b64 import b64url_decode

        return json.loads(b64url_decode(payload))

    @router.get("/issuers/{did}", responses={404: {}})
    def issuer(did: Annotated[str, Field(max_length=2048)]) -> dict[str, Any]:
        """An issuer, its credential types and their full status histories (without the
        administrators who recorded them: `/admin/issuers/{did}` shows those)."""
        return registry.issuer_view(did, operators=False)

    @router.get("/issuers/{did}/trusted", responses={404: {}})
    def trusted(
        did: str,
        type: Annotated[str, Query(min_length=1, max_length=256)],
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """Whether `did` was trusted for `type` at `at` (default: now), from current state."""
        when = aware(at) or registry.clock.now()
        status = registry.status_at(did, type, when)
        return {
            "issuer": did,
            "type": type,
            "at": when.isoformat(),
            "trusted": status is EntryStatus.ACTIVE,
            "status": None if status is None else status.value,
        }

    return router


def trust_anchor_router(context: RouteContext) -> APIRouter:
    """`POST /api/trustAnchor/chain`, as the Gaia-X registry answers it."""
    router = APIRouter()
    registry = context.registry

    @router.post("/api/trustAnchor/chain", responses={400: {}, 409: {}})
    def trust_anchor_chain(body: ChainIn) -> JSONResponse:
        """Gaia-X registry compatibility: is this PEM chain (leaf first, line breaks
        optional) rooted in one of the registry's X.509 trust anchors? 200 `{"result":
        true}`, 409 `{"result": false, …}`, 400 for what is not a PEM chain."""
        from ancre.trust.errors import MalformedError
        from ancre.trust.x509.chain import chain_is_rooted, parse_pem_chain

        anchors = [
            cert
            for anchor in registry.active_anchors()
            if anchor.x509_pem
            for cert in parse_pem_chain(anchor.x509_pem)
        ]
        try:
            rooted = bool(anchors) and chain_is_rooted(body.certs, anchors, at=registry.clock.now())
        except MalformedError as error:
            return JSONResponse(
                {"result": False, "resultCode": -2, "resultMessage": error.message}, status_code=400
            )
        if rooted:
            return JSONResponse({"result": True})
        return JSONResponse(
            {
                "result": False,
                "resultCode": -1,
                "resultMessage": "No valid certificate paths found",
            },
            status_code=409,
        )

    return router


def health_router(engine: Engine) -> APIRouter:
    """`/health` (liveness: touches nothing) and `/ready` (readiness: `SELECT 1` on the
    registry's database, 503 `service_unavailable` with Retry-After when it does not
    answer)."""
    router = APIRouter()

    @router.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/ready")
    def ready() -> Response:
        """Readiness probe: 200 when the registry's database answers `SELECT 1`, else 503
        `service_unavailable` with Retry-After."""
        return ready_response(lambda: [engine], "registry")

    return router
