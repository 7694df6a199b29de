"""ecdsa-sd-2023 (W3C Data Integrity ECDSA Cryptosuites v1.0 §3.4-3.6): selective disclosure
with ECDSA.

The issuer signs a *base proof*: one signature (by its key) over the proof configuration, an
ephemeral P-256 public key and the hash of the mandatory statements, and one signature per
other statement (by the ephemeral key), the statements' blank nodes relabelled with an HMAC
key the holder keeps secret from verifiers. The holder *derives* a proof for a subset of the
statements; a verifier checks a derived proof only (a base proof carries the HMAC key).

Verified here: a derived proof (:func:`verify_derived_proof`, §3.6.4-3.6.8 createVerifyData
and verify). The proof value is multibase base64url-no-pad of a 3-byte header
(`0xd9 0x5d 0x00` base, `0x01` derived) and a CBOR array (RFC 8949, `cbor2`).

Limits: the proof value is at most :data:`MAX_PROOF_VALUE_BYTES`, it carries at most
:data:`MAX_STATEMENTS` signatures, and every structure is type-checked after decoding."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import cbor2

from ancre.trust.codec.b64 import b64url_decode, b64url_encode
from ancre.trust.codec.multibase import multicodec_split
from ancre.trust.did.document import MULTICODEC_KEY_TYPES
from ancre.trust.errors import AncreError, Code, InvalidError
from ancre.trust.keys.jwk import KeyType, PublicKey
from ancre.trust.vcdm.jsonld import DEFAULT_LIMITS, CanonicalizationLimits, ContextStore, canonize

__all__ = [
    "MAX_PROOF_VALUE_BYTES",
    "MAX_STATEMENTS",
    "BaseProofValue",
    "DerivedProofValue",
    "VerifyData",
    "create_verify_data",
    "parse_proof_value",
    "relabel_nquads",
    "verify_derived_proof",
]

BASE_HEADER: Final = b"\xd9\x5d\x00"
DERIVED_HEADER: Final = b"\xd9\x5d\x01"
#: A derived proof carries 64 bytes per disclosed statement; 1,000 statements is 64 kB.
MAX_STATEMENTS: Final = 1000
MAX_PROOF_VALUE_BYTES: Final = 128 * 1024
_P256_MULTICODEC: Final = 0x1200
_SIGNATURE_BYTES: Final = 64

# A canonical N-Quads statement (RDFC-1.0 output): subject, predicate, object (IRI, blank
# node or literal with its escapes, datatype or language), optional graph, " .".
_QUAD: Final = re.compile(
    r'(<[^>]*>|_:\S+) (<[^>]*>) (<[^>]*>|_:\S+|"(?:[^"\\]|\\.)*"(?:\^\^<[^>]*>|@[A-Za-z0-9-]+)?)'
    r"(?: (<[^>]*>|_:\S+))? \."
)


def _bad(message: str) -> InvalidError:
    return InvalidError(Code.INVALID_PROOF, f"ecdsa-sd-2023 proofValue: {message}")


def _mismatch(message: str) -> InvalidError:
    return InvalidError(Code.DERIVED_PROOF_MISMATCH, message)


@dataclass(frozen=True, slots=True)
class BaseProofValue:
    """A base proof's components (§3.5.2): for the holder only."""

    base_signature: bytes
    public_key: bytes
    hmac_key: bytes
    signatures: tuple[bytes, ...]
    mandatory_pointers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DerivedProofValue:
    """A derived proof's components (§3.5.7), the label map decompressed
    (`c14nN` → `u<base64url HMAC label>`)."""

    base_signature: bytes
    public_key: bytes
    signatures: tuple[bytes, ...]
    label_map: Mapping[str, str]
    mandatory_indexes: tuple[int, ...]


def _bytes(value: Any, what: str, size: int | None = None) -> bytes:
    if not isinstance(value, bytes) or (size is not None and len(value) != size):
        raise _bad(f"{what} must be {size or 'a'} byte string{'' if size is None else ' bytes'}")
    return value


def _signatures(value: Any) -> tuple[bytes, ...]:
    if not isinstance(value, list) or len(value) > MAX_STATEMENTS:
        raise _bad(f"signatures must be a list of at most {MAX_STATEMENTS}")
    return tuple(_bytes(s, "each signature", _SIGNATURE_BYTES) for s in value)


