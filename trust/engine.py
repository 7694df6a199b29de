"""The verification engine's core: the one order of the steps, and format detection.

Every format is an adapter (`FormatAdapter`) answering the same twelve operations, one per
`Step`; `run_steps` calls them in the order of the `Step` enum and nowhere else is that order
written, so no format can reorder or skip a step. A step that does not concern a format (the
trust step of a presentation, whose credentials are each judged in the credentials step) is
recorded as passed with a message saying why, never as skipped: "skipped" is reserved for
what a policy turned off.

The shared step logic sits in two bases: `CredentialAdapter` (schema, status, trust, policy
of an issued credential) and `PresentationAdapter` (the enclosed credentials, each verified
in full), and in what they share: the time step refuses a proof made at or after the
`revoked` time of the verification method whose key verified it (`check_not_revoked`), for
credentials and presentations of every format alike. The formats provide the rest next to
their code: `ancre.trust.jose.vc_jose` (`vc+jwt`, `vp+jwt`, VCDM 1.1 JWTs),
`ancre.trust.sd_jwt.vc` (`dc+sd-jwt`), `ancre.trust.sd_jwt.vcdm` (`vc+sd-jwt`, `vp+sd-jwt`),
`ancre.trust.cose.vc_cose` (`vc+cose`, `vp+cose`), `ancre.trust.data_integrity.proofs`
(`ldp_vc`, `ldp_vp`).

`detect_format` is the one place that decides which adapter reads an input, at the top
level (`ancre.verifier.engine.Verifier`) and for a presentation's entries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final, Literal, NamedTuple, Protocol

from ancre.trust.clock import Clock
from ancre.trust.did.document import RevokedKey
from ancre.trust.errors import AncreError, Code, IndeterminateError, InvalidError, MalformedError
from ancre.trust.policy import VerificationPolicy
from ancre.trust.result import Status, Step, VerificationResult
from ancre.trust.steps import (
    BASE_TYPES,
    KeySource,
    Run,
    StatusChecker,
    TrustChecker,
    check_not_revoked,
    credentials_message,
    parse_jws,
)

if TYPE_CHECKING:
    from ancre.trust.did.document import DidResolver
    from ancre.trust.jose.jws import ParsedJws
    from ancre.trust.keys.jwk import PublicKey
    from ancre.trust.vcdm.jsonld import ContextStore

__all__ = [
    "ORDER",
    "CredentialAdapter",
    "Detected",
    "FormatAdapter",
    "Kind",
    "PreParsedJws",
    "PresentationAdapter",
    "Skipped",
    "VerifyContext",
    "detect_format",
    "run_steps",
    "verify_detected",
]

#: The order every verification runs in, for every format: the `Step` enum's.
ORDER: Final = tuple(Step)
_DEFAULT_POLICY: Final = VerificationPolicy()


class VerifyContext(NamedTuple):
    """Everything a verification depends on besides its input, built once and shared.

    A named tuple: immutable, and the cheapest object to make on the hot path (the
    `verify_*` functions build one per call)."""

    keys: DidResolver | KeySource
    clock: Clock
    policy: VerificationPolicy = _DEFAULT_POLICY
    status: StatusChecker | None = None
    trust: TrustChecker | None = None
    #: JSON-LD contexts beyond the shipped ones (Data Integrity only).
    contexts: ContextStore | None = None
    #: Inside a presentation: its holder, whose signature was verified before its
    #: credentials are (the one issuer `policy.self_issued_types` may accept).
    presenter: str | None = None

    def for_entries(self, presenter: str | None = None) -> VerifyContext:
        """The context a presentation's credentials are verified in: the audience and
        nonce bind the presentation, not what it carries; `presenter` is its verified
        holder."""
        if self.policy.audience is None and self.policy.nonce is None:
            return self._replace(presenter=presenter)
        return self._replace(
            policy=replace(self.policy, audience=None, nonce=None), presenter=presenter
        )


class Skipped(str):
    """A step's message when the policy turned the step off (recorded as skipped)."""

    __slots__ = ()


