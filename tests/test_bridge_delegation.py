"""Delegation of a Mandate by a director (issue 14), end to end over real servers: the
ProConnect stand-in (the certified `oidc-provider` on loopback), the company-register replay
server, `ancre`'s issuer over TLS. A person the register does not list as a director asks for
a Mandate → a delegation request and its approval link; a director of the same organization
logs in separately and approves (or rejects) it; the requester's next login yields the
Mandate, whose `evidence` records the delegation. Every refusal asserts its stable code and
that nothing was issued. Also the offer page: QR code, deep link, tx_code shown once."""

from __future__ import annotations

import base64
import hashlib
import html as html_lib
import json
import re
import secrets
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from _issuer_support import Tls, Wallet, make_issuer, make_tls, open_issuer
from _oidc_provider import ACCOUNTS, running_standin
from sqlalchemy import select
from test_bridge_login import (
    WALLET_REDIRECT,
    Browser,
    Deployment,
    _disclosed,
    authorize_url,
    consent,
    deployment,
    error_code,
    form_fields,
    start_from_landing,
)

from ancre.issuer.db import CredentialRow, DelegationRow, OfferRow
from ancre.issuer.delegation import DEFAULT_ROLE, DEFAULT_ROLES, Delegations, subject_digest
from ancre.issuer.service import IssuerError
from ancre.trust.errors import Code

LA_POSTE_SIREN = "356000000"
#: Subject keys as the bridge builds them: provider name, idp_id, sub (the account id).
KARIM = "proconnect:proconnect-identite:karim.benali"


def _accounts(tmp: Path) -> Path:
    """The stand-in's persons, plus a colleague of Karim at La Poste (not a director)."""
    accounts = json.loads(ACCOUNTS.read_text())
    karim = next(a for a in accounts["accounts"] if a["id"] == "karim.benali")
    colleague = json.loads(json.dumps(karim))
    colleague["id"] = "nadia.petit"
    colleague["claims"].update(
        given_name="Nadia", usual_name="Petit", email="nadia.petit@laposte.example"
    )
    accounts["accounts"].append(colleague)
    path = tmp / "accounts.json"
    path.write_text(json.dumps(accounts))
    return path


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory, tls: Tls) -> Iterator[Deployment]:
    tmp = tmp_path_factory.mktemp("delegation")

    def provider(callback: str) -> Any:
        public = callback.removesuffix("/login/callback")
        return running_standin(
            tmp, redirect_uri=callback, accounts_file=_accounts(tmp),
            post_logout_redirect_uri=f"{public}/login/logged-out",
        )  # fmt: skip

    with deployment(tmp, tls, provider) as running:
        yield running


@pytest.fixture
def browsers(tls: Tls) -> Iterator[Any]:
    """A factory of browsers, each with its own cookies (a separate provider session)."""
    clients: list[httpx.Client] = []

    def new() -> Browser:
        client = httpx.Client(trust_env=False, timeout=15, verify=tls.context())
        clients.append(client)
        return Browser(client)

    yield new
    for client in clients:
        client.close()


def _rows(d: Deployment) -> list[DelegationRow]:
    with d.issuer._read() as session:
        return list(session.scalars(select(DelegationRow).order_by(DelegationRow.created_at)))


def _issued(d: Deployment) -> int:
    with d.issuer._read() as session:
        return len(session.scalars(select(CredentialRow)).all())


def _offers(d: Deployment) -> int:
    with d.issuer._read() as session:
        return len(session.scalars(select(OfferRow)).all())


def _text(page: httpx.Response, element: str) -> str:
    found = re.search(rf'id="{element}"[^>]*>([^<]*)<', page.text)
    assert found is not None, (element, page.text[:800])
    return html_lib.unescape(found.group(1)).strip()


