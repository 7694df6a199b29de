"""The VC-API (W3C CCG VC-API, now VCALM) side of the verifier service: the `options` a
verify request may carry, the checks a client may ask for, and the VerificationResult body.

Options: every one the VC-API and VCALM define is accepted — `returnCredential`,
`returnPresentation`, `returnResults`, `returnProblemDetails`, `challenge`, `domain`,
`expectedProofPurpose` and the earlier VC-API's `checks` — and an option nobody defines is
refused (VC-API "Handling Unknown Options and Data": `unknown_option`).

`options.checks` names checks to run ("proof", "credentialStatus", "expiration"…, see
`CHECKS`). Each is mapped onto the engine's steps, and onto the policy switch that makes the
step run (`check_status`, `check_schema`, `require_trust`, `require_holder`): a listed check
always runs, even where the service's policy would have skipped it. A client cannot turn a
check *off* — what is not listed runs as the service's policy says — so listing checks never
loosens a verification. The response says which of the listed checks ran (`checks`, the
earlier VC-API's member) and, as a `problemDetails` warning, which did not (a verification
stops at its first failure).

A completed verification answers 200 with `verified` (VCALM) unless the service runs with
`failure_status=400`, for clients that read only the HTTP status: then a verification that
did not succeed answers 400 with the same body.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final, NamedTuple

from ancre.trust.data_integrity.proofs import FORMAT_LDP_VP
from ancre.trust.errors import AncreError, Code
from ancre.trust.jose.vc_jose import FORMAT_VP_JOSE, FORMAT_VP_JWT_11
from ancre.trust.policy import VerificationPolicy
from ancre.trust.problem import problem_type
from ancre.trust.result import Status, Step, VerificationResult
from ancre.trust.steps import Run, credentials_step

__all__ = [
    "CHECKS",
    "FAILURE_STATUSES",
    "STATUS_HEADER",
    "Check",
    "OptionError",
    "VcApiOptions",
    "check_bindable",
    "proofless",
    "read_options",
    "verification_body",
]

STATUS_HEADER: Final = "Ancre-Status"
#: The HTTP statuses a completed verification that failed may answer: VCALM's 200 (the
#: default, `verified: false` says it) or 400, for clients that read only the status.
FAILURE_STATUSES: Final = frozenset({200, 400})
#: The format a proofless presentation's result carries (`proofless`).
_PROOFLESS: Final = "presentation"
_PRESENTATION_FORMATS: Final = frozenset({FORMAT_VP_JOSE, FORMAT_VP_JWT_11, FORMAT_LDP_VP})


class Check(NamedTuple):
    """What a VC-API check name means to the engine."""

    #: The steps that perform it.
    steps: frozenset[Step]
    #: Where a presentation performs it: its own proof (`own`), each credential it carries
    #: (`in_credentials`), or both.
    own: bool
    in_credentials: bool
    #: The policy switch (a boolean field) that makes the step run, if one could skip it.
    policy_switch: str | None = None
    #: Only presentations bind a holder, a challenge or a domain.
    presentation_only: bool = False


def _check(*steps: Step, own: bool = True, switch: str | None = None) -> Check:
    """A credential check (a presentation also performs it on each credential it carries;
    `own`: on its own proof too)."""
    return Check(frozenset(steps), own=own, in_credentials=True, policy_switch=switch)


_PROOF = _check(Step.ISSUER_KEY, Step.SIGNATURE)
_STATUS = _check(Step.STATUS, own=False, switch="check_status")
_VALIDITY = _check(Step.TIME)
_SCHEMA = _check(Step.SCHEMA, own=False, switch="check_schema")
_TRUST = _check(Step.TRUST, own=False, switch="require_trust")
_BINDING = Check(
    frozenset({Step.HOLDER_BINDING}), own=True, in_credentials=False, presentation_only=True
)
_HOLDER = _BINDING._replace(policy_switch="require_holder")

#: The check names clients send (the earlier VC-API's `checks`: "proof", "credentialStatus";
#: didkit's "JWS"; the names of the properties a check reads) and what each means.
CHECKS: Final[Mapping[str, Check]] = {
    "proof": _PROOF,
    "JWS": _PROOF,
    "signature": _PROOF,
    "credentialStatus": _STATUS,
    "status": _STATUS,
    "expiration": _VALIDITY,
    "validity": _VALIDITY,
    "validFrom": _VALIDITY,
    "validUntil": _VALIDITY,
    "issuanceDate": _VALIDITY,
    "expirationDate": _VALIDITY,
    "credentialSchema": _SCHEMA,
    "schema": _SCHEMA,
    "trust": _TRUST,
    "challenge": _BINDING,
    "domain": _BINDING,
    "holder": _HOLDER,
}

_BOOLEAN_OPTIONS: Final = frozenset(
    {"returnCredential", "returnPresentation", "returnResults", "returnProblemDetails"}
)
_STRING_OPTIONS: Final = frozenset({"challenge", "domain", "expectedProofPurpose"})
_CREDENTIAL_OPTIONS: Final = frozenset(
    {"returnCredential", "returnResults", "returnProblemDetails", "checks"} | _STRING_OPTIONS
)
_PRESENTATION_OPTIONS: Final = frozenset(
    {"returnPresentation", "returnResults", "returnProblemDetails", "checks"} | _STRING_OPTIONS
)
#: The proof purpose each endpoint verifies (the issuer's assertion, the holder's
#: authentication); `expectedProofPurpose` may name it, never another.
_PURPOSES: Final = {False: "assertionMethod", True: "authentication"}


class OptionError(Exception):
    """A request's options the service cannot honour: answered 400 with `code`."""

    def __init__(self, code: Code, detail: str) -> None:
        super().__init__(detail)
        self.code, self.detail = code, detail


