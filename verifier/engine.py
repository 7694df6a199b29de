"""The verification engine: one `Verifier`, built once from a frozen `VerifyContext`.

`Verifier.verify(data, expect=…)` takes any input ancre reads (a compact JWS, an SD-JWT,
JSON text, a parsed JSON object, or a COSE_Sign1 as raw CBOR bytes), finds its format with
`detect_format` (the one place that decides it), refuses what the caller did not ask for,
and runs the format's adapter through every step, in the one order of
`ancre.trust.engine.ORDER`. The CLI, the VC-API service, OpenID4VP, the library API
(`ancre.Verifier`) and the wallet all go through it;
`ancre.verifier.factory.build_verifier` makes one from configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

from ancre.trust.engine import (
    Detected,
    Kind,
    VerifyContext,
    _cose_kind,
    detect_format,
    verify_detected,
)
from ancre.trust.errors import AncreError, Code, MalformedError
from ancre.trust.policy import VerificationPolicy
from ancre.trust.result import Step, VerificationResult

__all__ = ["Expect", "Verifier", "VerifyContext", "detect_format"]

Expect = Literal["credential", "presentation"]
_PRESENTATION_KINDS: Final = frozenset(k for k in Kind if k.presentation)
#: An SD-JWT VC is both: with a key-binding JWT it is its own presentation (so is a
#: `vc+sd-jwt`, which may carry one). A `vc+cose` credential carries no binding.
_CREDENTIAL_KINDS: Final = frozenset({Kind.VC_JWT, Kind.DI_VC, Kind.VC_COSE})


class Verifier:
    """Verifies credentials and presentations of every format against one context."""

    __slots__ = ("_context",)

    def __init__(self, context: VerifyContext) -> None:
        self._context = context

    @property
    def context(self) -> VerifyContext:
        return self._context

    @property
    def policy(self) -> VerificationPolicy:
        return self._context.policy

    def verify(
        self,
        data: bytes | str | Mapping[str, Any],
        *,
        expect: Expect | None = None,
        policy: VerificationPolicy | None = None,
        parsed: bool = False,
    ) -> VerificationResult:
        """Verify `data` in any supported form; `policy` replaces the context's for this
        call (a request's own nonce and audience). When the policy asks for a `nonce` or
        `audience`, a bare credential (no holder proof to carry them) is refused: the binding
        is never silently dropped. `expect` refuses the other kind. `parsed` says `data` is
        a value taken from parsed JSON (a service request's member): a string is then a
        token, and one holding a JSON object is refused (`document_not_a_map`) rather than
        read as JSON text. Never raises for bad input: the result says what is wrong."""
        context = self._context if policy is None else self._context._replace(policy=policy)
        detected = _detect(data, context.policy, parsed=parsed)
        if isinstance(detected, VerificationResult):
            return detected
        refused = _refusal(detected.kind, context.policy, expect)
        if refused is not None:
            return refused
        return verify_detected(detected, context)


def _detect(
    data: Any, policy: VerificationPolicy, *, parsed: bool
) -> Detected | VerificationResult:
    try:
        if isinstance(data, bytes | bytearray):
            binary = _detect_binary(bytes(data), policy)
            if binary is not None:
                return binary
            data = bytes(data).decode("utf-8")  # _detect_binary refused what is not UTF-8
        if isinstance(data, str):
            text = data.strip()
            # The JSON wrapper of a token may be larger than the token; beyond this, refuse
            # unread.
            if len(text) > 2 * policy.max_token_bytes:
                return VerificationResult.failure(
                    Step.PARSE,
                    Code.INPUT_TOO_LARGE,
                    f"input is {len(text)} bytes, the limit is {policy.max_token_bytes}",
                    malformed=True,
                )
            return detect_format(text, policy, parsed=parsed and isinstance(data, str))
        # Already parsed, strictly and within its size limit, by the caller (the service).
        return detect_format(data, policy, parsed=parsed)
    except AncreError as error:
        return VerificationResult.failure(
            Step.PARSE,
            error.code,
            error.message,
            indeterminate=error.outcome == "indeterminate",
            malformed=isinstance(error, MalformedError),
        )


#: CBOR tag 18 then an array of four (a tagged COSE_Sign1), or the bare array (untagged):
#: neither can open UTF-8 text, so raw CBOR is told from a token by its first bytes.
_SIGN1_OPENINGS: Final = (b"\xd2\x84", b"\x84")


def _detect_binary(data: bytes, policy: VerificationPolicy) -> Detected | VerificationResult | None:
    """Raw CBOR (a `vc+cose`/`vp+cose` COSE_Sign1, as `issue_vc_cose` returns it and a
    `.cose` file holds) detected as bytes; other bytes that are not UTF-8 text refused as
    binary data; None for UTF-8 text, which is read as text."""
    if data.startswith(_SIGN1_OPENINGS):
        if len(data) > policy.max_token_bytes:
            return VerificationResult.failure(
                Step.PARSE,
                Code.INPUT_TOO_LARGE,
                f"input is {len(data)} bytes, the limit is {policy.max_token_bytes}",
                malformed=True,
            )
        return Detected(_cose_kind(data), data)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        return VerificationResult.failure(
            Step.PARSE,
            Code.MALFORMED_TOKEN,
            f"binary data (not UTF-8 at byte {error.start}) that is not a COSE_Sign1 (CBOR "
            "tag 18): not a credential or presentation ancre reads",
            malformed=True,
        )
    return None


def _refusal(
    kind: Kind, policy: VerificationPolicy, expect: Expect | None
) -> VerificationResult | None:
    if kind in _CREDENTIAL_KINDS and (policy.nonce is not None or policy.accepted_audiences):
        return VerificationResult.failure(
            Step.HOLDER_BINDING,
            Code.POLICY_VIOLATION,
            "a nonce/audience binding is required, and a credential alone carries none: "
            "send it inside a presentation bound to them",
        )
    if expect == "credential" and kind in _PRESENTATION_KINDS:
        return VerificationResult.failure(
            Step.FORMAT, Code.UNSUPPORTED_FORMAT, "a presentation where a credential was expected"
        )
    if expect == "presentation" and kind in _CREDENTIAL_KINDS:
        return VerificationResult.failure(
            Step.FORMAT, Code.UNSUPPORTED_FORMAT, "a credential where a presentation was expected"
        )
    return None
