"""One entry point for any credential or presentation ancre can read.

Detects the format from the bytes (compact JWS, or a JSON envelope) and runs the matching
pipeline. Never raises for bad input: the result says what is wrong.
"""

from __future__ import annotations

from typing import Any, Final

from ancre.trust._json import loads_strict
from ancre.trust._jws import unverified_header
from ancre.trust.clock import Clock
from ancre.trust.did import DidResolver
from ancre.trust.errors import AncreError, Code, MalformedError
from ancre.trust.policy import VerificationPolicy
from ancre.trust.result import Step, VerificationResult
from ancre.trust.vc_jose import (
    VP_TYPS,
    KeySource,
    StatusChecker,
    unenvelope,
    verify_vc_jwt,
    verify_vp_jwt,
)

__all__ = ["verify"]

_DEFAULT_POLICY: Final = VerificationPolicy()
_VP_ENVELOPE_PREFIXES: Final = tuple(
    f"data:application/{t}{sep}" for t in ("vp+jwt", "vp+ld+json+jwt", "vp+ld+jwt") for sep in ",;"
)


def verify(
    data: bytes | str,
    *,
    resolver: DidResolver | KeySource,
    clock: Clock,
    policy: VerificationPolicy = _DEFAULT_POLICY,
    status: StatusChecker | None = None,
) -> VerificationResult:
    """Verify a credential or presentation in any supported form."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    text = text.strip()
    # The JSON wrapper of a token may be larger than the token; beyond this, refuse unread.
    if len(text) > 2 * policy.max_token_bytes:
        return VerificationResult.failure(
            Step.PARSE,
            Code.INPUT_TOO_LARGE,
            f"input is {len(text)} bytes, the limit is {policy.max_token_bytes}",
            malformed=True,
        )
    try:
        token, presentation = _token_of(text, policy)
    except AncreError as error:
        return VerificationResult.failure(
            Step.PARSE,
            error.code,
            error.message,
            indeterminate=error.outcome == "indeterminate",
            malformed=isinstance(error, MalformedError),
        )
    run = verify_vp_jwt if presentation else verify_vc_jwt
    return run(token, resolver=resolver, clock=clock, policy=policy, status=status)


def _token_of(text: str, policy: VerificationPolicy) -> tuple[str, bool]:
    if text.startswith("{"):
        document = loads_strict(text, what="input", max_depth=policy.max_json_depth)
        return _from_json(document)
    header = unverified_header(text, max_bytes=policy.max_token_bytes)
    typ = str(header.get("typ", "")).lower().removeprefix("application/")
    if typ in VP_TYPS:
        return text, True
    if typ in ("", "jwt"):
        # VCDM 1.1 JWTs say what they are in the payload (`vp` or `vc` claim).
        parts = text.split(".")
        if len(parts) == 3:
            from ancre.trust._b64 import b64url_decode

            payload = loads_strict(b64url_decode(parts[1], what="JWS payload"), what="JWS payload")
            if isinstance(payload, dict) and "vp" in payload:
                return text, True
    return text, False


def _from_json(document: Any) -> tuple[str, bool]:
    if not isinstance(document, dict):
        raise MalformedError(Code.UNSUPPORTED_FORMAT, "expected a JSON object")
    kind = document.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if "EnvelopedVerifiableCredential" in kinds:
        return unenvelope(document), False
    if "EnvelopedVerifiablePresentation" in kinds:
        ident = str(document.get("id", ""))
        for prefix in _VP_ENVELOPE_PREFIXES:
            if ident.startswith(prefix):
                return ident[len(prefix) :], True
        raise MalformedError(
            Code.UNSUPPORTED_FORMAT, "EnvelopedVerifiablePresentation id is not a vp+jwt data URL"
        )
    if "proof" in document:
        raise MalformedError(
            Code.UNSUPPORTED_FORMAT,
            "embedded-proof (Data Integrity / LD) credentials are not supported yet",
        )
    raise MalformedError(
        Code.UNSUPPORTED_FORMAT, "no proof: not a verifiable credential or presentation"
    )
