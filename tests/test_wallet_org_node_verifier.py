"""Interop: `ancre wallet respond` answers an OpenID4VP 1.0 request made by a verifier that is
not ancre (tests/node_verifier/verifier.mjs: `@openid4vc/openid4vp` for the signed Request
Object by reference with a DCQL query and the response, `@sd-jwt/core` for the SD-JWT VC and
its Key Binding JWT), in both response modes; the Node verifier reports what it verified."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from _wallet_org_support import TestIssuer, issue_sd_jwt
from _wallet_support import WALLET_PASSPHRASE, new_wallet, wallet_cli

from ancre.wallet.store import WalletStore

NODE_DIR = Path(__file__).parent / "node_verifier"
VCT = "urn:ancre:test:membership:1"
CLAIMS = {"given_name": "Marie", "family_name": "Curie", "role": "Data steward"}


def _node() -> str:
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "@openid4vc" / "openid4vp").is_dir():
        # Not a skip: the interop claim must not pass silently on a machine without it.
        pytest.fail("the npm verifier is not installed: run `make node-deps` (make test does)")
    return node


def _wallet_with_sd_jwt(tmp_path: Path) -> Path:
    wallet = tmp_path / "wallet"
    new_wallet(wallet, ("jwk", "p256"))
    store = WalletStore.open(wallet, WALLET_PASSPHRASE)
    (entry,) = store.entries("id")
    assert entry.data is not None
    holder_jwk = {k: v for k, v in entry.data["private_jwk"].items() if k != "d"}
    credential = tmp_path / "membership.sd-jwt"
    credential.write_text(issue_sd_jwt(TestIssuer(), holder_jwk, CLAIMS, vct=VCT))
    imported = wallet_cli(wallet, "import", str(credential))
    assert imported.returncode == 0, imported.stderr
    return wallet


def _exchange(wallet: Path, mode: str, wanted: str) -> tuple[dict[str, Any], dict[str, Any]]:
    verifier = subprocess.Popen(
        [_node(), str(NODE_DIR / "verifier.mjs"), mode, VCT, wanted],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert verifier.stdout is not None
        started = json.loads(verifier.stdout.readline() or "{}")
        assert "invocation" in started, verifier.stderr.read() if verifier.stderr else ""
        answered = wallet_cli(
            wallet, "respond", started["invocation"], "--yes", "--insecure-loopback", "--json"
        )
        assert answered.returncode == 0, answered.stderr
        out, err = verifier.communicate(timeout=30)
    finally:
        if verifier.poll() is None:
            verifier.kill()
            verifier.communicate(timeout=10)
    assert verifier.returncode == 0, (out, err)
    report = json.loads(out.strip().splitlines()[-1])
    return json.loads(answered.stdout), report | {"client_id": started["client_id"]}


@pytest.mark.parametrize("mode", ["direct_post", "direct_post.jwt"])
def test_respond_to_a_non_ancre_verifier(tmp_path: Path, mode: str) -> None:
    wallet = _wallet_with_sd_jwt(tmp_path)
    summary, report = _exchange(wallet, mode, "role")
    assert report["result"] == "verified"
    assert report["claims"] == {"role": "Data steward"}  # exactly what was asked
    assert report["kb_aud"] == report["client_id"]
    assert report["encrypted"] is (mode == "direct_post.jwt")
    # The verifier's identity, as the wallet showed it, is the Node verifier's DID.
    assert report["client_id"].endswith(summary["verifier"])
    raw = report["raw_presentation"]
    for withheld in ("Marie", "Curie", "given_name", "family_name"):
        assert withheld not in raw
        assert withheld not in _decoded(raw)
    assert summary["sent"] is True


def _decoded(token: str) -> str:
    import base64

    out = []
    for part in token.replace("~", ".").split("."):
        if part:
            out.append(
                base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode("utf-8", "replace")
            )
    return "\n".join(out)
