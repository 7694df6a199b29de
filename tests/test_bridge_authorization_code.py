"""OpenID4VCI authorization code grant (ancre.issuer.authorize) over real HTTPS on loopback,
with the test user-authentication step: PKCE S256, issuer_state, authorization_details and
scope, single-use codes bound to client, redirect URI and verifier, refusals back to the
wallet with nothing issued."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from _issuer_support import (
    LEGAL_PERSON_CLAIMS,
    Tls,
    Wallet,
    bound_socket,
    make_issuer,
    make_tls,
    proof_jwt,
    serve_on,
)

from ancre.issuer.api import IssuerSettings, create_app
from ancre.issuer.authorize import (
    AuthorizationServer,
    Refused,
    StaticAuthentication,
    UserAuthentication,
    pkce_s256,
)
from ancre.issuer.service import Issuer
from ancre.issuer.templates import Authorization
from ancre.trust.clock import FixedClock, SystemClock
from ancre.trust.errors import Code

REDIRECT = "https://wallet.example/cb"
CLIENT = "test-wallet"
OPERATOR = Authorization(method="operator", actor="test-operator")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


def serve(directory: Path, tls: Tls, authentication: UserAuthentication) -> Any:
    from contextlib import contextmanager

    @contextmanager
    def run() -> Iterator[tuple[Issuer, str]]:
        sock, port = bound_socket()
        issuer = make_issuer(directory, port, clock=FixedClock(SystemClock().now()))
        app = create_app(IssuerSettings(issuer, authentication=authentication))
        with serve_on(sock, app, tls) as url:
            yield issuer, url

    return run()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, tls: Tls) -> Iterator[tuple[Issuer, str]]:
    step = StaticAuthentication({"LegalPerson": LEGAL_PERSON_CLAIMS}, OPERATOR)
    with serve(tmp_path_factory.mktemp("shared"), tls, step) as pair:
        yield pair


@pytest.fixture
def http(tls: Tls) -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=10, verify=tls.context()) as client:
        yield client


def authorize(
    http: httpx.Client, url: str, *, verifier: str, extra: dict[str, str] | None = None
) -> httpx.Response:
    query = {
        "response_type": "code",
        "client_id": CLIENT,
        "redirect_uri": REDIRECT,
        "code_challenge": pkce_s256(verifier),
        "code_challenge_method": "S256",
        "authorization_details": json.dumps(
            [{"type": "openid_credential", "credential_configuration_id": "LegalPerson"}]
        ),
        "state": "wallet-state-1",
    }
    query.update(extra or {})
    query = {k: v for k, v in query.items() if v != ""}
    return http.get(f"{url}/authorize?{urlencode(query)}")


def back_at_wallet(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def token(http: httpx.Client, url: str, code: str, verifier: str, **over: str) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": verifier,
        "client_id": CLIENT,
        "redirect_uri": REDIRECT,
    }
    form.update(over)
    return http.post(f"{url}/token", data=form)


def test_code_flow_issues_a_credential_that_verifies(
    tmp_path: Path, tls: Tls, http: httpx.Client
) -> None:
    step = StaticAuthentication({"LegalPerson": LEGAL_PERSON_CLAIMS}, OPERATOR)
    with serve(tmp_path / "i", tls, step) as (issuer, url):
        metadata = http.get(Wallet.well_known(url, "oauth-authorization-server")).json()
        assert metadata["authorization_endpoint"] == f"{url}/authorize"
        assert metadata["grant_types_supported"] == [
            "authorization_code",
            "urn:ietf:params:oauth:grant-type:pre-authorized_code",
        ]
        assert metadata["code_challenge_methods_supported"] == ["S256"]

        verifier = secrets.token_urlsafe(48)
        response = authorize(http, url, verifier=verifier)
        assert "__Host-ancre-browser" in response.headers["set-cookie"]
        assert "HttpOnly" in response.headers["set-cookie"]
        assert "SameSite=Lax" in response.headers["set-cookie"]
        query = back_at_wallet(response)
        assert query["state"] == "wallet-state-1"
        assert query["iss"] == url
        grant = token(http, url, query["code"], verifier)
        assert grant.status_code == 200, grant.text
        body = grant.json()
        assert body["authorization_details"][0]["credential_configuration_id"] == "LegalPerson"

        wallet = Wallet(http)
        proof = proof_jwt(wallet.key, audience=url, nonce=wallet.nonce(url))
        issued = wallet.request(url, body["access_token"], "LegalPerson", proof)
        assert issued.status_code == 200, issued.text
        credential = issued.json()["credentials"][0]["credential"]
        assert issuer.count_credentials() == 1

        # Single use: the same code again is refused, and nothing more is issued.
        again = token(http, url, query["code"], verifier)
        assert again.status_code == 400
        assert again.json()["error"] == "invalid_grant"
        assert issuer.count_credentials() == 1
    assert credential.count(".") == 2


def test_code_is_bound_to_verifier_client_and_redirect_uri(
    tmp_path: Path, tls: Tls, http: httpx.Client
) -> None:
    step = StaticAuthentication({"LegalPerson": LEGAL_PERSON_CLAIMS}, OPERATOR)
    with serve(tmp_path / "i", tls, step) as (issuer, url):
        verifier = secrets.token_urlsafe(48)
        code = back_at_wallet(authorize(http, url, verifier=verifier))["code"]
        for wrong in (
            {"code_verifier": secrets.token_urlsafe(48)},
            {"client_id": "another-wallet"},
            {"redirect_uri": "https://wallet.example/other"},
        ):
            refused = token(http, url, code, verifier, **wrong)
            assert refused.status_code == 400
            assert refused.json()["error"] == "invalid_grant", wrong
        missing = token(http, url, code, verifier, code_verifier="")
        assert missing.json()["error"] == "invalid_grant"
        # The right values still work once (a wrong guess does not burn the code).
        assert token(http, url, code, verifier).status_code == 200
        assert issuer.count_credentials() == 0


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        ({"code_challenge_method": "plain"}, "S256"),
        ({"code_challenge_method": ""}, "code_challenge_method"),
        ({"code_challenge": ""}, "code_challenge"),
        ({"redirect_uri": "javascript:alert(1)"}, "javascript"),
        ({"redirect_uri": "http://wallet.example/cb"}, "loopback"),
        ({"redirect_uri": "https://wallet.example/cb#x"}, "fragment"),
        ({"authorization_details": "", "scope": ""}, "authorization_details"),
        ({"authorization_details": '[{"type": "openid_credential"}]'}, "unknown"),
        ({"response_type": "token"}, "response_type"),
        ({"issuer_state": "never-offered"}, "issuer_state"),
    ],
)
def test_bad_authorization_requests_are_answered_not_redirected(
    shared: tuple[Issuer, str], http: httpx.Client, extra: dict[str, str], why: str
) -> None:
    issuer, url = shared
    response = authorize(http, url, verifier=secrets.token_urlsafe(48), extra=extra)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    assert why in response.json()["error_description"]
    assert issuer.count_credentials() == 0


def test_scope_and_issuer_state_from_an_offer(tmp_path: Path, tls: Tls, http: httpx.Client) -> None:
    step = StaticAuthentication({"LegalPerson": LEGAL_PERSON_CLAIMS}, OPERATOR)
    with serve(tmp_path / "i", tls, step) as (issuer, url):
        state, offer_uri = AuthorizationServer(issuer).create_issuer_state("LegalPerson")
        offer = json.loads(parse_qs(urlsplit(offer_uri).query)["credential_offer"][0])
        assert offer["grants"] == {"authorization_code": {"issuer_state": state}}
        verifier = secrets.token_urlsafe(48)
        response = authorize(
            http, url, verifier=verifier,
            extra={"authorization_details": "", "scope": "LegalPerson", "issuer_state": state},
        )  # fmt: skip
        assert token(http, url, back_at_wallet(response)["code"], verifier).status_code == 200
        # An issuer_state for another configuration is refused.
        wrong = authorize(http, url, verifier=verifier, extra={"issuer_state": state,
                          "authorization_details": "", "scope": "VatID"})  # fmt: skip
        assert wrong.status_code == 400


def test_refusal_goes_back_to_the_wallet_with_its_code_and_nothing_issued(
    tmp_path: Path, tls: Tls, http: httpx.Client
) -> None:
    step = StaticAuthentication({}, OPERATOR, refusal=Refused(Code.ESTABLISHMENT_CLOSED, "closed"))
    with serve(tmp_path / "i", tls, step) as (issuer, url):
        query = back_at_wallet(authorize(http, url, verifier=secrets.token_urlsafe(48)))
        assert query == {
            "error": "access_denied",
            "error_description": "establishment_closed",
            "state": "wallet-state-1",
            "iss": url,
        }
        assert issuer.count_credentials() == 0


def test_claims_short_of_the_template_are_refused(
    tmp_path: Path, tls: Tls, http: httpx.Client
) -> None:
    # LocalRegistrationNumber needs a register check: an operator authorization without one
    # is refused before any code exists.
    step = StaticAuthentication({"LocalRegistrationNumber": {"gx:local": "35600000000048"}},
                                OPERATOR)  # fmt: skip
    with serve(tmp_path / "i", tls, step) as (issuer, url):
        details = json.dumps(
            [
                {
                    "type": "openid_credential",
                    "credential_configuration_id": "LocalRegistrationNumber",
                }
            ]
        )
        response = authorize(http, url, verifier=secrets.token_urlsafe(48),
                             extra={"authorization_details": details})  # fmt: skip
        query = back_at_wallet(response)
        assert query["error_description"] == "authorization_insufficient"
        assert "code" not in query
        assert issuer.count_credentials() == 0


def test_no_authentication_step_no_authorization_endpoint(
    tmp_path: Path, tls: Tls, http: httpx.Client
) -> None:
    sock, port = bound_socket()
    issuer = make_issuer(tmp_path / "i", port)
    with serve_on(sock, create_app(IssuerSettings(issuer)), tls) as url:
        metadata = http.get(Wallet.well_known(url, "oauth-authorization-server")).json()
        assert "authorization_endpoint" not in metadata
        assert http.get(f"{url}/authorize").status_code == 404
        response = token(http, url, "x", secrets.token_urlsafe(48))
        assert response.json()["error"] == "unsupported_grant_type"


def test_expired_values_are_purged(tmp_path: Path) -> None:
    from datetime import timedelta

    from ancre.issuer.authorize import Approved

    clock = FixedClock(SystemClock().now())
    issuer = make_issuer(tmp_path / "i", 8443, clock=clock)
    server = AuthorizationServer(issuer)
    browser = secrets.token_urlsafe(32)
    params = {
        "response_type": ["code"], "client_id": [CLIENT], "redirect_uri": [REDIRECT],
        "code_challenge": [pkce_s256(secrets.token_urlsafe(48))],
        "code_challenge_method": ["S256"], "scope": ["LegalPerson"],
    }  # fmt: skip
    server.create_issuer_state("LegalPerson")
    done = server.begin(params, browser)
    server.complete(done.id, Approved(OPERATOR, LEGAL_PERSON_CLAIMS), browser)
    server.begin(params, browser)  # abandoned
    assert server.purge_expired() == 0
    clock.advance(timedelta(minutes=11))
    # issuer state, code, and both requests.
    assert server.purge_expired() == 4
    assert server.purge_expired() == 0
    issuer.engine.dispose()
