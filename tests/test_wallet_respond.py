"""`ancre wallet respond 'openid4vp://…'` against a real verifier process serving OpenID4VP
1.0 over HTTPS: signed Request Object by reference, DCQL matched, both response modes."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import httpx
import pytest
from _issuer_support import DIRECTOR_CLAIMS, LEGAL_PERSON_CLAIMS, Tls, cli_issuer, make_tls
from _wallet_support import (
    VERIFIER_AUDIENCE,
    new_wallet,
    offer_and_receive,
    verifier_process,
    wallet_cli,
)

VCT = "urn:ancre:director-certification:1"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


def _query() -> dict[str, object]:
    return {
        "credentials": [
            {
                "id": "director",
                "format": "dc+sd-jwt",
                "meta": {"vct_values": [VCT]},
                "claims": [{"path": ["role"]}, {"path": ["legal_name"]}],
            },
            {
                "id": "legal",
                "format": "jwt_vc_json",
                "meta": {"type_values": [["VerifiableCredential", "gx:LegalPerson"]]},
            },
        ]
    }


def test_respond_to_openid4vp_requests_in_both_response_modes(tmp_path: Path, tls: Tls) -> None:
    issuer_dir, wallet = tmp_path / "issuer", tmp_path / "wallet"
    with cli_issuer(issuer_dir, tls) as issuer_url:
        issuer_did = f"did:web:localhost%3A{issuer_url.rsplit(':', 1)[1]}"
        new_wallet(wallet, ("jwk", "p256"))
        director = offer_and_receive(
            issuer_dir, wallet, tmp_path, "DirectorCertification", DIRECTOR_CLAIMS, tls.ca
        )
        legal = offer_and_receive(
            issuer_dir, wallet, tmp_path, "LegalPerson", LEGAL_PERSON_CLAIMS, tls.ca
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
            for mode in ("direct_post", "direct_post.jwt"):
                made = http.post(
                    f"{verifier_url}/openid4vp/requests",
                    json={"dcql_query": _query(), "response_mode": mode},
                )
                assert made.status_code == 201, made.text
                transaction = made.json()
                result_url = (
                    f"{verifier_url}/openid4vp/requests/{transaction['transaction_id']}/result"
                )

                # No terminal and no --yes: nothing is sent.
                refused = wallet_cli(
                    wallet, "respond", transaction["authorization_request"],
                    "--insecure-loopback", "--ca-file", str(tls.ca),
                )  # fmt: skip
                assert refused.returncode == 64, refused.stderr
                assert "confirmation needed" in refused.stderr
                assert f"The verifier {transaction['client_id'].split(':', 1)[1]}" in (
                    refused.stderr
                )
                assert "/role, /legal_name" in refused.stderr
                assert http.get(result_url).status_code == 202  # still pending

                sent = wallet_cli(
                    wallet, "respond", transaction["authorization_request"], "--yes",
                    "--insecure-loopback", "--ca-file", str(tls.ca), "--json",
                )  # fmt: skip
                assert sent.returncode == 0, sent.stderr
                summary = json.loads(sent.stdout)
                assert summary["client_id"] == transaction["client_id"]
                assert summary["response_mode"] == mode
                assert [p["credential"] for p in summary["presentations"]] == [
                    director["id"],
                    legal["id"],
                ]
                assert summary["presentations"][0]["disclosed_claims"] == ["/role", "/legal_name"]
                for value in ("Antoine", "Saint-Affrique"):
                    assert value not in sent.stdout

                verdict = http.get(result_url).json()
                assert verdict["status"] == "valid", verdict
                assert verdict["response_mode"] == mode
                claims = verdict["credentials"]["director"][0]["claims"]
                assert claims["role"] == "Directeur général"
                assert "given_name" not in claims
                assert "family_name" not in claims

            # The same request cannot be answered twice.
            again = wallet_cli(
                wallet, "respond", transaction["authorization_request"], "--yes",
                "--insecure-loopback", "--ca-file", str(tls.ca),
            )  # fmt: skip
            assert again.returncode == 1
            assert "HTTP 410" in again.stderr


def test_a_forged_invocation_is_refused(tmp_path: Path) -> None:
    wallet = tmp_path / "wallet"
    new_wallet(wallet, ("key", "ed25519"))
    for url, expected in (
        ("openid4vp://?client_id=redirect_uri%3Ahttps%3A%2F%2Fx&request_uri=https%3A%2F%2Fx",
         "unsupported Client Identifier Prefix"),
        ("openid4vp://?client_id=decentralized_identifier%3Adid%3Akey%3Az6Mk"
         "&request_uri=https%3A%2F%2F10.0.0.1%2Fr", "url_not_allowed"),
        ("https://example.org/?request_uri=x", "expected an openid4vp:// URL"),
    ):  # fmt: skip
        done = wallet_cli(wallet, "respond", url, "--yes")
        assert done.returncode in (1, 65), done.stderr
        assert expected in done.stderr
        assert "Traceback" not in done.stderr


def test_respond_with_the_gaia_x_onboarding_presentation(tmp_path: Path, tls: Tls) -> None:
    """The verifier's gaia-x-onboarding profile: the wallet answers each member's query,
    signs the terms-and-conditions credential itself (shown before consent), and the
    verifier accepts the set as one bundle."""
    issuer_dir, wallet = tmp_path / "issuer", tmp_path / "wallet"
    with cli_issuer(issuer_dir, tls) as issuer_url:
        issuer_did = f"did:web:localhost%3A{issuer_url.rsplit(':', 1)[1]}"
        (holder,) = new_wallet(wallet, ("jwk", "p256"))
        legal = offer_and_receive(
            issuer_dir, wallet, tmp_path, "LegalPerson", LEGAL_PERSON_CLAIMS, tls.ca
        )
        vat = offer_and_receive(
            issuer_dir, wallet, tmp_path, "VatID",
            {"gx:vatID": "FR27552032534", "gx:countryCode": "FR"}, tls.ca,
        )  # fmt: skip
        query = {
            "credentials": [
                {"id": name, "format": "jwt_vc_json",
                 "meta": {"type_values": [["VerifiableCredential", kind]]}}
                for name, kind in (
                    ("legal_person", "gx:LegalPerson"), ("vat", "gx:VatID"),
                    ("terms", "gx:Issuer"),
                )
            ]
        }  # fmt: skip
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
                json={"dcql_query": query, "profile": "gaia-x-onboarding"},
            )
            assert made.status_code == 201, made.text
            transaction = made.json()
            invocation = transaction["authorization_request"]
            asked = wallet_cli(
                wallet, "respond", invocation, "--insecure-loopback", "--ca-file", str(tls.ca)
            )
            assert asked.returncode == 64, asked.stderr
            assert "signed now by you: sending it accepts them" in asked.stderr

            sent = wallet_cli(
                wallet, "respond", invocation, "--yes",
                "--insecure-loopback", "--ca-file", str(tls.ca), "--json",
            )  # fmt: skip
            assert sent.returncode == 0, sent.stderr
            presentations = json.loads(sent.stdout)["presentations"]
            assert [(p["query"], p["credential"]) for p in presentations] == [
                ("legal_person", legal["id"]),
                ("vat", vat["id"]),
                ("terms", "terms-and-conditions (signed now)"),
            ]
            assert presentations[2]["issuer"] == holder["did"]

            verdict = http.get(
                f"{verifier_url}/openid4vp/requests/{transaction['transaction_id']}/result"
            ).json()
            assert verdict["status"] == "valid", verdict["errors"]
            assert verdict["onboarding"]["status"] == "valid"
            assert verdict["onboarding"]["holder"] == holder["did"]
            assert [m["role"] for m in verdict["onboarding"]["members"]] == [
                "legal_person", "registration_number", "terms_and_conditions",
            ]  # fmt: skip
