"""W3C VC-JOSE-COSE: credentials and presentations secured as compact JWS.

- `vc+jwt` (`cty: vc`): the JWS payload *is* the VCDM 2.0 credential (§3.1.1); Gaia-X Loire
  also emits `vc+ld+json+jwt` and `vc+ld+jwt`, accepted on input.
- `vp+jwt`: a presentation whose `verifiableCredential` entries are
  `EnvelopedVerifiableCredential`s (`id: data:application/vc+jwt,<jws>`), bound to a verifier
  by `aud` and `nonce`.
- Legacy VCDM 1.1 JWTs (`vc` claim, RFC 7519 registered claims) are verified when the policy
  allows them (what didkit and many wallets emit).

Verification runs through the engine (`ancre.trust.engine`): `VcJwtAdapter` and
`VpJwtAdapter` answer its steps, which it runs in its one order; the first failure ends the
run; its error's outcome decides between `invalid` and `indeterminate`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from ancre.trust.clock import Clock
from ancre.trust.codec.json import dumps_compact
from ancre.trust.did.document import DidResolver, did_of
from ancre.trust.engine import (
    CredentialAdapter,
    PreParsedJws,
    PresentationAdapter,
    VerifyContext,
    run_steps,
    verify_entry,
)
from ancre.trust.errors import (
    Code,
    ConfigurationError,
    IndeterminateError,
    InvalidError,
    MalformedError,
)
from ancre.trust.jose.jws import ParsedJws, sign_compact
from ancre.trust.keys.jwk import PublicKey, Signer
from ancre.trust.policy import VerificationPolicy
from ancre.trust.result import VerificationResult
from ancre.trust.steps import (
    KeySource,
    PinnedKeys,
    Run,
    StatusChecker,
    TrustChecker,
    check_format_accepted,
    check_window,
    iso,
    key_source_description,
    media_type,
    numeric_date,
    parse_jws,
    resolve_key,
    vcdm_schema_message,
)
from ancre.trust.vcdm.model import (
    VCDM2_CONTEXT,
    check_credential,
    check_presentation,
    issuer_id,
    parse_datetime_stamp,
    types_of,
)
from ancre.trust.vcdm.secured import (
    check_iss_is_issuer,
    check_presentation_binding,
    presentation_entries,
    presentation_holder,
    record_types_and_subject,
)

__all__ = [
    "FORMAT_VC_JOSE",
    "FORMAT_VC_JWT_11",
    "FORMAT_VP_JOSE",
    "KeySource",
    "PinnedKeys",
    "StatusChecker",
    "TrustChecker",
    "VcJwtAdapter",
    "VpJwtAdapter",
    "envelope_credential",
    "issue_vc_jwt",
    "issue_vp_jwt",
    "unenvelope",
    "verify_presented_entry",
    "verify_vc_jwt",
    "verify_vp_jwt",
]

FORMAT_VC_JOSE: Final = "vc+jwt"
FORMAT_VC_JWT_11: Final = "jwt_vc (VCDM 1.1)"
FORMAT_VP_JOSE: Final = "vp+jwt"
FORMAT_VP_JWT_11: Final = "jwt_vp (VCDM 1.1)"

VC_TYPS: Final = frozenset({"vc+jwt", "vc+ld+json+jwt", "vc+ld+jwt"})
VC_CTYS: Final = frozenset({"vc", "vc+ld+json", "vc+ld"})
VP_TYPS: Final = frozenset({"vp+jwt", "vp+ld+json+jwt", "vp+ld+jwt"})
VP_CTYS: Final = frozenset({"vp", "vp+ld+json", "vp+ld"})
_LEGACY_TYPS: Final = frozenset({"jwt", None})
#: `application/jwt`: a VCDM 1.1 JWT credential (`vc` claim), read like a bare one.
_ENVELOPE: Final = re.compile(
    r"data:application/(vc\+jwt|vc\+ld\+json\+jwt|vc\+ld\+jwt|jwt|dc\+sd-jwt|vc\+sd-jwt)[,;](.*)",
    re.S,
)
_OTHER_ENVELOPE: Final = re.compile(r"data:application/[a-z0-9.+-]+[,;].+", re.S)
_DEFAULT_POLICY: Final = VerificationPolicy()
# ------------------------------------------------------------------------------------------
# credentials


def _classify(
    header: Mapping[str, Any], payload: dict[str, Any], *, presentation: bool
) -> tuple[str, dict[str, Any]]:
    """Which format a JWS holds, from `typ`/`cty` (RFC 7515 §4.1.9–10) and, without `typ`, the
    payload: VC-JOSE (`vc+jwt`/`vp+jwt` and Gaia-X spellings) or a VCDM 1.1 JWT (`vc`/`vp`
    claim). Raises for anything else."""
    typs, ctys, other = (VP_TYPS, VP_CTYS, VC_TYPS) if presentation else (VC_TYPS, VC_CTYS, VP_TYPS)
    kind = "presentation" if presentation else "credential"
    typ, cty = media_type(header.get("typ")), media_type(header.get("cty"))
    jose_format = FORMAT_VP_JOSE if presentation else FORMAT_VC_JOSE
    no_jwt_claims = "vc" not in payload and "vp" not in payload
    if typ in typs:
        if cty is not None and cty not in ctys:
            raise InvalidError(
                Code.INVALID_HEADER, f"`cty` {header['cty']!r} does not fit `typ` {typ}"
            )
        # VC-JOSE-COSE §3.1.1: the payload is the document; `vc`/`vp` claims must not appear.
        if not no_jwt_claims:
            raise InvalidError(
                Code.INVALID_PROPERTY, f"a {typ} payload must not carry a `vc` or `vp` claim"
            )
        return jose_format, payload
    if typ in other:
        raise InvalidError(Code.UNSUPPORTED_TYP, f"`typ` {typ} is not a {kind}")
    if typ is None and _is_vcdm2(payload) and no_jwt_claims:
        # VC-JOSE-COSE §3.1.1 says `typ` SHOULD be set: without it, the payload decides.
        return jose_format, payload
    claim = "vp" if presentation else "vc"
    if typ in _LEGACY_TYPS and isinstance(payload.get(claim), dict):
        return (FORMAT_VP_JWT_11 if presentation else FORMAT_VC_JWT_11), _from_jwt_claims(
            payload, claim
        )
    raise InvalidError(Code.UNSUPPORTED_TYP, f"`typ` {header.get('typ')!r} is not a {kind} type")


def _is_vcdm2(payload: Mapping[str, Any]) -> bool:
    ctx = payload.get("@context")
    return isinstance(ctx, list) and bool(ctx) and ctx[0] == VCDM2_CONTEXT


def _from_jwt_claims(payload: Mapping[str, Any], claim: str) -> dict[str, Any]:
    """VC-JWT 1.1 §6.3.1: registered claims stand for credential properties."""
    document = dict(payload[claim])
    iss = payload.get("iss")
    if claim == "vc":
        if iss is not None:
            if "issuer" in document and issuer_id(document) != iss:
                raise InvalidError(Code.ISSUER_MISMATCH, "`iss` and `vc.issuer` differ")
            document.setdefault("issuer", iss)
        for jwt_name, vc_name in (("nbf", "issuanceDate"), ("exp", "expirationDate")):
            moment = numeric_date(payload, jwt_name)
            if moment is not None:
                document.setdefault(vc_name, iso(moment.replace(microsecond=0)))
        if isinstance(payload.get("sub"), str):
            subject = document.get("credentialSubject")
            if isinstance(subject, dict):
                document["credentialSubject"] = {**subject, "id": subject.get("id", payload["sub"])}
    elif iss is not None:
        document.setdefault("holder", iss)
    if isinstance(payload.get("jti"), str):
        document.setdefault("id", payload["jti"])
    return document


class _JoseAdapter:
    """Parse and signature, shared by `vc+jwt` and `vp+jwt` (a mixin of the adapters)."""

    data: Any
    ctx: VerifyContext
    run: Run
    jws: ParsedJws
    payload: dict[str, Any]
    key: PublicKey

    def parse(self) -> str:
        data = self.data
        if type(data) is PreParsedJws:  # parsed once already, by `detect_format`
            self.jws, self.payload = data
        else:
            self.jws, self.payload = parse_jws(data, self.ctx.policy)
        self.run.header = self.jws.header
        return "compact JWS with canonical base64url and strict JSON"

    def signature(self) -> str:
        self.jws.verify_with(self.key)
        return f"{self.jws.alg} signature verifies"


class VcJwtAdapter(_JoseAdapter, CredentialAdapter):
    """`vc+jwt` (and Gaia-X spellings) and VCDM 1.1 `vc` JWTs, for the engine."""

    __slots__ = ("credential", "jws", "payload")

    def format(self) -> str:
        run, policy, header = self.run, self.ctx.policy, self.jws.header
        run.fmt, credential = _classify(header, self.payload, presentation=False)
        check_format_accepted(run.fmt, policy)
        if run.fmt == FORMAT_VC_JWT_11 and not policy.accept_vcdm11:
            raise InvalidError(Code.POLICY_VIOLATION, "VCDM 1.1 JWT credentials are not accepted")
        self.credential = run.document = credential
        record_types_and_subject(run, credential)
        return f"{run.fmt} (typ {header.get('typ', 'absent')})"

    def issuer_key(self) -> str:
        header = self.jws.header
        issuer = self.run.issuer = issuer_id(self.credential)
        check_iss_is_issuer(header, self.payload, issuer)
        self.key = resolve_key(header, issuer, self.ctx.keys)
        return key_source_description(header, issuer, "assertionMethod")

    def data_model(self) -> str:
        tolerated = check_credential(
            self.credential, allow_untyped_evidence=self.ctx.policy.accept_untyped_evidence
        )
        version = "1.1" if self.run.fmt == FORMAT_VC_JWT_11 else "2.0"
        return "; ".join((f"meets the VCDM {version} data model", *tolerated))

    def check_time(self) -> str:
        return _check_credential_time(
            self.credential, self.payload, self.jws.header, self.ctx.clock.now(), self.ctx.policy
        )

    def check_schema(self) -> str:
        return vcdm_schema_message(self.credential)

    def status_entry(self) -> tuple[bool, str]:
        return "credentialStatus" in self.credential, "credentialStatus"

    def issued_at(self) -> datetime | None:
        return _issued_at(self.credential, self.payload)

    def signed_at(self) -> datetime | None:
        # RFC 7519 §4.1.6: `iat` is when the JWT was issued, i.e. signed; `validFrom` may
        # lie before that (a diploma valid from graduation day).
        return numeric_date(self.payload, "iat") or self.issued_at()


def verify_vc_jwt(
    token: str | bytes,
    *,
    resolver: DidResolver | KeySource,
    clock: Clock,
    policy: VerificationPolicy = _DEFAULT_POLICY,
    status: StatusChecker | None = None,
    trust: TrustChecker | None = None,
) -> VerificationResult:
    """Verify a credential secured as a compact JWS (every step of the engine, in its
    order). Never raises for bad input: every problem is a failed check with a stable code
    in the returned result."""
    context = VerifyContext(resolver, clock, policy, status, trust)
    return run_steps(VcJwtAdapter(token, context))


def _issued_at(credential: Mapping[str, Any], payload: Mapping[str, Any]) -> datetime | None:
    """When the credential took effect: validFrom / issuanceDate, else the JWT's nbf / iat."""
    for name in ("validFrom", "issuanceDate"):
        if name in credential:
            return parse_datetime_stamp(credential[name], name, zone_required=name == "validFrom")
    return numeric_date(payload, "nbf") or numeric_date(payload, "iat")


