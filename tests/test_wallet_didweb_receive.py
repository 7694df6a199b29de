"""A did:web identity receives from ancre's own issuer (OpenID4VCI 1.0 Appendix F.1: the key
proof's `kid` is a did:web DID URL): a real `ancre issuer serve` process resolves the
holder's did.json, served by a loopback https server, through its network guard, and binds
the credential to the did:web. A did:web whose document does not hold the proof's key is
refused with `invalid_proof` and nothing is issued or stored."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from _issuer_support import (
    CLI_ENV,
    DIRECTOR_CLAIMS,
    LEGAL_PERSON_CLAIMS,
    Tls,
    ancre_cli,
    init_cli_issuer,
    make_tls,
    wait_until_healthy,
)
from _wallet_org_support import publish_did_json, verify_presentation
from _wallet_support import new_wallet, snapshot, wallet_cli

from ancre.trust.keys.jwk import KeyType, PrivateKey, PublicKey
from ancre.trust.net.guard import NetworkPolicy
from ancre.trust.result import Status


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


@contextmanager
def issuer_serving(directory: Path, tls: Tls, log: Path) -> Iterator[str]:
    """`ancre issuer init` then `ancre issuer serve --insecure-loopback` in a process whose
    outbound https trusts the test CA (certifi's bundle swapped for it, as an operator
    installs a private CA): the holders' did.json are served with the test CA's
    certificate."""
    port, url = init_cli_issuer(directory)
    code = (
        "import sys, certifi\n"
        f"certifi.where = lambda: {str(tls.ca)!r}\n"
        "from ancre.cli.main import main\n"
        "sys.argv[0] = 'ancre'\n"
        "main()\n"
    )
    args = [
        "issuer", "serve", "--dir", str(directory), "--port", str(port),
        "--tls-cert", str(tls.cert), "--tls-key", str(tls.key),
        "--no-accreditation-check", "--insecure-loopback",
    ]  # fmt: skip
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [sys.executable, "-c", code, *args],
            env={**os.environ, **CLI_ENV},
            stdout=sink,
            stderr=sink,
        )
        try:
            wait_until_healthy(url, tls, server=server, log=log)
            yield url
        finally:
            server.terminate()
            server.wait(10)


def _offer(directory: Path, tmp_path: Path, configuration: str, claims: object) -> dict[str, str]:
    claims_file = tmp_path / f"{configuration}.json"
    claims_file.write_text(json.dumps(claims))
    made = ancre_cli(
        "issuer", "offer", "--dir", str(directory), "--type", configuration,
        "--claims", str(claims_file), "--tx-code", "--register-checked", "--json",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    offer: dict[str, str] = json.loads(made.stdout)
    return offer


def _create_did_web(wallet: Path, port: int, published: Path) -> Any:
    """`ancre wallet did create --method web` for the did.json served on `port`."""
    made = wallet_cli(
        wallet, "did", "create", "--method", "web", "--type", "p256",
        "--domain", f"localhost:{port}", "--out", str(published), "--json",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    return json.loads(made.stdout)


def _issued_count(directory: Path) -> int:
    shown = ancre_cli("issuer", "list", "--dir", str(directory), "--json")
    assert shown.returncode == 0, shown.stderr
    listed = json.loads(shown.stdout)
    rows = listed["credentials"] if isinstance(listed, dict) else listed
    return len(rows)


@pytest.mark.slow
def test_did_web_holder_receives_from_ancre_issuer(tmp_path: Path, tls: Tls) -> None:
    issuer_dir, wallet = tmp_path / "issuer", tmp_path / "wallet"
    net = ["--insecure-loopback", "--ca-file", str(tls.ca)]
    new_wallet(wallet)
    with (
        publish_did_json(tls) as (port, published),
        issuer_serving(issuer_dir, tls, tmp_path / "issuer.log") as issuer_url,
    ):
        holder = _create_did_web(wallet, port, published)
        issuer_did = "did:web:localhost%3A" + issuer_url.rsplit(":", 1)[1]

        # The metadata says did:web holders are welcome.
        with httpx.Client(trust_env=False, verify=tls.context(), timeout=5) as http:
            metadata = http.get(f"{issuer_url}/.well-known/openid-credential-issuer").json()
        legal = metadata["credential_configurations_supported"]["LegalPerson"]
        assert "did:web" in legal["cryptographic_binding_methods_supported"]

        # vc+jwt: the subject is the did:web.
        offer = _offer(issuer_dir, tmp_path, "LegalPerson", LEGAL_PERSON_CLAIMS)
        got = wallet_cli(
            wallet, "receive", offer["offer_uri"], "--tx-code", offer["tx_code"],
            "--trusted-issuer", issuer_did, *net, "--json",
        )  # fmt: skip
        assert got.returncode == 0, got.stderr
        receipt = json.loads(got.stdout)
        assert receipt["subject"] == holder["did"]
        assert receipt["identity"] == holder["id"]
        assert receipt["status"] == "valid"

        # dc+sd-jwt: bound by `cnf.jwk`, the key the did:web document names.
        offer = _offer(issuer_dir, tmp_path, "DirectorCertification", DIRECTOR_CLAIMS)
        got = wallet_cli(
            wallet, "receive", offer["offer_uri"], "--tx-code", offer["tx_code"], *net, "--json"
        )
        assert got.returncode == 0, got.stderr
        director = json.loads(got.stdout)
        assert director["format"] == "dc+sd-jwt"
        assert director["identity"] == holder["id"]
        shown = json.loads(wallet_cli(wallet, "show", director["id"], "--json").stdout)
        document = json.loads(published.read_text())
        published_jwk = document["verificationMethod"][0]["publicKeyJwk"]
        cnf_jwk = shown["claims"]["cnf"]["jwk"]
        assert PublicKey.from_jwk(cnf_jwk) == PublicKey.from_jwk(published_jwk)

        # Presented with the did:web and verified (did:web resolved over loopback https).
        shown_vp = wallet_cli(
            wallet, "present", "--type", "LegalPerson", "--audience", "https://connector.example",
            "--nonce", "n-dw-1", "--json",
        )  # fmt: skip
        assert shown_vp.returncode == 0, shown_vp.stderr
        presentation = json.loads(shown_vp.stdout)
        result = verify_presentation(
            presentation["presentation"], tls.ca,
            audience="https://connector.example", nonce="n-dw-1",
            trusted_issuers=frozenset([issuer_did]),
        )  # fmt: skip
        assert result.status is Status.VALID, result.errors
        assert result.holder == holder["did"]


@pytest.mark.slow
def test_did_web_without_the_proof_key_is_refused(tmp_path: Path, tls: Tls) -> None:
    issuer_dir, wallet = tmp_path / "issuer", tmp_path / "wallet"
    net = ["--insecure-loopback", "--ca-file", str(tls.ca)]
    new_wallet(wallet)
    with (
        publish_did_json(tls) as (port, published),
        issuer_serving(issuer_dir, tls, tmp_path / "issuer.log") as issuer_url,
    ):
        holder = _create_did_web(wallet, port, published)
        # The published document names another key under the wallet key's id.
        document = json.loads(published.read_text())
        other = PrivateKey.generate(KeyType("p256")).public_key
        document["verificationMethod"][0]["publicKeyJwk"] = other.to_jwk()
        published.write_text(json.dumps(document))
        assert PublicKey.from_jwk(document["verificationMethod"][0]["publicKeyJwk"]) == other

        before = snapshot(wallet)
        issued = _issued_count(issuer_dir)
        offer = _offer(issuer_dir, tmp_path, "LegalPerson", LEGAL_PERSON_CLAIMS)
        got = wallet_cli(
            wallet, "receive", offer["offer_uri"], "--tx-code", offer["tx_code"], *net, "--json"
        )
        assert got.returncode != 0
        assert "invalid_proof" in got.stdout + got.stderr, got.stdout + got.stderr
        assert "Traceback" not in got.stderr
        assert snapshot(wallet) == before  # nothing stored
        assert _issued_count(issuer_dir) == issued  # nothing issued

        assert holder["kid"] == document["verificationMethod"][0]["id"]
        assert issuer_url.startswith("https://localhost:")


def _did_web_proof(key: PrivateKey, did: str) -> str:
    from _issuer_support import proof_jwt

    kid = f"{did}#{key.public_key.thumbprint()}"
    return proof_jwt(key, audience=AUDIENCE, nonce="n-1", header={"jwk": None, "kid": kid})


AUDIENCE = "https://issuer.example"


@pytest.mark.parametrize(
    ("holder_dids", "did", "needle"),
    [
        # An issuer without a resolver for holders refuses did:web, saying so.
        (None, "did:web:acme.example", "does not resolve did:web"),
        # Loopback is refused unless the issuer allows it (--insecure-loopback, tests).
        (NetworkPolicy(), "did:web:localhost%3A1", "url_not_allowed"),
        (NetworkPolicy(), "did:web:127.0.0.1%3A1", "url_not_allowed"),
        # Private networks never.
        (NetworkPolicy(allow_loopback=True), "did:web:10.0.0.1", "url_not_allowed"),
    ],
)
def test_did_web_proof_refusals_in_process(
    holder_dids: NetworkPolicy | None, did: str, needle: str
) -> None:
    from ancre.issuer.oid4vci import HolderDids, check_proof
    from ancre.issuer.service import IssuerError
    from ancre.trust.clock import SystemClock
    from ancre.trust.errors import Code

    key = PrivateKey.generate(KeyType("p256"))
    consumed: list[str] = []
    resolver = HolderDids(holder_dids, SystemClock()) if holder_dids is not None else None
    with pytest.raises(IssuerError) as refused:
        check_proof(
            _did_web_proof(key, did), audience=AUDIENCE, clock=SystemClock(), max_age=300,
            max_skew=60, consume_nonce=lambda n: consumed.append(n) is None,
            holder_dids=resolver,
        )  # fmt: skip
    assert refused.value.code is Code.INVALID_PROOF
    assert needle in refused.value.message
    assert consumed == []  # the nonce survives a refused proof
    if resolver is not None:
        assert resolver.policy.allow_http is False
        resolver.close()
