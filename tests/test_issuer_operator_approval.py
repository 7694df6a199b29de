"""Operator approval (ancre.issuer.operator_approval), the authorization code grant's
user-authentication step where a person of the issuer decides: the wallet's browser waits on
a self-reloading page, the operator approves (with the claims) or rejects, and the same
browser resumes once — a code, or access_denied, back to the wallet. Over real HTTPS on
loopback; expiry, another browser, single use; and the CLI commands."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from _issuer_support import (
    LEGAL_PERSON_CLAIMS,
    Tls,
    Wallet,
    ancre_cli,
    make_tls,
    proof_jwt,
)

from ancre.issuer.authorize import AuthorizationServer, pkce_s256
from ancre.issuer.operator_approval import OperatorApproval, decide_login, waiting_logins
from ancre.issuer.service import Issuer, IssuerError
from ancre.issuer.templates import Authorization
from ancre.trust.clock import FixedClock, SystemClock
from ancre.trust.errors import AncreError, Code

REDIRECT = "https://wallet.example/cb"
CLIENT = "test-wallet"
VERIFIER = "v" * 50
OPERATOR = Authorization("operator", "bob", register_checked=True)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


def _browser(tls: Tls) -> httpx.Client:
    return httpx.Client(trust_env=False, timeout=10, verify=tls.context())


def _authorize(browser: httpx.Client, url: str, issuer_state: str | None = None) -> httpx.Response:
    query = {
        "response_type": "code",
        "client_id": CLIENT,
        "redirect_uri": REDIRECT,
        "code_challenge": pkce_s256(VERIFIER),
        "code_challenge_method": "S256",
        "scope": "LegalPerson",
        "state": "wallet-state",
    }
    if issuer_state is not None:
        query["issuer_state"] = issuer_state
    return browser.get(f"{url}/authorize?{urlencode(query)}")


def _wait_url(response: httpx.Response, url: str) -> str:
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(f"{url}/login/wait?login=")
    return location


def _login_id(wait_url: str) -> str:
    return parse_qs(urlsplit(wait_url).query)["login"][0]


def _at_wallet(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def _approval(tmp_path: Path, tls: Tls) -> Any:
    """An issuer served with OperatorApproval (its clock fixed, advanced by the tests)."""
    from contextlib import contextmanager

    from _issuer_support import bound_socket, make_issuer, serve_on

    from ancre.issuer.api import IssuerSettings, create_app

    @contextmanager
    def run() -> Iterator[tuple[Issuer, str, FixedClock]]:
        clock = FixedClock(SystemClock().now())
        sock, port = bound_socket()
        issuer = make_issuer(tmp_path / "issuer", port, clock=clock)
        app = create_app(IssuerSettings(issuer, authentication=OperatorApproval(issuer)))
        with serve_on(sock, app, tls) as url:
            yield issuer, url, clock

    return run()


def test_approved_login_gives_the_wallet_a_code_that_issues(tmp_path: Path, tls: Tls) -> None:
    with _approval(tmp_path, tls) as (issuer, url, _), _browser(tls) as browser:
        metadata = browser.get(Wallet.well_known(url, "oauth-authorization-server")).json()
        assert "authorization_code" in metadata["grant_types_supported"]
        state, _ = AuthorizationServer(issuer).create_issuer_state("LegalPerson")
        wait = _wait_url(_authorize(browser, url, state), url)
        page = browser.get(wait)
        assert page.status_code == 200
        assert '<meta http-equiv="refresh"' in page.text
        assert "<script" not in page.text
        (login,) = waiting_logins(issuer)
        assert login.id == _login_id(wait)
        assert (login.configuration_id, login.client_id, login.state) == (
            "LegalPerson", CLIENT, "pending"
        )  # fmt: skip
        assert browser.get(wait).status_code == 200  # still waiting
        assert decide_login(
            issuer, login.id, "approve", actor="bob", claims=LEGAL_PERSON_CLAIMS,
            authorization=OPERATOR,
        ) == "approved"  # fmt: skip
        answer = _at_wallet(browser.get(wait))
        assert answer["state"] == "wallet-state"
        assert answer["iss"] == issuer.public_url
        granted = browser.post(
            f"{url}/token",
            data={
                "grant_type": "authorization_code", "code": answer["code"],
                "code_verifier": VERIFIER, "client_id": CLIENT, "redirect_uri": REDIRECT,
            },
        )  # fmt: skip
        assert granted.status_code == 200, granted.text
        token = granted.json()["access_token"]
        wallet = Wallet(browser)
        proof = proof_jwt(wallet.key, audience=url, nonce=wallet.nonce(url))
        issued = wallet.request(url, token, "LegalPerson", proof)
        assert issued.status_code == 200, issued.text
        assert issuer.count_credentials() == 1
        # Single use: the waiting page of a resumed login is spent.
        spent = browser.get(wait)
        assert spent.status_code == 403
        assert 'id="error-code">login_state_invalid<' in spent.text
        actions = [e.action for e in issuer.audit_events()]
        assert {"login_wait", "login_approve", "authorize"} <= set(actions)
        assert waiting_logins(issuer) == []
        (everything,) = waiting_logins(issuer, everything=True)
        assert (everything.state, everything.decided_by) == ("resumed", "bob")


def test_rejected_login_sends_access_denied(tmp_path: Path, tls: Tls) -> None:
    with _approval(tmp_path, tls) as (issuer, url, _), _browser(tls) as browser:
        wait = _wait_url(_authorize(browser, url), url)
        assert decide_login(issuer, _login_id(wait), "reject", actor="bob") == "rejected"
        answer = _at_wallet(browser.get(wait))
        assert answer["error"] == "access_denied"
        assert answer["error_description"] == str(Code.LOGIN_REJECTED)
        assert "code" not in answer
        # Decided once: neither approved afterwards nor rejected again.
        with pytest.raises(IssuerError) as caught:
            decide_login(issuer, _login_id(wait), "reject", actor="bob")
        assert caught.value.code == Code.CONFLICT
        assert issuer.count_credentials() == 0


def test_expired_login_is_neither_decided_nor_resumed(tmp_path: Path, tls: Tls) -> None:
    with _approval(tmp_path, tls) as (issuer, url, clock), _browser(tls) as browser:
        wait = _wait_url(_authorize(browser, url), url)
        clock.advance(timedelta(minutes=11))
        assert waiting_logins(issuer) == []
        (expired,) = waiting_logins(issuer, everything=True)
        assert expired.state == "expired"
        with pytest.raises(IssuerError) as caught:
            decide_login(
                issuer, expired.id, "approve", actor="bob", claims=LEGAL_PERSON_CLAIMS,
                authorization=OPERATOR,
            )  # fmt: skip
        assert caught.value.code == Code.CONFLICT
        page = browser.get(wait)
        assert page.status_code == 403
        assert "login_state_invalid" in page.text


def test_another_browser_cannot_resume_the_login(tmp_path: Path, tls: Tls) -> None:
    with (
        _approval(tmp_path, tls) as (issuer, url, _),
        _browser(tls) as browser,
        _browser(tls) as other,
    ):
        wait = _wait_url(_authorize(browser, url), url)
        decide_login(
            issuer, _login_id(wait), "approve", actor="bob", claims=LEGAL_PERSON_CLAIMS,
            authorization=OPERATOR,
        )  # fmt: skip
        # No cookie at all, then another browser's own cookie.
        assert other.get(wait).status_code == 403
        _wait_url(_authorize(other, url), url)
        stolen = other.get(wait)
        assert stolen.status_code == 403
        assert "login_state_invalid" in stolen.text
        # The right browser still resumes it, once.
        assert "code" in _at_wallet(browser.get(wait))
        assert browser.get(wait).status_code == 403


def test_approval_checks_the_claims_and_unknown_ids(tmp_path: Path, tls: Tls) -> None:
    with _approval(tmp_path, tls) as (issuer, url, _), _browser(tls) as browser:
        wait = _wait_url(_authorize(browser, url), url)
        with pytest.raises(IssuerError) as unknown:
            decide_login(issuer, "0123456789abcdef", "reject", actor="bob")
        assert unknown.value.status == 404
        with pytest.raises(AncreError):  # the template's own refusal
            decide_login(
                issuer, _login_id(wait), "approve", actor="bob", claims={"name": 3},
                authorization=OPERATOR,
            )  # fmt: skip
        # Still pending after a refused approval.
        assert [login.state for login in waiting_logins(issuer)] == ["pending"]
        assert browser.get(wait).status_code == 200


def test_cli_lists_approves_and_rejects_logins(tmp_path: Path, tls: Tls) -> None:
    claims = tmp_path / "claims.json"
    claims.write_text(json.dumps(LEGAL_PERSON_CLAIMS))
    with _approval(tmp_path, tls) as (_, url, _clock), _browser(tls) as browser:
        d = ["--dir", str(tmp_path / "issuer")]
        first = _wait_url(_authorize(browser, url), url)
        second = _wait_url(_authorize(browser, url), url)
        listed = ancre_cli("issuer", "logins", *d, "--json")
        assert listed.returncode == 0, listed.stderr
        ids = [entry["id"] for entry in json.loads(listed.stdout)]
        assert ids == [_login_id(first), _login_id(second)]
        plain = ancre_cli("issuer", "logins", *d)
        assert _login_id(first) in plain.stdout
        approved = ancre_cli(
            "issuer", "login-approve", ids[0], *d, "--claims", str(claims), "--as", "carol",
            "--register-checked", "--json",
        )  # fmt: skip
        assert approved.returncode == 0, approved.stderr
        assert json.loads(approved.stdout) == {"id": ids[0], "state": "approved"}
        rejected = ancre_cli("issuer", "login-reject", ids[1], *d, "--as", "carol")
        assert rejected.returncode == 0, rejected.stderr
        again = ancre_cli("issuer", "login-reject", ids[1], *d)
        assert again.returncode == 1
        assert "code" in _at_wallet(browser.get(first))
        assert _at_wallet(browser.get(second))["error"] == "access_denied"
        offered = ancre_cli(
            "issuer", "offer", *d, "--type", "LegalPerson", "--grant", "authorization_code",
            "--json",
        )  # fmt: skip
        assert offered.returncode == 0, offered.stderr
        offer = json.loads(offered.stdout)
        assert offer["offer_uri"].startswith("openid-credential-offer://?")
        assert "authorization_code" in offer["offer_uri"]
        _wait_url(_authorize(browser, url, offer["issuer_state"]), url)


def test_cli_refuses_conflicting_options(tmp_path: Path) -> None:
    login = tmp_path / "login.json"
    login.write_text("{}")
    both = ancre_cli(
        "issuer", "serve", "--dir", str(tmp_path / "none"), "--operator-approval",
        "--login", str(login),
    )  # fmt: skip
    assert both.returncode == 64
    assert "--operator-approval and --login" in both.stderr
    claims = tmp_path / "claims.json"
    claims.write_text(json.dumps(LEGAL_PERSON_CLAIMS))
    with_claims = ancre_cli(
        "issuer", "offer", "--dir", str(tmp_path / "none"), "--type", "LegalPerson",
        "--grant", "authorization_code", "--claims", str(claims),
    )  # fmt: skip
    assert with_claims.returncode == 64
    unknown = ancre_cli(
        "issuer", "offer", "--dir", str(tmp_path / "none"), "--type", "LegalPerson",
        "--grant", "implicit", "--claims", str(claims),
    )  # fmt: skip
    assert unknown.returncode == 64


def test_the_landing_page_offers_no_proconnect_login(tmp_path: Path, tls: Tls) -> None:
    """Operator approval is not a ProConnect login: its landing page asks for the credential
    and says an agent checks it; the ProConnect button and link belong to the bridge."""
    with _approval(tmp_path, tls) as (_, url, _), _browser(tls) as browser:
        french = browser.get(f"{url}/login")
        english = browser.get(f"{url}/login?lang=en")
    assert french.status_code == english.status_code == 200
    for page, button in (
        (french, "Demander l&#39;attestation"),
        (english, "Request the credential"),
    ):
        assert "ProConnect" not in page.text
        assert f'<button type="submit">{button}</button>' in page.text
    assert "Un agent de l&#39;émetteur vérifie chaque demande" in french.text
