"""VCDM 2.0 credentials and presentations secured with SD-JWT (W3C VC-JOSE-COSE §3.2).

`vc+sd-jwt` / `vp+sd-jwt`: the SD-JWT payload *is* the VCDM 2.0 document (with `_sd`
digests where members are selectively disclosable, RFC 9901), not the registered JWT claims
of an SD-JWT VC (`dc+sd-jwt`, `ancre.trust.sd_jwt.vc`). The two share the `vc+sd-jwt` media
type in the wild (drafts of the IETF SD-JWT VC before -06); the payload tells them apart: a
`@context` and no `vct` is a VCDM document.

Verification is `VcSdJwtAdapter` / `VpSdJwtAdapter` run by the engine in its one order of
steps: the signature step checks the issuer JWT and every disclosure digest, the data-model
step the *disclosed* document against VCDM 2.0 (what is withheld is not judged), the
holder-binding step the Key Binding JWT when one comes (`cnf`), or for a presentation its
`aud`/`nonce` claims. The issuer (`issuer`) and, for a presentation, the holder (`holder` or
`iss`) must be in the clear: the key that verifies the signature is resolved from them before
anything is disclosed.

Issuance: `issue_vc_sd_jwt` and `issue_vp_sd_jwt` (RFC 9901 §4 through
`ancre.trust.sd_jwt.issue`).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from ancre.trust.clock import Clock
from ancre.trust.did.document import DidResolver, did_of
from ancre.trust.engine import (
    CredentialAdapter,
    PresentationAdapter,
    VerifyContext,
    run_steps,
)
from ancre.trust.errors import Code, ConfigurationError, InvalidError
from ancre.trust.keys.jwk import PublicKey, Signer
from ancre.trust.policy import VerificationPolicy
from ancre.trust.result import VerificationResult
from ancre.trust.sd_jwt.disclosure import DEFAULT_DIGEST_ALG, MAX_DISCLOSURES, SaltSource
from ancre.trust.sd_jwt.issue import SdJwt, issue_sd_jwt
from ancre.trust.sd_jwt.verify import (
    ParsedSdJwt,
    ProcessedSdJwt,
    _signature_message,
    check_key_binding,
    key_binding_holder,
    parse_sd_jwt,
    process_disclosures,
)
from ancre.trust.steps import (
    KeySource,
    Run,
    StatusChecker,
    TrustChecker,
    check_format_accepted,
    key_source_description,
    media_type,
    numeric_date,
    resolve_key,
    vcdm_schema_message,
)
from ancre.trust.vcdm.model import (
    VCDM2_CONTEXT,
    check_credential,
    check_presentation,
    issuer_id,
    types_of,
)
from ancre.trust.vcdm.secured import (
    check_credential_time,
    check_iss_is_issuer,
    check_presentation_binding,
    check_vcdm2_credential,
    presentation_entries,
    presentation_holder,
    stamp,
    time_window,
)

__all__ = [
    "FORMAT_VC_SD_JWT",
    "FORMAT_VP_SD_JWT",
    "VC_SD_JWT_TYPS",
    "VP_SD_JWT_TYPS",
    "VcSdJwtAdapter",
    "VpSdJwtAdapter",
    "is_vcdm_payload",
    "issue_vc_sd_jwt",
    "issue_vp_sd_jwt",
    "verify_vc_sd_jwt",
    "verify_vp_sd_jwt",
]

FORMAT_VC_SD_JWT: Final = "vc+sd-jwt"
FORMAT_VP_SD_JWT: Final = "vp+sd-jwt"
#: §3.2.1: `typ` SHOULD be `vc+sd-jwt`; the spec's own examples also use the earlier
#: `vc+ld+json+sd-jwt`.
VC_SD_JWT_TYPS: Final = frozenset({"vc+sd-jwt", "vc+ld+json+sd-jwt"})
VP_SD_JWT_TYPS: Final = frozenset({"vp+sd-jwt", "vp+ld+json+sd-jwt"})
#: `cty`, when present, SHOULD be `vc` (`vp`); a more specific `vc+…` type is allowed.
_VC_CTYS: Final = frozenset({"vc", "vc+ld+json", "vc+ld"})
_VP_CTYS: Final = frozenset({"vp", "vp+ld+json", "vp+ld"})
#: Registered JWT claims an SD-JWT payload carries beside the VCDM document: read by the
#: time and binding checks, never judged as VCDM properties.
_JWT_CLAIMS: Final = frozenset({"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "cnf", "nonce"})
_DEFAULT_POLICY: Final = VerificationPolicy()
#: Top-level members a verifier refuses to read from a disclosure.
_NEVER_DISCLOSABLE: Final = frozenset(
    {"iss", "nbf", "exp", "iat", "cnf", "issuer", "validFrom", "validUntil", "credentialStatus"}
)


def is_vcdm_payload(payload: Mapping[str, Any]) -> bool:
    """Whether an SD-JWT payload is a VCDM document (`@context`, no `vct`) rather than the
    claims of an SD-JWT VC."""
    return "@context" in payload and "vct" not in payload


def _check_header(header: Mapping[str, Any], *, presentation: bool) -> str:
    typs, ctys = (VP_SD_JWT_TYPS, _VP_CTYS) if presentation else (VC_SD_JWT_TYPS, _VC_CTYS)
    kind = "presentation" if presentation else "credential"
    typ, cty = media_type(header.get("typ")), media_type(header.get("cty"))
    if typ not in typs:
        raise InvalidError(
            Code.UNSUPPORTED_TYP,
            f"`typ` {header.get('typ')!r} is not a VCDM {kind} secured with SD-JWT "
            f"({sorted(typs)[0]})",
        )
    if cty is not None and cty not in ctys:
        raise InvalidError(Code.INVALID_HEADER, f"`cty` {header['cty']!r} does not fit `typ` {typ}")
    return typ


def _document(claims: Mapping[str, Any]) -> dict[str, Any]:
    """The VCDM document of the processed claims: the registered JWT claims aside."""
    return {k: v for k, v in claims.items() if k not in _JWT_CLAIMS}


class _SdJwtParts:
    """Parse and signature, shared by the credential and presentation adapters."""

    data: Any
    ctx: VerifyContext
    run: Run
    key: PublicKey
    parsed: ParsedSdJwt
    processed: ProcessedSdJwt
    document: dict[str, Any]
    max_disclosures: int = MAX_DISCLOSURES

    def parse(self) -> str:
        parsed = self.parsed = parse_sd_jwt(
            self.data, self.ctx.policy, max_disclosures=self.max_disclosures
        )
        self.run.header = parsed.header
        return f"SD-JWT with {len(parsed.disclosures)} disclosure(s) and strict JSON"

    def check_format(self, fmt: str, *, presentation: bool) -> str:
        """The format step: `typ`/`cty`, a VCDM payload (a credential's without `vc`/`vp`
        claims), and the policy accepts `fmt`."""
        payload = self.parsed.payload
        typ = _check_header(self.parsed.header, presentation=presentation)
        if not is_vcdm_payload(payload):
            raise InvalidError(
                Code.UNSUPPORTED_TYP, f"a {typ} payload must be a VCDM document (`@context`)"
            )
        if not presentation and ("vc" in payload or "vp" in payload):
            raise InvalidError(
                Code.INVALID_PROPERTY, f"a {typ} payload must not carry a `vc` or `vp` claim"
            )
        self.run.fmt = fmt
        check_format_accepted(fmt, self.ctx.policy)
        return f"{fmt} (typ {typ})"

    def signature(self) -> str:
        self.parsed.jws.verify_with(self.key)
        processed = self.processed = process_disclosures(self.parsed, self.ctx.policy)
        # What validation reads must be signed in the clear: a disclosable expiry, status or
        # holder key is one the holder could leave out (VC-JOSE-COSE §3.2.1, SD-JWT VC
        # §3.2.2.2). A withheld one cannot be seen; a disclosed one proves the issuer made it
        # withholdable, and is refused.
        smuggled = sorted(
            n
            for n in _NEVER_DISCLOSABLE.intersection(processed.claims)
            if n not in self.parsed.payload
        )
        if smuggled:
            raise InvalidError(
                Code.INVALID_PROPERTY, f"{smuggled} must not be selectively disclosable"
            )
        self.document = _document(processed.claims)
        self.run.document = self.document
        return _signature_message(self.parsed, processed)

    def key_binding(self) -> str | None:
        """The KB-JWT's check when one came (the presenter holds the `cnf` key), else None."""
        ctx, parsed = self.ctx, self.parsed
        if parsed.key_binding is None and "cnf" not in parsed.payload:
            return None
        message = check_key_binding(parsed, self.processed, clock=ctx.clock, policy=ctx.policy)
        if parsed.key_binding is not None:
            self.run.holder = key_binding_holder(parsed)
        return message


