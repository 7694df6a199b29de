"""Verifying an SD-JWT, RFC 9901 §7.1 and §7.3 (with the Key Binding JWT of §4.3).

:func:`verify_sd_jwt` runs the verifier's checks as a pipeline and never raises for bad
input; :func:`parse_sd_jwt`, :func:`process_disclosures` and :func:`check_key_binding` are
its steps, reused by the SD-JWT VC verifier (`ancre.trust.sd_jwt.vc`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ancre.trust.clock import Clock
from ancre.trust.errors import (
    AncreError,
    Code,
    IndeterminateError,
    InvalidError,
)
from ancre.trust.jose.jws import ParsedJws, parse_compact
from ancre.trust.keys.jwk import JWK_THUMBPRINT_URI_PREFIX, PublicKey, jwk_thumbprint
from ancre.trust.policy import VerificationPolicy
from ancre.trust.result import Status, Step, VerificationResult
from ancre.trust.sd_jwt.disclosure import KB_JWT_TYP, MAX_DISCLOSURES, Disclosure, _digest
from ancre.trust.sd_jwt.processing import _DEFAULT_POLICY, _digest_alg_of, _Processor, _split
from ancre.trust.steps import Run, check_window, iso, media_type, numeric_date, parse_jws

__all__ = [
    "ParsedSdJwt",
    "ProcessedSdJwt",
    "check_key_binding",
    "key_binding_holder",
    "parse_sd_jwt",
    "process_disclosures",
    "verify_sd_jwt",
]


@dataclass(frozen=True, slots=True)
class ParsedSdJwt:
    """An SD-JWT (or SD-JWT+KB) split and decoded, *nothing verified yet*."""

    jws: ParsedJws
    payload: dict[str, Any]
    disclosures: tuple[Disclosure, ...]
    #: The compact Key Binding JWT, or None when the token ends with `~`.
    key_binding: str | None
    #: What `sd_hash` covers: the token up to and including its last `~` (§4.3.1).
    presented: str

    @property
    def header(self) -> dict[str, Any]:
        return self.jws.header


@dataclass(frozen=True, slots=True)
class ProcessedSdJwt:
    """The Processed SD-JWT Payload (§7.1): disclosures applied, `_sd`/`_sd_alg` removed."""

    claims: dict[str, Any]
    digest_alg: str
    disclosed: int
    #: Objects in `claims` from which digests were left undisclosed (decoys or withheld
    #: claims): a required claim may legitimately be missing there.
    withheld: tuple[dict[str, Any], ...] = field(default=(), repr=False)

    def withheld_at(self, obj: object) -> bool:
        """Whether `obj` (an object inside `claims`) had digests left undisclosed."""
        return any(w is obj for w in self.withheld)


def parse_sd_jwt(
    token: str | bytes,
    policy: VerificationPolicy = _DEFAULT_POLICY,
    *,
    max_disclosures: int = MAX_DISCLOSURES,
) -> ParsedSdJwt:
    """Split ``<jws>~<d1>~…~<kb?>`` strictly (size and count limits, canonical base64url,
    duplicate-free JSON), parse the issuer-signed JWS under `policy` (alg allow-list, crit)
    and decode every disclosure. Verifies nothing."""
    jwt, encoded, key_binding = _split(token, policy, max_disclosures)
    parsed, payload = parse_jws(jwt, policy)
    disclosures = tuple(Disclosure.decode(d, max_depth=policy.max_json_depth) for d in encoded)
    text = token.decode("ascii") if isinstance(token, bytes) else token
    presented = text[: len(text) - len(key_binding)]
    return ParsedSdJwt(parsed, payload, disclosures, key_binding or None, presented)


def process_disclosures(
    parsed: ParsedSdJwt, policy: VerificationPolicy = _DEFAULT_POLICY
) -> ProcessedSdJwt:
    """§7.1: check `_sd_alg` against the policy, match every disclosure to exactly
    one digest and rebuild the claims. Call only after the issuer signature verified."""
    alg = _digest_alg_of(parsed.payload, policy.sd_jwt_digest_algs)
    processor = _Processor(parsed.disclosures, alg, policy.max_json_depth, record_paths=False)
    claims = processor.run(parsed.payload)
    return ProcessedSdJwt(claims, alg, len(parsed.disclosures), tuple(processor.withheld))


def _holder_key(payload: Mapping[str, Any]) -> PublicKey:
    cnf = payload.get("cnf")
    if not isinstance(cnf, dict):
        raise InvalidError(Code.KEY_BINDING_INVALID, "`cnf` must be a JSON object")
    jwk = cnf.get("jwk")
    if jwk is None:
        # RFC 7800 also allows `kid`/`jku` references: ancre cannot check those, which proves
        # nothing either way.
        raise IndeterminateError(
            Code.KEY_BINDING_INVALID, "`cnf` has no `jwk`: ancre binds holders by JWK only"
        )
    if not isinstance(jwk, dict):
        raise InvalidError(Code.KEY_BINDING_INVALID, "`cnf.jwk` must be a JSON object")
    try:
        members = tuple(sorted(jwk.items()))
        hash(members)
    except TypeError:  # array-valued members (`key_ops`, `x5c`): no cache, same checks
        return PublicKey.from_jwk(jwk)
    return _holder_key_cached(members)


@functools.lru_cache(maxsize=1024)
def _holder_key_cached(members: tuple[tuple[str, Any], ...]) -> PublicKey:
    # Importing and validating a P-256 point costs about as much as the ECDSA check itself;
    # a connector sees the same peers' holder keys again and again. Public keys are values,
    # failures are never cached (lru_cache does not store exceptions), and a JWK with private
    # members is refused by from_jwk on every call.
    return PublicKey.from_jwk(dict(members))


def _verify_kb_jwt(
    parsed: ParsedSdJwt, key_binding: str, alg: str, now: datetime, policy: VerificationPolicy
) -> str:
    try:
        key = _holder_key(parsed.payload)
        kb = parse_compact(
            key_binding,
            allowed_algs=policy.algorithms,
            understood_crit=policy.understood_crit,
            max_bytes=policy.max_token_bytes,
            max_depth=policy.max_json_depth,
        )
        # §4.3: explicit typing keeps an issuer-signed JWT (or any other JWT signed by the
        # holder key) from being passed off as a Key Binding JWT.
        if media_type(kb.header.get("typ")) != KB_JWT_TYP:
            raise InvalidError(Code.KEY_BINDING_INVALID, f"KB-JWT `typ` must be {KB_JWT_TYP!r}")
        if not key.verify(kb.alg, kb.signing_input, kb.signature):
            raise InvalidError(
                Code.KEY_BINDING_INVALID, "the KB-JWT signature does not verify with `cnf.jwk`"
            )
        claims = kb.payload_json(max_depth=policy.max_json_depth)
        if not isinstance(claims, dict):
            raise InvalidError(Code.KEY_BINDING_INVALID, "KB-JWT payload must be a JSON object")
        for name in ("aud", "nonce", "sd_hash"):
            if not isinstance(claims.get(name), str):
                raise InvalidError(Code.KEY_BINDING_INVALID, f"KB-JWT `{name}` must be a string")
        iat = numeric_date(claims, "iat")
        if iat is None:
            raise InvalidError(Code.KEY_BINDING_INVALID, "KB-JWT has no `iat`")
    except AncreError as error:
        if error.code is Code.KEY_BINDING_INVALID:
            raise
        kind = IndeterminateError if error.outcome == "indeterminate" else InvalidError
        raise kind(Code.KEY_BINDING_INVALID, f"KB-JWT: {error.message}") from None
    # §7.3: freshness. A KB-JWT from the future is forged or from a broken clock.
    if iat > now + policy.clock_skew:
        raise InvalidError(Code.KEY_BINDING_INVALID, f"KB-JWT issued in the future ({iso(iat)})")
    if now - iat > policy.key_binding_max_age + policy.clock_skew:
        raise InvalidError(
            Code.KEY_BINDING_TOO_OLD,
            f"KB-JWT issued {iso(iat)}, older than {policy.key_binding_max_age}",
        )
    parts = []
    if policy.accepted_audiences:
        # RFC 9901 §4.3: the KB-JWT `aud` is a single string.
        if not isinstance(claims["aud"], str) or not policy.audience_ok(claims["aud"]):
            raise InvalidError(
                Code.AUDIENCE_MISMATCH,
                f"KB-JWT is for {claims['aud']!r}, not one of {sorted(policy.accepted_audiences)}",
            )
        parts.append(f"aud {claims['aud']}")
    if policy.nonce is not None:
        if claims["nonce"] != policy.nonce:
            raise InvalidError(Code.NONCE_MISMATCH, "KB-JWT nonce is not the expected nonce")
        parts.append("nonce matches")
    # §7.3: the hash binds the KB-JWT to exactly this issuer JWT and these
    # disclosures: none added, removed or reordered after the holder signed.
    if claims["sd_hash"] != _digest(alg, parsed.presented):
        raise InvalidError(
            Code.SD_HASH_MISMATCH, "KB-JWT `sd_hash` does not match the presented SD-JWT"
        )
    replay = "" if parts else " (no audience or nonce required by policy: replayable)"
    return ", ".join([f"{kb.alg} KB-JWT by the cnf key", *parts, "sd_hash matches"]) + replay


def check_key_binding(
    parsed: ParsedSdJwt,
    processed: ProcessedSdJwt,
    *,
    clock: Clock,
    policy: VerificationPolicy = _DEFAULT_POLICY,
) -> str:
    """§7.3: when the credential names a holder key (`cnf`) and the policy requires key
    binding, a KB-JWT signed by that key must come with it; so must one, bearer or not,
    when the policy requires key binding and asks for a `nonce` or an audience; any KB-JWT
    present is checked
    (`typ`, signature, `iat` age, `aud`, `nonce`, `sd_hash`). Returns a one-line message;
    raises `key_binding_missing`, `key_binding_invalid`, `key_binding_too_old`,
    `sd_hash_mismatch`, `audience_mismatch` or `nonce_mismatch`."""
    if parsed.key_binding is None:
        if policy.require_key_binding and (policy.nonce is not None or policy.accepted_audiences):
            # The caller asked for freshness or an audience and did not waive key binding:
            # only a KB-JWT carries them, so a bearer token cannot meet the request (it
            # would pass as if bound, replayable by whoever saw it).
            raise InvalidError(
                Code.KEY_BINDING_MISSING,
                "a nonce/audience binding is required, and only a KB-JWT carries one: none "
                "was presented",
            )
        if "cnf" not in parsed.payload:
            return "no `cnf`: a bearer credential, not bound to a holder key"
        if policy.require_key_binding:
            raise InvalidError(
                Code.KEY_BINDING_MISSING,
                "the credential is bound to a holder key (`cnf`) and no KB-JWT was presented",
            )
        return "key binding not required by policy (the presentation is replayable)"
    if "cnf" not in parsed.payload:
        raise InvalidError(
            Code.KEY_BINDING_INVALID, "a KB-JWT was presented but the credential has no `cnf`"
        )
    return _verify_kb_jwt(parsed, parsed.key_binding, processed.digest_alg, clock.now(), policy)


def key_binding_holder(parsed: ParsedSdJwt) -> str | None:
    """Who presents an SD-JWT whose KB-JWT verified with `cnf.jwk`: whoever holds that key,
    named by its RFC 9278 JWK thumbprint URI; None for a bare SD-JWT."""
    if parsed.key_binding is None:
        return None
    return JWK_THUMBPRINT_URI_PREFIX + jwk_thumbprint(parsed.payload["cnf"]["jwk"])


def verify_sd_jwt(
    token: str | bytes,
    *,
    issuer_key: PublicKey,
    clock: Clock,
    policy: VerificationPolicy = _DEFAULT_POLICY,
    max_disclosures: int = MAX_DISCLOSURES,
) -> VerificationResult:
    """Verify a generic SD-JWT (or SD-JWT+KB) signed by `issuer_key` (RFC 9901 §7.1, §7.3).

    Steps: parse, signature (issuer JWT, then `_sd_alg` and every disclosure digest), time
    (`nbf`, `iat`, `exp` when present), holder binding. Never raises for bad input; the
    processed claims are `result.credential`. For SD-JWT VCs use
    `ancre.trust.sd_jwt.vc.verify_sd_jwt_vc`, which also resolves the issuer key and checks
    the credential's data model, schema, status and trust."""
    run = Run()
    step = Step.PARSE
    try:
        parsed = parse_sd_jwt(token, policy, max_disclosures=max_disclosures)
        run.header = parsed.header
        run.fmt = "sd-jwt"
        run.ok(step, f"SD-JWT with {len(parsed.disclosures)} disclosure(s)")

        step = Step.SIGNATURE
        parsed.jws.verify_with(issuer_key)
        processed = process_disclosures(parsed, policy)
        run.document = processed.claims
        iss = processed.claims.get("iss")
        run.issuer = iss if isinstance(iss, str) else None
        run.ok(step, _signature_message(parsed, processed))

        step = Step.TIME
        run.ok(step, _check_time(parsed.payload, clock.now(), policy))

        step = Step.HOLDER_BINDING
        run.ok(step, check_key_binding(parsed, processed, clock=clock, policy=policy))
    except AncreError as error:
        return run.fail(step, error)
    return run.result(Status.VALID)


def _signature_message(parsed: ParsedSdJwt, processed: ProcessedSdJwt) -> str:
    return (
        f"{parsed.jws.alg} signature verifies; {processed.disclosed} disclosure(s) match "
        f"signed {processed.digest_alg} digests"
    )


def _check_time(payload: Mapping[str, Any], now: datetime, policy: VerificationPolicy) -> str:
    iat = numeric_date(payload, "iat")
    message = check_window(
        now=now,
        skew=policy.clock_skew,
        not_before=[("nbf", numeric_date(payload, "nbf")), ("iat", iat)],
        not_after=[("exp", numeric_date(payload, "exp"))],
    )
    too_old: timedelta | None = policy.max_credential_age
    issued = numeric_date(payload, "nbf") or iat
    if too_old is not None and issued is not None and now - issued > too_old:
        raise InvalidError(
            Code.CREDENTIAL_TOO_OLD, f"issued {iso(issued)}, older than the policy's {too_old}"
        )
    return message
