"""`ancre demo`, the organization's side: its wallet receives its credentials (the legal
representative logs in through the bridge), builds the Gaia-X onboarding presentation and
answers the connector's OpenID4VP request — through the functions `ancre wallet` calls."""

from __future__ import annotations

import re
import secrets
import sys
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from ancre.cli.demo_story import PASSPHRASE, SCHEME, SCRYPT_N, Scene
from ancre.trust.clock import SystemClock

if TYPE_CHECKING:
    import httpx

    from ancre.wallet.http import Http
    from ancre.wallet.identities import Identity
    from ancre.wallet.store import WalletStore

__all__ = ["Browser", "OrgWallet", "open_wallet"]

_FORM = re.compile(r'<form method="post" action="([^"]+)"(.*?)</form>', re.S)
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')
_RADIO = re.compile(r'<input type="radio" name="([^"]+)" value="([^"]*)" checked')
_BUTTON = re.compile(r'<button type="submit" name="([^"]+)" value="([^"]*)"')


@dataclass
class Browser:
    """The legal representative's browser, driven by the demo: it follows redirects and
    submits each page's first form as shown (the provider's login, the bridge's consent)."""

    http: httpx.Client
    trail: list[str] = field(default_factory=list)
    error: BaseException | None = None

    def visit(self, url: str) -> None:
        import httpx

        from ancre.trust.errors import AncreError

        try:
            self._visit(url)
        except (AncreError, httpx.HTTPError, RuntimeError) as error:  # told by the waiting step
            self.error = error

    def _visit(self, url: str) -> None:
        from html import unescape

        response = self.http.get(url)
        for _ in range(20):
            self.trail.append(str(response.url))
            if response.status_code in (302, 303):
                location = urljoin(str(response.url), response.headers["location"])
                if location.startswith("http://127.0.0.1:"):  # back to the wallet
                    self.http.get(location)
                    return
                response = self.http.get(location)
                continue
            found = _FORM.search(response.text) if response.status_code == 200 else None
            if found is None:
                raise RuntimeError(f"the login stopped at {response.url} ({response.status_code})")
            fields = {n: unescape(v) for n, v in _HIDDEN.findall(found.group(2))}
            fields.update(_RADIO.findall(found.group(2)))
            fields.update(_BUTTON.findall(found.group(2))[:1])
            target = urljoin(str(response.url), unescape(found.group(1)))
            response = self.http.post(target, data=fields)
        raise RuntimeError("the login went round in circles")


@dataclass
class OrgWallet:
    """The organization's wallet: its store, its identity (did:jwk) and its HTTP client."""

    scene: Scene
    store: WalletStore
    identity: Identity
    http: Http

    def accept(self, tokens: tuple[str, ...]) -> list[Any]:
        from ancre.wallet.credentials import Checker
        from ancre.wallet.receiving import accept

        checker = Checker(self.http, SystemClock(), None)
        return accept(self.store, checker, tokens, [self.identity], SystemClock().now())

    def receive_by_login(self, configuration: str, browser: Browser) -> Any:
        """An authorization-code offer, the login through the bridge, then OpenID4VCI."""
        from ancre.issuer.authorize import AuthorizationServer
        from ancre.wallet.authcode import LoopbackAuthorizer
        from ancre.wallet.oid4vci import obtain, resolve_offer

        issuer = self.scene.agency
        _, uri = AuthorizationServer(issuer).create_issuer_state(configuration)
        offer = resolve_offer(uri, self.http)

        def show(url: str) -> None:
            if self.scene.interactive:
                self.scene.story.say(f"open this URL in a browser on this machine:\n{url}")
                sys.stdout.flush()
                return
            threading.Thread(target=browser.visit, args=(url,), daemon=True).start()

        timeout = 300.0 if self.scene.interactive else 30.0
        authorize = LoopbackAuthorizer(self.http, show, timeout=timeout)
        try:
            issued = obtain(
                offer, http=self.http, identity=self.identity, clock=SystemClock(),
                grant="authorization_code", authorize=authorize,
            )  # fmt: skip
        except Exception:
            if browser.error is not None:
                raise browser.error from None
            raise
        return self.accept(_tokens(issued))[0]

    def receive_certification(self) -> tuple[Any, str]:
        """The agency offers a Certification (pre-authorized code + tx_code); the wallet
        takes it. Returns the held credential and the agency's record id."""
        from ancre.issuer.templates import Authorization
        from ancre.wallet.oid4vci import obtain, resolve_offer

        issuer = self.scene.agency
        claims = {
            "ancre:scheme": SCHEME, "ancre:scope": "Hébergement de données",
            "ancre:certificateNumber": f"FR-{secrets.randbelow(10**6):06d}",
            "ancre:certificateValidFrom": SystemClock().now().date().isoformat(),
        }  # fmt: skip
        created = issuer.create_offer(
            "Certification", claims, tx_code=True,
            authorization=Authorization("operator", "auditor", register_checked=True),
        )  # fmt: skip
        offer = resolve_offer(issuer.offer_uri(created), self.http)
        issued = obtain(
            offer, http=self.http, identity=self.identity, clock=SystemClock(),
            tx_code=created.tx_code,
        )  # fmt: skip
        held = self.accept(_tokens(issued))[0]
        record = next(r.id for r in issuer.credentials() if r.configuration_id == "Certification")
        return held, record


def _tokens(issued: Any) -> tuple[str, ...]:
    from ancre.trust.errors import InternalError
    from ancre.wallet.oid4vci import Issued

    if not isinstance(issued, Issued):  # the demo's issuer never defers
        raise InternalError("the agency deferred the issuance")
    return issued.tokens


def open_wallet(scene: Scene) -> OrgWallet:
    """A new encrypted wallet in the demo's folder, with one did:jwk identity."""
    from ancre.wallet.http import Http, make_client, network_policy
    from ancre.wallet.identities import create_identity
    from ancre.wallet.store import WalletStore

    scene.wallet_path = scene.folder / "wallet"
    store = WalletStore.create(scene.wallet_path, PASSPHRASE, scrypt_n=SCRYPT_N)
    identity = create_identity(
        store, method="jwk", key_type="p256", name="la-poste", now=SystemClock().now()
    )
    http = Http(make_client(scene.ca.ca), network_policy(insecure_loopback=True))
    return OrgWallet(scene, store, identity, http)
