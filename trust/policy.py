"""Typed verification policy. The default is strict; loosening is explicit and recorded."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final

from ._json import DEFAULT_MAX_DEPTH
from ._jws import DEFAULT_MAX_TOKEN_BYTES

__all__ = ["DEFAULT_ALGORITHMS", "VerificationPolicy"]

#: What ancre verifies by default: what it signs (EdDSA/Ed25519, ES256, ES384) plus the RSA
#: algorithms Gaia-X notaries use. Never `none`, never a MAC (RFC 8725 §3.1–3.2).
DEFAULT_ALGORITHMS: Final = frozenset({"EdDSA", "Ed25519", "ES256", "ES384", "PS256", "RS256"})


@dataclass(frozen=True, slots=True)
class VerificationPolicy:
    """How strict a verification is.

    `trusted_issuers=None` means no trust list was given: the trust step is *skipped* and the
    result says so; an empty set trusts nobody.
    """

    algorithms: frozenset[str] = DEFAULT_ALGORITHMS
    max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES
    max_json_depth: int = DEFAULT_MAX_DEPTH
    clock_skew: timedelta = timedelta(seconds=60)
    #: Refuse credentials issued (validFrom/iat/nbf) longer ago than this.
    max_credential_age: timedelta | None = None
    trusted_issuers: frozenset[str] | None = None
    required_types: frozenset[str] = frozenset()
    check_schema: bool = True
    #: A credential with a `credentialStatus` whose status cannot be checked is indeterminate
    #: unless this is False (then the step is recorded as skipped).
    check_status: bool = True
    #: Accept `evidence` objects without `type` (VCDM 2.0 §5.6 requires one; Gaia-X notaries
    #: omit it). When used, the data-model check says so in the result.
    accept_untyped_evidence: bool = False
    #: Accept VCDM 1.1 JWT credentials (`vc` claim) — what didkit and many wallets emit.
    accept_vcdm11: bool = True
    #: For presentations: the audience and nonce the holder must have bound it to.
    audience: str | None = None
    nonce: str | None = None
    #: SD-JWT (RFC 9901 §4.1.1 `_sd_alg`): the digest algorithms accepted.
    sd_jwt_digest_algs: frozenset[str] = frozenset({"sha-256", "sha-384", "sha-512"})
    #: SD-JWT presentations: a key-binding JWT is required when the credential has a `cnf`
    #: key, and its `iat` may be at most this old (and not in the future beyond the skew).
    require_key_binding: bool = True
    key_binding_max_age: timedelta = timedelta(minutes=5)
    #: Extra `crit` header names the caller understands (none by default).
    understood_crit: frozenset[str] = field(default_factory=frozenset)
