"""Credential templates: what each credential type an issuer offers looks like.

A :class:`Template` declares a credential configuration (its OpenID4VCI
``credential_configuration_id``): the format (``vc+jwt`` or ``dc+sd-jwt``), the type or
``vct``, which claims are selectively disclosable, how long a credential stays valid, its
display names, and the :class:`Requirement` the authorization step must meet. Templates know
nothing of HTTP: the authorization step (an operator's offer today, the ProConnect login
bridge next) hands them an :class:`Authorization`, and the wallet's proven key arrives as a
:class:`Holder`.

Building an unsigned credential checks it as issuance must: the VCDM 2.0 data model and the
type's JSON Schema for ``vc+jwt`` (signing checks the data model again), the SD-JWT VC rules
and schema for ``dc+sd-jwt`` (in :func:`ancre.trust.sd_jwt.vc.issue_sd_jwt_vc`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Final, Literal

from ancre.issuer.builders import CREDENTIAL_CONTEXT
from ancre.trust.errors import Code, ConfigurationError, InvalidError
from ancre.trust.keys.jwk import PublicKey
from ancre.trust.vcdm.credentials import (
    ADMINISTRATIVE_SERVICE,
    CERTIFICATION,
    DIRECTOR_CERTIFICATION_VCT,
    EUID,
    LEGAL_PERSON,
    LEI_CODE,
    LOCAL_REGISTRATION_NUMBER,
    MANDATE_VCT,
    VAT_ID,
    subject_schema_errors,
)
from ancre.trust.vcdm.model import check_credential

__all__ = [
    "SD_EVIDENCE_POINTER",
    "TEMPLATES",
    "Authorization",
    "Format",
    "Holder",
    "Requirement",
    "Template",
    "template",
]

Format = Literal["vc+jwt", "dc+sd-jwt"]

#: Where a ``dc+sd-jwt`` credential carries the authorization's evidence: one claim,
#: selectively disclosable as a whole (docs/proconnect.md "What each credential proves").
SD_EVIDENCE_POINTER: Final = "/evidence"

#: Claims a caller may not set in a vc+jwt subject: the holder binding decides `id`.
_RESERVED_SUBJECT: Final = frozenset({"id", "@id"})
#: At most this many claims, this deep: an offer's claims come from an operator's file.
MAX_CLAIMS_BYTES: Final = 64 * 1024


@dataclass(frozen=True, slots=True)
class Authorization:
    """What the authorization step established about the subject, before any issuance.

    `method` names the step (``"operator"`` for an offer an operator created,
    ``"login"`` for the login bridge); `actor` who performed it; `acr` the authentication
    context of a login; `register_checked` whether a company register confirmed the claims;
    `evidence` VCDM evidence objects describing those checks (copied into ``vc+jwt``
    credentials, and into ``dc+sd-jwt`` ones as the disclosable :data:`SD_EVIDENCE_POINTER`
    claim)."""

    method: str
    actor: str
    acr: str | None = None
    register_checked: bool = False
    evidence: tuple[Mapping[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "actor": self.actor,
            "acr": self.acr,
            "register_checked": self.register_checked,
            "evidence": [dict(e) for e in self.evidence],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Authorization:
        return cls(
            method=str(data["method"]),
            actor=str(data["actor"]),
            acr=data.get("acr"),
            register_checked=bool(data.get("register_checked", False)),
            evidence=tuple(data.get("evidence", ())),
        )


@dataclass(frozen=True, slots=True)
class Requirement:
    """What an :class:`Authorization` must hold for a template to issue.

    `methods`: the accepted authorization methods; `acr_values`: when a login is used, the
    acceptable `acr` values (empty: any); `register_check`: a register must have confirmed
    the claims (the operator vouches for it when creating an offer)."""

    methods: frozenset[str] = frozenset({"operator", "login"})
    acr_values: frozenset[str] = frozenset()
    register_check: bool = False

    def check(self, authorization: Authorization) -> None:
        """Raise ``InvalidError(authorization_insufficient)`` when `authorization` falls
        short."""
        if authorization.method not in self.methods:
            raise InvalidError(
                Code.AUTHORIZATION_INSUFFICIENT,
                f"authorization by {authorization.method!r}; this credential needs one of "
                f"{sorted(self.methods)}",
            )
        if (
            authorization.method == "login"
            and self.acr_values
            and authorization.acr not in self.acr_values
        ):
            raise InvalidError(
                Code.AUTHORIZATION_INSUFFICIENT,
                f"login acr {authorization.acr!r} is not one of {sorted(self.acr_values)}",
            )
        if self.register_check and not authorization.register_checked:
            raise InvalidError(
                Code.AUTHORIZATION_INSUFFICIENT,
                "this credential needs the company register to have confirmed the claims",
            )


@dataclass(frozen=True, slots=True)
class Holder:
    """The wallet key a key proof established: bound as ``cnf.jwk`` (SD-JWT VC) or as the
    subject's DID (``credentialSubject.id`` of a ``vc+jwt``, a did:jwk or did:key)."""

    key: PublicKey
    did: str


