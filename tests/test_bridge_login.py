"""The ProConnect login bridge end to end: a wallet's authorization code request → the
ProConnect stand-in (the certified `oidc-provider` on loopback) → company-register checks
(recorded answers replayed by a loopback server) → authorization code → credential, verified
by ancre's verifier. Each refusal asserts its stable code and that nothing was issued.

Refusals the real provider cannot be made to produce (an ID token from another issuer or
audience, expired, with another nonce; a userinfo signed by another key) run against a small
scripted provider on loopback (`ForgingProvider`) that signs what the test asks."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from _http_server import loopback_client
from _issuer_support import Tls, Wallet, bound_socket, make_issuer, make_tls, proof_jwt, serve_on
from _oidc_provider import ACCOUNTS, running_standin
from joserfc import jwt
from joserfc.jwk import ECKey

from ancre.issuer.api import IssuerSettings, create_app
from ancre.issuer.authorize import AuthorizationServer, pkce_s256
from ancre.issuer.bridge import LoginBridge
from ancre.issuer.login import OidcRelyingParty, ProviderConfig
from ancre.issuer.registers import DEFAULT_POLICY, RechercheEntreprises, RetryPolicy, Vies
from ancre.issuer.service import Issuer
from ancre.trust.net.guard import NetworkPolicy
from ancre.trust.vcdm.fr_identifiers import is_valid_siren, is_valid_siret

DATA = Path(__file__).parent / "data" / "registers"
LOOPBACK = NetworkPolicy(allow_loopback=True, allow_http=True, timeout=5.0, max_redirects=0)
REGISTER_POLICY = NetworkPolicy(
    allow_loopback=True, allow_http=True, timeout=2.0, max_redirects=0,
    user_agent=DEFAULT_POLICY.user_agent,
)  # fmt: skip
WALLET_REDIRECT = "https://wallet.example/cb"
WALLET_ID = "bridge-test-wallet"
BAD_SIRET = "35600000000049"  # La Poste's SIREN, digit sum not a multiple of 5
CLOSED_SIRET = "35600000049837"
DOWN_SIRET = "80761229600051"  # valid; the replay server answers 503 for it
UNKNOWN_SIRET = next(
    s for s in (f"4433221100{i:04d}" for i in range(10_000))
    if is_valid_siret(s) and is_valid_siren(s[:9])
)  # fmt: skip


# -- company register replay ---------------------------------------------------------------


def _register_answers() -> dict[str, tuple[int, bytes]]:
    la_poste = (DATA / "recherche-entreprises.search.356000000.json").read_bytes()
    return {
        "35600000000048": (200, la_poste),
        CLOSED_SIRET: (
            200,
            (DATA / "recherche-entreprises.search.35600000049837.closed.json").read_bytes(),
        ),
        UNKNOWN_SIRET: (200, (DATA / "recherche-entreprises.search.empty.json").read_bytes()),
        DOWN_SIRET: (503, b'{"erreur": "maintenance"}'),
        "21350001000011": (
            200,
            (DATA / "recherche-entreprises.search.213500010.public-body.json").read_bytes(),
        ),
    }


LA_POSTE_VAT = "FR39356000000"
PUBLIC_BODY_VAT = "FR21213500010"


def _vies_answers() -> dict[str, tuple[int, bytes]]:
    """VIES answers by request path (written from VIES's documented shape, SOURCE.md)."""
    return {
        f"/ms/FR/vat/{LA_POSTE_VAT[2:]}": (
            200, (DATA / "vies.FR39356000000.valid.json").read_bytes(),
        ),
        f"/ms/FR/vat/{PUBLIC_BODY_VAT[2:]}": (
            200, (DATA / "vies.FR27552032534.invalid.json").read_bytes(),
        ),
    }  # fmt: skip


@contextmanager
def register_server() -> Iterator[tuple[str, list[str], dict[str, tuple[int, bytes]]]]:
    answers = _register_answers()
    vies = _vies_answers()
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path.startswith("/ms/"):  # VIES
                asked.append(path)
                status, body = vies.get(path, (404, b"{}"))
            else:
                query = parse_qs(urlsplit(self.path).query).get("q", [""])[0]
                asked.append(query)
                status, body = answers.get(query, (404, b"{}"))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked, vies
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _accounts(tmp: Path) -> Path:
    accounts = json.loads(ACCOUNTS.read_text())
    base = next(a for a in accounts["accounts"] if a["id"] == "karim.benali")
    for name, siret in [
        ("bad.siret", BAD_SIRET), ("closed.siret", CLOSED_SIRET),
        ("unknown.siret", UNKNOWN_SIRET), ("down.register", DOWN_SIRET),
    ]:  # fmt: skip
        person = json.loads(json.dumps(base))
        person["id"] = name
        person["claims"]["email"] = f"{name}@example.test"
        person["claims"]["siret"] = siret
        person["claims"]["siren"] = siret[:9]
        accounts["accounts"].append(person)
    path = tmp / "accounts.json"
    path.write_text(json.dumps(accounts))
    return path


# -- the whole deployment ----------------------------------------------------------------------


@dataclass
class Deployment:
    issuer: Issuer
    url: str
    standin: Any
    asked: list[str]
    tls: Tls
    #: The VIES answers the replay server gives, by path (a test may swap one).
    vies: dict[str, tuple[int, bytes]] = field(default_factory=dict)


@contextmanager
def deployment(
    tmp: Path,
    tls: Tls,
    provider: Callable[[str], Any] | None = None,
    *,
    private_key_jwt: bool = False,
) -> Iterator[Deployment]:
    sock, port = bound_socket()
    public = f"https://localhost:{port}"
    callback = f"{public}/login/callback"
    with (
        register_server() as (register_url, asked, vies_answers),
        loopback_client() as (
            rp_http,
            _,
        ),
    ):
        if provider is None:
            op_context: Any = running_standin(
                tmp,
                redirect_uri=callback,
                accounts_file=_accounts(tmp),
                post_logout_redirect_uri=f"{public}/login/logged-out",
            )
        else:
            op_context = provider(callback)
        with op_context as standin:
            issuer = make_issuer(tmp / "issuer", port)
            config = ProviderConfig(
                name="proconnect",
                issuer=standin.issuer,
                client_id=standin.key_client_id if private_key_jwt else standin.client_id,
                client_secret="" if private_key_jwt else standin.client_secret,
                redirect_uri=callback,
                policy=LOOPBACK,
                client_key=standin.key_client_jwk if private_key_jwt else None,
                post_logout_redirect_uri=f"{public}/login/logged-out",
            )
            register = RechercheEntreprises(
                rp_http, base_url=register_url, policy=REGISTER_POLICY,
                retry=RetryPolicy(attempts=1), rate=None,
            )  # fmt: skip
            vies = Vies(
                rp_http, base_url=register_url, policy=REGISTER_POLICY,
                retry=RetryPolicy(attempts=1), rate=None,
            )  # fmt: skip
            server = AuthorizationServer(issuer)
            bridge = LoginBridge(
                OidcRelyingParty(config, issuer, rp_http), register, server, vies=vies
            )
            app = create_app(IssuerSettings(issuer, authentication=bridge))
            with serve_on(sock, app, tls) as url:
                yield Deployment(issuer, url, standin, asked, tls, vies_answers)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory, tls: Tls) -> Iterator[Deployment]:
    with deployment(tmp_path_factory.mktemp("bridge"), tls) as running:
        yield running


