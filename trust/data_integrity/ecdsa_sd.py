"""ecdsa-sd-2023 (W3C Data Integrity ECDSA Cryptosuites v1.0 §3.4-3.6): selective disclosure
with ECDSA.

The issuer signs a *base proof*: one signature (by its key) over the proof configuration, an
ephemeral P-256 public key and the hash of the mandatory statements, and one signature per
other statement (by the ephemeral key), the statements' blank nodes relabelled with an HMAC
key the holder keeps secret from verifiers. The holder *derives* a proof for a subset of the
statements; a verifier checks a derived proof only (a base proof carries the HMAC key).

Here: the issuer's base proof (:func:`add_base_proof`, §3.6.1-3.6.5), the holder's
derivation of a proof disclosing what JSON Pointers select (:func:`derive_proof`, §3.5.4
createDisclosureData, §3.6.6 add derived proof) and a verifier's check of a derived proof
(:func:`verify_derived_proof`, §3.5.9 createVerifyData, §3.6.7). The proof value is
multibase base64url-no-pad of a 3-byte header (`0xd9 0x5d 0x00` base, `0x01` derived) and a
CBOR array (RFC 8949, `cbor2`).

Limits: the proof value is at most :data:`MAX_PROOF_VALUE_BYTES`, it carries at most
:data:`MAX_STATEMENTS` signatures, and every structure is type-checked after decoding."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import cbor2

from ancre.trust.codec.b64 import b64url_decode, b64url_encode
from ancre.trust.codec.multibase import multicodec_split
from ancre.trust.data_integrity.sd_primitives import (
    canonicalize_and_group,
    hmac_label_map_factory,
    relabel,
    select_json_ld,
)
from ancre.trust.did.document import MULTICODEC_KEY_TYPES
from ancre.trust.errors import AncreError, Code, ConfigurationError, InvalidError
from ancre.trust.keys.jwk import KeyType, PrivateKey, PublicKey, Signer
from ancre.trust.vcdm.jsonld import (
    DEFAULT_LIMITS,
    CanonicalizationLimits,
    ContextStore,
    canonize,
    canonize_nquads,
)

__all__ = [
    "BASE_HEADER",
    "DERIVED_HEADER",
    "MAX_PROOF_VALUE_BYTES",
    "MAX_STATEMENTS",
    "BaseProofValue",
    "DerivedProofValue",
    "VerifyData",
    "add_base_proof",
    "create_verify_data",
    "derive_proof",
    "parse_proof_value",
    "relabel_nquads",
    "serialize_base_proof_value",
    "serialize_derived_proof_value",
    "verify_derived_proof",
]

BASE_HEADER: Final = b"\xd9\x5d\x00"
DERIVED_HEADER: Final = b"\xd9\x5d\x01"
#: A derived proof carries 64 bytes per disclosed statement; 1,000 statements is 64 kB.
MAX_STATEMENTS: Final = 1000
MAX_PROOF_VALUE_BYTES: Final = 128 * 1024
_P256_MULTICODEC: Final = 0x1200
_SIGNATURE_BYTES: Final = 64


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
    return sorted(relabel(nquads.splitlines(keepends=True), label_map))


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


# ---- issuing a base proof, deriving a disclosure ----------------------------------------------


def _multibase_u(data: bytes) -> str:
    return "u" + b64url_encode(data)


def serialize_base_proof_value(value: BaseProofValue) -> str:
    """§3.5.2 serializeBaseProofValue: header 0xd95d00 and a CBOR array, no tags."""
    components = [
        value.base_signature,
        value.public_key,
        value.hmac_key,
        list(value.signatures),
        list(value.mandatory_pointers),
    ]
    return _multibase_u(BASE_HEADER + cbor2.dumps(components))


def serialize_derived_proof_value(value: DerivedProofValue) -> str:
    """§3.5.7 serializeDerivedProofValue, the label map compressed (§3.5.5)."""
    compressed = {}
    for k, v in value.label_map.items():
        compressed[int(k.removeprefix("c14n"))] = b64url_decode(v[1:], what="label")
    components = [
        value.base_signature,
        value.public_key,
        list(value.signatures),
        compressed,
        list(value.mandatory_indexes),
    ]
    return _multibase_u(DERIVED_HEADER + cbor2.dumps(components))


def _stamp(moment: datetime) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ConfigurationError("`created` must be a timezone-aware datetime")
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def add_base_proof(
    document: Mapping[str, Any],
    signer: Signer,
    verification_method: str,
    *,
    created: datetime,
    mandatory_pointers: Sequence[str] = (),
    contexts: ContextStore | None = None,
    limits: CanonicalizationLimits = DEFAULT_LIMITS,
    hmac_key: bytes | None = None,
    proof_key: PrivateKey | None = None,
) -> dict[str, Any]:
    """Secure `document` with an ecdsa-sd-2023 *base proof* (§3.6.1), for its holder only:
    the statements `mandatory_pointers` select are always disclosed, every other one can be
    withheld by :func:`derive_proof`. `signer` holds the issuer's P-256 key. `hmac_key` (32
    bytes) and `proof_key` (P-256) are fresh random ones unless given (tests)."""
    if signer.key_type is not KeyType.P256:
        raise ConfigurationError("ecdsa-sd-2023 signs with a P-256 key")
    if "proof" in document:
        raise ConfigurationError("the document already has a proof")
    key = hmac_key if hmac_key is not None else secrets.token_bytes(32)
    if len(key) != 32:
        raise ConfigurationError("the HMAC key must be 32 bytes (SHA-256's size, RFC 2104)")
    ephemeral = proof_key if proof_key is not None else PrivateKey.generate(KeyType.P256)
    if ephemeral.key_type is not KeyType.P256:
        raise ConfigurationError("the proof-scoped key must be a P-256 key")
    unsecured = dict(document)
    options: dict[str, Any] = {
        "type": "DataIntegrityProof",
        "cryptosuite": "ecdsa-sd-2023",
        "created": _stamp(created),
        "verificationMethod": verification_method,
        "proofPurpose": "assertionMethod",
    }
    config = {**options, "@context": unsecured.get("@context")}
    proof_hash = hashlib.sha256(
        canonize(config, contexts=contexts, limits=limits).encode()
    ).digest()
    grouped = canonicalize_and_group(
        unsecured,
        hmac_label_map_factory(key),
        {"mandatory": list(mandatory_pointers)},
        contexts=contexts,
        limits=limits,
    )
    group = grouped.groups["mandatory"]
    mandatory = "".join(group.matching[i] for i in sorted(group.matching))
    non_mandatory = [group.non_matching[i] for i in sorted(group.non_matching)]
    if len(non_mandatory) > MAX_STATEMENTS:
        raise ConfigurationError(f"over {MAX_STATEMENTS} selectively disclosable statements")
    public_key = b"\x80\x24" + ephemeral.public_key.raw_public_bytes()
    to_sign = proof_hash + public_key + hashlib.sha256(mandatory.encode()).digest()
    value = BaseProofValue(
        base_signature=signer.sign(to_sign),
        public_key=public_key,
        hmac_key=key,
        signatures=tuple(ephemeral.sign(q.encode("utf-8")) for q in non_mandatory),
        mandatory_pointers=tuple(mandatory_pointers),
    )
    return {**unsecured, "proof": {**options, "proofValue": serialize_base_proof_value(value)}}


def derive_proof(
    document: Mapping[str, Any],
    selective_pointers: Sequence[str],
    *,
    contexts: ContextStore | None = None,
    limits: CanonicalizationLimits = DEFAULT_LIMITS,
) -> dict[str, Any]:
    """The holder's side (§3.6.6 add derived proof): from a document with an ecdsa-sd-2023
    base proof, the document reduced to what `selective_pointers` (JSON Pointers, RFC 6901)
    and the issuer's mandatory pointers select, with a derived proof a verifier checks.

    Raises `ConfigurationError` for a pointer that does not match the document, and
    `invalid_proof` when the document does not carry a base proof that fits it."""
    proof = document.get("proof")
    if not isinstance(proof, dict) or proof.get("cryptosuite") != "ecdsa-sd-2023":
        raise InvalidError(Code.INVALID_PROOF, "the document has no ecdsa-sd-2023 proof")
    base = parse_proof_value(proof.get("proofValue"))
    if not isinstance(base, BaseProofValue):
        raise InvalidError(Code.INVALID_PROOF, "the proof is already a derived proof")
    unsecured = {k: v for k, v in document.items() if k != "proof"}
    mandatory_pointers = list(base.mandatory_pointers)
    combined = [*mandatory_pointers, *selective_pointers]
    try:
        grouped = canonicalize_and_group(
            unsecured,
            hmac_label_map_factory(base.hmac_key),
            {
                "mandatory": mandatory_pointers,
                "selective": list(selective_pointers),
                "combined": combined,
            },
            contexts=contexts,
            limits=limits,
        )
    except ConfigurationError as exc:
        if any(p in exc.message for p in mandatory_pointers):
            raise InvalidError(Code.INVALID_PROOF, f"the base proof's {exc.message}") from None
        raise
    mandatory = grouped.groups["mandatory"].matching
    selective = grouped.groups["selective"].matching
    if len(base.signatures) != len(grouped.nquads) - len(mandatory):
        raise InvalidError(
            Code.INVALID_PROOF,
            f"the base proof has {len(base.signatures)} signatures for "
            f"{len(grouped.nquads) - len(mandatory)} non-mandatory statements",
        )
    # §3.5.4 steps 7-8: mandatory statements by their index among those disclosed.
    mandatory_indexes = [
        relative
        for relative, absolute in enumerate(sorted(grouped.groups["combined"].matching))
        if absolute in mandatory
    ]
    # Steps 9-10: each signature belongs to the next statement that is not mandatory.
    filtered: list[bytes] = []
    index = 0
    for signature in base.signatures:
        while index in mandatory:
            index += 1
        if index in selective:
            filtered.append(signature)
        index += 1
    reveal = select_json_ld(combined, unsecured) or {"@context": unsecured.get("@context")}
    # Steps 12-14: the labels a verifier's canonicalization of the revealed document gives
    # each blank node, mapped to the HMAC labels the base proof signed.
    _, verifier_ids = canonize_nquads(grouped.groups["combined"].deskolemized, limits=limits)
    label_map = {new: grouped.label_map[old] for old, new in verifier_ids.items()}
    value = DerivedProofValue(
        base_signature=base.base_signature,
        public_key=base.public_key,
        signatures=tuple(filtered),
        label_map=label_map,
        mandatory_indexes=tuple(mandatory_indexes),
    )
    return {**reveal, "proof": {**proof, "proofValue": serialize_derived_proof_value(value)}}
