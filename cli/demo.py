"""`ancre demo`: the story so far, for real, on loopback.

1. A certification agency generates its signing key in an encrypted key store and publishes
   its did:web document from a real HTTP server on 127.0.0.1.
2. It issues Gaia-X credentials (registration number, VAT ID, legal person) to DANONE,
   after checking the SIRET's check digits (the company-register lookup comes with the
   issuer service).
3. A connector verifies them — did:web resolved over HTTP, signature, data model, dates,
   schema, trust — and then refuses a tampered copy, a self-issued credential, a replayed
   presentation and, two years on, an expired credential.

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
from ancre.trust._b64 import b64url_decode, b64url_encode
from ancre.trust.clock import FixedClock, SystemClock
from ancre.trust.credentials import (
    Address,
    legal_person_credential,
    local_registration_number_credential,
    vat_id_credential,
)
from ancre.trust.did_jwk import did_jwk_from_public_key
from ancre.trust.did_key import did_key_from_public_key
from ancre.trust.keys import PrivateKey
from ancre.trust.keystore import FileKeyStore
from ancre.trust.policy import VerificationPolicy
from ancre.trust.result import Status, VerificationResult
from ancre.trust.vc_jose import issue_vc_jwt, issue_vp_jwt
from ancre.verifier.pipeline import verify

__all__ = ["run_demo"]

SIRET = "55203253400646"  # DANONE's head office, as in the INSEE Sirene reference answer


@contextmanager
def _did_web_host(documents: dict[str, bytes]) -> Iterator[int]:
    """A real HTTP server on loopback serving `documents` by path."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = documents.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/did+json")
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
        documents: dict[str, bytes] = {}
        with _did_web_host(documents) as port:
            _run(story, Path(tmp), documents, port)
    if story.surprises:
        console.print("[bold red]Demo finished with unexpected verdicts:[/]")
        for line in story.surprises:
            console.print(f"  - {escape(line)}")
        return 1
    console.print("[bold green]Demo finished: every verdict was the expected one.[/]")
    return 0


