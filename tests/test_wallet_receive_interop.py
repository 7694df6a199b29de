"""The wallet receives from an OpenID4VCI 1.0 issuer that is not ancre: tests/node_issuer/
(@openid4vc/openid4vci's Openid4vciIssuer and @openid4vc/oauth2's authorization server,
over HTTPS on loopback). Pre-authorized code with a tx_code, a did:jwk key proof, a
`jwt_vc_json` credential or an SD-JWT VC signed by the issuer's did:jwk key — verified
(the issuer's DID named as trusted) before it is stored, and refused when that issuer is
not the trusted one."""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from _issuer_support import Tls, make_tls
from _wallet_support import new_wallet, snapshot, wallet_cli

pytestmark = [pytest.mark.interop, pytest.mark.slow]

NODE_ISSUER = Path(__file__).parent / "node_issuer"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


@contextmanager
def node_issuer(tls: Tls) -> Iterator[tuple[dict[str, Any], list[str]]]:
    """The npm issuer running; its start-up line (url, did, offer_uri, tx_code) and its log."""
    node = shutil.which("node")
    if node is None or not (NODE_ISSUER / "node_modules" / "@openid4vc" / "openid4vci").is_dir():
        # Not a skip: the interop claim must not pass silently on a machine without it.
        pytest.fail("the npm issuer is not installed: run `make node-deps` (make test does)")
    process = subprocess.Popen(
        [node, str(NODE_ISSUER / "issuer.mjs"), str(tls.cert), str(tls.key)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    log: list[str] = []

    def pump() -> None:
        assert process.stderr is not None
        log.extend(process.stderr)

    pumping = threading.Thread(target=pump, daemon=True)
    pumping.start()
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(
        target=lambda: lines.put(process.stdout.readline() if process.stdout else ""),
        daemon=True,
    ).start()
    try:
        try:
            first = lines.get(timeout=30)
        except queue.Empty:
            raise AssertionError(f"the npm issuer did not start: {''.join(log)}") from None
        assert first, f"the npm issuer exited: {''.join(log)}"
        yield json.loads(first), log
    finally:
        process.terminate()
        process.wait(10)
        pumping.join(10)
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()


def test_receive_from_an_issuer_that_is_not_ancre(tmp_path: Path, tls: Tls) -> None:
    wallet = tmp_path / "wallet"
    net = ["--insecure-loopback", "--ca-file", str(tls.ca)]
    with node_issuer(tls) as (started, log):
        (holder,) = new_wallet(wallet, ("jwk", "p256"))
        got = wallet_cli(
            wallet, "receive", started["offer_uri"], "--tx-code", started["tx_code"],
            "--trusted-issuer", started["did"], *net, "--json",
        )  # fmt: skip
        assert got.returncode == 0, got.stderr + "".join(log)
        received = json.loads(got.stdout)
        assert received["format"] == "vc+jwt"
        assert received["issuer"] == started["did"]
        assert received["subject"] == holder["did"]
        assert received["status"] == "valid"
        assert received["configuration_id"] == "OrganizationCredential"
        assert "OrganizationCredential" in received["types"]
        # The whole protocol went through the npm issuer.
        spoken = [line.strip() for line in log if line.startswith(("GET ", "POST "))]
        assert spoken == [
            "GET /.well-known/openid-credential-issuer",
            "GET /.well-known/oauth-authorization-server",
            "POST /token",
            "POST /nonce",
            "POST /credential",
        ]
        shown = wallet_cli(wallet, "show", received["id"], "--json")
        assert shown.returncode == 0, shown.stderr
        assert "ACME Data Services" in shown.stdout


def test_receive_an_sd_jwt_vc_from_the_other_issuer(tmp_path: Path, tls: Tls) -> None:
    wallet = tmp_path / "wallet"
    with node_issuer(tls) as (started, log):
        (holder,) = new_wallet(wallet, ("jwk", "p256"))
        got = wallet_cli(
            wallet, "receive", started["offers"]["OrganizationSdJwt"],
            "--tx-code", started["tx_code"], "--trusted-issuer", started["did"],
            "--insecure-loopback", "--ca-file", str(tls.ca), "--json",
        )  # fmt: skip
        assert got.returncode == 0, got.stderr + "".join(log)
        received = json.loads(got.stdout)
        assert received["format"] == "dc+sd-jwt"
        assert received["issuer"] == started["did"]
        assert received["identity"] == holder["id"]
        assert received["types"] == ["urn:example:organization:1"]
        shown = json.loads(wallet_cli(wallet, "show", received["id"], "--json").stdout)
        disclosed = {d["name"]: d["value"] for d in shown["disclosures"]}
        assert disclosed == {"name": "ACME Data Services", "country": "FR"}
        # The pre-authorized code was single use at that issuer.
        again = wallet_cli(
            wallet, "receive", started["offers"]["OrganizationSdJwt"],
            "--tx-code", started["tx_code"], "--insecure-loopback", "--ca-file", str(tls.ca),
        )  # fmt: skip
        assert again.returncode == 1, again.stderr
        assert "invalid_grant" in again.stderr


def test_a_wrong_tx_code_is_refused_by_the_other_issuer(tmp_path: Path, tls: Tls) -> None:
    wallet = tmp_path / "wallet"
    with node_issuer(tls) as (started, _):
        new_wallet(wallet, ("jwk", "p256"))
        before = snapshot(wallet / "records")
        got = wallet_cli(
            wallet, "receive", started["offer_uri"], "--tx-code", "000000",
            "--insecure-loopback", "--ca-file", str(tls.ca),
        )  # fmt: skip
        assert got.returncode == 1, got.stderr
        assert "issuer_refused" in got.stderr
        assert "token endpoint" in got.stderr
        assert snapshot(wallet / "records") == before


def test_its_credential_from_an_untrusted_issuer_is_not_stored(tmp_path: Path, tls: Tls) -> None:
    wallet = tmp_path / "wallet"
    with node_issuer(tls) as (started, _):
        new_wallet(wallet, ("jwk", "p256"))
        before = snapshot(wallet / "records")
        got = wallet_cli(
            wallet, "receive", started["offer_uri"], "--tx-code", started["tx_code"],
            "--trusted-issuer", "did:web:someone-else.example",
            "--insecure-loopback", "--ca-file", str(tls.ca),
        )  # fmt: skip
        assert got.returncode == 1, got.stderr
        assert "credential_refused (invalid)" in got.stderr
        assert "nothing was stored" in got.stderr
        assert snapshot(wallet / "records") == before
