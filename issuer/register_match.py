"""Matching a logged-in person against a company register's list of directors.

The login bridge issues a DirectorCertification or a Mandate only when the person who logged
in is one of the directors the register lists. Names reach ancre spelled differently on each
side: the identity provider sends "Élodie" and "Saint-Exupéry", the register (INSEE, RNE)
writes "ELODIE" and "SAINT EXUPERY"; given names come as "Jean-Pierre Marc" or
"JEAN PIERRE, MARC". The comparison is therefore done on a normalised form, with rules that
are deliberately narrow: a false match would certify the wrong person.

Normalisation (:func:`normalize_name`), in this order:

1. Unicode compatibility decomposition (NFKD) after full case folding, so ligatures (ﬁ),
   full-width letters, accents and case all reduce to base letters (``"Élodie"`` →
   ``"elodie"``, German ``ß`` → ``ss`` by Unicode case folding, so ``Strauß`` = ``STRAUSS``).
2. Nonspacing and enclosing marks dropped (accents, cedillas, diaereses).
3. Letters that Unicode does *not* decompose but that registers write in plain ASCII are
   folded by a small explicit table: ``œ`` → ``oe``, ``æ`` → ``ae`` (French "Cœur" is
   "COEUR" in Sirene), letters with a stroke ``ł ø đ ħ`` → ``l o d h``, dotless ``ı`` → ``i``.
4. Every run of anything that is not a letter or a digit (spaces, hyphens, apostrophes,
   commas, periods) becomes one space; leading and trailing spaces go.

What is *not* equated, on purpose: language-specific transliterations such as German
``ü`` → ``ue``. ``Müller`` normalises to ``muller``, which does not match ``Mueller``: the
registers keep the letter (Sirene writes ``MULLER``), and accepting both spellings would also
equate distinct family names (Muller and Mueller are both common). A person registered under
a transliterated spelling is refused, never certified on a guess.

Comparison (:func:`match_director`):

- **Family names** are compared with all separators removed, so ``Saint-Exupéry`` =
  ``saint exupery`` and ``O'Brien`` = ``OBRIEN`` = ``O BRIEN``. The person's family names
  (usual name, and birth name when known) are compared with the register's (``nom`` and, where
  the register has one, the usage name): any pair equal is a match.
- **Given names**: each side is split into given names on spaces and commas; a hyphenated
  compound (``Jean-Pierre``) is one given name, and consecutive given names written with a
  space also count as a compound (``JEAN PIERRE`` may be the compound written without its
  hyphen). At least one given name must be common to both sides: ``Jean-Pierre`` matches
  ``JEAN PIERRE`` and ``Jean-Pierre Marc`` matches ``MARC``, but ``Pierre`` does not match
  ``Jean-Pierre`` (a compound is a name of its own).
- **Birth year and month** are compared when both sides have them (Recherche d'entreprises
  gives the month, Sirene the full date for an entrepreneur individuel); a mismatch refuses.
  When one side lacks them they are not compared, and the result says so.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

__all__ = [
    "DirectorMatch",
    "Person",
    "RegisteredPerson",
    "family_names_match",
    "given_name_units",
    "given_names_match",
    "match_director",
    "normalize_name",
]

# Letters without a Unicode decomposition that ASCII registers spell with plain letters.
_FOLD: Final = str.maketrans(
    {
        "œ": "oe",
        "æ": "ae",
        "ł": "l",
        "ø": "o",
        "đ": "d",
        "ħ": "h",
        "ı": "i",
        "ŀ": "l",
        "ŧ": "t",
        "ð": "d",
        "þ": "th",
    }
)
# Longest run of consecutive given names joined into one compound candidate.
_MAX_COMPOUND: Final = 3
# Names longer than this are not names: refuse to spend time on them.
_MAX_NAME_LENGTH: Final = 256
_UNIT_SPLIT: Final = re.compile(r"[\s,;]+")
# Nonspacing and enclosing marks: accents and the like. Spacing marks (Mc) stay: in Indic
# scripts they are vowels, and dropping them would equate different names.
_MARKS: Final = frozenset({"Mn", "Me"})


def _strip_marks(text: str) -> str:
    # By category, not by combining class: some nonspacing marks (U+034F COMBINING
    # GRAPHEME JOINER) have class 0 and would otherwise split a word in two.
    return "".join(
        c for c in unicodedata.normalize("NFKD", text) if unicodedata.category(c) not in _MARKS
    )


def _fold(text: str) -> str:
    # Marks go before case folding too: some fold into letters (U+0345 COMBINING GREEK
    # YPOGEGRAMMENI folds to "ι"). Folding can then expose new decompositions ("İ"), hence
    # the second pass, after which the result is a fixed point.
    text = _strip_marks(_strip_marks(text).casefold())
    return text.translate(_FOLD)


def normalize_name(name: str) -> str:
    """The comparison form of a name: case, accents and separators erased (see the module
    docstring for the exact rules). Idempotent; ``""`` for a name with no letter or digit."""
    out: list[str] = []
    word: list[str] = []
    for c in _fold(name[:_MAX_NAME_LENGTH]):
        if c.isalnum():
            word.append(c)
        elif word:
            out.append("".join(word))
            word = []
    if word:
        out.append("".join(word))
    return " ".join(out)


def _compact(name: str) -> str:
    return normalize_name(name).replace(" ", "")


def given_name_units(given_names: str | Sequence[str]) -> list[str]:
    """Split given names into normalised single given names: spaces and commas separate
    given names, hyphens and apostrophes join a compound (``"Jean-Pierre, Marc"`` →
    ``["jeanpierre", "marc"]``)."""
    parts = [given_names] if isinstance(given_names, str) else list(given_names)
    units: list[str] = []
    for part in parts:
        for raw in _UNIT_SPLIT.split(part[:_MAX_NAME_LENGTH]):
            unit = _compact(raw)
            if unit:
                units.append(unit)
    return units


def _candidates(units: Sequence[str]) -> set[str]:
    # Each given name, and each run of consecutive ones joined (a compound whose hyphen
    # was lost: "JEAN PIERRE" for "Jean-Pierre").
    found: set[str] = set()
    for start in range(len(units)):
        for end in range(start + 1, min(len(units), start + _MAX_COMPOUND) + 1):
            found.add("".join(units[start:end]))
    return found


def given_names_match(person: str | Sequence[str], register: str | Sequence[str]) -> bool:
    """Whether at least one given name is common to both sides, compounds included."""
    mine = given_name_units(person)
    theirs = given_name_units(register)
    # A single given name of the person must equal one given name (or compound) of the
    # register; a compound of the person equals a run of the register's, and vice versa.
    return bool(set(mine) & _candidates(theirs)) or bool(_candidates(mine) & set(theirs))


def family_names_match(person: Iterable[str | None], register: Iterable[str | None]) -> bool:
    """Whether any of the person's family names equals any of the register's, compared with
    separators removed. ``None`` and empty names are ignored (never match)."""
    mine = {_compact(n) for n in person if n}
    theirs = {_compact(n) for n in register if n}
    mine.discard("")
    theirs.discard("")
    return bool(mine & theirs)


@dataclass(frozen=True, slots=True)
class Person:
    """The person who logged in, as the identity provider described them.

    ``family_name`` is the usual name (ProConnect's ``usual_name``); ``birth_family_name``
    the birth name when the provider sends one. ``given_names`` as sent (ProConnect's
    ``given_name``: first names, space-separated).
    """

    family_name: str
    given_names: str
    birth_family_name: str | None = None
    birth_year: int | None = None
    birth_month: int | None = None


@dataclass(frozen=True, slots=True)
class RegisteredPerson:
    """A natural person as a company register lists them (a director, or the entrepreneur of
    an entreprise individuelle)."""

    family_name: str
    given_names: str
    #: the usage name when the register records one apart from the birth name.
    usage_name: str | None = None
    birth_year: int | None = None
    birth_month: int | None = None
    role: str | None = None


@dataclass(frozen=True, slots=True)
class DirectorMatch:
    """The result of :func:`match_director`: the matching director (``None`` if nobody
    matched) and whether the birth date was part of the comparison."""

    director: RegisteredPerson | None
    birth_date_compared: bool

    @property
    def matched(self) -> bool:
        return self.director is not None


def _birth_matches(person: Person, director: RegisteredPerson) -> tuple[bool, bool]:
    """(compatible, compared): a mismatch on any component both sides have refuses."""
    compared = False
    if person.birth_year is not None and director.birth_year is not None:
        compared = True
        if person.birth_year != director.birth_year:
            return False, True
        if (
            person.birth_month is not None
            and director.birth_month is not None
            and person.birth_month != director.birth_month
        ):
            return False, True
    return True, compared


def match_director(person: Person, directors: Iterable[RegisteredPerson]) -> DirectorMatch:
    """Find ``person`` among the register's natural-person ``directors``.

    A director matches when a family name and a given name match (module docstring) and the
    birth year (and month) agree wherever both sides have them. The first match wins;
    directors are compared in the register's order.
    """
    for director in directors:
        if not family_names_match(
            (person.family_name, person.birth_family_name),
            (director.family_name, director.usage_name),
        ):
            continue
        if not given_names_match(person.given_names, director.given_names):
            continue
        compatible, compared = _birth_matches(person, director)
        if compatible:
            return DirectorMatch(director, compared)
    return DirectorMatch(None, False)
