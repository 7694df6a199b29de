"""The certification schemes an agency certifies against: ``schemes.json`` in its folder.

A ``Certification`` credential names its scheme (``ancre:scheme``) and, for a scheme with
levels, its level (``ancre:level``). Both must be among the agency's configured schemes —
never a free string: an offer, an issuance or a VC-API request naming another scheme or
level is refused with ``unknown_certification_scheme``, and without ``schemes.json`` the
agency issues no Certification at all. The credential's validity comes from its scheme.

``schemes.json``::

    {"schemes": [
      {"name": "SecNumCloud 3.2", "levels": ["qualified"], "validity_days": 365},
      {"name": "ISO/IEC 27001:2022", "validity_days": 1095}
    ]}

``levels`` may be left out (or empty): the scheme has no levels, and a credential naming one
is refused. The file is checked strictly when the issuer opens (``ConfigurationError``):
unknown members, a repeated scheme or level, an empty name, a validity outside 1..3660 days.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from ancre.trust.errors import AncreError, Code, ConfigurationError, InvalidError

__all__ = ["SCHEMES_FILE", "CertificationSchemes", "Scheme", "load_schemes", "parse_schemes"]

SCHEMES_FILE: Final = "schemes.json"
_MAX_BYTES: Final = 256 * 1024
_MAX_TEXT: Final = 256
#: Ten years (and leap days): a certificate is re-audited well before.
_MAX_VALIDITY_DAYS: Final = 3660


@dataclass(frozen=True, slots=True)
class Scheme:
    """One certification scheme: its name (as written in ``ancre:scheme``), its levels (none:
    the scheme has no levels) and how long a credential certifying against it is valid."""

    name: str
    levels: tuple[str, ...]
    validity: timedelta

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "levels": list(self.levels),
            "validity_days": self.validity.days,
        }


@dataclass(frozen=True, slots=True)
class CertificationSchemes:
    """The schemes an agency certifies against, by name; `source` is the file they came from
    (None: no file, so no scheme)."""

    by_name: Mapping[str, Scheme] = field(default_factory=lambda: MappingProxyType({}))
    source: Path | None = None

    def check(self, claims: Mapping[str, Any]) -> Scheme | None:
        """The scheme `claims` certify against, its level checked; None when the claims
        name no scheme (the template's own check then refuses them). Raises
        ``InvalidError(unknown_certification_scheme)`` for a scheme or level this agency
        does not certify against."""
        name = claims.get("ancre:scheme")
        if not isinstance(name, str):
            return None
        scheme = self.by_name.get(name)
        if scheme is None:
            if not self.by_name:
                raise InvalidError(
                    Code.UNKNOWN_CERTIFICATION_SCHEME,
                    f"no certification scheme is configured: add {SCHEMES_FILE} to the issuer "
                    "folder to issue Certification credentials",
                )
            raise InvalidError(
                Code.UNKNOWN_CERTIFICATION_SCHEME,
                f"the scheme {name[:_MAX_TEXT]!r} is not one this agency certifies against; "
                f"configured: {sorted(self.by_name)}",
            )
        level = claims.get("ancre:level")
        if scheme.levels and level not in scheme.levels:
            shown = "no level" if level is None else f"the level {str(level)[:_MAX_TEXT]!r}"
            raise InvalidError(
                Code.UNKNOWN_CERTIFICATION_SCHEME,
                f"{scheme.name} is certified at one of the levels {list(scheme.levels)}, "
                f"not with {shown}",
            )
        if not scheme.levels and level is not None:
            raise InvalidError(
                Code.UNKNOWN_CERTIFICATION_SCHEME,
                f"{scheme.name} has no levels: remove `ancre:level`",
            )
        return scheme


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_TEXT:
        raise ConfigurationError(f"{what} must be a non-empty string of at most {_MAX_TEXT}")
    if value != value.strip() or any(ord(c) < 0x20 for c in value):
        raise ConfigurationError(f"{what} {value!r} has surrounding spaces or control characters")
    return value


def _scheme(entry: Any, number: int) -> Scheme:
    where = f"scheme #{number}"
    if not isinstance(entry, dict):
        raise ConfigurationError(f"{where} must be an object")
    unknown = sorted(set(entry) - {"name", "levels", "validity_days"})
    if unknown:
        raise ConfigurationError(f"{where}: unknown members {unknown}")
    name = _text(entry.get("name"), f"{where}: name")
    raw_levels = entry.get("levels", [])
    if not isinstance(raw_levels, list):
        raise ConfigurationError(f"{name}: levels must be a list of strings")
    levels = tuple(_text(level, f"{name}: a level") for level in raw_levels)
    if len(set(levels)) != len(levels):
        raise ConfigurationError(f"{name}: a level is listed twice")
    days = entry.get("validity_days")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= _MAX_VALIDITY_DAYS:
        raise ConfigurationError(
            f"{name}: validity_days must be a whole number of days, 1 to {_MAX_VALIDITY_DAYS}"
        )
    return Scheme(name, levels, timedelta(days=days))


def parse_schemes(document: Any, source: Path | None = None) -> CertificationSchemes:
    """Check a parsed ``schemes.json``; ``ConfigurationError`` naming the first problem."""
    if not isinstance(document, dict) or set(document) != {"schemes"}:
        raise ConfigurationError('expected {"schemes": [{"name", "levels", "validity_days"}…]}')
    entries = document["schemes"]
    if not isinstance(entries, list):
        raise ConfigurationError("`schemes` must be a list")
    schemes: dict[str, Scheme] = {}
    for number, entry in enumerate(entries, 1):
        scheme = _scheme(entry, number)
        if scheme.name in schemes:
            raise ConfigurationError(f"the scheme {scheme.name!r} is listed twice")
        schemes[scheme.name] = scheme
    return CertificationSchemes(MappingProxyType(schemes), source)


def load_schemes(directory: Path) -> CertificationSchemes:
    """The schemes of the issuer in `directory` (none without ``schemes.json``)."""
    from ancre.trust.codec.json import loads_strict

    path = directory / SCHEMES_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return CertificationSchemes()
    except OSError as error:
        raise ConfigurationError(f"cannot read {path}: {error.strerror}") from None
    if len(raw) > _MAX_BYTES:
        raise ConfigurationError(f"{path} is over {_MAX_BYTES} bytes")
    try:
        return parse_schemes(loads_strict(raw, what=str(path)), path)
    except AncreError as error:
        raise ConfigurationError(f"{path}: {error.message}") from None
