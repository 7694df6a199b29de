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
from dataclasses import replace
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

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

    from ancre.registry.db import make_engine, migrate
    from ancre.registry.service import Registry
    from ancre.trust.net.guard import NetworkPolicy
    from ancre.trust.status.bitstring import BitstringStatusList
    from ancre.trust.trust_list.model import ClaimConstraint, EntryStatus
    from ancre.verifier.factory import TrustListSource, build_context

    clock = FixedClock(SystemClock().now().replace(microsecond=0))
    start = clock.now()
    host = f"127.0.0.1%3A{port}"
    base = f"http://127.0.0.1:{port}"
    loopback = NetworkPolicy(allow_loopback=True, allow_http=True, max_bytes=4 * 1024 * 1024)

    story.title("1. The data space's registry accredits a certification agency")
    registry_key = PrivateKey.generate("ed25519")
    registry_did = f"did:web:{host}:registry"
    documents["/registry/did.json"] = (
        _did_document(registry_did, f"{registry_did}#list", registry_key.public_key),
        "application/did+json",
    )
    engine = make_engine(f"sqlite:///{tmp / 'registry.db'}")
    migrate(engine)
    registry = Registry(engine, clock=clock)
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
    agency = f"did:web:{host}"
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

    def publish() -> int:
        row = registry.publish(registry_key, "alice")
        documents["/trust-list"] = (row.jws.encode(), "application/trust-list+jwt")
        return row.sequence

    story.say(f"  the agency {agency} is accredited for {', '.join(TYPES)} (LegalPerson: FR only)")
    story.say(f"  trust list #{publish()} signed by {registry_did}, served at {base}/trust-list")
    story.say(f"  audit chain: {registry.verify_audit().events} hash-chained events, intact\n")

    story.title("2. The agency publishes its identity and a revocation list, then issues")
    store = FileKeyStore.create(tmp / "agency-keys.ancre", secrets.token_urlsafe(16))
    info = store.generate("signing", "ed25519")
    signer = store.signer("signing")
    kid = f"{agency}#signing"
    documents["/.well-known/did.json"] = (
        _did_document(agency, kid, info.public_key),
        "application/did+json",
    )
    revocations = BitstringStatusList()
    list_url = f"{base}/status/1"

    def publish_status_list() -> None:
        unsigned = revocations.credential(id=list_url, issuer=agency, valid_from=clock.now())
        documents["/status/1"] = (
            issue_vc_jwt(unsigned, signer, kid).encode(),
            "application/vc+jwt",
        )

    publish_status_list()
    story.say(f"  key store   {store.path.name} (scrypt + AES-256-GCM, mode 0600)")
    story.say(f"  DID         {agency} (Ed25519, thumbprint {info.public_key.thumbprint()})")
    story.say(f"  revocations {list_url} (131,072 entries, gzip, signed vc+jwt)")

    company = "https://danone.example/participant"
    year = timedelta(days=365)
    paris = Address("FR", "FR-75", "17 boulevard Haussmann", "75009", "Paris")
    evidence = {
        "type": ["ancre:RegisterCheck"],
        "ancre:register": "INSEE Sirene (check digits only in this demo)",
        "ancre:checkedAt": clock.now().isoformat().replace("+00:00", "Z"),
    }

    def ident() -> str:
        return f"urn:uuid:{secrets.token_hex(16)}"

    def with_status(document: dict[str, Any]) -> tuple[dict[str, Any], int]:
        index = revocations.allocate()
        entry = revocations.entry(index, status_list_credential=list_url)
        return {**document, "credentialStatus": entry}, index

    def legal_person(valid_from: Any) -> dict[str, Any]:
        return legal_person_credential(
            issuer=agency,
            credential_id=ident(),
            subject_id=f"{company}#lp",
            name="DANONE",
            registration_number_id=f"{company}#lrn",
            legal_address=paris,
            valid_from=valid_from,
            valid_until=valid_from + year,
        )

    now = clock.now()
    unsigned = {
        "gx:LocalRegistrationNumber": local_registration_number_credential(
            issuer=agency, credential_id=ident(), subject_id=f"{company}#lrn",
            siret_or_siren=SIRET, valid_from=now, valid_until=now + year, evidence=[evidence],
        ),
        "gx:VatID": vat_id_credential(
            issuer=agency, credential_id=ident(), subject_id=f"{company}#vat",
            siren_or_vat=SIRET[:9], valid_from=now, valid_until=now + year,
        ),
        "gx:LegalPerson": legal_person(now),
    }  # fmt: skip
    tokens: dict[str, str] = {}
    indexes: dict[str, int] = {}
    for label, document in unsigned.items():
        secured, indexes[label] = with_status(document)
        tokens[label] = issue_vc_jwt(secured, signer, kid)
        story.say(
            f"  issued {label:<27} vc+jwt, {len(tokens[label])} bytes, status #{indexes[label]}"
        )
    vat = unsigned["gx:VatID"]["credentialSubject"]["gx:vatID"]
    story.say(f"  SIRET {SIRET} (check digits verified) → VAT {vat}\n")

    story.title("3. A connector verifies them: DID, signature, dates, schema, revocation, trust")
    with httpx.Client(trust_env=False) as client:
        context = build_context(
            clock=clock,
            policy=STRICT,
            http=client,
            network=loopback,
            trust_list=TrustListSource(
                f"{base}/trust-list",
                registry_did,
                # The demo's registry lives and dies with this run: so does its rollback
                # memory (the registry DID names a loopback port another run may reuse, from
                # #1 again).
                state_dir=str(tmp / "state"),
            ),
        )
        verifier = Verifier(context)

        def check(token: str, p: VerificationPolicy = STRICT) -> VerificationResult:
            return verifier.verify(token, policy=p)

        for n, (label, token) in enumerate(tokens.items()):
            story.expect(f"{label} is valid", check(token), Status.VALID, full=n == 0)

        story.title("4. Forgeries and replays the connector refuses")
        head, body, sig = tokens["gx:LegalPerson"].split(".")
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
        self_issued = {**unsigned["gx:LegalPerson"], "issuer": own_did}
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
            list(tokens.values()), wallet, holder=holder, kid=f"{holder}#0",
            audience="https://connector.loire.example", nonce="3f2b9c", clock=clock,
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

        story.title("5. Time passes")
        revocations.set(indexes["gx:VatID"])
        publish_status_list()
        clock.advance(timedelta(minutes=10))
        story.say(
            "  the agency revokes the VAT credential; ten minutes later (the list's cache time):"
        )
        story.expect(
            "the revoked credential is refused",
            check(tokens["gx:VatID"]),
            Status.INVALID,
            "revoked",
        )

        registry.set_issuer_status("bob", agency, EntryStatus.SUSPENDED, reason="audit pending")
        suspended = clock.now()
        clock.advance(timedelta(minutes=1))
        story.say(f"  the registry suspends the agency and publishes trust list #{publish()};")
        late = issue_vc_jwt(with_status(legal_person(clock.now()))[0], signer, kid)
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
            check(tokens["gx:LegalPerson"]),
            Status.VALID,
        )
        history = [h["status"] for h in registry.issuer_view(agency)["status"]]
        story.say(f"  the agency's history: {' → '.join(history)} (since {suspended:%H:%M} UTC)")
        report = registry.verify_audit(key=registry_key.public_key)
        if not report.ok:
            raise InvalidError(Code.AUDIT_CHAIN_BROKEN, report.reason)
        story.say(
            f"  audit chain: {report.events} events, intact, {report.signed_events} signed by "
            f"the registry; the story began {start:%H:%M} UTC\n"
        )
    engine.dispose()
