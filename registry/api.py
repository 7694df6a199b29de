"""The registry's HTTP API (FastAPI app factory; no work at import time).

Public: `GET /trust-list` (the signed JWS, with ETag and Cache-Control), `GET
/trust-list.json` (unsigned view), `GET /issuers/{did}` (history), `GET
/issuers/{did}/trusted?type=…&at=…`. Admin, under `/admin`, with bearer tokens bound to
roles (viewer < editor < approver) and to a *person*: the two-person rule counts people,
not tokens. Every admin call that changes something is audited by the service layer; admin
reads go to a separate access log. Errors are RFC 9457 problem details carrying ancre's
stable `code`; text with control characters is a 400 `invalid_characters`, a database still
locked after retries a 503 `registry_busy` with `Retry-After`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Final

from fastapi import Depends, FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import AfterValidator, BaseModel, Field
from pydantic_core import PydanticCustomError
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from ancre.trust.errors import AncreError, Code
from ancre.trust.keys.jwk import Signer
from ancre.trust.problem import problem
from ancre.trust.trust_list.model import ClaimConstraint, EntryStatus

from .service import Registry, RegistryError, Role, check_text

__all__ = ["create_app"]

_RANK = {Role.VIEWER: 0, Role.EDITOR: 1, Role.APPROVER: 2}
_DID = r"^did:[a-z0-9]+:[A-Za-z0-9._:%-]+$"
#: Row ids are 32-bit on every database ancre supports: refuse larger ones at the edge.
ChangeId = Annotated[int, Path(ge=1, le=2**31 - 1)]
_RETRY_AFTER: Final = "1"


def _no_controls(value: str) -> str:
    try:
        check_text(value, "text")
    except RegistryError:
        raise PydanticCustomError(
            "invalid_characters", "control characters (NUL, line breaks…) are not allowed"
        ) from None
    return value


def _no_controls_multiline(value: str) -> str:
    try:
        check_text(value, "text", multiline=True)
    except RegistryError:
        raise PydanticCustomError(
            "invalid_characters", "control characters (NUL…) are not allowed"
        ) from None
    return value


#: Text the registry stores: no NUL or other control characters (PostgreSQL answered a NUL
#: with a 500; issue 12 point 6).
Text = Annotated[str, AfterValidator(_no_controls)]
MultilineText = Annotated[str, AfterValidator(_no_controls_multiline)]


def _problem(status: int, title: str, detail: str, code: Code | str) -> JSONResponse:
    return problem(status, code, detail, title=title).response(JSONResponse)


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated administrator: the person holding the token, and its role."""

    person: str
    role: Role


class ConstraintIn(BaseModel):
    claim: Text = Field(min_length=1, max_length=512, pattern=r"^[^.\s]+(\.[^.\s]+)*$")
    allowed: list[Annotated[Text, Field(min_length=1, max_length=256)]] = Field(
        min_length=1, max_length=64, alias="in"
    )


class AnchorIn(BaseModel):
    id: Text = Field(min_length=1, max_length=2048)
    name: Text = Field(min_length=1, max_length=512)
    x509_pem: MultilineText | None = Field(default=None, max_length=65536)


class IssuerIn(BaseModel):
    did: Text = Field(pattern=_DID, max_length=2048)
    legal_name: Text = Field(min_length=1, max_length=512)
    registration_number: Text | None = Field(default=None, max_length=64)
    accredited_by: Text = Field(min_length=1, max_length=2048)
    credential_types: dict[Text, list[ConstraintIn]] = Field(min_length=1, max_length=64)
    effective_from: datetime | None = None


class StatusIn(BaseModel):
    status: EntryStatus
    reason: Text = Field(min_length=1, max_length=1024)
    effective_from: datetime | None = None


class GrantIn(BaseModel):
    credential_type: Text = Field(min_length=1, max_length=256)
    constraints: list[ConstraintIn] = Field(default_factory=list, max_length=64)


class WithdrawTypeIn(BaseModel):
    credential_type: Text = Field(min_length=1, max_length=256)
    reason: Text = Field(min_length=1, max_length=1024)
    effective_from: datetime | None = None


class ChainIn(BaseModel):
    certs: MultilineText = Field(min_length=1, max_length=256 * 1024)


class TokenIn(BaseModel):
    name: Text = Field(min_length=1, max_length=256)
    role: Role
    #: Who will hold the token (default: its name). The two-person rule counts persons.
    person: Text | None = Field(default=None, min_length=1, max_length=256)