@dataclass
class Browser:
    """A user agent following redirects by hand, keeping cookies (httpx's jar)."""

    http: httpx.Client
    trail: list[str] = field(default_factory=list)

    def go(self, url: str, *, until: str) -> httpx.Response:
        """Follow redirects from `url` until a Location starts with `until` (returned
        without following) or a non-redirect answer."""
        for _ in range(20):
            self.trail.append(url)
            response = self.http.get(url)
            if response.status_code not in (302, 303):
                return response
            location = response.headers["location"]
            if location.startswith("/"):
                parts = urlsplit(url)
                location = f"{parts.scheme}://{parts.netloc}{location}"
            if location.startswith(until):
                return response
            url = location
        raise AssertionError(f"too many redirects: {self.trail}")


@pytest.fixture
def browser(tls: Tls) -> Iterator[Browser]:
    with httpx.Client(trust_env=False, timeout=15, verify=tls.context()) as http:
        yield Browser(http)


def authorize_url(url: str, configuration: str, verifier: str) -> str:
    query = {
        "response_type": "code",
        "client_id": WALLET_ID,
        "redirect_uri": WALLET_REDIRECT,
        "code_challenge": pkce_s256(verifier),
        "code_challenge_method": "S256",
        "authorization_details": json.dumps(
            [{"type": "openid_credential", "credential_configuration_id": configuration}]
        ),
        "state": "w-state",
    }
    return f"{url}/authorize?{urlencode(query)}"


def login(
    d: Deployment, browser: Browser, account: str, configuration: str
) -> tuple[dict[str, str], str]:
    """The browser part: wallet → bridge → provider → bridge → wallet. Returns the query
    the wallet receives and the PKCE verifier."""
    d.standin.login_as(account)
    verifier = secrets.token_urlsafe(48)
    response = browser.go(authorize_url(d.url, configuration, verifier), until=WALLET_REDIRECT)
    if response.status_code == 200:  # the consent page
        response = consent(browser, d, response, "accept")
    assert response.status_code == 303, (response.status_code, response.text[:500])
    query = {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}
    return query, verifier


def form_fields(html: str) -> dict[str, str]:
    """The hidden inputs of a page's form."""
    import re

    return dict(re.findall(r'<input type="hidden" name="([a-z]+)" value="([^"]*)"', html))


def consent(browser: Browser, d: Deployment, page: httpx.Response, decision: str) -> httpx.Response:
    assert "Vérifiez ce qui sera signé" in page.text, page.text[:300]
    fields = form_fields(page.text)
    return browser.http.post(f"{d.url}/login/consent", data={**fields, "decision": decision})


def error_code(page: httpx.Response) -> str:
    import re

    found = re.search(r'id="error-code">([a-z_]+)<', page.text)
    assert found is not None, page.text[:500]
    return found.group(1)


def redeem(d: Deployment, http: httpx.Client, code: str, verifier: str, configuration: str) -> str:
    return redeem_holding(d, http, code, verifier, configuration)[0]