def ask(d: Deployment, requester: Browser, account: str = "karim.benali") -> httpx.Response:
    """The requester logs in for a Mandate from the landing page: the delegation's page."""
    page = start_from_landing(d, requester, account, "Mandate")
    assert page.status_code == 200, page.text[:500]
    assert urlsplit(requester.trail[-1]).path == "/login/delegation"
    return page


def director_login(d: Deployment, director: Browser, link: str, account: str) -> httpx.Response:
    """A director opens the approval link and logs in: the review page (or a refusal)."""
    d.standin.login_as(account)
    landing = director.http.get(link)
    assert landing.status_code == 200, landing.text[:500]
    response = director.http.post(f"{d.url}/login/delegation/login", data=form_fields(landing.text))
    assert response.status_code == 303, response.text[:500]
    return director.go(response.headers["location"], until="never")


def decide(d: Deployment, director: Browser, review: httpx.Response, decision: str) -> Any:
    fields = {k: html_lib.unescape(v) for k, v in form_fields(review.text).items()}
    return director.http.post(
        f"{d.url}/login/delegation/decide", data={**fields, "decision": decision}
    )


def test_a_director_approves_and_the_requester_receives_a_mandate_recording_it(
    deployed: Deployment, browsers: Any
) -> None:
    d = deployed
    before = _issued(d)
    requester = browsers()
    status = ask(d, requester)
    assert _text(status, "delegation-state") != ""
    assert 'data-state="pending"' in status.text
    assert _text(status, "organization") == "LA POSTE"
    assert _text(status, "requester") == "Karim Benali"
    assert _text(status, "role") == DEFAULT_ROLE
    link = _text(status, "approval-link")
    assert link.startswith(f"{d.url}/login/delegation/approve?code=")
    (row,) = [r for r in _rows(d) if r.state == "pending" and r.requester_key == KARIM]
    assert row.siren == LA_POSTE_SIREN
    # The approval code is kept hashed only.
    code = parse_qs(urlsplit(link).query)["code"][0]
    assert len(code) >= 43
    assert row.approval_sha256 == hashlib.sha256(code.encode()).hexdigest()
    assert code not in json.dumps([str(v) for v in vars(row).values()])
    assert (row.expires_at - row.created_at) == timedelta(days=7)
    assert _issued(d) == before

    # The director's approval link shows the organization, not yet who asks.
    director = browsers()
    landing = director.http.get(link)
    assert "LA POSTE" in landing.text
    assert "Karim" not in landing.text
    # One provider: its button, no choice to make.
    assert 'name="provider"' not in landing.text
    review = director_login(d, director, link, "john.dupont")
    assert review.status_code == 200, review.text[:500]
    assert _text(review, "requester") == "Karim Benali"
    assert _text(review, "siren") == LA_POSTE_SIREN
    decided = decide(d, director, review, "approve")
    assert decided.status_code == 200, decided.text[:500]
    assert 'data-state="approved"' in decided.text
    # Single use: the same decision again, and the link again, are refused.
    again = decide(d, director, review, "reject")
    assert error_code(again) == "delegation_already_decided"
    assert error_code(director.http.get(link)) == "delegation_already_decided"
    assert _issued(d) == before

    # The requester's page now offers the Mandate: a new login, consent, offer.
    status = requester.http.get(requester.trail[-1])
    assert 'data-state="approved"' in status.text
    assert "approval-link" not in status.text
    d.standin.login_as("karim.benali")
    started = requester.http.post(f"{d.url}/login/start", data={**form_fields(status.text)})
    assert started.status_code == 303, started.text[:500]
    page = requester.go(started.headers["location"], until="never")
    assert "Karim" in page.text
    assert "LA POSTE" in page.text
    offer_page = consent(requester, d, page, "accept")
    assert offer_page.status_code == 200, offer_page.text[:500]
    offer_uri = _text(offer_page, "offer-uri")
    credential = Wallet(requester.http).obtain(offer_uri, _text(offer_page, "tx-code"))
    assert _issued(d) == before + 1

    disclosed = _disclosed(credential)
    assert disclosed["role"] == DEFAULT_ROLE
    assert disclosed["given_name"] == "Karim"
    payload = json.loads(base64.urlsafe_b64decode(credential.split(".")[1] + "==").decode())
    assert payload["full_powers"] is False
    assert payload["legal_person_identifier"] == LA_POSTE_SIREN
    evidence = disclosed["evidence"]
    kinds = [e["type"][0] for e in evidence]
    assert kinds.count("ancre:DelegationApproval") == 1
    approval = next(e for e in evidence if e["type"][0] == "ancre:DelegationApproval")
    john = "proconnect:proconnect-identite:john.dupont"
    assert approval["ancre:approvedBy"] == subject_digest(john)
    assert approval["gx:executionDate"].endswith("Z")
    # The director's register check is there, and no personal data of theirs in clear.
    assert any(e.get("gx:evidenceOf") == "ancre:DelegationApprover" for e in evidence)
    assert "Dupont" not in json.dumps(evidence)
    assert "john" not in json.dumps(evidence)
    (used,) = [r for r in _rows(d) if r.id == row.id]
    assert used.state == "used"
    assert used.approver_sha256 == subject_digest(john)

    # One Mandate per approval: logging in again asks for a new delegation.
    requester.trail.clear()
    status = ask(d, requester)
    assert 'data-state="pending"' in status.text
    assert _issued(d) == before + 1


