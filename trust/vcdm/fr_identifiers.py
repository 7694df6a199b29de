"""French company identifiers: SIREN, SIRET and the French intra-EU VAT number.

- **SIREN** identifies a legal unit (9 digits), **SIRET** one of its establishments (the SIREN
  followed by a 5-digit NIC, 14 digits). Both end with a Luhn check digit computed over the
  whole number — except La Poste (SIREN ``356000000``), which has more establishments than
  Luhn-valid NICs: INSEE also accepts its SIRETs whose digit sum is a multiple of 5.
- The **French VAT number** is ``FR`` + a 2-digit key + the SIREN, with
  key = ``(12 + 3 * (SIREN mod 97)) mod 97``.

Facts and test vectors: ``shared/reference/company-registries.md`` §3 and §4.

Check digits prove a number is well formed, not that it exists: ancre confirms every number
against the company register (active, diffusible) before it issues a credential.

``is_valid_*`` take the canonical form only (ASCII digits, no spaces) and never raise: they are
what the credential schemas check. Parsing human input (``parse_*``) is issuer-side:
``ancre.issuer.fr_identifiers``.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "FR_VAT_LENGTH",
    "LA_POSTE_SIREN",
    "SIREN_LENGTH",
    "SIRET_LENGTH",
    "is_ascii_digits",
    "is_valid_fr_vat",
    "is_valid_siren",
    "is_valid_siret",
    "luhn_valid",
    "vat_key_of_valid_siren",
]

#: La Poste's SIREN, the one exception to the Luhn rule for SIRETs (INSEE's published rule).
LA_POSTE_SIREN: Final = "356000000"

SIREN_LENGTH: Final = 9
SIRET_LENGTH: Final = 14
FR_VAT_LENGTH: Final = 2 + 2 + SIREN_LENGTH


def is_ascii_digits(s: str) -> bool:
    """Whether `s` is non-empty and only ASCII digits."""
    # str.isdigit() alone also accepts "²" or Arabic-Indic digits, which int() may then
    # read or reject: a SIREN is ASCII digits only.
    return s.isascii() and s.isdigit()


def luhn_valid(digits: str) -> bool:
    """Whether a non-empty string of ASCII digits passes the Luhn (mod 10) check.

    Doubles every second digit from the right, subtracts 9 from doubled values above 9, and
    requires the total to be a multiple of 10. Returns ``False`` for anything that is not a
    non-empty string of ASCII digits.
    """
    if not is_ascii_digits(digits):
        return False
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = ord(c) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def is_valid_siren(s: str) -> bool:
    """Whether ``s`` is a well-formed SIREN: exactly 9 ASCII digits passing the Luhn check."""
    return len(s) == SIREN_LENGTH and luhn_valid(s)


def is_valid_siret(s: str) -> bool:
    """Whether ``s`` is a well-formed SIRET: exactly 14 ASCII digits passing the Luhn check,
    or a La Poste SIRET (``356000000…``) whose digit sum is a multiple of 5."""
    if len(s) != SIRET_LENGTH or not is_ascii_digits(s):
        return False
    if luhn_valid(s):
        return True
    # INSEE's exception for La Poste (reference/company-registries.md §3): e.g.
    # 35600000049837 (digit sum 45) is valid although it fails Luhn.
    return s.startswith(LA_POSTE_SIREN) and sum(ord(c) - 48 for c in s) % 5 == 0


def is_valid_fr_vat(s: str) -> bool:
    """Whether ``s`` is a canonical French VAT number: ``FR``, the 2-digit key, then a valid
    SIREN whose computed key matches.

    VAT numbers with an alphanumeric key (given to businesses that have no SIREN) are not
    derived from a SIREN, cannot be checked this way and are rejected.
    """
    if len(s) != FR_VAT_LENGTH or not s.startswith("FR") or not is_ascii_digits(s[2:]):
        return False
    siren = s[4:]
    return is_valid_siren(siren) and int(s[2:4]) == vat_key_of_valid_siren(siren)


def vat_key_of_valid_siren(siren: str) -> int:
    """The 2-digit key of the French VAT number of a SIREN *already checked* (canonical, see
    :func:`is_valid_siren`): ``(12 + 3 * (siren % 97)) % 97``."""
    return (12 + 3 * (int(siren) % 97)) % 97
