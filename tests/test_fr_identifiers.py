"""SIREN, SIRET and French VAT numbers: real numbers, the La Poste exception, and properties.

Real numbers come from shared/reference/company-registries/ (INSEE Sirene fixtures of
ProConnect Identité, the Recherche d'entreprises example for La Poste) and the Gaia-X Tagus
notary example (FR79537407926); rules from shared/reference/company-registries.md §3-§4.
"""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ancre.issuer.fr_identifiers import (
    fr_vat_from_siren,
    fr_vat_key,
    parse_fr_vat,
    parse_siren,
    parse_siren_or_siret,
    parse_siret,
    siren_of_siret,
)
from ancre.trust.errors import Code, MalformedError
from ancre.trust.vcdm.fr_identifiers import (
    LA_POSTE_SIREN,
    is_valid_fr_vat,
    is_valid_siren,
    is_valid_siret,
    luhn_valid,
)

# --- an independent Luhn, to cross-check the module ------------------------------------------


def _luhn_check_digit(prefix: str) -> str:
    """The digit that completes ``prefix`` into a Luhn-valid number (textbook algorithm: the
    rightmost prefix digit is the one doubled)."""
    total = 0
    for i, c in enumerate(reversed(prefix)):
        d = int(c) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


def _digits(n: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=n, max_size=n)


@st.composite
def sirens(draw: st.DrawFn) -> str:
    prefix = draw(_digits(8))
    return prefix + _luhn_check_digit(prefix)


@st.composite
def non_la_poste_sirets(draw: st.DrawFn) -> str:
    prefix = draw(_digits(13))
    assume(not prefix.startswith(LA_POSTE_SIREN))
    return prefix + _luhn_check_digit(prefix)


# --- real numbers ------------------------------------------------------------------------------

VALID_SIRENS = [
    "552032534",  # DANONE, INSEE Sirene fixture
    "807612296",  # entrepreneur individuel of the ProConnect certification-dirigeant fixture
    "356000000",  # La Poste: the SIREN itself passes Luhn
    "537407926",  # SIREN inside the Gaia-X notary example VAT FR79537407926
    "552081317",  # EDF (VAT vector of the reference)
]

VALID_SIRETS = [
    "80761229600051",  # INSEE Sirene /siret fixture
    "83832482000011",  # ProConnect integration test organisation
    "35600000000048",  # La Poste head office: passes Luhn (digit sum 26)
    "35600000049837",  # La Poste establishment: fails Luhn, digit sum 45 -> valid by exception
]


@pytest.mark.parametrize("siren", VALID_SIRENS)
def test_real_sirens_are_valid(siren: str) -> None:
    assert is_valid_siren(siren)
    assert parse_siren(siren) == siren


@pytest.mark.parametrize("siret", VALID_SIRETS)
def test_real_sirets_are_valid(siret: str) -> None:
    assert is_valid_siret(siret)
    assert parse_siret(siret) == siret
    assert siren_of_siret(siret) == siret[:9]


def test_la_poste_exception_is_exactly_the_digit_sum_rule() -> None:
    assert not luhn_valid("35600000049837")  # only the exception makes it valid
    assert is_valid_siret("35600000049837")
    assert not is_valid_siret("35600000049838")  # digit sum 46
    # The exception belongs to SIREN 356000000 only: a SIRET of another SIREN whose digit sum
    # is a multiple of 5 but that fails Luhn stays invalid.
    other = "55203253400010"
    assert sum(map(int, other)) % 5 == 0
    assert not luhn_valid(other)
    assert not is_valid_siret(other)
    # ... and it does not apply to SIRENs: 9 digits are checked by Luhn alone.
    assert not is_valid_siren("356000005")


def test_la_poste_rule_misses_a_change_of_five() -> None:
    # Why the exception is weaker than Luhn: a digit changed by ±5 keeps the digit sum modulo
    # 5, so the mistyped La Poste SIRET below still "validates". Only the register can tell.
    mistyped = "35600000049832"  # last digit 7 -> 2
    assert is_valid_siret(mistyped)