def test_refusals_of_a_delegation_issue_nothing(deployed: Deployment, browsers: Any) -> None:
    d = deployed
    before, offers_before = _issued(d), _offers(d)
    requester = browsers()
    status = ask(d, requester)
    link = _text(status, "approval-link")

    # The requester cannot approve their own request (here in another browser).
    refused = director_login(d, browsers(), link, "karim.benali")
    assert refused.status_code == 400
    assert error_code(refused) == "delegation_self_approval"
    # A colleague the register does not list as a director.
    refused = director_login(d, browsers(), link, "nadia.petit")
    assert error_code(refused) == "delegation_not_director"
    # A person logged in for another organization (a public body's agent).
    refused = director_login(d, browsers(), link, "camille.martin")
    assert error_code(refused) == "delegation_organization_mismatch"

    # A director's review page is theirs only: another browser, no CSRF token, refused.
    director = browsers()
    review = director_login(d, director, link, "john.dupont")
    delegation_id = form_fields(review.text)["delegation"]
    outsider = browsers()
    outsider.http.get(f"{d.url}/login")
    assert (
        error_code(outsider.http.get(f"{d.url}/login/delegation/review?id={delegation_id}"))
        == "delegation_unknown"
    )
    forged = outsider.http.post(
        f"{d.url}/login/delegation/decide",
        data={**form_fields(review.text), "csrf": "forged", "decision": "approve"},
    )
    assert error_code(forged) == "csrf_invalid"
    without = director.http.post(
        f"{d.url}/login/delegation/decide",
        data={"delegation": delegation_id, "decision": "approve"},
    )
    assert without.status_code == 403
    assert error_code(without) == "csrf_invalid"

    # The director rejects: the requester's page says so; no Mandate.
    rejected = decide(d, director, review, "reject")
    assert 'data-state="rejected"' in rejected.text
    status = requester.http.get(requester.trail[-1])
    assert error_code(status) == "delegation_rejected"
    assert "/login/start" not in status.text
    (row,) = [r for r in _rows(d) if r.id == delegation_id]
    assert row.state == "rejected"

    # An expired request: its approval link is refused.
    requester = browsers()
    status = ask(d, requester, "nadia.petit")
    link = _text(status, "approval-link")
    with d.issuer._transaction() as session:
        pending = session.scalars(
            select(DelegationRow).where(
                DelegationRow.requester_key == "proconnect:proconnect-identite:nadia.petit",
                DelegationRow.state == "pending",
            )
        ).one()
        pending.expires_at = d.issuer.clock.now() - timedelta(seconds=1)
    expired = browsers().http.get(link)
    assert expired.status_code == 410
    assert error_code(expired) == "delegation_expired"
    # A made-up approval code.
    unknown = browsers().http.get(f"{d.url}/login/delegation/approve?code={'A' * 43}")
    assert error_code(unknown) == "delegation_unknown"

    # Nothing issued, no offer made, on any refusal.
    assert _issued(d) == before
    assert _offers(d) == offers_before


