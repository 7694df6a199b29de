"""Builders of the unsigned VCDM 2.0 credentials an issuer signs (Gaia-X types).

:func:`legal_person_credential`, :func:`local_registration_number_credential` and
:func:`vat_id_credential` return plain dicts, without proof, checked against the VCDM data
model and the type's schema (``ancre.trust.vcdm.credentials``) before they are returned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from ancre.issuer.fr_identifiers import fr_vat_from_siren, parse_fr_vat, parse_siren_or_siret
from ancre.trust.errors import Code, InvalidError
from ancre.trust.vcdm.credentials import (
    GAIAX_DEVELOPMENT_CONTEXT,
    LEGAL_PERSON,
    LOCAL_REGISTRATION_NUMBER,
    VAT_ID,
    subject_schema_errors,
)
from ancre.trust.vcdm.model import VCDM2_CONTEXT, check_credential

__all__ = [
    "CREDENTIAL_CONTEXT",
    "Address",
    "legal_person_credential",
    "local_registration_number_credential",
    "vat_id_credential",
]

#: ``@context`` of the credentials the builders return.
CREDENTIAL_CONTEXT: Final = (VCDM2_CONTEXT, GAIAX_DEVELOPMENT_CONTEXT)


@dataclass(frozen=True, slots=True)
class Address:
    """A postal address, rendered as a ``gx:Address``.

    ``country_code`` is ISO 3166-1 alpha-2 (``FR``), ``subdivision_code`` ISO 3166-2 and must
    belong to that country (``FR-75`` or ``FR-IDF``); the rest is free text from the register.
    The schema check of the built credential enforces the code lists.
    """

    country_code: str
    subdivision_code: str | None = None
    street_address: str | None = None
    postal_code: str | None = None
    locality: str | None = None

    def __post_init__(self) -> None:
        # A cross-field rule the JSON Schema cannot express: FR-75 is not a German region.
        if self.subdivision_code is not None and not self.subdivision_code.startswith(
            f"{self.country_code}-"
        ):
            raise InvalidError(
                Code.SCHEMA_VIOLATION,
                f"subdivision code {self.subdivision_code!r} is not in country "
                f"{self.country_code!r} (expected {self.country_code}-…)",
            )

    def to_json(self) -> dict[str, str]:
        """The ``gx:Address`` node in compact JSON-LD (Loire property names)."""
        node = {"type": "gx:Address", "gx:countryCode": self.country_code}
        optional = (
            ("gx:subdivisionCountryCode", self.subdivision_code),
            ("vcard:street-address", self.street_address),
            ("vcard:postal-code", self.postal_code),
            ("vcard:locality", self.locality),
        )
        node.update((key, value) for key, value in optional if value is not None)
        return node


def _datetime_stamp(value: datetime, name: str) -> str:
    # VCDM 2.0 §4.6: an XML Schema dateTimeStamp; ancre always writes UTC with "Z".
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidError(
            Code.INVALID_DATETIME, f"`{name}` must be a timezone-aware datetime, got a naive one"
        )
    utc = value.astimezone(UTC)
    spec = "seconds" if utc.microsecond == 0 else "microseconds"
    return utc.isoformat(timespec=spec).replace("+00:00", "Z")


def _credential(
    *,
    credential_type: str,
    issuer: str,
    credential_id: str,
    subject: dict[str, Any],
    valid_from: datetime,
    valid_until: datetime | None,
    evidence: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    credential: dict[str, Any] = {
        "@context": list(CREDENTIAL_CONTEXT),
        "id": credential_id,
        "type": ["VerifiableCredential", credential_type],
        "issuer": issuer,
        "validFrom": _datetime_stamp(valid_from, "valid_from"),
    }
    if valid_until is not None:
        credential["validUntil"] = _datetime_stamp(valid_until, "valid_until")
        if valid_until <= valid_from:
            raise InvalidError(
                Code.INVALID_DATETIME,
                f"`valid_until` ({credential['validUntil']}) must be after "
                f"`valid_from` ({credential['validFrom']})",
            )
    credential["credentialSubject"] = subject
    if evidence:
        # VCDM 2.0 §5.6: the register check that backs the claim (what, when, digest).
        credential["evidence"] = [dict(item) for item in evidence]
    # The same data-model check that verification runs, then the type's schema.
    check_credential(credential)
    issues = subject_schema_errors(credential)
    if issues:
        raise InvalidError(
            Code.SCHEMA_VIOLATION,
            f"the {credential_type} credential does not conform to its schema: "
            + "; ".join(f"{i.path}: {i.message}" for i in issues),
        )
    return credential


def legal_person_credential(
    *,
    issuer: str,
    credential_id: str,
    subject_id: str,
    name: str,
    registration_number_id: str,
    legal_address: Address,
    headquarters_address: Address | None = None,
    valid_from: datetime,
    valid_until: datetime | None = None,
) -> dict[str, Any]:
    """An unsigned ``gx:LegalPerson`` credential (VCDM 2.0, Gaia-X Loire property names).

    ``registration_number_id`` is the subject id of the registration-number credential
    (``gx:VatID``, ``gx:LocalRegistrationNumber``…) this legal person refers to. Gaia-X
    requires both addresses: the headquarters address defaults to the legal address.

    Raises ``InvalidError`` (``schema_violation``, or a data-model code such as
    ``invalid_id``/``invalid_datetime``) when the result would not conform.
    """
    subject: dict[str, Any] = {
        "id": subject_id,
        "type": LEGAL_PERSON,
        "schema:name": name,
        "gx:registrationNumber": {"id": registration_number_id},
        "gx:legalAddress": legal_address.to_json(),
        "gx:headquartersAddress": (headquarters_address or legal_address).to_json(),
    }
    return _credential(
        credential_type=LEGAL_PERSON,
        issuer=issuer,
        credential_id=credential_id,
        subject=subject,
        valid_from=valid_from,
        valid_until=valid_until,
    )


def local_registration_number_credential(
    *,
    issuer: str,
    credential_id: str,
    subject_id: str,
    siret_or_siren: str,
    valid_from: datetime,
    valid_until: datetime | None = None,
    evidence: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """An unsigned ``gx:LocalRegistrationNumber`` credential whose ``gx:local`` is a SIRET or
    SIREN (normalised: spaces removed).

    Issue it only after the number was confirmed in the company register, and pass that
    check as ``evidence`` (VCDM 2.0 evidence objects, each with a ``type``). Raises
    ``MalformedError`` (``invalid_siret``/``invalid_siren``) for a malformed number and
    ``InvalidError`` when the result would not conform.
    """
    subject = {
        "id": subject_id,
        "type": LOCAL_REGISTRATION_NUMBER,
        "gx:local": parse_siren_or_siret(siret_or_siren),
    }
    return _credential(
        credential_type=LOCAL_REGISTRATION_NUMBER,
        issuer=issuer,
        credential_id=credential_id,
        subject=subject,
        valid_from=valid_from,
        valid_until=valid_until,
        evidence=evidence,
    )


def vat_id_credential(
    *,
    issuer: str,
    credential_id: str,
    subject_id: str,
    siren_or_vat: str,
    valid_from: datetime,
    valid_until: datetime | None = None,
    evidence: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """An unsigned ``gx:VatID`` credential for a French company.

    ``siren_or_vat`` is a SIREN, a SIRET (its SIREN is used) or a French VAT number: the VAT
    number is derived from the SIREN, or checked against it when given. A derived number
    proves only the format; confirm that it is active (Recherche d'entreprises ``tva``, VIES)
    and pass that check as ``evidence``. Raises ``MalformedError`` (``invalid_vat_id``,
    ``invalid_siren``, ``invalid_siret``) for a malformed number and ``InvalidError`` when the
    result would not conform.
    """
    text = siren_or_vat.strip()
    if text[:2].upper() == "FR":
        vat = parse_fr_vat(text)
    else:
        vat = fr_vat_from_siren(parse_siren_or_siret(text)[:9])
    subject = {
        "id": subject_id,
        "type": VAT_ID,
        "gx:vatID": vat,
        "gx:countryCode": "FR",
    }
    return _credential(
        credential_type=VAT_ID,
        issuer=issuer,
        credential_id=credential_id,
        subject=subject,
        valid_from=valid_from,
        valid_until=valid_until,
        evidence=evidence,
    )
