"""`ancre wallet did create --method web`: the key stays in the wallet, the did.json is written
for the organization to publish, and a verifier resolving the did:web over (loopback) https
accepts a presentation the wallet signed with it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _issuer_support import LEGAL_PERSON_CLAIMS, Tls, make_tls
from _wallet_org_support import TestIssuer, publish_did_json, verify_presentation
from _wallet_support import new_wallet, wallet_cli

from ancre.trust.result import Status


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


def test_did_web_document_and_url(tmp_path: Path) -> None:
    wallet = tmp_path / "wallet"
    new_wallet(wallet)
    out = tmp_path / "published" / "did.json"
    out.parent.mkdir()
    made = wallet_cli(
        wallet, "did", "create", "--method", "web", "--domain", "Example.org",
        "--path", "org/unit", "--out", str(out), "--json",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    created = json.loads(made.stdout)
    assert created["did"] == "did:web:example.org:org:unit"
    assert created["publish_at"] == "https://example.org/org/unit/did.json"
    document = json.loads(out.read_text())
    assert document["id"] == created["did"]
    (method,) = document["verificationMethod"]
    assert method["id"] == created["kid"]
    assert method["controller"] == created["did"]
    assert "d" not in method["publicKeyJwk"]  # the public key only
    assert document["authentication"] == [created["kid"]] == document["assertionMethod"]

    root = wallet_cli(
        wallet, "did", "create", "--method", "web", "--domain", "example.org",
        "--out", str(tmp_path / "root.json"),
    )  # fmt: skip
    assert root.returncode == 0, root.stderr
    assert "https://example.org/.well-known/did.json" in root.stdout

    listed = json.loads(wallet_cli(wallet, "did", "list", "--json").stdout)
    assert [i["method"] for i in listed["identities"]] == ["web", "web"]
    assert all("private_jwk" not in i and "d" not in i for i in listed["identities"])


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--domain", "a/b"], "--domain must be a DNS name"),
        (["--domain", "127.0.0.1:8443"], "not the address"),
        (["--domain", "example.org", "--path", "../etc"], "not allowed in did:web"),
        ([], "needs --domain"),
    ],
)
def test_did_web_refusals(tmp_path: Path, args: list[str], needle: str) -> None:
    wallet = tmp_path / "wallet"
    new_wallet(wallet)
    done = wallet_cli(
        wallet, "did", "create", "--method", "web", *args, "--out", str(tmp_path / "d.json")
    )
    assert done.returncode == 64, done.stderr
    assert needle in done.stderr
    assert not (tmp_path / "d.json").exists()


def test_presentation_signed_with_did_web_verifies(tmp_path: Path, tls: Tls) -> None:
    wallet = tmp_path / "wallet"
    new_wallet(wallet)
    issuer = TestIssuer()
    with publish_did_json(tls) as (port, published):
        made = wallet_cli(
            wallet, "did", "create", "--method", "web", "--domain", f"localhost:{port}",
            "--out", str(published), "--json",
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        holder = json.loads(made.stdout)
        assert holder["publish_at"] == f"https://localhost:{port}/.well-known/did.json"

        credential = tmp_path / "lp.jwt"
        credential.write_text(issuer.issue(holder["did"], "gx:LegalPerson", LEGAL_PERSON_CLAIMS))
        imported = wallet_cli(wallet, "import", str(credential), "--json")
        assert imported.returncode == 0, imported.stderr
        assert json.loads(imported.stdout)["identity"] == holder["id"]

        shown = wallet_cli(
            wallet, "present", "--type", "LegalPerson", "--audience", "https://connector.example",
            "--nonce", "n-web-1", "--json",
        )  # fmt: skip
        assert shown.returncode == 0, shown.stderr
        presentation = json.loads(shown.stdout)
        assert presentation["holder"] == holder["did"]

        result = verify_presentation(
            presentation["presentation"], tls.ca,
            audience="https://connector.example", nonce="n-web-1",
            trusted_issuers=frozenset([issuer.did]),
        )  # fmt: skip
        assert result.status is Status.VALID, result.errors
        assert result.holder == holder["did"]

        # The same presentation once the published document names another key: refused.
        other = json.loads(published.read_text())
        other["verificationMethod"][0]["publicKeyJwk"] = issuer.key.public_key.to_jwk()
        published.write_text(json.dumps(other))
        forged = verify_presentation(
            presentation["presentation"], tls.ca,
            audience="https://connector.example", nonce="n-web-1",
        )  # fmt: skip
        assert forged.status is not Status.VALID


@pytest.mark.parametrize(
    ("command", "example"),
    [
        (["did", "create"], "ancre wallet did create --method web --domain"),
        (["export"], "ancre wallet export --out"),
        (["import"], "ancre wallet import acme-wallet.archive"),
        (["delete"], "ancre wallet delete cred-"),
        (["onboard"], "ancre wallet onboard --profile gaia-x --audience"),
    ],
)
def test_help_has_a_worked_example(tmp_path: Path, command: list[str], example: str) -> None:
    shown = wallet_cli(tmp_path / "none", *command, "--help")
    assert shown.returncode == 0, shown.stderr
    assert example in shown.stdout
    assert "--json" in shown.stdout
