"""The notification endpoint's work (OpenID4VCI 1.0 §11): a wallet reports what became of
the credentials of one credential response — ``credential_accepted`` (stored),
``credential_failure`` or ``credential_deleted`` (by the user).

Each credential response carries one ``notification_id`` (``ancre.issuer.service``),
bound to the access token it was issued under; the wallet must present that token. The
event is recorded on every credential of the response (``issued_credentials.wallet_event``
and its time) and in the audit log — only when it changes: a notification is idempotent,
and a wallet repeating one does not grow the log.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

from sqlalchemy import select

from ancre.issuer.db import AccessTokenRow, CredentialRow, NotificationRow
from ancre.issuer.oid4vci import NOTIFICATION_EVENTS
from ancre.issuer.service import IssuerError
from ancre.trust.errors import Code

if TYPE_CHECKING:
    from ancre.issuer.service import Issuer

__all__ = ["notify"]


def notify(
    issuer: Issuer,
    token: str,
    notification_id: str,
    event: str,
    description: str | None = None,
) -> list[str]:
    """Record `event` on the credentials `notification_id` names; returns their ids.
    Refused: an unknown access token (``invalid_token``, 401), an unknown or expired
    notification id or one of another token (``invalid_notification_id``)."""
    if event not in NOTIFICATION_EVENTS:
        raise IssuerError(Code.INVALID_NOTIFICATION_REQUEST, f"unknown event {event!r}")
    digest = hashlib.sha256(token.encode("utf-8")).hexdigest()
    now = issuer.clock.now()
    with issuer._transaction() as session:
        if session.get(AccessTokenRow, digest) is None:
            raise IssuerError(Code.INVALID_TOKEN, "the access token is unknown", 401)
        row = session.get(NotificationRow, notification_id)
        if (
            row is None
            or not hmac.compare_digest(row.token_sha256, digest)
            or row.expires_at <= now
        ):
            raise IssuerError(
                Code.INVALID_NOTIFICATION_ID, "no such notification id for this token"
            )
        credentials = list(
            session.execute(
                select(CredentialRow)
                .where(CredentialRow.notification_id == notification_id)
                .order_by(CredentialRow.id)
            ).scalars()
        )
        changed = [c for c in credentials if c.wallet_event != event]
        for credential in changed:
            credential.wallet_event = event
            credential.wallet_event_at = now
        if changed:
            details: dict[str, object] = {
                "event": event,
                "credentials": [c.id for c in credentials],
            }
            if description:
                details["description"] = description
            issuer._audit(session, "wallet", "notification", notification_id, details)
    return [c.id for c in credentials]
