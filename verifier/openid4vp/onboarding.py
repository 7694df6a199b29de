"""The `gaia-x-onboarding` profile of an OpenID4VP request: the Gaia-X onboarding
presentation (shared/reference/gaiax §2-4, the content `ancre wallet onboard` puts in one
`vp+jwt`) asked for as one DCQL Credential Query per member and checked as a set.

OpenID4VP 1.0 answers each Credential Query with its own presentation (§6.1, §8.1; §B.1 a
`jwt_vc_json` VP per query), each bound to the request's `nonce` and the Client Identifier.
What makes them one onboarding bundle is checked here, after each presentation verified on
its own:

* every required member is there and valid: a ``gx:LegalPerson``, a registration number
  (``gx:VatID``, ``gx:LeiCode``, ``gx:EUID``, ``gx:LocalRegistrationNumber``, ``gx:EORI``,
  ``gx:TaxID``) and the terms-and-conditions credential (``gx:Issuer``) —
  `onboarding_incomplete` otherwise;
* one participant: every presentation has the same verified holder (`holder_mismatch`); an
  SD-JWT member's holder is its key (``cnf.jwk``, named by its RFC 9278 thumbprint URI): the
  same participant as a did:jwk of that key, or as the other members' DID (did:web, did:key…)
  when that key is one of the DID document's `authentication` keys — the document resolved
  through the verifier's resolver (SSRF-guarded, cached), once per answer. A DID that cannot
  be resolved leaves the bundle `indeterminate` (the resolver's code); a key that is not in
  it is `holder_mismatch`;
* the terms-and-conditions credential is the participant's own signature (issuer = holder)
  over the Loire T&C hash (`policy_violation` otherwise). Under this profile only, the trust
  step accepts it as self-issued (`VerificationPolicy.self_issued_types`); a self-issued
  credential of any other type (a LegalPerson about oneself) still needs a trusted issuer.

The Mandate (``urn:eu.europa.ec.eudi:por:1``, a ``dc+sd-jwt``) is an optional member: the
verifier asks for only the claims it needs with a DCQL `claims` list (the demo: the company
identifier, the role and the scope of the powers), the wallet discloses only those, and the
member's report says which claims were disclosed (`disclosed`).

Certifications, VAT IDs, mandates: whatever else the DCQL query asks for is required by DCQL
itself (§6.4.2) and checked per presentation like any other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Final

from ancre.trust.codec.b64 import b64url_decode
from ancre.trust.codec.json import loads_strict
from ancre.trust.did.document import DidDocument, RevokedKey
from ancre.trust.errors import AncreError, Code, Outcome
from ancre.trust.keys.jwk import JWK_THUMBPRINT_URI_PREFIX, jwk_thumbprint
from ancre.trust.policy import VerificationPolicy
from ancre.trust.result import Status
from ancre.trust.vcdm.credentials import (
    CERTIFICATION,
    GAIAX_TERMS_AND_CONDITIONS_SHA256,
    GX_ISSUER,
    LEGAL_PERSON,
    MANDATE_VCT,
    REGISTRATION_NUMBER_TYPES,
)
from ancre.trust.vcdm.model import issuer_id

from .dcql import DcqlError, DcqlQuery

__all__ = [
    "GAIA_X_ONBOARDING",
    "PROFILES",
    "REQUIRED_ROLES",
    "Member",
    "bind_policy",
    "check_bundle",
    "check_query",
]

GAIA_X_ONBOARDING: Final = "gaia-x-onboarding"
PROFILES: Final = frozenset({GAIA_X_ONBOARDING})
#: Each member's role, recognised by its credential types (first match wins).
ROLES: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("legal_person", (LEGAL_PERSON,)),
    ("registration_number", REGISTRATION_NUMBER_TYPES),
    ("terms_and_conditions", (GX_ISSUER,)),
    ("certification", (CERTIFICATION,)),
    ("mandate", (MANDATE_VCT,)),
)
REQUIRED_ROLES: Final = ("legal_person", "registration_number", "terms_and_conditions")
_ROLE_TYPES: Final = dict(ROLES)
_LABEL: Final = {
    "legal_person": "the LegalPerson credential (gx:LegalPerson)",
    "registration_number": "a registration number credential (gx:VatID, gx:LeiCode, …)",
    "terms_and_conditions": "the terms-and-conditions credential (gx:Issuer)",
}
#: What the participant may sign about itself under this profile.
SELF_ISSUED_TYPES: Final = frozenset({GX_ISSUER})

Member = tuple[str, str | None, tuple[str, ...], Mapping[str, Any]]
"""An accepted presentation: (credential query id, verified holder, the credential's types
— `vct` for an SD-JWT VC —, its claims)."""

Resolve = Callable[[str], DidDocument]
"""The verifier's DID resolver (`DidResolver.resolve`)."""

