"""One entry point for any credential or presentation ancre can read.

Detects the format from the bytes and runs the matching pipeline:

| input | pipeline |
|---|---|
| compact JWS, `typ` vc+jwt (or Gaia-X spellings) / VCDM 1.1 `vc` JWT | `vc_jose.verify_vc_jwt` |
| compact JWS, `typ` vp+jwt / VCDM 1.1 `vp` JWT | `vc_jose.verify_vp_jwt` |
| `<jws>~<disclosure>~…~[<kb-jwt>]` | `sd_jwt_vc.verify_sd_jwt_vc` |
| JSON `EnvelopedVerifiableCredential` / `…Presentation` | the enveloped token's pipeline |
| JSON-LD with an embedded `proof` | `data_integrity.verify_data_integrity[_presentation]` |

Never raises for bad input: the result says what is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any, Final, Literal

from ancre.trust.clock import Clock
from ancre.trust.codec.b64 import b64url_decode
from ancre.trust.codec.json import loads_strict
from ancre.trust.did.document import DidResolver
from ancre.trust.errors import AncreError, Code, MalformedError
from ancre.trust.jose.jws import unverified_header
from ancre.trust.jose.vc_jose import (
    VP_TYPS,
    KeySource,
    StatusChecker,
    TrustChecker,
    unenvelope,
    verify_vc_jwt,
    verify_vp_jwt,
)
from ancre.trust.policy import VerificationPolicy
from ancre.trust.result import Step, VerificationResult

__all__ = ["verify"]

_DEFAULT_POLICY: Final = VerificationPolicy()
_VP_ENVELOPE_PREFIXES: Final = tuple(
    f"data:application/{t}{sep}" for t in ("vp+jwt", "vp+ld+json+jwt", "vp+ld+jwt") for sep in ",;"
)


class _Kind(Enum):
    VC_JWT = "vc-jwt"
    VP_JWT = "vp-jwt"
    SD_JWT = "sd-jwt"
    DI_VC = "di-vc"
    DI_VP = "di-vp"


_CREDENTIALS: Final = frozenset({_Kind.VC_JWT, _Kind.DI_VC})
_PRESENTATIONS: Final = frozenset({_Kind.VP_JWT, _Kind.DI_VP})
#: An SD-JWT VC with its key-binding JWT is a presentation (OpenID4VP's `dc+sd-jwt`).
_SD_JWT_VP_ENVELOPE_PREFIXES: Final = tuple(
    f"data:application/{t}{sep}" for t in ("dc+sd-jwt", "vc+sd-jwt") for sep in ",;"
)


def verify(
    data: bytes | str | Mapping[str, Any],
    *,
    resolver: DidResolver | KeySource,
    clock: Clock,
    policy: VerificationPolicy = _DEFAULT_POLICY,
    status: StatusChecker | None = None,
    trust: TrustChecker | None = None,
    expect: Literal["credential", "presentation"] | None = None,
) -> VerificationResult:
    """Verify a credential or presentation in any supported form.

    `status` checks revocation lists; `trust` (a `TrustList` or `TrustListClient`) decides
    whether the issuer was trusted for each credential type when it was issued. When the
    policy asks for a `nonce` or `audience`, a bare credential (no holder proof to carry
    them) is refused: the binding is never silently dropped. `expect` refuses the other
    kind (an SD-JWT VC is both: with a key-binding JWT it is its own presentation)."""
    try:
        if isinstance(data, Mapping):
            # Already parsed, strictly and within its size limit, by the caller (the service).
            kind, item = _from_json(data)
        else:
            text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
            text = text.strip()
            # The JSON wrapper of a token may be larger than the token; beyond this, refuse
            # unread.
            if len(text) > 2 * policy.max_token_bytes:
                return VerificationResult.failure(
                    Step.PARSE,
                    Code.INPUT_TOO_LARGE,
                    f"input is {len(text)} bytes, the limit is {policy.max_token_bytes}",
                    malformed=True,
                )
            kind, item = _classify(text, policy)
    except AncreError as error:
        return VerificationResult.failure(
            Step.PARSE,
            error.code,
            error.message,
            indeterminate=error.outcome == "indeterminate",
            malformed=isinstance(error, MalformedError),
        )
    if kind in _CREDENTIALS and (policy.nonce is not None or policy.accepted_audiences):
        return VerificationResult.failure(
            Step.HOLDER_BINDING,
            Code.POLICY_VIOLATION,
            "a nonce/audience binding is required, and a credential alone carries none: "
            "send it inside a presentation bound to them",
        )
    if expect == "credential" and kind in _PRESENTATIONS:
        return VerificationResult.failure(
            Step.FORMAT, Code.UNSUPPORTED_FORMAT, "a presentation where a credential was expected"
        )
    if expect == "presentation" and kind in _CREDENTIALS:
        return VerificationResult.failure(
            Step.FORMAT, Code.UNSUPPORTED_FORMAT, "a credential where a presentation was expected"
        )
    common: dict[str, Any] = {
        "resolver": resolver,
        "clock": clock,
        "policy": policy,
        "status": status,
        "trust": trust,
    }
    if kind is _Kind.SD_JWT:
        from ancre.trust.sd_jwt.vc import verify_sd_jwt_vc

        return verify_sd_jwt_vc(item, **common)
    if kind is _Kind.DI_VC:
        from ancre.trust.data_integrity.proofs import verify_data_integrity

        return verify_data_integrity(item, **common)
    if kind is _Kind.DI_VP:
        from ancre.trust.data_integrity.proofs import verify_data_integrity_presentation

        return verify_data_integrity_presentation(item, **common)
    run = verify_vp_jwt if kind is _Kind.VP_JWT else verify_vc_jwt
    return run(item, **common)


def _classify(text: str, policy: VerificationPolicy) -> tuple[_Kind, Any]:
    if text.startswith("{"):
        document = loads_strict(text, what="input", max_depth=policy.max_json_depth)
        return _from_json(document)
    if "~" in text:
        # RFC 9901 §4: `~` separates the issuer-signed JWT, the disclosures and the KB-JWT;
        # it never occurs in a compact JWS.
        return _Kind.SD_JWT, text
    header = unverified_header(text, max_bytes=policy.max_token_bytes)
    typ = str(header.get("typ", "")).lower().removeprefix("application/")
    if typ in VP_TYPS:
        return _Kind.VP_JWT, text
    if typ in ("", "jwt"):
        # VCDM 1.1 JWTs say what they are in the payload (`vp` or `vc` claim).
        parts = text.split(".")
        if len(parts) == 3:
            payload = loads_strict(b64url_decode(parts[1], what="JWS payload"), what="JWS payload")
            if isinstance(payload, dict) and "vp" in payload:
                return _Kind.VP_JWT, text
    return _Kind.VC_JWT, text


def _from_json(document: Any) -> tuple[_Kind, Any]:
    if not isinstance(document, Mapping):
        raise MalformedError(Code.UNSUPPORTED_FORMAT, "expected a JSON object")
    kind = document.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if "EnvelopedVerifiableCredential" in kinds:
        token = unenvelope(document)
        return (_Kind.SD_JWT if "~" in token else _Kind.VC_JWT), token
    if "EnvelopedVerifiablePresentation" in kinds:
        ident = str(document.get("id", ""))
        for prefix in _VP_ENVELOPE_PREFIXES:
            if ident.startswith(prefix):
                return _Kind.VP_JWT, ident[len(prefix) :]
        for prefix in _SD_JWT_VP_ENVELOPE_PREFIXES:
            if ident.startswith(prefix):
                return _Kind.SD_JWT, ident[len(prefix) :]
        raise MalformedError(
            Code.UNSUPPORTED_FORMAT,
            "EnvelopedVerifiablePresentation id is not a vp+jwt or dc+sd-jwt data URL",
        )
    if "proof" in document:
        return (_Kind.DI_VP if "VerifiablePresentation" in kinds else _Kind.DI_VC), document
    raise MalformedError(
        Code.UNSUPPORTED_FORMAT, "no proof: not a verifiable credential or presentation"
    )
