"""docs/wallet.md's administrator walk-through, run as written: every `ancre wallet` line of
the block between the walkthrough markers, in order, in one working directory. The test
supplies what the walk-through receives from elsewhere (the credential files, the
connector's OpenID4VP request from the non-ancre verifier of tests/node_verifier/) and
serves the did.json the walk-through writes at the did:web's loopback https address."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _issuer_support import LEGAL_PERSON_CLAIMS, Tls, make_tls
from _wallet_org_support import TestIssuer, issue_sd_jwt, publish_did_json, verify_presentation
from _wallet_support import wallet_env

from ancre.trust.result import Status
from ancre.wallet.store import WalletStore

DOC = Path(__file__).parent.parent / "docs" / "wallet.md"
NODE_DIR = Path(__file__).parent / "node_verifier"
VCT = "urn:ancre:test:membership:1"
PASSPHRASE = "acme wallet passphrase"


def _commands() -> list[str]:
    text = DOC.read_text()
    block = re.search(
        r"<!-- walkthrough:start -->\n```sh\n(.*?)```\n<!-- walkthrough:end -->", text, re.S
    )
    assert block is not None, "the walk-through block is missing from docs/wallet.md"
    joined = block.group(1).replace("\\\n", " ")
    return [line.strip() for line in joined.splitlines() if line.strip().startswith("ancre wallet")]


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


def test_walkthrough_runs_as_documented(tmp_path: Path, tls: Tls) -> None:
    commands = _commands()
    assert [c.split()[2] for c in commands] == [
        "init", "did", "did", "import", "import", "import", "list", "export", "onboard", "respond",
    ]  # fmt: skip
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "@openid4vc" / "openid4vp").is_dir():
        pytest.fail("the npm verifier is not installed: run `make node-deps` (make test does)")
    work = tmp_path / "acme"
    work.mkdir()
    wallet = tmp_path / "acme-wallet"
    issuer = TestIssuer()
    bin_dir = str(Path(sys.executable).parent)
    with publish_did_json(tls, work / "did.json") as (port, _):
        verifier = subprocess.Popen(
            [node, str(NODE_DIR / "verifier.mjs"), "direct_post", VCT, "role"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert verifier.stdout is not None
            request = json.loads(verifier.stdout.readline() or "{}")
            assert "invocation" in request
            env = wallet_env(
                ANCRE_WALLET=str(wallet),
                ANCRE_WALLET_PASSPHRASE=PASSPHRASE,
                ANCRE_WALLET_ARCHIVE_PASSPHRASE="acme archive passphrase",
                ANCRE_WALLET_CA_FILE=str(tls.ca),
                ACME_DOMAIN=f"localhost:{port}",
                COMPLIANCE_NONCE="n-compliance-1",
                CONNECTOR_REQUEST=request["invocation"],
                PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""),
            )
            outputs = []
            for command in commands:
                if command.startswith("ancre wallet respond"):
                    command += " --yes --insecure-loopback"  # a person confirms at the prompt
                done = subprocess.run(
                    ["bash", "-c", command], cwd=work, env=env,
                    capture_output=True, text=True, timeout=120, check=False,
                )  # fmt: skip
                assert done.returncode == 0, (command, done.stderr)
                outputs.append(done.stdout + done.stderr)
                if command.startswith("ancre wallet did create"):
                    _deliver_credentials(work, wallet, issuer)
            out, err = verifier.communicate(timeout=30)
        finally:
            if verifier.poll() is None:
                verifier.kill()
                verifier.communicate(timeout=10)
        assert verifier.returncode == 0, (out, err)
        report = json.loads(out.strip().splitlines()[-1])
        assert report["result"] == "verified"
        assert report["claims"] == {"role": "Data steward"}

        did = f"did:web:localhost%3A{port}"
        assert f"publish it at https://localhost:{port}/.well-known/did.json" in outputs[1]
        bundle = (work / "onboarding.vp.jwt").read_text().strip()
        accepted = verify_presentation(
            bundle, tls.ca, audience="https://compliance.example/v2", nonce="n-compliance-1",
            trusted_issuers=frozenset([issuer.did, did]),
        )  # fmt: skip
        assert accepted.status is Status.VALID, accepted.errors
        assert accepted.holder == did
        assert "warning" not in outputs[-2]  # a did:web participant: nothing to warn about
    assert (work / "acme.archive").stat().st_mode & 0o777 == 0o600
    # No private key and no withheld claim in anything the walk-through printed.
    store = WalletStore.open(wallet, PASSPHRASE)
    secret = store.entries("id")[0].data["private_jwk"]["d"]  # type: ignore[index]
    printed = "\n".join(outputs)
    assert secret not in printed
    assert "Marie" not in printed


def _deliver_credentials(work: Path, wallet: Path, issuer: TestIssuer) -> None:
    """What the walk-through imports: files an agency or a notary sent for ACME's DID."""
    store = WalletStore.open(wallet, PASSPHRASE)
    (entry,) = store.entries("id")
    assert entry.data is not None
    did = entry.data["did"]
    public = {k: v for k, v in entry.data["private_jwk"].items() if k != "d"}
    vat = {"gx:vatID": "FR27552032534", "gx:countryCode": "FR"}
    (work / "vat-id.jwt").write_text(issuer.issue(did, "gx:VatID", vat, serial=1))
    (work / "legal-person.jwt").write_text(
        issuer.issue(did, "gx:LegalPerson", LEGAL_PERSON_CLAIMS, serial=2)
    )
    claims = {"given_name": "Marie", "role": "Data steward"}
    (work / "membership.sd-jwt").write_text(issue_sd_jwt(issuer, public, claims, vct=VCT))