@dataclass(frozen=True, slots=True)
class Template:
    """One credential configuration an issuer offers (see the module docstring)."""

    configuration_id: str
    format: Format
    #: The VCDM ``type`` (``gx:LegalPerson``…) or the SD-JWT VC ``vct``.
    credential_type: str
    validity: timedelta
    display: Mapping[str, str]
    requirement: Requirement = field(default_factory=Requirement)
    #: JSON Pointers of the selectively disclosable claims (dc+sd-jwt only). The personal
    #: claims (names, birth dates) must be among them: issuance refuses them in the clear.
    disclosable: tuple[str, ...] = ()
    #: Claims a credential of this type must carry, for the offer's early check.
    required_claims: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.format == "vc+jwt" and self.disclosable:
            raise ConfigurationError("a vc+jwt credential has no selectively disclosable claims")
        if self.validity <= timedelta(0):
            raise ConfigurationError("a template's validity must be positive")

    def check_claims(self, claims: Any) -> dict[str, Any]:
        """The offer's claims, checked early (shape and required members): an operator
        learns about a bad claims file when creating the offer, not when a wallet redeems
        it. Full schema checks run again at issuance."""
        if not isinstance(claims, dict) or not claims:
            raise InvalidError(Code.INVALID_CLAIMS, "the claims must be a non-empty JSON object")
        if self.format == "vc+jwt":
            clash = _RESERVED_SUBJECT.intersection(claims)
            if clash:
                raise InvalidError(
                    Code.INVALID_CLAIMS,
                    f"{sorted(clash)} is set by the holder binding (the wallet's DID), "
                    "not by the offer",
                )
        missing = [name for name in self.required_claims if name not in claims]
        if missing:
            raise InvalidError(
                Code.INVALID_CLAIMS, f"{self.configuration_id} needs the claims {missing}"
            )
        return dict(claims)

    def vc_document(
        self,
        *,
        claims: Mapping[str, Any],
        issuer: str,
        credential_id: str,
        holder: Holder,
        issued_at: datetime,
        status: list[dict[str, Any]],
        authorization: Authorization,
    ) -> dict[str, Any]:
        """The unsigned VCDM 2.0 credential of a ``vc+jwt`` template, checked against the
        data model and the type's schema."""
        if self.format != "vc+jwt":
            raise ConfigurationError(f"{self.configuration_id} is not a vc+jwt template")
        subject: dict[str, Any] = {"id": holder.did, "type": self.credential_type}
        subject.update(self.check_claims(dict(claims)))
        document: dict[str, Any] = {
            "@context": list(CREDENTIAL_CONTEXT),
            "id": credential_id,
            "type": ["VerifiableCredential", self.credential_type],
            "issuer": issuer,
            "validFrom": _stamp(issued_at),
            "validUntil": _stamp(issued_at + self.validity),
            "credentialSubject": subject,
            "credentialStatus": status,
        }
        if authorization.evidence:
            document["evidence"] = [dict(e) for e in authorization.evidence]
        check_credential(document)
        issues = subject_schema_errors(document)
        if issues:
            raise InvalidError(
                Code.SCHEMA_VIOLATION,
                f"{self.configuration_id}: "
                + "; ".join(f"{i.path}: {i.message}" for i in issues[:5]),
            )
        return document


