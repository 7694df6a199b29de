"""Typed verification policy. The default is strict; loosening is explicit and recorded."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, Final

from ancre.trust.codec.json import DEFAULT_MAX_DEPTH
from ancre.trust.errors import ConfigurationError
from ancre.trust.jose.jws import DEFAULT_MAX_TOKEN_BYTES

__all__ = [
    "DEFAULT_ALGORITHMS",
    "DEFAULT_CRYPTOSUITES",
    "FORMATS",
    "POLICY_FILE_MEMBERS",
    "SUPPORTED_ALGORITHMS",
    "VerificationPolicy",
    "policy_from_json",
]

#: What ancre verifies by default: what it signs (EdDSA/Ed25519, ES256, ES384) plus the RSA
#: algorithms Gaia-X notaries use. Never `none`, never a MAC (RFC 8725 §3.1–3.2).
DEFAULT_ALGORITHMS: Final = frozenset(
    {"EdDSA", "Ed25519", "ES256", "ES384", "ES512", "PS256", "RS256"}
)
#: What a policy may list in `algorithms`: the defaults plus those off by default — `ES256K`
#: (secp256k1, RFC 8812), which a deployment enables explicitly.
SUPPORTED_ALGORITHMS: Final = DEFAULT_ALGORITHMS | frozenset({"ES256K"})
#: The Data Integrity cryptosuites ancre implements (`ancre.trust.data_integrity.cryptosuites`).
DEFAULT_CRYPTOSUITES: Final = frozenset(
    {"eddsa-rdfc-2022", "eddsa-jcs-2022", "ecdsa-rdfc-2019", "ecdsa-jcs-2019", "ecdsa-sd-2023"}
)
#: The format names a policy may list (`VerificationPolicy.formats`).
FORMATS: Final = frozenset(
    {
        "vc+jwt",
        "vp+jwt",
        "dc+sd-jwt",
        "ldp_vc",
        "ldp_vp",
        "vc+sd-jwt",
        "vp+sd-jwt",
        "vc+cose",
        "vp+cose",
    }
)


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
    #: Credential types a presentation's holder may issue about itself (the Gaia-X
    #: terms-and-conditions `gx:Issuer`): such a credential, inside a presentation whose
    #: verified holder is its issuer, passes the trust step as self-issued. Anywhere else,
    #: or with any other type, the issuer must be trusted as usual. Set by a verifier
    #: profile (OpenID4VP `gaia-x-onboarding`), not by policy files.
    self_issued_types: frozenset[str] = frozenset()
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
    #: Further audiences a presentation may be bound to (a verifier known by several names:
    #: its URL and its DID). Any one of `audience` and these is accepted.
    audiences: frozenset[str] = frozenset()
    #: SD-JWT (RFC 9901 §4.1.1 `_sd_alg`): the digest algorithms accepted.
    sd_jwt_digest_algs: frozenset[str] = frozenset({"sha-256", "sha-384", "sha-512"})
    #: SD-JWT presentations: a key-binding JWT is required when the credential has a `cnf`
    #: key, and its `iat` may be at most this old (and not in the future beyond the skew).
    require_key_binding: bool = True
    key_binding_max_age: timedelta = timedelta(minutes=5)
    #: Formats accepted (None: all ancre reads): "vc+jwt" (VCDM 2.0, and 1.1 JWTs when
    #: accept_vcdm11), "vp+jwt", "dc+sd-jwt", "ldp_vc", "ldp_vp" (Data Integrity). Checked for
    #: every credential, including those inside a presentation.
    formats: frozenset[str] | None = None
    #: A trust decision is required: with neither trusted issuers nor a trust list the trust
    #: step is indeterminate (`trust_not_configured`) instead of skipped.
    require_trust: bool = False
    #: Presentations must name their holder (`holder`, or a `vp+jwt`'s `iss`; an SD-JWT VC
    #: through its key-binding JWT). VCDM 2.0 and 1.1 make `holder` optional: without it (the
    #: default), what a presentation proves is the controller of the key that signed it,
    #: recorded as the result's `holder`.
    require_holder: bool = False
    #: Extra `crit` header names the caller understands (none by default).
    understood_crit: frozenset[str] = field(default_factory=frozenset)
    #: Data Integrity cryptosuites accepted (a subset of DEFAULT_CRYPTOSUITES); a proof with
    #: another one is `policy_violation`.
    cryptosuites: frozenset[str] = DEFAULT_CRYPTOSUITES
    #: Data Integrity proof sets and chains: every proof must verify (the default). False: the
    #: document is valid when at least one proof by the issuer's (holder's) key verifies; the
    #: others are still checked and listed with their outcome in the result's `proofs`.
    require_all_proofs: bool = True

    @property
    def accepted_audiences(self) -> frozenset[str]:
        """Every audience a presentation may be bound to; empty: no audience is required."""
        if self.audience is None:
            return self.audiences
        return self.audiences | {self.audience}

    def audience_ok(self, bound_to: object) -> bool:
        """Whether `bound_to` (a string or a list of strings: `aud`, a proof's `domain`)
        names an accepted audience. Only called when one is required."""
        values = bound_to if isinstance(bound_to, list) else [bound_to]
        return any(isinstance(v, str) and v in self.accepted_audiences for v in values)


# Policy files (`ancre verify --policy`, `ancre verifier serve --policy`): JSON members and
# how each maps onto a field. Durations are whole seconds; sets are JSON arrays of strings.
_SECONDS: Final = {
    "clock_skew_seconds": "clock_skew",
    "max_credential_age_seconds": "max_credential_age",
    "key_binding_max_age_seconds": "key_binding_max_age",
}
_STRING_SETS: Final = {
    "audiences": "audiences",
    "formats": "formats",
    "algorithms": "algorithms",
    "trusted_issuers": "trusted_issuers",
    "required_types": "required_types",
    "sd_jwt_digest_algs": "sd_jwt_digest_algs",
    "cryptosuites": "cryptosuites",
}
_BOOLS: Final = frozenset(
    {
        "check_schema",
        "check_status",
        "accept_untyped_evidence",
        "accept_vcdm11",
        "require_key_binding",
        "require_trust",
        "require_holder",
        "require_all_proofs",
    }
)
_STRINGS: Final = frozenset({"audience", "nonce"})
POLICY_FILE_MEMBERS: Final = frozenset({*_SECONDS, *_STRING_SETS, *_BOOLS, *_STRINGS})


def policy_from_json(document: Any, base: VerificationPolicy | None = None) -> VerificationPolicy:
    """A policy from a policy file's JSON object, over `base` (default: the strict default).

    Every member is optional; an unknown member, a wrong type or an algorithm ancre does not
    implement is a `ConfigurationError` (a typo must not silently loosen nothing — or
    everything)."""
    if not isinstance(document, Mapping):
        raise ConfigurationError("a policy file holds one JSON object")
    unknown = sorted(set(document) - POLICY_FILE_MEMBERS)
    if unknown:
        raise ConfigurationError(
            f"unknown policy member(s) {unknown}; known: {sorted(POLICY_FILE_MEMBERS)}"
        )
    changes: dict[str, Any] = {}
    for name, value in document.items():
        if name in _SECONDS:
            if value is None and name == "max_credential_age_seconds":
                changes[_SECONDS[name]] = None
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigurationError(f"policy `{name}` must be a whole number of seconds")
            changes[_SECONDS[name]] = timedelta(seconds=value)
        elif name in _STRING_SETS:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigurationError(f"policy `{name}` must be an array of strings")
            changes[_STRING_SETS[name]] = frozenset(value)
        elif name in _BOOLS:
            if not isinstance(value, bool):
                raise ConfigurationError(f"policy `{name}` must be true or false")
            changes[name] = value
        else:
            if value is not None and not isinstance(value, str):
                raise ConfigurationError(f"policy `{name}` must be a string")
            changes[name] = value
    unknown_formats = changes.get("formats", frozenset()) - FORMATS
    if unknown_formats:
        raise ConfigurationError(
            f"policy formats {sorted(unknown_formats)} are unknown; choose among {sorted(FORMATS)}"
        )
    unknown_suites = changes.get("cryptosuites", frozenset()) - DEFAULT_CRYPTOSUITES
    if unknown_suites:
        raise ConfigurationError(
            f"policy cryptosuites {sorted(unknown_suites)} are not supported; "
            f"choose among {sorted(DEFAULT_CRYPTOSUITES)}"
        )
    unsupported = changes.get("algorithms", frozenset()) - SUPPORTED_ALGORITHMS
    if unsupported:
        raise ConfigurationError(
            f"policy algorithms {sorted(unsupported)} are not supported; "
            f"choose among {sorted(SUPPORTED_ALGORITHMS)}"
        )
    return replace(base or VerificationPolicy(), **changes)