def redeem_holding(
    d: Deployment, http: httpx.Client, code: str, verifier: str, configuration: str
) -> tuple[str, Wallet]:
    """:func:`redeem`, also returning the wallet (its key is the holder key)."""
    token = http.post(
        f"{d.url}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "client_id": WALLET_ID,
            "redirect_uri": WALLET_REDIRECT,
        },
    )
    assert token.status_code == 200, token.text
    wallet = Wallet(http)
    proof = proof_jwt(wallet.key, audience=d.url, nonce=wallet.nonce(d.url))
    response = wallet.request(d.url, token.json()["access_token"], configuration, proof)
    assert response.status_code == 200, response.text
    credential: str = response.json()["credentials"][0]["credential"]
    return credential, wallet


def accounts_siret(d: Deployment, account: str) -> str:
    siret: str = d.standin.accounts[account]["claims"]["siret"]
    return siret


def _payload(vc_jwt: str) -> dict[str, Any]:
    import base64

    body = vc_jwt.split("~")[0].split(".")[1]
    loaded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return loaded


def _disclosed(sd_jwt: str) -> dict[str, Any]:
    """The named disclosures of an issued SD-JWT, by claim name."""
    from ancre.trust.sd_jwt.issue import SdJwt

    return {d.name: d.value for d in SdJwt.parse(sd_jwt).disclosures if d.name is not None}


def _decoded_parts(presented: str) -> list[str]:
    """Every part of an SD-JWT+KB as text: issuer JWT header and payload, each disclosure,
    KB-JWT header and payload (signatures are opaque bytes, not claims)."""
    import base64

    def text(part: str) -> str:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode("utf-8")

    issuer_jwt, *disclosures, kb_jwt = presented.split("~")
    texts = [text(p) for p in issuer_jwt.split(".")[:2]]
    texts += [text(d) for d in disclosures]
    texts += [text(p) for p in kb_jwt.split(".")[:2]]
    return texts


# -- what a login yields -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("account", "configuration"),
    [
        ("john.dupont", "LocalRegistrationNumber"),
        ("john.dupont", "LegalPerson"),
        ("john.dupont", "DirectorCertification"),
        ("john.dupont", "Mandate"),
        ("camille.martin", "AdministrativeService"),
    ],
)
def test_login_yields_the_credential_with_register_evidence(
    deployed: Deployment, browser: Browser, account: str, configuration: str
) -> None:
    before = deployed.issuer.count_credentials()
    query, verifier = login(deployed, browser, account, configuration)
    assert "code" in query, query
    assert query["state"] == "w-state"
    credential = redeem(deployed, browser.http, query["code"], verifier, configuration)
    assert deployed.issuer.count_credentials() == before + 1
    payload = _payload(credential)
    if configuration == "LocalRegistrationNumber":
        assert payload["credentialSubject"]["gx:local"] == "35600000000048"
    if configuration == "LegalPerson":
        assert payload["credentialSubject"]["schema:name"] == "LA POSTE"
    if configuration == "AdministrativeService":
        subject = payload["credentialSubject"]
        assert subject["ancre:serviceLabel"] == "Direction du numérique"
        assert subject["ancre:legalCategory"] == "7210"
        assert subject["ancre:agentRoles"] == ["agent_public", "agent_public_territorial"]
    if configuration in ("LocalRegistrationNumber", "LegalPerson", "AdministrativeService"):
        (evidence,) = payload["evidence"]
    else:
        assert payload["vct"]
        # Personal claims are selectively disclosable, never in the signed payload.
        assert "family_name" not in payload
        assert "given_name" not in payload
        # The register checks too: one disclosable `evidence` claim, same content.
        assert "evidence" not in payload
        (evidence,) = _disclosed(credential)["evidence"]
    assert evidence["ancre:register"] == "recherche-entreprises"
    assert evidence["ancre:query"] == accounts_siret(deployed, account)
    assert evidence["ancre:digestSRI"].startswith("sha256-")
    assert evidence["gx:executionDate"].endswith("Z")
    # The subject key in the audit log is sub + idp_id, never the e-mail.
    actors = {event.actor for event in deployed.issuer.audit_events(10)}
    idp = deployed.standin.accounts[account]["claims"]["idp_id"]
    assert f"proconnect:{idp}:{account}" in actors
    assert not any("@" in actor for actor in actors)


def test_issued_credentials_verify_with_the_verifier(
    deployed: Deployment, browser: Browser
) -> None:
    from ancre.trust.clock import SystemClock
    from ancre.trust.did.resolvers import default_resolver
    from ancre.trust.result import Status
    from ancre.trust.status.checker import StatusListChecker
    from ancre.verifier.pipeline import verify

    network = NetworkPolicy(allow_loopback=True, max_bytes=4 * 1024 * 1024)
    clock = SystemClock()
    resolver = default_resolver(http_client=browser.http, network=network, clock=clock)
    status = StatusListChecker(client=browser.http, resolver=resolver, network=network)
    for configuration in ("LocalRegistrationNumber", "LegalPerson"):
        query, verifier = login(deployed, browser, "john.dupont", configuration)
        credential = redeem(deployed, browser.http, query["code"], verifier, configuration)
        result = verify(credential, resolver=resolver, clock=clock, status=status)
        assert result.status is Status.VALID, result.to_json()
        assert result.issuer == deployed.issuer.did
    query, verifier = login(deployed, browser, "john.dupont", "DirectorCertification")
    credential = redeem(deployed, browser.http, query["code"], verifier, "DirectorCertification")
    result = verify(credential, resolver=resolver, clock=clock, status=status)
    # A bare SD-JWT VC without key binding: everything but the holder binding holds.
    assert [c.code for c in result.errors] == ["key_binding_missing"], result.to_json()