class FormatAdapter(Protocol):
    """One format's answer to each step, in `Step` order. Each returns the step's message
    (a `Skipped` one when the policy turned it off) or raises an `AncreError`."""

    run: Run
    nested: tuple[VerificationResult, ...]

    def parse(self) -> str: ...
    def format(self) -> str: ...
    def issuer_key(self) -> str: ...
    def signature(self) -> str: ...
    def data_model(self) -> str: ...
    def time(self) -> str: ...
    def schema(self) -> str: ...
    def status(self) -> str: ...
    def trust(self) -> str: ...
    def holder_binding(self) -> str: ...
    def credentials(self) -> str: ...
    def policy(self) -> str: ...


def run_steps(adapter: FormatAdapter) -> VerificationResult:
    """Run every step of `ORDER` on `adapter`; the first failure ends the run and its
    error's outcome decides between `invalid` and `indeterminate`."""
    run = adapter.run
    step = Step.PARSE
    try:
        for step in ORDER:
            message = getattr(adapter, step.value)()
            if type(message) is Skipped:
                run.skip(step, message)
            else:
                run.ok(step, message)
    except AncreError as error:
        return run.fail(step, error, adapter.nested)
    return run.result(Status.VALID, adapter.nested)


class _Adapter:
    """What credentials and presentations share: the key the issuer-key step resolved
    (`key`, which the signature step verifies with) and the time step."""

    __slots__ = ("ctx", "data", "key", "nested", "run")
    #: What is signed, for messages: "credential" or "presentation".
    signed: str = "credential"
    key: PublicKey

    def __init__(self, data: Any, ctx: VerifyContext) -> None:
        self.data, self.ctx, self.run = data, ctx, Run()
        self.nested: tuple[VerificationResult, ...] = ()

    def check_time(self) -> str:
        """The format's validity-period checks."""
        raise NotImplementedError

    def signed_at(self) -> datetime | None:
        """When the proof says it was made (`iat`, `proof.created`…), else None."""
        raise NotImplementedError

    def time(self) -> str:
        # Here rather than at the issuer-key step: only a signature that verified says
        # anything about when the key was used, and the times it states are read (SD-JWT
        # disclosures processed, dates checked against the data model) by now.
        key = self.key
        if type(key) is not RevokedKey:  # every key but a revoked method's: one comparison
            return self.check_time()
        before = check_not_revoked(key, self.signed_at(), self.signed)
        return f"{self.check_time()}; {before}"


