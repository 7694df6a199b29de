"""Unicode confusables in names shown to people (issue 17): decided as *show, do not
refuse* (`ancre.trust.display`): bidi controls and invisible characters become a visible
`<U+XXXX>`, a word mixing scripts is flagged `[mixed scripts: …]`; stable codes for JSON
output. Applied on the bridge's consent and delegation pages and in the wallet's text
output."""

from __future__ import annotations

import pytest

from ancre.issuer.delegation import Delegation, _summary
from ancre.trust.display import display_risks, shown

CYRILLIC_A = "\u0430"


@pytest.mark.parametrize(
    ("text", "risks", "visible"),
    [
        ("Danone", (), "Danone"),
        ("Société Générale", (), "Société Générale"),
        ("Société Générale (Россия)", (), "Société Générale (Россия)"),  # one script per word
        ("株式会社 Danone", (), "株式会社 Danone"),
        (f"D{CYRILLIC_A}none", ("mixed_script",),
         f"D{CYRILLIC_A}none [mixed scripts: Cyrillic, Latin]"),
        ("Danone\u202egnp.exe", ("bidi_control",), "Danone<U+202E>gnp.exe"),
        ("Dan\u200bone", ("invisible_character",), "Dan<U+200B>one"),
        ("Danone\u2066x\u2069", ("bidi_control",), "Danone<U+2066>x<U+2069>"),
        ("A\x00B", ("invisible_character",), "A<U+0000>B"),
        ("𝐃anone", ("mixed_script",), "𝐃anone [mixed scripts: Latin, Latin Lookalike]"),
        (f"p{CYRILLIC_A}y\u202e", ("bidi_control", "mixed_script"),
         f"p{CYRILLIC_A}y [mixed scripts: Cyrillic, Latin]<U+202E>"),
    ],
)  # fmt: skip
def test_hidden_and_mixed_script_text_is_made_visible(
    text: str, risks: tuple[str, ...], visible: str
) -> None:
    assert display_risks(text) == risks
    assert shown(text) == visible


def test_a_delegation_page_shows_a_spoofed_organization_name() -> None:
    from datetime import UTC, datetime

    fields = dict.fromkeys(Delegation.__dataclass_fields__)
    fields.update(
        organization_name=f"L{CYRILLIC_A} Poste", siren="356000000", role="Directeur\u202e",
        requester_name="Karim", expires_at=datetime(2026, 1, 1, tzinfo=UTC), state="pending",
    )  # fmt: skip
    summary = _summary(Delegation(**fields), with_requester=True)
    assert summary["organization"] == f"L{CYRILLIC_A} [mixed scripts: Cyrillic, Latin] Poste"
    assert summary["role"] == "Directeur<U+202E>"


def test_the_wallets_text_output_shows_a_spoofed_name_visibly() -> None:
    """Every credential or issuer value the wallet prints in text goes through `_cell`."""
    from ancre.cli.wallet import _cell

    cell = _cell(f"D{CYRILLIC_A}none\u202e[bold]")
    assert "\u202e" not in cell
    assert "<U+202E>" in cell
    assert "[mixed scripts: Cyrillic, Latin]" in cell
    assert "\\[bold]" in cell  # Rich markup from the data stays escaped
