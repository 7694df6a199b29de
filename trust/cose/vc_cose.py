"""W3C VC-JOSE-COSE §3.3: credentials and presentations secured with COSE_Sign1.

- `vc+cose`: the COSE_Sign1 payload *is* the VCDM 2.0 credential (JSON, UTF-8); protected
  headers `typ` (16) `application/vc+cose` and content type (3) `application/vc`.
- `vp+cose`: the same for a presentation (`application/vp+cose`, `application/vp`), signed
  by its holder; its `verifiableCredential` entries are enveloped credentials, each verified
  in full. A COSE presentation carries no JWT claims: when the policy asks for an audience or
  nonce, the presentation's own `aud`/`nonce` members must carry them.
- Enveloped (VCDM 2.0 §4.13, VC-JOSE-COSE §3.3.1): `data:application/vc+cose;base64,…`.

`VcCoseAdapter` and `VpCoseAdapter` answer the engine's steps (`ancre.trust.engine`).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from ancre.trust.clock import Clock
from ancre.trust.codec.json import dumps_compact, loads_strict
from ancre.trust.cose.sign1 import CONTENT_TYPE, TYP, ParsedSign1, parse_sign1, sign1
from ancre.trust.did.document import DidResolver, did_of
from ancre.trust.engine import CredentialAdapter, PresentationAdapter, VerifyContext, run_steps
from ancre.trust.errors import Code, ConfigurationError, InvalidError, MalformedError
from ancre.trust.keys.jwk import PublicKey, Signer
from ancre.trust.policy import VerificationPolicy
from ancre.trust.result import VerificationResult
from ancre.trust.steps import (
    KeySource,
    Run,
    StatusChecker,
    TrustChecker,
    check_format_accepted,
    key_source_description,
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
    check_credential_time,
    check_presentation_binding,
    check_vcdm2_credential,
    presentation_entries,
    presentation_holder,
    time_window,
)

__all__ = [
    "FORMAT_VC_COSE",
    "FORMAT_VP_COSE",
    "VcCoseAdapter",
    "VpCoseAdapter",
    "cose_data_url",
    "envelope_cose",
    "issue_vc_cose",
    "issue_vp_cose",
    "read_cose_text",
    "verify_vc_cose",
    "verify_vp_cose",
]

FORMAT_VC_COSE: Final = "vc+cose"
FORMAT_VP_COSE: Final = "vp+cose"
_TYPS: Final = {False: frozenset({"vc+cose"}), True: frozenset({"vp+cose"})}
_CTYS: Final = {
    False: frozenset({"vc", "vc+ld+json"}),
    True: frozenset({"vp", "vp+ld+json"}),
}
_DATA_URL: Final = re.compile(r"data:application/(vc|vp)\+cose;base64,([A-Za-z0-9+/=_-]*)", re.S)
_DEFAULT_POLICY: Final = VerificationPolicy()


def _media(value: str | None) -> str | None:
    return None if value is None else value.lower().removeprefix("application/")


def _b64(text: str) -> bytes:
    compact = "".join(text.split())
    try:
        if "-" in compact or "_" in compact:
            return base64.urlsafe_b64decode(compact + "=" * (-len(compact) % 4))
        return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise MalformedError(Code.MALFORMED_TOKEN, "COSE data is not base64") from None


def cose_data_url(ident: str) -> tuple[bool, bytes] | None:
    """(is a presentation, COSE bytes) of a `data:application/v[cp]+cose;base64,…` URL, or
    None when `ident` is no such URL."""
    match = _DATA_URL.fullmatch(ident.strip())
    if match is None:
        if ident.startswith(("data:application/vc+cose", "data:application/vp+cose")):
            raise MalformedError(
                Code.MALFORMED_TOKEN, "a COSE data URL must be ;base64-encoded (VC-JOSE-COSE §3.3)"
            )
        return None
    return match.group(1) == "vp", _b64(match.group(2))


def read_cose_text(text: str) -> bytes | None:
    """The COSE_Sign1 bytes of base64 text (what `ancre verify` reads from a file), or None
    when the text is not a base64 tagged COSE_Sign1 (CBOR tag 18 opens with 0xd2)."""
    compact = "".join(text.split())
    if not compact or "." in compact or "~" in compact:
        return None
    try:
        data = _b64(compact)
    except MalformedError:
        return None
    return data if data[:1] == b"\xd2" else None


def envelope_cose(data: bytes, *, presentation: bool = False) -> dict[str, Any]:
    """VCDM 2.0 §4.13 enveloped form of a `vc+cose` (or `vp+cose`)."""
    kind = "VerifiablePresentation" if presentation else "VerifiableCredential"
    media = "vp+cose" if presentation else "vc+cose"
    return {
        "@context": [VCDM2_CONTEXT],
        "id": f"data:application/{media};base64,{base64.b64encode(data).decode('ascii')}",
        "type": f"Enveloped{kind}",
    }


class _CoseParts:
    data: Any
    ctx: VerifyContext
    run: Run
    key: PublicKey
    sign1: ParsedSign1
    document: dict[str, Any]
    presentation: bool = False

    def parse(self) -> str:
        policy = self.ctx.policy
        data = self.data
        if isinstance(data, str):
            found = cose_data_url(data)
            data = found[1] if found is not None else _b64(data)
        self.sign1 = parse_sign1(
            data,
            allowed_algs=policy.algorithms,
            understood_crit=policy.understood_crit,
            max_bytes=policy.max_token_bytes,
        )
        self.run.header = self.sign1.jose_header()
        document = loads_strict(
            self.sign1.payload, what="COSE payload", max_depth=policy.max_json_depth
        )
        if not isinstance(document, dict):
            raise MalformedError(Code.DOCUMENT_NOT_A_MAP, "the COSE payload is not a JSON object")
        self.document = self.run.document = document
        return "COSE_Sign1 with an attached JSON payload, strict CBOR and JSON"

    def format(self) -> str:
        kind = "presentation" if self.presentation else "credential"
        typ = _media(self.sign1.header_text(TYP))
        cty = _media(self.sign1.header_text(CONTENT_TYPE))
        if typ is not None and typ not in _TYPS[self.presentation]:
            raise InvalidError(Code.UNSUPPORTED_TYP, f"COSE `typ` {typ!r} is not a {kind} type")
        if cty is not None and cty not in _CTYS[self.presentation]:
            raise InvalidError(
                Code.UNSUPPORTED_TYP, f"COSE content type {cty!r} is not a {kind} type"
            )
        if typ is None and cty is None and not _is_kind(self.document, self.presentation):
            raise InvalidError(Code.UNSUPPORTED_TYP, f"the COSE payload is not a VCDM 2.0 {kind}")
        fmt = self.run.fmt = FORMAT_VP_COSE if self.presentation else FORMAT_VC_COSE
        check_format_accepted(fmt, self.ctx.policy)
        return f"{fmt} (typ {typ or 'absent'}, content type {cty or 'absent'})"

    def signature(self) -> str:
        self.sign1.verify_with(self.key)
        return f"{self.sign1.alg} COSE_Sign1 signature verifies"


def _is_kind(document: Mapping[str, Any], presentation: bool) -> bool:
    kinds = document.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    wanted = "VerifiablePresentation" if presentation else "VerifiableCredential"
    return wanted in kinds


class VcCoseAdapter(_CoseParts, CredentialAdapter):
    """`vc+cose` for the engine."""

    __slots__ = ("document", "sign1")

    def issuer_key(self) -> str:
        if "issuer" not in self.document:
            raise InvalidError(Code.INVALID_ISSUER, "the credential has no `issuer`")
        issuer = self.run.issuer = issuer_id(self.document)
        header = self.run.header or {}
        self.key = resolve_key(header, issuer, self.ctx.keys)
        return key_source_description(header, issuer, "assertionMethod")

    def data_model(self) -> str:
        tolerated = check_vcdm2_credential(self.document, self.run, self.ctx.policy, FORMAT_VC_COSE)
        return "; ".join(("meets the VCDM 2.0 data model", *tolerated))

    def check_time(self) -> str:
        return check_credential_time(self.document, self.ctx.clock.now(), self.ctx.policy)

    def check_schema(self) -> str:
        return vcdm_schema_message(self.document)

    def status_entry(self) -> tuple[bool, str]:
        return "credentialStatus" in self.document, "credentialStatus"

    def issued_at(self) -> datetime | None:
        value = self.document.get("validFrom")
        return None if value is None else parse_datetime_stamp(value, "validFrom")


class VpCoseAdapter(_CoseParts, PresentationAdapter):
    """`vp+cose` for the engine: the holder signs; every enveloped credential is verified."""

    __slots__ = ("document", "sign1")
    presentation = True
    within = "jose"

    def issuer_key(self) -> str:
        document, header = self.document, self.run.header or {}
        named = self.named_holder = "holder" in document
        holder = presentation_holder(document.get("holder"), named=named, header=header)
        self.run.holder = holder
        self.key = resolve_key(header, holder, self.ctx.keys, authentication=True)
        return key_source_description(header, holder, "authentication key")

    def data_model(self) -> str:
        check_presentation(self.document)
        self.run.types = types_of(self.document)
        return "meets the VCDM 2.0 presentation data model"

    def signed_at(self) -> datetime | None:
        return None

    def check_time(self) -> str:
        return time_window(self.document, self.ctx.clock.now(), self.ctx.policy)[0]

    def holder_binding(self) -> str:
        return self.holder_named(check_presentation_binding(self.document, self.ctx.policy))

    def entries(self) -> list[Any]:
        return presentation_entries(self.document)


def verify_vc_cose(
    data: bytes | str,
    *,
    resolver: DidResolver | KeySource,
    clock: Clock,
    policy: VerificationPolicy = _DEFAULT_POLICY,
    status: StatusChecker | None = None,
    trust: TrustChecker | None = None,
) -> VerificationResult:
    """Verify a `vc+cose` (bytes, base64 text or its data URL); never raises for bad input."""
    return run_steps(VcCoseAdapter(data, VerifyContext(resolver, clock, policy, status, trust)))


def verify_vp_cose(
    data: bytes | str,
    *,
    resolver: DidResolver | KeySource,
    clock: Clock,
    policy: VerificationPolicy = _DEFAULT_POLICY,
    status: StatusChecker | None = None,
    trust: TrustChecker | None = None,
) -> VerificationResult:
    """Verify a `vp+cose` and every credential it carries; never raises for bad input."""
    return run_steps(VpCoseAdapter(data, VerifyContext(resolver, clock, policy, status, trust)))


def issue_vc_cose(credential: Mapping[str, Any], signer: Signer, *, kid: str | None) -> bytes:
    """Secure a VCDM 2.0 credential as a `vc+cose` COSE_Sign1 (VC-JOSE-COSE §3.3.1)."""
    document = dict(credential)
    check_credential(document)
    if document["@context"][0] != VCDM2_CONTEXT:
        raise ConfigurationError("ancre secures VCDM 2.0 credentials only")
    issuer = issuer_id(document)
    if kid is not None and issuer.startswith("did:") and did_of(kid) != issuer:
        raise ConfigurationError(f"kid {kid} is not a key of the issuer {issuer}")
    return sign1(
        dumps_compact(document).encode("utf-8"),
        signer,
        kid=kid,
        typ="application/vc+cose",
        content_type="application/vc",
    )


def issue_vp_cose(
    credentials: Sequence[Mapping[str, Any]],
    signer: Signer,
    *,
    holder: str,
    kid: str | None,
    audience: str | None = None,
    nonce: str | None = None,
) -> bytes:
    """A `vp+cose` presenting enveloped `credentials`; `audience`/`nonce`, when given, are
    members of the presentation (COSE has no JWT claims to carry them)."""
    presentation: dict[str, Any] = {
        "@context": [VCDM2_CONTEXT],
        "type": ["VerifiablePresentation"],
        "holder": holder,
        "verifiableCredential": [dict(c) for c in credentials],
    }
    check_presentation(presentation)
    if audience is not None:
        presentation["aud"] = audience
    if nonce is not None:
        presentation["nonce"] = nonce
    if kid is not None and holder.startswith("did:") and did_of(kid) != holder:
        raise ConfigurationError(f"kid {kid} is not a key of the holder {holder}")
    return sign1(
        dumps_compact(presentation).encode("utf-8"),
        signer,
        kid=kid,
        typ="application/vp+cose",
        content_type="application/vp",
    )
