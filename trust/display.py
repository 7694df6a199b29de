"""Text from others, shown to a person (issue 17): organization names, claims, verifier
names on the bridge's pages and in the wallet's output.

A name can be made to read as another: bidirectional controls reorder what is shown
(``"Danone\\u202egnp.exe"``), invisible characters split or join words unseen, and letters
of another script look like Latin ones (Cyrillic ``а`` in ``Dаnone``). ancre does not refuse
such text — a register or an issuer is the authority on a name, and legitimate names mix
scripts (``Société Générale (Россия)``) — it **shows** it so that the trick is visible:

- C0/C1 controls, bidirectional controls (U+061C, U+200E/F, U+202A–E, U+2066–9) and
  invisible format characters (zero-width spaces and joiners, U+2060–4, U+FEFF, U+00AD) are
  replaced by a visible ``<U+XXXX>``;
- a *word* (a run of letters) mixing letters of several scripts is followed by
  ``[mixed scripts: Cyrillic, Latin]``: a word in one script next to a word in another is
  normal, a single word in two is the homograph trick.

:func:`display_risks` names what was found (stable codes, for JSON output), and
:func:`shown` returns the text to display. Both are pure and bounded (linear in the text).
"""

from __future__ import annotations

import unicodedata
from typing import Final

__all__ = ["BIDI_CONTROL", "INVISIBLE", "MIXED_SCRIPT", "display_risks", "shown"]

#: Stable codes of :func:`display_risks`.
BIDI_CONTROL: Final = "bidi_control"
INVISIBLE: Final = "invisible_character"
MIXED_SCRIPT: Final = "mixed_script"

_BIDI: Final = frozenset([0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)])
_INVISIBLE: Final = frozenset([0x00AD, 0x034F, 0x180E, *range(0x200B, 0x200E), 0x2060,
                               0x2061, 0x2062, 0x2063, 0x2064, 0xFEFF])  # fmt: skip
#: Scripts told apart (the first word of a letter's Unicode name); others count as one.
_SCRIPTS: Final = (
    "LATIN", "CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE", "GEORGIAN", "HEBREW", "ARABIC",
    "COPTIC", "DESERET", "GLAGOLITIC", "RUNIC", "OGHAM", "LISU", "VAI", "TIFINAGH",
)  # fmt: skip


def _script(char: str) -> str | None:
    """The script of a letter (None for anything that is not a letter, or a script not
    listed, e.g. CJK: mixing it with Latin is no homograph risk)."""
    if not unicodedata.category(char).startswith("L"):
        return None
    if char.isascii():
        return "LATIN"
    name = unicodedata.name(char, "")
    if name.startswith(("MATHEMATICAL", "FULLWIDTH LATIN")):
        return "LATIN-LOOKALIKE"
    first = name.split(" ", 1)[0]
    return first if first in _SCRIPTS else None


def _hidden(code: int) -> str | None:
    if code in _BIDI:
        return BIDI_CONTROL
    if code in _INVISIBLE or code < 0x20 or 0x7F <= code < 0xA0:
        return INVISIBLE
    return None


def _mixed_words(text: str) -> list[tuple[int, frozenset[str]]]:
    """(end index, scripts) of each word mixing scripts."""
    found = []
    scripts: set[str] = set()
    for index, char in enumerate(text + " "):
        if unicodedata.category(char).startswith(("L", "M")):
            script = _script(char)
            if script is not None:
                scripts.add(script)
            continue
        if len(scripts) > 1:
            found.append((index, frozenset(scripts)))
        scripts = set()
    return found


def display_risks(text: str) -> tuple[str, ...]:
    """What in `text` could make it read as something else, as stable codes (sorted,
    each once): ``bidi_control``, ``invisible_character``, ``mixed_script``."""
    risks = {risk for char in text if (risk := _hidden(ord(char))) is not None}
    if _mixed_words(text):
        risks.add(MIXED_SCRIPT)
    return tuple(sorted(risks))


def _label(scripts: frozenset[str]) -> str:
    return ", ".join(sorted(s.replace("-", " ").title() for s in scripts))


def shown(text: str) -> str:
    """`text` as it may be shown to a person: hidden characters made visible, words that
    mix scripts flagged (module docstring). Text without either comes back unchanged."""
    mixed = dict(_mixed_words(text))
    if not mixed and not any(_hidden(ord(c)) for c in text):
        return text
    out = []
    for index, char in enumerate(text):
        if index in mixed:
            out.append(f" [mixed scripts: {_label(mixed[index])}]")
        code = ord(char)
        out.append(f"<U+{code:04X}>" if _hidden(code) else char)
    if len(text) in mixed:
        out.append(f" [mixed scripts: {_label(mixed[len(text)])}]")
    return "".join(out)
