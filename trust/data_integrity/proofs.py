"""W3C Data Integrity and Linked Data proofs on JSON-LD credentials and presentations.

Verified (the "legacy / interop" row of DESIGN.md "Formats"):

- `DataIntegrityProof` with an allow-listed cryptosuite (:mod:`.cryptosuites`):
  `eddsa-rdfc-2022`, `eddsa-jcs-2022` (W3C Data Integrity EdDSA Cryptosuites v1.0),
  `ecdsa-rdfc-2019`, `ecdsa-jcs-2019` (P-256, P-384) — all also issued, by
  :func:`add_proof` — and `ecdsa-sd-2023` derived proofs (W3C Data Integrity ECDSA
  Cryptosuites v1.0, :mod:`.ecdsa_sd`);
- `Ed25519Signature2020` (same spec, appendix A.2: `proofValue`, multibase base58btc);
- `Ed25519Signature2018` (W3C CCG lds-ed25519-2018: detached JWS with `b64: false`, what
  didkit emits by default for VCDM 1.1);
- `JsonWebSignature2020` (W3C CCG lds-jws2020: detached JWS, any JOSE algorithm the policy
  allows), in the specification's form and in the "Gaia-X flavour" that Gaia-X Tagus (22.10)
  notaries and compliance services produce: the JWS payload is the hex SHA-256 of the canonical
  document, and the proof options are not signed at all (gx-compliance `ProofService`).

Proof sets and chains (VC Data Integrity §2.1.1-2.1.2): `proof` may be a list; every proof is
verified independently and all must verify; a proof with `previousProof` signs the document
with the proofs it names (:mod:`.proof_sets`), which must be there. The result's `proofs`
lists each proof's outcome.

The legacy suites hash as eddsa-rdfc-2022 does: SHA-256 of the RDFC-1.0 canonical proof
options followed by SHA-256 of the RDFC-1.0 canonical document without its proof (eddsa
§3.2.4); they differ in how the 64 bytes are signed and which `@context` the proof options
are read with.
Canonicalization is :func:`ancre.trust.vcdm.jsonld.canonize`: shipped or pinned contexts only, safe
mode, bounded.

Verification is :class:`DiCredentialAdapter` / :class:`DiPresentationAdapter` run by the
engine (`ancre.trust.engine`) in its one order of steps; the first failure ends the run (in a
proof set, every proof of the failing step is still checked and listed). The result's
`header` is the (first) proof's JOSE header for JWS-based suites.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from ancre.trust.clock import Clock
from ancre.trust.codec.json import depth_of_text, dumps_compact, loads_strict
from ancre.trust.codec.multibase import base58btc_decode, base58btc_encode
from ancre.trust.data_integrity import ecdsa_sd
from ancre.trust.data_integrity.cryptosuites import (
    CRYPTOSUITES,
    ECDSA_SD_2023,
    KEY_NAMES,
    SIGNATURE_SIZES,
    Cryptosuite,
    Transform,
    cryptosuite,
    proof_configuration,
    sign_data,
    verify_data,
)
from ancre.trust.data_integrity.cryptosuites import hash_data as suite_hash_data
from ancre.trust.data_integrity.proof_sets import (
    MAX_PROOFS,
    chain_order,
    chained_document,
    previous_ids,
)
from ancre.trust.did.document import DidResolver, RevokedKey, did_of
from ancre.trust.engine import (
    CredentialAdapter,
    PresentationAdapter,
    VerifyContext,
    run_steps,
)
from ancre.trust.errors import (
    AncreError,
    Code,
    ConfigurationError,
    IndeterminateError,
    InvalidError,
    MalformedError,
)
from ancre.trust.jose.jws import parse_compact
from ancre.trust.keys.jwk import KeyType, PublicKey, Signer
from ancre.trust.policy import VerificationPolicy
from ancre.trust.result import ProofCheck, Status, VerificationResult
from ancre.trust.steps import (
    KeySource,
    Run,
    StatusChecker,
    TrustChecker,
    check_format_accepted,
    check_not_revoked,
    check_window,
    iso,
    resolve_key,
    vcdm_schema_message,
)
from ancre.trust.vcdm.jsonld import CanonicalizationLimits, ContextStore, canonize
from ancre.trust.vcdm.model import (
    VCDM11_CONTEXT,
    check_credential,
    check_presentation,
    is_url,
    issuer_id,
    parse_datetime_stamp,
    subject_ids,
    types_of,
)

__all__ = [
    "CRYPTOSUITES",
    "CRYPTOSUITE_EDDSA_RDFC_2022",
    "FORMAT_LDP_VC",
    "FORMAT_LDP_VP",
    "DiCredentialAdapter",
    "DiPresentationAdapter",
    "ProofSuite",
    "add_proof",
    "hash_data",
    "verify_data_integrity",
    "verify_data_integrity_presentation",
]

FORMAT_LDP_VC: Final = "ldp_vc"
FORMAT_LDP_VP: Final = "ldp_vp"
CRYPTOSUITE_EDDSA_RDFC_2022: Final = "eddsa-rdfc-2022"
DATA_INTEGRITY_PROOF: Final = "DataIntegrityProof"
#: A detached JWS is a header and a signature: a few hundred bytes.
_MAX_JWS_BYTES: Final = 16 * 1024
_PROOF_VALUE_MEMBERS: Final = frozenset({"proofValue", "jws", "signatureValue"})
_DEFAULT_POLICY: Final = VerificationPolicy()


class ProofSuite(StrEnum):
    """The proof types ancre verifies."""

    EDDSA_RDFC_2022 = "DataIntegrityProof/eddsa-rdfc-2022"
    EDDSA_JCS_2022 = "DataIntegrityProof/eddsa-jcs-2022"
    ECDSA_RDFC_2019 = "DataIntegrityProof/ecdsa-rdfc-2019"
    ECDSA_JCS_2019 = "DataIntegrityProof/ecdsa-jcs-2019"
    ECDSA_SD_2023 = "DataIntegrityProof/ecdsa-sd-2023"
    ED25519_SIGNATURE_2020 = "Ed25519Signature2020"
    ED25519_SIGNATURE_2018 = "Ed25519Signature2018"
    JSON_WEB_SIGNATURE_2020 = "JsonWebSignature2020"


_LEGACY_TYPES: Final[Mapping[str, ProofSuite]] = {
    "Ed25519Signature2020": ProofSuite.ED25519_SIGNATURE_2020,
    "Ed25519Signature2018": ProofSuite.ED25519_SIGNATURE_2018,
    "JsonWebSignature2020": ProofSuite.JSON_WEB_SIGNATURE_2020,
}
#: lds-ed25519-2018 signs with EdDSA; RFC 9864's `Ed25519` names the same algorithm.
_ED25519_ALGS: Final = frozenset({"EdDSA", "Ed25519"})


@dataclass(frozen=True, slots=True)
class _DetachedJws:
    header: dict[str, Any]
    alg: str
    #: ASCII(BASE64URL(header)) || "." — RFC 7797 §3: the payload follows unencoded.
    prefix: bytes
    signature: bytes


@dataclass(frozen=True, slots=True)
class _Proof:
    raw: Mapping[str, Any]
    suite: ProofSuite
    verification_method: str
    purpose: str
    created: datetime | None
    expires: datetime | None
    signature: bytes | None
    jws: _DetachedJws | None
    #: The allow-listed cryptosuite of a `DataIntegrityProof`; None for the legacy types.
    cryptosuite: Cryptosuite | None = None
    id: str | None = None
    #: `previousProof`: the ids of the proofs this one signs with the document (a chain).
    previous: tuple[str, ...] = ()

    def options(self) -> dict[str, Any]:
        """The proof options: the proof without its signature value."""
        return {k: v for k, v in self.raw.items() if k not in _PROOF_VALUE_MEMBERS}


# ------------------------------------------------------------------------------------------
# hashing (eddsa-rdfc-2022 §3.2.3-3.2.5, shared by the legacy suites)


def _sha256(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def _limits(policy: VerificationPolicy) -> CanonicalizationLimits:
    return CanonicalizationLimits(
        max_document_bytes=policy.max_token_bytes, max_depth=policy.max_json_depth
    )


def hash_data(
    unsecured_document: Mapping[str, Any],
    proof_options: Mapping[str, Any],
    *,
    contexts: ContextStore | None = None,
) -> bytes:
    """eddsa-rdfc-2022 *hashData* (§3.2.4): SHA-256 of the canonical proof configuration
    followed by SHA-256 of the canonical document, 64 bytes.

    The proof configuration is `proof_options` without `proofValue` and with the document's
    `@context` (§3.2.5 step 4)."""
    config = {k: v for k, v in proof_options.items() if k not in _PROOF_VALUE_MEMBERS}
    config["@context"] = unsecured_document.get("@context")
    return _sha256(canonize(config, contexts=contexts)) + _sha256(
        canonize(unsecured_document, contexts=contexts)
    )


# ------------------------------------------------------------------------------------------
# issuing


def _stamp(moment: datetime, name: str) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ConfigurationError(f"`{name}` must be a timezone-aware datetime")
    utc = moment.astimezone(UTC)
    spec = "seconds" if utc.microsecond == 0 else "microseconds"
    return utc.isoformat(timespec=spec).replace("+00:00", "Z")


def add_proof(
    document: Mapping[str, Any],
    signer: Signer,
    verification_method: str,
    *,
    created: datetime,
    proof_purpose: str = "assertionMethod",
    challenge: str | None = None,
    domain: str | None = None,
    expires: datetime | None = None,
    contexts: ContextStore | None = None,
    cryptosuite: str = CRYPTOSUITE_EDDSA_RDFC_2022,
    proof_id: str | None = None,
    previous_proof: str | list[str] | None = None,
    add_to_proof_set: bool = False,
) -> dict[str, Any]:
    """Secure `document` (a credential, or with ``proof_purpose="authentication"`` and a
    `challenge`/`domain` a presentation) with a `DataIntegrityProof`. Returns a new document;
    `document` is not changed.

    `cryptosuite` is one of `eddsa-rdfc-2022` (the default), `eddsa-jcs-2022` (Ed25519
    keys), `ecdsa-rdfc-2019` or `ecdsa-jcs-2019` (P-256 or P-384 keys; the hash follows the
    curve). `signer` must hold a key of the suite's type; `verification_method` is the DID URL
    (or URL) of that key. For RDFC suites the document must be processable in JSON-LD safe mode
    with the shipped or given contexts, and its `@context` must define `DataIntegrityProof`
    (VCDM 2.0's does).

    A document that already has a proof gets one more only with `add_to_proof_set=True`
    (a proof set, VC Data Integrity §2.1.1) or `previous_proof` (a chain, §2.1.2: the new
    proof signs the document together with the proofs of those ids, which must be there and
    so must carry an `id`: give each a `proof_id`)."""
    try:
        suite = _issuable_suite(cryptosuite)
        suite.check_key(signer.key_type)
    except AncreError as exc:
        raise ConfigurationError(exc.message) from None
    if not is_url(verification_method):
        raise ConfigurationError("the verification method must be a URL")
    if proof_id is not None and not is_url(proof_id):
        raise ConfigurationError("a proof id must be a URL (urn:uuid:…)")
    existing = _existing_proofs(document, add_to_proof_set or previous_proof is not None)
    unsecured = {k: v for k, v in document.items() if k != "proof"}
    options: dict[str, Any] = {"type": DATA_INTEGRITY_PROOF}
    if proof_id is not None:
        options["id"] = proof_id
    options.update(
        cryptosuite=suite.name,
        created=_stamp(created, "created"),
        verificationMethod=verification_method,
        proofPurpose=proof_purpose,
    )
    if expires is not None:
        options["expires"] = _stamp(expires, "expires")
    if challenge is not None:
        options["challenge"] = challenge
    if domain is not None:
        options["domain"] = domain
    signed_document = unsecured
    if previous_proof is not None:
        options["previousProof"] = previous_proof
        wanted = (previous_proof,) if isinstance(previous_proof, str) else tuple(previous_proof)
        # §2.1.2 (add proof, chains): the new proof covers the document *with* the proofs it
        # names, so none of them can be removed or swapped without breaking it.
        signed_document = chained_document(unsecured, existing, wanted)
    if suite.transform is Transform.JCS and "@context" in unsecured:
        # eddsa §3.3.1 / ecdsa §3.3.1: the proof carries the document's @context, signed.
        options["@context"] = unsecured["@context"]
    config = dict(options)
    if suite.transform is Transform.RDFC:
        config["@context"] = unsecured.get("@context")
    data = suite_hash_data(suite, signer.key_type, signed_document, config, contexts=contexts)
    signature = sign_data(suite, signer, data)
    # §3.x.1 step 6: proofValue is the base58btc multibase of the signature bytes.
    proof = {**options, "proofValue": "z" + base58btc_encode(signature)}
    if not existing:
        return {**unsecured, "proof": proof}
    return {**unsecured, "proof": [*existing, proof]}


def _issuable_suite(name: str) -> Cryptosuite:
    suite = cryptosuite(name)
    if suite.selective_disclosure:
        raise ConfigurationError(
            f"{ECDSA_SD_2023} base proofs are not issued by ancre yet (derived proofs are verified)"
        )
    return suite


def _existing_proofs(document: Mapping[str, Any], extend: bool) -> list[dict[str, Any]]:
    if "proof" not in document:
        return []
    if not extend:
        raise ConfigurationError(
            "the document already has a proof (pass add_to_proof_set=True to add one to its "
            "proof set, or previous_proof to chain)"
        )
    value = document["proof"]
    proofs = value if isinstance(value, list) else [value]
    if not all(isinstance(p, dict) for p in proofs) or len(proofs) >= MAX_PROOFS:
        raise ConfigurationError(
            f"the document's proofs must be objects, fewer than {MAX_PROOFS} of them"
        )
    return [dict(p) for p in proofs]


# ------------------------------------------------------------------------------------------
# parsing proofs


def _bad_proof(message: str) -> InvalidError:
    return InvalidError(Code.INVALID_PROOF, message)


def _proof_stamp(raw: Mapping[str, Any], name: str) -> datetime | None:
    if name not in raw:
        return None
    try:
        return parse_datetime_stamp(raw[name], f"proof.{name}")
    except InvalidError as exc:
        raise _bad_proof(exc.message) from None


def _parse_detached(value: Any, policy: VerificationPolicy) -> _DetachedJws:
    if not isinstance(value, str) or len(value) > _MAX_JWS_BYTES:
        raise _bad_proof("proof `jws` must be a detached compact JWS string")
    parts = value.split(".")
    if len(parts) != 3 or parts[1] != "":
        raise _bad_proof("proof `jws` must be a detached JWS (`header..signature`)")
    try:
        parsed = parse_compact(
            value,
            allowed_algs=policy.algorithms,
            understood_crit=policy.understood_crit | {"b64"},
            max_bytes=_MAX_JWS_BYTES,
            max_depth=policy.max_json_depth,
        )
    except MalformedError as exc:
        raise _bad_proof(f"proof `jws`: {exc.message}") from None
    # RFC 7797 §3, §6: an unencoded payload needs `b64: false`, listed in `crit`.
    if parsed.header.get("b64") is not False or "b64" not in parsed.header.get("crit", ()):
        raise _bad_proof('proof `jws` header must have "b64": false listed in "crit" (RFC 7797)')
    return _DetachedJws(
        header=parsed.header,
        alg=parsed.alg,
        prefix=parsed.signing_input,  # "header." — the empty payload adds nothing
        signature=parsed.signature,
    )


def _parse_proofs(document: Mapping[str, Any], policy: VerificationPolicy) -> list[_Proof]:
    """Every proof of the document, in document order: one, or a proof set / chain (VC Data
    Integrity §2.1.1-2.1.2)."""
    value = document.get("proof")
    if value is None:
        raise InvalidError(Code.INVALID_PROOF, "the document has no `proof`")
    if isinstance(value, list):
        if not value:
            raise _bad_proof("`proof` is an empty list")
        if len(value) > MAX_PROOFS:
            raise _bad_proof(f"a proof set of {len(value)} proofs is over the limit {MAX_PROOFS}")
        proofs = [_parse_one(v, policy, n, len(value)) for n, v in enumerate(value, 1)]
    else:
        proofs = [_parse_one(value, policy, 1, 1)]
    # Checks ids, previousProof names and loops before any signature work.
    chain_order([(p.id, p.previous) for p in proofs])
    return proofs


def _parse_one(value: Any, policy: VerificationPolicy, n: int, total: int) -> _Proof:
    try:
        return _parse_proof(value, policy)
    except AncreError as exc:
        raise _in_set(exc, n, total) from None


def _in_set(exc: AncreError, n: int, total: int) -> AncreError:
    """`exc` with its message saying which proof of a set it is about."""
    if total == 1:
        return exc
    message = f"proof {n} of {total}: {exc.message}"
    if isinstance(exc, IndeterminateError):
        return IndeterminateError(exc.code, message)
    if isinstance(exc, MalformedError):
        return MalformedError(exc.code, message)
    return InvalidError(exc.code, message)


def _parse_proof(value: Any, policy: VerificationPolicy) -> _Proof:
    if not isinstance(value, dict):
        raise _bad_proof("`proof` must be an object")
    proof_type = value.get("type")
    suite_of: Cryptosuite | None = None
    if proof_type == DATA_INTEGRITY_PROOF:
        suite_of = cryptosuite(value.get("cryptosuite"))
        if suite_of.name not in policy.cryptosuites:
            raise InvalidError(
                Code.POLICY_VIOLATION, f"the policy does not accept cryptosuite {suite_of.name}"
            )
        suite = ProofSuite(f"{DATA_INTEGRITY_PROOF}/{suite_of.name}")
    elif isinstance(proof_type, str) and proof_type in _LEGACY_TYPES:
        suite = _LEGACY_TYPES[proof_type]
    else:
        raise IndeterminateError(
            Code.UNSUPPORTED_CRYPTOSUITE, f"proof type {str(proof_type)[:60]!r} is not supported"
        )
    vm, purpose = value.get("verificationMethod"), value.get("proofPurpose")
    if not isinstance(vm, str) or not is_url(vm):
        raise _bad_proof("proof `verificationMethod` must be a URL")
    if not isinstance(purpose, str) or not purpose:
        raise _bad_proof("proof `proofPurpose` must be a string")
    signature: bytes | None = None
    jws: _DetachedJws | None = None
    if suite_of is not None or suite is ProofSuite.ED25519_SIGNATURE_2020:
        if "jws" in value:
            raise _bad_proof(f"a {proof_type} proof carries `proofValue`, not `jws`")
        if suite_of is not None and suite_of.selective_disclosure:
            # Decoded (and size-checked) here so a malformed value is a format error; the
            # signature step decodes it again with the document it must match.
            ecdsa_sd.parse_proof_value(value.get("proofValue"))
        else:
            kinds = suite_of.key_types if suite_of is not None else {KeyType.ED25519}
            sizes = tuple(sorted({SIGNATURE_SIZES[k] for k in kinds}))
            signature = _proof_value(value.get("proofValue"), sizes)
    else:
        if "proofValue" in value:
            raise _bad_proof(f"a {proof_type} proof carries `jws`, not `proofValue`")
        jws = _parse_detached(value.get("jws"), policy)
    proof_id = value.get("id")
    if proof_id is not None and not (isinstance(proof_id, str) and is_url(proof_id)):
        raise _bad_proof("proof `id` must be a URL")
    previous = previous_ids(value["previousProof"]) if "previousProof" in value else ()
    for name in ("challenge", "nonce"):
        if name in value and not isinstance(value[name], str):
            raise _bad_proof(f"proof `{name}` must be a string")
    domain = value.get("domain")
    if domain is not None and not (
        isinstance(domain, str)
        or (isinstance(domain, list) and domain and all(isinstance(d, str) for d in domain))
    ):
        raise _bad_proof("proof `domain` must be a string or a list of strings")
    return _Proof(
        raw=value,
        suite=suite,
        verification_method=vm,
        purpose=purpose,
        created=_proof_stamp(value, "created"),
        expires=_proof_stamp(value, "expires"),
        signature=signature,
        jws=jws,
        cryptosuite=suite_of,
        id=proof_id,
        previous=previous,
    )


def _proof_value(value: Any, sizes: tuple[int, ...]) -> bytes:
    # eddsa §2.2.1, ecdsa §2.2.1: a multibase base58btc value of the signature bytes.
    if not isinstance(value, str) or not value.startswith("z"):
        raise _bad_proof("proof `proofValue` must be a multibase base58btc (`z…`) string")
    try:
        raw = base58btc_decode(value[1:])
    except MalformedError:
        raise _bad_proof("proof `proofValue` is not valid base58btc") from None
    if len(raw) not in sizes:
        expected = " or ".join(str(s) for s in sizes)
        raise _bad_proof(f"proof `proofValue` decodes to {len(raw)} bytes, not {expected}")
    return raw


# ------------------------------------------------------------------------------------------
# verifying a proof


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _proof_config_hash(
    unsecured: Mapping[str, Any],
    proof: _Proof,
    contexts: ContextStore | None,
    limits: CanonicalizationLimits,
) -> bytes:
    options = proof.options()
    if "@context" in options:
        # An embedded proof with its own @context is read, as JSON-LD nesting says, with the
        # document's context and then its own (what ssi/didkit sign: their 2020 and JWS-2020
        # proofs carry only the suite context, and jws-2020/v1 does not even alias `type`).
        options["@context"] = [*_as_list(unsecured.get("@context")), *_as_list(options["@context"])]
    else:
        # jsonld-signatures: the proof options are read with the document's @context.
        options["@context"] = unsecured.get("@context")
    return _sha256(canonize(options, contexts=contexts, limits=limits))


def _verify_signature(
    unsecured: dict[str, Any],
    proof: _Proof,
    key: PublicKey,
    contexts: ContextStore | None,
    policy: VerificationPolicy,
) -> str:
    """Check the proof's signature over the document; return what was checked."""
    jws = proof.jws
    if (
        jws is not None
        and proof.suite is ProofSuite.ED25519_SIGNATURE_2018
        and jws.alg not in _ED25519_ALGS
    ):
        raise InvalidError(
            Code.ALG_NOT_ALLOWED, f"an Ed25519Signature2018 JWS must be EdDSA, not {jws.alg}"
        )
    limits = _limits(policy)
    document_hash = _sha256(canonize(unsecured, contexts=contexts, limits=limits))
    options_error: InvalidError | None = None
    try:
        hashed: bytes | None = _proof_config_hash(unsecured, proof, contexts, limits)
    except InvalidError as exc:
        # The Gaia-X flavour of JsonWebSignature2020 never canonicalizes the proof options,
        # and Tagus documents often lack the jws-2020 context that would define them.
        if proof.suite is not ProofSuite.JSON_WEB_SIGNATURE_2020:
            raise
        hashed, options_error = None, exc
    if jws is None:
        # proofValue suites: a bare Ed25519 signature over hashData (eddsa §3.2.7).
        if (
            hashed is None
            or proof.signature is None
            or not key.verify("EdDSA", hashed + document_hash, proof.signature)
        ):
            raise InvalidError(Code.SIGNATURE_INVALID, "the proof's Ed25519 signature is invalid")
        return f"{proof.suite.value} Ed25519 signature verifies"
    if hashed is not None and key.verify(
        jws.alg, jws.prefix + hashed + document_hash, jws.signature
    ):
        return f"{proof.suite.value} {jws.alg} detached JWS verifies"
    if proof.suite is ProofSuite.JSON_WEB_SIGNATURE_2020:
        # The Gaia-X flavour: payload = lowercase hex SHA-256 of the canonical document.
        gaiax_payload = document_hash.hex().encode("ascii")
        if key.verify(jws.alg, jws.prefix + gaiax_payload, jws.signature):
            return (
                f"JsonWebSignature2020 {jws.alg} detached JWS verifies in the Gaia-X flavour "
                "(over the document only: the proof options are not signed)"
            )
        if options_error is not None:
            raise InvalidError(
                Code.SIGNATURE_INVALID,
                f"the proof's {jws.alg} signature is invalid in the Gaia-X flavour, and the "
                f"specification's cannot apply ({options_error.message})",
            )
    raise InvalidError(Code.SIGNATURE_INVALID, f"the proof's {jws.alg} signature is invalid")


def _resolve_proof_key(
    proof: _Proof,
    controller: str,
    resolver: DidResolver | KeySource,
    *,
    authentication: bool,
) -> PublicKey:
    vm = proof.verification_method
    if getattr(resolver, "key_for", None) is None and did_of(vm) != controller:
        # The key must be the controller's own: a valid signature by someone else's key
        # proves nothing about this issuer or holder.
        role = "holder" if authentication else "issuer"
        raise InvalidError(
            Code.KID_MISMATCH,
            f"proof verificationMethod {vm} is not a key of the {role} {controller}",
        )
    return resolve_key({"kid": vm}, controller, resolver, authentication=authentication)


# ------------------------------------------------------------------------------------------
# credentials


def _parse_document(
    document: Mapping[str, Any] | str | bytes, policy: VerificationPolicy
) -> dict[str, Any]:
    if isinstance(document, str | bytes):
        parsed = loads_strict(
            document,
            what="JSON-LD document",
            max_bytes=policy.max_token_bytes,
            max_depth=policy.max_json_depth,
        )
    else:
        parsed = document
    if not isinstance(parsed, Mapping):
        raise MalformedError(Code.MALFORMED_JSON, "a JSON-LD document must be a JSON object")
    if not isinstance(document, str | bytes):
        try:
            text = dumps_compact(parsed).encode("utf-8")
        except (TypeError, ValueError):
            raise MalformedError(Code.MALFORMED_JSON, "the document is not plain JSON") from None
        if len(text) > policy.max_token_bytes:
            raise MalformedError(
                Code.INPUT_TOO_LARGE,
                f"the document is {len(text)} bytes, the limit is {policy.max_token_bytes}",
            )
        # On the serialization just made (C speed): the verifier service runs this for
        # every JSON-LD request, and a Python walk of a 3,000-object document cost ~5 ms.
        if depth_of_text(text) > policy.max_json_depth:
            raise MalformedError(
                Code.JSON_TOO_DEEP, f"the document nests deeper than {policy.max_json_depth}"
            )
    return dict(parsed)


def _is_vcdm11(document: Mapping[str, Any]) -> bool:
    ctx = document.get("@context")
    first = ctx[0] if isinstance(ctx, list) and ctx else ctx
    return first == VCDM11_CONTEXT


def _describe_format(kind: str, proofs: list[_Proof]) -> str:
    if len(proofs) == 1:
        return f"{kind}, proof {proofs[0].suite.value}"
    what = "proof chain" if any(p.previous for p in proofs) else "proof set"
    return f"{kind}, {what} of {len(proofs)}: {', '.join(p.suite.value for p in proofs)}"


def _worst(errors: list[AncreError]) -> AncreError:
    """The error a set's step fails with: the first proven-invalid proof's, else the first."""
    return next((e for e in errors if e.outcome == "invalid"), errors[0])


def _verify_proof(
    unsecured: dict[str, Any],
    proof: _Proof,
    key: PublicKey,
    contexts: ContextStore | None,
    policy: VerificationPolicy,
) -> str:
    """Check one proof's signature over `unsecured` (for a chained proof: with the proofs it
    names); return what was checked."""
    suite = proof.cryptosuite
    if suite is None:
        return _verify_signature(unsecured, proof, key, contexts, policy)
    limits = _limits(policy)
    unsecured = dict(unsecured)
    config = proof_configuration(suite, unsecured, proof.options())
    if suite.selective_disclosure:
        return ecdsa_sd.verify_derived_proof(
            unsecured, config, proof.raw.get("proofValue"), key, contexts=contexts, limits=limits
        )
    data = suite_hash_data(suite, key.key_type, unsecured, config, contexts=contexts, limits=limits)
    if proof.signature is None or not verify_data(suite, key, data, proof.signature):
        raise InvalidError(
            Code.SIGNATURE_INVALID,
            f"the proof's {suite.name} {KEY_NAMES[key.key_type]} signature is invalid",
        )
    return f"{proof.suite.value} {KEY_NAMES[key.key_type]} signature verifies"


class _ProofAdapter:
    """Parse, proofs and signatures, shared by Data Integrity credentials and presentations
    (a mixin of the adapters). `proof` is the first proof (its `created` is when the document
    was signed, its verification method names a holder that is not named); `proofs` all of
    them, each with its key in `keys` once the issuer-key step ran."""

    data: Any
    ctx: VerifyContext
    run: Run
    document: dict[str, Any]
    proof: _Proof
    proofs: list[_Proof]
    keys: list[PublicKey | None]
    outcomes: list[tuple[Status, Code | None, str]]
    unsecured: dict[str, Any]
    key: PublicKey

    def parse(self) -> str:
        self.document = _parse_document(self.data, self.ctx.policy)
        return "JSON object within size and depth limits"

    def _read_proof(self, fmt: str) -> str:
        """The FORMAT step's part about the proofs, once the format and types are known."""
        proofs = self.proofs = _parse_proofs(self.document, self.ctx.policy)
        proof = self.proof = proofs[0]
        unsecured = self.unsecured = {k: v for k, v in self.document.items() if k != "proof"}
        self.run.document = unsecured
        self.run.header = proof.jws.header if proof.jws is not None else None
        self.outcomes = [(Status.INDETERMINATE, None, "not checked")] * len(proofs)
        self._record()
        return _describe_format(fmt, proofs)

    def _record(self) -> None:
        self.run.proofs = tuple(
            ProofCheck(
                position=n,
                status=status,
                suite=p.suite.value,
                verification_method=p.verification_method,
                id=p.id,
                previous=p.previous,
                code=code,
                message=message,
            )
            for n, (p, (status, code, message)) in enumerate(
                zip(self.proofs, self.outcomes, strict=True)
            )
        )

    def _failed(self, n: int, error: AncreError) -> AncreError:
        status = Status.INDETERMINATE if error.outcome == "indeterminate" else Status.INVALID
        self.outcomes[n] = (status, error.code, error.message)
        return _in_set(error, n + 1, len(self.proofs))

    def _resolve_keys(self, controller: str, *, authentication: bool) -> str:
        """Each proof's purpose, key (a key of `controller`) and the key's fit with the
        proof's cryptosuite; every proof is checked before the step fails."""
        expected = "authentication" if authentication else "assertionMethod"
        what = "presentation" if authentication else "credential"
        keys: list[PublicKey | None] = []
        errors: list[AncreError] = []
        for n, proof in enumerate(self.proofs):
            try:
                _require_purpose(proof.purpose, expected, what)
                key = _resolve_proof_key(
                    proof, controller, self.ctx.keys, authentication=authentication
                )
                if proof.cryptosuite is not None:
                    proof.cryptosuite.check_key(key.key_type)
                keys.append(key)
                self.outcomes[n] = (Status.INDETERMINATE, None, "key resolved")
            except AncreError as exc:
                errors.append(self._failed(n, exc))
                keys.append(None)
        self._record()
        if errors and (self.ctx.policy.require_all_proofs or len(errors) == len(keys)):
            raise _worst(errors)
        self.keys = keys
        self._primary([n for n, key in enumerate(keys) if key is not None])
        role = "an authentication key" if authentication else "an assertionMethod"
        parts = [
            f"{p.verification_method} is {role} of {controller}"
            for p, key in zip(self.proofs, keys, strict=True)
            if key is not None
        ]
        if errors:
            parts.append(f"{len(errors)} other proof(s) not accepted (policy: one proof suffices)")
        return "; ".join(parts)

    def _primary(self, usable: list[int]) -> None:
        """The proof (and key) the engine's time step reads: the first still usable."""
        self.proof = self.proofs[usable[0]]
        key = self.keys[usable[0]]
        if key is not None:
            self.key = key

    def _valid(self) -> list[int]:
        return [n for n, (status, _, _) in enumerate(self.outcomes) if status is Status.VALID]

    def signature(self) -> str:
        contexts, policy, proofs = self.ctx.contexts, self.ctx.policy, self.proofs
        messages: list[str] = []
        errors: list[AncreError] = []
        raws = [p.raw for p in proofs]
        # Chains are verified in order: a proof after those its previousProof names.
        for n in chain_order([(p.id, p.previous) for p in proofs]):
            proof, key = proofs[n], self.keys[n]
            if key is None:
                continue
            try:
                unsecured = (
                    chained_document(self.unsecured, raws, proof.previous)
                    if proof.previous
                    else self.unsecured
                )
                message = _verify_proof(unsecured, proof, key, contexts, policy)
                self.outcomes[n] = (Status.VALID, None, message)
                messages.append(message if len(proofs) == 1 else f"proof {n + 1}: {message}")
            except AncreError as exc:
                errors.append(self._failed(n, exc))
        self._record()
        valid = self._valid()
        if errors and (policy.require_all_proofs or not valid):
            raise _worst(errors)
        self._primary(valid)
        if errors:
            messages.append(f"{len(errors)} proof(s) invalid (policy: one proof suffices)")
        return "; ".join(messages)

    def _later_keys_not_revoked(self, what: str) -> list[str]:
        """The engine's time step checks the first proof's key against its revocation; the
        other proofs' keys get the same rule here."""
        messages = []
        for n in self._valid():
            key = self.keys[n]
            if self.proofs[n] is not self.proof and type(key) is RevokedKey:
                messages.append(check_not_revoked(key, self.proofs[n].created, what))
        return messages

    def _proof_times(self) -> tuple[list[tuple[str, datetime | None]], ...]:
        single = len(self.proofs) == 1
        valid = self._valid()
        names = ["proof" if single else f"proof {n + 1}" for n in valid]
        chosen = [self.proofs[n] for n in valid]
        created = [(f"{name}.created", p.created) for name, p in zip(names, chosen, strict=True)]
        expires = [(f"{name}.expires", p.expires) for name, p in zip(names, chosen, strict=True)]
        return created, expires


class DiCredentialAdapter(_ProofAdapter, CredentialAdapter):
    """A JSON-LD credential (VCDM 2.0 or 1.1) with an embedded proof, for the engine."""

    __slots__ = ("document", "keys", "outcomes", "proof", "proofs", "unsecured", "v11")

    def format(self) -> str:
        run = self.run
        run.fmt = FORMAT_LDP_VC
        check_format_accepted(run.fmt, self.ctx.policy)
        run.types = types_of(self.document)
        if "VerifiableCredential" not in run.types:
            raise InvalidError(Code.INVALID_TYPE, "`type` must include 'VerifiableCredential'")
        message = self._read_proof(FORMAT_LDP_VC)
        unsecured = self.unsecured
        ids = (
            subject_ids(unsecured)
            if isinstance(unsecured.get("credentialSubject"), dict | list)
            else ()
        )
        run.subject = ids[0] if ids else None
        return message

    def issuer_key(self) -> str:
        issuer = self.run.issuer = issuer_id(self.unsecured)
        return self._resolve_keys(issuer, authentication=False)

    def data_model(self) -> str:
        policy = self.ctx.policy
        v11 = self.v11 = _is_vcdm11(self.unsecured)
        if v11 and not policy.accept_vcdm11:
            raise InvalidError(Code.POLICY_VIOLATION, "VCDM 1.1 credentials are not accepted")
        tolerated = check_credential(
            self.unsecured, allow_untyped_evidence=policy.accept_untyped_evidence
        )
        return "; ".join((f"meets the VCDM {'1.1' if v11 else '2.0'} data model", *tolerated))

    def check_time(self) -> str:
        now, policy = self.ctx.clock.now(), self.ctx.policy
        created, expires = self._proof_times()
        message = _check_time(self.unsecured, created, expires, now, policy, v11=self.v11)
        return "; ".join((message, *self._later_keys_not_revoked("credential")))

    def check_schema(self) -> str:
        return vcdm_schema_message(self.unsecured)

    def status_entry(self) -> tuple[bool, str]:
        return "credentialStatus" in self.unsecured, "credentialStatus"

    def issued_at(self) -> datetime | None:
        return _issued_at(self.unsecured)

    def signed_at(self) -> datetime | None:
        # VC Data Integrity §2.1: `created` is when the proof was made.
        return self.proof.created or self.issued_at()


def verify_data_integrity(
    document: Mapping[str, Any] | str | bytes,
    *,
    resolver: DidResolver | KeySource,
    clock: Clock,
    policy: VerificationPolicy = _DEFAULT_POLICY,
    status: StatusChecker | None = None,
    trust: TrustChecker | None = None,
    contexts: ContextStore | None = None,
) -> VerificationResult:
    """Verify a JSON-LD credential (VCDM 2.0 or 1.1) secured with an embedded proof,
    through every step of the engine.

    The proof's `verificationMethod` must be an `assertionMethod` key of the issuer (or come
    from `resolver` when it is a :class:`KeySource`), and `proofPurpose` must be
    `assertionMethod`. Never raises for bad input: every problem is a failed check with a
    stable code in the returned result."""
    context = VerifyContext(resolver, clock, policy, status, trust, contexts)
    return run_steps(DiCredentialAdapter(document, context))


def _require_purpose(purpose: str, expected: str, what: str) -> None:
    if purpose != expected:
        raise InvalidError(
            Code.PROOF_PURPOSE_MISMATCH,
            f"a {what}'s proof must have proofPurpose {expected}, not {purpose[:60]!r}",
        )


def _issued_at(credential: Mapping[str, Any]) -> datetime | None:
    """When the credential took effect (VCDM 2.0 validFrom, 1.1 issuanceDate)."""
    if "validFrom" in credential:
        return parse_datetime_stamp(credential["validFrom"], "validFrom")
    if "issuanceDate" in credential:
        return parse_datetime_stamp(credential["issuanceDate"], "issuanceDate", zone_required=False)
    return None


def _check_time(
    credential: Mapping[str, Any],
    created: list[tuple[str, datetime | None]],
    expires: list[tuple[str, datetime | None]],
    now: datetime,
    policy: VerificationPolicy,
    *,
    v11: bool,
) -> str:
    def stamp(name: str) -> datetime | None:
        if name not in credential:
            return None
        # VCDM 1.1 §4.6/§4.7 allow a dateTime without time zone (read as UTC).
        return parse_datetime_stamp(credential[name], name, zone_required=not v11)

    valid_from = stamp("validFrom")
    issued = stamp("issuanceDate")
    message = check_window(
        now=now,
        skew=policy.clock_skew,
        not_before=[
            ("validFrom", valid_from),
            ("issuanceDate", issued),
            *created,
        ],
        not_after=[
            ("validUntil", stamp("validUntil")),
            ("expirationDate", stamp("expirationDate")),
            *expires,
        ],
    )
    start = valid_from or issued
    too_old = policy.max_credential_age
    if too_old is not None and start is not None and now - start > too_old:
        raise InvalidError(
            Code.CREDENTIAL_TOO_OLD, f"issued {iso(start)}, older than the policy's {too_old}"
        )
    return message


# ------------------------------------------------------------------------------------------
# presentations


class DiPresentationAdapter(_ProofAdapter, PresentationAdapter):
    """A JSON-LD presentation with an embedded proof, for the engine: the proof has
    `proofPurpose` `authentication`, its `challenge` is the nonce, its `domain` the
    audience."""

    __slots__ = ("document", "keys", "outcomes", "proof", "proofs", "unsecured")
    within = "json-ld"

    def format(self) -> str:
        run = self.run
        run.fmt = FORMAT_LDP_VP
        check_format_accepted(run.fmt, self.ctx.policy)
        run.types = types_of(self.document)
        if "VerifiablePresentation" not in run.types:
            raise InvalidError(
                Code.INVALID_PRESENTATION, "`type` must include 'VerifiablePresentation'"
            )
        return self._read_proof(FORMAT_LDP_VP)

    def issuer_key(self) -> str:
        proof = self.proof
        # VCDM 2.0 §4.13 (and 1.1): `holder` is optional; without it the presentation
        # proves what the proof's verification method and its controller are.
        holder = self.unsecured.get("holder")
        if isinstance(holder, dict):
            holder = holder.get("id")
        named = self.named_holder = "holder" in self.unsecured
        if not named:
            holder = _controller_of(proof.verification_method)
        if not isinstance(holder, str) or not is_url(holder):
            raise InvalidError(Code.INVALID_PRESENTATION, "the presentation's holder is not a URL")
        self.run.holder = holder
        return self._resolve_keys(holder, authentication=True)

    def data_model(self) -> str:
        check_presentation(self.unsecured, allow_jwt_strings=True)
        return "meets the VCDM presentation data model"

    def signed_at(self) -> datetime | None:
        return self.proof.created

    def check_time(self) -> str:
        unsecured = self.unsecured
        created, expires = self._proof_times()
        message = check_window(
            now=self.ctx.clock.now(),
            skew=self.ctx.policy.clock_skew,
            not_before=created,
            not_after=[
                *expires,
                (
                    "validUntil",
                    parse_datetime_stamp(unsecured["validUntil"], "validUntil")
                    if "validUntil" in unsecured
                    else None,
                ),
            ],
        )
        return "; ".join((message, *self._later_keys_not_revoked("presentation")))

    def holder_binding(self) -> str:
        # Every proof of a presentation's set must be bound to this verifier and challenge:
        # one unbound proof would be a replayable presentation of the same document.
        messages = [_check_binding(self.proofs[n].raw, self.ctx.policy) for n in self._valid()]
        return self.holder_named(messages[0])

    def entries(self) -> list[Any]:
        entries = self.unsecured.get("verifiableCredential", [])
        return entries if isinstance(entries, list) else [entries]


def _controller_of(verification_method: str) -> str:
    """Who controls a presentation proof's key when the presentation names no holder: the
    DID of its verification method (ancre reads keys from DIDs only)."""
    if not verification_method.startswith("did:"):
        raise InvalidError(
            Code.INVALID_PRESENTATION,
            "the presentation names no holder and its proof's verificationMethod is not a DID "
            "URL: nothing says whose key signed it",
        )
    return did_of(verification_method)


def verify_data_integrity_presentation(
    presentation: Mapping[str, Any] | str | bytes,
    *,
    resolver: DidResolver | KeySource,
    clock: Clock,
    policy: VerificationPolicy = _DEFAULT_POLICY,
    status: StatusChecker | None = None,
    trust: TrustChecker | None = None,
    contexts: ContextStore | None = None,
) -> VerificationResult:
    """Verify a JSON-LD presentation secured with an embedded proof, and every credential it
    carries (embedded JSON-LD credentials with their own proofs; `vc+jwt` strings or
    `EnvelopedVerifiableCredential`s), through every step of the engine.

    The proof must have `proofPurpose` `authentication` and come from an `authentication` key
    of the `holder` (`result.holder`; without a `holder`, which VCDM makes optional, the DID
    of the proof's verification method, unless `policy.require_holder`). Its `challenge`
    must equal `policy.nonce` and its `domain` contain `policy.audience` (recorded as
    replayable when the policy names none).
    The presentation is valid only if every credential is."""
    context = VerifyContext(resolver, clock, policy, status, trust, contexts)
    return run_steps(DiPresentationAdapter(presentation, context))


def _check_binding(proof: Mapping[str, Any], policy: VerificationPolicy) -> str:
    # Data Integrity §4.6 (Verify Proof): an expected domain or challenge that the proof does
    # not carry is an error; ancre maps `domain` to the audience and `challenge` to the nonce.
    parts = []
    if policy.accepted_audiences:
        domain = proof.get("domain")
        if not policy.audience_ok(domain):
            raise InvalidError(
                Code.AUDIENCE_MISMATCH,
                f"presentation proof domain is {domain!r}, not one of "
                f"{sorted(policy.accepted_audiences)}",
            )
        parts.append(f"domain {domain}")
    if policy.nonce is not None:
        if proof.get("challenge") != policy.nonce:
            raise InvalidError(
                Code.NONCE_MISMATCH, "presentation proof challenge is not the expected nonce"
            )
        parts.append("challenge matches")
    if not parts:
        return "no domain or challenge required by policy (replayable presentation)"
    return ", ".join(parts)
