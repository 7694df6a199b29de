"""Shared test helpers (imported by tests; not a test module)."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ancre.trust.codec.b64 import b64url_encode
from ancre.trust.did.document import DidDocument
from ancre.trust.did.key import did_key_from_public_key
from ancre.trust.keys.jwk import PrivateKey

VECTORS = Path(__file__).parent / "vectors"
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def vectors(name: str) -> Any:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Issuer:
    key: PrivateKey
    did: str

    @property
    def kid(self) -> str:
        return f"{self.did}#{self.did.removeprefix('did:key:')}"

    @classmethod
    def new(cls, key_type: str = "ed25519") -> Issuer:
        key = PrivateKey.generate(key_type)
        return cls(key, did_key_from_public_key(key.public_key))


def credential(issuer: str, **overrides: Any) -> dict[str, Any]:
    """A minimal VCDM 2.0 credential (no Gaia-X type, so no schema applies)."""
    doc: dict[str, Any] = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": "urn:uuid:6a1bb35e-6b6b-4a4d-9e59-2d8bd0e33c7e",
        "type": ["VerifiableCredential", "ExampleMembership"],
        "issuer": issuer,
        "validFrom": "2026-01-01T00:00:00Z",
        "validUntil": "2027-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:member", "memberOf": "Data space Loire"},
    }
    doc.update(overrides)
    return doc


def b64json(value: Mapping[str, Any] | str) -> str:
    raw = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return b64url_encode(raw.encode())


def forge(
    header: Mapping[str, Any], payload: Mapping[str, Any] | str, key: PrivateKey | None
) -> str:
    """A compact JWS with exactly this header (no alg rewriting), signed by `key` if given."""
    signing_input = f"{b64json(header)}.{b64json(payload)}"
    signature = key.sign(signing_input.encode()) if key else b"\0" * 64
    return f"{signing_input}.{b64url_encode(signature)}"


def std_b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class StaticResolver:
    """A DID method whose documents the test hands over (e.g. to put a key only under
    `authentication`)."""

    def __init__(self, documents: Mapping[str, Mapping[str, Any]]) -> None:
        self._docs = dict(documents)

    def resolve(self, did: str) -> DidDocument:
        return DidDocument.from_json(self._docs[did], expected_id=did)


def service_verdict(response: Any) -> tuple[str, list[str]]:
    """The verifier service's answer to a completed verification (VC-API: always 200) as
    (ancre status from the `Ancre-Status` header, error codes from `problemDetails`)."""
    assert response.status_code == 200, response.text
    body = response.json()
    codes = [p["code"] for p in body.get("problemDetails", []) if "code" in p]
    status = response.headers["Ancre-Status"]
    assert body["verified"] is (status == "valid")
    return status, codes


def spawn_server(
    argv: Callable[[int], list[str]],
    ready: Callable[[int], bool],
    *,
    attempts: int = 3,
    **popen: Any,
) -> tuple[subprocess.Popen[bytes], int]:
    """Start a server process (a command line, not an in-process app) on a port the OS
    picked, and wait until `ready(port)`. A process cannot be handed a bound socket, so
    between the probe's close and the server's bind another process may take the port: the
    server then exits at start, and this tries again on a new port."""
    for _ in range(attempts):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        process = subprocess.Popen(argv(port), **popen)
        for _ in range(300):  # bounded wait for start-up (~15 s)
            if process.poll() is not None:
                break  # exited: most likely the port was taken meanwhile
            if ready(port):
                return process, port
            time.sleep(0.05)
        else:
            process.kill()
            process.wait(10)
            raise AssertionError(f"{argv(port)[:4]} did not become ready")
    raise AssertionError(f"{argv(0)[:4]} exited at start {attempts} times")
