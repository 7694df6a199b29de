"""Deferred issuance (OpenID4VCI 1.0 §9): credential requests held for an agency's manual
approval.

An offer created with ``approval`` (``ancre issuer offer --approval``) makes the credential
endpoint answer HTTP 202 with a ``transaction_id`` and an ``interval`` instead of the
credentials. By then the access token is consumed and every key proof checked (nonces
consumed): the request — the proven holder keys — waits in ``deferred_requests``, the
claims on the offer (kept until the credentials are issued, the request is rejected, or it
expires). An operator lists the held requests (``ancre issuer pending``) and approves or
rejects each (``ancre issuer approve|reject ID``, audited). The wallet polls the deferred
credential endpoint with the ``transaction_id`` and the same access token: 202 again while
pending; once approved, the credentials, issued in the poll's transaction (each with its
own status index), and the transaction is spent; rejected or expired:
``credential_request_denied``; unknown, another token's, or spent:
``invalid_transaction_id``. Every transition is one conditional UPDATE, so two replicas
never both decide or both deliver.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import select, update

from ancre.issuer.db import AccessTokenRow, DeferredRequestRow, OfferRow
from ancre.issuer.service import IssuedBatch, IssuerError, PendingIssuance
from ancre.issuer.templates import Authorization, Holder
from ancre.storage.audit import canonical
from ancre.trust.codec.json import loads_strict
from ancre.trust.errors import Code
from ancre.trust.keys.jwk import PublicKey

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ancre.issuer.service import Issuer

__all__ = ["HeldRequest", "collect", "decide", "held_requests", "hold"]

Decision = Literal["approve", "reject"]


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _rowcount(result: Any) -> int:
    return int(result.rowcount)


@dataclass(frozen=True, slots=True)
class HeldRequest:
    """A held request as the operator sees it: what would be issued, to how many keys, on
    whose offer. `claims` are the offer's (None once issued, rejected or expired)."""

    id: str
    configuration_id: str
    state: str
    keys: int
    created_at: datetime
    expires_at: datetime
    offer_id: str
    offered_by: str
    claims: dict[str, Any] | None
    decided_by: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "configuration": self.configuration_id,
            "state": self.state,
            "keys": self.keys,
            "requested_at": _stamp(self.created_at),
            "expires_at": _stamp(self.expires_at),
            "offer": self.offer_id,
            "offered_by": self.offered_by,
            "decided_by": self.decided_by,
            "claims": self.claims,
        }


def _stamp(moment: datetime) -> str:
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def hold(
    issuer: Issuer,
    session: Session,
    offer: OfferRow,
    holders: Sequence[Holder],
    token_digest: str,
) -> PendingIssuance:
    """Hold a checked credential request in `session`'s transaction (the one that consumed
    its access token): the offer's claims are kept as long as the request lives."""
    limits = issuer.config.limits
    now = issuer.clock.now()
    expires = now + timedelta(seconds=limits.deferred_lifetime)
    transaction_id = secrets.token_urlsafe(24)
    request_id = secrets.token_hex(8)  # typed by operators: never starting with "-"
    keys = [{"jwk": h.key.to_jwk(), "did": h.did} for h in holders]
    session.add(
        DeferredRequestRow(
            id=request_id,
            transaction_sha256=_sha256(transaction_id),
            token_sha256=token_digest,
            offer_id=offer.id,
            configuration_id=offer.configuration_id,
            holders_json=canonical(keys),
            state="pending",
            created_at=now,
            expires_at=expires,
        )
    )
    # The purge forgets an offer's claims once it has expired: not before the request does.
    offer.expires_at = expires
    issuer._audit(
        session,
        "wallet",
        "defer",
        request_id,
        {"offer": offer.id, "configuration": offer.configuration_id, "keys": len(keys)},
    )
    return PendingIssuance(transaction_id, limits.deferred_interval)


def held_requests(
    issuer: Issuer, *, everything: bool = False, limit: int = 100
) -> list[HeldRequest]:
    """The requests waiting for a decision (live, pending), oldest first; with
    `everything`, every request whatever its state, newest first."""
    now = issuer.clock.now()
    query = select(DeferredRequestRow, OfferRow).join(
        OfferRow, OfferRow.id == DeferredRequestRow.offer_id
    )
    if everything:
        query = query.order_by(DeferredRequestRow.created_at.desc())
    else:
        query = query.where(
            DeferredRequestRow.state == "pending", DeferredRequestRow.expires_at > now
        ).order_by(DeferredRequestRow.created_at)
    with issuer._read() as session:
        rows = session.execute(query.limit(limit)).all()
    return [
        HeldRequest(
            id=row.id,
            configuration_id=row.configuration_id,
            state=_shown_state(row, now),
            keys=len(loads_strict(row.holders_json, what="held keys")),
            created_at=row.created_at,
            expires_at=row.expires_at,
            offer_id=offer.id,
            offered_by=offer.created_by,
            claims=(
                loads_strict(offer.claims_json, what="stored claims")
                if offer.claims_json is not None
                else None
            ),
            decided_by=row.decided_by,
        )
        for row, offer in rows
    ]