def _check_credential_time(
    credential: Mapping[str, Any],
    payload: Mapping[str, Any],
    header: Mapping[str, Any],
    now: datetime,
    policy: VerificationPolicy,
) -> str:
    def stamp(name: str) -> datetime | None:
        return parse_datetime_stamp(credential[name], name) if name in credential else None

    valid_from = stamp("validFrom") or stamp("issuanceDate")
    iat = numeric_date(payload, "iat")
    message = check_window(
        now=now,
        skew=policy.clock_skew,
        not_before=[
            ("validFrom", stamp("validFrom")),
            ("issuanceDate", stamp("issuanceDate")),
            ("nbf", numeric_date(payload, "nbf")),
            ("iat", iat),
        ],
        not_after=[
            ("validUntil", stamp("validUntil")),
            ("expirationDate", stamp("expirationDate")),
            ("exp", numeric_date(payload, "exp")),
            ("exp (header)", numeric_date(header, "exp", millis=True)),
        ],
    )
    issued = valid_from or iat
    too_old = policy.max_credential_age
    if too_old is not None and issued is not None and now - issued > too_old:
        raise InvalidError(
            Code.CREDENTIAL_TOO_OLD, f"issued {iso(issued)}, older than the policy's {too_old}"
        )
    return message


def issue_vc_jwt(
    credential: Mapping[str, Any],
    signer: Signer,
    kid: str,
    *,
    x5c: Sequence[str] | None = None,
) -> str:
    """Sign a VCDM 2.0 credential as `vc+jwt` after checking it against the data model.

    `kid` must be a DID URL of the credential's issuer naming `signer`'s key. `x5c` (base64
    DER certificates, leaf first, RFC 7515 §4.1.6) also names the key by an X.509 chain
    whose leaf certifies it: a verifier with a DID resolver uses `kid`, one anchored at the
    chain's root (`ancre.trust.x509.chain.X5cKeySource`) uses `x5c`."""
    document = dict(credential)
    check_credential(document)
    if document["@context"][0] != VCDM2_CONTEXT:
        raise ConfigurationError("ancre issues VCDM 2.0 credentials only")
    issuer = issuer_id(document)
    if did_of(kid) != issuer:
        raise ConfigurationError(f"kid {kid} is not a key of the issuer {issuer}")
    document["iss"] = issuer
    header: dict[str, Any] = {"kid": kid, "typ": "vc+jwt", "cty": "vc", "iss": issuer}
    if x5c:
        header["x5c"] = _x5c_header(x5c)
    return sign_compact(header, dumps_compact(document).encode("utf-8"), signer)


