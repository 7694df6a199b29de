"""The login bridge with several OpenID providers (issue 14), and `private_key_jwt` keys
configured from the login configuration file.

The configuration's parsing is tested member by member. End to end, two ProConnect
stand-ins (the certified `oidc-provider`) run on two loopback ports — two issuers, each its
own keys — behind one issuer: `proconnect`, whose client authenticates with
`private_key_jwt` and a key read from a 0600 file, and `autre`, a generic provider
(client_secret_post) whose claims are renamed by `claims_mapping`. The same person (same
`sub`) exists at both."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from _http_server import loopback_client
from _issuer_support import Tls, bound_socket, make_issuer, make_tls, serve_on
from _oidc_provider import ACCOUNTS, Standin, running_standins
from joserfc.jwk import ECKey
from sqlalchemy import select
from test_bridge_login import (
    LOOPBACK,
    REGISTER_POLICY,
    WALLET_REDIRECT,
    Browser,
    authorize_url,
    consent,
    error_code,
    form_fields,
    register_server,
)

from ancre.issuer.api import IssuerSettings, create_app
from ancre.issuer.authorize import AuthorizationServer, Redirect, Refused
from ancre.issuer.bridge import (
    LoginBridge,
    build_login_bridge,
    load_login_settings,
    resolve_client_keys,
)
from ancre.issuer.db import LogoutSessionRow
from ancre.issuer.login import PROCONNECT_ACR_VALUES, PROCONNECT_SCOPES, OidcRelyingParty
from ancre.issuer.registers import RechercheEntreprises, RetryPolicy
from ancre.issuer.service import Issuer
from ancre.trust.errors import AncreError, Code, ConfigurationError
from ancre.trust.keys.keystore import MemoryKeyStore

PUBLIC = "https://issuer.example"
OP = "https://op.example/api/v2"


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "login.json"
    path.write_text(json.dumps(data))
    return path


def key_file(tmp_path: Path, name: str = "client-key.json", *, pem: bool = False,
             mode: int = 0o600, curve: str = "P-256") -> tuple[Path, ECKey]:  # fmt: skip
    key = ECKey.generate_key(curve, private=True)
    path = tmp_path / name
    path.write_bytes(
        key.as_pem(private=True) if pem else json.dumps(key.as_dict(private=True)).encode()
    )
    path.chmod(mode)
    return path, key


def pkjwt(**extra: Any) -> dict[str, Any]:
    return {"name": "proconnect", "issuer": OP, "client_id": "c",
            "client_auth": "private_key_jwt", **extra}  # fmt: skip


def generic(**extra: Any) -> dict[str, Any]:
    return {"name": "autre", "issuer": "https://other.example", "client_id": "c2",
            "client_secret_env": "S", **extra}  # fmt: skip


# -- the configuration file -----------------------------------------------------------------


def test_several_providers_in_order_with_their_own_settings(tmp_path: Path) -> None:
    path = write(tmp_path, {"providers": [
        {"name": "proconnect", "issuer": OP, "client_id": "a", "client_secret_env": "S"},
        generic(label="Autre fournisseur", scopes=["openid", "profile"], acr_values=["silver"],
                claims_mapping={"family_name": "usual_name", "organization_siret": "siret"}),
    ]})  # fmt: skip
    settings = load_login_settings(path, public_url=PUBLIC, environ={"S": "x"})
    first, second = settings.providers
    assert settings.provider is first
    assert (first.name, first.scopes, first.acr_values) == (
        "proconnect", PROCONNECT_SCOPES, PROCONNECT_ACR_VALUES,
    )  # fmt: skip
    assert first.is_proconnect
    assert not second.is_proconnect
    assert (second.name, second.label, second.client_secret) == ("autre", "Autre fournisseur", "x")
    assert second.scopes == ("openid", "profile")
    assert second.acr_values == ("silver",)
    assert second.claims_mapping == {"family_name": "usual_name", "organization_siret": "siret"}
    # One callback for all: the state says which provider a return belongs to.
    assert first.redirect_uri == second.redirect_uri == f"{PUBLIC}/login/callback"


def test_a_generic_provider_asks_for_the_standard_scopes_by_default(tmp_path: Path) -> None:
    path = write(tmp_path, {"providers": [generic()]})
    (config,) = load_login_settings(path, public_url=PUBLIC, environ={"S": "x"}).providers
    assert config.scopes == ("openid", "profile", "email")
    assert config.label == ""


@pytest.mark.parametrize("pem", [False, True])
def test_private_key_jwt_from_a_key_file(tmp_path: Path, pem: bool) -> None:
    _, key = key_file(tmp_path, pem=pem)
    path = write(tmp_path, {"provider": pkjwt(client_key_file="client-key.json")})
    settings = load_login_settings(path, public_url=PUBLIC, environ={})
    config = settings.provider
    assert config.client_key is not None
    assert config.client_key["d"] == key.as_dict(private=True)["d"]
    assert config.client_secret == ""
    public = config.public_jwk()
    assert public is not None
    assert "d" not in public
    # The kid (its RFC 7638 thumbprint when the file has none) is in the published key.
    assert public["kid"] == key.thumbprint()
    assert (public["alg"], public["use"], public["crv"]) == ("ES256", "sig", "P-256")


def test_private_key_jwt_from_the_issuers_key_store(tmp_path: Path) -> None:
    store = MemoryKeyStore()
    store.generate("login-client", "p256")
    path = write(tmp_path, {"provider": pkjwt(client_key="login-client")})
    settings = load_login_settings(path, public_url=PUBLIC, environ={})
    assert settings.provider.client_key is None  # resolved with the issuer's store
    (config,) = resolve_client_keys(settings, store)
    public = config.public_jwk()
    assert public is not None
    assert public["x"] == store.public_key("login-client").to_jwk()["x"]
    assert "d" not in public


def test_the_production_bridge_takes_the_key_from_the_issuers_key_store(tmp_path: Path) -> None:
    """What `ancre issuer serve --login` builds: every provider a relying party, the key
    store's key published, the others' secrets kept."""
    issuer = make_issuer(tmp_path / "issuer", 8443)
    issuer.store.generate("proconnect-client", "p256")
    path = write(tmp_path, {"providers": [pkjwt(client_key="proconnect-client"), generic()]})
    settings = load_login_settings(path, public_url=issuer.public_url, environ={"S": "x"})
    bridge = build_login_bridge(issuer, settings)
    assert list(bridge.parties) == ["proconnect", "autre"]
    assert [p[:2] for p in bridge.providers] == [("proconnect", "proconnect"), ("autre", "autre")]
    (published,) = bridge.jwks["keys"]
    assert published["x"] == issuer.store.public_key("proconnect-client").to_jwk()["x"]
    assert "d" not in published
    assert bridge.parties["autre"].config.client_secret == "x"
    assert bridge.form_targets == ("https://op.example", "https://other.example")


def test_a_relying_party_without_secret_or_key_is_refused(tmp_path: Path) -> None:
    # A key store key left unresolved would otherwise authenticate with an empty secret.
    path = write(tmp_path, {"provider": pkjwt(client_key="login-client")})
    settings = load_login_settings(path, public_url=PUBLIC, environ={})
    issuer = make_issuer(tmp_path / "issuer", 8443)
    with httpx.Client() as client, pytest.raises(ConfigurationError, match="neither"):
        OidcRelyingParty(settings.provider, issuer, client)


def test_a_key_store_key_that_is_missing_or_not_p256_is_refused(tmp_path: Path) -> None:
    store = MemoryKeyStore()
    store.generate("ed", "ed25519")
    for name, why in (("absent", "no key named"), ("ed", "EC private key")):
        path = write(tmp_path, {"provider": pkjwt(client_key=name)})
        settings = load_login_settings(path, public_url=PUBLIC, environ={})
        with pytest.raises(ConfigurationError) as refused:
            resolve_client_keys(settings, store)
        assert why in refused.value.message, refused.value.message


@pytest.mark.parametrize(
    ("data", "why"),
    [
        ({"provider": generic(), "providers": [generic()]}, "not both"),
        ({"register": {}}, "not both or neither"),
        ({"providers": []}, "list of 1 to"),
        ({"providers": {"name": "autre"}}, "list of 1 to"),
        ({"providers": [generic(), generic()]}, "duplicate provider name 'autre'"),
        ({"providers": [generic(name="Autre")]}, "providers[0].name"),
        ({"providers": [generic(name="a" * 33)]}, "providers[0].name"),
        ({"providers": [{k: v for k, v in generic().items() if k != "name"}]},
         "providers[0].name (required)"),
        ({"providers": [generic(), generic(name="b", secret="x")]},
         "providers[1]: unknown member 'secret'"),
        ({"providers": [generic(issuer="http://other.example")]}, "issuer must be an https"),
        ({"providers": [generic(client_secret_env="UNSET")]}, "$UNSET, which is unset"),
        ({"providers": [{k: v for k, v in generic().items() if k != "client_secret_env"}]},
         "client_secret_env (a string) is required"),
        ({"providers": [generic(client_auth="client_secret_basic")]}, "client_auth must be"),
        ({"providers": [generic(client_key="k")]}, "needs client_auth private_key_jwt"),
        ({"provider": pkjwt()}, "exactly one of client_key"),
        ({"provider": pkjwt(client_key="k", client_key_file="f")}, "exactly one of client_key"),
        ({"provider": pkjwt(client_key="k", client_secret_env="S")}, "uses no secret"),
        ({"provider": pkjwt(client_key="../k")}, "key store key's name"),
        ({"provider": pkjwt(client_key_file="absent.json")}, "cannot read"),
        ({"providers": [generic(scopes=["profile"])]}, "with openid"),
        ({"providers": [generic(scopes="openid")]}, "scopes must be a list"),
        ({"providers": [generic(acr_values=[])]}, "acr_values must be a list"),
        ({"providers": [generic(claims_mapping={"sub": "siret"})]}, "may not map 'sub'"),
        ({"providers": [generic(claims_mapping={"x": "acr"})]}, "may not map 'x' to 'acr'"),
        ({"providers": [generic(claims_mapping={"x": 1})]}, "maps claim names"),
        ({"providers": [generic(label=" ")]}, "label must be"),
        ({"providers": [generic(redirect_uri="javascript:x")]}, "redirect_uri must be a URL"),
        ({"providers": [generic()], "register": {"vies_url": "http://v"}}, "vies_url"),
    ],
)  # fmt: skip
def test_bad_configurations_say_which_member(tmp_path: Path, data: object, why: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        load_login_settings(write(tmp_path, data), public_url=PUBLIC, environ={"S": "x"})
    assert why in refused.value.message, refused.value.message


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('{"providers": [], "providers": []}', "duplicate JSON member 'providers'"),
        ('{"providers": [{"name": "a", "name": "b"}]}', "duplicate JSON member 'name'"),
        ("providers: []", "not valid JSON"),
    ],
)
def test_a_file_that_is_not_strict_json_is_a_configuration_error(
    tmp_path: Path, text: str, why: str
) -> None:
    path = tmp_path / "login.json"
    path.write_text(text)
    with pytest.raises(ConfigurationError) as refused:
        load_login_settings(path, public_url=PUBLIC, environ={})
    assert why in refused.value.message, refused.value.message


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_a_key_file_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    key_file(tmp_path, mode=mode)
    path = write(tmp_path, {"provider": pkjwt(client_key_file="client-key.json")})
    with pytest.raises(ConfigurationError) as refused:
        load_login_settings(path, public_url=PUBLIC, environ={})
    assert f"too open (mode 0{mode:o})" in refused.value.message
    assert "chmod 600" in refused.value.message


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b'{"kty": "EC"', "private JWK is not valid JSON"),
        (b"[1]", "not an object"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "not an EC private"),
        (b"x" * (64 * 1024 + 1), "larger than"),
    ],
)
def test_a_key_file_that_is_no_private_key_is_refused(
    tmp_path: Path, content: bytes, why: str
) -> None:
    target = tmp_path / "k"
    target.write_bytes(content)
    target.chmod(0o600)
    path = write(tmp_path, {"provider": pkjwt(client_key_file="k")})
    with pytest.raises(ConfigurationError) as refused:
        load_login_settings(path, public_url=PUBLIC, environ={})
    assert why in refused.value.message, refused.value.message


def test_a_public_or_non_p256_key_file_is_refused(tmp_path: Path) -> None:
    _, _key = key_file(tmp_path, curve="P-384")
    path = write(tmp_path, {"provider": pkjwt(client_key_file="client-key.json")})
    with pytest.raises(ConfigurationError, match="private P-256"):
        load_login_settings(path, public_url=PUBLIC, environ={})
    public = tmp_path / "client-key.json"
    public.write_text(json.dumps(ECKey.generate_key("P-256", private=True).as_dict(private=False)))
    with pytest.raises(ConfigurationError, match="private P-256"):
        load_login_settings(path, public_url=PUBLIC, environ={})


# -- two providers, end to end ---------------------------------------------------------------


def _generic_accounts(tmp: Path) -> Path:
    """The test persons as a generic provider knows them: `family_name` for ProConnect's
    `usual_name`, `organization_siret` for `siret` (the bridge maps them back)."""
    accounts = json.loads(ACCOUNTS.read_text())
    for account in accounts["accounts"]:
        claims = account["claims"]
        claims["family_name"] = claims.pop("usual_name")
        claims["organization_siret"] = claims.pop("siret")
    path = tmp / "generic-accounts.json"
    path.write_text(json.dumps(accounts))
    return path


@dataclass
class Two:
    tls: Tls
    issuer: Issuer
    url: str
    proconnect: Standin
    autre: Standin
    #: the public key the `proconnect` client registered (inline jwks)
    client_jwk: dict[str, Any]
    bridge: LoginBridge
    asked: list[str]


@contextmanager
def two_providers(tmp: Path, tls: Tls) -> Iterator[Two]:
    sock, port = bound_socket()
    public = f"https://localhost:{port}"
    uris = {"redirect_uri": f"{public}/login/callback",
            "post_logout_redirect_uri": f"{public}/login/logged-out"}  # fmt: skip
    _, key = key_file(tmp)  # no kid in the file: its thumbprint
    client_jwk = {**key.as_dict(private=False), "kid": key.thumbprint(), "alg": "ES256",
                  "use": "sig"}  # fmt: skip
    with (
        register_server() as (register_url, asked, _),
        loopback_client() as (rp_http, _),
        running_standins(
            tmp, {**uris, "key_client_public_jwk": client_jwk},
            {**uris, "accounts_file": _generic_accounts(tmp)},
        ) as (proconnect, autre),
    ):  # fmt: skip
        # The file names https issuers (the parser refuses others); the stand-ins listen on
        # http loopback, substituted below with a loopback network policy.
        path = write(tmp, {"providers": [
            {"name": "proconnect", "issuer": OP, "client_id": proconnect.key_client_id,
             "client_auth": "private_key_jwt", "client_key_file": "client-key.json"},
            {"name": "autre", "label": "Autre fournisseur", "issuer": "https://b.example",
             "client_id": autre.client_id, "client_secret_env": "AUTRE_SECRET",
             "scopes": ["openid", "profile", "organization", "email", "idp_id"],
             "acr_values": ["eidas1"],
             "claims_mapping": {"family_name": "usual_name", "organization_siret": "siret"}},
        ]})  # fmt: skip
        settings = load_login_settings(
            path, public_url=public, environ={"AUTRE_SECRET": autre.client_secret}
        )
        issuer = make_issuer(tmp / "issuer", port)
        first, second = (
            OidcRelyingParty(replace(c, issuer=s.issuer, policy=LOOPBACK), issuer, rp_http)
            for c, s in zip(settings.providers, (proconnect, autre), strict=True)
        )
        register = RechercheEntreprises(
            rp_http, base_url=register_url, policy=REGISTER_POLICY,
            retry=RetryPolicy(attempts=1), rate=None,
        )  # fmt: skip
        bridge = LoginBridge(first, register, AuthorizationServer(issuer), more_parties=(second,))
        app = create_app(IssuerSettings(issuer, authentication=bridge))
        with serve_on(sock, app, tls) as url:
            yield Two(tls, issuer, url, proconnect, autre, client_jwk, bridge, asked)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory, tls: Tls) -> Iterator[Two]:
    with two_providers(tmp_path_factory.mktemp("two"), tls) as running:
        yield running


@pytest.fixture
def browser(tls: Tls) -> Iterator[Browser]:
    with httpx.Client(trust_env=False, timeout=15, verify=tls.context()) as http:
        yield Browser(http)


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def start(two: Two, browser: Browser, provider: str, configuration: str) -> httpx.Response:
    """Press `provider`'s button on the landing page: the redirect to that provider."""
    landing = browser.http.get(f"{two.url}/login")
    assert landing.status_code == 200
    fields = form_fields(landing.text)
    response = browser.http.post(
        f"{two.url}/login/start",
        data={**fields, "configuration": configuration, "provider": provider},
    )
    assert response.status_code == 303, response.text[:300]
    return response