def test_mandate_presented_with_organization_and_role_carries_no_other_personal_claim(
    deployed: Deployment, browser: Browser
) -> None:
    from ancre.trust.clock import SystemClock
    from ancre.trust.did.resolvers import default_resolver
    from ancre.trust.policy import VerificationPolicy
    from ancre.trust.result import Status
    from ancre.trust.sd_jwt.present import present
    from ancre.trust.status.checker import StatusListChecker
    from ancre.verifier.pipeline import verify

    query, verifier = login(deployed, browser, "john.dupont", "Mandate")
    credential, wallet = redeem_holding(deployed, browser.http, query["code"], verifier, "Mandate")
    issued = _disclosed(credential)
    assert {"given_name", "family_name", "role", "evidence"} <= set(issued)
    clock = SystemClock()
    audience, nonce = "https://rp.example", secrets.token_urlsafe(16)
    # The organization (legal_person_identifier, legal_name) is always shown; `role` is
    # the one disclosure the holder picks.
    shown = present(
        credential, ["/role"], holder_key=wallet.key, audience=audience, nonce=nonce, clock=clock
    )
    parts = _decoded_parts(shown)
    assert len(parts) == 2 + 1 + 2  # issuer JWT, the `role` disclosure, KB-JWT
    text = "\n".join(parts).casefold()
    account = deployed.standin.accounts["john.dupont"]
    person = account["claims"]
    personal = [
        person["given_name"],
        person["usual_name"],
        person["email"],
        person["uid"],
        account["id"],
        str(issued["given_name"]),
        str(issued["family_name"]),
        "1964",
    ]
    for value in personal:
        assert value.casefold() not in text, value
    for name in ("given_name", "family_name", "birth", "email", "evidence", "digestSRI"):
        assert name.casefold() not in text, name
    assert str(issued["role"]).casefold() in text
    assert "la poste" in text
    assert "356000000" in text
    network = NetworkPolicy(allow_loopback=True, max_bytes=4 * 1024 * 1024)
    resolver = default_resolver(http_client=browser.http, network=network, clock=clock)
    status = StatusListChecker(client=browser.http, resolver=resolver, network=network)
    policy = VerificationPolicy(audience=audience, nonce=nonce)
    result = verify(shown, resolver=resolver, clock=clock, policy=policy, status=status)
    assert result.status is Status.VALID, result.to_json()
    assert result.credential is not None
    assert set(result.credential) & {"given_name", "family_name", "evidence"} == set()
    assert result.credential["role"] == issued["role"]
    # Shown in full, the evidence is part of what the verifier checks (schema included).
    full = present(
        credential,
        ["/role", "/evidence"],
        holder_key=wallet.key,
        audience=audience,
        nonce=nonce,
        clock=clock,
    )
    result = verify(full, resolver=resolver, clock=clock, policy=policy, status=status)
    assert result.status is Status.VALID, result.to_json()
    assert result.credential is not None
    assert result.credential["evidence"] == issued["evidence"]


# -- refusals: stable code, nothing issued ---------------------------------------------------


@pytest.mark.parametrize(
    ("account", "configuration", "code"),
    [
        ("bad.siret", "LocalRegistrationNumber", "invalid_siret"),
        ("closed.siret", "LocalRegistrationNumber", "establishment_closed"),
        ("unknown.siret", "LegalPerson", "register_not_found"),
        ("down.register", "LocalRegistrationNumber", "register_unavailable"),
        ("karim.benali", "DirectorCertification", "acr_too_low"),
        ("karim.benali", "AdministrativeService", "not_public_agent"),
    ],
)
def test_refusals_reach_the_wallet_with_their_code_and_nothing_is_issued(
    deployed: Deployment, browser: Browser, account: str, configuration: str, code: str
) -> None:
    before = deployed.issuer.count_credentials()
    query, _ = login(deployed, browser, account, configuration)
    assert query == {
        "error": "access_denied",
        "error_description": code,
        "state": "w-state",
        "iss": deployed.url,
    }
    assert deployed.issuer.count_credentials() == before
    events = deployed.issuer.audit_events(1)
    assert events[0].action == "authorization_refused"
    assert json.loads(events[0].details_json)["code"] == code


# -- VatID: VIES decides --------------------------------------------------------------------