@dataclass(frozen=True)
class VcApiOptions:
    """A verify request's options, read and checked."""

    values: Mapping[str, Any]
    presentation: bool
    #: The checks the client listed, in its order and spelling (None: it listed none).
    checks: tuple[str, ...] | None = None

    def flag(self, name: str, default: bool = False) -> bool:
        return bool(self.values.get(name, default))

    def tighten(self, policy: VerificationPolicy) -> VerificationPolicy:
        """`policy` with every listed check's step switched on (never off)."""
        switches: dict[str, Any] = {
            check.policy_switch: True
            for check in (CHECKS[name] for name in self.checks or ())
            if check.policy_switch is not None
        }
        return replace(policy, **switches) if switches else policy


def read_options(raw: Any, *, presentation: bool) -> VcApiOptions:
    """A verify request's `options`; raises `OptionError` for an option no VC-API version
    defines (`unknown_option`), a value of the wrong type or one ancre cannot honour
    (`invalid_request`)."""
    if raw is None:
        return VcApiOptions({}, presentation)
    if not isinstance(raw, dict):
        raise OptionError(Code.INVALID_REQUEST, "options must be a JSON object")
    allowed = _PRESENTATION_OPTIONS if presentation else _CREDENTIAL_OPTIONS
    for name, value in raw.items():
        if name not in allowed:
            raise OptionError(Code.UNKNOWN_OPTION, f"unknown option {name!r}")
        if name in _BOOLEAN_OPTIONS and not isinstance(value, bool):
            raise OptionError(Code.INVALID_REQUEST, f"option {name!r} must be a boolean")
        if name in _STRING_OPTIONS and not isinstance(value, str):
            raise OptionError(Code.INVALID_REQUEST, f"option {name!r} must be a string")
    purpose = raw.get("expectedProofPurpose", _PURPOSES[presentation])
    if purpose != _PURPOSES[presentation]:
        kind = "presentation" if presentation else "credential"
        raise OptionError(
            Code.INVALID_REQUEST,
            f"a {kind}'s proof is verified for proofPurpose {_PURPOSES[presentation]}; "
            f"expectedProofPurpose {str(purpose)[:60]!r} cannot be met",
        )
    checks = _read_checks(raw["checks"], presentation) if "checks" in raw else None
    return VcApiOptions(raw, presentation, checks)


def check_bindable(options: VcApiOptions, *, proofless: bool, audiences: bool) -> None:
    """Refuse (`invalid_request`) listed binding checks nothing could perform: a proofless
    presentation binds nothing; `challenge` needs the option; `domain` needs the option or
    audiences the service is configured with (`audiences`)."""
    listed = set(options.checks or ())
    if proofless and ("challenge" in options.values or "domain" in options.values):
        raise OptionError(
            Code.INVALID_REQUEST,
            "a proofless presentation cannot be bound to a challenge or domain",
        )
    if proofless and any(CHECKS[name].presentation_only for name in listed):
        raise OptionError(
            Code.INVALID_REQUEST,
            "a proofless presentation binds no holder, challenge or domain: "
            f"checks {sorted(n for n in listed if CHECKS[n].presentation_only)} cannot run",
        )
    if "challenge" in listed and "challenge" not in options.values:
        raise OptionError(
            Code.INVALID_REQUEST, "check 'challenge' needs the option 'challenge' to check"
        )
    if "domain" in listed and "domain" not in options.values and not audiences:
        raise OptionError(
            Code.INVALID_REQUEST,
            "check 'domain' needs the option 'domain' (this service is configured with no "
            "audience of its own)",
        )


def _read_checks(value: Any, presentation: bool) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise OptionError(Code.INVALID_REQUEST, "option 'checks' must be an array of strings")
    for name in value:
        check = CHECKS.get(name)
        if check is None:
            raise OptionError(
                Code.UNKNOWN_OPTION, f"unknown check {name[:60]!r}; known: {sorted(CHECKS)}"
            )
        if check.presentation_only and not presentation:
            raise OptionError(
                Code.UNKNOWN_OPTION, f"check {name!r} applies to presentations, not credentials"
            )
    return tuple(dict.fromkeys(value))


# ------------------------------------------------------------------------------------------
# the response


