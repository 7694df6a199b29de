"""The Data Integrity cryptosuites ancre verifies and issues, as an explicit allow-list.

Each suite is a transformation (RDFC-1.0 for `*-rdfc-*`, RFC 8785 JCS for `*-jcs-*`), a hash
chosen by the key's curve and a signature over *hashData* (the hash of the canonical proof
configuration followed by the hash of the canonical document):

==================  =============  ============================  ===========================
cryptosuite         transform      keys (hash)                   specification
==================  =============  ============================  ===========================
eddsa-rdfc-2022     RDFC-1.0       Ed25519 (SHA-256)             vc-di-eddsa §3.2
eddsa-jcs-2022      JCS            Ed25519 (SHA-256)             vc-di-eddsa §3.3
ecdsa-rdfc-2019     RDFC-1.0       P-256 (SHA-256), P-384 (384)  vc-di-ecdsa §3.2
ecdsa-jcs-2019      JCS            P-256 (SHA-256), P-384 (384)  vc-di-ecdsa §3.3
ecdsa-sd-2023       RDFC-1.0 +     P-256 (SHA-256)               vc-di-ecdsa §3.4-3.6
                    HMAC labels                                  (:mod:`.ecdsa_sd`)
==================  =============  ============================  ===========================

ECDSA signatures are IEEE P1363 (`r || s`, each the curve's size), what RFC 7518 uses too;
Ed25519 signatures are the 64 bytes of RFC 8032. A key of another type than the suite's is
`cryptosuite_key_mismatch`, never a downgrade to whatever the key happens to be."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from ancre.trust.data_integrity.jcs import jcs_canonicalize
from ancre.trust.errors import Code, IndeterminateError, InternalError, InvalidError
from ancre.trust.keys.jwk import KeyType, PublicKey, Signer
from ancre.trust.policy import DEFAULT_CRYPTOSUITES
from ancre.trust.vcdm.jsonld import DEFAULT_LIMITS, CanonicalizationLimits, ContextStore, canonize

__all__ = [
    "CRYPTOSUITES",
    "ECDSA_JCS_2019",
    "ECDSA_RDFC_2019",
    "ECDSA_SD_2023",
    "EDDSA_JCS_2022",
    "EDDSA_RDFC_2022",
    "KEY_NAMES",
    "SIGNATURE_SIZES",
    "Cryptosuite",
    "Transform",
    "cryptosuite",
    "hash_data",
    "proof_configuration",
    "sign_data",
    "verify_data",
]

EDDSA_RDFC_2022: Final = "eddsa-rdfc-2022"
EDDSA_JCS_2022: Final = "eddsa-jcs-2022"
ECDSA_RDFC_2019: Final = "ecdsa-rdfc-2019"
ECDSA_JCS_2019: Final = "ecdsa-jcs-2019"
ECDSA_SD_2023: Final = "ecdsa-sd-2023"


class Transform(StrEnum):
    RDFC = "RDFC-1.0"
    JCS = "JCS"


@dataclass(frozen=True, slots=True)
class Cryptosuite:
    """One allow-listed cryptosuite: how documents are transformed and which keys sign."""

    name: str
    transform: Transform
    key_types: frozenset[KeyType]
    #: ecdsa-sd-2023: base and derived proofs, verified by :mod:`.ecdsa_sd`.
    selective_disclosure: bool = False

    def check_key(self, key_type: KeyType) -> None:
        """Raise `cryptosuite_key_mismatch` unless the suite signs with `key_type`."""
        if key_type not in self.key_types:
            allowed = " or ".join(sorted(KEY_NAMES[k] for k in self.key_types))
            raise InvalidError(
                Code.CRYPTOSUITE_KEY_MISMATCH,
                f"cryptosuite {self.name} signs with {allowed} keys, the key is "
                f"{KEY_NAMES.get(key_type, key_type)}",
            )


_EC: Final = frozenset({KeyType.P256, KeyType.P384})
#: The allow-list. Anything else is `unsupported_cryptosuite`.
CRYPTOSUITES: Final[Mapping[str, Cryptosuite]] = {
    s.name: s
    for s in (
        Cryptosuite(EDDSA_RDFC_2022, Transform.RDFC, frozenset({KeyType.ED25519})),
        Cryptosuite(EDDSA_JCS_2022, Transform.JCS, frozenset({KeyType.ED25519})),
        Cryptosuite(ECDSA_RDFC_2019, Transform.RDFC, _EC),
        Cryptosuite(ECDSA_JCS_2019, Transform.JCS, _EC),
        Cryptosuite(
            ECDSA_SD_2023, Transform.RDFC, frozenset({KeyType.P256}), selective_disclosure=True
        ),
    )
}

# vc-di-ecdsa §3.2.4 / §3.3.4: SHA-256 for P-256, SHA-384 for P-384; eddsa: SHA-256.
_HASHES: Final[Mapping[KeyType, Callable[[bytes], Any]]] = {
    KeyType.ED25519: hashlib.sha256,
    KeyType.P256: hashlib.sha256,
    KeyType.P384: hashlib.sha384,
}
#: The signature algorithm over hashData (the JOSE name PublicKey.verify knows): ECDSA hashes
#: hashData once more with the curve's hash, Ed25519 signs it as is.
_ALGS: Final[Mapping[KeyType, str]] = {
    KeyType.ED25519: "EdDSA",
    KeyType.P256: "ES256",
    KeyType.P384: "ES384",
}
#: How keys are named in messages.
KEY_NAMES: Final[Mapping[KeyType, str]] = {
    KeyType.ED25519: "Ed25519",
    KeyType.P256: "P-256",
    KeyType.P384: "P-384",
    KeyType.RSA: "RSA",
}
SIGNATURE_SIZES: Final[Mapping[KeyType, int]] = {
    KeyType.ED25519: 64,
    KeyType.P256: 64,
    KeyType.P384: 96,
}


# The policy module names the same suites without importing this one.
if frozenset(CRYPTOSUITES) != DEFAULT_CRYPTOSUITES:  # pragma: no cover - an ancre bug
    raise InternalError("policy.DEFAULT_CRYPTOSUITES and the cryptosuite table differ")


def cryptosuite(name: Any) -> Cryptosuite:
    """The allow-listed suite called `name`, else `unsupported_cryptosuite` (indeterminate:
    ancre cannot say anything about a proof it does not implement)."""
    suite = CRYPTOSUITES.get(name) if isinstance(name, str) else None
    if suite is None:
        raise IndeterminateError(
            Code.UNSUPPORTED_CRYPTOSUITE,
            f"cryptosuite {str(name)[:60]!r} is not supported (ancre verifies "
            f"{', '.join(CRYPTOSUITES)})",
        )
    return suite


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _starts_with(document_context: Any, proof_context: Any) -> bool:
    doc, own = _as_list(document_context), _as_list(proof_context)
    return len(own) <= len(doc) and doc[: len(own)] == own


def proof_configuration(
    suite: Cryptosuite, unsecured: dict[str, Any], options: Mapping[str, Any]
) -> dict[str, Any]:
    """The proof configuration to hash, for verification: the proof options without
    `proofValue`, with the @context the suite reads them with. For JCS suites the document's
    @context becomes the proof's (eddsa §3.3.2 step 4, ecdsa §3.3.2 step 4): `unsecured` is
    changed in place."""
    config = {k: v for k, v in options.items() if k != "proofValue"}
    if "@context" in config and not _starts_with(unsecured.get("@context"), config["@context"]):
        # A proof with its own @context must agree with the document's, or the same proof
        # would mean different things for the signer and the verifier.
        raise InvalidError(
            Code.INVALID_PROOF, "the proof's @context is not the start of the document's @context"
        )
    if suite.transform is Transform.RDFC:
        # RDFC suites read the proof configuration with the document's @context (§3.2.5 step 4).
        config["@context"] = unsecured.get("@context")
    elif "@context" in config:
        # JCS verify step 4 hashes the document with the *proof's* @context: contexts appended
        # to the document after signing would be unsigned yet change what the document means
        # to a JSON-LD reader. Signers copy the document's @context (§3.3.1), so ancre
        # requires it whole (stricter than "starts with").
        if _as_list(unsecured.get("@context")) != _as_list(config["@context"]):
            raise InvalidError(
                Code.INVALID_PROOF,
                "the document's @context has entries the proof's @context does not sign",
            )
        unsecured["@context"] = config["@context"]
    return config


def hash_data(
    suite: Cryptosuite,
    key_type: KeyType,
    unsecured: Mapping[str, Any],
    config: Mapping[str, Any],
    *,
    contexts: ContextStore | None = None,
    limits: CanonicalizationLimits = DEFAULT_LIMITS,
) -> bytes:
    """*hashData*: hash(canonical proof configuration) || hash(canonical document), with the
    curve's hash (32 + 32 bytes, or 48 + 48 for P-384)."""
    suite.check_key(key_type)
    digest = _HASHES[key_type]
    if suite.transform is Transform.JCS:
        return bytes(digest(jcs_canonicalize(config)).digest()) + bytes(
            digest(jcs_canonicalize(unsecured)).digest()
        )
    config_text = canonize(config, contexts=contexts, limits=limits)
    document_text = canonize(unsecured, contexts=contexts, limits=limits)
    return bytes(digest(config_text.encode("utf-8")).digest()) + bytes(
        digest(document_text.encode("utf-8")).digest()
    )


def sign_data(suite: Cryptosuite, signer: Signer, data: bytes) -> bytes:
    """The suite's signature over hashData (P1363 for ECDSA)."""
    suite.check_key(signer.key_type)
    return signer.sign(data)


def verify_data(suite: Cryptosuite, key: PublicKey, data: bytes, signature: bytes) -> bool:
    """Whether `signature` is the suite's signature over hashData by `key`."""
    suite.check_key(key.key_type)
    if len(signature) != SIGNATURE_SIZES[key.key_type]:
        return False
    return key.verify(_ALGS[key.key_type], data, signature)