def _x5c_header(x5c: Sequence[str]) -> list[str]:
    """An `x5c` header value: a list of non-empty base64 strings (the chain itself is the
    issuer's to check: `ancre.trust.x509.chain.parse_x5c`)."""
    if isinstance(x5c, str) or not all(isinstance(c, str) and c for c in x5c):
        raise ConfigurationError("`x5c` must be a list of base64 DER certificates")
    return list(x5c)


# ------------------------------------------------------------------------------------------
# enveloping and presentations


def envelope_credential(token: str) -> dict[str, Any]:
    """VCDM 2.0 §4.13.1 EnvelopedVerifiableCredential around a `vc+jwt` (or, for a token
    with disclosures, a `dc+sd-jwt` SD-JWT VC or a `vc+sd-jwt` VCDM credential)."""
    media = "vc+jwt"
    if "~" in token:
        from ancre.trust.engine import Kind, _sd_jwt_kind

        media = "vc+sd-jwt" if _sd_jwt_kind(token) is Kind.VC_SD_JWT else "dc+sd-jwt"
    return {
        "@context": [VCDM2_CONTEXT],
        "id": f"data:application/{media}," + token,
        "type": "EnvelopedVerifiableCredential",
    }


def unenvelope(value: Any) -> str:
    """The compact JWS inside an `EnvelopedVerifiableCredential`."""
    kind = value.get("type") if isinstance(value, dict) else None
    kinds = kind if isinstance(kind, list) else [kind]
    if not isinstance(value, dict) or "EnvelopedVerifiableCredential" not in kinds:
        raise MalformedError(Code.UNSUPPORTED_FORMAT, "not an EnvelopedVerifiableCredential")
    ident = str(value.get("id", ""))
    match = _ENVELOPE.fullmatch(ident)
    if match is None and _OTHER_ENVELOPE.fullmatch(ident):
        # A secured credential in a format ancre does not read (COSE ones are read before
        # this, by `ancre.trust.engine`): nothing is proven about it either way.
        raise IndeterminateError(
            Code.UNSUPPORTED_FORMAT, f"enveloped {ident[5:40].split(',')[0]} is not supported yet"
        )
    if match is None:
        raise MalformedError(
            Code.UNSUPPORTED_FORMAT,
            "EnvelopedVerifiableCredential id must be a data:application/vc+jwt URL",
        )
    return match.group(2)


