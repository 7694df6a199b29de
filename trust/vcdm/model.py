"""The normative MUSTs of the W3C Verifiable Credentials Data Model (2.0, and 1.1 for legacy
documents), checked the same way at issuance and at verification.

Section numbers refer to VCDM 2.0 (W3C Recommendation, 15 May 2025); "1.1 §x" to VCDM 1.1.
What JSON-LD processing alone could tell (undefined terms) is out of scope here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Final

from ancre.trust.errors import Code, InvalidError

__all__ = [
    "VCDM2_CONTEXT",
    "VCDM11_CONTEXT",
    "check_credential",
    "check_presentation",
    "issuer_id",
    "parse_datetime_stamp",
    "subject_ids",
    "types_of",
]

VCDM2_CONTEXT: Final = "https://www.w3.org/ns/credentials/v2"
VCDM11_CONTEXT: Final = "https://www.w3.org/2018/credentials/v1"

# XML Schema 1.1 dateTime; dateTimeStamp is the same with the time zone mandatory.
_DATETIME: Final = re.compile(
    r"-?([1-9][0-9]{3,}|0[0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T(([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?|(24:00:00(\.0+)?))"
    r"(Z|[+-]((0[0-9]|1[0-3]):[0-5][0-9]|14:00))?"
)
_FRACTION: Final = re.compile(r"\.(\d+)")
_ZONE: Final = re.compile(r"(Z|[+-]\d\d:\d\d)$")
# What VCDM calls a URL: an absolute URL, scheme first (RFC 3986 §3.1); urn:uuid: included.
_URL: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+")
_SRI: Final = re.compile(r"(sha256|sha384|sha512)-[A-Za-z0-9+/]+={0,2}")
_DIRECTIONS: Final = frozenset({"ltr", "rtl"})
_ENVELOPED_ID: Final = re.compile(r"data:[^,;]+[,;].+", re.S)


def _fail(code: Code, message: str) -> InvalidError:
    return InvalidError(code, message)


def is_url(value: Any) -> bool:
    return isinstance(value, str) and _URL.fullmatch(value) is not None


def parse_datetime_stamp(value: Any, name: str, *, zone_required: bool = True) -> datetime:
    """Parse an XML Schema dateTimeStamp (or, with `zone_required=False`, a dateTime whose
    missing time zone is read as UTC, as VCDM 1.1 allows) into an aware UTC datetime."""
    if isinstance(value, str) and len(value) <= 64:
        return _parse_stamp(value, name, zone_required)
    what = "dateTimeStamp with a time zone" if zone_required else "dateTime"
    raise _fail(
        Code.INVALID_DATETIME, f"`{name}` must be an XML Schema {what}, got {str(value)[:60]!r}"
    )


@lru_cache(maxsize=4096)
def _parse_stamp(value: str, name: str, zone_required: bool) -> datetime:
    # Cached: the same validFrom/validUntil strings come back with every presentation of a
    # credential, and each is read by the data-model step and again by the time step.
    has_zone = _ZONE.search(value) is not None
    if _DATETIME.fullmatch(value) is None or (zone_required and not has_zone):
        what = "dateTimeStamp with a time zone" if zone_required else "dateTime"
        raise _fail(
            Code.INVALID_DATETIME, f"`{name}` must be an XML Schema {what}, got {value[:60]!r}"
        )
    text = value if has_zone else value + "Z"
    text = text[:-1] + "+00:00" if text.endswith("Z") else text
    # XML Schema allows 24:00:00, the first instant of the next day.
    next_day = "T24:00:00" in text
    if next_day:
        text = _FRACTION.sub("", text.replace("T24:00:00", "T00:00:00"), count=1)
    # Python's fromisoformat handles at most 6 fractional digits; truncate beyond.
    m = _FRACTION.search(text)
    if m and len(m.group(1)) > 6:
        text = text[: m.start(1) + 6] + text[m.end(1) :]
    try:
        moment = datetime.fromisoformat(text).astimezone(UTC)
    except (ValueError, OverflowError):
        # Lexically valid years outside 1..9999 are a documented ancre restriction.
        raise _fail(Code.INVALID_DATETIME, f"`{name}` is not a supported date: {value!r}") from None
    return moment + timedelta(days=1) if next_day else moment


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def types_of(document: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(t for t in _as_list(document.get("type", [])) if isinstance(t, str))


def issuer_id(credential: Mapping[str, Any]) -> str:
    # §4.7: a URL, or an object whose `id` is a URL.
    issuer = credential.get("issuer")
    if isinstance(issuer, dict):
        issuer = issuer.get("id")
    if not isinstance(issuer, str) or not is_url(issuer):
        raise _fail(Code.INVALID_ISSUER, "`issuer` must be a URL or an object whose `id` is a URL")
    return issuer


def subject_ids(credential: Mapping[str, Any]) -> tuple[str, ...]:
    subjects = _as_list(credential.get("credentialSubject", []))
    return tuple(s["id"] for s in subjects if isinstance(s, dict) and isinstance(s.get("id"), str))


def _check_context(document: Mapping[str, Any], first: str) -> None:
    # §4.3: an ordered set whose first item is the base context URL; the REC's own examples
    # write a lone context as a plain string, so a string counts as a one-item set.
    ctx = document.get("@context")
    items = _as_list(ctx)
    if ctx is None or not items or items[0] != first:
        raise _fail(Code.INVALID_CONTEXT, f"`@context` must start with {first}")
    for item in items[1:]:
        if not (is_url(item) or isinstance(item, dict)):
            raise _fail(Code.INVALID_CONTEXT, "every `@context` item must be a URL or an object")


def _base_context(document: Mapping[str, Any]) -> str | None:
    items = _as_list(document.get("@context"))
    return items[0] if items and isinstance(items[0], str) else None


def _check_type_values(value: Any, where: str, code: Code) -> list[Any]:
    items = _as_list(value)
    if value is None or not items or not all(isinstance(t, str) and t for t in items):
        raise _fail(code, f"`{where}type` must be a non-empty string or array of strings")
    return items


def _check_type(document: Mapping[str, Any], required: str) -> None:
    # §4.5: one or more terms/URLs, including the base type.
    if required not in _check_type_values(document.get("type"), "", Code.INVALID_TYPE):
        raise _fail(Code.INVALID_TYPE, f"`type` must include {required!r}")


def _check_id(document: Mapping[str, Any], where: str) -> None:
    # §4.4: if present, `id` is a single URL.
    if "id" in document and not is_url(document["id"]):
        raise _fail(Code.INVALID_ID, f"`{where}id` must be a URL")


def _objects(document: Mapping[str, Any], name: str) -> Iterator[dict[str, Any]]:
    if name not in document:
        return
    items = _as_list(document[name])
    if not items:
        raise _fail(Code.INVALID_PROPERTY, f"`{name}` must not be empty")
    for item in items:
        if not isinstance(item, dict):
            raise _fail(Code.INVALID_PROPERTY, f"each `{name}` entry must be an object")
        yield item


def _check_typed_objects(
    document: Mapping[str, Any], name: str, *, need_id: bool = False, need_type: bool = True
) -> int:
    """Check each `name` entry has a `type` (and an `id` URL when required); return how many
    entries were accepted without a `type` (only when `need_type` is False)."""
    untyped = 0
    for item in _objects(document, name):
        if "type" in item:
            _check_type_values(item["type"], f"{name}.", Code.INVALID_PROPERTY)
        elif need_type:
            raise _fail(Code.INVALID_PROPERTY, f"each `{name}` entry must have a `type`")
        else:
            untyped += 1
        if need_id and not is_url(item.get("id")):
            raise _fail(Code.INVALID_PROPERTY, f"each `{name}` entry must have an `id` URL")
        if "id" in item and not is_url(item["id"]):
            raise _fail(Code.INVALID_PROPERTY, f"`{name}` entry `id` must be a URL")
    return untyped


def _check_language_value(document: Mapping[str, Any], name: str) -> None:
    # §11.1: a string, a language value object, or a non-empty array of those; a language
    # value object has a string `@value` and only `@language` and `@direction` besides.
    if name not in document:
        return
    items = _as_list(document[name])
    if not items:
        raise _fail(Code.INVALID_PROPERTY, f"`{name}` must not be an empty array")
    for item in items:
        if isinstance(item, str):
            continue
        if (
            isinstance(item, dict)
            and isinstance(item.get("@value"), str)
            and set(item) <= {"@value", "@language", "@direction"}
            and isinstance(item.get("@language", ""), str)
            and item.get("@direction", "ltr") in _DIRECTIONS
        ):
            continue
        raise _fail(Code.INVALID_PROPERTY, f"`{name}` must be a string or language value object")


def _check_subjects(credential: Mapping[str, Any]) -> None:
    # §4.8: one or more objects, each the subject of claims.
    subjects = credential.get("credentialSubject")
    items = _as_list(subjects)
    if subjects is None or not items or not all(isinstance(s, dict) and s for s in items):
        raise _fail(
            Code.INVALID_CREDENTIAL_SUBJECT,
            "`credentialSubject` must be a non-empty object or array of non-empty objects",
        )
    for s in items:
        _check_id(s, "credentialSubject.")


def _check_related_resources(credential: Mapping[str, Any]) -> None:
    # §5.3: each entry has a unique `id` and a `digestSRI` and/or `digestMultibase` string.
    seen: set[str] = set()
    for rr in _objects(credential, "relatedResource"):
        rid = rr.get("id")
        if not isinstance(rid, str) or not is_url(rid) or rid in seen:
            raise _fail(Code.INVALID_PROPERTY, "each `relatedResource` needs a unique `id` URL")
        seen.add(rid)
        sri, multibase = rr.get("digestSRI"), rr.get("digestMultibase")
        if sri is None and multibase is None:
            raise _fail(Code.INVALID_PROPERTY, "`relatedResource` needs a digest")
        if sri is not None and (not isinstance(sri, str) or not _SRI.fullmatch(sri)):
            raise _fail(Code.INVALID_PROPERTY, "`digestSRI` must be an SRI hash expression")
        if multibase is not None and (not isinstance(multibase, str) or len(multibase) < 2):
            raise _fail(Code.INVALID_PROPERTY, "`digestMultibase` must be a multibase string")


def check_credential(credential: Any, *, allow_untyped_evidence: bool = False) -> tuple[str, ...]:
    """Raise `InvalidError` at the first VCDM MUST the credential breaks (2.0, or 1.1 when its
    first context is the 1.1 one).

    Returns the deviations the caller explicitly tolerated (for the result to record):
    `allow_untyped_evidence` accepts `evidence` objects without `type`, as Gaia-X notaries
    emit them, although 2.0 §5.6 and 1.1 §4.3 require one."""
    if not isinstance(credential, dict):
        raise _fail(Code.INVALID_PROPERTY, "a credential must be a JSON object")
    v11 = _base_context(credential) == VCDM11_CONTEXT
    _check_context(credential, VCDM11_CONTEXT if v11 else VCDM2_CONTEXT)
    _check_id(credential, "")
    _check_type(credential, "VerifiableCredential")
    issuer_id(credential)
    _check_subjects(credential)
    if v11:
        # 1.1 §4.6/§4.7: xsd:dateTime, time zone optional.
        parse_datetime_stamp(credential.get("issuanceDate"), "issuanceDate", zone_required=False)
        if "expirationDate" in credential:
            parse_datetime_stamp(
                credential["expirationDate"], "expirationDate", zone_required=False
            )
    else:
        start = end = None
        if "validFrom" in credential:
            start = parse_datetime_stamp(credential["validFrom"], "validFrom")
        if "validUntil" in credential:
            end = parse_datetime_stamp(credential["validUntil"], "validUntil")
        # §4.9: validFrom MUST be the same as or earlier than validUntil.
        if start is not None and end is not None and end < start:
            raise _fail(Code.INVALID_DATETIME, "`validUntil` is before `validFrom`")
        for name in ("name", "description"):
            _check_language_value(credential, name)
        _check_related_resources(credential)
    # 2.0 §4.10: status entries need a `type` (`id` optional); 1.1 §4.9 also an `id`.
    _check_typed_objects(credential, "credentialStatus", need_id=v11)
    _check_typed_objects(credential, "credentialSchema", need_id=True)
    _check_typed_objects(credential, "termsOfUse")
    _check_typed_objects(credential, "refreshService", need_id=v11)
    tolerated = []
    untyped = _check_typed_objects(credential, "evidence", need_type=not allow_untyped_evidence)
    if untyped:
        tolerated.append(f"{untyped} `evidence` object(s) without `type` accepted by policy")
    return tuple(tolerated)


def check_presentation(presentation: Any, *, allow_jwt_strings: bool = False) -> None:
    """VCDM 2.0 §4.13: context, type `VerifiablePresentation`, optional URL `id`/`holder`,
    and `verifiableCredential` entries that are objects (enveloped ones well formed).

    `allow_jwt_strings` admits compact JWTs as entries, as VCDM 1.1 JWT presentations carry
    them."""
    if not isinstance(presentation, dict):
        raise InvalidError(Code.INVALID_PRESENTATION, "a presentation must be a JSON object")
    v11 = _base_context(presentation) == VCDM11_CONTEXT
    _check_context(presentation, VCDM11_CONTEXT if v11 else VCDM2_CONTEXT)
    _check_id(presentation, "")
    _check_type(presentation, "VerifiablePresentation")
    holder = presentation.get("holder")
    if isinstance(holder, dict):
        holder = holder.get("id")
    if "holder" in presentation and not is_url(holder):
        raise InvalidError(Code.INVALID_PRESENTATION, "`holder` must be a URL")
    _check_typed_objects(presentation, "termsOfUse")
    for entry in _as_list(presentation.get("verifiableCredential", [])):
        if isinstance(entry, str) and allow_jwt_strings:
            continue
        if not isinstance(entry, dict):
            raise InvalidError(
                Code.INVALID_PRESENTATION,
                "each `verifiableCredential` entry must be a credential object",
            )
        enveloped = "EnvelopedVerifiableCredential" in _as_list(entry.get("type"))
        # §4.13.1: an enveloped credential has @context and a data: URL `id`.
        if enveloped and (
            "@context" not in entry or not _ENVELOPED_ID.fullmatch(str(entry.get("id", "")))
        ):
            raise InvalidError(
                Code.INVALID_PRESENTATION,
                "an EnvelopedVerifiableCredential needs `@context` and a data: URL `id`",
            )
