"""W3C Data Integrity and Linked Data proofs on JSON-LD credentials and presentations.

Verified (the "legacy / interop" row of DESIGN.md "Formats"):

- `DataIntegrityProof` with `cryptosuite: eddsa-rdfc-2022` (W3C Data Integrity EdDSA
  Cryptosuites v1.0, Recommendation 2025, §3.2) — also issued, by :func:`add_proof`;
- `Ed25519Signature2020` (same spec, appendix A.2: `proofValue`, multibase base58btc);
- `Ed25519Signature2018` (W3C CCG lds-ed25519-2018: detached JWS with `b64: false`, what
  didkit emits by default for VCDM 1.1);
- `JsonWebSignature2020` (W3C CCG lds-jws2020: detached JWS, any JOSE algorithm the policy
  allows), in the specification's form and in the "Gaia-X flavour" that Gaia-X Tagus (22.10)
  notaries and compliance services produce: the JWS payload is the hex SHA-256 of the canonical
  document, and the proof options are not signed at all (gx-compliance `ProofService`).

All four hash the same way: SHA-256 of the RDFC-1.0 canonical proof options followed by
SHA-256 of the RDFC-1.0 canonical document without its proof (eddsa §3.2.4); the suites differ
in how the 64 bytes are signed and which `@context` the proof options are read with.
Canonicalization is :func:`ancre.trust.vcdm.jsonld.canonize`: shipped or pinned contexts only, safe
mode, bounded.

Verification is :class:`DiCredentialAdapter` / :class:`DiPresentationAdapter` run by the
engine (`ancre.trust.engine`) in its one order of steps; the first failure ends the run. The
result's `header` is the proof's JOSE header for JWS-based suites.
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
from ancre.trust.did.document import DidResolver, did_of
from ancre.trust.engine import (
    CredentialAdapter,
    PresentationAdapter,
    VerifyContext,
    run_steps,
)
from ancre.trust.errors import (
    Code,
    ConfigurationError,
    IndeterminateError,
    InvalidError,
    MalformedError,
)
from ancre.trust.jose.jws import parse_compact
from ancre.trust.keys.jwk import KeyType, PublicKey, Signer
from ancre.trust.policy import VerificationPolicy
from ancre.trust.result import VerificationResult
from ancre.trust.steps import (
    KeySource,
    Run,
    StatusChecker,
    TrustChecker,
    check_format_accepted,
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
) -> dict[str, Any]:
    """Secure `document` (a credential, or with ``proof_purpose="authentication"`` and a
    `challenge`/`domain` a presentation) with a `DataIntegrityProof` using
    `eddsa-rdfc-2022` (eddsa §3.2.1). Returns a new document; `document` is not changed.

    `signer` must hold an Ed25519 key; `verification_method` is the DID URL (or URL) of that
    key. The document must be processable in JSON-LD safe mode with the shipped or given
    contexts, and its `@context` must define `DataIntegrityProof` (VCDM 2.0's does)."""
    if signer.key_type is not KeyType.ED25519:
        raise ConfigurationError("eddsa-rdfc-2022 signs with an Ed25519 key")
    if "proof" in document:
        raise ConfigurationError("the document already has a proof (proof sets are not issued)")
    if not is_url(verification_method):
        raise ConfigurationError("the verification method must be a URL")
    unsecured = dict(document)
    options: dict[str, Any] = {
        "type": DATA_INTEGRITY_PROOF,
        "cryptosuite": CRYPTOSUITE_EDDSA_RDFC_2022,
        "created": _stamp(created, "created"),
        "verificationMethod": verification_method,
        "proofPurpose": proof_purpose,
    }
    if expires is not None:
        options["expires"] = _stamp(expires, "expires")
    if challenge is not None:
        options["challenge"] = challenge
    if domain is not None:
        options["domain"] = domain
    signature = signer.sign(hash_data(unsecured, options, contexts=contexts))
    # §3.2.1 step 6: proofValue is the base58btc multibase of the 64 signature bytes.
    return {**unsecured, "proof": {**options, "proofValue": "z" + base58btc_encode(signature)}}


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


def _parse_proof(document: Mapping[str, Any], policy: VerificationPolicy) -> _Proof:
    value = document.get("proof")
    if value is None:
        raise InvalidError(Code.INVALID_PROOF, "the document has no `proof`")
    if isinstance(value, list):
        if len(value) != 1:
            # Data Integrity §4.4 proof sets and chains: not verified by ancre yet, and a
            # partial check would prove nothing about the others.
            raise IndeterminateError(
                Code.INVALID_PROOF, f"a proof set of {len(value)} proofs is not supported"
            )
        value = value[0]
    if not isinstance(value, dict):
        raise _bad_proof("`proof` must be an object")
    proof_type = value.get("type")
    if proof_type == DATA_INTEGRITY_PROOF:
        cryptosuite = value.get("cryptosuite")
        if cryptosuite != CRYPTOSUITE_EDDSA_RDFC_2022:
            raise IndeterminateError(
                Code.UNSUPPORTED_CRYPTOSUITE,
                f"cryptosuite {str(cryptosuite)[:60]!r} is not supported "
                f"(ancre verifies {CRYPTOSUITE_EDDSA_RDFC_2022})",
            )
        suite = ProofSuite.EDDSA_RDFC_2022
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
    if suite in (ProofSuite.EDDSA_RDFC_2022, ProofSuite.ED25519_SIGNATURE_2020):
        if "jws" in value:
            raise _bad_proof(f"a {proof_type} proof carries `proofValue`, not `jws`")
        signature = _proof_value(value.get("proofValue"))
    else:
        if "proofValue" in value:
            raise _bad_proof(f"a {proof_type} proof carries `jws`, not `proofValue`")
        jws = _parse_detached(value.get("jws"), policy)
    if "previousProof" in value:
        # Data Integrity §4.4 proof chains: the proofs this one depends on are part of what it
        # signs; verifying it alone would check a different document than the signer's.
        raise IndeterminateError(
            Code.INVALID_PROOF, "proof chains (previousProof) are not supported"
        )
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
    )