class VcSdJwtAdapter(_SdJwtParts, CredentialAdapter):
    """`vc+sd-jwt`: a VCDM 2.0 credential secured with SD-JWT, for the engine."""

    __slots__ = ("document", "max_disclosures", "parsed", "processed")

    def __init__(
        self, data: Any, ctx: VerifyContext, *, max_disclosures: int = MAX_DISCLOSURES
    ) -> None:
        super().__init__(data, ctx)
        self.max_disclosures = max_disclosures

    def format(self) -> str:
        return self.check_format(FORMAT_VC_SD_JWT, presentation=False)

    def issuer_key(self) -> str:
        payload, header = self.parsed.payload, self.parsed.header
        if "issuer" not in payload:
            raise InvalidError(
                Code.INVALID_ISSUER,
                "`issuer` must be in the clear: the key that verifies the signature is the "
                "issuer's",
            )
        issuer = self.run.issuer = issuer_id(payload)
        check_iss_is_issuer(header, payload, issuer)
        self.key = resolve_key(header, issuer, self.ctx.keys)
        return key_source_description(header, issuer, "assertionMethod")

    def data_model(self) -> str:
        tolerated = check_vcdm2_credential(
            self.document, self.run, self.ctx.policy, FORMAT_VC_SD_JWT
        )
        return "; ".join(("the disclosed credential meets the VCDM 2.0 data model", *tolerated))

    def check_time(self) -> str:
        return check_credential_time(self.processed.claims, self.ctx.clock.now(), self.ctx.policy)

    def check_schema(self) -> str:
        return vcdm_schema_message(self.document)

    def status_entry(self) -> tuple[bool, str]:
        return "credentialStatus" in self.document, "credentialStatus"

    def issued_at(self) -> datetime | None:
        claims = self.processed.claims
        return (
            stamp(claims, "validFrom") or numeric_date(claims, "nbf") or numeric_date(claims, "iat")
        )

    def signed_at(self) -> datetime | None:
        return numeric_date(self.processed.claims, "iat") or self.issued_at()

    def holder_binding(self) -> str:
        message = self.key_binding()
        if message is None:
            return "no `cnf`: a bearer credential, not bound to a holder key"
        return message