def test_vat_id_when_vies_confirms_it_with_both_consultations_as_evidence(
    deployed: Deployment, browser: Browser
) -> None:
    before = deployed.issuer.count_credentials()
    query, verifier = login(deployed, browser, "john.dupont", "VatID")
    assert "code" in query, query
    credential = redeem(deployed, browser.http, query["code"], verifier, "VatID")
    assert deployed.issuer.count_credentials() == before + 1
    payload = _payload(credential)
    assert payload["credentialSubject"]["gx:vatID"] == LA_POSTE_VAT
    assert payload["credentialSubject"]["gx:countryCode"] == "FR"
    register, vies = payload["evidence"]
    assert register["ancre:register"] == "recherche-entreprises"
    assert register["gx:evidenceOf"] == "gx:VatID"
    assert vies["ancre:register"] == "vies"
    assert vies["ancre:query"] == LA_POSTE_VAT
    assert vies["gx:evidenceOf"] == "gx:VatID"
    assert vies["gx:evidenceURL"].endswith("/ms/FR/vat/39356000000")
    assert vies["ancre:consultationNumber"] == "WAPIAAAAZ1a2b3c4"
    assert vies["gx:executionDate"].endswith("Z")
    assert vies["ancre:digestSRI"].startswith("sha256-")


@pytest.mark.parametrize(
    ("account", "vies_answer", "code"),
    [
        # VIES says the number derived from the confirmed SIREN is not valid.
        ("camille.martin", None, "vat_not_registered"),
        # The member state's service is down: indeterminate, never a guess.
        ("john.dupont", (200, "vies.ms-unavailable.json"), "register_unavailable"),
        ("john.dupont", (503, None), "register_unavailable"),
    ],
)
def test_vat_id_refusals_issue_nothing(
    deployed: Deployment,
    browser: Browser,
    account: str,
    vies_answer: tuple[int, str | None] | None,
    code: str,
) -> None:
    path = f"/ms/FR/vat/{LA_POSTE_VAT[2:]}"
    kept = deployed.vies[path]
    if vies_answer is not None:
        status, name = vies_answer
        deployed.vies[path] = (status, (DATA / name).read_bytes() if name else b"{}")
    try:
        before = deployed.issuer.count_credentials()
        query, _ = login(deployed, browser, account, "VatID")
    finally:
        deployed.vies[path] = kept
    assert query == {
        "error": "access_denied",
        "error_description": code,
        "state": "w-state",
        "iss": deployed.url,
    }
    assert deployed.issuer.count_credentials() == before
    assert json.loads(deployed.issuer.audit_events(1)[0].details_json)["code"] == code


def test_vat_id_is_not_offered_without_vies() -> None:
    from typing import cast

    from ancre.issuer.authorize import PendingAuthorization, Refused

    bridge = LoginBridge(cast(Any, None), cast(Any, None), cast(Any, None))
    assert "VatID" not in bridge.configurations
    outcome = bridge.start(PendingAuthorization("r", "wallet", WALLET_REDIRECT, "VatID"), "b")
    assert isinstance(outcome, Refused)
    assert outcome.code == "unknown_credential_configuration"


def _callback_of(browser: Browser, d: Deployment) -> str:
    d.standin.login_as("john.dupont")
    verifier = secrets.token_urlsafe(48)
    response = browser.go(
        authorize_url(d.url, "LocalRegistrationNumber", verifier), until=f"{d.url}/login/callback"
    )
    return str(response.headers["location"])


def test_replayed_missing_or_foreign_state_is_refused(
    deployed: Deployment, browser: Browser, tls: Tls
) -> None:
    before = deployed.issuer.count_credentials()
    callback = _callback_of(browser, deployed)
    first = browser.http.get(callback)
    assert first.status_code == 200  # the consent page
    # Replayed: the state was consumed by the first return.
    again = browser.http.get(callback)
    assert again.status_code == 400
    assert error_code(again) == "login_state_invalid"
    # Missing.
    no_state = callback.replace("state=", "x=")
    assert error_code(browser.http.get(no_state)) == "login_state_invalid"
    # Another browser (no binding cookie, or another one) with a fresh, unused state.
    callback = _callback_of(browser, deployed)
    with httpx.Client(trust_env=False, timeout=10, verify=tls.context()) as other:
        foreign = other.get(callback)
        assert error_code(foreign) == "login_state_invalid"
        other.get(f"{deployed.url}/login")  # a cookie of its own
        assert "__Host-ancre-browser" in other.cookies
        assert error_code(other.get(callback)) == "login_state_invalid"
    # Refused returns never issue; the first one only gave the wallet a code.
    assert deployed.issuer.count_credentials() == before


# -- ID token and userinfo refusals (scripted provider) -------------------------------------