def to_callback(browser: Browser, two: Two, authorization: str) -> str:
    """Log in at the provider: the URL it sends the browser back to (not followed)."""
    response = browser.go(authorization, until=f"{two.url}/login/callback")
    assert response.status_code in (302, 303), response.text[:300]
    location = response.headers["location"]
    assert location.startswith(f"{two.url}/login/callback?")
    return location


def login_at(two: Two, browser: Browser, provider: str, account: str,
             configuration: str = "LegalPerson") -> httpx.Response:  # fmt: skip
    """A whole login with `provider` from the landing page: the consent page."""
    standin = two.proconnect if provider == "proconnect" else two.autre
    standin.login_as(account)
    sent = start(two, browser, provider, configuration)
    assert sent.headers["location"].startswith(standin.issuer + "/"), sent.headers["location"]
    return browser.http.get(to_callback(browser, two, sent.headers["location"]))


def test_the_landing_page_offers_one_button_per_provider(two: Two, browser: Browser) -> None:
    landing = browser.http.get(f"{two.url}/login")
    buttons = re.findall(r'<button type="submit" class="([a-z-]+)" name="provider" '
                         r'value="([a-z-]+)">', landing.text)  # fmt: skip
    assert buttons == [("proconnect-button", "proconnect"), ("provider-button", "autre")]
    assert "S&#39;identifier avec Autre fournisseur</button>" in landing.text
    # Both providers' origins may receive the form's redirect (CSP form-action).
    csp = landing.headers["content-security-policy"]
    for standin in (two.proconnect, two.autre):
        origin = "/".join(standin.issuer.split("/")[:3])
        assert origin in csp


