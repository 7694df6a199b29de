"""`ancre wallet respond` in a real terminal (a pty, through pexpect), as a person answers
it: the screen names the verifier and lists exactly what each presentation discloses, then
asks before anything is sent. "No" sends nothing; "yes" sends only what was shown. The
transcripts are kept next to the test's files (`*.screen`)."""

from __future__ import annotations

import io
import ssl
import sys
from pathlib import Path

import httpx
import pexpect
import pytest
from _issuer_support import DIRECTOR_CLAIMS, Tls, cli_issuer, make_tls
from _wallet_support import (
    VERIFIER_AUDIENCE,
    new_wallet,
    offer_and_receive,
    verifier_process,
    wallet_env,
)

pytestmark = pytest.mark.slow

VCT = "urn:ancre:director-certification:1"
QUERY = {
    "credentials": [
        {
            "id": "director",
            "format": "dc+sd-jwt",
            "meta": {"vct_values": [VCT]},
            "claims": [{"path": ["role"]}],
        }
    ]
}


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


def _respond(wallet: Path, request: str, ca: Path, answer: str, artifact: Path) -> str:
    """Run `respond` on a pty, wait for the question, type `answer`; the whole screen."""
    screen = io.StringIO()
    child = pexpect.spawn(
        sys.executable,
        [
            "-m", "ancre.cli.main", "wallet", "respond", request, "--wallet", str(wallet),
            "--insecure-loopback", "--ca-file", str(ca),
        ],
        env=wallet_env(),
        encoding="utf-8",
        timeout=60,
        dimensions=(40, 160),
    )  # fmt: skip
    child.logfile_read = screen
    child.expect_exact("Send these presentations?")
    child.sendline(answer)
    child.expect(pexpect.EOF)
    child.close()
    artifact.write_text(screen.getvalue())
    assert child.exitstatus is not None
    return f"{screen.getvalue()}\nexit={child.exitstatus}"


def test_disclosure_is_shown_and_confirmed_at_the_terminal(tmp_path: Path, tls: Tls) -> None:
    issuer_dir, wallet = tmp_path / "issuer", tmp_path / "wallet"
    with cli_issuer(issuer_dir, tls) as issuer_url:
        issuer_did = f"did:web:localhost%3A{issuer_url.rsplit(':', 1)[1]}"
        new_wallet(wallet, ("jwk", "p256"))
        offer_and_receive(
            issuer_dir, wallet, tmp_path, "DirectorCertification", DIRECTOR_CLAIMS, tls.ca
        )
        with (
            verifier_process(
                tls.ca,
                tmp_path / "verifier.log",
                trusted_issuer=issuer_did,
                audience=VERIFIER_AUDIENCE,
                tls=(tls.cert, tls.key),
            ) as verifier_url,
            httpx.Client(
                trust_env=False, timeout=10, verify=ssl.create_default_context(cafile=str(tls.ca))
            ) as http,
        ):
            made = http.post(
                f"{verifier_url}/openid4vp/requests",
                json={"dcql_query": QUERY, "response_mode": "direct_post"},
            )
            assert made.status_code == 201, made.text
            transaction = made.json()
            request = transaction["authorization_request"]
            result_url = f"{verifier_url}/openid4vp/requests/{transaction['transaction_id']}/result"
            verifier_id = transaction["client_id"].split(":", 1)[1]

            declined = _respond(wallet, request, tls.ca, "n", tmp_path / "declined.screen")
            # Who asks, and exactly which claims would leave the wallet, before the question.
            assert f"The verifier {verifier_id}" in declined
            assert "/role" in declined
            for withheld in ("Antoine", "Saint-Affrique", "/given_name", "/family_name"):
                assert withheld not in declined
            assert "declined: nothing was sent" in declined
            assert not declined.endswith("exit=0")
            assert http.get(result_url).status_code == 202  # nothing was sent

            accepted = _respond(wallet, request, tls.ca, "y", tmp_path / "accepted.screen")
            assert accepted.endswith("exit=0"), accepted
            assert "sent" in accepted
            verdict = http.get(result_url).json()
            assert verdict["status"] == "valid", verdict
            claims = verdict["credentials"]["director"][0]["claims"]
            assert claims["role"] == DIRECTOR_CLAIMS["role"]
            assert "given_name" not in claims
            assert "family_name" not in claims