def issue_vp_jwt(
    credentials: Sequence[str | Mapping[str, Any]],
    signer: Signer,
    *,
    holder: str,
    kid: str,
    audience: str,
    nonce: str,
    clock: Clock,
    lifetime: timedelta = timedelta(minutes=5),
) -> str:
    """Present credentials as a `vp+jwt` bound to `audience` and `nonce`: tokens (`vc+jwt`,
    SD-JWTs) are enveloped here; a mapping is an enveloped credential already (a `vc+cose`
    one, `ancre.trust.cose.vc_cose.envelope_cose`)."""
    if did_of(kid) != holder:
        raise ConfigurationError(f"kid {kid} is not a key of the holder {holder}")
    now = clock.now()
    payload = {
        "@context": [VCDM2_CONTEXT],
        "type": ["VerifiablePresentation"],
        "holder": holder,
        "verifiableCredential": [
            envelope_credential(t) if isinstance(t, str) else dict(t) for t in credentials
        ],
        "iss": holder,
        "aud": audience,
        "nonce": nonce,
        "iat": int(now.timestamp()),
        "exp": int((now + lifetime).timestamp()),
    }
    header = {"kid": kid, "typ": "vp+jwt", "cty": "vp", "iss": holder}
    return sign_compact(header, dumps_compact(payload).encode("utf-8"), signer)