class ForgingProvider:
    """A scripted OpenID provider on loopback: discovery, JWKS, an authorize endpoint that
    redirects straight back with a code, and token/userinfo answers the test shapes."""

    def __init__(self, callback: str) -> None:
        self.key = ECKey.generate_key("P-256", parameters={"alg": "ES256"}, private=True)
        self.key.ensure_kid()
        self.other = ECKey.generate_key("P-256", parameters={"alg": "ES256"}, private=True)
        self.callback = callback
        self.client_id = "forged-client"
        self.client_secret = secrets.token_urlsafe(16)
        self.nonce = ""
        self.id_token_changes: dict[str, Any] = {}
        self.userinfo_key: ECKey | None = None
        self.userinfo_changes: dict[str, Any] = {}
        self.issuer = ""

    def login_as(self, account: str | None) -> None:
        """Everyone is john.dupont here: the answers are scripted."""

    def sign(self, claims: dict[str, Any], key: ECKey | None = None) -> str:
        key = key or self.key
        return jwt.encode({"alg": "ES256", "kid": self.key.kid}, claims, key)

    def id_token(self) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer, "aud": self.client_id, "sub": "john.dupont",
            "exp": now + 60, "iat": now, "nonce": self.nonce, "acr": "eidas1",
            "idp_id": "proconnect-identite",
        }  # fmt: skip
        claims.update(self.id_token_changes)
        return self.sign({k: v for k, v in claims.items() if v is not None})

    def userinfo(self) -> str:
        claims = {
            "iss": self.issuer, "aud": self.client_id, "sub": "john.dupont",
            "siret": "35600000000048", "given_name": "John", "usual_name": "Dupont",
            "idp_id": "proconnect-identite",
        }  # fmt: skip
        claims.update(self.userinfo_changes)
        return self.sign(claims, self.userinfo_key)

    @contextmanager
    def running(self) -> Iterator[ForgingProvider]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def answer(self, status: int, body: bytes, media: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", media)
                self.send_header("Content-Length", str(len(body)))
                if status in (302, 303):
                    self.send_header("Location", body.decode())
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                if path.endswith("/.well-known/openid-configuration"):
                    base = provider.issuer
                    document = {
                        "issuer": base,
                        "authorization_endpoint": f"{base}/authorize",
                        "token_endpoint": f"{base}/token",
                        "userinfo_endpoint": f"{base}/userinfo",
                        "jwks_uri": f"{base}/jwks",
                        "id_token_signing_alg_values_supported": ["ES256", "none", "HS256"],
                        "userinfo_signing_alg_values_supported": ["ES256"],
                    }
                    self.answer(200, json.dumps(document).encode(), "application/json")
                elif path.endswith("/jwks"):
                    keys = {"keys": [provider.key.as_dict(private=False)]}
                    self.answer(200, json.dumps(keys).encode(), "application/json")
                elif path.endswith("/authorize"):
                    params = {k: v[0] for k, v in parse_qs(query).items()}
                    provider.nonce = params["nonce"]
                    back = urlencode({"code": "c0de", "state": params["state"]})
                    self.answer(303, f"{provider.callback}?{back}".encode(), "text/plain")
                elif path.endswith("/userinfo"):
                    self.answer(200, provider.userinfo().encode(), "application/jwt")
                else:
                    self.answer(404, b"{}", "application/json")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                self.rfile.read(length)
                tokens = {"id_token": provider.id_token(), "access_token": "at",
                          "token_type": "Bearer"}  # fmt: skip
                self.answer(200, json.dumps(tokens).encode(), "application/json")

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self.issuer = f"http://127.0.0.1:{server.server_address[1]}/api/v2"
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01})
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join()


@pytest.fixture(scope="module")
def forged(tmp_path_factory: pytest.TempPathFactory, tls: Tls) -> Iterator[Deployment]:
    with deployment(
        tmp_path_factory.mktemp("forged"), tls, lambda cb: ForgingProvider(cb).running()
    ) as running:
        yield running


def _forged_login(d: Deployment, browser: Browser) -> dict[str, str]:
    query, _ = login(d, browser, "john.dupont", "LocalRegistrationNumber")
    return query


def test_the_scripted_provider_logs_in(forged: Deployment, browser: Browser) -> None:
    provider: ForgingProvider = forged.standin
    provider.id_token_changes, provider.userinfo_changes, provider.userinfo_key = {}, {}, None
    query = _forged_login(forged, browser)
    assert "code" in query, query


@pytest.mark.parametrize(
    ("id_token", "userinfo", "key", "code"),
    [
        ({"iss": "https://other.example/api/v2"}, {}, False, "id_token_wrong_issuer"),
        ({"aud": "another-client"}, {}, False, "id_token_wrong_audience"),
        ({"aud": ["forged-client", "x"], "azp": "x"}, {}, False, "id_token_wrong_audience"),
        ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 3700}, {}, False,
         "id_token_expired"),
        ({"nonce": "n" * 43}, {}, False, "login_nonce_invalid"),
        ({"nonce": None}, {}, False, "login_nonce_invalid"),
        ({"acr": "eidas0"}, {}, False, "acr_too_low"),
        ({}, {}, True, "userinfo_invalid"),
        ({}, {"aud": "another-client"}, False, "userinfo_invalid"),
        ({}, {"iss": "https://other.example"}, False, "userinfo_invalid"),
        ({}, {"sub": "someone.else"}, False, "userinfo_invalid"),
    ],
)  # fmt: skip
def test_id_token_and_userinfo_refusals(
    forged: Deployment,
    browser: Browser,
    id_token: dict[str, Any],
    userinfo: dict[str, Any],
    key: bool,
    code: str,
) -> None:
    provider: ForgingProvider = forged.standin
    provider.id_token_changes = id_token
    provider.userinfo_changes = userinfo
    provider.userinfo_key = provider.other if key else None
    before = forged.issuer.count_credentials()
    query = _forged_login(forged, browser)
    assert query.get("error_description") == code, query
    assert query["error"] == "access_denied"
    assert forged.issuer.count_credentials() == before