@pytest.mark.parametrize(
    ("siren", "vat"),
    [
        ("537407926", "FR79537407926"),  # Gaia-X Tagus notary example
        ("552032534", "FR27552032534"),  # Danone
        ("552081317", "FR03552081317"),  # EDF
        ("356000000", "FR39356000000"),  # La Poste (Recherche d'entreprises `tva`)
        ("807612296", "FR00807612296"),  # key 0 is written with two digits
    ],
)
def test_vat_vectors(siren: str, vat: str) -> None:
    assert fr_vat_from_siren(siren) == vat
    assert fr_vat_key(siren) == int(vat[2:4])
    assert is_valid_fr_vat(vat)
    assert parse_fr_vat(vat) == vat


# --- known-bad values --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "552032535",  # last digit changed
        "55203253",  # 8 digits
        "5520325340",  # 10 digits
        "",
        "55203253a",
        "552 032 534",  # is_valid_* takes the canonical form only
        "５５２０３２５３４",  # full-width digits: str.isdigit() is True, but not a SIREN
        "55203253٤",  # Arabic-Indic digit four
    ],
)
def test_invalid_sirens(value: str) -> None:
    assert not is_valid_siren(value)


@pytest.mark.parametrize(
    "value",
    [
        # The Sirene fixture's siren + nic ("00011"), inconsistent with its own siret: invalid.
        "80761229600011",
        "8076122960005",
        "807612296000510",
        "8076122960005x",
        "80761229600052",
    ],
)
def test_invalid_sirets(value: str) -> None:
    assert not is_valid_siret(value)


@pytest.mark.parametrize(
    "value",
    [
        "FR80537407926",  # wrong key
        "FR7953740792",  # too short
        "FR79537407925",  # SIREN fails Luhn
        "DE79537407926",
        "fr79537407926",  # is_valid_* takes the canonical form only
        "FRAB537407926",  # alphanumeric keys are not derived from a SIREN
    ],
)
def test_invalid_vat_numbers(value: str) -> None:
    assert not is_valid_fr_vat(value)


def test_luhn_rejects_non_digits() -> None:
    assert luhn_valid("0")
    assert not luhn_valid("")
    assert not luhn_valid("12a4")
    assert not luhn_valid("²")


# --- parsing: normalisation and error messages -------------------------------------------------


def test_parse_normalises_human_input() -> None:
    assert parse_siren("552 032 534") == "552032534"
    assert parse_siren("552\u00a0032\u202f534") == "552032534"  # no-break spaces
    assert parse_siret(" 356 000 000 49837 ") == "35600000049837"
    assert parse_fr_vat("fr 27 552 032 534") == "FR27552032534"
    assert parse_siren_or_siret("807 612 296 00051") == "80761229600051"
    assert parse_siren_or_siret("807612296") == "807612296"


@pytest.mark.parametrize(
    ("parse", "value", "code", "fragment"),
    [
        (parse_siren, "55203253", Code.INVALID_SIREN, "expected a SIREN of 9 digits, found 8"),
        (parse_siren, "5520E2534", Code.INVALID_SIREN, "found '5520E2534' (not only digits)"),
        (parse_siren, "552032535", Code.INVALID_SIREN, "SIREN 552032535 fails its Luhn check"),
        (parse_siret, "8076122960005", Code.INVALID_SIRET, "of 14 digits, found 13 digits"),
        (parse_siret, "80761229600011", Code.INVALID_SIRET, "fails its Luhn check digit"),
        (parse_siret, "35600000049838", Code.INVALID_SIRET, "La Poste's digit-sum rule"),
        (
            parse_siren_or_siret,
            "1234567890",
            Code.INVALID_SIREN,
            "expected a SIREN (9 digits) or a SIRET (14 digits), found '1234567890'",
        ),
        (parse_siren_or_siret, "80761229600011", Code.INVALID_SIRET, "SIRET 80761229600011"),
        (siren_of_siret, "552032534", Code.INVALID_SIRET, "found 9 digits"),
        (fr_vat_key, "55203253", Code.INVALID_SIREN, "found 8 digits"),
        (
            parse_fr_vat,
            "FR80537407926",
            Code.INVALID_VAT_ID,
            "has key 80, but the key of SIREN 537407926 is 79",
        ),
        (parse_fr_vat, "FR79537407925", Code.INVALID_VAT_ID, "(537407925) fails its Luhn"),
        (parse_fr_vat, "DE123456789", Code.INVALID_VAT_ID, "expected a French VAT number"),
        (parse_fr_vat, "FRAB537407926", Code.INVALID_VAT_ID, "found 'FRAB537407926'"),
    ],
)
def test_parse_errors_say_what_was_expected_and_found(
    parse: object, value: str, code: Code, fragment: str
) -> None:
    assert callable(parse)
    with pytest.raises(MalformedError) as caught:
        parse(value)
    assert caught.value.code is code
    assert fragment in caught.value.message


