"""`ancre demo`: the story so far, for real, on loopback.

1. A data space runs a registry: two administrators add a trust anchor, accredit a
   certification agency for three Gaia-X credential types (French companies only) and
   publish a signed trust list.
2. The agency publishes its did:web document and a revocation list, checks DANONE's SIRET
   and issues its Gaia-X credentials.
3. A connector verifies them — did:web resolved over HTTP, signature, data model, dates,
   schema, revocation list, trust list — and refuses a tampered copy, a self-issued
   credential and a replayed presentation.
4. Time passes: the agency revokes a credential, the registry suspends the agency, and the
   connector's answers change accordingly — without rewriting the past.

Every verdict printed comes from the same code path as `ancre verify`.
"""

from __future__ import annotations

import json
import secrets
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from ancre.cli.output import render_result
from ancre.issuer.builders import (
    Address,
    legal_person_credential,
    local_registration_number_credential,
    vat_id_credential,
)
from ancre.trust.clock import FixedClock, SystemClock
from ancre.trust.codec.b64 import b64url_decode, b64url_encode
from ancre.trust.did.jwk import did_jwk_from_public_key
from ancre.trust.did.key import did_key_from_public_key
from ancre.trust.errors import Code, InternalError, InvalidError
from ancre.trust.jose.vc_jose import issue_vc_jwt, issue_vp_jwt
from ancre.trust.keys.jwk import PrivateKey, PublicKey
from ancre.trust.keys.keystore import FileKeyStore
from ancre.trust.policy import VerificationPolicy
from ancre.trust.result import Status, VerificationResult
from ancre.verifier.engine import Verifier

if TYPE_CHECKING:
    import httpx
    from sqlalchemy.engine import Engine

    from ancre.registry.service import Registry
    from ancre.trust.keys.jwk import Signer

__all__ = ["run_demo"]

SIRET = "55203253400646"  # DANONE's head office, as in the INSEE Sirene reference answer
TYPES = ("gx:LegalPerson", "gx:LocalRegistrationNumber", "gx:VatID")
STRICT = VerificationPolicy()


@contextmanager
def _web_host(documents: dict[str, tuple[bytes, str]]) -> Iterator[int]:
    """A real HTTP server on loopback serving `documents` (path → body, media type)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = documents.get(self.path)
            if found is None:
                self.send_error(404)
                return
            body, media = found
            self.send_response(200)
            self.send_header("Content-Type", media)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "max-age=300")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _did_document(did: str, kid: str, key: PublicKey) -> bytes:
    method = {"id": kid, "type": "JsonWebKey2020", "controller": did, "publicKeyJwk": key.to_jwk()}
    document = {
        "@context": [
            "https://www.w3.org/ns/did/v1",
            "https://w3id.org/security/suites/jws-2020/v1",
        ],
        "id": did,
        "verificationMethod": [method],
        "assertionMethod": [kid],
    }
    return json.dumps(document).encode()


class _Story:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.surprises: list[str] = []

    def title(self, text: str) -> None:
        self.console.rule(f"[bold]{escape(text)}")

    def say(self, text: str) -> None:
        self.console.print(text)

    def expect(
        self,
        what: str,
        result: VerificationResult,
        status: Status,
        code: str | None = None,
        *,
        full: bool = False,
    ) -> None:
        render_result(result, indent="  ", brief=not full)
        got = result.errors[0].code if result.errors else None
        if result.status is status and (code is None or got == code):
            self.say(f"  [green]→ as expected:[/] {escape(what)}\n")
        else:
            self.surprises.append(f"{what}: got {result.status} {got}")
            self.say(f"  [red]→ NOT as expected:[/] {escape(what)} (got {result.status} {got})\n")


def run_demo() -> int:
    """Run the demo; 0 if every verdict was the expected one."""
    console = Console(highlight=False, emoji=False, soft_wrap=True)
    story = _Story(console)
    with tempfile.TemporaryDirectory(prefix="ancre-demo-") as tmp:
        documents: dict[str, tuple[bytes, str]] = {}
        with _web_host(documents) as port:
            _run(story, Path(tmp), documents, port)
    if story.surprises:
        console.print("[bold red]Demo finished with unexpected verdicts:[/]")
        for line in story.surprises:
            console.print(f"  - {escape(line)}")
        return 1
    console.print("[bold green]Demo finished: every verdict was the expected one.[/]")
    return 0


def _run(story: _Story, tmp: Path, documents: dict[str, tuple[bytes, str]], port: int) -> None:
    import httpx

    clock = FixedClock(SystemClock().now().replace(microsecond=0))
    scene = _Scene(story, tmp, documents, port, clock, start=clock.now())
    registry = _accredit(scene)
    agency = _issue(scene)
    with httpx.Client(trust_env=False) as client:
        connector = _connect(scene, registry, agency, client)
        _refuse_forgeries(scene, agency, connector)
        _time_passes(scene, registry, agency, connector)
    registry.engine.dispose()


@dataclass
class _Scene:
    """What every chapter shares: the narrator, a scratch folder, the documents the loopback
    web host serves (on `port`) and the story's clock (`start`: when the story began)."""

    story: _Story
    tmp: Path
    documents: dict[str, tuple[bytes, str]]
    port: int
    clock: FixedClock
    start: datetime

    @property
    def host(self) -> str:
        """The web host as a did:web names it."""
        return f"127.0.0.1%3A{self.port}"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def agency(self) -> str:
        """The certification agency's DID."""
        return f"did:web:{self.host}"


@dataclass
class _Registry:
    """Chapter 1's data-space registry: its service and database, and the key and DID its
    trust lists are signed with."""

    scene: _Scene
    service: Registry
    engine: Engine
    key: PrivateKey
    did: str

    def publish(self) -> int:
        """Sign and serve the trust list; its sequence number."""
        row = self.service.publish(self.key, "alice")
        self.scene.documents["/trust-list"] = (row.jws.encode(), "application/trust-list+jwt")
        return row.sequence


def _accredit(scene: _Scene) -> _Registry:
    """1. The registry's administrators add a trust anchor, accredit the agency and publish."""
    from ancre.registry.db import make_engine, migrate
    from ancre.registry.service import Registry
    from ancre.trust.trust_list.model import ClaimConstraint

    story = scene.story
    story.title("1. The data space's registry accredits a certification agency")
    registry_key = PrivateKey.generate("ed25519")
    registry_did = f"did:web:{scene.host}:registry"
    scene.documents["/registry/did.json"] = (
        _did_document(registry_did, f"{registry_did}#list", registry_key.public_key),
        "application/did+json",
    )
    engine = make_engine(f"sqlite:///{scene.tmp / 'registry.db'}")
    migrate(engine)
    registry = Registry(engine, clock=scene.clock)
    registry.configure(
        registry_did=registry_did,
        kid=f"{registry_did}#list",
        operator_name="Loire data space",
        scheme_name="Trusted credential issuers",
    )
    change = registry.add_anchor(
        "alice", anchor_id="did:web:association.example", name="Association"
    )
    if change is None:
        raise InternalError("the demo registry runs under the two-person rule")
    registry.approve("bob", change.id)
    story.say("  alice files the trust anchor; bob, a second administrator, approves it")
    agency = scene.agency
    fr_only = [ClaimConstraint("credentialSubject.gx:legalAddress.gx:countryCode", ("FR",))]
    registry.add_issuer(
        "alice",
        did=agency,
        legal_name="Agence de certification",
        accredited_by="did:web:association.example",
        credential_types={
            "gx:LegalPerson": fr_only,
            "gx:LocalRegistrationNumber": [],
            "gx:VatID": [],
        },
    )
    published = _Registry(scene, registry, engine, registry_key, registry_did)
    story.say(f"  the agency {agency} is accredited for {', '.join(TYPES)} (LegalPerson: FR only)")
    story.say(
        f"  trust list #{published.publish()} signed by {registry_did}, "
        f"served at {scene.base}/trust-list"
    )
    story.say(f"  audit chain: {registry.verify_audit().events} hash-chained events, intact\n")
    return published


COMPANY = "https://danone.example/participant"
PARIS = Address("FR", "FR-75", "17 boulevard Haussmann", "75009", "Paris")
YEAR = timedelta(days=365)


