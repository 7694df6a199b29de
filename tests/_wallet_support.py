"""Helpers for the wallet tests: run `ancre wallet …` as a subprocess on a test wallet."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
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


VERIFIER_AUDIENCE = "https://connector.example"


@contextmanager
def verifier_process(
    ca: Path,
    log: Path,
    *,
    trusted_issuer: str,
    audience: str,
    tls: tuple[Path, Path] | None = None,
) -> Iterator[str]:
    """A real verifier service process (`ancre.verifier.service.create_app` under uvicorn,
    plain http on loopback) trusting `trusted_issuer` and known as `audience`. Yields its URL;
    its log goes to `log`. With `tls` (certificate, key) it serves https://localhost:PORT and
    OpenID4VP 1.0 (a did:jwk verifier key, open backend) with that public URL.

    Not through `ancre verifier serve`: its `--insecure-loopback` also allows plain http, and
    then its did:web resolver looks for loopback DID documents over http, while the test
    issuer serves https. So the settings are built here (loopback allowed, https only), and
    the outbound client trusts the test CA (certifi's bundle swapped for `ca`, as an
    operator installs a private CA)."""
    import httpx
    from _issuer_support import bound_socket

    sock, port = bound_socket()
    sock.close()
    url = f"https://localhost:{port}" if tls else f"http://127.0.0.1:{port}"
    code = (
        "import sys, certifi, uvicorn\n"
        f"certifi.where = lambda: {str(ca)!r}\n"
        "from ancre.trust.net.guard import NetworkPolicy\n"
        "from ancre.trust.policy import VerificationPolicy\n"
        "from ancre.verifier.logs import configure_logging\n"
        "from ancre.verifier.service import VerifierSettings, create_app\n"
        "settings = VerifierSettings(\n"
        "    policy=VerificationPolicy(trusted_issuers=frozenset([sys.argv[1]])),\n"
        "    network=NetworkPolicy(allow_loopback=True, max_bytes=4 * 1024 * 1024),\n"
        "    audiences=frozenset([sys.argv[2]]), openid4vp=oid4vp)\n"
        "configure_logging(level='debug', json_format=True)\n"
        "tls = {'ssl_certfile': sys.argv[5], 'ssl_keyfile': sys.argv[6]} if sys.argv[5] else {}\n"
        "uvicorn.run(create_app(settings), host='127.0.0.1', port=int(sys.argv[3]),\n"
        "            log_config=None, log_level='debug', **tls)\n"
    )
    oid4vp = (
        "oid4vp = None\n"
        "if sys.argv[4]:\n"
        "    from ancre.trust.did.jwk import did_jwk_from_public_key\n"
        "    from ancre.trust.keys.jwk import PrivateKey\n"
        "    from ancre.verifier.openid4vp import OpenID4VPSettings\n"
        "    key = PrivateKey.generate('p256')\n"
        "    did = did_jwk_from_public_key(key.public_key)\n"
        "    oid4vp = OpenID4VPSettings(key=key, did=did, kid=did + '#0', base_url=sys.argv[4],\n"
        "                               open_backend=True)\n"
    )
    code = code.replace("settings = VerifierSettings(", oid4vp + "settings = VerifierSettings(")
    tls_args = [str(tls[0]), str(tls[1])] if tls else ["", ""]
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [
                sys.executable,
                "-c",
                code,
                trusted_issuer,
                audience,
                str(port),
                url if tls else "",
                *tls_args,
            ],
            env=wallet_env(),
            stdout=sink,
            stderr=sink,
        )
        try:
            import ssl

            verify = ssl.create_default_context(cafile=str(ca)) if tls else True
            with httpx.Client(trust_env=False, timeout=5, verify=verify) as http:
                for _ in range(400):  # bounded wait for start-up
                    if server.poll() is not None:
                        raise RuntimeError(f"verifier exited: {log.read_text()}")
                    try:
                        if http.get(f"{url}/health").status_code == 200:
                            break
                    except httpx.TransportError:
                        time.sleep(0.05)
                else:
                    raise RuntimeError("the verifier service did not start")
            yield url
        finally:
            server.terminate()
            server.wait(10)


def offer_and_receive(
    issuer_dir: Path,
    wallet: Path,
    tmp_path: Path,
    configuration: str,
    claims: dict[str, Any],
    ca: Path,
) -> dict[str, Any]:
    """`ancre issuer offer` then `ancre wallet receive` (loopback, test CA); the receipt."""
    import json

    from _issuer_support import ancre_cli

    claims_file = tmp_path / f"{configuration}.json"
    claims_file.write_text(json.dumps(claims))
    made = ancre_cli(
        "issuer", "offer", "--dir", str(issuer_dir), "--type", configuration,
        "--claims", str(claims_file), "--tx-code", "--register-checked", "--json",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    offer = json.loads(made.stdout)
    got = wallet_cli(
        wallet, "receive", offer["offer_uri"], "--tx-code", offer["tx_code"],
        "--insecure-loopback", "--ca-file", str(ca), "--json",
    )  # fmt: skip
    assert got.returncode == 0, got.stderr
    receipt: dict[str, Any] = json.loads(got.stdout)
    return receipt
