"""Interop: an OpenID4VCI client ancre did not write (@openid4vc/openid4vci, an npm library,
tests/node/obtain.mjs) obtains credentials from a running ancre issuer with the
pre-authorized code grant and a tx_code (`ancre issuer serve`), and with the authorization
code grant and PKCE S256: from `ancre issuer serve --operator-approval` (the wallet's browser
waits on a self-reloading page while an operator approves its login with the CLI), and from
an issuer served in-process with the test user-authentication step; the results are checked
by ancre's verifier and by jwcrypto (signature) or the sd-jwt reference package. The same
client also takes a batch of credentials (several keys) and reports their acceptance to the
notification endpoint, and waits, polling the deferred credential endpoint, for an operator
to approve its request."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from _issuer_support import (
    DIRECTOR_CLAIMS,
    LEGAL_PERSON_CLAIMS,
    Tls,
    ancre_cli,
    cli_issuer,
    make_tls,
    running_issuer,
)
from jwcrypto import jwk, jws
from sqlalchemy import select
from sqlalchemy.orm import Session

from ancre.issuer.authorize import AuthorizationServer, StaticAuthentication
from ancre.issuer.db import AuthorizationCodeRow, AuthorizationRequestRow
from ancre.issuer.templates import Authorization
from ancre.trust.clock import SystemClock
from ancre.trust.did.resolvers import default_resolver
from ancre.trust.net.guard import NetworkPolicy
from ancre.trust.result import Status
from ancre.trust.status.checker import StatusListChecker
from ancre.verifier.pipeline import verify

pytestmark = [pytest.mark.interop, pytest.mark.slow]

NODE_DIR = Path(__file__).parent / "node"
LOOPBACK = NetworkPolicy(allow_loopback=True, max_bytes=4 * 1024 * 1024)
OPERATOR = Authorization("operator", "alice", register_checked=True)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


def _node_args(offer_uri: str, tx_code: str | None, *options: str) -> list[str]:
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "@openid4vc" / "openid4vci").is_dir():
        # Not a skip: the interop claim must not pass silently on a machine without it.
        pytest.fail("the npm client is not installed: run `make node-deps` (make test does)")
    args = [node, str(NODE_DIR / "obtain.mjs"), offer_uri]
    if tx_code is not None:
        args.append(tx_code)
    return [*args, *options]


def _node_client(offer_uri: str, tx_code: str | None, tls: Tls, *options: str) -> dict[str, Any]:
    done = subprocess.run(
        _node_args(offer_uri, tx_code, *options),
        capture_output=True,
        text=True,
        env={**os.environ, "NODE_EXTRA_CA_CERTS": str(tls.ca)},
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _signature_payload(token: str, http: httpx.Client, url: str) -> dict[str, Any]:
    document = http.get(f"{url}/.well-known/did.json").json()
    parsed = jws.JWS()
    parsed.deserialize(token.split("~")[0])
    method = next(m for m in document["verificationMethod"] if m["id"] == parsed.jose_header["kid"])
    parsed.verify(jwk.JWK(**method["publicKeyJwk"]))
    payload: dict[str, Any] = json.loads(parsed.payload)
    return payload


def _check_obtained(
    obtained: dict[str, Any], configuration: str, http: httpx.Client, url: str
) -> None:
    """The credential verifies with ancre's verifier and with jwcrypto (signature) or the
    sd-jwt reference package, and is bound to the npm wallet's key."""
    assert obtained["configuration_id"] == configuration
    token = obtained["credential"]
    payload = _signature_payload(token, http, url)
    clock = SystemClock()
    resolver = default_resolver(http_client=http, network=LOOPBACK, clock=clock)
    status = StatusListChecker(client=http, resolver=resolver, network=LOOPBACK)
    result = verify(token, resolver=resolver, clock=clock, status=status)
    if configuration == "LegalPerson":
        from ancre.trust.did.jwk import did_jwk_from_public_key
        from ancre.trust.keys.jwk import PublicKey

        assert result.status is Status.VALID, result.to_json()
        holder = did_jwk_from_public_key(PublicKey.from_jwk(obtained["holder_jwk"]))
        assert payload["credentialSubject"]["id"] == holder
    else:
        from sd_jwt.verifier import SDJWTVerifier

        # Everything holds but the holder binding: a bare SD-JWT VC carries no KB-JWT.
        assert [c.code for c in result.errors] == ["key_binding_missing"]
        assert payload["cnf"]["jwk"]["x"] == obtained["holder_jwk"]["x"]
        document = http.get(f"{url}/.well-known/did.json").json()
        issuer_jwk = document["verificationMethod"][0]["publicKeyJwk"]
        verified = SDJWTVerifier(
            token,
            lambda _iss, _header: jwk.JWK(**issuer_jwk),
            None,
            None,
            serialization_format="compact",
        ).get_verified_payload()
        assert verified["family_name"] == "de Saint-Affrique"