def _shown_state(row: DeferredRequestRow, now: datetime) -> str:
    if row.state in ("pending", "approved") and row.expires_at <= now:
        return "expired"
    return row.state


def decide(issuer: Issuer, request_id: str, decision: Decision, *, actor: str) -> str:
    """Approve or reject a pending request (audited with `actor`); returns the new state.
    A rejection forgets the offer's claims at once. Refused (``IssuerError``): an unknown
    id (404), a request decided already or expired (409)."""
    now = issuer.clock.now()
    state = "approved" if decision == "approve" else "rejected"
    with issuer._transaction() as session:
        row = session.get(DeferredRequestRow, request_id)
        if row is None:
            raise IssuerError(Code.CREDENTIAL_NOT_FOUND, f"no held request {request_id!r}", 404)
        decided = _rowcount(
            session.execute(
                update(DeferredRequestRow)
                .where(
                    DeferredRequestRow.id == request_id,
                    DeferredRequestRow.state == "pending",
                    DeferredRequestRow.expires_at > now,
                )
                .values(state=state, decided_at=now, decided_by=actor)
                .execution_options(synchronize_session=False)
            )
        )
        if decided != 1:
            session.refresh(row)
            shown = _shown_state(row, now)
            raise IssuerError(Code.CONFLICT, f"request {request_id} is {shown} already", 409)
        if state == "rejected":
            session.execute(
                update(OfferRow).where(OfferRow.id == row.offer_id).values(claims_json=None)
            )
        issuer._audit(
            session,
            actor,
            decision,
            request_id,
            {"offer": row.offer_id, "configuration": row.configuration_id},
        )
    return state


def collect(issuer: Issuer, token: str, transaction_id: str) -> IssuedBatch | PendingIssuance:
    """The deferred credential endpoint's work: the credentials of an approved request
    (issued now, in the transaction that spends it), or the same transaction id again while
    it waits. The access token must be the one the request was made with."""
    digest = _sha256(token)
    now = issuer.clock.now()
    with issuer._read() as session:
        known = session.get(AccessTokenRow, digest)
        row = session.execute(
            select(DeferredRequestRow).where(
                DeferredRequestRow.transaction_sha256 == _sha256(transaction_id)
            )
        ).scalar_one_or_none()
        offer = session.get(OfferRow, row.offer_id) if row is not None else None
    if known is None:
        raise IssuerError(Code.INVALID_TOKEN, "the access token is unknown", 401)
    if row is None or offer is None or not hmac.compare_digest(row.token_sha256, digest):
        raise IssuerError(Code.INVALID_TRANSACTION_ID, "no such transaction for this token")
    if row.state == "issued":
        raise IssuerError(Code.INVALID_TRANSACTION_ID, "the credentials were delivered already")
    if row.state == "rejected":
        raise IssuerError(Code.CREDENTIAL_REQUEST_DENIED, "the issuer rejected this request")
    if row.expires_at <= now or offer.claims_json is None:
        raise IssuerError(Code.CREDENTIAL_REQUEST_DENIED, "this request has expired")
    if row.state == "pending":
        return PendingIssuance(transaction_id, issuer.config.limits.deferred_interval)
    claims = loads_strict(offer.claims_json, what="stored claims")
    authorization = Authorization.from_json(
        loads_strict(offer.authorization_json, what="stored authorization")
    )
    # Checked again (the accreditation may have lapsed), outside the write transaction.
    chosen, checked = issuer._checked(row.configuration_id, claims, authorization)
    holders = [
        Holder(PublicKey.from_jwk(key["jwk"]), str(key["did"]))
        for key in loads_strict(row.holders_json, what="held keys")
    ]
    with issuer._transaction() as session:
        spent = _rowcount(
            session.execute(
                update(DeferredRequestRow)
                .where(DeferredRequestRow.id == row.id, DeferredRequestRow.state == "approved")
                .values(state="issued", collected_at=now)
                .execution_options(synchronize_session=False)
            )
        )
        if spent != 1:
            raise IssuerError(Code.INVALID_TRANSACTION_ID, "the credentials were delivered already")
        # No notification id: @openid4vc/openid4vci 0.4.6 refuses a deferred credential
        # response that carries one (its check is inverted), and §9.2 makes it optional.
        return issuer._issue_batch(
            session, chosen, checked, holders, authorization, row.offer_id, digest, notify=False
        )