class CredentialAdapter(_Adapter):
    """The steps every issued credential shares; a format adds parse, format, issuer key,
    signature, data model, `check_time`, `check_schema`, `status_entry` and `issued_at`
    (and overrides `signed_at` when its proof states its own time, `holder_binding` when
    it binds a holder key)."""

    __slots__ = ()

    def check_schema(self) -> str:
        raise NotImplementedError

    def status_entry(self) -> tuple[bool, str]:
        """Whether the credential has a status reference, and what it is called."""
        raise NotImplementedError

    def issued_at(self) -> datetime | None:
        raise NotImplementedError

    def signed_at(self) -> datetime | None:
        """When the credential was signed; a format whose proof states it says so first."""
        return self.issued_at()

    def schema(self) -> str:
        if not self.ctx.policy.check_schema:
            return Skipped("schema check disabled by policy")
        return self.check_schema()

    def status(self) -> str:
        (present, what), ctx = self.status_entry(), self.ctx
        if not present:
            return f"no {what}: nothing to revoke"
        if not ctx.policy.check_status:
            return Skipped("status check disabled by policy")
        if ctx.status is None:
            raise IndeterminateError(
                Code.STATUS_UNCHECKED, f"the credential has a {what} and no status checker"
            )
        document, issuer = self.run.document or {}, self.run.issuer or ""
        return ctx.status.check(document, issuer=issuer, clock=ctx.clock)

    def trust(self) -> str:
        """The policy's trusted issuers and/or a trust list, which must say the issuer was
        trusted for each of the credential's types when it was issued and is not withdrawn
        now. With neither, the step is recorded as skipped — never as passed."""
        policy, run, messages = self.ctx.policy, self.run, []
        issuer = run.issuer or ""
        own = [t for t in run.types if t not in BASE_TYPES]
        if (
            policy.self_issued_types
            and own
            and issuer
            and issuer == self.ctx.presenter
            and set(own) <= policy.self_issued_types
        ):
            # A participant's own declaration (Gaia-X: the T&C credential it signs itself):
            # accepted only inside a presentation that same participant signed, only for
            # the types the policy names — never from a trust decision about the issuer.
            return f"self-issued {', '.join(own)} by the presentation's holder {issuer}"
        if policy.trusted_issuers is not None:
            if issuer not in policy.trusted_issuers:
                raise InvalidError(Code.ISSUER_NOT_TRUSTED, f"{issuer} is not a trusted issuer")
            messages.append(f"{issuer} is a trusted issuer")
        if self.ctx.trust is not None:
            now = self.ctx.clock.now()
            own_types = [t for t in run.types if t not in BASE_TYPES]
            issued = self.issued_at() or now
            document = run.document or {}
            messages.append(
                self.ctx.trust.check(
                    issuer, own_types, issued_at=issued, now=now, credential=document
                )
            )
        if messages:
            return "; ".join(messages)
        if policy.require_trust:
            raise IndeterminateError(
                Code.TRUST_NOT_CONFIGURED,
                "the policy requires a trust decision, and no trusted issuers or trust list "
                "are configured",
            )
        return Skipped("no trusted issuers or trust list configured: trust not evaluated")

    def holder_binding(self) -> str:
        return "a credential alone binds no holder (a presentation of it does)"

    def credentials(self) -> str:
        return "a credential: it encloses no other credential"

    def policy(self) -> str:
        missing = self.ctx.policy.required_types.difference(self.run.types)
        if missing:
            raise InvalidError(Code.POLICY_VIOLATION, f"required types missing: {sorted(missing)}")
        return "policy satisfied"


class PresentationAdapter(_Adapter):
    """The steps every presentation shares: it has no schema, status or issuer of its own
    (each credential it carries is verified in full, in the credentials step); a format adds
    parse, format, issuer (holder) key, signature, data model, `check_time`, `signed_at`,
    `holder_binding` and `entries`. `within` says which entries its format may carry (see
    `detect_format`)."""

    __slots__ = ("named_holder",)
    signed = "presentation"
    within: Literal["jose", "json-ld"] = "jose"
    #: Whether the presentation names its holder (`holder`; for a `vp+jwt`, also `iss`).
    #: When it does not (VCDM 2.0 and 1.1 make `holder` optional), the format's issuer-key
    #: step records the controller of the key that signed it as the holder.
    named_holder: bool

    def entries(self) -> list[Any]:
        raise NotImplementedError

    def holder_named(self, binding: str) -> str:
        """The HOLDER_BINDING step's message around the format's `binding` check (audience,
        nonce): a presentation that names no holder is bound to whoever controls the key
        that signed it, unless the policy requires a named holder."""
        if self.named_holder:
            return binding
        if self.ctx.policy.require_holder:
            raise InvalidError(
                Code.POLICY_VIOLATION,
                "the policy requires presentations to name their holder, and this one names none",
            )
        return (
            f"{binding}; no holder named: {self.run.holder}, the controller of the key "
            "that signed it, stands for it"
        )

    def schema(self) -> str:
        return "a presentation has no schema of its own: each credential's is checked with it"

    def status(self) -> str:
        return "a presentation has no status of its own: each credential's is checked with it"

    def trust(self) -> str:
        return "a presentation is not issued: each credential's issuer is checked with it"

    def credentials(self) -> str:
        inner = self.ctx.for_entries(self.run.holder)
        self.nested = tuple(verify_entry(e, inner, within=self.within) for e in self.entries())
        return credentials_message(self.nested)

    def policy(self) -> str:
        return "the policy's requirements are applied to each credential"