def test_an_unknown_provider_is_refused(two: Two, browser: Browser) -> None:
    landing = browser.http.get(f"{two.url}/login")
    refused = browser.http.post(f"{two.url}/login/start", data={
        **form_fields(landing.text), "configuration": "LegalPerson", "provider": "evil",
    })  # fmt: skip
    assert error_code(refused) == "invalid_request"


def test_private_key_jwt_from_the_key_file_logs_in_and_its_key_is_published(
    two: Two, browser: Browser
) -> None:
    # The stand-in accepts only private_key_jwt for this client: a login proves the
    # assertion was signed with the file's key.
    page = login_at(two, browser, "proconnect", "john.dupont", "Mandate")
    assert "Vérifiez ce qui sera signé" in page.text, page.text[:500]
    offer = consent(browser, two, page, "accept")
    assert offer.status_code == 200
    assert 'id="offer-uri"' in offer.text
    jwks = browser.http.get(f"{two.url}/login/jwks.json")
    assert jwks.status_code == 200
    assert jwks.headers["content-type"].startswith("application/json")
    assert jwks.json() == {"keys": [two.client_jwk]}  # the public part only: no "d"


def test_a_generic_provider_logs_in_with_its_claims_mapped(two: Two, browser: Browser) -> None:
    page = login_at(two, browser, "autre", "john.dupont", "Mandate")
    assert "Vérifiez ce qui sera signé" in page.text, page.text[:500]
    # `family_name` became usual_name (the director matched), organization_siret the
    # SIRET the register confirmed.
    assert "Dupont" in page.text
    assert "356000000" in page.text
    assert "35600000000048" in two.asked
    offer = consent(browser, two, page, "accept")
    assert offer.status_code == 200, offer.text[:300]


