"""did:key (W3C CCG did:key v0.7) for Ed25519, P-256 and P-384.

The DID is `did:key:` + multibase(base58btc, multicodec || raw public key); EC keys are
SEC1-compressed. The document is derived, never fetched.
"""

from __future__ import annotations

from functools import lru_cache

from ancre.trust.codec.multibase import base58btc_encode, varint_encode
from ancre.trust.did.document import (
    KEY_TYPE_MULTICODECS,
    DidDocument,
    parse_did,
    public_key_from_multikey,
)
from ancre.trust.errors import Code, InvalidError, MalformedError
from ancre.trust.keys.jwk import PublicKey

__all__ = ["DidKeyResolver", "did_key_from_public_key"]


def did_key_from_public_key(key: PublicKey) -> str:
    code = KEY_TYPE_MULTICODECS.get(key.key_type)
    if code is None:
        raise InvalidError(
            Code.UNSUPPORTED_KEY_TYPE, f"{key.key_type} keys have no did:key form here"
        )
    return "did:key:z" + base58btc_encode(varint_encode(code) + key.raw_public_bytes())


@lru_cache(maxsize=4096)
def _document(did: str) -> DidDocument:
    method, msid = parse_did(did)
    if method != "key":
        raise MalformedError(Code.INVALID_DID, f"{did} is not a did:key")
    parts = msid.split(":")
    mb = parts[-1]
    if len(parts) not in (1, 2) or (len(parts) == 2 and parts[0] != "0.7"):
        raise MalformedError(Code.INVALID_DID, f"{did} has an unsupported did:key version")
    key = public_key_from_multikey(mb)
    if did_key_from_public_key(key) != f"did:key:{mb}":
        raise MalformedError(Code.INVALID_DID, f"{did} is not the canonical did:key of its key")
    vm_id = f"{did}#{mb}"
    doc = {
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
        "id": did,
        "verificationMethod": [
            {"id": vm_id, "type": "Multikey", "controller": did, "publicKeyMultibase": mb}
        ],
        "authentication": [vm_id],
        "assertionMethod": [vm_id],
        "capabilityInvocation": [vm_id],
        "capabilityDelegation": [vm_id],
    }
    return DidDocument.from_json(doc, expected_id=did)


class DidKeyResolver:
    """Resolves did:key by derivation (pure, cached)."""

    #: The document is a pure function of the DID (CompositeResolver may remember keys).
    pure = True

    def resolve(self, did: str) -> DidDocument:
        return _document(did)
