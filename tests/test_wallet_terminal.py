"""The wallet in a real terminal (a pty, through pexpect), as a person types: the
passphrase prompts (twice at `init`), the tx_code prompt at `receive`, and what the screen
shows. The transcripts are kept next to the test's files (`*.screen`)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pexpect
import pytest
from _issuer_support import LEGAL_PERSON_CLAIMS, Tls, ancre_cli, cli_issuer, make_tls
from _wallet_support import SCRYPT_N, wallet_env

PASSPHRASE = "typed at the terminal"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


def _spawn(wallet: Path, *args: str) -> tuple[pexpect.spawn, io.StringIO]:
    env = {k: v for k, v in wallet_env().items() if k != "ANCRE_WALLET_PASSPHRASE"}
    screen = io.StringIO()
    child = pexpect.spawn(
        sys.executable,
        ["-m", "ancre.cli.main", "wallet", *args, "--wallet", str(wallet)],
        env=env,
        encoding="utf-8",
        timeout=60,
        dimensions=(40, 160),
    )
    child.logfile_read = screen
    return child, screen


def _finish(child: pexpect.spawn, screen: io.StringIO, artifact: Path) -> str:
    child.expect(pexpect.EOF)
    child.close()
    artifact.write_text(screen.getvalue())
    return screen.getvalue()


def test_passphrase_and_tx_code_prompts(tmp_path: Path, tls: Tls) -> None:
    wallet = tmp_path / "wallet"
    child, screen = _spawn(wallet, "init", "--scrypt-n", SCRYPT_N)
    child.expect_exact("Wallet passphrase: ")
    child.sendline(PASSPHRASE)
    child.expect_exact("Wallet passphrase (again): ")
    child.sendline(PASSPHRASE)
    shown = _finish(child, screen, tmp_path / "init.screen")
    assert child.exitstatus == 0, shown
    assert f"wallet created at {wallet}" in shown
    assert PASSPHRASE not in shown  # not echoed

    child, screen = _spawn(wallet, "did", "create", "--name", "acme")
    child.expect_exact("Wallet passphrase: ")
    child.sendline("a wrong passphrase")
    shown = _finish(child, screen, tmp_path / "wrong.screen")
    assert child.exitstatus == 77, shown
    assert "wallet_locked: wrong passphrase" in shown

    child, screen = _spawn(wallet, "did", "create", "--name", "acme")
    child.expect_exact("Wallet passphrase: ")
    child.sendline(PASSPHRASE)
    shown = _finish(child, screen, tmp_path / "did.screen")
    assert child.exitstatus == 0, shown
    assert "acme: did:key:z6Mk" in shown

    issuer_dir = tmp_path / "issuer"
    claims = tmp_path / "claims.json"
    claims.write_text(json.dumps(LEGAL_PERSON_CLAIMS))
    with cli_issuer(issuer_dir, tls):
        made = ancre_cli(
            "issuer", "offer", "--dir", str(issuer_dir), "--type", "LegalPerson",
            "--claims", str(claims), "--tx-code", "--json",
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        offer = json.loads(made.stdout)
        child, screen = _spawn(
            wallet, "receive", offer["offer_uri"], "--insecure-loopback", "--ca-file", str(tls.ca)
        )
        child.expect_exact("Wallet passphrase: ")
        child.sendline(PASSPHRASE)
        child.expect_exact("offer from https://localhost:")
        child.expect(r"Transaction code \(\d+ digits\): ")
        child.sendline(offer["tx_code"])
        shown = _finish(child, screen, tmp_path / "receive.screen")
    assert child.exitstatus == 0, shown
    assert "gx:LegalPerson from did:web:localhost%3A" in shown
    assert offer["tx_code"] not in shown  # typed without echo
