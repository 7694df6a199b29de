"""Helpers for the wallet tests: run `ancre wallet …` as a subprocess on a test wallet."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

WALLET_PASSPHRASE = "wallet passphrase for tests"
SCRYPT_N = str(2**14)


def wallet_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANCRE_WALLET")}
    env["ANCRE_WALLET_PASSPHRASE"] = WALLET_PASSPHRASE
    env.update(extra)
    return env


def wallet_cli(
    wallet: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`ancre wallet ARGS --wallet WALLET` with the test passphrase (unless `env` says)."""
    return subprocess.run(
        [sys.executable, "-m", "ancre.cli.main", "wallet", *args, "--wallet", str(wallet)],
        capture_output=True,
        text=True,
        env=env if env is not None else wallet_env(),
        check=False,
        timeout=timeout,
    )


def new_wallet(wallet: Path, *identities: tuple[str, str]) -> list[dict[str, Any]]:
    """`init`, then one identity per (method, key type); returns their JSON."""
    import json

    done = wallet_cli(wallet, "init", "--scrypt-n", SCRYPT_N)
    assert done.returncode == 0, done.stderr
    made = []
    for method, key_type in identities:
        created = wallet_cli(
            wallet, "did", "create", "--method", method, "--type", key_type, "--json"
        )
        assert created.returncode == 0, created.stderr
        made.append(json.loads(created.stdout))
    return made


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (relative name → bytes)."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }
