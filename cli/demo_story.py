"""`ancre demo`: the whole onboarding story, for real, on loopback.

The data space's registry, a certification agency's issuer with its login bridge, a
stand-in for ProConnect, the company registers (replayed) and a connector's verifier run as
real HTTP services (uvicorn in threads, TLS with a CA made for this run); the organization's
wallet is a real encrypted wallet driven through the functions `ancre wallet` calls.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from ancre.cli.demo_net import DemoCa, bound_socket, make_ca, register_replay, serve_tls
from ancre.cli.demo_op import CLIENT_ID, StandIn, standin_app
from ancre.trust.clock import SystemClock
from ancre.trust.errors import InternalError
from ancre.trust.vcdm.credentials import MANDATE_VCT

if TYPE_CHECKING:
    import httpx

    from ancre.issuer.service import Issuer

__all__ = ["Narrator", "Scene", "running_services"]

PASSPHRASE = "ancre demo: not a secret"  # noqa: S105 - the demo's throw-away key stores
SCRYPT_N = 2**14  # the demo's wallet and key store: fast to open, never kept
LOGIN_TYPES = ("LegalPerson", "LocalRegistrationNumber", "VatID", "Mandate")
TRUSTED_TYPES = (
    "gx:LegalPerson", "gx:LocalRegistrationNumber", "gx:VatID", MANDATE_VCT,
    "ancre:Certification",
)  # fmt: skip
SCHEME = "ISO/IEC 27001:2022"


class Narrator:
    """Prints each step in plain words and keeps the verdicts that were not expected."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.surprises: list[str] = []

    def title(self, text: str) -> None:
        self.console.rule(f"[bold]{escape(text)}")

    @staticmethod
    def short(did: str) -> str:
        """A did:jwk is its whole key: shown by its start."""
        return did if len(did) <= 48 else did[:40] + "…"

    def say(self, text: str) -> None:
        self.console.print(f"  {escape(text)}")

    def expect(self, what: str, ok: bool, got: str) -> None:
        if ok:
            self.console.print(f"  [green]→ as expected:[/] {escape(what)} ({escape(got)})\n")
        else:
            self.surprises.append(f"{what}: got {got}")
            self.console.print(f"  [red]→ NOT as expected:[/] {escape(what)} (got {escape(got)})\n")


@dataclass
class Scene:
    """What every step shares: the narrator, the folder, the CA, the services' URLs."""

    story: Narrator
    folder: Path
    ca: DemoCa
    interactive: bool
    urls: dict[str, str] = field(default_factory=dict)
    issuer: Issuer | None = None
    wallet_path: Path | None = None
    #: The services' databases, closed when they stop.
    engines: list[Any] = field(default_factory=list)
    #: The verifier's last OpenID4VP verdict (JSON).
    last_verdict: dict[str, Any] = field(default_factory=dict)

    @property
    def agency(self) -> Issuer:
        """The certification agency's issuer (opened when the services start)."""
        if self.issuer is None:
            raise InternalError("the agency's issuer is not running")
        return self.issuer

    def did(self, name: str) -> str:
        return "did:web:" + self.urls[name].removeprefix("https://").replace(":", "%3A")


# -- the registry -------------------------------------------------------------------------


def _registry_app(scene: Scene) -> Any:
    """1. Two administrators add a trust anchor and accredit the agency; the list is signed."""
    from ancre.registry.api import create_app
    from ancre.registry.db import make_engine, migrate
    from ancre.registry.service import Registry
    from ancre.trust.keys.jwk import PrivateKey

    story = scene.story
    story.title("1. The data space's registry accredits a certification agency")
    key = PrivateKey.generate("ed25519")
    did = scene.did("registry")
    engine = make_engine(f"sqlite:///{scene.folder / 'registry.db'}")
    scene.engines.append(engine)
    migrate(engine)
    registry = Registry(engine, clock=SystemClock())
    registry.configure(
        registry_did=did, kid=f"{did}#list", operator_name="Loire data space",
        scheme_name="Trusted credential issuers",
    )  # fmt: skip
    change = registry.add_anchor(
        "alice", anchor_id="did:web:association.example", name="Association"
    )
    if change is None:
        raise InternalError("the demo registry runs under the two-person rule")
    story.say("alice files a trust anchor (the data space's association)")
    registry.approve("bob", change.id)
    story.say("bob, a second administrator, approves it: two people for every anchor")
    registry.add_issuer(
        "alice", did=scene.did("issuer"), legal_name="Agence de certification",
        accredited_by="did:web:association.example",
        credential_types={t: [] for t in TRUSTED_TYPES},
    )  # fmt: skip
    story.say(f"the agency {scene.did('issuer')} is accredited for {', '.join(TRUSTED_TYPES)}")
    # Credentials carry their issuance time to the second (`validFrom`, `iat`): one issued in
    # the very second the agency was listed would read as issued before it was.
    time.sleep(1.05 - time.time() % 1)
    row = registry.publish(key, "alice")
    story.say(f"trust list #{row.sequence} signed by {did}, at {scene.urls['registry']}/trust-list")
    story.say(f"audit chain: {registry.verify_audit().events} hash-chained events, intact\n")
    method = {"id": f"{did}#list", "type": "JsonWebKey2020", "controller": did,
              "publicKeyJwk": key.public_key.to_jwk()}  # fmt: skip
    document = {
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/suites/jws-2020/v1"],
        "id": did, "verificationMethod": [method], "assertionMethod": [f"{did}#list"],
    }  # fmt: skip
    return create_app(registry, signer=key, did_document=document)


# -- the agency's issuer and its login bridge ---------------------------------------------


def _issuer_app(scene: Scene, op: StandIn, register_url: str, http: httpx.Client) -> Any:
    """The agency's issuer (did:web, status lists, OpenID4VCI, login pages) with its login
    bridge: the ProConnect stand-in, Recherche d'entreprises and VIES (replayed)."""
    import json

    from ancre.issuer.accreditation import AccreditedIssuer
    from ancre.issuer.api import IssuerSettings, create_app
    from ancre.issuer.authorize import AuthorizationServer
    from ancre.issuer.bridge import LoginBridge
    from ancre.issuer.config import KEYSTORE_FILE, init_issuer, load_config
    from ancre.issuer.db import make_engine
    from ancre.issuer.login import OidcRelyingParty, ProviderConfig
    from ancre.issuer.registers import DEFAULT_POLICY, RechercheEntreprises, RetryPolicy, Vies
    from ancre.trust.keys.keystore import FileKeyStore
    from ancre.trust.net.guard import NetworkPolicy

    folder, public = scene.folder / "issuer", scene.urls["issuer"]
    init_issuer(
        folder, did=scene.did("issuer"), passphrase=PASSPHRASE, clock=SystemClock(),
        public_url=public, scrypt_n=SCRYPT_N, limits={"status_list_ttl": 1},
    )  # fmt: skip
    (folder / "schemes.json").write_text(
        json.dumps({"schemes": [{"name": SCHEME, "validity_days": 365}]})
    )
    config = load_config(folder)
    engine = make_engine(config.database_url())
    scene.engines.append(engine)
    issuer = AccreditedIssuer(
        config, engine=engine, clock=SystemClock(),
        store=FileKeyStore(folder / KEYSTORE_FILE, PASSPHRASE), public_url=public,
        accreditation=_accreditation(scene, http),
    )  # fmt: skip
    scene.issuer = issuer
    loopback = NetworkPolicy(allow_loopback=True, allow_http=True, timeout=5.0, max_redirects=0)
    registers = NetworkPolicy(
        allow_loopback=True, allow_http=True, timeout=5.0, max_redirects=0,
        user_agent=DEFAULT_POLICY.user_agent,
    )  # fmt: skip
    provider = ProviderConfig(
        name="proconnect", issuer=op.issuer, client_id=CLIENT_ID, client_secret=op.client_secret,
        redirect_uri=f"{public}/login/callback", policy=loopback,
    )  # fmt: skip
    once = RetryPolicy(attempts=1)
    bridge = LoginBridge(
        OidcRelyingParty(provider, issuer, http),
        RechercheEntreprises(http, base_url=register_url, policy=registers, retry=once, rate=None),
        AuthorizationServer(issuer),
        vies=Vies(http, base_url=register_url, policy=registers, retry=once, rate=None),
    )
    return create_app(IssuerSettings(issuer, authentication=bridge))


def _accreditation(scene: Scene, http: httpx.Client) -> Any:
    """The agency checks its own accreditation in the registry's trust list before every
    offer and issuance (as `ancre issuer serve --trust-list` does), over loopback TLS."""
    from ancre.issuer.accreditation import Accreditation
    from ancre.trust.did.resolvers import default_resolver
    from ancre.trust.net.guard import NetworkPolicy
    from ancre.trust.trust_list.client import TrustListClient

    network, clock = NetworkPolicy(allow_loopback=True), SystemClock()
    url, did = f"{scene.urls['registry']}/trust-list", scene.did("registry")
    resolver = default_resolver(http_client=http, network=network, clock=clock)
    client = TrustListClient(
        url, registry=did, resolver=resolver, clock=clock, http_client=http, network=network,
        cache_dir=str(scene.folder / "issuer-trust-list"),
    )  # fmt: skip
    return Accreditation(client, did=scene.did("issuer"), clock=clock, source=url)


def _verifier_app(scene: Scene) -> Any:
    """The connector's verifier: the registry's trust list, OpenID4VP with a did:jwk key."""
    from ancre.trust.did.jwk import did_jwk_from_public_key
    from ancre.trust.keys.jwk import PrivateKey
    from ancre.trust.net.guard import NetworkPolicy
    from ancre.verifier.openid4vp import OpenID4VPSettings
    from ancre.verifier.service import VerifierSettings, create_app

    key = PrivateKey.generate("p256")
    did = did_jwk_from_public_key(key.public_key)
    settings = VerifierSettings(
        trust_list_url=f"{scene.urls['registry']}/trust-list",
        registry_did=scene.did("registry"),
        network=NetworkPolicy(allow_loopback=True, max_bytes=4 * 1024 * 1024),
        state_dir=str(scene.folder / "verifier-state"),
        ca_file=str(scene.ca.ca),
        openid4vp=OpenID4VPSettings(
            key=key, did=did, kid=f"{did}#0", base_url=scene.urls["verifier"], open_backend=True
        ),
    )
    return create_app(settings)


@contextmanager
def running_services(story: Narrator, folder: Path, *, interactive: bool) -> Iterator[Scene]:
    """Every service of the story, started on free loopback ports; all stopped on exit."""
    import httpx

    folder.mkdir(parents=True, exist_ok=True)
    scene = Scene(story, folder, make_ca(folder), interactive)
    names = ("registry", "issuer", "verifier", "op", "registers")
    sockets = {name: bound_socket() for name in names}
    for name, (_, port) in sockets.items():
        scheme, host = ("http", "127.0.0.1") if name == "registers" else ("https", "localhost")
        scene.urls[name] = f"{scheme}://{host}:{port}"
    http = httpx.Client(trust_env=False, verify=scene.ca.context())
    with ExitStack() as stack:
        stack.callback(lambda: [engine.dispose() for engine in scene.engines])
        stack.callback(http.close)
        try:
            op = StandIn(scene.urls["op"], f"{scene.urls['issuer']}/login/callback")
            apps = {
                "registers": register_replay(),
                "op": standin_app(op),
                "registry": _registry_app(scene),
                "issuer": _issuer_app(scene, op, scene.urls["registers"], http),
                "verifier": _verifier_app(scene),
            }
            for name in names:
                sock = sockets.pop(name)[0]
                ca = None if name == "registers" else scene.ca
                stack.enter_context(serve_tls(sock, apps[name], ca))
        finally:
            for sock, _ in sockets.values():
                sock.close()
        # Stopped before the servers: an idle TLS connection slows a server's shutdown.
        stack.callback(http.close)
        yield scene