def verify_vc_sd_jwt(
    token: str | bytes,
    *,
    resolver: DidResolver | KeySource,
    clock: Clock,
    policy: VerificationPolicy = _DEFAULT_POLICY,
    status: StatusChecker | None = None,
    trust: TrustChecker | None = None,
) -> VerificationResult:
    """Verify a `vc+sd-jwt` (every step of the engine, in its order); never raises for bad
    input. `result.credential` is the disclosed VCDM document."""
    return run_steps(VcSdJwtAdapter(token, VerifyContext(resolver, clock, policy, status, trust)))


class VpSdJwtAdapter(_SdJwtParts, PresentationAdapter):
    """`vp+sd-jwt`: a VCDM 2.0 presentation secured with SD-JWT by its holder, whose
    `verifiableCredential` entries are enveloped credentials, each verified in full."""

    __slots__ = ("document", "parsed", "processed")
    within = "jose"

    def format(self) -> str:
        return self.check_format(FORMAT_VP_SD_JWT, presentation=True)

    def issuer_key(self) -> str:
        payload, header = self.parsed.payload, self.parsed.header
        named = self.named_holder = "holder" in payload or "iss" in payload
        holder = self.run.holder = presentation_holder(
            payload.get("holder", payload.get("iss")),
            named=named,
            header=header,
            unnamed=" (no `holder`, no `iss`)",
        )
        iss = payload.get("iss")
        if iss is not None and iss != holder:
            raise InvalidError(Code.HOLDER_MISMATCH, f"`iss` {iss} is not the holder {holder}")
        self.key = resolve_key(header, holder, self.ctx.keys, authentication=True)
        return key_source_description(header, holder, "authentication key")

    def data_model(self) -> str:
        check_presentation(self.document)
        self.run.types = types_of(self.document)
        return "the disclosed presentation meets the VCDM 2.0 data model"

    def signed_at(self) -> datetime | None:
        claims = self.processed.claims
        return numeric_date(claims, "iat") or numeric_date(claims, "nbf")

    def check_time(self) -> str:
        return time_window(self.processed.claims, self.ctx.clock.now(), self.ctx.policy)[0]

    def holder_binding(self) -> str:
        holder = self.run.holder
        message = self.key_binding()
        if message is None:
            message = check_presentation_binding(self.processed.claims, self.ctx.policy)
        self.run.holder = holder  # the signer, not the `cnf` key, is who presents
        return self.holder_named(message)

    def entries(self) -> list[Any]:
        return presentation_entries(self.document)