def test_the_same_sub_at_two_providers_is_two_subjects(two: Two, browser: Browser) -> None:
    for provider in ("proconnect", "autre"):
        page = login_at(two, browser, provider, "karim.benali", "LocalRegistrationNumber")
        assert consent(browser, two, page, "accept").status_code == 200
    actors = [e.actor for e in two.issuer.audit_events(limit=50) if e.actor.endswith(
        ":karim.benali")]  # fmt: skip
    assert "proconnect:proconnect-identite:karim.benali" in actors
    assert "autre:proconnect-identite:karim.benali" in actors


def test_a_response_from_the_other_provider_is_refused_as_a_mix_up(
    two: Two, browser: Browser
) -> None:
    """A state issued for `proconnect`, brought back with what `autre` answered (its code,
    its `iss`): checked against proconnect's issuer only, so refused wrong issuer."""
    two.proconnect.login_as("john.dupont")
    two.autre.login_as("john.dupont")
    before = two.issuer.count_credentials()
    for_a = query_of(start(two, browser, "proconnect", "LegalPerson").headers["location"])
    at_b = start(two, browser, "autre", "LegalPerson").headers["location"]
    from_b = query_of(to_callback(browser, two, at_b))
    assert from_b["iss"] == two.autre.issuer  # RFC 9207: the provider names itself
    mixed = {**from_b, "state": for_a["state"]}
    page = browser.http.get(f"{two.url}/login/callback", params=mixed)
    assert error_code(page) == "id_token_wrong_issuer"
    # Without `iss`, from a provider whose metadata says it sends one: refused too (RFC 9207
    # §2.4) — B's code is never sent to A's token endpoint.
    for_a = query_of(start(two, browser, "proconnect", "LegalPerson").headers["location"])
    mixed = {"code": from_b["code"], "state": for_a["state"]}
    page = browser.http.get(f"{two.url}/login/callback", params=mixed)
    assert error_code(page) == "id_token_wrong_issuer"
    assert two.issuer.count_credentials() == before
    # And an ID token B signed (kept for its logout) does not pass A's validation.
    login_at(two, browser, "autre", "john.dupont")
    with two.issuer._transaction() as session:
        token = session.scalars(
            select(LogoutSessionRow.id_token).where(
                LogoutSessionRow.provider == "autre", LogoutSessionRow.id_token != ""
            )
        ).first()
    assert token is not None
    a, b = two.bridge.parties["proconnect"], two.bridge.parties["autre"]
    with pytest.raises(AncreError) as refused:
        a.validate_id_token(token, nonce="n" * 43, acr_values=["eidas1"])
    # Signed with B's keys, which A's JWKS does not have: refused before its `iss` is read.
    assert refused.value.code == Code.ID_TOKEN_INVALID
    with pytest.raises(AncreError) as only_the_nonce:  # B's own checks pass up to the nonce
        b.validate_id_token(token, nonce="n" * 43, acr_values=["eidas1"])
    assert only_the_nonce.value.code == Code.LOGIN_NONCE_INVALID


