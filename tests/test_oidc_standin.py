"""The ProConnect stand-in behaves like ProConnect (reference/proconnect.md).

A full authorization-code + PKCE flow with httpx against the real `oidc-provider` on
loopback: discovery, authorize with `acr` requested through the `claims` parameter, the
headless login, the token exchange, the ID token checked with joserfc against the
provider's JWKS (ES256, iss, aud, nonce, acr), the signed userinfo (`application/jwt`), and
RP-initiated logout. The login bridge's integration tests stand on this harness.
"""

from __future__ import annotations

import base64
import hashlib
import html.parser
import json
import secrets
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from _oidc_provider import ISSUER_PATH, Standin, running_standin
from joserfc import jwt
from joserfc.errors import BadSignatureError, InvalidClaimError
from joserfc.jwk import ECKey, KeySet

CERTIFICATION_DIRIGEANT = "https://proconnect.gouv.fr/assurance/certification-dirigeant"
SCOPES = (
    "openid given_name usual_name email uid siret siren idp_id organization_label roles "
    "organizational_unit belonging_population"
)


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standin]:
    with running_standin(tmp_path_factory.mktemp("standin")) as running:
        yield running


@pytest.fixture
def http() -> Any:
    with httpx.Client(trust_env=False, timeout=10.0) as client:
        yield client


def discover(http: httpx.Client, standin: Standin) -> dict[str, Any]:
    response = http.get(f"{standin.issuer}/.well-known/openid-configuration")
    assert response.status_code == 200
    metadata: dict[str, Any] = response.json()
    return metadata


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def authorize(
    http: httpx.Client,
    standin: Standin,
    *,
    claims: dict[str, Any] | None = None,
    login_hint: str | None = None,
    with_pkce: bool = True,
    extra: dict[str, str] | None = None,
) -> tuple[dict[str, str], dict[str, str]]:
    """Run the front channel until the redirect to the client; return (its query, the
    request's secrets: state, nonce, code_verifier)."""
    metadata = discover(http, standin)
    verifier, challenge = pkce()
    request = {
        "response_type": "code",
        "client_id": standin.client_id,
        "redirect_uri": standin.redirect_uri,
        "scope": SCOPES,
        "state": secrets.token_urlsafe(32),  # ≥ 32 characters, as ProConnect requires
        "nonce": secrets.token_urlsafe(32),
    }
    if with_pkce:
        request |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    if claims is not None:
        request["claims"] = json.dumps(claims)
    if login_hint is not None:
        request["login_hint"] = login_hint
    request |= extra or {}
    url = f"{metadata['authorization_endpoint']}?{urlencode(request)}"
    for _ in range(10):
        response = http.get(url)
        assert response.status_code in (302, 303), response.text[:300]
        url = response.headers["location"]
        if url.startswith("/"):
            url = f"{standin.issuer.split(ISSUER_PATH)[0]}{url}"
        if url.startswith(standin.redirect_uri):
            query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
            return query, {**request, "code_verifier": verifier}
    raise AssertionError("no redirect back to the client")


def exchange(http: httpx.Client, standin: Standin, code: str, verifier: str) -> dict[str, Any]:
    metadata = discover(http, standin)
    response = http.post(
        metadata["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": standin.redirect_uri,
            "client_id": standin.client_id,
            "client_secret": standin.client_secret,  # client_secret_post, as ProConnect
            "code_verifier": verifier,
        },
    )
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def jwks(http: httpx.Client, standin: Standin) -> KeySet:
    return KeySet.import_key_set(http.get(discover(http, standin)["jwks_uri"]).json())


def test_discovery_is_proconnect_shaped(http: httpx.Client, standin: Standin) -> None:
    metadata = discover(http, standin)
    issuer = standin.issuer
    assert issuer.endswith("/api/v2")
    assert metadata["issuer"] == issuer
    for endpoint, path in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/token"),
        ("userinfo_endpoint", "/userinfo"),
        ("end_session_endpoint", "/session/end"),
    ]:
        assert metadata[endpoint] == issuer + path
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["claims_parameter_supported"] is True
    assert metadata["acr_values_supported"] == [
        "eidas0", "eidas0-mfa", "eidas1", "eidas1-mfa", "eidas2", "eidas3",
        CERTIFICATION_DIRIGEANT,
    ]  # fmt: skip
    assert set(metadata["token_endpoint_auth_methods_supported"]) == {
        "client_secret_post",
        "private_key_jwt",
    }
    assert "ES256" in metadata["id_token_signing_alg_values_supported"]
    assert "ES256" in metadata["userinfo_signing_alg_values_supported"]
    for scope in ["siret", "given_name", "usual_name", "idp_id", "roles", "organizational_unit"]:
        assert scope in metadata["scopes_supported"]


