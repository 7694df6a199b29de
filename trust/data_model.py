"""The normative MUSTs of the W3C Verifiable Credentials Data Model (2.0, and 1.1 for legacy
documents), checked the same way at issuance and at verification.

Section numbers refer to VCDM 2.0 (https://www.w3.org/TR/vc-data-model-2.0/).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final

from .errors import Code, InvalidError

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

# XML Schema 1.1 dateTimeStamp: a dateTime with a mandatory time zone (§4.6 / §B.2).
_DATETIME_STAMP: Final = re.compile(
    r"-?([1-9][0-9]{3,}|0[0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T(([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?|(24:00:00(\.0+)?))"
    r"(Z|[+-]((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
)
_FRACTION: Final = re.compile(r"\.(\d+)")
# RFC 3986 §3.1 scheme, then something: what VCDM calls a URL.
_URL: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+")


def _fail(code: Code, message: str) -> InvalidError:
    return InvalidError(code, message)


def is_url(value: Any) -> bool:
    return isinstance(value, str) and _URL.fullmatch(value) is not None


def parse_datetime_stamp(value: Any, name: str) -> datetime:
    """Parse an XML Schema dateTimeStamp (time zone required) into an aware UTC datetime."""
    if isinstance(value, str) and len(value) <= 64:
        return _parse_stamp(value, name)
    raise _fail(
        Code.INVALID_DATETIME,
        f"`{name}` must be an XML Schema dateTimeStamp with a time zone, got {str(value)[:60]!r}",
    )


@lru_cache(maxsize=4096)
def _parse_stamp(value: str, name: str) -> datetime:
    # Cached: the same validFrom/validUntil strings come back with every presentation of a
    # credential, and each is read by the data-model step and again by the time step.
    if _DATETIME_STAMP.fullmatch(value) is None:
        raise _fail(
            Code.INVALID_DATETIME,
            f"`{name}` must be an XML Schema dateTimeStamp with a time zone,"
            f" got {str(value)[:60]!r}",
        )
    text = value
    if "T24:00:00" in text:
        raise _fail(Code.INVALID_DATETIME, f"`{name}` uses 24:00:00, which ancre does not accept")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    # Python's fromisoformat handles at most 6 fractional digits; truncate beyond.
    m = _FRACTION.search(text)
    if m and len(m.group(1)) > 6:
        text = text[: m.start(1) + 6] + text[m.end(1) :]
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except ValueError:
        raise _fail(Code.INVALID_DATETIME, f"`{name}` is not a real date: {value!r}") from None


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def types_of(document: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(t for t in _as_list(document.get("type", [])) if isinstance(t, str))


def issuer_id(credential: Mapping[str, Any]) -> str:
    issuer = credential.get("issuer")
    if isinstance(issuer, dict):
        issuer = issuer.get("id")
    if not is_url(issuer):
        raise _fail(Code.INVALID_ISSUER, "`issuer` must be a URL or an object whose `id` is a URL")
    assert isinstance(issuer, str)
    return issuer


def subject_ids(credential: Mapping[str, Any]) -> tuple[str, ...]:
    subjects = _as_list(credential.get("credentialSubject", []))
    return tuple(s["id"] for s in subjects if isinstance(s, dict) and isinstance(s.get("id"), str))


def _check_context(document: Mapping[str, Any], first: str) -> None:
    # §4.3: an ordered set whose first item is the base context URL.
    ctx = document.get("@context")
    if not isinstance(ctx, list) or not ctx or ctx[0] != first:
        raise _fail(
            Code.INVALID_CONTEXT, f"`@context` must be an array whose first item is {first}"
        )
    for item in ctx[1:]:
        if not (is_url(item) or isinstance(item, dict)):
            raise _fail(Code.INVALID_CONTEXT, "every `@context` item must be a URL or an object")


def _check_type(document: Mapping[str, Any], required: str) -> None:
    # §4.5: `type` is one or more terms/URLs and must include the base type.
    value = document.get("type")
    items = _as_list(value)
    if value is None or not items or not all(isinstance(t, str) and t for t in items):
        raise _fail(Code.INVALID_TYPE, "`type` must be a non-empty string or array of strings")
    if required not in items:
        raise _fail(Code.INVALID_TYPE, f"`type` must include {required!r}")


def _check_id(document: Mapping[str, Any], where: str) -> None:
    # §4.4: if present, `id` is a single URL.
    if "id" in document and not is_url(document["id"]):
        raise _fail(Code.INVALID_ID, f"`{where}id` must be a URL")


def _typed_objects(
    document: Mapping[str, Any], name: str, *, need_id: bool = False
) -> Iterator[dict[str, Any]]:
    if name not in document:
        return
    items = _as_list(document[name])
    if not items:
        raise _fail(Code.INVALID_PROPERTY, f"`{name}` must not be empty")
    for item in items:
        if not isinstance(item, dict):
            raise _fail(Code.INVALID_PROPERTY, f"each `{name}` entry must be an object")
        if not isinstance(item.get("type"), str | list) or not item.get("type"):
            raise _fail(Code.INVALID_PROPERTY, f"each `{name}` entry must have a `type`")
        if need_id and not is_url(item.get("id")):
            raise _fail(Code.INVALID_PROPERTY, f"each `{name}` entry must have an `id` URL")
        if not need_id and "id" in item and not is_url(item["id"]):
            raise _fail(Code.INVALID_PROPERTY, f"`{name}` entry `id` must be a URL")
        yield item


def _check_language_value(document: Mapping[str, Any], name: str) -> None:
    # §11.1: a string, a language value object, or an array of those.
    if name not in document:
        return
    for item in _as_list(document[name]):
        if isinstance(item, str):
            continue
        if (
            isinstance(item, dict)
            and isinstance(item.get("@value"), str)
            and set(item) <= {"@value", "@language", "@direction"}
            and all(isinstance(item.get(k, ""), str) for k in ("@language", "@direction"))
        ):
            continue
        raise _fail(Code.INVALID_PROPERTY, f"`{name}` must be a string or language value object")


def _check_subjects(credential: Mapping[str, Any]) -> None:
    # §4.8: one or more non-empty objects.
    subjects = credential.get("credentialSubject")
    items = _as_list(subjects)
    if subjects is None or not items or not all(isinstance(s, dict) and s for s in items):
        raise _fail(
            Code.INVALID_CREDENTIAL_SUBJECT,
            "`credentialSubject` must be a non-empty object or array of non-empty objects",
        )
    for s in items:
        _check_id(s, "credentialSubject.")


def check_credential(credential: Any) -> None:
    """Raise `InvalidError` at the first VCDM MUST the credential breaks (2.0, or 1.1 when its
    first context is the 1.1 one)."""
    if not isinstance(credential, dict):
        raise _fail(Code.INVALID_PROPERTY, "a credential must be a JSON object")
    ctx = credential.get("@context")
    first = ctx[0] if isinstance(ctx, list) and ctx else None
    v11 = first == VCDM11_CONTEXT
    _check_context(credential, VCDM11_CONTEXT if v11 else VCDM2_CONTEXT)
    _check_id(credential, "")
    _check_type(credential, "VerifiableCredential")
    issuer_id(credential)
    _check_subjects(credential)
    if v11:
        # VCDM 1.1 §4.6/§4.7: issuanceDate required, expirationDate optional (RFC 3339).
        parse_datetime_stamp(credential.get("issuanceDate"), "issuanceDate")
        if "expirationDate" in credential:
            parse_datetime_stamp(credential["expirationDate"], "expirationDate")
    else:
        for name in ("validFrom", "validUntil"):
            if name in credential:
                parse_datetime_stamp(credential[name], name)
        if "validFrom" in credential and "validUntil" in credential:
            start = parse_datetime_stamp(credential["validFrom"], "validFrom")
            if parse_datetime_stamp(credential["validUntil"], "validUntil") < start:
                raise _fail(Code.INVALID_DATETIME, "`validUntil` is before `validFrom`")
        for name in ("name", "description"):
            _check_language_value(credential, name)
        for rr in _typed_objects_untyped(credential, "relatedResource"):
            # §5.3: each related resource has an id and a digest.
            if not is_url(rr.get("id")) or not ({"digestSRI", "digestMultibase"} & set(rr)):
                raise _fail(
                    Code.INVALID_PROPERTY,
                    "each `relatedResource` needs an `id` URL and `digestSRI` or `digestMultibase`",
                )
    for _ in _typed_objects(credential, "credentialStatus"):
        pass
    for _ in _typed_objects(credential, "credentialSchema", need_id=True):
        pass
    for name in ("evidence", "termsOfUse", "refreshService"):
        for _ in _typed_objects(credential, name):
            pass


def _typed_objects_untyped(document: Mapping[str, Any], name: str) -> Iterator[dict[str, Any]]:
    if name not in document:
        return
    for item in _as_list(document[name]):
        if not isinstance(item, dict):
            raise _fail(Code.INVALID_PROPERTY, f"each `{name}` entry must be an object")
        yield item


def check_presentation(presentation: Any) -> None:
    """VCDM 2.0 §4.13: context, type `VerifiablePresentation`, optional URL `id`/`holder`."""
    if not isinstance(presentation, dict):
        raise InvalidError(Code.INVALID_PRESENTATION, "a presentation must be a JSON object")
    ctx = presentation.get("@context")
    first = ctx[0] if isinstance(ctx, list) and ctx else None
    _check_context(presentation, VCDM11_CONTEXT if first == VCDM11_CONTEXT else VCDM2_CONTEXT)
    _check_id(presentation, "")
    _check_type(presentation, "VerifiablePresentation")
    holder = presentation.get("holder")
    if isinstance(holder, dict):
        holder = holder.get("id")
    if "holder" in presentation and not is_url(holder):
        raise InvalidError(Code.INVALID_PRESENTATION, "`holder` must be a URL")
