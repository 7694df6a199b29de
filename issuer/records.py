"""One issued credential's record, as ``ancre issuer show`` and the admin API report it.

Only what the database keeps (docs/issuer.md "What is stored"): the credential's metadata
(configuration, format, holder DID or key thumbprint, signing key, dates, state), its status
entries with their current values, the offer it came from (or the VC-API client that
issued it), and its history from the audit log — the offer's creation and redemption, the
issuance, every status change with who made it. Never a claim of the credential.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select

from ancre.issuer.db import (
    AuditRow,
    CredentialRow,
    StatusEntryRow,
    StatusListRow,
    VcApiCredentialRow,
)
from ancre.issuer.service import Issuer, IssuerError
from ancre.issuer.templates import TEMPLATES
from ancre.trust.errors import AncreError, Code

__all__ = ["credential_record"]

_MAX_ID = 128  # the issued_credentials.id column


def _stamp(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _holder_thumbprint(row: CredentialRow) -> str | None:
    """The RFC 7638 thumbprint of the holder's key: kept as such for an SD-JWT VC (its
    `cnf`), derived from a did:jwk or did:key holder; None for another subject id (a VC-API
    caller's)."""
    if row.format == "dc+sd-jwt":
        return row.holder
    try:
        if row.holder.startswith("did:jwk:"):
            from ancre.trust.did.jwk import DidJwkResolver

            document = DidJwkResolver().resolve(row.holder)
        elif row.holder.startswith("did:key:"):
            from ancre.trust.did.key import DidKeyResolver

            document = DidKeyResolver().resolve(row.holder)
        else:
            return None
    except AncreError:
        return None
    methods = list(document.verification_methods.values())
    return methods[0].public_key.thumbprint() if len(methods) == 1 else None


def credential_record(issuer: Issuer, credential_id: str) -> dict[str, Any]:
    """The record of `credential_id` (a JSON object); ``IssuerError(credential_not_found,
    404)`` when this issuer did not issue it."""
    if not isinstance(credential_id, str) or not 0 < len(credential_id) <= _MAX_ID:
        raise IssuerError(Code.CREDENTIAL_NOT_FOUND, "no such credential", 404)
    with issuer._read() as session:
        row = session.get(CredentialRow, credential_id)
        if row is None:
            raise IssuerError(Code.CREDENTIAL_NOT_FOUND, f"no credential {credential_id!r}", 404)
        entries = session.execute(
            select(StatusEntryRow, StatusListRow.purpose)
            .join(StatusListRow, StatusListRow.id == StatusEntryRow.list_id)
            .where(StatusEntryRow.credential_id == credential_id)
            .order_by(StatusEntryRow.list_id)
        ).all()
        client = session.get(VcApiCredentialRow, credential_id)
        subjects = [credential_id] if row.offer_id is None else [credential_id, row.offer_id]
        events = session.execute(
            select(AuditRow)
            .where(or_(*(AuditRow.subject == s for s in subjects)))
            .order_by(AuditRow.seq)
        ).scalars()
        history = [
            {
                "seq": e.seq,
                "at": _stamp(e.at),
                "actor": e.actor,
                "action": e.action,
                "details": json.loads(e.details_json),
            }
            for e in events
        ]
    known = TEMPLATES.get(row.configuration_id)
    return {
        "id": row.id,
        "configuration": row.configuration_id,
        "type": known.credential_type if known is not None else None,
        "format": row.format,
        "holder": row.holder,
        "holder_thumbprint": _holder_thumbprint(row),
        "kid": row.kid,
        "issued_at": _stamp(row.issued_at),
        "valid_until": _stamp(row.valid_until),
        "state": row.state,
        "offer_id": row.offer_id,
        "vc_api_client": client.client if client is not None else None,
        "status": [
            {
                "list": entry.list_id,
                "purpose": purpose,
                "index": entry.idx,
                "value": entry.value,
                "url": issuer.status_list_url(entry.list_id),
            }
            for entry, purpose in entries
        ],
        "history": history,
    }