def test_a_wallet_started_mandate_for_a_non_director_becomes_a_delegation_request(
    deployed: Deployment, browsers: Any
) -> None:
    d = deployed
    before, offers_before = _issued(d), _offers(d)
    browser = browsers()
    d.standin.login_as("nadia.petit")
    verifier = secrets.token_urlsafe(48)
    page = browser.go(authorize_url(d.url, "Mandate", verifier), until=WALLET_REDIRECT)
    # The browser lands on the request's page, never back at the wallet with a code.
    assert page.status_code == 200, page.text[:500]
    assert urlsplit(browser.trail[-1]).path == "/login/delegation"
    assert not any(url.startswith(WALLET_REDIRECT) for url in browser.trail)
    first_link = _text(page, "approval-link")
    # Asking again while it waits renews the code: one request, the old link is dead.
    page = browser.go(authorize_url(d.url, "Mandate", verifier), until=WALLET_REDIRECT)
    second_link = _text(page, "approval-link")
    assert second_link != first_link
    nadia = "proconnect:proconnect-identite:nadia.petit"
    assert len([r for r in _rows(d) if r.requester_key == nadia and r.state == "pending"]) == 1
    assert error_code(browsers().http.get(first_link)) == "delegation_unknown"
    assert browsers().http.get(second_link).status_code == 200
    # The requester's page needs its code.
    forged = browser.http.get(f"{d.url}/login/delegation?id={form_id(page)}&code=x")
    assert error_code(forged) == "delegation_unknown"
    assert (_issued(d), _offers(d)) == (before, offers_before)


def form_id(page: httpx.Response) -> str:
    """The delegation id in the URL of the requester's page."""
    return parse_qs(urlsplit(str(page.url)).query)["id"][0]


