"""The credential types ancre issues: their names, their JSON Schemas, and builders of the
unsigned VCDM 2.0 credentials.

- Type names as they appear in ``type`` (compact JSON-LD, ``gx:`` = the Gaia-X development
  ontology, ``ancre:`` = ancre's own vocabulary) and the ``vct`` of the SD-JWT VCs.
- :func:`subject_schema_errors` checks every ``credentialSubject`` of a credential against the
  schema of each of its types; :func:`sd_jwt_claims_schema_errors` does the same for the
  processed claims of an SD-JWT VC. Both run on the verification hot path: validators are
  compiled once (lazily, thread-safe) with ``jsonschema_rs`` and a valid subject costs a few
  microseconds.
- Builders (:func:`legal_person_credential`, :func:`local_registration_number_credential`,
  :func:`vat_id_credential`) return plain dicts, without proof, checked against the VCDM data
  model and the type's schema before they are returned.

The schemas live in ``ancre.trust.vcdm.schemas`` (one file per type, see each file's
``description``); they refer to each other by ``urn:ancre:schema:*`` ids resolved from the
package, never from the network.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import unquote

import jsonschema_rs

from ancre.trust.errors import Code, ConfigurationError, InvalidError
from ancre.trust.vcdm.fr_identifiers import (
    fr_vat_from_siren,
    is_valid_fr_vat,
    is_valid_siren,
    is_valid_siret,
    parse_fr_vat,
    parse_siren_or_siret,
)
from ancre.trust.vcdm.model import VCDM2_CONTEXT, check_credential

__all__ = [
    "ADMINISTRATIVE_SERVICE",
    "CERTIFICATION",
    "CREDENTIAL_CONTEXT",
    "DIRECTOR_CERTIFICATION_VCT",
    "EUID",
    "GAIAX_DEVELOPMENT_CONTEXT",
    "GX_ISSUER",
    "LEGAL_PERSON",
    "LEI_CODE",
    "LOCAL_REGISTRATION_NUMBER",
    "MANDATE_VCT",
    "SCHEMA_FOR_TYPE",
    "SCHEMA_FOR_VCT",
    "VAT_ID",
    "Address",
    "SchemaIssue",
    "legal_person_credential",
    "local_registration_number_credential",
    "sd_jwt_claims_schema_errors",
    "subject_schema_errors",
    "vat_id_credential",
]

#: The Gaia-X development ontology context (``gx`` is its ``@vocab``; it also defines the
#: ``schema:`` and ``vcard:`` prefixes). Gaia-X notaries emit exactly this pair of contexts.
GAIAX_DEVELOPMENT_CONTEXT: Final = "https://w3id.org/gaia-x/development#"
#: ``@context`` of the credentials the builders return.
CREDENTIAL_CONTEXT: Final = (VCDM2_CONTEXT, GAIAX_DEVELOPMENT_CONTEXT)

# VCDM 2.0 credential types (compact IRIs, as in Gaia-X Loire payloads).
LEGAL_PERSON: Final = "gx:LegalPerson"
LOCAL_REGISTRATION_NUMBER: Final = "gx:LocalRegistrationNumber"
VAT_ID: Final = "gx:VatID"
EUID: Final = "gx:EUID"
LEI_CODE: Final = "gx:LeiCode"
GX_ISSUER: Final = "gx:Issuer"
CERTIFICATION: Final = "ancre:Certification"
ADMINISTRATIVE_SERVICE: Final = "ancre:AdministrativeService"

# SD-JWT VC types (``vct``).
#: The Mandate credential: the EUDI "Power of Representation" attestation type.
MANDATE_VCT: Final = "urn:eu.europa.ec.eudi:por:1"
#: ancre's DirectorCertification credential.
DIRECTOR_CERTIFICATION_VCT: Final = "urn:ancre:director-certification:1"

#: Credential ``type`` → schema file (in ``ancre.trust.vcdm.schemas``) of its ``credentialSubject``.
SCHEMA_FOR_TYPE: Final[Mapping[str, str]] = MappingProxyType(
    {
        LEGAL_PERSON: "gx-legal-person.schema.json",
        LOCAL_REGISTRATION_NUMBER: "gx-local-registration-number.schema.json",
        VAT_ID: "gx-vat-id.schema.json",
        EUID: "gx-euid.schema.json",
        LEI_CODE: "gx-lei-code.schema.json",
        GX_ISSUER: "gx-issuer.schema.json",
        CERTIFICATION: "ancre-certification.schema.json",
        ADMINISTRATIVE_SERVICE: "ancre-administrative-service.schema.json",
    }
)

#: SD-JWT VC ``vct`` → schema file of its processed claims.
SCHEMA_FOR_VCT: Final[Mapping[str, str]] = MappingProxyType(
    {
        MANDATE_VCT: "eudi-por-mandate.schema.json",
        DIRECTOR_CERTIFICATION_VCT: "ancre-director-certification.schema.json",
    }
)

_SCHEMA_PACKAGE: Final = "ancre.trust.vcdm.schemas"
_SCHEMA_SUFFIX: Final = ".schema.json"
# A hostile credential can break every rule many times over: report enough to act on, no more.
_MAX_ISSUES: Final = 50
_MAX_ECHO: Final = 60


@dataclass(frozen=True, slots=True)
class SchemaIssue:
    """One place where a credential breaks its type's schema.

    ``path`` is a JSON Pointer into the credential (or the SD-JWT claims), e.g.
    ``/credentialSubject/gx:legalAddress/gx:countryCode``; for a missing property it points
    at where the property should be.
    """

    credential_type: str
    path: str
    message: str


# --- formats the schemas name, checked with ancre's own code --------------------------------


def _lei_valid(value: str) -> bool:
    # ISO 17442 check digits are ISO 7064 MOD 97-10: letters count as 10..35, and the whole
    # number is 1 modulo 97 (the same scheme as IBANs).
    if len(value) != 20 or not (value.isascii() and value.isalnum()) or not value[-2:].isdigit():
        return False
    try:
        return int("".join(str(int(c, 36)) for c in value.upper())) % 97 == 1
    except ValueError:
        return False


def _siren_or_siret_valid(value: str) -> bool:
    return is_valid_siret(value) if len(value) == 14 else is_valid_siren(value)


# jsonschema_rs calls format checks on strings only, and lets their exceptions through: these
# never raise.
_FORMATS: Final[Mapping[str, Callable[[str], bool]]] = MappingProxyType(
    {
        "ancre-fr-siren": is_valid_siren,
        "ancre-fr-siret": is_valid_siret,
        "ancre-fr-siren-or-siret": _siren_or_siret_valid,
        "ancre-fr-vat-id": is_valid_fr_vat,
        "ancre-lei": _lei_valid,
    }
)


# --- schema store: load once, compile each validator once ----------------------------------


def _escape_pointer(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _index_titles(node: Any, base: str, pointer: str, out: dict[str, str]) -> None:
    if isinstance(node, dict):
        title = node.get("title")
        if isinstance(title, str):
            out[f"{base}#{pointer}"] = title
        for key, value in node.items():
            _index_titles(value, base, f"{pointer}/{_escape_pointer(key)}", out)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _index_titles(value, base, f"{pointer}/{i}", out)


class _SchemaStore:
    """Schema documents and compiled validators, created on first use.

    Double-checked locking: after warm-up a lookup is one dict read, and a validator is never
    compiled twice, even when many threads verify at once on a cold start.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._documents: dict[str, dict[str, Any]] = {}
        self._registry: jsonschema_rs.Registry | None = None
        self._titles: dict[str, str] = {}
        self._validators: dict[str, jsonschema_rs.Validator] = {}

    def validator(self, filename: str) -> jsonschema_rs.Validator:
        found = self._validators.get(filename)
        if found is not None:
            return found
        with self._lock:
            found = self._validators.get(filename)
            if found is None:
                found = self._compile_locked(filename)
                self._validators[filename] = found
            return found

    def title_at(self, location: str) -> str | None:
        """The ``title`` of the schema object holding the keyword at ``location`` (an absolute
        keyword location such as ``urn:ancre:schema:common#/$defs/countryCode/enum``)."""
        base, _, fragment = location.partition("#")
        parent = unquote(fragment).rpartition("/")[0]
        return self._titles.get(f"{base}#{parent}")

    def _load_locked(self) -> jsonschema_rs.Registry:
        if self._registry is not None:
            return self._registry
        resources_: list[tuple[str, Any]] = []
        for entry in resources.files(_SCHEMA_PACKAGE).iterdir():
            if not entry.name.endswith(_SCHEMA_SUFFIX):
                continue
            document = json.loads(entry.read_text(encoding="utf-8"))
            schema_id = document["$id"]
            self._documents[entry.name] = document
            resources_.append((schema_id, document))
            _index_titles(document, schema_id, "", self._titles)
        self._registry = jsonschema_rs.Registry(resources_)
        return self._registry

    def _compile_locked(self, filename: str) -> jsonschema_rs.Validator:
        registry = self._load_locked()
        document = self._documents.get(filename)
        if document is None:
            raise ConfigurationError(f"no schema file {filename!r} in {_SCHEMA_PACKAGE}")
        try:
            return jsonschema_rs.validator_for(
                document,
                registry=registry,
                # Draft 2020-12 treats `format` as an annotation unless asked: ask, so URIs,
                # dates and ancre's check-digit formats are enforced.
                validate_formats=True,
                formats=dict(_FORMATS),
                # Every $ref resolves inside the package; a miss must fail, never fetch.
                offline=True,
            )
        except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError, ValueError) as exc:
            raise ConfigurationError(f"schema {filename} does not compile: {exc}") from exc