@pytest.mark.parametrize("provider", ["autre", "proconnect"])
def test_logout_goes_to_the_provider_the_session_logged_in_with(
    two: Two, browser: Browser, provider: str
) -> None:
    page = login_at(two, browser, provider, "john.dupont", "LocalRegistrationNumber")
    offer = consent(browser, two, page, "accept")
    fields = form_fields(offer.text.split('/login/logout"')[1])
    sent = browser.http.post(f"{two.url}/login/logout", data=fields)
    assert sent.status_code == 303, sent.text[:300]
    standin = two.proconnect if provider == "proconnect" else two.autre
    metadata = browser.http.get(f"{standin.issuer}/.well-known/openid-configuration").json()
    location = sent.headers["location"]
    assert location.startswith(metadata["end_session_endpoint"] + "?")
    assert query_of(location)["client_id"] == (
        standin.key_client_id if provider == "proconnect" else standin.client_id
    )


def test_a_wallets_request_lets_the_user_choose_the_provider(two: Two, browser: Browser) -> None:
    two.autre.login_as("john.dupont")
    verifier = secrets.token_urlsafe(48)
    sent = browser.http.get(authorize_url(two.url, "LegalPerson", verifier))
    assert sent.status_code == 303, sent.text[:300]
    choice = sent.headers["location"]
    assert choice.startswith(f"{two.url}/login/choose?request=")
    page = browser.http.get(choice)
    assert page.status_code == 200, page.text[:300]
    assert 'action="' + two.url + '/login/provider"' in page.text
    assert 'value="proconnect"' in page.text
    assert 'value="autre"' in page.text
    fields = form_fields(page.text)
    # Another browser cannot take this request over: its login ends refused, the
    # request stays this browser's.
    with httpx.Client(trust_env=False, timeout=15, verify=two.tls.context()) as other_http:
        other = Browser(other_http)
        other_page = other.http.get(f"{two.url}/login")
        taken = other.http.post(f"{two.url}/login/provider", data={
            **fields, "csrf": form_fields(other_page.text)["csrf"], "provider": "autre",
        })  # fmt: skip
        assert taken.status_code == 303
        back = other.http.get(to_callback(other, two, taken.headers["location"]))
        assert error_code(back) == "invalid_request"
    # The user presses `autre`: that provider's login, then the wallet gets its code.
    started = browser.http.post(f"{two.url}/login/provider", data={**fields, "provider": "autre"})
    assert started.status_code == 303, started.text[:300]
    assert started.headers["location"].startswith(two.autre.issuer + "/")
    page = browser.http.get(to_callback(browser, two, started.headers["location"]))
    # The consent form ends at the wallet: CSP form-action (enforced on the redirect after
    # a form) lets it; the landing page's does not.
    assert "https://wallet.example" in page.headers["content-security-policy"]
    landing = browser.http.get(f"{two.url}/login")
    assert "wallet.example" not in landing.headers["content-security-policy"]
    done = consent(browser, two, page, "accept")
    assert done.status_code == 303, done.text[:300]
    assert done.headers["location"].startswith(WALLET_REDIRECT + "?")
    assert "code" in query_of(done.headers["location"])


