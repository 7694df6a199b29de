"""One SoftHSM2 configuration per test process, holding every test token.

SoftHSM2 reads `SOFTHSM2_CONF` once per process, when the module is first initialized, and
ancre keeps the loaded module for the process (`ancre.trust.keys.pkcs11`): two test files
each pointing it at their own token directory would see only the first one's tokens when
run in one process. So every token the tests use is made here, up front, in one directory,
and `SOFTHSM2_CONF` names it for the rest of the process. Not skipped when SoftHSM2 is
missing: .ci/run installs it, and a missing one is a broken machine."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

#: Token label → (user PIN, SO PIN), for tests/test_pkcs11.py and test_pkcs11_services.py.
TOKENS = {
    "ancre-test": ("4711-pin", "so-pin-0815"),
    "ancre-services": ("2718-pin", "so-pin-3141"),
}
_MODULES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
)
_made: list[tuple[str, Path]] = []


def softhsm(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """The SoftHSM2 module's path and this process's configuration file (made once)."""
    if _made:
        return _made[0]
    module = next((m for m in _MODULES if Path(m).is_file()), None)
    util = shutil.which("softhsm2-util")
    assert module is not None, "SoftHSM2 missing: apt-get install softhsm2 (.ci/run does)"
    assert util is not None, "softhsm2-util missing: apt-get install softhsm2"
    folder = tmp_path_factory.mktemp("softhsm")
    tokens = folder / "tokens"
    tokens.mkdir()
    conf = folder / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    for label, (pin, so_pin) in TOKENS.items():
        subprocess.run(
            [util, "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", so_pin],
            env={"SOFTHSM2_CONF": str(conf), "PATH": "/usr/bin:/bin"},
            check=True,
            capture_output=True,
        )
    # For the whole process (the module reads it once) and the commands it starts.
    os.environ["SOFTHSM2_CONF"] = str(conf)
    _made.append((module, conf))
    return module, conf
