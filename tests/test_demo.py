"""`make demo` (README): the whole story runs on loopback and every verdict is as expected."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Well over a second (a browser or a subprocess tour): `make test-fast` skips it.
pytestmark = pytest.mark.slow


def test_demo_runs_the_story() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ancre.cli.main", "demo"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "every verdict was the expected one" in done.stdout
    for moment in ("trust list #1", "revoked", "was suspended", "stays valid"):
        assert moment in done.stdout
    assert "Traceback" not in done.stderr