class _Agency:
    """Chapter 2's certification agency: its signing key, its revocation list and the
    credentials it issued (`tokens`, with their revocation `indexes`)."""

    def __init__(self, scene: _Scene, signer: Signer, kid: str) -> None:
        from ancre.trust.status.bitstring import BitstringStatusList

        self.scene = scene
        self.did = scene.agency
        self.signer = signer
        self.kid = kid
        self.revocations = BitstringStatusList()
        self.list_url = f"{scene.base}/status/1"
        self.tokens: dict[str, str] = {}
        self.indexes: dict[str, int] = {}
        self.unsigned: dict[str, dict[str, Any]] = {}

    def publish_status_list(self) -> None:
        unsigned = self.revocations.credential(
            id=self.list_url, issuer=self.did, valid_from=self.scene.clock.now()
        )
        self.scene.documents["/status/1"] = (
            issue_vc_jwt(unsigned, self.signer, self.kid).encode(),
            "application/vc+jwt",
        )

    def with_status(self, document: dict[str, Any]) -> tuple[dict[str, Any], int]:
        index = self.revocations.allocate()
        entry = self.revocations.entry(index, status_list_credential=self.list_url)
        return {**document, "credentialStatus": entry}, index

    def legal_person(self, valid_from: Any) -> dict[str, Any]:
        return legal_person_credential(
            issuer=self.did,
            credential_id=_ident(),
            subject_id=f"{COMPANY}#lp",
            name="DANONE",
            registration_number_id=f"{COMPANY}#lrn",
            legal_address=PARIS,
            valid_from=valid_from,
            valid_until=valid_from + YEAR,
        )


def _ident() -> str:
    return f"urn:uuid:{secrets.token_hex(16)}"


def _issue(scene: _Scene) -> _Agency:
    """2. The agency publishes its DID document and revocation list, then issues."""
    story = scene.story
    story.title("2. The agency publishes its identity and a revocation list, then issues")
    store = FileKeyStore.create(scene.tmp / "agency-keys.ancre", secrets.token_urlsafe(16))
    info = store.generate("signing", "ed25519")
    agency = _Agency(scene, store.signer("signing"), f"{scene.agency}#signing")
    scene.documents["/.well-known/did.json"] = (
        _did_document(agency.did, agency.kid, info.public_key),
        "application/did+json",
    )
    agency.publish_status_list()
    story.say(f"  key store   {store.path.name} (scrypt + AES-256-GCM, mode 0600)")
    story.say(f"  DID         {agency.did} (Ed25519, thumbprint {info.public_key.thumbprint()})")
    story.say(f"  revocations {agency.list_url} (131,072 entries, gzip, signed vc+jwt)")
    now = scene.clock.now()
    evidence = {
        "type": ["ancre:RegisterCheck"],
        "ancre:register": "INSEE Sirene (check digits only in this demo)",
        "ancre:checkedAt": now.isoformat().replace("+00:00", "Z"),
    }
    agency.unsigned = {
        "gx:LocalRegistrationNumber": local_registration_number_credential(
            issuer=agency.did, credential_id=_ident(), subject_id=f"{COMPANY}#lrn",
            siret_or_siren=SIRET, valid_from=now, valid_until=now + YEAR, evidence=[evidence],
        ),
        "gx:VatID": vat_id_credential(
            issuer=agency.did, credential_id=_ident(), subject_id=f"{COMPANY}#vat",
            siren_or_vat=SIRET[:9], valid_from=now, valid_until=now + YEAR,
        ),
        "gx:LegalPerson": agency.legal_person(now),
    }  # fmt: skip
    for label, document in agency.unsigned.items():
        secured, index = agency.with_status(document)
        agency.indexes[label] = index
        agency.tokens[label] = token = issue_vc_jwt(secured, agency.signer, agency.kid)
        story.say(f"  issued {label:<27} vc+jwt, {len(token)} bytes, status #{index}")
    vat = agency.unsigned["gx:VatID"]["credentialSubject"]["gx:vatID"]
    story.say(f"  SIRET {SIRET} (check digits verified) → VAT {vat}\n")
    return agency


class _Connector:
    """The data-space connector's verifier, as `ancre verify` runs it."""

    def __init__(self, verifier: Verifier) -> None:
        self.verifier = verifier

    def check(self, token: str, policy: VerificationPolicy = STRICT) -> VerificationResult:
        return self.verifier.verify(token, policy=policy)


def _connect(
    scene: _Scene, registry: _Registry, agency: _Agency, client: httpx.Client
) -> _Connector:
    """3. A connector resolves, fetches and verifies each credential the agency issued."""
    from ancre.trust.net.guard import NetworkPolicy
    from ancre.verifier.factory import TrustListSource, build_context

    scene.story.title(
        "3. A connector verifies them: DID, signature, dates, schema, revocation, trust"
    )
    context = build_context(
        clock=scene.clock,
        policy=STRICT,
        http=client,
        network=NetworkPolicy(allow_loopback=True, allow_http=True, max_bytes=4 * 1024 * 1024),
        trust_list=TrustListSource(
            f"{scene.base}/trust-list",
            registry.did,
            # The demo's registry lives and dies with this run: so does its rollback
            # memory (the registry DID names a loopback port another run may reuse, from
            # #1 again).
            state_dir=str(scene.tmp / "state"),
        ),
    )
    connector = _Connector(Verifier(context))
    for n, (label, token) in enumerate(agency.tokens.items()):
        scene.story.expect(f"{label} is valid", connector.check(token), Status.VALID, full=n == 0)
    return connector


