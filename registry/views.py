"""The registry's records as JSON, one naming scheme for all (`docs/registry-json.md`).

The same thing has the same name everywhere: a record's identifier is `id` (an anchor's id,
an issuer's DID, a change's number, an audit event's sequence number), its display name
`name`, when it was recorded `created_at`, who did it `actor`. Every field is always
present (`null` when it does not apply), so a script never tests for a key. Times are ISO
8601 in UTC with microseconds; people's output cuts them to the second.

`ancre registry … --json` prints these; they are a stable interface: fields may be added,
never renamed or removed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ancre.trust.trust_list.model import EntryStatus

from .db import AnchorRow, AuditRow, IssuerRow, PublicationRow, TokenRow
from .service import PendingChange, Registry

__all__ = [
    "anchor_json",
    "audit_event_json",
    "change_json",
    "did_document",
    "history_json",
    "issuer_history_json",
    "issuer_json",
    "outcome_json",
    "publication_json",
    "token_json",
]


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _status(status: EntryStatus | None) -> str | None:
    return None if status is None else status.value


def anchor_json(registry: Registry, row: AnchorRow) -> dict[str, Any]:
    """`id`, `name`, `status` (now), `created_at`, `x509` (whether a root certificate is
    pinned)."""
    return {
        "id": row.id,
        "name": row.name,
        "status": _status(registry.current_status("anchor", row.id)),
        "created_at": _time(row.created_at),
        "x509": row.x509_pem is not None,
    }


def issuer_json(registry: Registry, row: IssuerRow) -> dict[str, Any]:
    """`id` (the DID), `name` (legal name), `registration_number`, `accredited_by`, `status`
    (the issuer's own, now), `created_at`, and `types`: each credential type with its status
    now."""
    return {
        "id": row.did,
        "name": row.legal_name,
        "registration_number": row.registration_number,
        "accredited_by": row.accredited_by,
        "status": _status(registry.current_status("issuer", row.did)),
        "created_at": _time(row.created_at),
        "types": [
            {"type": ctype, "status": _status(status)}
            for ctype, status in registry.issuer_types(row.did).items()
        ],
    }


def history_json(entries: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Dated status entries: `status`, `effective_from`, `reason`, `actor`."""
    return [
        {
            "status": e["status"],
            "effective_from": e["effective_from"],
            "reason": e.get("reason", ""),
            "actor": e.get("actor"),
        }
        for e in entries
    ]


def issuer_history_json(registry: Registry, row: IssuerRow) -> dict[str, Any]:
    """`issuer_json` with the full dated `history` of the issuer and of each type (and each
    type's claim `constraints`)."""
    view = registry.issuer_view(row.did)
    out = issuer_json(registry, row)
    out["history"] = history_json(view["status"])
    for entry in out["types"]:
        grant = view["types"][entry["type"]]
        entry["constraints"] = grant["constraints"]
        entry["history"] = history_json(grant["status"])
    return out


def change_json(change: PendingChange) -> dict[str, Any]:
    """A change under the two-person rule: `id`, `kind`, `state` (pending, approved,
    rejected), `actor` (who asked), `created_at`, `payload`."""
    return {
        "id": change.id,
        "kind": change.kind,
        "state": change.state,
        "actor": change.requested_by,
        "created_at": _time(change.requested_at),
        "payload": dict(change.payload),
    }


def audit_event_json(row: AuditRow) -> dict[str, Any]:
    """An audit event: `id` (its sequence number in the chain), `created_at`, `actor`,
    `action`, `subject`, `details`, `prev_hash`, `hash`."""
    return {
        "id": row.seq,
        "created_at": _time(row.at),
        "actor": row.actor,
        "action": row.action,
        "subject": row.subject,
        "details": json.loads(row.details_json),
        "prev_hash": row.prev_hash,
        "hash": row.hash,
    }


def token_json(row: TokenRow) -> dict[str, Any]:
    """An admin token (never its value): `id` (its name, which commands take), `name`,
    `role`, `person` (who holds it), `created_at`, `revoked_at`."""
    return {
        "id": row.name,
        "name": row.name,
        "role": row.role,
        "person": row.person,
        "created_at": _time(row.created_at),
        "revoked_at": _time(row.revoked_at),
    }


def publication_json(row: PublicationRow) -> dict[str, Any]:
    """A published trust list: `id` (its sequence number), `created_at` (issued at),
    `next_update`, `state_sha256`."""
    return {
        "id": row.sequence,
        "created_at": _time(row.issued_at),
        "next_update": _time(row.next_update),
        "state_sha256": row.state_sha256,
    }


def outcome_json(
    action: str,
    subject: str | int | None,
    *,
    message: str,
    change: PendingChange | None = None,
    ok: bool = True,
    code: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """What a command that changes something answers: `ok`, `code` (null on success, else
    ancre's stable error code), `message` (what a person would read), `action`, `subject`,
    `applied` (false while a change waits for a second person, once it is rejected, or on
    failure), `change` (the change filed, approved or rejected, or null), and the command's
    own fields."""
    return {
        "ok": ok,
        "code": code,
        "message": message,
        "action": action,
        "subject": subject,
        "applied": ok and (change is None or change.state == "approved"),
        "change": None if change is None else change_json(change),
        **extra,
    }


def did_document(did: str, kid: str, public_jwk: Mapping[str, Any]) -> dict[str, Any]:
    """The registry's DID document: its list-signing key as a `JsonWebKey2020` verification
    method under `assertionMethod` (what `--registry-key did:web:…` resolves). `registry
    init` writes it to `did.json`; `registry serve` serves it where did:web looks for it."""
    method = {"id": kid, "type": "JsonWebKey2020", "controller": did, "publicKeyJwk": public_jwk}
    return {
        "@context": [
            "https://www.w3.org/ns/did/v1",
            "https://w3id.org/security/suites/jws-2020/v1",
        ],
        "id": did,
        "verificationMethod": [method],
        "assertionMethod": [kid],
    }