# VC-API `results` members and the pipeline steps whose checks answer them.
_CREDENTIAL_RESULTS: Final = {
    "validFrom": (Step.TIME,),
    "validUntil": (Step.TIME,),
    "credentialSchema": (Step.DATA_MODEL, Step.SCHEMA),
    "credentialStatus": (Step.STATUS,),
    "proof": (Step.ISSUER_KEY, Step.SIGNATURE),
}
_PRESENTATION_RESULTS: Final = {
    "challenge": (Step.HOLDER_BINDING,),
    "domain": (Step.HOLDER_BINDING,),
    "holder": (Step.HOLDER_BINDING,),
    "proof": (Step.ISSUER_KEY, Step.SIGNATURE),
}


def _problem_details(result: VerificationResult) -> list[dict[str, str]]:
    """ProblemDetails (VC-API "Error Handling": `type` a URL): one per failed check, and one
    per skipped check as a warning (a verified result may carry warnings, never errors)."""
    out = []
    for check in result.checks:
        if not check.ok:
            code = check.code or "error"
            out.append(
                {
                    "type": problem_type(code),
                    "title": code,
                    "detail": check.message,
                    "code": code,
                    "step": check.step.value,
                }
            )
        elif check.skipped:
            out.append(
                {
                    "type": "urn:ancre:warning:skipped",
                    "title": f"{check.step.value} not evaluated",
                    "detail": check.message,
                    "step": check.step.value,
                }
            )
    return out


def _results(
    result: VerificationResult, members: Mapping[str, tuple[Step, ...]]
) -> dict[str, list[dict[str, Any]]]:
    by_step: dict[Step, list[dict[str, Any]]] = {}
    for check in result.checks:
        item: dict[str, Any] = {"verified": check.ok, "step": check.step.value}
        if check.code is not None:
            item["code"] = check.code
        if check.message:
            item["detail"] = check.message
        by_step.setdefault(check.step, []).append(item)
    return {
        name: [i for step in steps for i in by_step.get(step, [])]
        for name, steps in members.items()
    }


def _ran_in(result: VerificationResult, steps: frozenset[Step]) -> bool:
    return any(c.step in steps and not c.skipped for c in result.checks)


def _ran(result: VerificationResult, check: Check) -> bool:
    """Whether `result` performed `check`: for a presentation, on its own proof and/or on
    every credential it carries, as the check says."""
    if result.format not in _PRESENTATION_FORMATS and result.format != _PROOFLESS:
        return _ran_in(result, check.steps)
    if check.own and not _ran_in(result, check.steps):
        return False
    nested = result.credentials
    return not check.in_credentials or (
        bool(nested) and all(_ran_in(inner, check.steps) for inner in nested)
    )


def _not_run(name: str) -> dict[str, str]:
    return {
        "type": "urn:ancre:warning:check-not-run",
        "title": f"{name} not run",
        "detail": f"the check {name!r} was asked for and did not run: the verification "
        "stopped at an earlier failure, or the input has nothing it applies to",
        "check": name,
    }


def verification_body(
    result: VerificationResult, options: VcApiOptions, submitted: Any
) -> dict[str, Any]:
    """A VC-API VerificationResult: `verified` true only for a valid result; with
    `options.checks`, which of them ran."""
    body: dict[str, Any] = {"verified": result.valid}
    problems = _problem_details(result) if options.flag("returnProblemDetails", True) else None
    if options.checks is not None:
        ran = [name for name in options.checks if _ran(result, CHECKS[name])]
        body["checks"] = ran
        if problems is not None:
            problems += [_not_run(name) for name in options.checks if name not in ran]
    if problems is not None:
        body["problemDetails"] = problems
    if options.flag("returnResults"):
        members = _PRESENTATION_RESULTS if options.presentation else _CREDENTIAL_RESULTS
        body["results"] = _results(result, members)
    if options.flag("returnPresentation" if options.presentation else "returnCredential"):
        body["verifiablePresentation" if options.presentation else "credential"] = submitted
    return body


# ------------------------------------------------------------------------------------------
# proofless presentations


def proofless(
    presentation: Any, verify_one: Callable[[Any], VerificationResult]
) -> VerificationResult:
    """A ProoflessVerifyPresentationRequest: no holder proof to check, so the result is that
    of the credentials it carries (each verified in full), with holder binding skipped."""
    if not isinstance(presentation, dict):
        return VerificationResult.failure(
            Step.PARSE, Code.INVALID_PRESENTATION, "presentation must be a JSON object"
        )
    types = presentation.get("type")
    if "VerifiablePresentation" not in (types if isinstance(types, list) else [types]):
        return VerificationResult.failure(
            Step.FORMAT,
            Code.INVALID_PRESENTATION,
            "presentation type must include VerifiablePresentation",
        )
    entries = presentation.get("verifiableCredential")
    entries = entries if isinstance(entries, list) else [] if entries is None else [entries]
    if not entries:
        return VerificationResult.failure(
            Step.CREDENTIALS, Code.INVALID_PRESENTATION, "the presentation carries no credential"
        )
    nested = tuple(verify_one(entry) for entry in entries)
    run = Run()
    run.fmt = _PROOFLESS
    run.skip(Step.HOLDER_BINDING, "proofless presentation: no holder proof to bind")
    try:
        credentials_step(run, nested)
    except AncreError as error:
        return run.fail(Step.CREDENTIALS, error, nested)
    return run.result(Status.VALID, nested)
