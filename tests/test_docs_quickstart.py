"""Every command and code block of docs/quickstart.md and of the trust-list administrator's
guide, run as written, in order, in a scratch folder — the README's tour test
(tests/test_readme.py) applied to these pages, with the same rules: a block may be preceded
by `<!-- doc-test: skip (why) -->` or `<!-- doc-test: background (… http://127.0.0.1:PORT/PATH
…) -->`, and the servers' ports are swapped for free ones."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_readme import Block, build_script

# A subprocess tour: `make test-fast` skips it.
pytestmark = pytest.mark.slow

DOCS = Path(__file__).resolve().parent.parent / "docs"
QUICKSTART = DOCS / "quickstart.md"
ADMIN_GUIDE = DOCS / "guides" / "trust-list-administrator.md"
_FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.M | re.S)
_MARKER = re.compile(r"<!-- doc-test: (skip|background) \((.*?)\) -->\s*\Z", re.S)


def page_blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    blocks = []
    for match in _FENCE.finditer(text):
        language, body = match.group(1), match.group(2)
        if language not in ("sh", "python"):
            continue
        marker = _MARKER.search(text[: match.start()][-300:])
        blocks.append(
            Block(
                language,
                body,
                marker.group(1) if marker else None,
                marker.group(2) if marker else "",
            )
        )
    return blocks


def test_quickstart_exemptions_are_few_and_explained() -> None:
    blocks = page_blocks(QUICKSTART)
    skipped = [b for b in blocks if b.marker == "skip"]
    assert all(b.reason for b in skipped)
    # Installing, and `make demo` (CI runs it by itself): any new exemption is argued here.
    assert len(skipped) == 2, [b.text.splitlines()[0] for b in skipped]
    assert sum(b.marker is None and b.language == "sh" for b in blocks) >= 4
    assert any(b.language == "python" for b in blocks)
    assert any(b.marker == "background" for b in blocks)


def run_page(page: Path, folder: Path) -> subprocess.CompletedProcess[str]:
    """The page's blocks as one bash script, in `folder`, with the venv's `ancre` first on
    PATH and HOME in the scratch folder."""
    script = folder / "page.sh"
    script.write_text(build_script(page_blocks(page), folder), encoding="utf-8")
    venv_bin = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(folder),
        "XDG_STATE_HOME": str(folder / "state"),
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }
    env.pop("ANCRE_KEYSTORE_PASSPHRASE", None)
    done = subprocess.run(
        ["bash", str(script)],
        cwd=folder,
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:] + done.stdout[-4000:]
    assert "=== README done" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    return done


def test_every_quickstart_command_runs_as_written(tmp_path: Path) -> None:
    done = run_page(QUICKSTART, tmp_path)
    out = done.stdout
    # What the page promises, as a person would read it.
    assert "VALID (issuer not checked: no trust source given)  vc+jwt" in out
    assert "✗ signature      signature_invalid" in out
    assert '"status": "valid"' in (tmp_path / "verdict.json").read_text()
    agency = (tmp_path / "agency.did").read_text().strip()
    assert f"valid {agency}" in out  # the Python block's line
    trusted = re.findall(r"✓ trust +did:key:\S+ is trusted for ExampleMembership", out)
    assert len(trusted) == 2, out  # from the file, then from the served list


def test_every_command_of_the_administrators_guide_runs_as_written(tmp_path: Path) -> None:
    blocks = page_blocks(ADMIN_GUIDE)
    assert not [b for b in blocks if b.marker == "skip"]  # every block runs
    assert any(b.marker == "background" for b in blocks)
    done = run_page(ADMIN_GUIDE, tmp_path)
    # Alice filed the anchor and Bob approved it; the agency was accredited, then suspended
    # (its history says both), and the served list is the published one.
    assert (tmp_path / "served.jwt").read_text().strip() == (
        (tmp_path / "trust-list.jwt").read_text().strip()
    )
    assert "did:web:cofrac.example" in done.stdout
    assert "suspended" in done.stdout
    assert "dashboard" in done.stdout  # the viewer token, listed
