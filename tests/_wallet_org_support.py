"""Helpers for the organization-side wallet tests: a verifier run in-process with the
engine (loopback https, the test CA), credentials issued in the test by a did:jwk issuer,
and a loopback https server publishing a did.json."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from _issuer_support import Tls, bound_socket, serve_on

from ancre.trust.clock import SystemClock
from ancre.trust.did.jwk import did_jwk_from_public_key
from ancre.trust.jose.vc_jose import issue_vc_jwt
from ancre.trust.keys.jwk import KeyType, PrivateKey
from ancre.trust.policy import VerificationPolicy
from ancre.trust.result import VerificationResult
from ancre.verifier.engine import Verifier
from ancre.verifier.factory import build_context
from ancre.wallet.http import make_client, network_policy

GX_CONTEXT = ["https://www.w3.org/ns/credentials/v2", "https://w3id.org/gaia-x/development#"]


def verify_presentation(
    token: str,
    ca: Path,
    *,
    audience: str,
    nonce: str,
    trusted_issuers: frozenset[str] | None = None,
) -> VerificationResult:
    """ancre's verification engine, as `ancre verify --audience --nonce` runs it, with
    did:web resolved over loopback https trusting the test CA."""
    network = replace(network_policy(insecure_loopback=True), allow_http=False)
    policy = VerificationPolicy(audience=audience, nonce=nonce, trusted_issuers=trusted_issuers)
    with make_client(ca) as client:
        context = build_context(clock=SystemClock(), policy=policy, http=client, network=network)
        return Verifier(context).verify(token, expect="presentation")


class TestIssuer:
    """A did:jwk issuer signing VCDM 2.0 vc+jwt credentials in the test."""

    __test__ = False

    def __init__(self) -> None:
        self.key = PrivateKey.generate(KeyType("p256"))
        self.did = did_jwk_from_public_key(self.key.public_key)

    def issue(
        self, subject: str, credential_type: str, claims: dict[str, Any], *, serial: int = 1
    ) -> str:
        document = {
            "@context": GX_CONTEXT,
            "id": f"https://issuer.example/credentials/{serial}",
            "type": ["VerifiableCredential", credential_type],
            "issuer": self.did,
            "validFrom": "2025-01-01T00:00:00Z",
            "validUntil": "2035-01-01T00:00:00Z",
            "credentialSubject": {"id": subject, "type": credential_type, **claims},
        }
        return issue_vc_jwt(document, self.key, f"{self.did}#0")


@contextmanager
def publish_did_json(tls: Tls, document: Path | None = None) -> Iterator[tuple[int, Path]]:
    """A loopback https server (the test CA's localhost certificate) serving whatever is
    written to the yielded file (`document`, else a new temporary one) at
    /.well-known/did.json and /<path>/did.json."""
    import tempfile

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    if document is None:
        document = Path(tempfile.mkdtemp(prefix="didweb-")) / "did.json"
    served = document

    async def serve(request: Request) -> Response:
        if not served.exists():
            return Response(status_code=404)
        return Response(served.read_bytes(), media_type="application/did+json")

    app = Starlette(
        routes=[Route("/{path:path}/did.json", serve), Route("/.well-known/did.json", serve)]
    )
    sock, port = bound_socket()
    with serve_on(sock, app, tls):
        yield port, served


def issue_sd_jwt(
    issuer: TestIssuer,
    holder_jwk: dict[str, Any],
    claims: dict[str, Any],
    *,
    vct: str = "urn:ancre:test:membership:1",
) -> str:
    """An SD-JWT VC bound to `holder_jwk`, every claim of `claims` selectively disclosable."""
    from datetime import UTC, datetime, timedelta

    from ancre.trust.sd_jwt.vc import issue_sd_jwt_vc

    now = datetime.now(UTC)
    return issue_sd_jwt_vc(
        claims,
        issuer.key,
        issuer=issuer.did,
        kid=f"{issuer.did}#0",
        vct=vct,
        disclosable=[f"/{name}" for name in claims],
        holder_jwk=holder_jwk,
        issued_at=now - timedelta(minutes=1),
        valid_until=now + timedelta(days=30),
    ).serialize()