# ------------------------------------------------------------------------------------------
# format detection


class Kind(StrEnum):
    """What `detect_format` found; each kind has one adapter."""

    VC_JWT = "vc+jwt"
    VP_JWT = "vp+jwt"
    SD_JWT_VC = "dc+sd-jwt"
    DI_VC = "ldp_vc"
    DI_VP = "ldp_vp"
    #: VC-JOSE-COSE §3.2: a VCDM document secured with SD-JWT.
    VC_SD_JWT = "vc+sd-jwt"
    VP_SD_JWT = "vp+sd-jwt"
    #: VC-JOSE-COSE §3.3: a VCDM document secured with COSE_Sign1.
    VC_COSE = "vc+cose"
    VP_COSE = "vp+cose"

    @property
    def presentation(self) -> bool:
        return self in (Kind.VP_JWT, Kind.DI_VP, Kind.VP_SD_JWT, Kind.VP_COSE)


class PreParsedJws(NamedTuple):
    """A compact JWS detection already parsed (header and payload decoded once)."""

    jws: ParsedJws
    payload: dict[str, Any]


class Detected(NamedTuple):
    kind: Kind
    #: What the kind's adapter reads: a token, a `PreParsedJws` or a JSON object.
    item: Any


_VP_TYPS: Final = frozenset({"vp+jwt", "vp+ld+json+jwt", "vp+ld+jwt"})
#: `application/jwt`: a VCDM 1.1 JWT presentation (`vp` claim), as 1.1 JWT credentials are
#: read (their payload says what they are).
_VP_ENVELOPE_PREFIXES: Final = tuple(
    f"data:application/{t}{sep}"
    for t in ("vp+jwt", "vp+ld+json+jwt", "vp+ld+jwt", "jwt")
    for sep in ",;"
)
#: An SD-JWT VC with its key-binding JWT is a presentation (OpenID4VP's `dc+sd-jwt`).
_SD_JWT_VP_ENVELOPE_PREFIXES: Final = tuple(
    f"data:application/{t}{sep}" for t in ("dc+sd-jwt", "vc+sd-jwt", "vp+sd-jwt") for sep in ",;"
)