BundleError = tuple[str, str, Status]
"""One failed cross-check of the bundle: (code, message, the status it gives the answer)."""


def role_of(types: Sequence[str]) -> str | None:
    for role, accepted in ROLES:
        if any(t in accepted for t in types):
            return role
    return None


def _participant(holder: str | None) -> str:
    """Who a holder is, for comparing presentations: a did:jwk is its key, named as an
    SD-JWT+KB names its holder (RFC 9278 thumbprint URI)."""
    if holder is None:
        return "?"
    if holder.startswith("did:jwk:"):
        try:
            jwk = loads_strict(b64url_decode(holder[8:].split("#", 1)[0]), max_bytes=4096)
            if isinstance(jwk, dict):
                return JWK_THUMBPRINT_URI_PREFIX + jwk_thumbprint(jwk)
        except AncreError:
            pass  # verified as a DID already; compared as it is
    return holder


def _key_aliases(
    holders: Sequence[str], resolve: Resolve | None
) -> tuple[dict[str, str], list[BundleError]]:
    """SD-JWT holders (key thumbprint URIs) that are the other members' DID: the key is one
    of that DID document's `authentication` keys (not revoked, controlled by the DID). Only
    when exactly one DID (other than a did:jwk, which is its key already) names the other
    members; its document is resolved once. Returns {thumbprint URI: DID} and the errors of
    a resolution that failed."""
    dids = {h for h in holders if h.startswith("did:") and not h.startswith("did:jwk:")}
    keyed = {h for h in holders if h.startswith(JWK_THUMBPRINT_URI_PREFIX)}
    if len(dids) != 1 or not keyed or resolve is None:
        return {}, []
    (did,) = dids
    try:
        document = resolve(did)
    except AncreError as error:
        status = Status.INDETERMINATE if error.outcome is Outcome.INDETERMINATE else Status.INVALID
        return {}, [
            (
                error.code.value,
                f"the holder {did} could not be resolved to compare its keys with the SD-JWT "
                f"members' holder keys: {error.message}",
                status,
            )
        ]
    own = set()
    for method_id in document.authentication:
        vm = document.verification_methods.get(method_id)
        if vm is None or isinstance(vm.public_key, RevokedKey):
            continue
        if vm.controller != document.id and vm.controller not in document.controller:
            continue
        try:
            own.add(JWK_THUMBPRINT_URI_PREFIX + vm.public_key.thumbprint())
        except AncreError:
            continue  # a key type without a thumbprint rule binds no SD-JWT
    return {h: did for h in keyed if h in own}, []


def check_query(profile: str | None, query: DcqlQuery) -> None:
    """At creation: refuse a profile ancre does not know, or a query that cannot yield the
    bundle (a required member nobody asks for) — the request would never be satisfiable."""
    if profile is None:
        return
    if profile not in PROFILES:
        raise DcqlError(f"profile must be one of {sorted(PROFILES)}, not {profile[:40]!r}")
    asked: set[str] = set()
    for q in query.credentials:
        for option in (*q.type_values, *((v,) for v in q.vct_values)):
            role = role_of(option)
            if role is not None:
                asked.add(role)
    missing = [_LABEL[r] for r in REQUIRED_ROLES if r not in asked]
    if missing:
        raise DcqlError(
            f"the {profile} profile needs a credential query for each of: {'; '.join(missing)}"
        )