class VpJwtAdapter(_JoseAdapter, PresentationAdapter):
    """`vp+jwt` (and VCDM 1.1 `vp` JWTs) for the engine: the holder signs with an
    `authentication` key; `aud` and `nonce` bind it to the verifier."""

    __slots__ = ("jws", "payload", "presentation")
    within = "jose"

    def format(self) -> str:
        run = self.run
        run.fmt, presentation = _classify(self.jws.header, self.payload, presentation=True)
        check_format_accepted(run.fmt, self.ctx.policy)
        self.presentation = run.document = presentation
        run.types = types_of(presentation)
        return run.fmt

    def issuer_key(self) -> str:
        header, payload = self.jws.header, self.payload
        # VC-JOSE-COSE: `iss` may stand for `holder`; VCDM 2.0 makes both optional.
        named = self.named_holder = "holder" in self.presentation or "iss" in payload
        holder = self.run.holder = presentation_holder(
            self.presentation.get("holder", payload.get("iss")),
            named=named,
            header=header,
            unnamed=" (no `holder`, no `iss`)",
        )
        for value in (header.get("iss"), payload.get("iss")):
            if value is not None and value != holder:
                raise InvalidError(
                    Code.HOLDER_MISMATCH, f"`iss` {value} is not the holder {holder}"
                )
        self.key = resolve_key(header, holder, self.ctx.keys, authentication=True)
        return key_source_description(header, holder, "authentication key")

    def data_model(self) -> str:
        check_presentation(self.presentation, allow_jwt_strings=self.run.fmt == FORMAT_VP_JWT_11)
        return "meets the VCDM presentation data model"

    def signed_at(self) -> datetime | None:
        return numeric_date(self.payload, "iat") or numeric_date(self.payload, "nbf")

    def check_time(self) -> str:
        payload, presentation = self.payload, self.presentation
        return check_window(
            now=self.ctx.clock.now(),
            skew=self.ctx.policy.clock_skew,
            not_before=[
                ("nbf", numeric_date(payload, "nbf")),
                ("iat", numeric_date(payload, "iat")),
            ],
            not_after=[
                ("exp", numeric_date(payload, "exp")),
                (
                    "validUntil",
                    parse_datetime_stamp(presentation["validUntil"], "validUntil")
                    if "validUntil" in presentation
                    else None,
                ),
            ],
        )

    def holder_binding(self) -> str:
        return self.holder_named(check_presentation_binding(self.payload, self.ctx.policy))

    def entries(self) -> list[Any]:
        return presentation_entries(self.presentation)


def verify_vp_jwt(
    token: str | bytes,
    *,
    resolver: DidResolver | KeySource,
    clock: Clock,
    policy: VerificationPolicy = _DEFAULT_POLICY,
    status: StatusChecker | None = None,
    trust: TrustChecker | None = None,
) -> VerificationResult:
    """Verify a `vp+jwt` (or VCDM 1.1 `vp` JWT) and every credential it carries.

    The holder's signature must come from an `authentication` key of the holder's DID
    (`result.holder`: `holder`, else `iss`, else — neither is required — the DID of the
    `kid` that signed it, unless `policy.require_holder`); `aud` and `nonce` must match
    `policy.audience` / `policy.nonce` (recorded as replayable when the policy names none).
    The presentation is valid only if every credential is."""
    context = VerifyContext(resolver, clock, policy, status, trust)
    return run_steps(VpJwtAdapter(token, context))


def verify_presented_entry(
    entry: Any,
    *,
    resolver: DidResolver | KeySource,
    clock: Clock,
    policy: VerificationPolicy,
    status: StatusChecker | None = None,
    trust: TrustChecker | None = None,
) -> VerificationResult:
    """Verify one `verifiableCredential` entry of a `vp+jwt`: an enveloped `vc+jwt` (or a
    bare one, as VCDM 1.1 presentations carry) or an enveloped SD-JWT VC. An entry that
    cannot be read becomes a failed result, never an exception."""
    context = VerifyContext(resolver, clock, policy, status, trust)
    return verify_entry(entry, context, within="jose")
