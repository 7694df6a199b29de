"""The wallet end to end, as an organization uses it: real `ancre issuer serve` (HTTPS, test
CA) and `ancre verifier serve` processes on loopback, the wallet driven through its CLI."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from _issuer_support import (
    DIRECTOR_CLAIMS,
    LEGAL_PERSON_CLAIMS,
    Tls,
    ancre_cli,
    cli_issuer,
    make_tls,
)
from _wallet_support import (
    VERIFIER_AUDIENCE,
    WALLET_PASSPHRASE,
    new_wallet,
    snapshot,
    verifier_process,
    wallet_cli,
)

from ancre.wallet.store import WalletStore

PERSONAL = ("Antoine", "Saint-Affrique")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


def _offer(directory: Path, tmp_path: Path, configuration: str, claims: dict[str, Any]) -> Any:
    claims_file = tmp_path / f"{configuration}.json"
    claims_file.write_text(json.dumps(claims))
    made = ancre_cli(
        "issuer", "offer", "--dir", str(directory), "--type", configuration,
        "--claims", str(claims_file), "--tx-code", "--register-checked", "--json",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    return json.loads(made.stdout)


def _decoded_parts(token: str) -> str:
    """Every base64url segment of a compact token (JWS parts, disclosures) decoded."""
    out = []
    for part in token.replace("~", ".").split("."):
        if part:
            raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
            out.append(raw.decode("utf-8", "replace"))
    return "\n".join(out)


def _secrets(wallet: Path) -> list[str]:
    """The private key members of every identity in the wallet."""
    store = WalletStore.open(wallet, WALLET_PASSPHRASE)
    return [e.data["private_jwk"]["d"] for e in store.entries("id") if e.data is not None]


def test_receive_list_present_revoke_status(tmp_path: Path, tls: Tls) -> None:
    issuer_dir, wallet = tmp_path / "issuer", tmp_path / "wallet"
    net = ["--insecure-loopback", "--ca-file", str(tls.ca)]
    outputs: list[str] = []
    with cli_issuer(issuer_dir, tls) as issuer_url:
        port = issuer_url.rsplit(":", 1)[1]
        issuer_did = f"did:web:localhost%3A{port}"
        (holder,) = new_wallet(wallet, ("jwk", "p256"))

        # Receive a vc+jwt (pre-authorized code + tx_code).
        offer = _offer(issuer_dir, tmp_path, "LegalPerson", LEGAL_PERSON_CLAIMS)
        got = wallet_cli(
            wallet, "receive", offer["offer_uri"], "--tx-code", offer["tx_code"],
            "--trusted-issuer", issuer_did, *net, "--json",
        )  # fmt: skip
        assert got.returncode == 0, got.stderr
        outputs.append(got.stdout)
        legal = json.loads(got.stdout)
        assert legal["format"] == "vc+jwt"
        assert legal["issuer"] == issuer_did
        assert legal["subject"] == holder["did"]
        assert legal["status"] == "valid"
        assert legal["identity"] == holder["id"]
        assert legal["configuration_id"] == "LegalPerson"
        assert "gx:LegalPerson" in legal["types"]

        # Receive an SD-JWT VC.
        offer = _offer(issuer_dir, tmp_path, "DirectorCertification", DIRECTOR_CLAIMS)
        got = wallet_cli(
            wallet, "receive", offer["offer_uri"], "--tx-code", offer["tx_code"], *net, "--json"
        )
        assert got.returncode == 0, got.stderr
        outputs.append(got.stdout)
        director = json.loads(got.stdout)
        assert director["format"] == "dc+sd-jwt"
        assert director["types"] == ["urn:ancre:director-certification:1"]

        listed = wallet_cli(wallet, "list", "--json")
        assert listed.returncode == 0, listed.stderr
        outputs.append(listed.stdout)
        rows = json.loads(listed.stdout)
        assert [c["id"] for c in rows["credentials"]] == [legal["id"], director["id"]]
        assert rows["damaged"] == []
        assert sorted(rows["credentials"][0]) == [
            "format", "id", "identity", "issuer", "received_at", "status", "status_checked_at",
            "subject", "types", "valid_until",
        ]  # fmt: skip

        shown = wallet_cli(wallet, "show", director["id"], "--json")
        assert shown.returncode == 0, shown.stderr
        disclosures = {d["name"]: d["value"] for d in json.loads(shown.stdout)["disclosures"]}
        assert disclosures["family_name"] == "de Saint-Affrique"
        assert disclosures["role"] == "Directeur général"

        log = tmp_path / "verifier.log"
        with verifier_process(
            tls.ca, log, trusted_issuer=issuer_did, audience=VERIFIER_AUDIENCE
        ) as verifier_url:
            # vp+jwt of the LegalPerson credential, posted to the VC-API verifier.
            sent = wallet_cli(
                wallet, "present", "--type", "LegalPerson", "--audience", VERIFIER_AUDIENCE,
                "--nonce", "n-0S6", "--to", verifier_url, "--insecure-loopback", "--json",
            )  # fmt: skip
            assert sent.returncode == 0, sent.stdout + sent.stderr
            outputs.append(sent.stdout)
            verdict = json.loads(sent.stdout)
            assert verdict["format"] == "vp+jwt"
            assert verdict["verifier"]["verified"] is True
            assert verdict["credentials"] == [legal["id"]]

            # SD-JWT+KB disclosing the role only.
            sent = wallet_cli(
                wallet, "present", "--type", "urn:ancre:director-certification:1",
                "--disclose", "role", "--audience", VERIFIER_AUDIENCE, "--nonce", "n-1",
                "--to", verifier_url, "--insecure-loopback", "--json",
            )  # fmt: skip
            assert sent.returncode == 0, sent.stdout + sent.stderr
            outputs.append(sent.stdout)
            verdict = json.loads(sent.stdout)
            assert verdict["verifier"]["verified"] is True
            assert verdict["disclosed"] == ["/role"]
            token = verdict["presentation"]
            assert token.count("~") == 2  # jwt~role-disclosure~kb-jwt
            assert "Directeur général" in _decoded_parts(token)
            for value in PERSONAL:
                assert value not in token
                assert value not in _decoded_parts(token)

            # A presentation for another audience is refused by the verifier.
            wrong = wallet_cli(
                wallet, "present", "--type", "LegalPerson", "--audience",
                "https://someone-else.example", "--nonce", "n-2", "--to", verifier_url,
                "--insecure-loopback",
            )  # fmt: skip
            assert wrong.returncode == 1
            assert "NOT VERIFIED" in wrong.stdout

        # Revoke at the issuer; the wallet sees it.
        issued = json.loads(ancre_cli("issuer", "list", "--dir", str(issuer_dir), "--json").stdout)
        legal_at_issuer = next(r["id"] for r in issued if r["configuration"] == "LegalPerson")
        revoked = ancre_cli("issuer", "revoke", legal_at_issuer, "--dir", str(issuer_dir))
        assert revoked.returncode == 0, revoked.stderr
        status = wallet_cli(wallet, "status", *net, "--json")
        assert status.returncode == 0, status.stderr
        outputs.append(status.stdout)
        changes = {c["id"]: c for c in json.loads(status.stdout)["credentials"]}
        assert changes[legal["id"]]["before"] == "valid"
        assert changes[legal["id"]]["after"] == "revoked"
        assert changes[legal["id"]]["changed"] is True
        assert changes[director["id"]]["changed"] is False
        text = wallet_cli(wallet, "status", *net)
        assert f"{legal['id']} " in text.stdout
        assert ": revoked" in text.stdout
        # A revoked credential is no longer presented.
        none = wallet_cli(
            wallet, "present", "--type", "LegalPerson", "--audience", VERIFIER_AUDIENCE,
            "--nonce", "n-3",
        )  # fmt: skip
        assert none.returncode == 1
        assert "no_matching_credential" in none.stderr

    # Nothing secret in any --json output or in the verifier's log.
    keys = _secrets(wallet)
    assert keys
    for document in [*outputs, log.read_text()]:
        for secret in keys:
            assert secret not in document
    for document in outputs[:3] + outputs[-1:]:  # receive, list, status: no personal claim
        for value in PERSONAL:
            assert value not in document
    for value in PERSONAL:
        assert value not in log.read_text()


def test_a_credential_that_fails_verification_is_refused_and_nothing_written(
    tmp_path: Path, tls: Tls
) -> None:
    issuer_dir, wallet = tmp_path / "issuer", tmp_path / "wallet"
    with cli_issuer(issuer_dir, tls):
        new_wallet(wallet, ("key", "ed25519"))
        before = snapshot(wallet)
        offer = _offer(issuer_dir, tmp_path, "LegalPerson", LEGAL_PERSON_CLAIMS)
        refused = wallet_cli(
            wallet, "receive", offer["offer_uri"], "--tx-code", offer["tx_code"],
            "--trusted-issuer", "did:web:agency.example", "--insecure-loopback",
            "--ca-file", str(tls.ca),
        )  # fmt: skip
        assert refused.returncode == 1, refused.stderr
        assert "credential_refused (invalid)" in refused.stderr
        assert "nothing was stored" in refused.stderr
        assert snapshot(wallet) == before

        # A wrong tx_code: the issuer refuses, nothing is written.
        offer = _offer(issuer_dir, tmp_path, "LegalPerson", LEGAL_PERSON_CLAIMS)
        wrong = "0" * len(offer["tx_code"]) if offer["tx_code"] != "0" * 6 else "1" * 6
        refused = wallet_cli(
            wallet, "receive", offer["offer_uri"], "--tx-code", wrong, "--insecure-loopback",
            "--ca-file", str(tls.ca),
        )  # fmt: skip
        assert refused.returncode == 1
        assert "issuer_refused: the issuer's token endpoint refused: invalid_grant" in (
            refused.stderr
        )
        # Without --insecure-loopback the SSRF guard refuses the loopback issuer outright.
        guarded = wallet_cli(wallet, "receive", offer["offer_uri"], "--tx-code", "123456")
        assert guarded.returncode == 1
        assert "url_not_allowed" in guarded.stderr
        assert snapshot(wallet) == before
        assert "Traceback" not in refused.stderr + guarded.stderr


@pytest.mark.parametrize(
    ("offer", "expected"),
    [
        ("https://169.254.169.254/latest/meta-data", "url_not_allowed"),
        (
            'openid-credential-offer://?credential_offer={"credential_issuer":'
            '"https://10.0.0.1","credential_configuration_ids":["X"],"grants":{}}',
            "url_not_allowed",
        ),
        ("openid-credential-offer://?nothing=here", "offer_invalid"),
        ('openid-credential-offer://?credential_offer={"credential_issuer":1}', "offer_invalid"),
        ("ftp://example.org/offer", "offer_invalid"),
    ],
)
def test_hostile_offers_are_refused(tmp_path: Path, offer: str, expected: str) -> None:
    wallet = tmp_path / "wallet"
    new_wallet(wallet, ("key", "ed25519"))
    before = snapshot(wallet)
    done = wallet_cli(wallet, "receive", offer, "--tx-code", "1")
    assert done.returncode in (1, 65), done.stderr
    assert expected in done.stderr
    assert "Traceback" not in done.stderr
    assert snapshot(wallet) == before