def parse_proof_value(value: Any) -> BaseProofValue | DerivedProofValue:
    """Decode an ecdsa-sd-2023 `proofValue` (§3.5.3 parseBaseProofValue, §3.5.8
    parseDerivedProofValue). Raises `invalid_proof` for anything but the exact shapes."""
    if not isinstance(value, str) or not value.startswith("u"):
        raise _bad("must be a multibase base64url-no-pad (`u…`) string")
    if len(value) > MAX_PROOF_VALUE_BYTES:
        raise InvalidError(
            Code.INPUT_TOO_LARGE, f"ecdsa-sd-2023 proofValue is over {MAX_PROOF_VALUE_BYTES} bytes"
        )
    try:
        raw = b64url_decode(value[1:], what="proofValue")
    except AncreError:
        raise _bad("is not base64url-no-pad") from None
    header, body = raw[:3], raw[3:]
    if header not in (BASE_HEADER, DERIVED_HEADER):
        raise _bad(f"header {header.hex()} is neither a base (d95d00) nor a derived (d95d01) proof")
    try:
        # Plain CBOR only: a tag would turn bytes into objects the checks below do not expect.
        components = cbor2.loads(body, tag_hook=_no_tags)
    except InvalidError:
        raise
    except Exception as exc:  # noqa: BLE001 - cbor2 raises several types on hostile input
        raise _bad(f"is not CBOR ({type(exc).__name__})") from None
    if not isinstance(components, list) or len(components) != 5:
        raise _bad("must be a CBOR array of 5 components")
    if header == BASE_HEADER:
        base_signature, public_key, hmac_key, signatures, pointers = components
        if not isinstance(pointers, list) or not all(isinstance(p, str) for p in pointers):
            raise _bad("mandatoryPointers must be a list of strings")
        return BaseProofValue(
            _bytes(base_signature, "baseSignature", _SIGNATURE_BYTES),
            _bytes(public_key, "publicKey"),
            _bytes(hmac_key, "hmacKey", 32),
            _signatures(signatures),
            tuple(pointers),
        )
    base_signature, public_key, signatures, compressed, indexes = components
    if not isinstance(compressed, dict) or len(compressed) > 2 * MAX_STATEMENTS:
        raise _bad("labelMap must be a map")
    label_map: dict[str, str] = {}
    for k, v in compressed.items():
        # §3.5.6 decompressLabelMap: integer N → "c14nN", bytes → "u" + base64url.
        if type(k) is not int or k < 0:
            raise _bad("labelMap keys must be non-negative integers")
        label_map[f"c14n{k}"] = "u" + b64url_encode(_bytes(v, "each labelMap value", 32))
    if not isinstance(indexes, list) or len(indexes) > 4 * MAX_STATEMENTS:
        raise _bad("mandatoryIndexes must be a list")
    if not all(type(i) is int and i >= 0 for i in indexes):
        raise _bad("mandatoryIndexes must be non-negative integers")
    return DerivedProofValue(
        _bytes(base_signature, "baseSignature", _SIGNATURE_BYTES),
        _bytes(public_key, "publicKey"),
        _signatures(signatures),
        label_map,
        tuple(indexes),
    )


def _no_tags(_decoder: Any, tag: Any) -> Any:
    raise _bad(f"CBOR tag {getattr(tag, 'tag', '?')} is not allowed")


def ephemeral_key(multikey: bytes) -> PublicKey:
    """The ephemeral P-256 key of a proof value: multicodec p256-pub || compressed point."""
    try:
        code, raw = multicodec_split(multikey)
    except AncreError:
        raise InvalidError(
            Code.INVALID_MULTIKEY, "the proof's publicKey is not a multikey"
        ) from None
    if MULTICODEC_KEY_TYPES.get(code) is not KeyType.P256:
        raise InvalidError(
            Code.INVALID_MULTIKEY, f"the proof's publicKey has multicodec 0x{code:x}, not P-256"
        )
    try:
        return PublicKey.from_raw(KeyType.P256, raw)
    except AncreError as exc:
        raise InvalidError(Code.INVALID_MULTIKEY, exc.message) from None