def detect_format(
    data: str | Mapping[str, Any] | Any,
    policy: VerificationPolicy = _DEFAULT_POLICY,
    *,
    within: Literal["jose", "json-ld"] | None = None,
    parsed: bool = False,
) -> Detected:
    """Which format `data` is in, and what its adapter reads — the one place ancre decides.

    At the top level (`within=None`) `data` is text (a compact JWS, an SD-JWT, JSON) or a
    parsed JSON value: a compact JWS is parsed here, once, and handed on parsed. `parsed`
    says a string is a JSON *value* (a member of a request the caller parsed) rather than
    text: such a string is a token, never JSON. A secured document that is not a JSON
    object — a list, a number, a JSON string holding a JSON object (a credential sent as
    text inside JSON) — is refused as `document_not_a_map` (VC Data Integrity: "the secured
    document is not a map"), whichever way it came. For an entry of a presentation's
    `verifiableCredential`, `within` names the presentation's family: `"jose"` (`vp+jwt`: a
    token or an `EnvelopedVerifiableCredential`) or `"json-ld"` (a Data Integrity
    presentation: also an embedded credential with a proof). Raises an `AncreError` for
    what no adapter reads."""
    if within is not None:
        if within == "json-ld" and isinstance(data, dict) and "proof" in data:
            return Detected(Kind.DI_VC, data)
        cose = _enveloped_cose(data)
        if cose is not None:
            return cose
        from ancre.trust.jose.vc_jose import unenvelope

        token = _token(data, policy) if isinstance(data, str) else unenvelope(data)
        return Detected(_sd_jwt_kind(token) if "~" in token else Kind.VC_JWT, token)
    if not isinstance(data, str):  # parsed JSON, by the caller
        return _from_json(data)
    if parsed:
        text = _token(data, policy)
    else:
        text = data.strip()
        if text.startswith("data:application/"):
            return _from_data_url(text)
        if text.startswith("{"):
            return _from_json(_json_text(text, policy))
        if text.startswith(("[", '"')):
            # JSON text whose value is not an object: a string in it must be a token.
            return detect_format(_json_text(text, policy), policy, parsed=True)
    if "~" in text:
        # RFC 9901 §4: `~` separates the issuer-signed JWT, the disclosures and the KB-JWT;
        # it never occurs in a compact JWS.
        return Detected(_sd_jwt_kind(text), text)
    if text.count(".") != 2:
        from ancre.trust.cose.vc_cose import read_cose_text

        raw = read_cose_text(text)
        if raw is not None:  # base64 of a tagged COSE_Sign1 (what a file of one holds)
            return Detected(_cose_kind(raw), raw)
    try:
        jws, payload = parse_jws(text, policy)
    except AncreError:
        _explain_jws_failure(text, policy)
        raise
    typ = str(jws.header.get("typ", "")).lower().removeprefix("application/")
    # VCDM 1.1 JWTs say what they are in the payload (`vp` or `vc` claim).
    if typ in _VP_TYPS or (typ in ("", "jwt") and "vp" in payload):
        return Detected(Kind.VP_JWT, PreParsedJws(jws, payload))
    return Detected(Kind.VC_JWT, PreParsedJws(jws, payload))


def _explain_jws_failure(text: str, policy: VerificationPolicy) -> None:
    """The error a reader looking only at what decides the format would see first (the
    header, and the payload of an untyped JWT) — raised in its place, so a token is refused
    for the same reason whichever way it is read. Returns if that part reads well."""
    from ancre.trust.codec.b64 import b64url_decode
    from ancre.trust.codec.json import loads_strict
    from ancre.trust.jose.jws import unverified_header

    header = unverified_header(text, max_bytes=policy.max_token_bytes)
    typ = str(header.get("typ", "")).lower().removeprefix("application/")
    parts = text.split(".")
    if typ in ("", "jwt") and len(parts) == 3:
        loads_strict(b64url_decode(parts[1], what="JWS payload"), what="JWS payload")


def _json_text(text: str, policy: VerificationPolicy) -> Any:
    from ancre.trust.codec.json import loads_strict

    return loads_strict(text, what="input", max_depth=policy.max_json_depth)


def _token(value: str, policy: VerificationPolicy) -> str:
    """A JSON string value that must be a token (compact JWS or SD-JWT): one holding a JSON
    object is a secured document sent as text, which is not a map."""
    text = value.strip()
    if text.startswith("{"):
        try:
            inner = _json_text(text, policy)
        except AncreError:
            return text  # not JSON either: the token reader says what it is
        if isinstance(inner, Mapping):
            raise MalformedError(
                Code.DOCUMENT_NOT_A_MAP,
                "the secured document is a JSON string holding a JSON object, not the object "
                "itself: send the credential or presentation as JSON, not as text",
            )
    return text


