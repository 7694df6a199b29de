"""The registry's HTTP API (FastAPI app factory; no work at import time).

Public: `GET /trust-list` (the signed JWS, with ETag and Cache-Control), `GET
/trust-list.json` (unsigned view), `GET /issuers/{did}` (history), `GET
/issuers/{did}/trusted?type=…&at=…`. Admin, under `/admin`, with bearer tokens bound to
roles (viewer < editor < approver); every admin call that changes something is audited by
the service layer. Errors are RFC 9457 problem details carrying ancre's stable `code`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError

from ancre.trust.errors import AncreError
from ancre.trust.keys import Signer
from ancre.trust.trust_list import ClaimConstraint, EntryStatus

from .service import Registry, RegistryError, Role

__all__ = ["create_app"]

_RANK = {Role.VIEWER: 0, Role.EDITOR: 1, Role.APPROVER: 2}
_DID = r"^did:[a-z0-9]+:[A-Za-z0-9._:%-]+$"
#: Row ids are 32-bit on every database ancre supports: refuse larger ones at the edge.
ChangeId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _problem(status: int, title: str, detail: str, code: str) -> JSONResponse:
    return JSONResponse(
        {"type": "about:blank", "title": title, "status": status, "detail": detail, "code": code},
        status_code=status,
        media_type="application/problem+json",
    )


@dataclass(frozen=True, slots=True)
class Caller:
    name: str
    role: Role


class ConstraintIn(BaseModel):
    claim: str = Field(min_length=1, max_length=512, pattern=r"^[^.\s]+(\.[^.\s]+)*$")
    allowed: list[Annotated[str, Field(min_length=1, max_length=256)]] = Field(
        min_length=1, max_length=64, alias="in"
    )


class AnchorIn(BaseModel):
    id: str = Field(min_length=1, max_length=2048)
    name: str = Field(min_length=1, max_length=512)
    x509_pem: str | None = Field(default=None, max_length=65536)


class IssuerIn(BaseModel):
    did: str = Field(pattern=_DID, max_length=2048)
    legal_name: str = Field(min_length=1, max_length=512)
    registration_number: str | None = Field(default=None, max_length=64)
    accredited_by: str = Field(min_length=1, max_length=2048)
    credential_types: dict[str, list[ConstraintIn]] = Field(min_length=1, max_length=64)
    effective_from: datetime | None = None


class StatusIn(BaseModel):
    status: EntryStatus
    reason: str = Field(min_length=1, max_length=1024)
    effective_from: datetime | None = None


class GrantIn(BaseModel):
    credential_type: str = Field(min_length=1, max_length=256)
    constraints: list[ConstraintIn] = Field(default_factory=list, max_length=64)


class ChainIn(BaseModel):
    certs: str = Field(min_length=1, max_length=256 * 1024)


class TokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=256)
    role: Role


def _constraints(items: list[ConstraintIn]) -> list[ClaimConstraint]:
    return [ClaimConstraint(c.claim, tuple(c.allowed)) for c in items]


def _aware(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def create_app(registry: Registry, *, signer: Signer | None = None) -> FastAPI:
    """The registry API over `registry`; `signer` enables `POST /admin/publish`."""
    app = FastAPI(
        title="ancre registry",
        version="1",
        description="Trust anchors and trusted issuers of a data space, with history, audit "
        "and a signed published trust list.",
    )

    @app.exception_handler(RegistryError)
    async def _registry_error(_: Request, exc: RegistryError) -> JSONResponse:
        return _problem(exc.http_status, "Request refused", exc.message, exc.code.value)

    @app.exception_handler(IntegrityError)
    async def _conflict(_: Request, exc: IntegrityError) -> JSONResponse:
        # Two requests raced for the same name; the database kept the first.
        return _problem(409, "Conflict", "the entry already exists", "conflict")

    @app.exception_handler(AncreError)
    async def _ancre_error(_: Request, exc: AncreError) -> JSONResponse:
        return _problem(422, "Invalid request", exc.message, exc.code.value)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5]]
        return _problem(422, "Invalid request", "; ".join(errors), "invalid_request")

    def caller(minimum: Role) -> Callable[..., Caller]:
        def dependency(
            request: Request, authorization: Annotated[str | None, Header()] = None
        ) -> Caller:
            # The token is compared by hash and never logged or echoed.
            scheme, _, token = (authorization or "").partition(" ")
            found = registry.authenticate(token) if scheme.lower() == "bearer" and token else None
            if found is None:
                raise _AuthError(401, "a valid bearer token is required")
            name, role = found
            if _RANK[role] < _RANK[minimum]:
                raise _AuthError(403, f"this needs the {minimum} role; the token is {role}")
            if request.method == "GET":
                # Every admin call is audited: changes by the service, reads here.
                registry.record_access(name, request.method, request.url.path)
            return Caller(name, role)

        return dependency

    @app.exception_handler(_AuthError)
    async def _auth(_: Request, exc: _AuthError) -> JSONResponse:
        response = _problem(exc.status, "Not allowed", exc.detail, "unauthorized")
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="ancre-registry"'
        return response

    viewer = Depends(caller(Role.VIEWER))
    editor = Depends(caller(Role.EDITOR))
    approver = Depends(caller(Role.APPROVER))

    # ---- public ------------------------------------------------------------------------
    @app.get("/trust-list", response_class=Response, responses={404: {}})
    def trust_list(if_none_match: Annotated[str | None, Header()] = None) -> Response:
        """The latest signed trust list (`trust-list+jwt`)."""
        latest = registry.latest_publication()
        if latest is None:
            return _problem(404, "Not published", "no trust list published yet", "not_found")
        etag = '"' + hashlib.sha256(latest.jws.encode()).hexdigest()[:32] + '"'
        remaining = int((latest.next_update - registry.clock.now()).total_seconds())
        headers = {"ETag": etag, "Cache-Control": f"public, max-age={max(0, min(remaining, 300))}"}
        if if_none_match == etag:
            return Response(status_code=304, headers=headers)
        return Response(latest.jws, media_type="application/trust-list+jwt", headers=headers)

    @app.get("/trust-list.json", responses={404: {}})
    def trust_list_json() -> Any:
        """The latest published list, unsigned (for people and dashboards)."""
        latest = registry.latest_publication()
        if latest is None:
            return _problem(404, "Not published", "no trust list published yet", "not_found")
        payload = latest.jws.split(".")[1]
        from ancre.trust._b64 import b64url_decode

        return json.loads(b64url_decode(payload))

    @app.get("/issuers/{did}", responses={404: {}})
    def issuer(did: Annotated[str, Field(max_length=2048)]) -> dict[str, Any]:
        """An issuer, its credential types and their full status histories."""
        return registry.issuer_view(did)

    @app.get("/issuers/{did}/trusted", responses={404: {}})
    def trusted(
        did: str,
        type: Annotated[str, Query(min_length=1, max_length=256)],
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """Whether `did` was trusted for `type` at `at` (default: now), from current state."""
        when = _aware(at) or registry.clock.now()
        status = registry.status_at(did, type, when)
        return {
            "issuer": did,
            "type": type,
            "at": when.isoformat(),
            "trusted": status is EntryStatus.ACTIVE,
            "status": None if status is None else status.value,
        }

    @app.post("/api/trustAnchor/chain", responses={400: {}, 409: {}})
    def trust_anchor_chain(body: ChainIn) -> JSONResponse:
        """Gaia-X registry compatibility: is this PEM chain (leaf first, line breaks
        optional) rooted in one of the registry's X.509 trust anchors? 200 `{"result":
        true}`, 409 `{"result": false, …}`, 400 for what is not a PEM chain."""
        from ancre.trust.errors import MalformedError
        from ancre.trust.x509 import chain_is_rooted, parse_pem_chain

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

    # ---- admin --------------------------------------------------------------------------
    @app.post("/admin/anchors", status_code=202)
    def add_anchor(body: AnchorIn, who: Caller = editor) -> dict[str, Any]:
        change = registry.add_anchor(
            who.name, anchor_id=body.id, name=body.name, x509_pem=body.x509_pem
        )
        if change is None:
            return {"applied": True}
        return {"applied": False, "pending_change": change.id}

    @app.get("/admin/anchors")
    def anchors(_: Caller = viewer) -> list[dict[str, Any]]:
        return [
            {"id": a.id, "name": a.name, "created_at": a.created_at.isoformat()}
            for a in registry.anchors()
        ]

    @app.get("/admin/changes")
    def changes(_: Caller = viewer) -> list[dict[str, Any]]:
        return [
            {"id": c.id, "kind": c.kind, "payload": c.payload, "requested_by": c.requested_by}
            for c in registry.pending_changes()
        ]

    @app.post("/admin/changes/{change_id}/approve")
    def approve(change_id: ChangeId, who: Caller = approver) -> dict[str, Any]:
        change = registry.approve(who.name, change_id)
        return {"id": change.id, "state": change.state}

    @app.post("/admin/changes/{change_id}/reject")
    def reject(change_id: ChangeId, who: Caller = approver) -> dict[str, Any]:
        change = registry.reject(who.name, change_id)
        return {"id": change.id, "state": change.state}

    @app.post("/admin/issuers", status_code=201)
    def add_issuer(body: IssuerIn, who: Caller = editor) -> dict[str, Any]:
        registry.add_issuer(
            who.name,
            did=body.did,
            legal_name=body.legal_name,
            registration_number=body.registration_number,
            accredited_by=body.accredited_by,
            credential_types={t: _constraints(c) for t, c in body.credential_types.items()},
            effective_from=_aware(body.effective_from),
        )
        return registry.issuer_view(body.did)

    @app.post("/admin/issuers/{did}/status", status_code=202)
    def set_status(did: str, body: StatusIn, who: Caller = editor) -> dict[str, Any]:
        change = registry.set_issuer_status(
            who.name,
            did,
            body.status,
            reason=body.reason,
            effective_from=_aware(body.effective_from),
        )
        return {"applied": change is None, "pending_change": None if change is None else change.id}

    @app.post("/admin/issuers/{did}/types", status_code=201)
    def grant(did: str, body: GrantIn, who: Caller = editor) -> dict[str, Any]:
        registry.grant_type(who.name, did, body.credential_type, _constraints(body.constraints))
        return registry.issuer_view(did)

    @app.post("/admin/publish", status_code=201)
    def publish(who: Caller = editor) -> dict[str, Any]:
        if signer is None:
            raise RegistryError("this server has no signing key", status=503)
        row = registry.publish(signer, who.name)
        return {
            "sequence": row.sequence,
            "issued_at": row.issued_at.isoformat(),
            "next_update": row.next_update.isoformat(),
        }

    @app.get("/admin/audit/verify")
    def audit_verify(_: Caller = viewer) -> dict[str, Any]:
        report = registry.verify_audit()
        return {
            "ok": report.ok,
            "events": report.events,
            "first_broken": report.first_broken,
            "reason": report.reason,
        }

    @app.post("/admin/tokens", status_code=201)
    def create_token(body: TokenIn, who: Caller = approver) -> dict[str, Any]:
        return {
            "name": body.name,
            "role": body.role.value,
            "token": registry.create_token(who.name, body.name, body.role),
        }

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


class _AuthError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail
