"""The credential types ancre issues and checks: their names and their JSON Schemas.

- Type names as they appear in ``type`` (compact JSON-LD, ``gx:`` = the Gaia-X development
  ontology, ``ancre:`` = ancre's own vocabulary) and the ``vct`` of the SD-JWT VCs.
- :func:`subject_schema_errors` checks every ``credentialSubject`` of a credential against the
  schema of each of its types; :func:`sd_jwt_claims_schema_errors` does the same for the
  processed claims of an SD-JWT VC. Both run on the verification hot path: validators are
  compiled once (lazily, thread-safe) with ``jsonschema_rs`` and a valid subject costs a few
  microseconds.
- The builders of unsigned credentials are issuer-side: ``ancre.issuer.builders``.

The schemas live in ``ancre.trust.vcdm.schemas`` (one file per type, see each file's
``description``); they refer to each other by ``urn:ancre:schema:*`` ids resolved from the
package, never from the network.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import unquote

import jsonschema_rs

from ancre.trust.errors import ConfigurationError
from ancre.trust.vcdm.fr_identifiers import (
    is_valid_fr_vat,
    is_valid_siren,
    is_valid_siret,
)

__all__ = [
    "ADMINISTRATIVE_SERVICE",
    "CERTIFICATION",
    "DIRECTOR_CERTIFICATION_VCT",
    "EUID",
    "GAIAX_DEVELOPMENT_CONTEXT",
    "GAIAX_TERMS_AND_CONDITIONS_SHA256",
    "GX_ISSUER",
    "LEGAL_PERSON",
    "LEI_CODE",
    "LOCAL_REGISTRATION_NUMBER",
    "MANDATE_VCT",
    "REGISTRATION_NUMBER_TYPES",
    "SCHEMA_FOR_TYPE",
    "SCHEMA_FOR_VCT",
    "VAT_ID",
    "SchemaIssue",
    "sd_jwt_claims_schema_errors",
    "subject_schema_errors",
]

#: The Gaia-X development ontology context (``gx`` is its ``@vocab``; it also defines the
#: ``schema:`` and ``vcard:`` prefixes). Gaia-X notaries emit exactly this pair of contexts.
GAIAX_DEVELOPMENT_CONTEXT: Final = "https://w3id.org/gaia-x/development#"

# VCDM 2.0 credential types (compact IRIs, as in Gaia-X Loire payloads).
LEGAL_PERSON: Final = "gx:LegalPerson"
LOCAL_REGISTRATION_NUMBER: Final = "gx:LocalRegistrationNumber"
VAT_ID: Final = "gx:VatID"
EUID: Final = "gx:EUID"
LEI_CODE: Final = "gx:LeiCode"
GX_ISSUER: Final = "gx:Issuer"
CERTIFICATION: Final = "ancre:Certification"
#: SHA-256 (hex) of the Gaia-X terms and conditions text ("The PARTICIPANT signing Gaia-X
#: credentials agrees as follows: …"), the value of ``gx:gaiaxTermsAndConditions`` in Loire:
#: gaia-x-go complianceLoire.go `SignTermsAndConditions`, the same constant as dawex
#: sigourney's `GaiaxTermsAndConditions.V2411` (shared/reference/gaiax/README.md §4).
GAIAX_TERMS_AND_CONDITIONS_SHA256: Final = (
    "4bd7554097444c960292b4726c2efa1373485e8a5565d94d41195214c5e0ceb3"
)
ADMINISTRATIVE_SERVICE: Final = "ancre:AdministrativeService"
#: The Gaia-X registration-number credentials; an onboarding needs at least one.
REGISTRATION_NUMBER_TYPES: Final = (
    VAT_ID,
    LEI_CODE,
    EUID,
    LOCAL_REGISTRATION_NUMBER,
    "gx:EORI",
    "gx:TaxID",
)

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