def _stamp(moment: datetime) -> str:
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


_YEAR: Final = timedelta(days=365)

#: The templates ancre ships, by credential configuration id.
TEMPLATES: Final[Mapping[str, Template]] = MappingProxyType(
    {
        t.configuration_id: t
        for t in (
            Template(
                "LegalPerson",
                "vc+jwt",
                LEGAL_PERSON,
                _YEAR,
                {"fr": "Personne morale (Gaia-X)", "en": "Legal person (Gaia-X)"},
                required_claims=("schema:name", "gx:registrationNumber", "gx:legalAddress"),
            ),
            Template(
                "LocalRegistrationNumber",
                "vc+jwt",
                LOCAL_REGISTRATION_NUMBER,
                _YEAR,
                {"fr": "Numéro d'immatriculation", "en": "Local registration number"},
                Requirement(register_check=True),
            ),
            # The other registration numbers of Gaia-X (gx:EUID, gx:LeiCode): their own
            # types, so their own configurations; the schemas check the EUID's shape and the
            # LEI's ISO 17442 check digits, as the verifier does.
            Template(
                "EUID",
                "vc+jwt",
                EUID,
                _YEAR,
                {"fr": "Identifiant unique européen (EUID)", "en": "European Unique Identifier"},
                Requirement(register_check=True),
                required_claims=("gx:euid",),
            ),
            Template(
                "LeiCode",
                "vc+jwt",
                LEI_CODE,
                _YEAR,
                {"fr": "Code LEI (ISO 17442)", "en": "Legal Entity Identifier (LEI)"},
                Requirement(register_check=True),
                required_claims=("schema:leiCode", "gx:countryCode"),
            ),
            Template(
                "VatID",
                "vc+jwt",
                VAT_ID,
                _YEAR,
                {"fr": "Numéro de TVA intracommunautaire", "en": "VAT identification number"},
                Requirement(register_check=True),
                required_claims=("gx:vatID",),
            ),
            Template(
                "Certification",
                "vc+jwt",
                CERTIFICATION,
                _YEAR,
                {"fr": "Certification", "en": "Certification"},
                # The scheme, its level and the validity are the agency's
                # (ancre.issuer.schemes): Issuer.template_for applies them.
                required_claims=("ancre:scheme", "ancre:scope", "ancre:certificateNumber"),
            ),
            Template(
                "AdministrativeService",
                "vc+jwt",
                ADMINISTRATIVE_SERVICE,
                _YEAR,
                {"fr": "Service administratif", "en": "Administrative service"},
                Requirement(methods=frozenset({"login"}), register_check=True),
                required_claims=(
                    "ancre:publicBodyName",
                    "ancre:siret",
                    "ancre:legalCategory",
                    "ancre:serviceLabel",
                ),
            ),
            Template(
                "Mandate",
                "dc+sd-jwt",
                MANDATE_VCT,
                _YEAR,
                {"fr": "Mandat de représentation", "en": "Power of representation"},
                Requirement(register_check=True),
                disclosable=("/given_name", "/family_name", "/birth_date", "/role"),
            ),
            Template(
                "DirectorCertification",
                "dc+sd-jwt",
                DIRECTOR_CERTIFICATION_VCT,
                timedelta(days=90),
                {"fr": "Attestation de dirigeant", "en": "Director certification"},
                Requirement(
                    register_check=True,
                    acr_values=frozenset(
                        {"https://proconnect.gouv.fr/assurance/certification-dirigeant"}
                    ),
                ),
                disclosable=("/given_name", "/family_name", "/role"),
                required_claims=("siren", "legal_name", "given_name", "family_name", "role"),
            ),
        )
    }
)


def template(configuration_id: str) -> Template:
    """The template of `configuration_id`; ``InvalidError(unknown_credential_configuration)``
    for any other name."""
    found = TEMPLATES.get(configuration_id) if isinstance(configuration_id, str) else None
    if found is None:
        raise InvalidError(
            Code.UNKNOWN_CREDENTIAL_CONFIGURATION,
            f"no credential configuration {configuration_id!r}; known: {sorted(TEMPLATES)}",
        )
    return found