# -- pages: landing → login → consent → offer ----------------------------------------------


def start_from_landing(
    d: Deployment, browser: Browser, account: str, configuration: str, lang: str = "fr"
) -> httpx.Response:
    d.standin.login_as(account)
    landing = browser.http.get(f"{d.url}/login?lang={lang}")
    assert landing.status_code == 200
    fields = form_fields(landing.text)
    response = browser.http.post(
        f"{d.url}/login/start", data={**fields, "configuration": configuration}
    )
    assert response.status_code == 303, response.text[:300]
    return browser.go(response.headers["location"], until="never")


def test_landing_consent_offer_then_the_wallet_redeems(
    deployed: Deployment, browser: Browser
) -> None:
    landing = browser.http.get(f"{deployed.url}/login")
    assert landing.headers["content-type"].startswith("text/html")
    csp = landing.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "script-src" not in csp  # no script at all (default-src 'none')
    assert "frame-ancestors 'none'" in csp
    assert '<html lang="fr">' in landing.text
    assert "S&#39;identifier avec" in landing.text
    assert "<script" not in landing.text
    assert "style=" not in landing.text
    cookie = landing.headers["set-cookie"]
    for attribute in ("HttpOnly", "Secure", "SameSite=Lax", "Path=/"):
        assert attribute in cookie

    before = deployed.issuer.count_credentials()
    page = start_from_landing(deployed, browser, "john.dupont", "Mandate")
    assert page.status_code == 200
    # Consent lists exactly the claims to be signed, and which are disclosable.
    assert "LA POSTE" in page.text
    # given_name, family_name, role, and the register checks (the `evidence` claim)
    assert page.text.count("divulgation sélective") == 4
    offer_page = consent(browser, deployed, page, "accept")
    assert offer_page.status_code == 200, offer_page.text[:300]
    assert deployed.issuer.count_credentials() == before
    import html as html_lib
    import re

    found = re.search(r'id="offer-uri">([^<]+)<', offer_page.text)
    assert found is not None
    offer_uri = html_lib.unescape(found.group(1))
    assert offer_uri.startswith("openid-credential-offer://?credential_offer_uri=")
    tx_code = re.search(r'id="tx-code">([0-9]+)<', offer_page.text)
    assert tx_code is not None
    credential = Wallet(browser.http).obtain(offer_uri, tx_code.group(1))
    assert deployed.issuer.count_credentials() == before + 1
    assert "~" in credential  # an SD-JWT VC


def test_pages_in_english_and_refusal_page(deployed: Deployment, browser: Browser) -> None:
    english = browser.http.get(f"{deployed.url}/login", headers={"Accept-Language": "en-GB"})
    assert '<html lang="en">' in english.text
    assert "Log in with" in english.text
    before = deployed.issuer.count_credentials()
    page = start_from_landing(deployed, browser, "closed.siret", "LocalRegistrationNumber", "en")
    assert page.status_code == 400
    assert error_code(page) == "establishment_closed"
    assert "establishment is closed" in page.text
    assert deployed.issuer.count_credentials() == before


def test_declined_consent_issues_nothing(deployed: Deployment, browser: Browser) -> None:
    before = deployed.issuer.count_credentials()
    page = start_from_landing(deployed, browser, "john.dupont", "LocalRegistrationNumber")
    refused = consent(browser, deployed, page, "refuse")
    assert error_code(refused) == "consent_refused"
    # The held approval is gone: accepting afterwards does nothing.
    accepted = consent(browser, deployed, page, "accept")
    assert accepted.status_code == 400
    assert deployed.issuer.count_credentials() == before


def test_forms_need_their_csrf_token(deployed: Deployment, browser: Browser) -> None:
    browser.http.get(f"{deployed.url}/login")
    for path, data in [
        ("/login/start", {"configuration": "LegalPerson"}),
        ("/login/start", {"configuration": "LegalPerson", "csrf": "forged"}),
        ("/login/consent", {"request": "x", "decision": "accept"}),
    ]:
        response = browser.http.post(f"{deployed.url}{path}", data=data)
        assert response.status_code == 403
        assert error_code(response) == "csrf_invalid"


def test_private_key_jwt_client_authentication(tmp_path: Path, tls: Tls, browser: Browser) -> None:
    with deployment(tmp_path, tls, private_key_jwt=True) as d:
        query, verifier = login(d, browser, "john.dupont", "LocalRegistrationNumber")
        assert "code" in query, query
        redeem(d, browser.http, query["code"], verifier, "LocalRegistrationNumber")
        assert d.issuer.count_credentials() == 1


# -- RP-initiated logout -----------------------------------------------------------------------


def _logout_form(d: Deployment, browser: Browser) -> dict[str, str]:
    """Log in through the pages to the offer page, which offers the logout; its form."""
    import re

    page = start_from_landing(d, browser, "john.dupont", "LocalRegistrationNumber")
    offer_page = consent(browser, d, page, "accept")
    assert offer_page.status_code == 200, offer_page.text[:300]
    form = re.search(r'<form method="post" action="([^"]+/login/logout)"', offer_page.text)
    assert form is not None, offer_page.text
    return form_fields(offer_page.text.split('/login/logout"')[1])