def _from_json(document: Any) -> Detected:
    if not isinstance(document, Mapping):
        raise MalformedError(
            Code.DOCUMENT_NOT_A_MAP,
            f"the secured document is a JSON {_json_kind(document)}, not an object",
        )
    kind = document.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if "EnvelopedVerifiableCredential" in kinds:
        cose = _enveloped_cose(document)
        if cose is not None:
            return cose
        from ancre.trust.jose.vc_jose import unenvelope

        token = unenvelope(document)
        return Detected(_sd_jwt_kind(token) if "~" in token else Kind.VC_JWT, token)
    if "EnvelopedVerifiablePresentation" in kinds:
        ident = str(document.get("id", ""))
        cose = _enveloped_cose(document)
        if cose is not None:
            return cose
        for prefixes, found in (
            (_VP_ENVELOPE_PREFIXES, Kind.VP_JWT),
            (_SD_JWT_VP_ENVELOPE_PREFIXES, Kind.SD_JWT_VC),
        ):
            for prefix in prefixes:
                if ident.startswith(prefix):
                    token = ident[len(prefix) :]
                    if found is Kind.SD_JWT_VC:
                        found = _sd_jwt_kind(token)
                    return Detected(found, token)
        raise MalformedError(
            Code.UNSUPPORTED_FORMAT,
            "EnvelopedVerifiablePresentation id is not a vp+jwt, VCDM 1.1 jwt, dc+sd-jwt, "
            "vp+sd-jwt or vp+cose data URL",
        )
    if "proof" in document:
        return Detected(Kind.DI_VP if "VerifiablePresentation" in kinds else Kind.DI_VC, document)
    raise MalformedError(
        Code.UNSUPPORTED_FORMAT, "no proof: not a verifiable credential or presentation"
    )


def _sd_jwt_kind(token: str) -> Kind:
    """An SD-JWT VC (`dc+sd-jwt`: registered JWT claims, `vct`) or a VCDM document secured
    with SD-JWT (VC-JOSE-COSE §3.2: `@context`, no `vct`), and then a credential or a
    presentation (`typ`/`cty` say; the document's `type` may be selectively disclosable).
    Only the issuer JWT's header and payload are peeked at; what cannot be read is left to
    the SD-JWT VC reader, which says what is wrong."""
    from ancre.trust.codec.b64 import b64url_decode
    from ancre.trust.codec.json import loads_strict

    parts = token.partition("~")[0].split(".")
    if len(parts) != 3 or len(token) > 4 * 1024 * 1024:
        return Kind.SD_JWT_VC
    try:
        header = loads_strict(b64url_decode(parts[0], what="JWS header"), what="JWS header")
        if not isinstance(header, dict) or header.get("typ") == "dc+sd-jwt":
            return Kind.SD_JWT_VC  # what ancre issues: no need to read the payload twice
        payload = loads_strict(b64url_decode(parts[1], what="JWS payload"), what="JWS payload")
    except AncreError:
        return Kind.SD_JWT_VC
    if not isinstance(payload, dict):
        return Kind.SD_JWT_VC
    if "@context" not in payload or "vct" in payload:
        return Kind.SD_JWT_VC
    said = f"{header.get('typ', '')} {header.get('cty', '')}".lower()
    presentation = "vp" in said or "verifiableCredential" in payload or "holder" in payload
    return Kind.VP_SD_JWT if presentation else Kind.VC_SD_JWT


def _cose_kind(data: bytes) -> Kind:
    """`vc+cose` or `vp+cose`, from the protected `typ`/content type (else the payload's
    `type`); what cannot be read is left to the credential reader, which says what."""
    import cbor2

    try:
        item = cbor2.loads(data)
        protected = dict(cbor2.loads(item.value[0])) if item.value[0] else {}
        said = f"{protected.get(16, '')} {protected.get(3, '')}".lower()
        if not said.strip():
            said = str(_json_text(item.value[2].decode("utf-8"), _DEFAULT_POLICY).get("type"))
    except Exception:  # noqa: BLE001 - any malformation: the adapter's parse step names it
        return Kind.VC_COSE
    return Kind.VP_COSE if "vp" in said or "Presentation" in said else Kind.VC_COSE