@pytest.mark.parametrize(
    ("configuration", "claims"),
    [("LegalPerson", LEGAL_PERSON_CLAIMS), ("DirectorCertification", DIRECTOR_CLAIMS)],
)
def test_npm_openid4vci_client_obtains_a_credential(
    tmp_path: Path, tls: Tls, configuration: str, claims: dict[str, Any]
) -> None:
    directory = tmp_path / "issuer"
    claims_file = tmp_path / "claims.json"
    claims_file.write_text(json.dumps(claims))
    with (
        cli_issuer(directory, tls) as url,
        httpx.Client(trust_env=False, timeout=10, verify=tls.context()) as http,
    ):
        made = ancre_cli(
            "issuer", "offer", "--dir", str(directory), "--type", configuration,
            "--claims", str(claims_file), "--tx-code", "--register-checked", "--json",
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        offer = json.loads(made.stdout)
        obtained = _node_client(offer["offer_uri"], offer["tx_code"], tls)
        assert obtained["grant"] == "urn:ietf:params:oauth:grant-type:pre-authorized_code"
        _check_obtained(obtained, configuration, http, url)
        # The tx_code was single use with its code: the same offer cannot be redeemed again.
        again = subprocess.run(
            ["node", str(NODE_DIR / "obtain.mjs"), offer["offer_uri"], offer["tx_code"]],
            capture_output=True,
            text=True,
            env={**os.environ, "NODE_EXTRA_CA_CERTS": str(tls.ca)},
            timeout=60,
            check=False,
        )
        assert again.returncode != 0


@pytest.mark.parametrize(
    ("configuration", "claims"),
    [("LegalPerson", LEGAL_PERSON_CLAIMS), ("DirectorCertification", DIRECTOR_CLAIMS)],
)
def test_npm_openid4vci_client_obtains_a_credential_with_the_authorization_code_grant(
    tmp_path: Path, tls: Tls, configuration: str, claims: dict[str, Any]
) -> None:
    # The user-authentication step decides without a page, so the npm wallet's one GET of
    # the authorization URL comes straight back to its redirect URI with a code.
    step = StaticAuthentication(
        {configuration: claims}, Authorization("operator", "test-operator", register_checked=True)
    )
    with (
        running_issuer(tmp_path / "issuer", tls, authentication=step) as (issuer, url),
        httpx.Client(trust_env=False, timeout=10, verify=tls.context()) as http,
    ):
        # An issuer-initiated offer of the authorization code grant (with its issuer_state).
        _, offer_uri = AuthorizationServer(issuer).create_issuer_state(configuration)
        obtained = _node_client(offer_uri, None, tls)
        assert obtained["grant"] == "authorization_code"
        assert obtained["code_challenge_method"] == "S256"
        _check_obtained(obtained, configuration, http, url)
        assert issuer.count_credentials() == 1
        # What the library sent, as the issuer stored it: one request from the npm wallet
        # with its state and an S256 challenge, and its one code, redeemed.
        with Session(issuer.engine) as session:
            (request,) = session.scalars(select(AuthorizationRequestRow)).all()
            (code,) = session.scalars(select(AuthorizationCodeRow)).all()
        assert request.client_id == "npm-openid4vci-wallet"
        assert request.redirect_uri == "https://wallet.example/openid4vci/callback"
        assert request.wallet_state is not None
        assert request.completed_at is not None
        assert (code.request_id, code.code_challenge) == (request.id, request.code_challenge)
        assert code.used_at is not None


def test_npm_openid4vci_client_obtains_a_credential_from_serve_with_operator_approval(
    tmp_path: Path, tls: Tls
) -> None:
    directory = tmp_path / "issuer"
    claims_file = tmp_path / "claims.json"
    claims_file.write_text(json.dumps(LEGAL_PERSON_CLAIMS))
    d = ["--dir", str(directory)]
    with (
        cli_issuer(directory, tls, "--operator-approval") as url,
        httpx.Client(trust_env=False, timeout=10, verify=tls.context()) as http,
    ):
        metadata = http.get(f"{url}/.well-known/oauth-authorization-server").json()
        assert "authorization_code" in metadata["grant_types_supported"]
        made = ancre_cli(
            "issuer", "offer", *d, "--type", "LegalPerson", "--grant", "authorization_code",
            "--json",
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        offer = json.loads(made.stdout)
        wallet = subprocess.Popen(
            _node_args(offer["offer_uri"], None),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "NODE_EXTRA_CA_CERTS": str(tls.ca)},
        )
        try:
            waiting: list[dict[str, Any]] = []
            for _ in range(100):  # until the wallet's login waits for the operator
                listed = ancre_cli("issuer", "logins", *d, "--json")
                assert listed.returncode == 0, listed.stderr
                waiting = json.loads(listed.stdout)
                if waiting or wallet.poll() is not None:
                    break
                time.sleep(0.2)
            assert len(waiting) == 1, wallet.stderr.read() if wallet.stderr else ""
            assert waiting[0]["client_id"] == "npm-openid4vci-wallet"
            time.sleep(2.5)  # let the browser reload the waiting page at least once
            approved = ancre_cli(
                "issuer", "login-approve", waiting[0]["id"], *d, "--claims", str(claims_file),
                "--register-checked", "--as", "bob",
            )  # fmt: skip
            assert approved.returncode == 0, approved.stderr
            out, err = wallet.communicate(timeout=60)
        finally:
            if wallet.poll() is None:
                wallet.kill()
                wallet.communicate()
        assert wallet.returncode == 0, err
        obtained = json.loads(out)
        assert obtained["grant"] == "authorization_code"
        assert obtained["code_challenge_method"] == "S256"
        assert obtained["waiting_reloads"] >= 1
        _check_obtained(obtained, "LegalPerson", http, url)
        listed = ancre_cli("issuer", "logins", *d, "--all", "--json")
        (login,) = json.loads(listed.stdout)
        assert (login["state"], login["decided_by"]) == ("resumed", "bob")


def test_npm_openid4vci_client_takes_a_batch_and_notifies(tmp_path: Path, tls: Tls) -> None:
    with (
        running_issuer(tmp_path / "issuer", tls) as (issuer, url),
        httpx.Client(trust_env=False, timeout=10, verify=tls.context()) as http,
    ):
        offer = issuer.create_offer("LegalPerson", LEGAL_PERSON_CLAIMS, authorization=OPERATOR)
        obtained = _node_client(issuer.offer_uri(offer), None, tls, "--keys", "3", "--notify")
        assert len(obtained["credentials"]) == 3
        indexes = set()
        for credential, holder_jwk in zip(
            obtained["credentials"], obtained["holder_jwks"], strict=True
        ):
            one = {**obtained, "credential": credential, "holder_jwk": holder_jwk}
            _check_obtained(one, "LegalPerson", http, url)  # each bound to its own key
            payload = _signature_payload(credential, http, url)
            indexes.add(payload["credentialStatus"][0]["statusListIndex"])
        assert len(indexes) == 3
        assert obtained["notified"] is True
        rows = issuer.credentials()
        assert {(r.notification_id, r.wallet_event) for r in rows} == {
            (obtained["notification_id"], "credential_accepted")
        }


def test_npm_openid4vci_client_waits_for_approval(tmp_path: Path, tls: Tls) -> None:
    from ancre.issuer.deferred import held_requests

    directory = tmp_path / "issuer"
    claims_file = tmp_path / "claims.json"
    claims_file.write_text(json.dumps(LEGAL_PERSON_CLAIMS))
    d = ["--dir", str(directory)]
    with (
        running_issuer(directory, tls, limits={"deferred_interval": 1}) as (issuer, url),
        httpx.Client(trust_env=False, timeout=10, verify=tls.context()) as http,
    ):
        made = ancre_cli(
            "issuer", "offer", *d, "--type", "LegalPerson", "--claims", str(claims_file),
            "--approval", "--json",
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        offer = json.loads(made.stdout)
        wallet = subprocess.Popen(
            _node_args(offer["offer_uri"], None, "--keys", "2"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "NODE_EXTRA_CA_CERTS": str(tls.ca)},
        )
        try:
            for _ in range(300):  # until the wallet's request is held
                held = held_requests(issuer)
                if held or wallet.poll() is not None:
                    break
                time.sleep(0.1)
            assert len(held) == 1, wallet.stderr.read() if wallet.stderr else ""
            time.sleep(1.5)  # let the wallet poll at least once while it is pending
            approved = ancre_cli("issuer", "approve", held[0].id, *d, "--as", "bob")
            assert approved.returncode == 0, approved.stderr
            out, err = wallet.communicate(timeout=60)
        finally:
            if wallet.poll() is None:
                wallet.kill()
                wallet.communicate()
        assert wallet.returncode == 0, err
        obtained = json.loads(out)
        assert obtained["deferred"]["interval"] == 1
        assert obtained["deferred"]["polls"] >= 2
        assert len(obtained["credentials"]) == 2
        _check_obtained(obtained, "LegalPerson", http, url)
        assert issuer.count_credentials() == 2