def _provider_confirms_logout(browser: Browser, page: httpx.Response, op: str) -> httpx.Response:
    """The stand-in's logout page auto-submits its form with a script (ProConnect just
    redirects); a browser without script submits it as the script would."""
    import html as html_lib
    import re

    action = re.search(r'<form[^>]*id="op.logoutForm"[^>]*action="([^"]+)"', page.text) or (
        re.search(r'<form[^>]*action="([^"]+)"[^>]*id="op.logoutForm"', page.text)
    )
    assert action is not None, page.text[:800]
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    url = html_lib.unescape(action.group(1))
    if url.startswith("/"):
        url = op.split("/", 3)[0] + "//" + op.split("/", 3)[2] + url
    return browser.http.post(url, data={**fields, "logout": "yes"})


def test_logout_goes_through_the_provider_and_comes_back(
    deployed: Deployment, browser: Browser
) -> None:
    fields = _logout_form(deployed, browser)
    sent = browser.http.post(f"{deployed.url}/login/logout", data=fields)
    assert sent.status_code == 303, sent.text[:300]
    location = sent.headers["location"]
    end_session = browser.http.get(f"{deployed.standin.issuer}/.well-known/openid-configuration")
    assert location.startswith(end_session.json()["end_session_endpoint"] + "?")
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    # The registered URI, never one from the request; a state; the kept ID token.
    assert query["post_logout_redirect_uri"] == f"{deployed.url}/login/logged-out"
    assert len(query["state"]) >= 32
    assert query["id_token_hint"].count(".") == 2
    op_page = browser.http.get(location)
    assert op_page.status_code == 200, op_page.text[:300]
    back = _provider_confirms_logout(browser, op_page, deployed.standin.issuer)
    assert back.status_code in (302, 303), back.text[:300]
    returned = back.headers["location"]
    assert returned == f"{deployed.url}/login/logged-out?state={query['state']}"
    done = browser.http.get(returned)
    assert done.status_code == 200, done.text[:300]
    assert 'data-scope="provider"' in done.text
    assert "Max-Age=0" in done.headers["set-cookie"]
    # The state is single use, and the ID token too: a second logout finds no login.
    assert error_code(browser.http.get(returned)) == "login_state_invalid"


def test_logout_ignores_a_redirect_uri_from_the_request_and_is_single_use(
    deployed: Deployment, browser: Browser
) -> None:
    fields = _logout_form(deployed, browser)
    sent = browser.http.post(
        f"{deployed.url}/login/logout",
        data={**fields, "post_logout_redirect_uri": "https://evil.example/"},
    )
    assert sent.status_code == 303
    assert "evil.example" not in sent.headers["location"]
    again = browser.http.post(f"{deployed.url}/login/logout", data=fields)
    assert again.status_code == 400
    assert error_code(again) == "login_state_invalid"


def test_logout_needs_its_csrf_token_and_a_login(deployed: Deployment, browser: Browser) -> None:
    fields = _logout_form(deployed, browser)
    forged = browser.http.post(f"{deployed.url}/login/logout", data={**fields, "csrf": "x" * 43})
    assert forged.status_code == 403
    assert error_code(forged) == "csrf_invalid"
    # A fresh browser that never logged in has nothing to log out of.
    with httpx.Client(trust_env=False, timeout=15, verify=deployed.tls.context()) as http:
        landing = http.get(f"{deployed.url}/login")
        csrf = form_fields(landing.text)["csrf"]
        nothing = http.post(f"{deployed.url}/login/logout", data={"csrf": csrf})
        assert error_code(nothing) == "login_state_invalid"


def test_logged_out_refuses_a_forged_or_foreign_state(
    deployed: Deployment, browser: Browser
) -> None:
    fields = _logout_form(deployed, browser)
    sent = browser.http.post(f"{deployed.url}/login/logout", data=fields)
    state = parse_qs(urlsplit(sent.headers["location"]).query)["state"][0]
    forged = browser.http.get(f"{deployed.url}/login/logged-out?state={'A' * 43}")
    assert error_code(forged) == "login_state_invalid"
    # Another browser cannot use this browser's state.
    with httpx.Client(trust_env=False, timeout=15, verify=deployed.tls.context()) as http:
        http.get(f"{deployed.url}/login")
        other = http.get(f"{deployed.url}/login/logged-out?state={state}")
        assert error_code(other) == "login_state_invalid"
    # The right browser still can, once.
    done = browser.http.get(f"{deployed.url}/login/logged-out?state={state}")
    assert 'data-scope="provider"' in done.text


def test_without_end_session_endpoint_only_ancre_session_ends(
    deployed: Deployment, browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ancre.issuer.login import OidcRelyingParty

    monkeypatch.setattr(OidcRelyingParty, "end_session_endpoint", lambda self: None)
    fields = _logout_form(deployed, browser)
    page = browser.http.post(f"{deployed.url}/login/logout", data=fields)
    assert page.status_code == 200, page.text[:300]
    assert 'data-scope="local"' in page.text
    assert "session ProConnect reste ouverte" in page.text
    assert "Max-Age=0" in page.headers["set-cookie"]
