"""Pipeline machinery shared by the format-specific verifiers (VC-JOSE, SD-JWT VC, Data
Integrity): the result builder, JOSE parsing under a policy, time-window checks and issuer
key resolution. Private: the public surface is each format module's verify_* function."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol, cast, runtime_checkable

from ancre.trust.clock import Clock
from ancre.trust.did.document import DidResolver, RevokedKey, did_of
from ancre.trust.errors import AncreError, Code, IndeterminateError, InvalidError, MalformedError
from ancre.trust.jose.jws import ParsedJws, parse_compact
from ancre.trust.keys.jwk import PublicKey
from ancre.trust.policy import VerificationPolicy
from ancre.trust.result import CheckResult, ProofCheck, Status, Step, VerificationResult

__all__ = [
    "BASE_TYPES",
    "KeySource",
    "PinnedKeys",
    "Run",
    "StatusChecker",
    "TrustChecker",
    "check_format_accepted",
    "check_not_revoked",
    "check_window",
    "credentials_message",
    "credentials_step",
    "iso",
    "key_source_description",
    "media_type",
    "numeric_date",
    "parse_jws",
    "resolve_key",
    "vcdm_schema_message",
    "worst",
]

#: Gaia-X notaries put `iat`/`exp` in the JOSE *header* in milliseconds; a seconds value this
#: large would be after the year 5000.
_MILLIS_THRESHOLD: Final = 100_000_000_000


# ------------------------------------------------------------------------------------------
# helpers


def media_type(value: Any) -> str | None:
    """RFC 7515 §4.1.9: compare case-insensitively, `application/` may be omitted."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedError(Code.INVALID_HEADER, "`typ` and `cty` must be strings")
    low = value.lower()
    return low.removeprefix("application/")


def numeric_date(payload: Mapping[str, Any], name: str, *, millis: bool = False) -> datetime | None:
    if name not in payload:
        return None
    value = payload[name]
    # RFC 7519 §2: NumericDate is a JSON number (fractions allowed; booleans are not numbers).
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidError(Code.INVALID_DATETIME, f"`{name}` must be a NumericDate")
    if millis and value > _MILLIS_THRESHOLD:
        value = value / 1000
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise InvalidError(Code.INVALID_DATETIME, f"`{name}` is out of range") from None


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def check_window(
    *,
    now: datetime,
    skew: timedelta,
    not_before: Sequence[tuple[str, datetime | None]],
    not_after: Sequence[tuple[str, datetime | None]],
) -> str:
    for name, moment in not_before:
        if moment is not None and moment > now + skew:
            raise InvalidError(Code.NOT_YET_VALID, f"not valid before {iso(moment)} (`{name}`)")
    for name, moment in not_after:
        if moment is not None and now >= moment + skew:
            raise InvalidError(Code.EXPIRED, f"expired at {iso(moment)} (`{name}`)")
    return "within its validity period at " + iso(now)


def check_not_revoked(key: RevokedKey, signed_at: datetime | None, what: str) -> str:
    """Part of the TIME step when the signature verified with the key of a verification
    method that carries `revoked` (Controlled Identifiers v1.0 §2.2: "systems depending on
    the value are expected to not verify any proofs associated with the verification method
    at or after the time of revocation"). A proof made strictly before `revoked` keeps
    verifying (what a key rotation retires is the key's future, not its past); one made at
    or after it, or one that does not say when it was made, is refused: `what` (credential,
    presentation) was signed at `signed_at`."""
    revoked = key.revoked
    if signed_at is None:
        raise InvalidError(
            Code.KEY_REVOKED,
            f"{key.method} was revoked at {iso(revoked)} and the {what} does not say when it "
            "was signed, so it cannot be shown to predate the revocation",
        )
    if signed_at >= revoked:
        raise InvalidError(
            Code.KEY_REVOKED,
            f"{key.method} was revoked at {iso(revoked)}; the {what} was signed at "
            f"{iso(signed_at)}, not before",
        )
    return f"signed at {iso(signed_at)}, before {key.method} was revoked at {iso(revoked)}"


