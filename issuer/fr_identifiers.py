"""Parsing French company identifiers typed or pasted by a person: SIREN, SIRET, FR VAT.

``parse_*`` accept human input (spaces, lower-case ``fr``), return the canonical form and raise
:class:`~ancre.trust.errors.MalformedError` saying what was expected and what was found. The
check digits themselves are in ``ancre.trust.vcdm.fr_identifiers`` (what a verifier checks).
"""

from __future__ import annotations

from typing import Final

from ancre.trust.errors import Code, MalformedError
from ancre.trust.vcdm.fr_identifiers import (
    FR_VAT_LENGTH,
    LA_POSTE_SIREN,
    SIREN_LENGTH,
    SIRET_LENGTH,
    is_ascii_digits,
    is_valid_siren,
    is_valid_siret,
    luhn_valid,
    vat_key_of_valid_siren,
)

__all__ = [
    "fr_vat_from_siren",
    "fr_vat_key",
    "parse_fr_vat",
    "parse_siren",
    "parse_siren_or_siret",
    "parse_siret",
    "siren_of_siret",
]

# Separators people paste in from registers and letterheads: "552 032 534", and the French
# typographic (narrow) no-break spaces that annuaire-entreprises and office suites insert.
_SPACES: Final = str.maketrans("", "", " \t\u00a0\u202f")
# How much of a bad input an error message may echo back (inputs can be arbitrarily long).
_ECHO_LIMIT: Final = 40


def _normalise(s: object, what: str, code: Code) -> str:
    if not isinstance(s, str):
        raise MalformedError(code, f"expected {what} as a string, found {type(s).__name__}")
    return s.translate(_SPACES)


def _echo(s: str) -> str:
    return repr(s if len(s) <= _ECHO_LIMIT else s[:_ECHO_LIMIT] + "…")


def _check_digits_only(s: str, length: int, what: str, code: Code) -> None:
    if not is_ascii_digits(s):
        raise MalformedError(
            code, f"expected {what} of {length} digits, found {_echo(s)} (not only digits)"
        )
    if len(s) != length:
        raise MalformedError(code, f"expected {what} of {length} digits, found {len(s)} digits")


def parse_siren(s: str) -> str:
    """Parse a SIREN typed or pasted by a person; return its canonical 9-digit form.

    Spaces (including no-break spaces) are removed. Raises ``MalformedError`` with code
    ``invalid_siren`` when the result is not 9 ASCII digits or fails the Luhn check.
    """
    value = _normalise(s, "a SIREN", Code.INVALID_SIREN)
    _check_digits_only(value, SIREN_LENGTH, "a SIREN", Code.INVALID_SIREN)
    if not luhn_valid(value):
        raise MalformedError(
            Code.INVALID_SIREN, f"SIREN {value} fails its Luhn check digit (mistyped?)"
        )
    return value


def parse_siret(s: str) -> str:
    """Parse a SIRET typed or pasted by a person; return its canonical 14-digit form.

    Spaces (including no-break spaces) are removed. Raises ``MalformedError`` with code
    ``invalid_siret`` when the result is not 14 ASCII digits or fails the check (Luhn, or
    La Poste's digit-sum rule).
    """
    value = _normalise(s, "a SIRET", Code.INVALID_SIRET)
    _check_digits_only(value, SIRET_LENGTH, "a SIRET", Code.INVALID_SIRET)
    if not is_valid_siret(value):
        rule = (
            "both the Luhn check and La Poste's digit-sum rule"
            if value.startswith(LA_POSTE_SIREN)
            else "its Luhn check digit"
        )
        raise MalformedError(Code.INVALID_SIRET, f"SIRET {value} fails {rule} (mistyped?)")
    return value


def parse_siren_or_siret(s: str) -> str:
    """Parse either a SIREN (9 digits) or a SIRET (14 digits), chosen by length after
    removing spaces; return the canonical form.

    Raises ``MalformedError`` (``invalid_siret`` for 14 characters, ``invalid_siren``
    otherwise) when the number is malformed.
    """
    value = _normalise(s, "a SIREN or SIRET", Code.INVALID_SIREN)
    if len(value) == SIRET_LENGTH:
        return parse_siret(value)
    if len(value) != SIREN_LENGTH:
        raise MalformedError(
            Code.INVALID_SIREN,
            "expected a SIREN (9 digits) or a SIRET (14 digits), "
            f"found {_echo(value)} ({len(value)} characters)",
        )
    return parse_siren(value)


def siren_of_siret(siret: str) -> str:
    """The SIREN of the legal unit a SIRET belongs to (its first 9 digits).

    The SIRET is parsed first (``MalformedError``/``invalid_siret`` if malformed).
    """
    return parse_siret(siret)[:SIREN_LENGTH]


def fr_vat_key(siren: str) -> int:
    """The 2-digit key of the French VAT number of ``siren``: ``(12 + 3 * (siren % 97)) % 97``.

    The SIREN is parsed first (``MalformedError``/``invalid_siren`` if malformed).
    """
    return vat_key_of_valid_siren(parse_siren(siren))


def fr_vat_from_siren(siren: str) -> str:
    """The French VAT number derived from ``siren``, e.g. ``552032534`` → ``FR27552032534``.

    This proves the format only: whether the company has an *active* VAT number is for
    Recherche d'entreprises (``tva``, from DGFiP) or the EU VIES service to say.
    """
    canonical = parse_siren(siren)
    return f"FR{fr_vat_key(canonical):02d}{canonical}"


def parse_fr_vat(s: str) -> str:
    """Parse a French VAT number typed or pasted by a person; return its canonical form
    (``FR`` + 11 digits).

    Spaces are removed and the country prefix is upper-cased. Raises ``MalformedError`` with
    code ``invalid_vat_id`` when the shape is wrong, the embedded SIREN fails its check, or
    the key does not match the SIREN.
    """
    value = _normalise(s, "a French VAT number", Code.INVALID_VAT_ID)
    if value[:2].upper() == "FR":
        value = "FR" + value[2:]
    expected = "a French VAT number: 'FR', a 2-digit key and a 9-digit SIREN (13 characters)"
    if len(value) != FR_VAT_LENGTH or not value.startswith("FR") or not is_ascii_digits(value[2:]):
        raise MalformedError(Code.INVALID_VAT_ID, f"expected {expected}, found {_echo(value)}")
    siren = value[4:]
    if not is_valid_siren(siren):
        raise MalformedError(
            Code.INVALID_VAT_ID,
            f"the SIREN in VAT number {value} ({siren}) fails its Luhn check digit",
        )
    key = fr_vat_key(siren)
    if int(value[2:4]) != key:
        raise MalformedError(
            Code.INVALID_VAT_ID,
            f"VAT number {value} has key {value[2:4]}, but the key of SIREN {siren} is {key:02d}",
        )
    return value