def test_a_delegation_approval_lets_the_director_choose_the_provider(two: Two) -> None:
    """With several providers, a delegation's approval link offers each (as a wallet's
    request does), not the first one only; the one pressed is the one logged in with."""
    import html as html_lib

    from ancre.issuer.db import DelegationRow
    from ancre.issuer.delegation import subject_digest

    with (
        httpx.Client(trust_env=False, timeout=15, verify=two.tls.context()) as requester_http,
        httpx.Client(trust_env=False, timeout=15, verify=two.tls.context()) as director_http,
    ):
        requester, director = Browser(requester_http), Browser(director_http)
        # A person the register does not list as a director asks for a Mandate.
        asked = login_at(two, requester, "proconnect", "karim.benali", "Mandate")
        assert asked.status_code == 303, asked.text[:300]
        status = requester.http.get(asked.headers["location"])
        found = re.search(r'id="approval-link"[^>]*>([^<]*)<', status.text)
        assert found is not None, status.text[:500]
        link = html_lib.unescape(found.group(1)).strip()

        page = director.http.get(link)
        assert page.status_code == 200, page.text[:300]
        assert 'action="' + two.url + '/login/delegation/login"' in page.text
        buttons = re.findall(r'name="provider" value="([a-z-]+)"', page.text)
        assert buttons == ["proconnect", "autre"]
        fields = form_fields(page.text)
        # No provider named, or one not configured (crafted POSTs): refused.
        for wrong in ({}, {"provider": "nope"}, {"provider": "x" * 65}):
            refused = director.http.post(
                f"{two.url}/login/delegation/login", data={**fields, **wrong}
            )
            assert error_code(refused) == "invalid_request", wrong
        # The director presses `autre`: that provider's login, then the review page.
        two.autre.login_as("john.dupont")
        started = director.http.post(
            f"{two.url}/login/delegation/login", data={**fields, "provider": "autre"}
        )
        assert started.status_code == 303, started.text[:300]
        assert started.headers["location"].startswith(two.autre.issuer + "/")
        review = director.go(to_callback(director, two, started.headers["location"]),
                             until="never")  # fmt: skip
        assert review.status_code == 200, review.text[:500]
        decision = {k: html_lib.unescape(v) for k, v in form_fields(review.text).items()}
        decided = director.http.post(
            f"{two.url}/login/delegation/decide", data={**decision, "decision": "approve"}
        )
        assert 'data-state="approved"' in decided.text, decided.text[:500]
        with two.issuer._read() as session:
            row = session.get(DelegationRow, decision["delegation"])
        assert row is not None
        assert row.state == "approved"
        # Recorded as the `autre` login (its subject key), not ProConnect's.
        assert row.approver_sha256 is not None
        assert row.approver_sha256 != subject_digest("proconnect:proconnect-identite:john.dupont")