def test_the_offer_page_shows_qr_link_and_tx_code_once(deployed: Deployment, browsers: Any) -> None:
    d = deployed
    browser = browsers()
    page = start_from_landing(d, browser, "john.dupont", "LegalPerson")
    offer_page = consent(browser, d, page, "accept")
    assert offer_page.status_code == 200
    csp = offer_page.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "script-src" not in csp
    assert offer_page.headers["cache-control"] == "no-store"
    assert "<script" not in offer_page.text
    assert "data:" not in offer_page.text
    offer_uri = _text(offer_page, "offer-uri")
    assert offer_uri.startswith("openid-credential-offer://?credential_offer_uri=")
    link = re.search(r'id="offer-link" href="([^"]+)"', offer_page.text)
    assert link is not None
    assert html_lib.unescape(link.group(1)) == offer_uri
    svg = re.search(r'<figure class="qr" id="offer-qr"><svg ([^>]*)>', offer_page.text)
    assert svg is not None
    assert 'role="img"' in svg.group(1)
    assert "aria-label=" in svg.group(1)
    tx_code = _text(offer_page, "tx-code")
    assert re.fullmatch(r"[0-9]{4,8}", tx_code)
    offer = Wallet(browser.http).fetch_offer(offer_uri)
    grant = offer["grants"]["urn:ietf:params:oauth:grant-type:pre-authorized_code"]
    assert grant["tx_code"]["length"] == len(tx_code)
    # A reload re-posts the consent: the request is spent, the tx_code is not shown again.
    reloaded = consent(browser, d, page, "accept")
    assert reloaded.status_code == 400
    assert "tx-code" not in reloaded.text
    assert tx_code not in reloaded.text
    # The QR code carries the deep link: segno decodes nothing here, so compare by
    # regenerating it.
    from ancre.issuer.pages import offer_qr_svg

    regenerated = offer_qr_svg(offer_uri, "fr")
    assert regenerated is not None
    assert str(regenerated) in offer_page.text
    # Without the tx_code the wallet gets nothing.
    token = browser.http.post(
        f"{d.url}/token",
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:pre-authorized_code",
            "pre-authorized_code": grant["pre-authorized_code"],
        },
    )
    assert token.status_code == 400


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_replicas_take_a_delegation_decision_and_spend_an_approval_once(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    database = None
    if backend == "postgresql":
        from _postgres import fresh_database

        database = fresh_database(request.getfixturevalue("postgres_server"))
    first = make_issuer(tmp_path / "issuer", 8443, database=database)
    second = open_issuer(tmp_path / "issuer")  # its own engine on the same database
    a, b = Delegations(first), Delegations(second)
    shown, _code = a.request(
        requester_key=KARIM, requester_name="Karim Benali", siren=LA_POSTE_SIREN,
        organization_name="LA POSTE",
    )  # fmt: skip
    director_browser = secrets.token_urlsafe(32)
    b.approver_checked(
        shown.id, approver_key="proconnect:x:john.dupont", browser=director_browser,
        evidence=[{"type": ["ancre:RegisterCheck"]}],
    )  # fmt: skip
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def decide_on(replica: Delegations, decision: Any) -> None:
        barrier.wait()
        try:
            outcomes.append(replica.decide(shown.id, decision, director_browser).state)
        except IssuerError as error:
            outcomes.append(str(error.code))

    threads = [
        threading.Thread(target=decide_on, args=(a, "approve")),
        threading.Thread(target=decide_on, args=(b, "approve")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["approved", str(Code.DELEGATION_ALREADY_DECIDED)]
    # Another browser may not decide, whichever replica it reaches.
    with pytest.raises(IssuerError) as other:
        a.for_review(shown.id, secrets.token_urlsafe(32))
    assert other.value.code is Code.DELEGATION_UNKNOWN

    spent: list[Any] = []
    barrier = threading.Barrier(2)

    def spend_on(replica: Delegations) -> None:
        barrier.wait()
        try:
            spent.append(replica.spend_approved(KARIM, LA_POSTE_SIREN))
        except IssuerError as error:
            spent.append(error.code)

    threads = [threading.Thread(target=spend_on, args=(r,)) for r in (a, b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    won = [s for s in spent if s is not None and not isinstance(s, Code)]
    assert len(won) == 1, spent
    assert won[0].evidence[0]["ancre:approvedBy"] == subject_digest("proconnect:x:john.dupont")
    assert a.spend_approved(KARIM, LA_POSTE_SIREN) is None
    assert b.spend_approved(KARIM, LA_POSTE_SIREN) is None
    first.engine.dispose()
    second.engine.dispose()


def test_the_delegation_lifetime_comes_from_the_login_configuration(tmp_path: Path) -> None:
    from ancre.issuer.bridge import build_login_bridge, load_login_settings
    from ancre.trust.errors import ConfigurationError

    provider = {"issuer": "https://op.example", "client_id": "a", "client_secret_env": "S"}
    path = tmp_path / "login.json"
    path.write_text(json.dumps({"provider": provider}))
    settings = load_login_settings(path, public_url="https://i.example", environ={"S": "x"})
    assert settings.delegation_lifetime == timedelta(days=7)
    path.write_text(json.dumps({"provider": provider, "delegation": {"lifetime_days": 2}}))
    settings = load_login_settings(path, public_url="https://i.example", environ={"S": "x"})
    assert settings.delegation_lifetime == timedelta(days=2)
    issuer = make_issuer(tmp_path / "issuer", 8443)
    bridge = build_login_bridge(issuer, settings)
    shown, _ = bridge.delegations.request(
        requester_key=KARIM, requester_name="Karim Benali", siren=LA_POSTE_SIREN,
        organization_name="LA POSTE",
    )  # fmt: skip
    assert shown.expires_at - shown.created_at == timedelta(days=2)
    issuer.engine.dispose()
    for wrong in ({"lifetime_days": 0}, {"lifetime_days": "7"}, {"lifetime_days": True},
                  {"days": 7}, [7]):  # fmt: skip
        path.write_text(json.dumps({"provider": provider, "delegation": wrong}))
        with pytest.raises(ConfigurationError, match="delegation"):
            load_login_settings(path, public_url="https://i.example", environ={"S": "x"})


# -- the role a delegation asks for ------------------------------------------------------------


def _role_form(status: httpx.Response) -> dict[str, str]:
    """The hidden fields of the requester's role form (the status page's first form)."""
    form = status.text.split('id="role-form"', 1)[1].split("</form>", 1)[0]
    return {k: html_lib.unescape(v) for k, v in form_fields(form).items()}


def _options(page: httpx.Response) -> list[str]:
    return [html_lib.unescape(o) for o in re.findall(r'<option value="([^"]*)"', page.text)]


def test_the_requester_chooses_the_role_and_the_mandate_carries_the_approved_one(
    deployed: Deployment, browsers: Any
) -> None:
    d = deployed
    before = _issued(d)
    requester = browsers()
    status = ask(d, requester, "nadia.petit")
    # The configured list (the default one here), the request's role selected.
    assert _options(status) == list(DEFAULT_ROLES)
    assert re.search(r'<option value="[^"]*" selected>', status.text) is not None
    assert _text(status, "role") == DEFAULT_ROLE
    fields = _role_form(status)
    chosen = "Responsable des achats"
    response = requester.http.post(
        f"{d.url}/login/delegation/role", data={**fields, "role": chosen}
    )
    assert response.status_code == 303, response.text[:500]
    status = requester.http.get(response.headers["location"])
    assert _text(status, "role") == chosen
    # A role not in the list (a crafted POST), or no CSRF token: refused, the role kept.
    crafted = requester.http.post(
        f"{d.url}/login/delegation/role", data={**fields, "role": "Président"}
    )
    assert crafted.status_code == 400
    assert error_code(crafted) == "invalid_request"
    no_csrf = requester.http.post(
        f"{d.url}/login/delegation/role",
        data={**{k: v for k, v in fields.items() if k != "csrf"}, "role": DEFAULT_ROLE},
    )
    assert no_csrf.status_code in (400, 403)
    # Not with a wrong approval code either.
    wrong = requester.http.post(
        f"{d.url}/login/delegation/role",
        data={**fields, "code": "x" * 43, "role": DEFAULT_ROLE},
    )
    assert error_code(wrong) == "delegation_unknown"
    (row,) = [
        r for r in _rows(d) if r.state == "pending" and r.requester_key.endswith("nadia.petit")
    ]
    assert row.role == chosen

    # The director sees the role on the approval link and on the review page.
    link = _text(status, "approval-link")
    director = browsers()
    assert _text(director.http.get(link), "role") == chosen
    review = director_login(d, director, link, "john.dupont")
    assert _text(review, "role") == chosen
    # Once a director logged in, the role is fixed: the requester's page no longer offers
    # the choice, and a change is refused.
    status = requester.http.get(response.headers["location"])
    assert "role-choice" not in status.text
    late = requester.http.post(
        f"{d.url}/login/delegation/role", data={**fields, "role": DEFAULT_ROLE}
    )
    assert error_code(late) == "delegation_already_decided"
    # A decision on another role than the one shown is refused.
    fields_review = {k: html_lib.unescape(v) for k, v in form_fields(review.text).items()}
    assert fields_review["role"] == chosen
    other = director.http.post(
        f"{d.url}/login/delegation/decide",
        data={**fields_review, "role": DEFAULT_ROLE, "decision": "approve"},
    )
    assert error_code(other) == "invalid_request"
    decided = decide(d, director, review, "approve")
    assert 'data-state="approved"' in decided.text, decided.text[:500]
    assert _text(decided, "role") == chosen

    # The requester's Mandate carries the approved role.
    status = requester.http.get(response.headers["location"])
    d.standin.login_as("nadia.petit")
    started = requester.http.post(f"{d.url}/login/start", data=form_fields(status.text))
    assert started.status_code == 303, started.text[:500]
    page = requester.go(started.headers["location"], until="never")
    offer_page = consent(requester, d, page, "accept")
    assert offer_page.status_code == 200, offer_page.text[:500]
    credential = Wallet(requester.http).obtain(
        _text(offer_page, "offer-uri"), _text(offer_page, "tx-code")
    )
    assert _disclosed(credential)["role"] == chosen
    assert _issued(d) == before + 1


def test_a_single_role_list_refuses_any_other_and_the_role_is_escaped(
    tmp_path: Path,
) -> None:
    issuer = make_issuer(tmp_path / "issuer", 8443)
    one = Delegations(issuer, roles=("Gérant <b>délégué</b>",))
    shown, code = one.request(
        requester_key=KARIM, requester_name="Karim Benali", siren=LA_POSTE_SIREN,
        organization_name="LA POSTE",
    )  # fmt: skip
    assert shown.role == "Gérant <b>délégué</b>"
    with pytest.raises(IssuerError) as refused:
        one.choose_role(shown.id, code, DEFAULT_ROLE)
    assert refused.value.code is Code.INVALID_REQUEST
    assert one.choose_role(shown.id, code, "Gérant <b>délégué</b>").role == shown.role
    from ancre.issuer.pages import render

    page = render("delegation_review", "en", "", csrf="c", delegation_id=shown.id,
                  role_value=shown.role, organization="LA POSTE", siren=LA_POSTE_SIREN,
                  role=shown.role, requester="Karim", expires="x", state="pending")  # fmt: skip
    assert "<b>" not in page
    assert "&lt;b&gt;" in page
    issuer.engine.dispose()


def test_the_delegation_roles_come_from_the_login_configuration(tmp_path: Path) -> None:
    from ancre.issuer.bridge import build_login_bridge, load_login_settings
    from ancre.trust.errors import ConfigurationError

    provider = {"issuer": "https://op.example", "client_id": "a", "client_secret_env": "S"}
    path = tmp_path / "login.json"
    path.write_text(json.dumps({"provider": provider}))
    settings = load_login_settings(path, public_url="https://i.example", environ={"S": "x"})
    assert settings.delegation_roles == DEFAULT_ROLES
    roles = ["Directeur commercial", "Responsable des achats"]
    path.write_text(json.dumps({"provider": provider, "delegation": {"roles": roles}}))
    settings = load_login_settings(path, public_url="https://i.example", environ={"S": "x"})
    assert settings.delegation_roles == tuple(roles)
    issuer = make_issuer(tmp_path / "issuer", 8443)
    bridge = build_login_bridge(issuer, settings)
    shown, _ = bridge.delegations.request(
        requester_key=KARIM, requester_name="Karim Benali", siren=LA_POSTE_SIREN,
        organization_name="LA POSTE",
    )  # fmt: skip
    assert shown.role == "Directeur commercial"
    assert bridge.delegations.roles == tuple(roles)
    issuer.engine.dispose()
    for wrong in ([], ["a", "a"], [""], [" a"], ["x" * 151], ["a\nb"], [1], "a",
                  [str(i) for i in range(13)]):  # fmt: skip
        path.write_text(json.dumps({"provider": provider, "delegation": {"roles": wrong}}))
        with pytest.raises(ConfigurationError, match=r"delegation\.roles"):
            load_login_settings(path, public_url="https://i.example", environ={"S": "x"})