def _enveloped_cose(value: Any) -> Detected | None:
    """The COSE_Sign1 inside an enveloped credential or presentation whose id is a
    `data:application/v[cp]+cose;base64,…` URL, else None."""
    if not isinstance(value, Mapping) or not isinstance(value.get("id"), str):
        return None
    from ancre.trust.cose.vc_cose import cose_data_url

    found = cose_data_url(value["id"])
    if found is None:
        return None
    return Detected(Kind.VP_COSE if found[0] else Kind.VC_COSE, found[1])


def _from_data_url(text: str) -> Detected:
    """A secured document given as its data URL (VC-JOSE-COSE §3: `data:application/vc+jwt,…`,
    `…/vc+sd-jwt,…`, `…/vc+cose;base64,…`, and the presentations')."""
    from ancre.trust.cose.vc_cose import cose_data_url

    cose = cose_data_url(text)
    if cose is not None:
        return Detected(Kind.VP_COSE if cose[0] else Kind.VC_COSE, cose[1])
    for prefixes, found in (
        (_VP_ENVELOPE_PREFIXES, Kind.VP_JWT),
        (_SD_JWT_VP_ENVELOPE_PREFIXES, Kind.SD_JWT_VC),
    ):
        for prefix in prefixes:
            if text.startswith(prefix):
                token = text[len(prefix) :]
                return Detected(_sd_jwt_kind(token) if found is Kind.SD_JWT_VC else found, token)
    from ancre.trust.jose.vc_jose import unenvelope

    token = unenvelope({"type": "EnvelopedVerifiableCredential", "id": text})
    return Detected(_sd_jwt_kind(token) if "~" in token else Kind.VC_JWT, token)


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    return "null" if value is None else "number"


def adapter_for(detected: Detected, ctx: VerifyContext) -> FormatAdapter:
    """The adapter of `detected.kind`, ready to run on `detected.item`."""
    kind = detected.kind
    if kind is Kind.VC_JWT or kind is Kind.VP_JWT:
        from ancre.trust.jose.vc_jose import VcJwtAdapter, VpJwtAdapter

        jose = VcJwtAdapter if kind is Kind.VC_JWT else VpJwtAdapter
        return jose(detected.item, ctx)
    if kind is Kind.SD_JWT_VC:
        from ancre.trust.sd_jwt.vc import SdJwtVcAdapter

        return SdJwtVcAdapter(detected.item, ctx)
    if kind is Kind.VC_SD_JWT or kind is Kind.VP_SD_JWT:
        from ancre.trust.sd_jwt.vcdm import VcSdJwtAdapter, VpSdJwtAdapter

        if kind is Kind.VC_SD_JWT:
            return VcSdJwtAdapter(detected.item, ctx)
        return VpSdJwtAdapter(detected.item, ctx)
    if kind is Kind.VC_COSE or kind is Kind.VP_COSE:
        from ancre.trust.cose.vc_cose import VcCoseAdapter, VpCoseAdapter

        cose = VcCoseAdapter if kind is Kind.VC_COSE else VpCoseAdapter
        return cose(detected.item, ctx)
    from ancre.trust.data_integrity.proofs import DiCredentialAdapter, DiPresentationAdapter

    di = DiCredentialAdapter if kind is Kind.DI_VC else DiPresentationAdapter
    return di(detected.item, ctx)


def verify_detected(detected: Detected, ctx: VerifyContext) -> VerificationResult:
    """Run every step on what `detect_format` found."""
    return run_steps(adapter_for(detected, ctx))


def verify_entry(
    entry: Any, ctx: VerifyContext, *, within: Literal["jose", "json-ld"]
) -> VerificationResult:
    """Verify one `verifiableCredential` entry of a presentation. An entry that cannot be
    read becomes a failed result, never an exception."""
    try:
        detected = detect_format(entry, ctx.policy, within=within)
    except AncreError as error:
        indeterminate = error.outcome == "indeterminate"
        return VerificationResult.failure(
            Step.PARSE, error.code, error.message, indeterminate=indeterminate
        )
    return verify_detected(detected, ctx)