def test_the_choice_needs_the_forms_csrf_token(two: Two, browser: Browser) -> None:
    sent = browser.http.get(authorize_url(two.url, "LegalPerson", secrets.token_urlsafe(48)))
    fields = form_fields(browser.http.get(sent.headers["location"]).text)
    forged = browser.http.post(f"{two.url}/login/provider", data={
        **fields, "csrf": "forged", "provider": "autre",
    })  # fmt: skip
    assert error_code(forged) == "csrf_invalid"


def test_a_state_of_a_provider_no_longer_configured_is_refused(two: Two, browser: Browser) -> None:
    """A login started with `autre`, coming back after a restart whose configuration no
    longer has it: refused, not handed to another provider."""
    browser_id = secrets.token_hex(16)
    pending = two.bridge.server.begin_page("LegalPerson", browser_id)
    sent = two.bridge.start(pending, browser_id, "autre")
    assert isinstance(sent, Redirect)
    state = query_of(sent.url)["state"]
    only_proconnect = LoginBridge(two.bridge.relying_party, two.bridge.register, two.bridge.server)
    request_id, outcome = only_proconnect.resume({"state": state, "code": "c"}, browser_id)
    assert request_id == pending.id
    assert isinstance(outcome, Refused)
    assert outcome.code == Code.LOGIN_STATE_INVALID