class Run:
    """Collects checks; `fail` turns the first error into the final result."""

    __slots__ = (
        "checks",
        "document",
        "fmt",
        "header",
        "holder",
        "issuer",
        "proofs",
        "subject",
        "types",
    )

    def __init__(self) -> None:
        self.checks: list[CheckResult] = []
        self.fmt: str | None = None
        self.header: Mapping[str, Any] | None = None
        self.issuer: str | None = None
        self.holder: str | None = None
        self.subject: str | None = None
        self.types: tuple[str, ...] = ()
        self.document: Mapping[str, Any] | None = None
        self.proofs: tuple[ProofCheck, ...] = ()

    def ok(self, step: Step, message: str) -> None:
        self.checks.append(CheckResult(step, True, None, message))

    def skip(self, step: Step, message: str) -> None:
        self.checks.append(CheckResult(step, True, None, message, skipped=True))

    def result(
        self,
        status: Status,
        nested: tuple[VerificationResult, ...] = (),
        *,
        malformed: bool = False,
    ) -> VerificationResult:
        return VerificationResult(
            status=status,
            checks=tuple(self.checks),
            format=self.fmt,
            issuer=self.issuer,
            types=self.types,
            subject=self.subject,
            credential=self.document,
            header=self.header,
            credentials=nested,
            malformed=malformed,
            holder=self.holder,
            proofs=self.proofs,
        )

    def fail(
        self, step: Step, error: AncreError, nested: tuple[VerificationResult, ...] = ()
    ) -> VerificationResult:
        self.checks.append(CheckResult(step, False, error.code, error.message))
        status = Status.INDETERMINATE if error.outcome == "indeterminate" else Status.INVALID
        malformed = step is Step.PARSE and isinstance(error, MalformedError)
        return self.result(status, nested, malformed=malformed)


def parse_jws(token: str | bytes, policy: VerificationPolicy) -> tuple[ParsedJws, dict[str, Any]]:
    parsed = parse_compact(
        token,
        allowed_algs=policy.algorithms,
        understood_crit=policy.understood_crit,
        max_bytes=policy.max_token_bytes,
        max_depth=policy.max_json_depth,
    )
    payload = parsed.payload_json(max_depth=policy.max_json_depth)
    if not isinstance(payload, dict):
        raise MalformedError(Code.MALFORMED_TOKEN, "JWS payload must be a JSON object")
    return parsed, payload


@runtime_checkable
class KeySource(Protocol):
    """Where issuer/holder keys come from when they are not (only) resolved from a DID: keys
    pinned out of band, or an `x5c` chain validated to trust anchors. It sees the whole JOSE
    header (`kid`, `x5c`…) and the controller (issuer or holder) the key must belong to."""

    def key_for(
        self, controller: str, header: Mapping[str, Any], *, authentication: bool
    ) -> PublicKey: ...


@runtime_checkable
class StatusChecker(Protocol):
    """Checks a credential's revocation/suspension status.

    Given the credential (a VCDM document with `credentialStatus`, or SD-JWT VC claims with
    `status.status_list`), its issuer and the clock, returns a one-line message when the
    status is fine; raises `InvalidError` (`revoked`, `suspended`, `status_list_issuer_mismatch`,
    `status_index_out_of_range`…) when it is proven bad, `IndeterminateError`
    (`status_unavailable`) when it cannot be checked. Never returns for a status it did not
    check."""

    def check(self, credential: Mapping[str, Any], *, issuer: str, clock: Clock) -> str: ...


@runtime_checkable
class TrustChecker(Protocol):
    """Decides whether an issuer was trusted for a credential's types (a `TrustList`, or a
    `TrustListClient` keeping one current). Returns a message, or raises `InvalidError`
    (`issuer_not_trusted`) / `IndeterminateError` (list stale or unavailable)."""

    def check(
        self,
        issuer: str,
        credential_types: Iterable[str],
        *,
        issued_at: datetime,
        now: datetime,
        credential: Mapping[str, Any] | None = None,
    ) -> str: ...


#: Base types every credential/presentation has; trust is decided on the others.
BASE_TYPES: Final = frozenset({"VerifiableCredential", "VerifiablePresentation"})


def vcdm_schema_message(credential: Mapping[str, Any]) -> str:
    """The SCHEMA step for VCDM credentials: each subject against its types' schemas."""
    from ancre.trust.vcdm.credentials import subject_schema_errors

    issues = subject_schema_errors(credential)
    if issues:
        detail = "; ".join(f"{i.credential_type} {i.path}: {i.message}" for i in issues[:3])
        raise InvalidError(Code.SCHEMA_VIOLATION, detail)
    return "credential subjects match their types' schemas"


def credentials_message(nested: Sequence[VerificationResult]) -> str:
    """The CREDENTIALS step of a presentation: valid only if every credential is."""
    overall = worst(r.status for r in nested)
    if overall is not Status.VALID:
        # Name the first credential that decided it, so the reason is not lost one level up.
        index, first = next((i, r) for i, r in enumerate(nested) if r.status is overall)
        reasons = "; ".join(f"{e.code}: {e.message}" for e in first.errors)
        message = (
            f"presented credential {index + 1} of {len(nested)} is {overall.value} ({reasons})"
        )
        if overall is Status.INVALID:
            raise InvalidError(Code.INVALID_PRESENTATION, message)
        raise IndeterminateError(Code.INVALID_PRESENTATION, message)
    return f"{len(nested)} credential(s) valid"


def credentials_step(run: Run, nested: Sequence[VerificationResult]) -> None:
    """`credentials_message`, recorded on `run`."""
    run.ok(Step.CREDENTIALS, credentials_message(nested))


