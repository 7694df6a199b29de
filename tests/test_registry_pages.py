"""The registry's pages (`ancre.registry.pages`) over real HTTP on loopback: the public
trust-list browser and issuer timeline, the administrators' token login, and the pending
approvals page with the two-person rule; then the same pages in a real headless Chromium
(Debian `chromium` over CDP, like tests/test_bridge_browser.py), each screenshotted at
desktop and mobile width into tests/artifacts/registry/ and passing axe-core with no
serious or critical violation, where two different administrators approve a pending change.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from _asgi_server import serve
from _support import Issuer
from test_bridge_browser import AXE, DESKTOP, MOBILE, chromium  # noqa: F401 - the fixture

from ancre.registry.api import create_app
from ancre.registry.db import make_engine, migrate
from ancre.registry.pages import SESSION_COOKIE
from ancre.registry.service import Registry, Role
from ancre.trust.clock import FixedClock
from ancre.trust.errors import Code
from ancre.trust.trust_list.model import EntryStatus

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
ANCHOR, AGENCY = "did:web:association.example", "did:web:agency.example"
NEW_ANCHOR = "did:web:federation.example"
LP, CERT = "gx:LegalPerson", "ancre:Certification"
ARTIFACTS = Path(__file__).parent / "artifacts" / "registry"


@dataclass
class Running:
    registry: Registry
    clock: FixedClock
    tokens: dict[str, str]
    url: str


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    """A registry with an anchor (approved by a second person), an agency accredited for two
    types whose certification was suspended then reinstated, a published list, and a
    pending change: Alice asks to add a second anchor."""
    clock = FixedClock(T0)
    key = Issuer.new("ed25519")
    engine = make_engine(f"sqlite:///{tmp_path / 'registry.db'}")
    migrate(engine)
    registry = Registry(engine, clock=clock)
    registry.configure(
        registry_did=key.did, kid=key.kid, operator_name="Loire", scheme_name="Issuers"
    )
    tokens = {
        "alice": registry.create_token("bootstrap", "alice", Role.APPROVER),
        "alice-2": registry.create_token("bootstrap", "alice-2", Role.APPROVER, person="alice"),
        "bob": registry.create_token("bootstrap", "bob", Role.APPROVER),
        "ed": registry.create_token("bootstrap", "ed", Role.EDITOR),
    }
    change = registry.add_anchor("alice", anchor_id=ANCHOR, name="Association")
    assert change is not None
    registry.approve("bob", change.id)
    registry.add_issuer(
        "ed", did=AGENCY, legal_name="Agence <Loire> & Cie", accredited_by=ANCHOR,
        credential_types={LP: (), CERT: ()}, registration_number="35600000000048",
    )  # fmt: skip
    clock.advance(timedelta(days=2))
    registry.set_issuer_status("ed", AGENCY, EntryStatus.SUSPENDED, reason="audit en cours")
    clock.advance(timedelta(days=1))
    registry.publish(key.key, "ed")
    pending = registry.add_anchor("alice", anchor_id=NEW_ANCHOR, name="Fédération")
    assert pending is not None
    with serve(create_app(registry, signer=key.key)) as url:
        yield Running(registry, clock, tokens, url)
    engine.dispose()


def _cookie(response: httpx.Response) -> str:
    """The session cookie a response sets (its value), checking its attributes."""
    header = response.headers["set-cookie"]
    assert f"{SESSION_COOKIE}=" in header
    for attribute in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/"):
        assert attribute in header, header
    return header.split(";")[0].split("=", 1)[1]


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def _login(http: httpx.Client, token: str) -> tuple[str, str]:
    """Log in through the form: (the session cookie, the approvals page's HTML)."""
    page = http.get("/pages/admin/login")
    assert page.status_code == 200
    cookie = _cookie(page)
    answer = http.post(
        "/pages/admin/login",
        data={"csrf": _csrf(page.text), "token": token, "lang": "fr"},
        headers={"Cookie": f"{SESSION_COOKIE}={cookie}"},
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/pages/admin/changes?lang=fr"
    session = _cookie(answer)
    assert session != cookie  # a fresh session at login
    changes = http.get("/pages/admin/changes", headers={"Cookie": f"{SESSION_COOKIE}={session}"})
    assert changes.status_code == 200
    return session, changes.text


def _pending_id(registry: Registry) -> int:
    (change,) = registry.pending_changes()
    return change.id


def test_public_browser_and_issuer_timeline(running: Running) -> None:
    with httpx.Client(base_url=running.url, trust_env=False) as http:
        page = http.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "script-src" not in page.headers["content-security-policy"]
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert page.headers["x-content-type-options"] == "nosniff"
        assert '<html lang="fr">' in page.text
        assert '<dd id="sequence">1</dd>' in page.text
        # Next update: published at T0 + 3 days, valid one day.
        assert "2026-03-05 09:00 UTC" in page.text
        assert "Association" in page.text
        assert ANCHOR in page.text
        # Escaped, never markup.
        assert "Agence &lt;Loire&gt; &amp; Cie" in page.text
        assert "<Loire>" not in page.text
        assert LP in page.text
        assert CERT in page.text
        assert "suspendu" in page.text
        # The pending anchor is not in force: not shown.
        assert NEW_ANCHOR not in page.text

        english = http.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"})
        assert '<html lang="en">' in english.text
        assert "Trusted issuers" in english.text
        assert '<html lang="fr">' in http.get("/?lang=fr", headers={"Accept-Language": "en"}).text

        detail = http.get("/pages/issuer", params={"did": AGENCY, "lang": "en"})
        assert detail.status_code == 200
        timeline = detail.text.split('id="timeline"')[1].split("</ol>")[0]
        # Dated, in order: the issuer and its two types from T0, then the suspension.
        assert timeline.count("<li>") == 4
        assert timeline.index("2026-03-01 09:00 UTC") < timeline.index("2026-03-03 09:00 UTC")
        assert "suspended" in timeline
        assert "audit en cours" in timeline
        # Public: never who recorded a change.
        assert "ed" not in re.findall(r"\b\w+\b", timeline)

        unknown = http.get("/pages/issuer", params={"did": "did:web:nobody.example"})
        assert unknown.status_code == 404
        assert 'id="error-code">not_found<' in unknown.text
        hostile = http.get("/pages/issuer", params={"did": "did:web:x\x07"})
        assert hostile.status_code == 400
        assert http.get("/pages/issuer", params={"did": "d" * 3000}).status_code == 400
        css = http.get("/pages/static/registry.css")
        assert css.headers["content-type"].startswith("text/css")


def test_approvals_need_a_login_and_a_second_person(running: Running) -> None:
    registry = running.registry
    change = _pending_id(registry)
    with httpx.Client(base_url=running.url, trust_env=False) as http:
        # Without a session: the login page.
        anonymous = http.get("/pages/admin/changes")
        assert anonymous.status_code == 303
        assert anonymous.headers["location"] == "/pages/admin/login?lang=fr"

        # A wrong token, and a form without its CSRF token.
        page = http.get("/pages/admin/login")
        cookie = {"Cookie": f"{SESSION_COOKIE}={_cookie(page)}"}
        wrong = http.post("/pages/admin/login", headers=cookie,
                          data={"csrf": _csrf(page.text), "token": "ancre_nope"})  # fmt: skip
        assert wrong.status_code == 401
        assert 'id="error-code">unauthorized<' in wrong.text
        assert "set-cookie" not in wrong.headers
        forged = http.post("/pages/admin/login", headers=cookie,
                           data={"csrf": "x", "token": running.tokens["bob"]})  # fmt: skip
        assert (forged.status_code, 'id="error-code">csrf_invalid<' in forged.text) == (403, True)

        # Alice, who asked for the change, with her second token: still Alice.
        alice, html = _login(http, running.tokens["alice-2"])
        assert f'id="change-{change}"' in html
        assert NEW_ANCHOR in html
        assert '<strong id="person">alice</strong>' in html
        own = http.post(
            "/pages/admin/changes/decide",
            data={"csrf": _csrf(html), "change": str(change), "decision": "approve"},
            headers={"Cookie": f"{SESSION_COOKIE}={alice}"},
        )
        assert own.status_code == 403
        assert f'id="error-code">{Code.SAME_PERSON.value}<' in own.text
        assert [c.id for c in registry.pending_changes()] == [change]

        # An editor sees the page but has no buttons, and cannot decide.
        ed, html = _login(http, running.tokens["ed"])
        assert 'value="approve"' not in html
        refused = http.post(
            "/pages/admin/changes/decide",
            data={"csrf": _csrf(html), "change": str(change), "decision": "approve"},
            headers={"Cookie": f"{SESSION_COOKIE}={ed}"},
        )
        assert (refused.status_code, 'id="error-code">forbidden<' in refused.text) == (403, True)

        # Bob's CSRF token is bound to Bob's session: not to Alice's.
        bob, html = _login(http, running.tokens["bob"])
        crossed = http.post(
            "/pages/admin/changes/decide",
            data={"csrf": _csrf(html), "change": str(change), "decision": "approve"},
            headers={"Cookie": f"{SESSION_COOKIE}={alice}"},
        )
        assert crossed.status_code == 403
        assert "csrf_invalid" in crossed.text
        # Hostile forms: repeated field, too large, not a form, not a number.
        for body, content_type, status in (
            (f"csrf={_csrf(html)}&change={change}&change=1&decision=approve",
             "application/x-www-form-urlencoded", 400),
            ("a=" + "x" * 10_000, "application/x-www-form-urlencoded", 413),
            (json.dumps({"change": change}), "application/json", 415),
            (f"csrf={_csrf(html)}&change=99999999999&decision=approve",
             "application/x-www-form-urlencoded", 400),
            (f"csrf={_csrf(html)}&change={change}&decision=maybe",
             "application/x-www-form-urlencoded", 400),
        ):  # fmt: skip
            answer = http.post(
                "/pages/admin/changes/decide",
                content=body,
                headers={"Cookie": f"{SESSION_COOKIE}={bob}", "Content-Type": content_type},
            )
            assert answer.status_code == status, (body[:60], answer.text)
            assert 'id="error-code">invalid_request<' in answer.text
        assert [c.id for c in registry.pending_changes()] == [change]

        # Bob approves: the change takes effect, audited under his name.
        done = http.post(
            "/pages/admin/changes/decide",
            data={"csrf": _csrf(html), "change": str(change), "decision": "approve"},
            headers={"Cookie": f"{SESSION_COOKIE}={bob}"},
        )
        assert done.status_code == 303
        after = http.get(done.headers["location"], headers={"Cookie": f"{SESSION_COOKIE}={bob}"})
        assert f"Le changement {change} est approuvé" in after.text
        assert 'id="no-changes"' in after.text
        assert registry.pending_changes() == []
        assert NEW_ANCHOR in {a.id for a in registry.anchors()}
        assert "Fédération" in http.get("/").text  # now in force: on the public browser
        events = registry.audit_events(limit=1000)
        approvals = {(e.actor, e.subject) for e in events if e.action == "approve:add_anchor"}
        assert ("bob", str(change)) in approvals
        assert registry.verify_audit().ok
        # The page read went to the access log.
        assert ("bob", "/pages/admin/changes") in {(e.actor, e.path) for e in registry.access_log()}
        # Again: already decided.
        again = http.post(
            "/pages/admin/changes/decide",
            data={"csrf": _csrf(html), "change": str(change), "decision": "reject"},
            headers={"Cookie": f"{SESSION_COOKIE}={bob}"},
        )
        assert (again.status_code, 'id="error-code">not_found<' in again.text) == (404, True)

        # Logout ends the session in the browser; a revoked token ends it on the server.
        out = http.post("/pages/admin/logout", data={"csrf": _csrf(html), "lang": "en"},
                        headers={"Cookie": f"{SESSION_COOKIE}={bob}"})  # fmt: skip
        assert out.status_code == 303
        assert "Max-Age=0" in out.headers["set-cookie"]
        registry.revoke_token("bootstrap", "alice-2")
        gone = http.get("/pages/admin/changes", headers={"Cookie": f"{SESSION_COOKIE}={alice}"})
        assert gone.status_code == 303
        # A forged or expired session is no session.
        tampered = alice[:-2] + ("AA" if not alice.endswith("AA") else "BB")
        forged_session = http.get(
            "/pages/admin/changes", headers={"Cookie": f"{SESSION_COOKIE}={tampered}"}
        )
        assert forged_session.status_code == 303
        running.clock.advance(timedelta(hours=2))
        expired = http.get("/pages/admin/changes", headers={"Cookie": f"{SESSION_COOKIE}={bob}"})
        assert expired.status_code == 303
    # The tokens never appear in a page or the audit log.
    texts = json.dumps([e.details_json for e in registry.audit_events(limit=1000)])
    assert all(t not in texts for t in running.tokens.values())


def test_rejecting_through_the_page(running: Running) -> None:
    """The requester may withdraw their own change (reject), as with the API."""
    change = _pending_id(running.registry)
    with httpx.Client(base_url=running.url, trust_env=False) as http:
        alice, html = _login(http, running.tokens["alice"])
        done = http.post(
            "/pages/admin/changes/decide",
            data={"csrf": _csrf(html), "change": str(change), "decision": "reject", "lang": "en"},
            headers={"Cookie": f"{SESSION_COOKIE}={alice}"},
        )
        assert done.status_code == 303
        page = http.get(done.headers["location"], headers={"Cookie": f"{SESSION_COOKIE}={alice}"})
        assert f"Change {change} is rejected." in page.text
    assert running.registry.pending_changes() == []
    assert NEW_ANCHOR not in {a.id for a in running.registry.anchors()}


def test_what_the_pages_share() -> None:
    """`ancre.web`: the language choice, the form parser, the headers."""
    from ancre.web import choose_language, parse_form, security_headers

    assert choose_language(None, None) == "fr"
    assert choose_language("en", "fr-FR") == "en"
    assert choose_language("de", "en-US,fr;q=0.5") == "en"
    assert choose_language(None, "de-DE, en;q=0.9") == "fr"
    assert choose_language(None, ";;,,") == "fr"
    assert parse_form(b"a=1&b=%C3%A9") == {"a": "1", "b": "é"}
    assert parse_form(b"a=1&a=2") is None
    assert parse_form(b"\xff=1") is None
    assert parse_form(b"&".join(b"f%d=1" % i for i in range(17))) is None
    csp = security_headers(["https://idp.example"])["Content-Security-Policy"]
    assert "form-action 'self' https://idp.example;" in csp
    assert "script-src" not in csp


# ---- in a real browser ----------------------------------------------------------------------


def check_page(page: Any, name: str) -> None:
    """Screenshot at both widths and run axe-core: no serious or critical violation."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for label, size in (("desktop", DESKTOP), ("mobile", MOBILE)):
        page.set_viewport_size(size)
        page.screenshot(path=str(ARTIFACTS / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(DESKTOP)
    # Evaluated through CDP (not a <script> element): the pages' CSP forbids every script.
    page.evaluate(AXE.read_text(encoding="utf-8"))
    results = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length}))"
    )
    (ARTIFACTS / f"{name}-axe.json").write_text(json.dumps(results, indent=2))
    serious = [v for v in results if v["impact"] in ("serious", "critical")]
    assert serious == [], f"{name}: {serious}"


def _log_in(page: Any, url: str, token: str, label: str, button: str) -> None:
    page.goto(url)
    page.get_by_label(label).fill(token)
    page.get_by_role("button", name=button, exact=True).click()
    page.wait_for_url(re.compile(r".*/pages/admin/changes\?lang=.*"))


@pytest.mark.slow
def test_two_administrators_approve_in_chromium(chromium: Any, running: Running) -> None:  # noqa: F811
    change = _pending_id(running.registry)
    violations: list[str] = []

    def watch(page: Any) -> None:
        page.on(
            "console",
            lambda m: violations.append(m.text) if "Content Security" in m.text else None,
        )

    alice_browser = chromium.new_context(viewport=DESKTOP, locale="fr-FR")
    bob_browser = chromium.new_context(viewport=DESKTOP, locale="en-GB")
    try:
        page = alice_browser.new_page()
        watch(page)
        page.goto(f"{running.url}/")
        assert page.locator("html").get_attribute("lang") == "fr"
        assert page.locator("#sequence").inner_text() == "1"
        check_page(page, "browser")
        page.get_by_role("link", name="Agence <Loire> & Cie").click()
        page.wait_for_url(re.compile(r".*/pages/issuer\?.*"))
        assert page.locator("#issuer-did").inner_text() == AGENCY
        assert page.locator("#timeline li").count() == 4
        check_page(page, "issuer")
        page.goto(f"{running.url}/?lang=en")
        check_page(page, "browser-en")

        # Alice asked for the change: the page refuses her approval (same person).
        login = f"{running.url}/pages/admin/login"
        _log_in(page, login, running.tokens["alice"], "Jeton d'administration", "Se connecter")
        check_page(page, "approvals")
        page.get_by_role("button", name=f"Approuver : Changement {change}").click()
        assert page.locator("#error-code").inner_text() == Code.SAME_PERSON.value
        check_page(page, "refused")
        assert [c.id for c in running.registry.pending_changes()] == [change]

        # Bob, another administrator, in English, approves it.
        other = bob_browser.new_page()
        watch(other)
        other.goto(f"{running.url}/pages/admin/changes")  # not logged in: to the login
        other.wait_for_url(re.compile(r".*/pages/admin/login.*"))
        check_page(other, "login-en")
        _log_in(other, f"{login}?lang=en", running.tokens["bob"], "Admin token", "Log in")
        assert other.locator("#person").inner_text() == "bob"
        assert NEW_ANCHOR in other.locator(f"#change-{change}").inner_text()
        other.get_by_role("button", name=f"Approve: Change {change}").click()
        other.wait_for_url(re.compile(r".*decided=.*"))
        notice = other.locator("#notice").inner_text()
        assert notice == f"Change {change} is approved and in effect."
        check_page(other, "approved-en")
        other.get_by_role("button", name="Log out").click()
        other.wait_for_url(re.compile(r".*/pages/admin/login.*"))
        other.goto(f"{running.url}/pages/admin/changes")
        other.wait_for_url(re.compile(r".*/pages/admin/login.*"))
    finally:
        alice_browser.close()
        bob_browser.close()
    assert violations == []
    assert running.registry.pending_changes() == []
    assert NEW_ANCHOR in {a.id for a in running.registry.anchors()}
    for name in ("browser", "issuer", "browser-en", "approvals", "refused", "login-en",
                 "approved-en"):  # fmt: skip
        for label in ("desktop", "mobile"):
            assert (ARTIFACTS / f"{name}-{label}.png").stat().st_size > 1000
