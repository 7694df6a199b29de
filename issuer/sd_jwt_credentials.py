"""The SD-JWT VCs ancre issues about a person: Mandate and DirectorCertification.

Both are :func:`ancre.trust.sd_jwt.vc.issue_sd_jwt_vc` with a fixed ``vct``, a holder key and
the personal claims present (names, birth data) disclosable by default; they share
:func:`issue_personal_sd_jwt_vc` and differ only by their type.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from ancre.trust.keys.jwk import PublicKey, Signer
from ancre.trust.sd_jwt.disclosure import SaltSource
from ancre.trust.sd_jwt.issue import SdJwt
from ancre.trust.sd_jwt.vc import PERSONAL_CLAIMS, issue_sd_jwt_vc
from ancre.trust.vcdm.credentials import DIRECTOR_CERTIFICATION_VCT, MANDATE_VCT

__all__ = [
    "issue_director_certification",
    "issue_mandate",
    "issue_personal_sd_jwt_vc",
]


def _default_personal(claims: Mapping[str, Any]) -> list[str]:
    return [f"/{name}" for name in sorted(PERSONAL_CLAIMS.intersection(claims))]


def issue_personal_sd_jwt_vc(
    vct: str,
    claims: Mapping[str, Any],
    signer: Signer,
    *,
    issuer: str,
    holder_jwk: Mapping[str, Any] | PublicKey,
    disclosable: Iterable[str] | None = None,
    kid: str | None = None,
    x5c: Sequence[str] | None = None,
    issued_at: datetime | None = None,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    status: Mapping[str, Any] | None = None,
    decoys: int = 0,
    salt_source: SaltSource = secrets,
) -> SdJwt:
    """Issue an SD-JWT VC of type `vct` about a person, bound to the holder key, after
    checking `claims` against the type's schema. `disclosable` defaults to the personal
    claims present (:data:`~ancre.trust.sd_jwt.vc.PERSONAL_CLAIMS`); a value that leaves one
    of them plain is refused."""
    pointers = list(disclosable) if disclosable is not None else _default_personal(claims)
    return issue_sd_jwt_vc(
        claims,
        signer,
        issuer=issuer,
        vct=vct,
        disclosable=pointers,
        holder_jwk=holder_jwk,
        kid=kid,
        x5c=x5c,
        issued_at=issued_at,
        valid_from=valid_from,
        valid_until=valid_until,
        status=status,
        decoys=decoys,
        salt_source=salt_source,
    )


def issue_mandate(claims: Mapping[str, Any], signer: Signer, **options: Any) -> SdJwt:
    """Issue a Mandate: an EUDI Power of Representation attestation (``vct``
    ``urn:eu.europa.ec.eudi:por:1``). Options as :func:`issue_personal_sd_jwt_vc`."""
    return issue_personal_sd_jwt_vc(MANDATE_VCT, claims, signer, **options)


def issue_director_certification(
    claims: Mapping[str, Any], signer: Signer, **options: Any
) -> SdJwt:
    """Issue a DirectorCertification (``vct`` ``urn:ancre:director-certification:1``).
    Options as :func:`issue_personal_sd_jwt_vc`."""
    return issue_personal_sd_jwt_vc(DIRECTOR_CERTIFICATION_VCT, claims, signer, **options)