def _proof_value(value: Any) -> bytes:
    # eddsa §2.2.1: a multibase base58btc value of the 64-byte Ed25519 signature.
    if not isinstance(value, str) or not value.startswith("z"):
        raise _bad_proof("proof `proofValue` must be a multibase base58btc (`z…`) string")
    try:
        raw = base58btc_decode(value[1:])
    except MalformedError:
        raise _bad_proof("proof `proofValue` is not valid base58btc") from None
    if len(raw) != 64:
        raise _bad_proof(f"proof `proofValue` decodes to {len(raw)} bytes, not 64")
    return raw


# ------------------------------------------------------------------------------------------
# verifying a proof


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _starts_with(document_context: Any, proof_context: Any) -> bool:
    doc, own = _as_list(document_context), _as_list(proof_context)
    return len(own) <= len(doc) and doc[: len(own)] == own


def _proof_config_hash(
    unsecured: Mapping[str, Any],
    proof: _Proof,
    contexts: ContextStore | None,
    limits: CanonicalizationLimits,
) -> bytes:
    options = proof.options()
    if proof.suite is ProofSuite.EDDSA_RDFC_2022:
        # §3.2.5 step 4: the proof configuration is read with the document's @context. A
        # proof that brings its own must agree with it (the CR's verify step 3).
        if "@context" in options and not _starts_with(
            unsecured.get("@context"), options["@context"]
        ):
            raise _bad_proof("the proof's @context is not the start of the document's @context")
        options["@context"] = unsecured.get("@context")
    elif "@context" in options:
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


def _describe_format(kind: str, proof: _Proof) -> str:
    return f"{kind}, proof {proof.suite.value}"


class _ProofAdapter:
    """Parse, proof and signature, shared by Data Integrity credentials and presentations
    (a mixin of the adapters)."""

    data: Any
    ctx: VerifyContext
    run: Run
    document: dict[str, Any]
    proof: _Proof
    unsecured: dict[str, Any]
    key: PublicKey

    def parse(self) -> str:
        self.document = _parse_document(self.data, self.ctx.policy)
        return "JSON object within size and depth limits"

    def _read_proof(self, fmt: str) -> str:
        """The FORMAT step's part about the proof, once the format and types are known."""
        proof = self.proof = _parse_proof(self.document, self.ctx.policy)
        unsecured = self.unsecured = {k: v for k, v in self.document.items() if k != "proof"}
        self.run.document = unsecured
        self.run.header = proof.jws.header if proof.jws is not None else None
        return _describe_format(fmt, proof)

    def signature(self) -> str:
        contexts, policy = self.ctx.contexts, self.ctx.policy
        return _verify_signature(self.unsecured, self.proof, self.key, contexts, policy)


class DiCredentialAdapter(_ProofAdapter, CredentialAdapter):
    """A JSON-LD credential (VCDM 2.0 or 1.1) with an embedded proof, for the engine."""

    __slots__ = ("document", "proof", "unsecured", "v11")

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
        proof = self.proof
        _require_purpose(proof.purpose, "assertionMethod", "credential")
        self.key = _resolve_proof_key(proof, issuer, self.ctx.keys, authentication=False)
        return f"{proof.verification_method} is an assertionMethod of {issuer}"

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
        return _check_time(self.unsecured, self.proof, now, policy, v11=self.v11)

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
    proof: _Proof,
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
            ("proof.created", proof.created),
        ],
        not_after=[
            ("validUntil", stamp("validUntil")),
            ("expirationDate", stamp("expirationDate")),
            ("proof.expires", proof.expires),
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

    __slots__ = ("document", "proof", "unsecured")
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
        _require_purpose(proof.purpose, "authentication", "presentation")
        self.key = _resolve_proof_key(proof, holder, self.ctx.keys, authentication=True)
        return f"{proof.verification_method} is an authentication key of {holder}"

    def data_model(self) -> str:
        check_presentation(self.unsecured, allow_jwt_strings=True)
        return "meets the VCDM presentation data model"

    def signed_at(self) -> datetime | None:
        return self.proof.created

    def check_time(self) -> str:
        unsecured, proof = self.unsecured, self.proof
        return check_window(
            now=self.ctx.clock.now(),
            skew=self.ctx.policy.clock_skew,
            not_before=[("proof.created", proof.created)],
            not_after=[
                ("proof.expires", proof.expires),
                (
                    "validUntil",
                    parse_datetime_stamp(unsecured["validUntil"], "validUntil")
                    if "validUntil" in unsecured
                    else None,
                ),
            ],
        )

    def holder_binding(self) -> str:
        return self.holder_named(_check_binding(self.proof.raw, self.ctx.policy))

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
