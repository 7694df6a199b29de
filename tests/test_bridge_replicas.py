"""Two issuer replicas on one PostgreSQL (issue 14 acceptance 5): a login state (with its
nonce and PKCE verifier), a pending authorization request or an authorization code consumed
through one replica is refused by the other."""

from __future__ import annotations

import secrets
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from _issuer_support import LEGAL_PERSON_CLAIMS, make_issuer, open_issuer

from ancre.issuer.authorize import Approved, AuthorizationServer, pkce_s256
from ancre.issuer.login import OidcRelyingParty, ProviderConfig
from ancre.issuer.service import IssuerError
from ancre.issuer.templates import Authorization
from ancre.trust.errors import AncreError, Code

OPERATOR = Authorization(method="operator", actor="test-operator")


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    from _postgres import fresh_database

    return fresh_database(postgres_server)


def test_single_use_login_values_hold_across_replicas(tmp_path: Path, postgres_url: str) -> None:
    first = make_issuer(tmp_path / "issuer", 8443, database=postgres_url)
    second = open_issuer(tmp_path / "issuer")  # its own engine and connections
    browser = secrets.token_urlsafe(32)

    # Login state: begun on one replica, the provider's redirect lands on the other.
    config = ProviderConfig(
        name="proconnect", issuer="https://op.example/api/v2", client_id="c",
        client_secret="s", redirect_uri="https://localhost:8443/login/callback",
    )  # fmt: skip
    with httpx.Client(trust_env=False) as client:
        rp_a = OidcRelyingParty(config, first, client)
        rp_b = OidcRelyingParty(config, second, client)
        # Discovery is not what this test is about: the endpoints are given.
        rp_a._metadata = {"authorization_endpoint": "https://op.example/api/v2/authorize"}
        url = rp_a.begin("request-1", browser, ("eidas1",))
        state = parse_qs(urlsplit(url).query)["state"][0]
        row = rp_b.consume_state({"state": state}, browser)
        assert row.request_id == "request-1"
        for replica in (rp_a, rp_b):
            with pytest.raises(AncreError) as replayed:
                replica.consume_state({"state": state}, browser)
            assert replayed.value.code is Code.LOGIN_STATE_INVALID

    # Authorization code: issued through one replica, redeemed once through either.
    server_a, server_b = AuthorizationServer(first), AuthorizationServer(second)
    verifier = secrets.token_urlsafe(48)
    params = {
        "response_type": ["code"], "client_id": ["w"], "redirect_uri": ["https://w.example/cb"],
        "code_challenge": [pkce_s256(verifier)], "code_challenge_method": ["S256"],
        "scope": ["LegalPerson"],
    }  # fmt: skip
    pending = server_a.begin(params, browser)
    back = server_b.complete(pending.id, Approved(OPERATOR, LEGAL_PERSON_CLAIMS), browser)
    with pytest.raises(IssuerError):  # the pending request completes once
        server_a.complete(pending.id, Approved(OPERATOR, LEGAL_PERSON_CLAIMS), browser)
    code = parse_qs(urlsplit(back.url).query)["code"][0]
    form = {"code": code, "code_verifier": verifier, "client_id": "w",
            "redirect_uri": "https://w.example/cb"}  # fmt: skip
    assert server_a.exchange(form).configuration_id == "LegalPerson"
    with pytest.raises(IssuerError) as again:
        server_b.exchange(form)
    assert again.value.code is Code.INVALID_GRANT
    first.engine.dispose()
    second.engine.dispose()