def test_parse_refuses_non_strings_and_bounds_the_echo() -> None:
    with pytest.raises(MalformedError) as caught:
        parse_siren(552032534)  # type: ignore[arg-type]
    assert caught.value.code is Code.INVALID_SIREN
    assert "found int" in caught.value.message
    with pytest.raises(MalformedError) as caught:
        parse_fr_vat("FR" + "9" * 10_000)
    assert len(caught.value.message) < 200


# --- properties ----------------------------------------------------------------------------


@given(_digits(8))
def test_every_prefix_has_exactly_one_check_digit(prefix: str) -> None:
    completions = [d for d in "0123456789" if is_valid_siren(prefix + d)]
    assert completions == [_luhn_check_digit(prefix)]


@given(sirens(), st.integers(0, 8), st.integers(1, 9))
def test_any_single_digit_change_breaks_a_siren(siren: str, position: int, delta: int) -> None:
    assert is_valid_siren(siren)
    changed = str((int(siren[position]) + delta) % 10)
    mutated = siren[:position] + changed + siren[position + 1 :]
    assert not is_valid_siren(mutated)


@given(non_la_poste_sirets(), st.integers(0, 13), st.integers(1, 9))
def test_any_single_digit_change_breaks_a_siret(siret: str, position: int, delta: int) -> None:
    assert is_valid_siret(siret)
    changed = str((int(siret[position]) + delta) % 10)
    mutated = siret[:position] + changed + siret[position + 1 :]
    # A mutation that lands on La Poste's SIREN falls under the weaker digit-sum rule.
    assume(not mutated.startswith(LA_POSTE_SIREN))
    assert not is_valid_siret(mutated)


def _swap(number: str, i: int) -> str:
    return number[:i] + number[i + 1] + number[i] + number[i + 2 :]


@given(sirens(), st.integers(0, 7))
def test_adjacent_transpositions_are_detected_in_sirens(siren: str, i: int) -> None:
    pair = {siren[i], siren[i + 1]}
    assume(len(pair) == 2)
    # Luhn's one blind spot: 09 <-> 90 (see the test below).
    assume(pair != {"0", "9"})
    assert not is_valid_siren(_swap(siren, i))


@given(non_la_poste_sirets(), st.integers(0, 12))
def test_adjacent_transpositions_are_detected_in_sirets(siret: str, i: int) -> None:
    pair = {siret[i], siret[i + 1]}
    assume(len(pair) == 2 and pair != {"0", "9"})
    swapped = _swap(siret, i)
    assume(not swapped.startswith(LA_POSTE_SIREN))
    assert not is_valid_siret(swapped)


def test_luhn_does_not_detect_a_09_90_transposition() -> None:
    # Known limit of Luhn (0 and 9 both contribute 0/9 whether doubled or not): such a typo
    # passes the check digit and only the register lookup catches it.
    assert is_valid_siren("509032538")
    assert is_valid_siren("590032538")


@given(sirens())
def test_vat_derived_from_a_valid_siren_validates(siren: str) -> None:
    vat = fr_vat_from_siren(siren)
    assert is_valid_fr_vat(vat)
    assert parse_fr_vat(vat) == vat
    assert vat[4:] == siren


@given(sirens(), st.integers(0, 99))
def test_any_other_vat_key_fails(siren: str, key: int) -> None:
    assume(key != fr_vat_key(siren))
    vat = f"FR{key:02d}{siren}"
    assert not is_valid_fr_vat(vat)
    with pytest.raises(MalformedError) as caught:
        parse_fr_vat(vat)
    assert caught.value.code is Code.INVALID_VAT_ID