def verify_vp_sd_jwt(
    token: str | bytes,
    *,
    resolver: DidResolver | KeySource,
    clock: Clock,
    policy: VerificationPolicy = _DEFAULT_POLICY,
    status: StatusChecker | None = None,
    trust: TrustChecker | None = None,
) -> VerificationResult:
    """Verify a `vp+sd-jwt` and every credential it carries; never raises for bad input."""
    return run_steps(VpSdJwtAdapter(token, VerifyContext(resolver, clock, policy, status, trust)))


# ------------------------------------------------------------------------------------------
# issuance


def _header(typ: str, cty: str, kid: str | None, controller: str) -> dict[str, Any]:
    header: dict[str, Any] = {"typ": typ, "cty": cty}
    if kid is not None:
        if controller.startswith("did:") and did_of(kid) != controller:
            raise ConfigurationError(f"kid {kid} is not a key of {controller}")
        header["kid"] = kid
    return header


def issue_vc_sd_jwt(
    credential: Mapping[str, Any],
    signer: Signer,
    *,
    kid: str | None,
    disclosable: Iterable[str],
    holder_jwk: Mapping[str, Any] | PublicKey | None = None,
    issued_at: datetime | None = None,
    decoys: int = 0,
    digest_alg: str = DEFAULT_DIGEST_ALG,
    salt_source: SaltSource = secrets,
) -> SdJwt:
    """Secure a VCDM 2.0 credential as a `vc+sd-jwt` (VC-JOSE-COSE §3.2.1).

    `disclosable` are JSON Pointers into the credential (`/credentialSubject/name`, `*` for
    every member); `@context`, `type`, `issuer`, `credentialStatus`, `credentialSchema` and
    the validity dates stay in the clear (§3.2.1: what validation needs SHOULD be disclosed;
    ancre makes it a rule). `holder_jwk` binds the credential to a holder key (`cnf`)."""
    document = dict(credential)
    check_credential(document)
    if document["@context"][0] != VCDM2_CONTEXT:
        raise ConfigurationError("ancre secures VCDM 2.0 credentials only")
    if _JWT_CLAIMS.intersection(document) - {"iss"}:
        raise ConfigurationError(
            f"registered JWT claims {sorted(_JWT_CLAIMS.intersection(document))} are set by "
            "the parameters, not in the credential"
        )
    issuer = issuer_id(document)
    payload: dict[str, Any] = {**document, "iss": issuer}
    if issued_at is not None:
        if issued_at.tzinfo is None:
            raise ConfigurationError("`issued_at` must be an aware datetime")
        payload["iat"] = int(issued_at.timestamp())
    if holder_jwk is not None:
        public = holder_jwk if isinstance(holder_jwk, PublicKey) else PublicKey.from_jwk(holder_jwk)
        payload["cnf"] = {"jwk": public.to_jwk()}
    return issue_sd_jwt(
        payload,
        signer,
        disclosable=disclosable,
        header=_header("vc+sd-jwt", "vc", kid, issuer),
        decoys=decoys,
        digest_alg=digest_alg,
        salt_source=salt_source,
        plain_claims=_CLEAR_CREDENTIAL,
    )


#: Never selectively disclosable in what ancre issues.
_CLEAR_CREDENTIAL: Final = frozenset(
    {
        "@context",
        "type",
        "issuer",
        "credentialStatus",
        "credentialSchema",
        "relatedResource",
        "validFrom",
        "validUntil",
        *_JWT_CLAIMS,
    }
)


def issue_vp_sd_jwt(
    credentials: Sequence[Mapping[str, Any]],
    signer: Signer,
    *,
    holder: str,
    kid: str | None,
    audience: str,
    nonce: str,
    clock: Clock,
    disclosable: Iterable[str] = (),
    lifetime: timedelta = timedelta(minutes=5),
) -> SdJwt:
    """A `vp+sd-jwt` (VC-JOSE-COSE §3.2.2) presenting `credentials` (enveloped credentials:
    `EnvelopedVerifiableCredential` objects), bound to `audience` and `nonce` by its claims."""
    now = clock.now()
    payload: dict[str, Any] = {
        "@context": [VCDM2_CONTEXT],
        "type": ["VerifiablePresentation"],
        "holder": holder,
        "verifiableCredential": [dict(c) for c in credentials],
        "iss": holder,
        "aud": audience,
        "nonce": nonce,
        "iat": int(now.timestamp()),
        "exp": int((now + lifetime).timestamp()),
    }
    check_presentation(_document(payload))
    return issue_sd_jwt(
        payload,
        signer,
        disclosable=disclosable,
        header=_header("vp+sd-jwt", "vp", kid, holder),
        plain_claims=frozenset({"@context", "type", "holder", *_JWT_CLAIMS}),
    )