class RuleIn(BaseModel):
    enabled: bool


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
        response = _problem(exc.http_status, "Request refused", exc.message, exc.code.value)
        if exc.http_status == 503:
            response.headers["Retry-After"] = _RETRY_AFTER
        return response

    @app.exception_handler(IntegrityError)
    async def _conflict(_: Request, exc: IntegrityError) -> JSONResponse:
        # Two requests raced for the same name; the database kept the first.
        return _problem(409, "Conflict", "the entry already exists", Code.CONFLICT.value)

    @app.exception_handler(DataError)
    async def _data(_: Request, exc: DataError) -> JSONResponse:
        # A value the database refuses that validation let through: the caller's fault (400),
        # never a 500 with the driver's message.
        return _problem(400, "Invalid request", "a value is not storable", "invalid_request")

    @app.exception_handler(OperationalError)
    async def _busy(_: Request, exc: OperationalError) -> JSONResponse:
        # SQLite still locked mid-transaction after its busy timeout (writers retry taking
        # the lock in the service): a clean 503, never a 500 with the driver's text.
        if "locked" not in str(exc.orig).lower() and "busy" not in str(exc.orig).lower():
            raise exc
        response = _problem(
            503, "Busy", "the registry database is busy; try again shortly", "registry_busy"
        )
        response.headers["Retry-After"] = _RETRY_AFTER
        return response

    @app.exception_handler(AncreError)
    async def _ancre_error(_: Request, exc: AncreError) -> JSONResponse:
        return _problem(422, "Invalid request", exc.message, exc.code.value)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5]]
        if any(e["type"] == "invalid_characters" for e in exc.errors()):
            return _problem(
                400, "Invalid request", "; ".join(errors), Code.INVALID_CHARACTERS.value
            )
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
            person, role = found
            if _RANK[role] < _RANK[minimum]:
                raise _AuthError(403, f"this needs the {minimum} role; the token is {role}")
            if request.method == "GET":
                # Changes are audited by the service; reads land in the access log, outside
                # the hash chain (issue 12 point 4).
                registry.record_access(person, request.method, request.url.path)
            return Caller(person, role)

        return dependency

    @app.exception_handler(_AuthError)
    async def _auth(_: Request, exc: _AuthError) -> JSONResponse:
        code = Code.UNAUTHORIZED if exc.status == 401 else Code.FORBIDDEN
        response = _problem(exc.status, "Not allowed", exc.detail, code)
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
        from ancre.trust.codec.b64 import b64url_decode

        return json.loads(b64url_decode(payload))

    @app.get("/issuers/{did}", responses={404: {}})
    def issuer(did: Annotated[str, Field(max_length=2048)]) -> dict[str, Any]:
        """An issuer, its credential types and their full status histories (without the
        administrators who recorded them: `/admin/issuers/{did}` shows those)."""
        return registry.issuer_view(did, operators=False)

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

    # ---- admin --------------------------------------------------------------------------
    @app.post("/admin/anchors", status_code=202)
    def add_anchor(body: AnchorIn, who: Caller = editor) -> dict[str, Any]:
        change = registry.add_anchor(
            who.person, anchor_id=body.id, name=body.name, x509_pem=body.x509_pem
        )
        if change is None:
            return {"applied": True}
        return {"applied": False, "pending_change": change.id}

    @app.post("/admin/anchors/{anchor_id}/status", status_code=202)
    def set_anchor_status(anchor_id: str, body: StatusIn, who: Caller = editor) -> dict[str, Any]:
        """Suspend, withdraw or reinstate an anchor (a pending change under the rule)."""
        change = registry.set_anchor_status(
            who.person,
            anchor_id,
            body.status,
            reason=body.reason,
            effective_from=_aware(body.effective_from),
        )
        return {"applied": change is None, "pending_change": None if change is None else change.id}

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
        change = registry.approve(who.person, change_id)
        if signer is not None:
            # An approved change is the sensitive kind (anchors, tokens, the rule itself):
            # sign the log at once instead of leaving it in the unsigned tail.
            registry.checkpoint(signer)
        return {"id": change.id, "state": change.state}

    @app.post("/admin/changes/{change_id}/reject")
    def reject(change_id: ChangeId, who: Caller = approver) -> dict[str, Any]:
        change = registry.reject(who.person, change_id)
        return {"id": change.id, "state": change.state}

    @app.post("/admin/issuers", status_code=201)
    def add_issuer(body: IssuerIn, who: Caller = editor) -> dict[str, Any]:
        registry.add_issuer(
            who.person,
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
            who.person,
            did,
            body.status,
            reason=body.reason,
            effective_from=_aware(body.effective_from),
        )
        return {"applied": change is None, "pending_change": None if change is None else change.id}

    @app.post("/admin/issuers/{did}/types", status_code=201)
    def grant(did: str, body: GrantIn, who: Caller = editor) -> dict[str, Any]:
        registry.grant_type(who.person, did, body.credential_type, _constraints(body.constraints))
        return registry.issuer_view(did)

    @app.post("/admin/issuers/{did}/types/withdraw")
    def withdraw_type(did: str, body: WithdrawTypeIn, who: Caller = editor) -> dict[str, Any]:
        """Withdraw one credential type from an issuer; its other types stay."""
        registry.withdraw_type(
            who.person,
            did,
            body.credential_type,
            reason=body.reason,
            effective_from=_aware(body.effective_from),
        )
        return registry.issuer_view(did)

    @app.get("/admin/issuers/{did}")
    def admin_issuer(did: str, _: Caller = viewer) -> dict[str, Any]:
        """An issuer's histories with the administrators who recorded each change."""
        return registry.issuer_view(did)

    @app.post("/admin/settings/two-person-rule", status_code=202)
    def two_person_rule(body: RuleIn, who: Caller = approver) -> dict[str, Any]:
        """Turn the two-person rule on (at once) or off (a pending change)."""
        change = registry.set_two_person_rule(who.person, body.enabled)
        return {"applied": change is None, "pending_change": None if change is None else change.id}

    @app.post("/admin/publish", status_code=201)
    def publish(
        who: Caller = editor,
        idempotency_key: Annotated[
            Text | None, Header(min_length=1, max_length=128, alias="Idempotency-Key")
        ] = None,
    ) -> dict[str, Any]:
        """Sign and store the next list. With an `Idempotency-Key`, a retry returns the list
        the first call published instead of publishing another."""
        if signer is None:
            raise RegistryError(
                "this server has no signing key", status=503, code=Code.NO_SIGNING_KEY
            )
        row = registry.publish(signer, who.person, request_key=idempotency_key)
        return {
            "sequence": row.sequence,
            "issued_at": row.issued_at.isoformat(),
            "next_update": row.next_update.isoformat(),
        }

    @app.post("/admin/audit/checkpoint", status_code=201)
    def audit_checkpoint(_: Caller = editor) -> dict[str, Any]:
        """Sign the audit log's current (count, head) with the registry's key."""
        if signer is None:
            raise RegistryError(
                "this server has no signing key", status=503, code=Code.NO_SIGNING_KEY
            )
        row = registry.checkpoint(signer)
        return {"events": row.events, "head": row.head, "jws": row.jws}

    @app.get("/admin/audit/verify")
    def audit_verify(_: Caller = viewer) -> dict[str, Any]:
        report = registry.verify_audit(key=None if signer is None else signer.public_key)
        return {
            "ok": report.ok,
            "events": report.events,
            "signed_events": report.signed_events,
            "first_broken": report.first_broken,
            "reason": report.reason,
            "code": None if report.ok else Code.AUDIT_CHAIN_BROKEN.value,
        }

    @app.post("/admin/tokens", status_code=201)
    def create_token(body: TokenIn, response: Response, who: Caller = approver) -> dict[str, Any]:
        """Mint a token for a person. Under the two-person rule an editor or approver token
        waits for a second person's approval (202): the value is shown now, once, and works
        only after that."""
        token, change = registry.mint_token(who.person, body.name, body.role, person=body.person)
        if change is not None:
            response.status_code = 202
        return {
            "name": body.name,
            "role": body.role.value,
            "token": token,
            "pending_change": None if change is None else change.id,
        }

    @app.get("/admin/tokens")
    def tokens(_: Caller = approver) -> list[dict[str, Any]]:
        return [
            {
                "name": t.name,
                "role": t.role,
                "person": t.person,
                "revoked": t.revoked_at is not None,
            }
            for t in registry.tokens()
        ]

    @app.delete("/admin/tokens/{name}")
    def revoke_token(name: str, who: Caller = approver) -> dict[str, Any]:
        """Revoke a token at once (audited); requests with it get 401 from then on."""
        registry.revoke_token(who.person, name)
        return {"name": name, "revoked": True}

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


class _AuthError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail
