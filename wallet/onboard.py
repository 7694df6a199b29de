"""The onboarding bundle a Gaia-X-style data space asks of a participant.

One `vp+jwt` (VC-JOSE-COSE, the Loire shape of `shared/reference/gaiax` §2-3), signed by the
participant's identity, enveloping:

1. its ``gx:LegalPerson`` credential (required);
2. one registration-number credential — ``gx:VatID``, ``gx:LeiCode``, ``gx:EUID``,
   ``gx:LocalRegistrationNumber``, ``gx:EORI`` or ``gx:TaxID`` (at least one required; every
   valid one held is included);
3. the Gaia-X terms-and-conditions credential (``gx:Issuer`` with the SHA-256 of the T&C
   text), which the participant signs **itself** — here, with the same identity;
4. optionally, its certifications (``ancre:Certification``).

Each credential is enveloped as ``data:application/vc+jwt,<JWS>`` (an
``EnvelopedVerifiableCredential``); the presentation carries `id`, `validFrom` (mandatory in
Loire) and the usual `aud`/`nonce`/`iat`/`exp` binding. When something required is missing
— or held but not valid (revoked, expired) — nothing is signed: :class:`IncompleteError` lists each
missing item and where to get it.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final

from ancre.trust.clock import Clock
from ancre.trust.codec.json import dumps_compact
from ancre.trust.errors import Code, ConfigurationError, InvalidError
from ancre.trust.jose.jws import sign_compact
from ancre.trust.jose.vc_jose import envelope_credential, issue_vc_jwt
from ancre.trust.vcdm.credentials import (
    CERTIFICATION,
    GAIAX_DEVELOPMENT_CONTEXT,
    GAIAX_TERMS_AND_CONDITIONS_SHA256,
    GX_ISSUER,
    LEGAL_PERSON,
    REGISTRATION_NUMBER_TYPES,
)

from .credentials import VC_JWT, HeldCredential, list_credentials, matches_type
from .identities import Identity, find_identity, list_identities
from .store import WalletStore

__all__ = [
    "GAIAX_TERMS_AND_CONDITIONS_SHA256",
    "PROFILES",
    "Bundle",
    "IncompleteError",
    "Missing",
    "build_onboarding_bundle",
]

PROFILES: Final = ("gaia-x",)
VCDM2: Final = "https://www.w3.org/ns/credentials/v2"
_BUNDLE_LIFETIME: Final = timedelta(minutes=10)
_TERMS_VALIDITY: Final = timedelta(days=365)


@dataclass(frozen=True, slots=True)
class Missing:
    """One item the profile requires that the wallet cannot supply, and where to get it."""

    item: str
    accepted_types: tuple[str, ...]
    problem: str
    where: str

    def to_json(self) -> dict[str, Any]:
        return {
            "item": self.item,
            "accepted_types": list(self.accepted_types),
            "problem": self.problem,
            "where": self.where,
        }


class IncompleteError(InvalidError):
    """``onboarding_incomplete``: the wallet lacks required credentials (`missing`)."""

    def __init__(self, missing: list[Missing]) -> None:
        summary = "; ".join(f"{m.item}: {m.problem} (get it from {m.where})" for m in missing)
        super().__init__(Code.ONBOARDING_INCOMPLETE, f"cannot build the bundle: {summary}")
        self.missing = tuple(missing)


@dataclass(frozen=True, slots=True)
class Bundle:
    """The signed onboarding presentation and what it holds."""

    token: str
    holder: str
    audience: str
    nonce: str
    credentials: tuple[dict[str, Any], ...] = field(default=())
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "warnings": list(self.warnings),
            "profile": "gaia-x",
            "format": "vp+jwt",
            "holder": self.holder,
            "audience": self.audience,
            "nonce": self.nonce,
            "credentials": list(self.credentials),
            "presentation": self.token,
        }


_WHERE_LEGAL_PERSON: Final = (
    "an issuer of gx:LegalPerson credentials (with ancre: `ancre issuer offer --type "
    "LegalPerson`), then `ancre wallet receive OFFER`"
)
_WHERE_REGISTRATION: Final = (
    "a Gaia-X notary (GET <notary>/v2/registration-numbers/vat-id|lei-code/<number>, e.g. "
    "https://registrationnumber.notary.lab.gaia-x.eu/v2/) or an issuer of VatID, LeiCode, EUID "
    "or LocalRegistrationNumber credentials (`ancre issuer offer --type VatID`), then "
    "`ancre wallet receive OFFER` or `ancre wallet import FILE`"
)


def _stamp(clock: Clock, delta: timedelta = timedelta(0)) -> str:
    moment = (clock.now() + delta).replace(microsecond=0)
    return moment.isoformat().replace("+00:00", "Z")


def _pick(
    held: list[HeldCredential], types: tuple[str, ...], identity: Identity | None
) -> tuple[list[HeldCredential], list[HeldCredential]]:
    """The valid vc+jwt credentials of `types` (of `identity` when given), and the ones held
    but unusable (not valid)."""
    wanted = frozenset(types)
    matching = [
        c
        for c in held
        if c.format == VC_JWT
        and matches_type(c, wanted)
        and (identity is None or c.identity == identity.id)
    ]
    return [c for c in matching if c.status == "valid"], [
        c for c in matching if c.status != "valid"
    ]


def _missing(item: str, types: tuple[str, ...], bad: list[HeldCredential], where: str) -> Missing:
    if bad:
        states = ", ".join(f"{c.id} is {c.status}" for c in bad)
        return Missing(item, types, f"none valid ({states})", where)
    return Missing(item, types, "not in the wallet", where)


def terms_and_conditions_credential(
    identity: Identity, clock: Clock, terms_hash: str = GAIAX_TERMS_AND_CONDITIONS_SHA256
) -> str:
    """The Loire ``gx:Issuer`` credential by which `identity` accepts the Gaia-X terms and
    conditions, signed by `identity` itself (the issuer is the participant)."""
    credential_id = f"urn:uuid:{uuid.uuid4()}"
    document = {
        "@context": [VCDM2, GAIAX_DEVELOPMENT_CONTEXT],
        "id": credential_id,
        "type": ["VerifiableCredential", GX_ISSUER],
        "issuer": identity.did,
        "validFrom": _stamp(clock),
        "validUntil": _stamp(clock, _TERMS_VALIDITY),
        "credentialSubject": {
            "id": f"{credential_id}#cs",
            "type": GX_ISSUER,
            "gx:gaiaxTermsAndConditions": terms_hash,
        },
    }
    return issue_vc_jwt(document, identity.key, identity.kid)


def build_onboarding_bundle(
    store: WalletStore,
    *,
    audience: str,
    clock: Clock,
    nonce: str | None = None,
    profile: str = "gaia-x",
    identity_ref: str | None = None,
    certifications: bool = True,
) -> Bundle:
    """Assemble and sign the onboarding presentation for `audience` (the clearing house's
    or connector's URL or DID); raises :class:`IncompleteError` when a required credential is
    missing or not valid, before anything is signed."""
    if profile not in PROFILES:
        raise ConfigurationError(f"--profile must be one of {', '.join(PROFILES)}, not {profile!r}")
    if not audience:
        raise ConfigurationError("the bundle needs an --audience (the verifier's URL or DID)")
    held, _ = list_credentials(store)
    chosen = find_identity(store, identity_ref) if identity_ref is not None else None
    legal, legal_bad = _pick(held, (LEGAL_PERSON,), chosen)
    if chosen is None and legal:
        # The participant is whoever holds the LegalPerson credential.
        identities = {i.id: i for i in list_identities(store)}
        chosen = identities.get(legal[0].identity)
    registration, registration_bad = _pick(held, REGISTRATION_NUMBER_TYPES, chosen)
    missing = []
    if not legal:
        missing.append(_missing("LegalPerson", (LEGAL_PERSON,), legal_bad, _WHERE_LEGAL_PERSON))
    if not registration:
        missing.append(
            _missing(
                "registration number",
                REGISTRATION_NUMBER_TYPES,
                registration_bad,
                _WHERE_REGISTRATION,
            )
        )
    if missing:
        raise IncompleteError(missing)
    if chosen is None:  # the LegalPerson's identity record is missing or damaged
        raise InvalidError(Code.RECORD_NOT_FOUND, f"the identity holding {legal[0].id} is missing")
    certs = _pick(held, (CERTIFICATION,), chosen)[0] if certifications else []
    picked = [legal[0], *registration, *certs]
    terms = terms_and_conditions_credential(chosen, clock)
    tokens = [c.token for c in picked] + [terms]
    nonce = nonce or secrets.token_urlsafe(16)
    now = clock.now()
    payload = {
        "@context": [VCDM2],
        "id": f"urn:uuid:{uuid.uuid4()}",
        "type": ["VerifiablePresentation"],
        "holder": chosen.did,
        "validFrom": _stamp(clock),
        "validUntil": _stamp(clock, _BUNDLE_LIFETIME),
        "verifiableCredential": [envelope_credential(t) for t in tokens],
        "iss": chosen.did,
        "aud": audience,
        "nonce": nonce,
        "iat": int(now.timestamp()),
        "exp": int((now + _BUNDLE_LIFETIME).timestamp()),
    }
    header = {"kid": chosen.kid, "typ": "vp+jwt", "cty": "vp", "iss": chosen.did}
    token = sign_compact(header, dumps_compact(payload).encode("utf-8"), chosen.key)
    summary = [{"id": c.id, "types": list(c.types), "issuer": c.issuer} for c in picked]
    summary.append({"id": None, "types": ["VerifiableCredential", GX_ISSUER], "issuer": chosen.did})
    warnings = []
    if not chosen.did.startswith("did:web:"):
        # Loire: an issuer MUST be an https URL or a did:web (reference §1); the T&C
        # credential's issuer is the participant.
        warnings.append(
            f"Gaia-X expects issuers identified by did:web; the participant {chosen.did[:60]}… "
            "signs the T&C credential, so a Gaia-X clearing house will refuse it: use a did:web "
            "identity (`ancre wallet did create --method web`)"
        )
    return Bundle(token, chosen.did, audience, nonce, tuple(summary), tuple(warnings))