#: Format names as results give them → the policy's format families.
_FORMAT_FAMILIES: Final = {"jwt_vc (VCDM 1.1)": "vc+jwt", "jwt_vp (VCDM 1.1)": "vp+jwt"}


def check_format_accepted(fmt: str | None, policy: VerificationPolicy) -> None:
    """Part of the FORMAT step: the policy's accepted formats, if it lists any."""
    if policy.formats is None or fmt is None:
        return
    family = _FORMAT_FAMILIES.get(fmt, fmt)
    if family not in policy.formats:
        raise InvalidError(
            Code.POLICY_VIOLATION,
            f"{family} is not among the formats the policy accepts ({sorted(policy.formats)})",
        )


class PinnedKeys:
    """Keys known out of band (configuration, a test suite), per controller URL or DID.

    A `kid` matches a key whose JWK `kid` or RFC 7638 thumbprint it equals (for a DID URL,
    its fragment may be given instead); with no `kid`, a controller with exactly one key
    uses it."""

    def __init__(self, keys: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
        self._keys: dict[str, list[tuple[frozenset[str], PublicKey]]] = {}
        for controller, jwks in keys.items():
            entries = []
            for jwk in jwks:
                public = PublicKey.from_jwk(
                    {k: v for k, v in jwk.items() if k not in ("alg", "kid", "use")}
                )
                names = {public.thumbprint()}
                if isinstance(jwk.get("kid"), str):
                    names.add(jwk["kid"])
                entries.append((frozenset(names), public))
            self._keys[controller] = entries

    def key_for(
        self, controller: str, header: Mapping[str, Any], *, authentication: bool
    ) -> PublicKey:
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise MalformedError(Code.INVALID_HEADER, "`kid` must be a string")
        entries = self._keys.get(controller, [])
        if kid is None and len(entries) == 1:
            return entries[0][1]
        # A DID-URL kid (`did:web:x#key-1`) also matches a key pinned as `key-1` or `#key-1`.
        fragment = kid.removeprefix(controller) if kid else kid
        candidates = {kid, fragment, fragment.removeprefix("#") if fragment else fragment}
        for names, key in entries:
            if not names.isdisjoint(candidates):
                return key
        raise InvalidError(
            Code.VERIFICATION_METHOD_NOT_FOUND, f"no pinned key {kid!r} for {controller}"
        )


def resolve_key(
    header: Mapping[str, Any],
    controller: str,
    resolver: DidResolver | KeySource,
    *,
    authentication: bool = False,
) -> PublicKey:
    kid = header.get("kid")
    # Duck-typed on purpose: isinstance() against a runtime-checkable Protocol costs more
    # than a signature check's worth of parsing on this hot path.
    key_for = getattr(resolver, "key_for", None)
    if key_for is not None:
        key: PublicKey = key_for(controller, header, authentication=authentication)
        return key
    if "kid" in header and (not isinstance(kid, str) or not kid):
        raise InvalidError(Code.INVALID_HEADER, "the JWS header's `kid` is not a non-empty string")
    if not controller.startswith("did:"):
        raise IndeterminateError(
            Code.UNSUPPORTED_DID_METHOD, f"{controller} is not a DID; ancre resolves keys from DIDs"
        )
    if not isinstance(kid, str):
        # RFC 7515 §4.1.4: `kid` is optional. The DID's one key for this purpose, or
        # `ambiguous_key` (indeterminate) when it has several.
        doc = cast(DidResolver, resolver).resolve(controller)
        kid = doc.sole_method(authentication=authentication)
    full_kid = controller + kid if kid.startswith("#") else kid
    if did_of(full_kid) != controller:
        raise InvalidError(Code.KID_MISMATCH, f"`kid` {kid} is not a key of {controller}")
    cached = getattr(resolver, "verification_key", None)
    if cached is not None:  # a CompositeResolver: remembers keys of pure DID methods
        return cast(PublicKey, cached(controller, full_kid, authentication=authentication))
    doc = cast(DidResolver, resolver).resolve(controller)
    return doc.authentication_key(full_kid) if authentication else doc.assertion_key(full_kid)


def key_source_description(header: Mapping[str, Any], controller: str, relationship: str) -> str:
    """How the key was found, for the issuer-key check's message."""
    if "x5c" in header:
        return f"x5c chain validates to a trust anchor and its leaf names {controller}"
    if "kid" not in header and controller.startswith("did:"):
        return f"the only {relationship} key of {controller} (the JWS names no `kid`)"
    return f"{header.get('kid', 'the pinned key')} is an {relationship} of {controller}"


def worst(statuses: Iterable[Status]) -> Status:
    seen = set(statuses)
    if Status.INVALID in seen:
        return Status.INVALID
    if Status.INDETERMINATE in seen:
        return Status.INDETERMINATE
    return Status.VALID