def relabel_nquads(nquads: str, label_map: Mapping[str, str]) -> list[str]:
    """Replace each canonical blank node label (`_:c14nN`) by its label in `label_map` and sort
    the statements (§3.4.3 labelReplacementCanonicalizeJsonLd). Each statement keeps its
    trailing newline. A blank node the map does not name is `derived_proof_mismatch`."""

    def label(term: str | None) -> str | None:
        if term is None or not term.startswith("_:"):
            return term
        new = label_map.get(term[2:])
        if new is None:
            raise _mismatch(f"the label map names no blank node {term[:40]}")
        return "_:" + new

    out = []
    for line in nquads.splitlines():
        m = _QUAD.fullmatch(line)
        if m is None:  # pragma: no cover - RDFC-1.0 output is always canonical N-Quads
            raise InvalidError(Code.CANONICALIZATION_FAILED, "unexpected canonical N-Quads line")
        s, p, o, g = m.groups()
        parts = [label(s), p, label(o) if not o.startswith('"') else o]
        if g is not None:
            parts.append(label(g))
        out.append(" ".join(str(x) for x in parts) + " .\n")
    return sorted(out)


@dataclass(frozen=True, slots=True)
class VerifyData:
    """§3.6.6 createVerifyData's output."""

    proof_hash: bytes
    mandatory_hash: bytes
    non_mandatory: tuple[str, ...]
    proof: DerivedProofValue


def create_verify_data(
    unsecured: Mapping[str, Any],
    config: Mapping[str, Any],
    proof_value: Any,
    *,
    contexts: ContextStore | None = None,
    limits: CanonicalizationLimits = DEFAULT_LIMITS,
) -> VerifyData:
    """§3.6.6: the proof hash, the mandatory statements' hash and the non-mandatory
    statements of a document with a derived proof. `config` is the proof configuration (the
    proof options without `proofValue`, with the document's @context)."""
    parsed = parse_proof_value(proof_value)
    if isinstance(parsed, BaseProofValue):
        raise _mismatch(
            "this is an ecdsa-sd-2023 base proof, for the holder only: a verifier needs a "
            "derived proof (the base proof would disclose the HMAC key)"
        )
    proof_hash = hashlib.sha256(
        canonize(config, contexts=contexts, limits=limits).encode()
    ).digest()
    statements = relabel_nquads(
        canonize(unsecured, contexts=contexts, limits=limits), parsed.label_map
    )
    indexes = set(parsed.mandatory_indexes)
    if len(indexes) != len(parsed.mandatory_indexes) or any(i >= len(statements) for i in indexes):
        raise _mismatch("mandatoryIndexes repeat an index or point past the document's statements")
    mandatory = "".join(s for i, s in enumerate(statements) if i in indexes)
    non_mandatory = tuple(s for i, s in enumerate(statements) if i not in indexes)
    return VerifyData(
        proof_hash, hashlib.sha256(mandatory.encode()).digest(), non_mandatory, parsed
    )


def verify_derived_proof(
    unsecured: Mapping[str, Any],
    config: Mapping[str, Any],
    proof_value: Any,
    issuer_key: PublicKey,
    *,
    contexts: ContextStore | None = None,
    limits: CanonicalizationLimits = DEFAULT_LIMITS,
) -> str:
    """§3.6.2 verify a derived proof; return what was checked. Raises `signature_invalid`,
    `derived_proof_mismatch`, `invalid_multikey` or `invalid_proof`."""
    if issuer_key.key_type is not KeyType.P256:
        raise InvalidError(
            Code.CRYPTOSUITE_KEY_MISMATCH,
            f"ecdsa-sd-2023 signs with P-256 keys, the key is {issuer_key.key_type}",
        )
    data = create_verify_data(unsecured, config, proof_value, contexts=contexts, limits=limits)
    parsed = data.proof
    if len(parsed.signatures) != len(data.non_mandatory):
        raise _mismatch(
            f"the derived proof has {len(parsed.signatures)} signatures for "
            f"{len(data.non_mandatory)} non-mandatory statements"
        )
    ephemeral = ephemeral_key(parsed.public_key)
    to_verify = data.proof_hash + parsed.public_key + data.mandatory_hash
    if not issuer_key.verify("ES256", to_verify, parsed.base_signature):
        raise InvalidError(Code.SIGNATURE_INVALID, "the ecdsa-sd-2023 base signature is invalid")
    for n, (statement, signature) in enumerate(
        zip(data.non_mandatory, parsed.signatures, strict=True), 1
    ):
        if not ephemeral.verify("ES256", statement.encode("utf-8"), signature):
            raise InvalidError(
                Code.SIGNATURE_INVALID,
                f"the signature of disclosed statement {n} of {len(parsed.signatures)} is invalid",
            )
    return (
        f"ecdsa-sd-2023 derived proof verifies: base signature, {len(parsed.signatures)} "
        f"disclosed and {len(parsed.mandatory_indexes)} mandatory statements"
    )