def _run(story: _Story, tmp: Path, documents: dict[str, bytes], port: int) -> None:
    import httpx

    from ancre.trust.net import NetworkPolicy
    from ancre.trust.resolvers import default_resolver

    now = SystemClock().now().replace(microsecond=0)
    clock = FixedClock(now)

    story.title("1. The certification agency sets up its identity")
    store_path = tmp / "agency-keys.ancre"
    store = FileKeyStore.create(store_path, secrets.token_urlsafe(16))
    info = store.generate("signing", "ed25519")
    agency = f"did:web:127.0.0.1%3A{port}"
    kid = f"{agency}#signing"
    did_document = {
        "@context": [
            "https://www.w3.org/ns/did/v1",
            "https://w3id.org/security/suites/jws-2020/v1",
        ],
        "id": agency,
        "verificationMethod": [
            {
                "id": kid,
                "type": "JsonWebKey2020",
                "controller": agency,
                "publicKeyJwk": info.public_key.to_jwk(),
            }
        ],
        "assertionMethod": [kid],
    }
    documents["/.well-known/did.json"] = json.dumps(did_document).encode()
    story.say(f"  key store   {store_path.name} (scrypt + AES-256-GCM, mode 0600)")
    story.say(f"  key         Ed25519, RFC 7638 thumbprint {info.public_key.thumbprint()}")
    story.say(f"  DID         {agency}")
    story.say(f"  DID document served at http://127.0.0.1:{port}/.well-known/did.json\n")

    story.title("2. It issues Gaia-X credentials to DANONE")
    signer = store.signer("signing")
    company = "https://danone.example/participant"
    year = timedelta(days=365)
    evidence = {
        "type": ["ancre:RegisterCheck"],
        "ancre:register": "INSEE Sirene (check digits only in this demo)",
        "ancre:checkedAt": now.isoformat().replace("+00:00", "Z"),
    }
    registration = local_registration_number_credential(
        issuer=agency,
        credential_id=f"urn:uuid:{secrets.token_hex(16)}",
        subject_id=f"{company}#lrn",
        siret_or_siren=SIRET,
        valid_from=now,
        valid_until=now + year,
        evidence=[evidence],
    )
    vat = vat_id_credential(
        issuer=agency,
        credential_id=f"urn:uuid:{secrets.token_hex(16)}",
        subject_id=f"{company}#vat",
        siren_or_vat=SIRET[:9],
        valid_from=now,
        valid_until=now + year,
    )
    paris = Address(
        country_code="FR",
        subdivision_code="FR-75",
        street_address="17 boulevard Haussmann",
        postal_code="75009",
        locality="Paris",
    )
    legal_person = legal_person_credential(
        issuer=agency,
        credential_id=f"urn:uuid:{secrets.token_hex(16)}",
        subject_id=f"{company}#lp",
        name="DANONE",
        registration_number_id=f"{company}#lrn",
        legal_address=paris,
        valid_from=now,
        valid_until=now + year,
    )
    tokens = {}
    for label, document in (
        ("gx:LocalRegistrationNumber", registration),
        ("gx:VatID", vat),
        ("gx:LegalPerson", legal_person),
    ):
        tokens[label] = issue_vc_jwt(document, signer, kid)
        story.say(f"  {label:<27} vc+jwt, {len(tokens[label])} bytes")
    story.say(f"  SIRET {SIRET} → VAT {vat['credentialSubject']['gx:vatID']}\n")

    story.title("3. A connector verifies them (did:web resolved over HTTP)")
    with httpx.Client(trust_env=False) as client:
        resolver = default_resolver(
            http_client=client,
            network=NetworkPolicy(allow_loopback=True, allow_http=True),
            clock=clock,
        )
        policy = VerificationPolicy(trusted_issuers=frozenset({agency}))

        def check(token: str, at: FixedClock = clock, p: VerificationPolicy = policy) -> Any:
            return verify(token, resolver=resolver, clock=at, policy=p)

        for n, (label, token) in enumerate(tokens.items()):
            story.expect(f"{label} is valid", check(token), Status.VALID, full=n == 0)

        story.title("4. Attacks and mistakes the connector refuses")
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
        self_issued = replace_issuer(legal_person, own_did)
        own_token = issue_vc_jwt(self_issued, own, f"{own_did}#{own_did.removeprefix('did:key:')}")
        story.expect(
            "a self-issued credential is not trusted",
            check(own_token),
            Status.INVALID,
            "issuer_not_trusted",
        )

        story.say("  DANONE's wallet presents its credentials to a data-space verifier:")
        wallet = PrivateKey.generate("p256")
        holder = did_jwk_from_public_key(wallet.public_key)
        vp = issue_vp_jwt(
            list(tokens.values()),
            wallet,
            holder=holder,
            kid=f"{holder}#0",
            audience="https://connector.loire.example",
            nonce="3f2b9c",
            clock=clock,
        )
        bound = replace(policy, audience="https://connector.loire.example", nonce="3f2b9c")
        story.expect("the presentation is valid", check(vp, p=bound), Status.VALID)
        story.say("  someone replays that presentation to another verifier's challenge:")
        replayed = replace(bound, nonce="a1d7e0")
        story.expect(
            "a replayed presentation is refused",
            check(vp, p=replayed),
            Status.INVALID,
            "nonce_mismatch",
        )

        story.say("  the connector checks the VAT credential again in two years:")
        later = FixedClock(now + 2 * year)
        story.expect(
            "an expired credential is refused",
            check(tokens["gx:VatID"], at=later),
            Status.INVALID,
            "expired",
        )


def replace_issuer(credential: dict[str, Any], issuer: str) -> dict[str, Any]:
    return {**credential, "issuer": issuer, "validFrom": credential["validFrom"]}
