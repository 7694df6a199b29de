"""The registry's admin routes, under `/admin`, each needing a bearer token of at least a
role (viewer < editor < approver). The service audits every change they make."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Response

from ancre.trust.errors import Code
from ancre.trust.keys.jwk import Signer

from ..service import PendingChange, RegistryError
from .bodies import (
    AnchorIn,
    GrantIn,
    IssuerIn,
    RuleIn,
    StatusIn,
    Text,
    TokenIn,
    WithdrawTypeIn,
    aware,
    constraints,
)
from .context import Caller, RouteContext

#: Row ids are 32-bit on every database ancre supports: refuse larger ones at the edge.
ChangeId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _pending(change: PendingChange | None) -> dict[str, Any]:
    """The answer to a change the two-person rule may hold: applied, or the pending id."""
    return {"applied": change is None, "pending_change": None if change is None else change.id}


def _need_signer(signer: Signer | None) -> Signer:
    if signer is None:
        raise RegistryError("this server has no signing key", status=503, code=Code.NO_SIGNING_KEY)
    return signer


def anchors_router(context: RouteContext) -> APIRouter:
    """Trust anchors: add one, change its status, list them."""
    router = APIRouter()
    registry, editor, viewer = context.registry, context.editor, context.viewer

    @router.post("/admin/anchors", status_code=202)
    def add_anchor(body: AnchorIn, who: Caller = editor) -> dict[str, Any]:
        change = registry.add_anchor(
            who.person, anchor_id=body.id, name=body.name, x509_pem=body.x509_pem
        )
        if change is None:
            return {"applied": True}
        return {"applied": False, "pending_change": change.id}

    @router.post("/admin/anchors/{anchor_id}/status", status_code=202)
    def set_anchor_status(anchor_id: str, body: StatusIn, who: Caller = editor) -> dict[str, Any]:
        """Suspend, withdraw or reinstate an anchor (a pending change under the rule)."""
        change = registry.set_anchor_status(
            who.person,
            anchor_id,
            body.status,
            reason=body.reason,
            effective_from=aware(body.effective_from),
        )
        return _pending(change)

    @router.get("/admin/anchors")
    def anchors(_: Caller = viewer) -> list[dict[str, Any]]:
        return [
            {"id": a.id, "name": a.name, "created_at": a.created_at.isoformat()}
            for a in registry.anchors()
        ]

    return router


def changes_router(context: RouteContext) -> APIRouter:
    """Changes the two-person rule holds: list them, approve or reject one."""
    router = APIRouter()
    registry, signer = context.registry, context.signer

    @router.get("/admin/changes")
    def changes(_: Caller = context.viewer) -> list[dict[str, Any]]:
        return [
            {"id": c.id, "kind": c.kind, "payload": c.payload, "requested_by": c.requested_by}
            for c in registry.pending_changes()
        ]

    @router.post("/admin/changes/{change_id}/approve")
    def approve(change_id: ChangeId, who: Caller = context.approver) -> dict[str, Any]:
        change = registry.approve(who.person, change_id)
        if signer is not None:
            # An approved change is the sensitive kind (anchors, tokens, the rule itself):
            # sign the log at once instead of leaving it in the unsigned tail.
            registry.checkpoint(signer)
        return {"id": change.id, "state": change.state}

    @router.post("/admin/changes/{change_id}/reject")
    def reject(change_id: ChangeId, who: Caller = context.approver) -> dict[str, Any]:
        change = registry.reject(who.person, change_id)
        return {"id": change.id, "state": change.state}

    return router


def issuers_router(context: RouteContext) -> APIRouter:
    """Trusted issuers: add one, change its status, grant or withdraw a credential type,
    and its history with the administrators who recorded it."""
    router = APIRouter()
    registry, editor = context.registry, context.editor

    @router.post("/admin/issuers", status_code=201)
    def add_issuer(body: IssuerIn, who: Caller = editor) -> dict[str, Any]:
        registry.add_issuer(
            who.person,
            did=body.did,
            legal_name=body.legal_name,
            registration_number=body.registration_number,
            accredited_by=body.accredited_by,
            credential_types={t: constraints(c) for t, c in body.credential_types.items()},
            effective_from=aware(body.effective_from),
        )
        return registry.issuer_view(body.did)

    @router.post("/admin/issuers/{did}/status", status_code=202)
    def set_status(did: str, body: StatusIn, who: Caller = editor) -> dict[str, Any]:
        change = registry.set_issuer_status(
            who.person,
            did,
            body.status,
            reason=body.reason,
            effective_from=aware(body.effective_from),
        )
        return _pending(change)

    @router.post("/admin/issuers/{did}/types", status_code=201)
    def grant(did: str, body: GrantIn, who: Caller = editor) -> dict[str, Any]:
        registry.grant_type(who.person, did, body.credential_type, constraints(body.constraints))
        return registry.issuer_view(did)

    @router.post("/admin/issuers/{did}/types/withdraw")
    def withdraw_type(did: str, body: WithdrawTypeIn, who: Caller = editor) -> dict[str, Any]:
        """Withdraw one credential type from an issuer; its other types stay."""
        registry.withdraw_type(
            who.person,
            did,
            body.credential_type,
            reason=body.reason,
            effective_from=aware(body.effective_from),
        )
        return registry.issuer_view(did)

    @router.get("/admin/issuers/{did}")
    def admin_issuer(did: str, _: Caller = context.viewer) -> dict[str, Any]:
        """An issuer's histories with the administrators who recorded each change."""
        return registry.issuer_view(did)

    return router