_STORE: Final = _SchemaStore()


# --- turning validation errors into issues -------------------------------------------------

# The spellings a false schema forbids together (JSON-LD keyword aliases, Gaia-X bare terms).
_OTHER_SPELLING: Final[Mapping[str, str]] = MappingProxyType(
    {
        "id": "@id",
        "type": "@type",
        "gx:gaiaxTermsAndConditions": "gaiaxTermsAndConditions",
    }
)

_JSON_TYPE_NAMES: Final[Mapping[type, str]] = MappingProxyType(
    {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer"}
)


def _pointer(parts: Iterable[str | int]) -> str:
    return "".join(f"/{_escape_pointer(str(p))}" for p in parts)


def _echo(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= _MAX_ECHO else text[: _MAX_ECHO - 1] + "…"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, float):
        return "number"
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def _describe(error: jsonschema_rs.ValidationError) -> tuple[list[str | int], str]:
    """The instance path and a message naming what was expected and what was found."""
    path: list[str | int] = list(error.instance_path)
    kind = error.kind
    location = error.absolute_keyword_location
    title = _STORE.title_at(location) if location else None
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Required):
        path.append(kind.property)
        return path, f"required property {kind.property!r} is missing"
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.FalseSchema):
        name = str(path[-1]) if path else "?"
        other = _OTHER_SPELLING.get(name, "another spelling of the same property")
        return path, f"{name!r} must not be given together with {other!r}"
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Type):
        expected = " or ".join(kind.types)
        return path, f"expected {expected}, found {_json_type(error.instance)}"
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Constant):
        return path, f"expected {_echo(kind.expected_value)}, found {_echo(error.instance)}"
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.AnyOf):
        missing = [
            e.kind.property
            for branch in kind.context
            for e in branch
            if isinstance(e.kind, jsonschema_rs.ValidationErrorKind.Required)
        ]
        if missing and len(missing) == len(kind.context):
            alternatives = ", ".join(repr(m) for m in missing)
            return path, f"{title or 'this object'} needs at least one of {alternatives}"
    if title is not None and isinstance(
        kind,
        jsonschema_rs.ValidationErrorKind.Enum
        | jsonschema_rs.ValidationErrorKind.Pattern
        | jsonschema_rs.ValidationErrorKind.Format
        | jsonschema_rs.ValidationErrorKind.AnyOf,
    ):
        return path, f"{_echo(error.instance)} is not a valid {title}"
    message = error.message
    if len(message) > 200:
        message = message[:199] + "…"
    return path, message


