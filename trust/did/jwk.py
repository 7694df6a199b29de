"""did:jwk (https://github.com/quartzjer/did-jwk/blob/main/spec.md).

The DID is `did:jwk:` + base64url(UTF-8 JSON of the public JWK); the document has one method,
`#0`. Per the spec, a JWK with `"use": "enc"` is for key agreement only, never for signing.
"""

from __future__ import annotations

from functools import lru_cache

from ancre.trust.codec.b64 import b64url_decode, b64url_encode
from ancre.trust.codec.json import dumps_compact, loads_strict
from ancre.trust.did.document import DidDocument, parse_did
from ancre.trust.errors import Code, MalformedError
from ancre.trust.keys.jwk import PublicKey

__all__ = ["DidJwkResolver", "did_jwk_from_public_key"]

MAX_DID_JWK_BYTES = 4096


def did_jwk_from_public_key(key: PublicKey) -> str:
    return "did:jwk:" + b64url_encode(dumps_compact(key.to_jwk()).encode("utf-8"))


@lru_cache(maxsize=4096)
def _document(did: str) -> DidDocument:
    method, msid = parse_did(did)
    if method != "jwk":
        raise MalformedError(Code.INVALID_DID, f"{did[:80]} is not a did:jwk")
    jwk = loads_strict(
        b64url_decode(msid, what="did:jwk value"), what="did:jwk JWK", max_bytes=MAX_DID_JWK_BYTES
    )
    if not isinstance(jwk, dict):
        raise MalformedError(Code.INVALID_DID, "did:jwk must encode a JSON object")
    PublicKey.from_jwk(jwk)  # refuses private members and bad keys before anything else
    vm_id = f"{did}#0"
    doc: dict[str, object] = {
        "@context": [
            "https://www.w3.org/ns/did/v1",
            "https://w3id.org/security/suites/jws-2020/v1",
        ],
        "id": did,
        "verificationMethod": [
            {"id": vm_id, "type": "JsonWebKey2020", "controller": did, "publicKeyJwk": jwk}
        ],
    }
    if jwk.get("use") != "enc":
        for rel in (
            "assertionMethod",
            "authentication",
            "capabilityInvocation",
            "capabilityDelegation",
        ):
            doc[rel] = [vm_id]
    if jwk.get("use") != "sig":
        doc["keyAgreement"] = [vm_id]
    return DidDocument.from_json(doc, expected_id=did)


class DidJwkResolver:
    """Resolves did:jwk by decoding (pure, cached)."""

    #: The document is a pure function of the DID (CompositeResolver may remember keys).
    pure = True

    def resolve(self, did: str) -> DidDocument:
        return _document(did)
