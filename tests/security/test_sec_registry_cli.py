"""The registry CLI under issue 12: `--as` is no identity (point 1), the way back exists on
the command line too (point 2), `audit verify` checks signatures and lists the auditor kept
(point 3), and the files it writes are private (point 20). Real subprocesses, real SQLite."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ENV = {**os.environ, "ANCRE_KEYSTORE_PASSPHRASE": "registry passphrase"}
ENV.pop("ANCRE_REGISTRY_TOKEN", None)
REGISTRY = "did:web:registry.example"
ANCHOR, AGENCY, LP = "did:web:assoc.example", "did:web:agency.example", "gx:LegalPerson"


def ancre(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ancre.cli.main", "registry", *args],
        capture_output=True, text=True, env=ENV, check=False, timeout=60,
    )  # fmt: skip


@pytest.fixture
def reg(tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    d = ["--dir", str(tmp_path / "reg")]
    init = ancre("init", "--did", REGISTRY, *d, "--admin", "alice", "--admin", "bob")
    assert init.returncode == 0, init.stderr
    lines = init.stderr.splitlines()
    tokens = {
        line.split()[4]: lines[i + 1].strip()
        for i, line in enumerate(lines)
        if line.startswith("ancre: approver token for ")
    }
    assert set(tokens) == {"alice", "bob"}
    filed = ancre("anchor", "add", ANCHOR, "--name", "Association", *d, "--token", tokens["alice"])
    assert "pending change 1" in filed.stdout
    assert ancre("approve", "1", *d, "--token", tokens["bob"]).returncode == 0
    added = ancre(
        "issuer", "add", AGENCY, "--name", "Agence", "--accredited-by", ANCHOR, "--type", LP, *d
    )
    assert added.returncode == 0, added.stderr
    return d, tokens


def test_as_is_no_identity(reg: tuple[list[str], dict[str, str]]) -> None:
    d, tokens = reg
    filed = ancre("anchor", "add", "did:web:rogue.example", "--name", "Rogue", *d, "--as", "alice")
    assert filed.returncode == 77
    assert "--token" in filed.stderr
    filed = ancre(
        "anchor", "add", "did:web:rogue.example", "--name", "R", *d, "--token", tokens["alice"]
    )
    assert "pending change 2" in filed.stdout
    for forged in ("bob", "Bob", "someone"):
        refused = ancre("approve", "2", *d, "--as", forged)
        assert refused.returncode == 77
    own = ancre("approve", "2", *d, "--token", tokens["alice"])
    assert own.returncode == 1
    assert "cannot approve their own" in own.stderr
    wrong = ancre("approve", "2", *d, "--token", "ancre_not-a-token")
    assert (wrong.returncode, "unknown or revoked" in wrong.stderr) == (77, True)


def test_minting_an_approver_past_the_bootstrap_is_two_person(
    reg: tuple[list[str], dict[str, str]],
) -> None:
    d, tokens = reg
    anonymous = ancre("token", "create", "alice2", "--role", "approver", *d)
    assert anonymous.returncode == 77
    minted = ancre(
        "token", "create", "alice2", "--role", "approver", *d, "--token", tokens["alice"]
    )
    assert minted.returncode == 0, minted.stderr
    assert "works once change 2 is approved" in minted.stderr
    alice2 = minted.stdout.strip()
    # Not usable yet: approving with it is refused as an unknown token.
    assert ancre("approve", "2", *d, "--token", alice2).returncode == 77
    assert ancre("approve", "2", *d, "--token", tokens["alice"]).returncode == 1
    assert ancre("approve", "2", *d, "--token", tokens["bob"]).returncode == 0
    listed = json.loads(ancre("token", "list", *d, "--json").stdout)
    assert {t["name"]: t["person"] for t in listed}["alice2"] == "alice2"
    # Revocation: at once, audited, and the token stops working.
    assert ancre("token", "revoke", "alice2", *d, "--token", tokens["bob"]).returncode == 0
    assert ancre("reject", "1", *d, "--token", alice2).returncode == 77


def test_the_way_back_from_the_command_line(reg: tuple[list[str], dict[str, str]]) -> None:
    d, tokens = reg
    withdrawn = ancre("issuer", "withdraw-type", AGENCY, "--type", LP, "--reason", "scope", *d)
    assert withdrawn.returncode == 0, withdrawn.stderr
    shown = json.loads(ancre("issuer", "show", AGENCY, *d, "--json").stdout)
    grant = next(t for t in shown["types"] if t["type"] == LP)  # docs/registry-json.md
    assert (grant["status"], grant["history"][-1]["status"]) == ("withdrawn", "withdrawn")
    suspended = ancre("anchor", "suspend", ANCHOR, "--reason", "audit", *d, "--as", "alice")
    assert suspended.returncode == 77  # two-person: needs a token
    filed = ancre("anchor", "suspend", ANCHOR, "--reason", "audit", *d, "--token", tokens["alice"])
    assert "pending change 2" in filed.stdout
    assert ancre("approve", "2", *d, "--token", tokens["bob"]).returncode == 0
    off = ancre("two-person-rule", "off", *d, "--token", tokens["alice"])
    assert "pending change 3" in off.stdout
    assert ancre("approve", "3", *d, "--token", tokens["alice"]).returncode == 1
    audit = ancre("audit", "verify", *d, "--json")
    assert json.loads(audit.stdout)["ok"] is True


def test_audit_verify_catches_an_emptied_log_with_a_kept_list(
    tmp_path: Path, reg: tuple[list[str], dict[str, str]]
) -> None:
    d, _ = reg
    kept = tmp_path / "list.jwt"
    assert ancre("publish", *d, "--out", str(kept)).returncode == 0
    assert ancre("audit", "verify", *d, "--trust-list", str(kept)).returncode == 0
    with sqlite3.connect(tmp_path / "reg" / "registry.db") as db:
        for table in ("audit_log", "audit_checkpoints", "publications"):
            db.execute(f"DELETE FROM {table}")
        db.execute("DELETE FROM registry_meta WHERE key = 'audit_head'")
    broken = ancre("audit", "verify", *d, "--trust-list", str(kept), "--json")
    assert broken.returncode == 1
    report = json.loads(broken.stdout)
    assert (report["ok"], report["events"]) == (False, 0)


def test_the_registry_files_are_private(
    tmp_path: Path, reg: tuple[list[str], dict[str, str]]
) -> None:
    folder = tmp_path / "reg"
    for name in (
        "registry.db",
        "registry.json",
        "keys.ancre",
        "registry.db-wal",
        "registry.db-shm",
    ):
        path = folder / name
        if path.exists() or name in ("registry.db", "registry.json", "keys.ancre"):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