def bind_policy(profile: str | None, policy: VerificationPolicy) -> VerificationPolicy:
    """The policy each presentation of the transaction is verified with."""
    if profile != GAIA_X_ONBOARDING:
        return policy
    return replace(policy, self_issued_types=SELF_ISSUED_TYPES)


def _subject(claims: Mapping[str, Any]) -> Mapping[str, Any]:
    subject = claims.get("credentialSubject")
    if isinstance(subject, list) and len(subject) == 1:
        subject = subject[0]
    return subject if isinstance(subject, Mapping) else {}


def check_bundle(
    profile: str,
    query: DcqlQuery,
    members: Sequence[Member],
    answered: Mapping[str, str],
    resolve: Resolve | None = None,
) -> tuple[dict[str, Any], list[BundleError]]:
    """The bundle's report and its errors (code, message, status). `members` are the
    presentations that verified and satisfied their query; `answered` is each credential
    query's outcome (`valid`, `invalid`, `indeterminate`, or `missing`). `resolve`: the
    verifier's DID resolver, to tell whether an SD-JWT member's key is the DID holder's
    (without it, such a member counts as another holder)."""
    holders = sorted({h or "?" for _, h, _, _ in members})
    aliases, errors = _key_aliases(holders, resolve)

    def participant(holder: str | None) -> str:
        return _participant(aliases.get(holder or "?", holder))

    if not errors and len({participant(h) for _, h, _, _ in members}) > 1:
        errors.append(
            (
                Code.HOLDER_MISMATCH,
                f"the presentations come from {len(holders)} holders ({', '.join(holders)}): "
                "an onboarding bundle is one participant's",
                Status.INVALID,
            )
        )
    roles: dict[str, list[str]] = {}
    for query_id, holder, types, claims in members:
        role = role_of(types)
        if role is None:
            continue
        roles.setdefault(role, []).append(query_id)
        if role != "terms_and_conditions":
            continue
        if holder is None or issuer_id(claims) != holder:
            errors.append(
                (
                    Code.POLICY_VIOLATION,
                    f"{query_id}: the terms and conditions must be signed by the participant "
                    f"itself ({holder}), not by {issuer_id(claims)}",
                    Status.INVALID,
                )
            )
        elif _subject(claims).get("gx:gaiaxTermsAndConditions") != (
            GAIAX_TERMS_AND_CONDITIONS_SHA256
        ):
            errors.append(
                (
                    Code.POLICY_VIOLATION,
                    f"{query_id}: gx:gaiaxTermsAndConditions is not the SHA-256 of the Gaia-X "
                    f"terms and conditions ({GAIAX_TERMS_AND_CONDITIONS_SHA256})",
                    Status.INVALID,
                )
            )
    missing = [r for r in REQUIRED_ROLES if r not in roles]
    if missing:
        errors.append(
            (
                Code.ONBOARDING_INCOMPLETE,
                "no valid presentation of " + "; ".join(_LABEL[r] for r in missing),
                Status.INVALID,
            )
        )
    report: dict[str, Any] = {
        "profile": profile,
        # The DID when one presentation names it (a vp+jwt), else the key's thumbprint URI.
        "holder": _reported_holder(holders, aliases),
        "members": [
            {
                "credential_query": q.id,
                "role": next(
                    (r for r, ids in roles.items() if q.id in ids),
                    role_of([t for option in q.type_values for t in option] + list(q.vct_values)),
                ),
                "status": answered.get(q.id, "missing"),
            }
            for q in query.credentials
        ],
        "missing": missing,
    }
    return report, errors


def _reported_holder(holders: Sequence[str], aliases: Mapping[str, str]) -> str | None:
    participants = {_participant(aliases.get(h, h)) for h in holders}
    if len(participants) != 1:
        return None
    return next((h for h in holders if h.startswith("did:")), holders[0] if holders else None)
