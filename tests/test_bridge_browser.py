"""The login bridge's pages in a real headless Chromium (Debian `chromium`, driven over CDP
with Playwright's `connect_over_cdp`: no browser download): landing → ProConnect stand-in
login → consent → offer page, then a Python wallet redeems the offer and ancre's verifier
verifies the credential. Every page is screenshotted at desktop and mobile width
(tests/artifacts/bridge/, gitignored) and passes axe-core (npm, tests/browser/) with zero
serious or critical violations."""

from __future__ import annotations

import json
import os
import re
import selectors
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _issuer_support import Tls, Wallet, make_tls
from test_bridge_login import Deployment, deployment

# Well over a second (a browser or a subprocess tour): `make test-fast` skips it.
pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).parent / "artifacts" / "bridge"
AXE = Path(__file__).parent / "browser" / "node_modules" / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1280, "height": 800}
MOBILE = {"width": 375, "height": 812}


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory, tls: Tls) -> Iterator[Deployment]:
    with deployment(tmp_path_factory.mktemp("bridge"), tls) as running:
        yield running


def _devtools_url(process: subprocess.Popen[bytes], timeout: float = 30.0) -> str:
    assert process.stderr is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stderr, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    seen = b""
    try:
        while time.monotonic() < deadline:
            if not selector.select(deadline - time.monotonic()):
                break
            chunk = os.read(process.stderr.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
            found = re.search(rb"DevTools listening on (ws://\S+)", seen)
            if found:
                return found.group(1).decode()
    finally:
        selector.close()
    raise RuntimeError(f"chromium printed no DevTools URL: {seen[-1000:]!r}")


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail("the browser tests need Debian's chromium: apt-get install chromium")
    if not AXE.is_file():
        pytest.fail("axe-core is missing: run `make node-deps`")
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    process = subprocess.Popen(
        [binary, "--headless=new", "--remote-debugging-port=0",
         "--remote-debugging-address=127.0.0.1",
         f"--user-data-dir={profile}", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-dev-shm-usage", "--disable-background-networking",
         # The test issuer's certificate comes from a throw-away CA.
         "--ignore-certificate-errors", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        url = _devtools_url(process)
        with sync_playwright() as playwright:
            browser = playwright.chromium.connect_over_cdp(url)
            try:
                yield browser
            finally:
                browser.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


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


def test_landing_login_consent_offer_in_chromium(
    chromium: Any, deployed: Deployment, tls: Tls
) -> None:
    from ancre.trust.clock import SystemClock
    from ancre.trust.did.resolvers import default_resolver
    from ancre.trust.net.guard import NetworkPolicy
    from ancre.trust.result import Status
    from ancre.trust.status.checker import StatusListChecker
    from ancre.verifier.pipeline import verify

    context = chromium.new_context(viewport=DESKTOP, ignore_https_errors=True, locale="fr-FR")
    page = context.new_page()
    violations: list[str] = []
    page.on(
        "console", lambda m: violations.append(m.text) if "Content Security" in m.text else None
    )
    try:
        deployed.standin.login_as("john.dupont")
        page.goto(f"{deployed.url}/login")
        assert page.locator("html").get_attribute("lang") == "fr"
        check_page(page, "landing")
        page.get_by_label("Numéro d'immatriculation").check()
        page.get_by_role("button", name="S'identifier avec ProConnect").click()
        page.wait_for_url(re.compile(r".*/login/callback.*"))
        assert page.get_by_role("heading", level=1).inner_text() == "Vérifiez ce qui sera signé"
        assert "35600000000048" in page.locator("table").inner_text()
        check_page(page, "consent")
        page.get_by_role("button", name="Signer et recevoir l'attestation").click()
        page.wait_for_url(re.compile(r".*/login/consent"))
        assert page.get_by_role("heading", level=1).inner_text() == "Votre attestation est prête"
        offer_uri = page.locator("#offer-uri").inner_text().strip()
        assert page.locator("#offer-link").get_attribute("href") == offer_uri
        # The QR code (inline SVG, labelled) and the tx_code, shown on this page only.
        qr = page.locator("#offer-qr svg")
        assert qr.get_attribute("role") == "img"
        assert "QR code" in (qr.get_attribute("aria-label") or "")
        assert qr.bounding_box()["width"] >= 100
        tx_code = page.locator("#tx-code").inner_text().strip()
        assert tx_code.isdigit()
        check_page(page, "offer")

        # A refusal: closed establishment, its page and code (a fresh browser: the
        # provider's single sign-on session would log john.dupont in again).
        context.close()
        context = chromium.new_context(viewport=DESKTOP, ignore_https_errors=True)
        page = context.new_page()
        deployed.standin.login_as("closed.siret")
        page.goto(f"{deployed.url}/login?lang=en")
        check_page(page, "landing-en")
        page.get_by_label("Local registration number").check()
        page.get_by_role("button", name="Log in with ProConnect").click()
        page.wait_for_url(re.compile(r".*/login/callback.*"))
        assert page.locator("#error-code").inner_text() == "establishment_closed"
        check_page(page, "error")
    finally:
        context.close()
    assert violations == []

    # The wallet part: redeem the offer and verify the credential.
    before = deployed.issuer.count_credentials()
    with httpx.Client(trust_env=False, timeout=15, verify=tls.context()) as http:
        credential = Wallet(http).obtain(offer_uri, tx_code)
        network = NetworkPolicy(allow_loopback=True, max_bytes=4 * 1024 * 1024)
        clock = SystemClock()
        resolver = default_resolver(http_client=http, network=network, clock=clock)
        status = StatusListChecker(client=http, resolver=resolver, network=network)
        result = verify(credential, resolver=resolver, clock=clock, status=status)
    assert result.status is Status.VALID, result.to_json()
    assert result.types == ("VerifiableCredential", "gx:LocalRegistrationNumber")
    assert deployed.issuer.count_credentials() == before + 1
    for name in ("landing", "consent", "offer", "error", "landing-en"):
        for label in ("desktop", "mobile"):
            assert (ARTIFACTS / f"{name}-{label}.png").stat().st_size > 1000


def test_delegation_pages_in_chromium(chromium: Any, deployed: Deployment) -> None:
    """A non-director asks for a Mandate (the delegation request page), a director opens the
    approval link and logs in (the approval page), decides (the review page), and the
    requester receives the Mandate (the offer page): each page screenshotted and checked."""
    violations: list[str] = []

    def watch(page: Any) -> None:
        page.on(
            "console",
            lambda m: violations.append(m.text) if "Content Security" in m.text else None,
        )

    requester = chromium.new_context(viewport=DESKTOP, ignore_https_errors=True, locale="fr-FR")
    director = chromium.new_context(viewport=DESKTOP, ignore_https_errors=True, locale="fr-FR")
    try:
        page = requester.new_page()
        watch(page)
        deployed.standin.login_as("karim.benali")
        page.goto(f"{deployed.url}/login")
        page.get_by_label("Mandat de représentation").check()
        page.get_by_role("button", name="S'identifier avec ProConnect").click()
        page.wait_for_url(re.compile(r".*/login/delegation\?.*"))
        assert page.get_by_role("heading", level=1).inner_text() == "Demande de délégation"
        link = page.locator("#approval-link").inner_text().strip()
        assert "/login/delegation/approve?code=" in link
        check_page(page, "delegation-request")
        status_url = page.url

        other = director.new_page()
        watch(other)
        deployed.standin.login_as("john.dupont")
        other.goto(link)
        assert other.get_by_role("heading", level=1).inner_text() == "Approuver une délégation"
        check_page(other, "delegation-approve")
        other.get_by_role("button", name="S'identifier avec ProConnect").click()
        other.wait_for_url(re.compile(r".*/login/delegation/review\?.*"))
        assert other.locator("#requester").inner_text() == "Karim Benali"
        check_page(other, "delegation-review")
        other.get_by_role("button", name="Approuver la délégation").click()
        other.wait_for_url(re.compile(r".*/login/delegation/decide"))
        assert other.locator("#delegation-state").get_attribute("data-state") == "approved"
        check_page(other, "delegation-decided")

        deployed.standin.login_as("karim.benali")
        page.goto(status_url)
        assert page.locator("#delegation-state").get_attribute("data-state") == "approved"
        check_page(page, "delegation-approved")
        page.get_by_role("button", name=re.compile("Recevoir le mandat")).click()
        page.wait_for_url(re.compile(r".*/login/callback.*"))
        page.get_by_role("button", name="Signer et recevoir l'attestation").click()
        page.wait_for_url(re.compile(r".*/login/consent"))
        assert page.get_by_role("heading", level=1).inner_text() == "Votre attestation est prête"
        assert page.locator("#tx-code").inner_text().strip().isdigit()
        check_page(page, "offer-mandate")
    finally:
        requester.close()
        director.close()
    assert violations == []
    for name in ("delegation-request", "delegation-approve", "delegation-review",
                 "delegation-decided", "delegation-approved", "offer-mandate"):  # fmt: skip
        for label in ("desktop", "mobile"):
            assert (ARTIFACTS / f"{name}-{label}.png").stat().st_size > 1000


def test_delegation_pages_in_english_in_chromium(chromium: Any, deployed: Deployment) -> None:
    """The English versions of the delegation pages, each screenshotted and run through
    axe-core: the request page (choosing the role from the list), the approval page, the
    director's review and decision, and the requester's page once approved."""
    violations: list[str] = []

    def watch(page: Any) -> None:
        page.on(
            "console",
            lambda m: violations.append(m.text) if "Content Security" in m.text else None,
        )

    requester = chromium.new_context(viewport=DESKTOP, ignore_https_errors=True, locale="en-GB")
    director = chromium.new_context(viewport=DESKTOP, ignore_https_errors=True, locale="en-GB")
    try:
        page = requester.new_page()
        watch(page)
        deployed.standin.login_as("karim.benali")
        page.goto(f"{deployed.url}/login?lang=en")
        page.get_by_label("Power of representation").check()
        page.get_by_role("button", name="Log in with ProConnect").click()
        page.wait_for_url(re.compile(r".*/login/delegation\?.*"))
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.get_by_role("heading", level=1).inner_text() == "Delegation request"
        check_page(page, "delegation-request-en")
        # The requester picks the role from the configured list (labelled select).
        page.get_by_label("Role requested for the delegation").select_option(
            "Responsable des achats"
        )
        page.get_by_role("button", name="Save the role").click()
        page.wait_for_url(re.compile(r".*/login/delegation\?.*lang=en.*"))
        assert page.locator("#role").inner_text() == "Responsable des achats"
        check_page(page, "delegation-role-en")
        link = page.locator("#approval-link").inner_text().strip()
        status_url = page.url

        other = director.new_page()
        watch(other)
        deployed.standin.login_as("john.dupont")
        other.goto(link + "&lang=en")
        assert other.get_by_role("heading", level=1).inner_text() == "Approve a delegation"
        assert other.locator("#role").inner_text() == "Responsable des achats"
        check_page(other, "delegation-approve-en")
        other.get_by_role("button", name="Log in with ProConnect").click()
        other.wait_for_url(re.compile(r".*/login/delegation/review\?.*"))
        assert other.locator("html").get_attribute("lang") == "en"
        assert other.get_by_role("heading", level=1).inner_text() == "Decide on the delegation"
        assert other.locator("#role").inner_text() == "Responsable des achats"
        check_page(other, "delegation-review-en")
        other.get_by_role("button", name="Approve the delegation").click()
        other.wait_for_url(re.compile(r".*/login/delegation/decide"))
        assert other.locator("#delegation-state").get_attribute("data-state") == "approved"
        assert other.get_by_role("heading", level=1).inner_text() == "Decision recorded"
        check_page(other, "delegation-decided-en")

        page.goto(status_url)
        assert page.locator("#delegation-state").get_attribute("data-state") == "approved"
        assert page.get_by_role("button", name=re.compile("Receive the mandate")).is_visible()
        check_page(page, "delegation-approved-en")
    finally:
        requester.close()
        director.close()
    assert violations == []
    pages = ("request", "role", "approve", "review", "decided", "approved")
    for name in (f"delegation-{p}-en" for p in pages):
        for label in ("desktop", "mobile"):
            assert (ARTIFACTS / f"{name}-{label}.png").stat().st_size > 1000


def test_two_providers_landing_and_choice_in_chromium(
    chromium: Any, tls: Tls, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """With two providers: the landing page's two buttons (ProConnect's official one, a
    plain one for the other), a login with the second, and a wallet's request's choice
    page through to the wallet's redirect; each page passes axe-core."""
    from test_bridge_login import WALLET_REDIRECT, authorize_url
    from test_bridge_providers import two_providers

    with two_providers(tmp_path_factory.mktemp("two"), tls) as two:
        context = chromium.new_context(viewport=DESKTOP, ignore_https_errors=True, locale="fr-FR")
        page = context.new_page()
        try:
            two.autre.login_as("john.dupont")
            page.goto(f"{two.url}/login")
            check_page(page, "landing-two-providers")
            assert page.get_by_role("button", name="S'identifier avec ProConnect").is_visible()
            page.get_by_label("Numéro d'immatriculation").check()
            page.get_by_role("button", name="S'identifier avec Autre fournisseur").click()
            page.wait_for_url(re.compile(r".*/login/callback.*"))
            assert "35600000000048" in page.locator("table").inner_text()
            page.goto(authorize_url(two.url, "LegalPerson", "v" * 43))
            page.wait_for_url(re.compile(r".*/login/choose\?request=.*"))
            check_page(page, "choose-provider")
            page.get_by_role("button", name="S'identifier avec Autre fournisseur").click()
            page.wait_for_url(re.compile(r".*/login/callback.*"))
            assert page.get_by_role("heading", level=1).inner_text() == "Vérifiez ce qui sera signé"
            # The consent form ends at the wallet's redirect_uri: the page's CSP form-action
            # must allow that redirect, or Chromium blocks it.
            with page.expect_request(re.compile(re.escape(WALLET_REDIRECT) + r"\?.*code=.*")):
                page.get_by_role("button", name="Signer et recevoir l'attestation").click()
        finally:
            context.close()
