"""Shared by the trust-list client attack tests (issue 12, points 8-13): signed lists of any
size and sequence, and one verification through the verifier service."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
from _support import NOW, Issuer, credential, service_verdict

from ancre.trust.jose.vc_jose import envelope_credential, issue_vc_jwt
from ancre.trust.net.guard import NetworkPolicy
from ancre.trust.trust_list.model import (
    EntryStatus,
    StatusPeriod,
    TrustedEntity,
    TrustedService,
    TrustListDocument,
)
from ancre.trust.trust_list.signed import sign_trust_list

#: Plain HTTP to 127.0.0.1 only; the default 256 KiB response limit (sized for DID documents).
LOOPBACK = NetworkPolicy(allow_loopback=True, allow_http=True)
CREDENTIAL_TYPE = "ExampleMembership"  # the type `_support.credential` issues


def signed_list(
    registry: Issuer,
    issuers: list[str],
    sequence: int,
    *,
    next_update: datetime = NOW + timedelta(days=1),
    filler: int = 0,
) -> bytes:
    """A `trust-list+jwt` by `registry` listing `issuers` for CREDENTIAL_TYPE, plus `filler`
    more listed issuers (to make the list as large as a real data space's)."""
    since = NOW - timedelta(days=30)
    ids = issuers + [f"did:web:issuer-{i:05d}.example" for i in range(filler)]
    entities = tuple(
        TrustedEntity(
            id=ident,
            name=f"Issuer {n}",
            registration_number=f"{n:014d}",
            services=(TrustedService(CREDENTIAL_TYPE, (StatusPeriod(EntryStatus.ACTIVE, since),)),),
        )
        for n, ident in enumerate(ids)
    )
    document = TrustListDocument(
        sequence=sequence,
        issued_at=NOW - timedelta(hours=1),
        next_update=next_update,
        operator_name="Loire data space",
        scheme_name="Trusted credential issuers",
        entities=entities,
    )
    return sign_trust_list(document, registry.key, kid=registry.kid, issuer=registry.did).encode()


def listed_token(issuer: Issuer) -> str:
    """A valid credential by `issuer` (valid from 2026-01-01, for a year)."""
    return issue_vc_jwt(credential(issuer.did), issuer.key, issuer.kid)


def post(base: str, token: str) -> tuple[str, list[str]]:
    """The verifier service's verdict on `token`: (status, error codes)."""
    with httpx.Client(base_url=base, trust_env=False) as http:
        response = http.post(
            "/credentials/verify", json={"verifiableCredential": envelope_credential(token)}
        )
        return service_verdict(response)