def test_a_level_the_provider_cannot_deliver_is_refused_before_the_redirect(
    two: Two, browser: Browser
) -> None:
    # `autre` delivers eidas1 only: no director certification from it, and nobody is sent
    # to it for one.
    landing = browser.http.get(f"{two.url}/login")
    refused = browser.http.post(f"{two.url}/login/start", data={
        **form_fields(landing.text), "configuration": "DirectorCertification",
        "provider": "autre",
    })  # fmt: skip
    assert refused.status_code == 400
    assert error_code(refused) == "acr_too_low"
    # ProConnect delivers it: that login starts, asking for certification-dirigeant only.
    sent = start(two, browser, "proconnect", "DirectorCertification")
    claims = json.loads(query_of(sent.headers["location"])["claims"])
    assert claims["id_token"]["acr"]["values"] == [
        "https://proconnect.gouv.fr/assurance/certification-dirigeant"
    ]


@pytest.mark.parametrize(
    ("uri", "source"),
    [
        ("https://wallet.example/cb?x=1", "https://wallet.example"),
        ("http://127.0.0.1:8080/cb", "http://127.0.0.1:8080"),
        ("http://[::1]:8080/cb", "http://[::1]:8080"),
        ("eu.europa.ec.wallet:/cb", "eu.europa.ec.wallet:"),
        ("https://wallet.example;script-src *@x/cb", ""),
        ("https://a b/cb", ""),
        ("", ""),
    ],
)
def test_a_wallets_redirect_uri_becomes_a_csp_source_or_nothing(uri: str, source: str) -> None:
    from ancre.issuer.authorize_api import _csp_source

    assert _csp_source(uri) == source


def test_serve_refuses_a_wrong_login_configuration_with_its_message(tmp_path: Path) -> None:
    """`ancre issuer serve --login`: a key file others can read, or a key the issuer's key
    store does not have, stops the start (exit 64) with the member named."""
    from _issuer_support import ancre_cli

    folder = tmp_path / "agency"
    init = ancre_cli("issuer", "init", "--dir", str(folder), "--did", "did:web:localhost%3A9")
    assert init.returncode == 0, init.stderr
    key_file(tmp_path, mode=0o644)
    cases = (
        (pkjwt(client_key_file="client-key.json"), "providers[0].client_key_file"),
        (pkjwt(client_key="absent"), "client_key 'absent': no key named 'absent'"),
    )
    for provider, why in cases:
        write(tmp_path, {"providers": [provider]})
        done = ancre_cli(
            "issuer", "serve", "--dir", str(folder), "--port", "9", "--no-accreditation-check",
            "--login", str(tmp_path / "login.json"),
        )  # fmt: skip
        assert done.returncode == 64, done.stderr
        assert why in done.stderr, done.stderr