def _check(
    validator: jsonschema_rs.Validator,
    credential_type: str,
    instance: Any,
    prefix: tuple[str | int, ...],
    issues: list[SchemaIssue],
) -> None:
    try:
        # The hot path: one call into Rust for a conforming subject.
        if validator.is_valid(instance):
            return
        errors = list(validator.iter_errors(instance))
    except ValueError as exc:
        # jsonschema_rs refuses values that are not JSON (a datetime, a set, int keys…).
        issues.append(SchemaIssue(credential_type, _pointer(prefix), f"not JSON data: {exc}"))
        return
    # A value of the wrong JSON type also fails the keywords about its content (an enum, a
    # pattern): the type is what to fix, so only the type error is reported there.
    wrong_type = {
        tuple(e.instance_path)
        for e in errors
        if isinstance(e.kind, jsonschema_rs.ValidationErrorKind.Type)
    }
    for error in errors:
        if len(issues) >= _MAX_ISSUES:
            return
        if tuple(error.instance_path) in wrong_type and not isinstance(
            error.kind, jsonschema_rs.ValidationErrorKind.Type
        ):
            continue
        path, message = _describe(error)
        issue = SchemaIssue(credential_type, _pointer([*prefix, *path]), message)
        # A value can fail several keywords of one titled schema (pattern and format), or a
        # type be listed twice: report each issue once.
        if issue not in issues:
            issues.append(issue)


