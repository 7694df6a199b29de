"""`ancre wallet onboard --profile gaia-x`: credentials issued by a real `ancre issuer serve`
(loopback https), the bundle built and signed by the wallet, and ancre's verifier accepting
it; a wallet without a LegalPerson gets the missing-item report instead."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from _issuer_support import LEGAL_PERSON_CLAIMS, Tls, ancre_cli, cli_issuer, make_tls
from _wallet_org_support import verify_presentation
from _wallet_support import new_wallet, offer_and_receive, wallet_cli

from ancre.trust.result import Status
from ancre.wallet.onboard import GAIAX_TERMS_AND_CONDITIONS_SHA256

VAT_CLAIMS = {"gx:vatID": "FR27552032534", "gx:countryCode": "FR"}
AUDIENCE = "https://compliance.example/v2"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


def _part(token: str, index: int) -> Any:
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_onboarding_bundle_from_a_real_issuer_verifies(tmp_path: Path, tls: Tls) -> None:
    wallet = tmp_path / "wallet"
    with cli_issuer(tmp_path / "issuer", tls) as issuer_url:
        issuer_did = "did:web:localhost%3A" + issuer_url.rsplit(":", 1)[1]
        (holder,) = new_wallet(wallet, ("jwk", "p256"))

        # Nothing yet: the report says what is missing and where to get it.
        empty = wallet_cli(wallet, "onboard", "--audience", AUDIENCE, "--json")
        assert empty.returncode == 1, empty.stderr
        report = json.loads(empty.stdout)
        assert report["complete"] is False
        assert report["code"] == "onboarding_incomplete"
        assert [m["item"] for m in report["missing"]] == ["LegalPerson", "registration number"]
        assert "ancre issuer offer --type LegalPerson" in report["missing"][0]["where"]
        assert "gx:VatID" in report["missing"][1]["accepted_types"]

        vat = offer_and_receive(tmp_path / "issuer", wallet, tmp_path, "VatID", VAT_CLAIMS, tls.ca)
        # A registration number but still no LegalPerson: exactly that is reported.
        partial = wallet_cli(wallet, "onboard", "--audience", AUDIENCE, "--json")
        assert partial.returncode == 1
        assert [m["item"] for m in json.loads(partial.stdout)["missing"]] == ["LegalPerson"]
        human = wallet_cli(wallet, "onboard", "--audience", AUDIENCE)
        assert human.returncode == 1
        assert human.stdout == ""
        assert "LegalPerson (gx:LegalPerson): not in the wallet" in human.stderr

        legal = offer_and_receive(
            tmp_path / "issuer", wallet, tmp_path, "LegalPerson", LEGAL_PERSON_CLAIMS, tls.ca
        )
        out = tmp_path / "onboarding.vp.jwt"
        built = wallet_cli(
            wallet, "onboard", "--profile", "gaia-x", "--audience", AUDIENCE,
            "--nonce", "n-onboard-1", "--out", str(out), "--json",
        )  # fmt: skip
        assert built.returncode == 0, built.stderr
        bundle = json.loads(built.stdout)
        token = out.read_text().strip()
        assert bundle["presentation"] == token
        assert bundle["holder"] == holder["did"]
        assert [c["id"] for c in bundle["credentials"][:2]] == [legal["id"], vat["id"]]

        # The Loire shape: a vp+jwt enveloping vc+jwt credentials as data: URLs.
        header, payload = _part(token, 0), _part(token, 1)
        assert header["typ"] == "vp+jwt"
        assert header["cty"] == "vp"
        assert header["kid"] == holder["kid"]
        assert payload["type"] == ["VerifiablePresentation"]
        assert payload["aud"] == AUDIENCE
        assert payload["nonce"] == "n-onboard-1"
        assert payload["id"].startswith("urn:uuid:")
        assert "validFrom" in payload
        entries = payload["verifiableCredential"]
        assert all(e["type"] == "EnvelopedVerifiableCredential" for e in entries)
        assert all(e["id"].startswith("data:application/vc+jwt,") for e in entries)
        inner = [_part(e["id"].split(",", 1)[1], 1) for e in entries]
        assert [c["type"][1] for c in inner] == ["gx:LegalPerson", "gx:VatID", "gx:Issuer"]
        terms = inner[2]
        assert terms["issuer"] == holder["did"]  # signed by the participant itself
        subject = terms["credentialSubject"]
        assert subject["gx:gaiaxTermsAndConditions"] == GAIAX_TERMS_AND_CONDITIONS_SHA256
        assert subject["id"] == terms["id"] + "#cs"

        accepted = verify_presentation(
            token, tls.ca, audience=AUDIENCE, nonce="n-onboard-1",
            trusted_issuers=frozenset([issuer_did, holder["did"]]),
        )  # fmt: skip
        assert accepted.status is Status.VALID, accepted.errors
        assert accepted.holder == holder["did"]
        # Bound to its audience and nonce.
        replayed = verify_presentation(
            token, tls.ca, audience=AUDIENCE, nonce="another",
            trusted_issuers=frozenset([issuer_did, holder["did"]]),
        )  # fmt: skip
        assert replayed.status is Status.INVALID
        # The issuer alone trusted: the self-signed T&C is not from a trusted issuer.
        issuer_only = verify_presentation(
            token, tls.ca, audience=AUDIENCE, nonce="n-onboard-1",
            trusted_issuers=frozenset([issuer_did]),
        )  # fmt: skip
        assert issuer_only.status is not Status.VALID

        # A revoked LegalPerson is reported as such (`status` sees it), not silently skipped.
        issued = json.loads(
            ancre_cli("issuer", "list", "--dir", str(tmp_path / "issuer"), "--json").stdout
        )
        at_issuer = next(r["id"] for r in issued if r["configuration"] == "LegalPerson")
        revoke = ancre_cli("issuer", "revoke", at_issuer, "--dir", str(tmp_path / "issuer"))
        assert revoke.returncode == 0, revoke.stderr
        refreshed = wallet_cli(
            wallet, "status", "--insecure-loopback", "--ca-file", str(tls.ca), "--json"
        )
        assert refreshed.returncode == 0, refreshed.stderr
        revoked = wallet_cli(wallet, "onboard", "--audience", AUDIENCE, "--json")
        assert revoked.returncode == 1
        (missing,) = json.loads(revoked.stdout)["missing"]
        assert missing["item"] == "LegalPerson"
        assert missing["problem"] == f"none valid ({legal['id']} is revoked)"

        # Deleted: simply not in the wallet any more.
        assert wallet_cli(wallet, "delete", legal["id"], "--yes").returncode == 0
        gone = wallet_cli(wallet, "onboard", "--audience", AUDIENCE, "--json")
        assert gone.returncode == 1
        assert json.loads(gone.stdout)["missing"][0]["problem"] == "not in the wallet"