def test_authorization_code_flow_with_pkce_signed_tokens_and_userinfo(
    http: httpx.Client, standin: Standin
) -> None:
    claims = {
        "id_token": {"acr": {"essential": True, "value": CERTIFICATION_DIRIGEANT}, "amr": None}
    }
    query, request = authorize(
        http, standin, claims=claims, login_hint="john.dupont@laposte.example"
    )
    assert query["state"] == request["state"]
    assert query["iss"] == standin.issuer  # RFC 9207
    tokens = exchange(http, standin, query["code"], request["code_verifier"])
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 60
    keys = jwks(http, standin)

    id_token = jwt.decode(tokens["id_token"], keys, algorithms=["ES256"])
    assert id_token.header["alg"] == "ES256"
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": standin.issuer},
        aud={"essential": True, "value": standin.client_id},
        nonce={"essential": True, "value": request["nonce"]},
        acr={"essential": True, "value": CERTIFICATION_DIRIGEANT},
        sub={"essential": True, "value": "john.dupont"},
        exp={"essential": True},
        iat={"essential": True},
    ).validate(id_token.claims)
    assert id_token.claims["amr"] == ["pwd", "mail"]  # asked for through `claims`

    # Signed userinfo (application/jwt), checked as ProConnect's docs ask: signature, iss, aud.
    response = http.get(
        discover(http, standin)["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/jwt")
    userinfo = jwt.decode(response.text, keys, algorithms=["ES256"])
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": standin.issuer},
        aud={"essential": True, "value": standin.client_id},
        sub={"essential": True, "value": "john.dupont"},
    ).validate(userinfo.claims)
    assert {k: userinfo.claims[k] for k in ("siret", "given_name", "usual_name", "idp_id")} == {
        "siret": "35600000000048",
        "given_name": "John",
        "usual_name": "Dupont",
        "idp_id": "proconnect-identite",
    }
    assert userinfo.claims["roles"] == []
    # An ID token signed by another key is refused by the same check.
    forged = tokens["id_token"].rsplit(".", 1)[0] + "." + "A" * 86
    with pytest.raises(BadSignatureError):
        jwt.decode(forged, keys, algorithms=["ES256"])
    with pytest.raises(InvalidClaimError):
        jwt.JWTClaimsRegistry(nonce={"essential": True, "value": "another-nonce"}).validate(
            id_token.claims
        )