def _types(credential: Mapping[str, Any]) -> Iterable[Any]:
    value = credential.get("type")
    types: Iterable[Any] = value if isinstance(value, list) else (value,)
    # `@type` is the JSON-LD keyword `type` aliases (ICAM 25.11 §5.2.2 allows both forms).
    keyword = credential.get("@type")
    if keyword is not None:
        types = [*types, *(keyword if isinstance(keyword, list) else (keyword,))]
    return types


def subject_schema_errors(credential: Mapping[str, Any]) -> list[SchemaIssue]:
    """Check every ``credentialSubject`` against the schema of each of the credential's types.

    Types without a schema in :data:`SCHEMA_FOR_TYPE` are not errors here (the data model and
    the trust policy decide about them). A typed credential whose ``credentialSubject`` is
    missing or empty gets an issue: nothing could be checked. Returns an empty list when every
    subject conforms; at most 50 issues otherwise.
    """
    issues: list[SchemaIssue] = []
    subjects = credential.get("credentialSubject")
    for credential_type in _types(credential):
        filename = (
            SCHEMA_FOR_TYPE.get(credential_type) if isinstance(credential_type, str) else None
        )
        if filename is None:
            continue
        validator = _STORE.validator(filename)
        if isinstance(subjects, list) and subjects:
            for i, subject in enumerate(subjects):
                _check(validator, credential_type, subject, ("credentialSubject", i), issues)
        elif subjects is None or subjects == []:
            issue = SchemaIssue(
                credential_type,
                "/credentialSubject",
                f"a {credential_type} credential needs a credentialSubject object",
            )
            if issue not in issues:
                issues.append(issue)
        else:
            _check(validator, credential_type, subjects, ("credentialSubject",), issues)
    return issues[:_MAX_ISSUES]


def sd_jwt_claims_schema_errors(claims: Mapping[str, Any]) -> list[SchemaIssue]:
    """Check the processed claims of an SD-JWT VC (disclosures applied, ``_sd`` removed)
    against the schema of its ``vct`` (see :data:`SCHEMA_FOR_VCT`).

    A ``vct`` without a schema is not an error here. Issue paths are JSON Pointers into the
    claims, e.g. ``/full_powers``.
    """
    vct = claims.get("vct")
    issues: list[SchemaIssue] = []
    if isinstance(vct, str) and vct in SCHEMA_FOR_VCT:
        _check(_STORE.validator(SCHEMA_FOR_VCT[vct]), vct, claims, (), issues)
    return issues


# --- builders ------------------------------------------------------------------------------


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
