"""docs/errors.md says, for each verification code, whether it makes a result invalid or
indeterminate: every code the package raises must be in its table, with each outcome the
code can be raised with (the table is what clients match on)."""

from __future__ import annotations

import re
from pathlib import Path

from ancre.trust.errors import Code

ROOT = Path(__file__).resolve().parent.parent
#: The packages whose errors become verification outcomes.
SOURCES = ("trust", "verifier")
_RAISED = re.compile(r"\b(InvalidError|IndeterminateError|MalformedError)\(\s*Code\.(\w+)")
# `kind = IndeterminateError if … else InvalidError` then `kind(Code.X, …)`: either outcome.
_EITHER = re.compile(r"\bkind\(\s*Code\.(\w+)")


def raised_outcomes() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for folder in SOURCES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            for cls, name in _RAISED.findall(text):
                outcome = "indeterminate" if cls == "IndeterminateError" else "invalid"
                found.setdefault(Code[name].value, set()).add(outcome)
            if "IndeterminateError if" in text:
                for name in _EITHER.findall(text):
                    found.setdefault(Code[name].value, set()).update({"invalid", "indeterminate"})
    return found


def documented_outcomes() -> dict[str, str]:
    text = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    start = text.index("| code | outcome | meaning |")
    rows: dict[str, str] = {}
    for line in text[start:].split("\n\n")[0].splitlines()[2:]:
        codes, outcome, _ = (cell.strip() for cell in line.strip().strip("|").split("|", 2))
        for code in re.findall(r"`(\w+)`", codes):
            rows[code] = outcome
    return rows


def test_the_scan_finds_what_it_should() -> None:
    # A scan that found nothing would pass everything: pin a few known raises.
    raised = raised_outcomes()
    assert raised["signature_invalid"] == {"invalid"}
    assert "indeterminate" in raised["unknown_context"]
    assert "indeterminate" in raised["ambiguous_key"]
    assert raised["key_binding_invalid"] == {"invalid", "indeterminate"}
    assert len(raised) > 60


def test_every_raised_code_is_documented_with_each_of_its_outcomes() -> None:
    documented = documented_outcomes()
    wrong = []
    for code, outcomes in sorted(raised_outcomes().items()):
        row = documented.get(code)
        if row is None:
            wrong.append(f"{code}: not in the table")
            continue
        for outcome in sorted(outcomes):
            if outcome not in row:
                wrong.append(f"{code}: raised {outcome}, documented {row!r}")
    assert not wrong, "docs/errors.md disagrees with the code:\n" + "\n".join(wrong)


def test_every_code_is_documented() -> None:
    text = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    assert [c.value for c in Code if f"`{c.value}`" not in text] == []