def _refuse_forgeries(scene: _Scene, agency: _Agency, connector: _Connector) -> None:
    """4. A tampered copy, a self-issued credential and a replayed presentation."""
    story, check = scene.story, connector.check
    story.title("4. Forgeries and replays the connector refuses")
    head, body, sig = agency.tokens["gx:LegalPerson"].split(".")
    forged = json.loads(b64url_decode(body))
    forged["credentialSubject"]["schema:name"] = "DAN0NE HOLDINGS"
    story.say("  a copy of the LegalPerson credential with another company name:")
    tampered = f"{head}.{b64url_encode(json.dumps(forged).encode())}.{sig}"
    story.expect(
        "tampering breaks the signature", check(tampered), Status.INVALID, "signature_invalid"
    )

    story.say("  DANONE signs a LegalPerson credential about itself with its own did:key:")
    own = PrivateKey.generate("p256")
    own_did = did_key_from_public_key(own.public_key)
    self_issued = {**agency.unsigned["gx:LegalPerson"], "issuer": own_did}
    own_token = issue_vc_jwt(self_issued, own, f"{own_did}#{own_did.removeprefix('did:key:')}")
    story.expect(
        "an issuer missing from the trust list is refused",
        check(own_token),
        Status.INVALID,
        "issuer_not_trusted",
    )

    story.say("  DANONE's wallet presents its credentials to the connector's challenge:")
    wallet = PrivateKey.generate("p256")
    holder = did_jwk_from_public_key(wallet.public_key)
    vp = issue_vp_jwt(
        list(agency.tokens.values()), wallet, holder=holder, kid=f"{holder}#0",
        audience="https://connector.loire.example", nonce="3f2b9c", clock=scene.clock,
    )  # fmt: skip
    bound = VerificationPolicy(audience="https://connector.loire.example", nonce="3f2b9c")
    story.expect("the presentation is valid", check(vp, bound), Status.VALID)
    story.say("  someone replays that presentation to another verifier's challenge:")
    story.expect(
        "a replayed presentation is refused",
        check(vp, replace(bound, nonce="a1d7e0")),
        Status.INVALID,
        "nonce_mismatch",
    )


def _time_passes(
    scene: _Scene, registry: _Registry, agency: _Agency, connector: _Connector
) -> None:
    """5. A revocation and a suspension change the answers, without rewriting the past."""
    from ancre.trust.trust_list.model import EntryStatus

    story, clock, check = scene.story, scene.clock, connector.check
    story.title("5. Time passes")
    agency.revocations.set(agency.indexes["gx:VatID"])
    agency.publish_status_list()
    clock.advance(timedelta(minutes=10))
    story.say("  the agency revokes the VAT credential; ten minutes later (the list's cache time):")
    story.expect(
        "the revoked credential is refused",
        check(agency.tokens["gx:VatID"]),
        Status.INVALID,
        "revoked",
    )

    registry.service.set_issuer_status(
        "bob", agency.did, EntryStatus.SUSPENDED, reason="audit pending"
    )
    suspended = clock.now()
    clock.advance(timedelta(minutes=1))
    story.say(f"  the registry suspends the agency and publishes trust list #{registry.publish()};")
    late = issue_vc_jwt(
        agency.with_status(agency.legal_person(clock.now()))[0], agency.signer, agency.kid
    )
    clock.advance(timedelta(minutes=10))
    story.say("  a LegalPerson credential the agency issues after its suspension:")
    story.expect(
        "a credential issued while suspended is refused",
        check(late),
        Status.INVALID,
        "issuer_not_trusted",
    )
    story.say("  the LegalPerson credential issued before the suspension:")
    story.expect(
        "what was issued while trusted stays valid",
        check(agency.tokens["gx:LegalPerson"]),
        Status.VALID,
    )
    history = [h["status"] for h in registry.service.issuer_view(agency.did)["status"]]
    story.say(f"  the agency's history: {' → '.join(history)} (since {suspended:%H:%M} UTC)")
    report = registry.service.verify_audit(key=registry.key.public_key)
    if not report.ok:
        raise InvalidError(Code.AUDIT_CHAIN_BROKEN, report.reason)
    story.say(
        f"  audit chain: {report.events} events, intact, {report.signed_events} signed by "
        f"the registry; the story began {scene.start:%H:%M} UTC\n"
    )
