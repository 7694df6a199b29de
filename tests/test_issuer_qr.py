"""`ancre issuer offer`'s terminal QR code: drawn when stdout is a terminal or `--qr` asks,
never with `--json`; the drawing is the QR code of the offer URI, module for module."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pexpect
import pytest
import segno
from _issuer_support import CLI_ENV, LEGAL_PERSON_CLAIMS, ancre_cli

#: segno's compact terminal drawing: two module rows a line, light modules drawn (a dark
#: terminal background shows the dark modules), so ' ' is two dark modules.
_HALF = {" ": (1, 1), "▀": (0, 1), "▄": (1, 0), "█": (0, 0)}


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("qr")
    folder = base / "issuer"
    done = ancre_cli("issuer", "init", "--dir", str(folder), "--did", "did:web:agency.example")
    assert done.returncode == 0, done.stderr
    claims = base / "claims.json"
    claims.write_text(json.dumps(LEGAL_PERSON_CLAIMS))
    return folder, claims


def _offer(issuer: tuple[Path, Path], *extra: str) -> tuple[int, str, str]:
    folder, claims = issuer
    done = ancre_cli(
        "issuer", "offer", "--dir", str(folder), "--type", "LegalPerson", "--claims",
        str(claims), *extra,
    )  # fmt: skip
    return done.returncode, done.stdout, done.stderr


def _drawing(lines: list[str]) -> list[str]:
    return [line for line in lines if line and set(line) <= set(_HALF)]


def _modules(drawing: list[str]) -> list[list[int]]:
    rows: list[list[int]] = []
    for line in drawing:
        pairs = [_HALF[c] for c in line]
        rows.append([top for top, _ in pairs])
        rows.append([bottom for _, bottom in pairs])
    return rows


def _assert_encodes(drawing: list[str], uri: str) -> None:
    expected = [[int(bool(m)) for m in row] for row in segno.make_qr(uri, error="m").matrix_iter()]
    modules = _modules(drawing)
    # An odd number of module rows: the last line's lower half is padding.
    assert len(modules) == len(expected) + 1
    assert modules[:-1] == expected
    # Independently of segno: a 4-module quiet zone, then the three finder patterns.
    size = len(expected)
    assert all(m == 0 for m in modules[0])
    assert all(row[:4] == [0] * 4 for row in modules[:-1])
    for top, left in ((4, 4), (4, size - 11), (size - 11, 4)):
        window = [row[left : left + 7] for row in modules[top : top + 7]]
        assert [r[0] for r in window] == [1] * 7
        assert [r[6] for r in window] == [1] * 7
        assert window[0] == [1] * 7
        assert window[6] == [1] * 7
        assert window[1][1:6] == [0] * 5
        assert window[3][2:5] == [1, 1, 1]  # the 3x3 centre


def test_piped_output_has_no_qr_unless_asked(issuer: tuple[Path, Path]) -> None:
    code, out, err = _offer(issuer)
    assert code == 0, err
    assert out.startswith("openid-credential-offer://?credential_offer_uri=")
    assert _drawing(out.splitlines()) == []
    assert "█" not in out

    code, out, err = _offer(issuer, "--qr", "--tx-code")
    assert code == 0, err
    lines = out.splitlines()
    uri = lines[0]
    assert lines[1].startswith("tx_code: ")
    assert lines[2].startswith("expires: ")
    drawing = _drawing(lines[3:])
    assert drawing == lines[3:]  # nothing after the drawing
    _assert_encodes(drawing, uri)


def test_json_never_carries_a_qr(issuer: tuple[Path, Path]) -> None:
    code, out, err = _offer(issuer, "--json")
    assert code == 0, err
    assert sorted(json.loads(out)) == ["expires_at", "offer_uri", "tx_code"]
    code, out, err = _offer(issuer, "--json", "--qr")
    assert (code, out) == (64, "")
    assert "--qr draws on a terminal: not with --json" in err


def _on_a_terminal(issuer: tuple[Path, Path], *extra: str) -> list[str]:
    folder, claims = issuer
    child = pexpect.spawn(
        sys.executable,
        ["-m", "ancre.cli.main", "issuer", "offer", "--dir", str(folder), "--type",
         "LegalPerson", "--claims", str(claims), *extra],
        env={**os.environ, **CLI_ENV, "PYTHONIOENCODING": "utf-8"},
        encoding="utf-8",
        timeout=60,
        dimensions=(80, 200),
    )  # fmt: skip
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    return str(child.before).replace("\r\n", "\n").splitlines()


@pytest.mark.slow
def test_a_terminal_gets_the_qr_by_default(issuer: tuple[Path, Path]) -> None:
    lines = _on_a_terminal(issuer)
    uri = next(line for line in lines if line.startswith("openid-credential-offer://"))
    _assert_encodes(_drawing(lines), uri)
    plain = _on_a_terminal(issuer, "--no-qr")
    assert any(line.startswith("openid-credential-offer://") for line in plain)
    assert _drawing(plain) == []