def governance_router(context: RouteContext) -> APIRouter:
    """The two-person rule setting, publication of the signed list, and the audit log's
    checkpoints and verification."""
    router = APIRouter()
    registry, signer = context.registry, context.signer

    @router.post("/admin/settings/two-person-rule", status_code=202)
    def two_person_rule(body: RuleIn, who: Caller = context.approver) -> dict[str, Any]:
        """Turn the two-person rule on (at once) or off (a pending change)."""
        return _pending(registry.set_two_person_rule(who.person, body.enabled))

    @router.post("/admin/publish", status_code=201)
    def publish(
        who: Caller = context.editor,
        idempotency_key: Annotated[
            Text | None, Header(min_length=1, max_length=128, alias="Idempotency-Key")
        ] = None,
    ) -> dict[str, Any]:
        """Sign and store the next list. With an `Idempotency-Key`, a retry returns the list
        the first call published instead of publishing another."""
        row = registry.publish(_need_signer(signer), who.person, request_key=idempotency_key)
        return {
            "sequence": row.sequence,
            "issued_at": row.issued_at.isoformat(),
            "next_update": row.next_update.isoformat(),
        }

    @router.post("/admin/audit/checkpoint", status_code=201)
    def audit_checkpoint(_: Caller = context.editor) -> dict[str, Any]:
        """Sign the audit log's current (count, head) with the registry's key."""
        row = registry.checkpoint(_need_signer(signer))
        return {"events": row.events, "head": row.head, "jws": row.jws}

    @router.get("/admin/audit/verify")
    def audit_verify(_: Caller = context.viewer) -> dict[str, Any]:
        report = registry.verify_audit(key=None if signer is None else signer.public_key)
        return report.to_json()

    return router


def tokens_router(context: RouteContext) -> APIRouter:
    """Admin tokens, approvers only: mint one for a person, list them, revoke one."""
    router = APIRouter()
    registry, approver = context.registry, context.approver

    @router.post("/admin/tokens", status_code=201)
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

    @router.get("/admin/tokens")
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

    @router.delete("/admin/tokens/{name}")
    def revoke_token(name: str, who: Caller = approver) -> dict[str, Any]:
        """Revoke a token at once (audited); requests with it get 401 from then on."""
        registry.revoke_token(who.person, name)
        return {"name": name, "revoked": True}

    return router