def test_public_agent_claims_and_default_acr(http: httpx.Client, standin: Standin) -> None:
    claims = {"id_token": {"acr": {"essential": True, "values": ["eidas2", "eidas3"]}}}
    query, request = authorize(http, standin, claims=claims, login_hint="camille.martin")
    tokens = exchange(http, standin, query["code"], request["code_verifier"])
    keys = jwks(http, standin)
    assert jwt.decode(tokens["id_token"], keys, algorithms=["ES256"]).claims["acr"] == "eidas2"
    userinfo = http.get(
        discover(http, standin)["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    info = jwt.decode(userinfo.text, keys, algorithms=["ES256"]).claims
    assert info["roles"] == ["agent_public", "agent_public_territorial"]
    assert info["organizational_unit"] == "Direction du numérique"
    assert info["belonging_population"] == "agent"
    assert info["siret"] == "21350001000011"
    # Not requested by scope (`phone`): not sent.
    assert "phone_number" not in info


def test_unreachable_essential_acr_is_access_denied(http: httpx.Client, standin: Standin) -> None:
    claims = {"id_token": {"acr": {"essential": True, "value": CERTIFICATION_DIRIGEANT}}}
    query, request = authorize(
        http, standin, claims=claims, login_hint="karim.benali@laposte.example"
    )
    assert query["error"] == "access_denied"
    assert query["state"] == request["state"]
    assert "code" not in query


def test_pkce_is_required(http: httpx.Client, standin: Standin) -> None:
    query, _ = authorize(http, standin, login_hint="karim.benali", with_pkce=False)
    assert query["error"] == "invalid_request"
    assert "code" not in query


def test_wrong_code_verifier_is_refused(http: httpx.Client, standin: Standin) -> None:
    query, _ = authorize(http, standin, login_hint="karim.benali")
    response = http.post(
        discover(http, standin)["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": query["code"],
            "redirect_uri": standin.redirect_uri,
            "client_id": standin.client_id,
            "client_secret": standin.client_secret,
            "code_verifier": pkce()[0],
        },
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_login_as_for_requests_without_login_hint(http: httpx.Client, standin: Standin) -> None:
    standin.login_as("angela.dubois")
    try:
        query, request = authorize(
            http,
            standin,
            claims={"id_token": {"acr": None}},  # read the acr only (reference §5)
            extra={"siret_hint": "80761229600051"},
        )
    finally:
        standin.login_as(None)
    tokens = exchange(http, standin, query["code"], request["code_verifier"])
    claims = jwt.decode(tokens["id_token"], jwks(http, standin), algorithms=["ES256"])
    assert claims.claims["sub"] == "angela.dubois"
    assert claims.claims["acr"] == "eidas1"  # no value asked for: the person's default
    # Nobody to log in: the flow ends with an error, never with someone.
    fresh = httpx.Client(trust_env=False, timeout=10.0)
    with fresh:
        query, _ = authorize(fresh, standin)
    assert query["error"] == "login_required"


class _Form(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.action = a.get("action", "")
        elif tag == "input" and a.get("type") == "hidden":
            self.fields[a["name"]] = a.get("value", "")


def test_rp_initiated_logout(http: httpx.Client, standin: Standin) -> None:
    query, request = authorize(http, standin, login_hint="karim.benali")
    tokens = exchange(http, standin, query["code"], request["code_verifier"])
    state = secrets.token_urlsafe(32)
    page = http.get(
        discover(http, standin)["end_session_endpoint"],
        params={
            "id_token_hint": tokens["id_token"],
            "state": state,
            "post_logout_redirect_uri": standin.post_logout_redirect_uri,
        },
    )
    assert page.status_code == 200
    form = _Form()
    form.feed(page.text)
    action = form.action if form.action.startswith("http") else (
        standin.issuer.split(ISSUER_PATH)[0] + form.action
    )  # fmt: skip
    done = http.post(action, data={**form.fields, "logout": "yes"})
    assert done.status_code == 303
    back = done.headers["location"]
    assert back.startswith(standin.post_logout_redirect_uri)
    assert parse_qs(urlsplit(back).query)["state"] == [state]


def test_a_taken_port_is_retried_on_another(tmp_path: Any) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with running_standin(tmp_path, port=port) as other:
            assert urlsplit(other.issuer).port not in (None, port)
            assert httpx.get(f"{other.issuer}/jwks", trust_env=False).status_code == 200


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"response_mode": "query"}, "unknown parameter response_mode"),
        ({"state": "too-short"}, "state must be at least 32 characters"),
        ({"nonce": ""}, "nonce must be at least 32 characters"),
    ],
)
def test_proconnect_authorization_rules(
    http: httpx.Client, standin: Standin, change: dict[str, str], why: str
) -> None:
    _, challenge = pkce()
    request = {
        "response_type": "code",
        "client_id": standin.client_id,
        "redirect_uri": standin.redirect_uri,
        "scope": "openid",
        "state": secrets.token_urlsafe(32),
        "nonce": secrets.token_urlsafe(32),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "login_hint": "karim.benali",
    } | change
    response = http.get(discover(http, standin)["authorization_endpoint"], params=request)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert why in response.json()["error_description"]


def test_private_key_jwt_client_authentication(http: httpx.Client, standin: Standin) -> None:
    keyed = replace(standin, client_id=standin.key_client_id)
    query, request = authorize(http, keyed, login_hint="karim.benali")
    token_endpoint = discover(http, standin)["token_endpoint"]
    assert standin.key_client_jwk is not None
    key = ECKey.import_key(standin.key_client_jwk)
    now = int(time.time())
    assertion = jwt.encode(
        {"alg": "ES256", "kid": key.kid},
        {
            "iss": keyed.client_id,
            "sub": keyed.client_id,
            "aud": standin.issuer,
            "jti": secrets.token_urlsafe(16),
            "iat": now,
            "exp": now + 60,
        },
        key,
    )
    form = {
        "grant_type": "authorization_code",
        "code": query["code"],
        "redirect_uri": standin.redirect_uri,
        "client_id": keyed.client_id,
        "code_verifier": request["code_verifier"],
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    }
    response = http.post(token_endpoint, data={**form, "client_assertion": assertion})
    assert response.status_code == 200, response.text
    id_token = jwt.decode(response.json()["id_token"], jwks(http, standin), algorithms=["ES256"])
    assert id_token.claims["aud"] == keyed.client_id
    # Its secret-less client may not fall back to a secret.
    query, request = authorize(http, keyed, login_hint="karim.benali")
    refused = http.post(
        token_endpoint,
        data={**form, "code": query["code"], "code_verifier": request["code_verifier"],
              "client_secret": standin.client_secret},
    )  # fmt: skip
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"
