"""Verification results: a value, not a boolean. Each check is a named step."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

from ancre.trust.errors import Code

__all__ = ["CheckResult", "ProofCheck", "Status", "Step", "VerificationResult"]


class Status(StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    INDETERMINATE = "indeterminate"


class Step(StrEnum):
    """The pipeline's steps, in the order they run (DESIGN.md "Verification")."""

    PARSE = "parse"
    FORMAT = "format"
    ISSUER_KEY = "issuer_key"
    SIGNATURE = "signature"
    DATA_MODEL = "data_model"
    TIME = "time"
    SCHEMA = "schema"
    STATUS = "status"
    TRUST = "trust"
    HOLDER_BINDING = "holder_binding"
    CREDENTIALS = "credentials"
    POLICY = "policy"


class CheckResult(NamedTuple):
    """One step's outcome. A skipped step is `ok` with `skipped=True` and says why.

    A named tuple rather than a frozen dataclass: as immutable, and half the cost to build on
    the verification hot path (ten per credential)."""

    step: Step
    ok: bool
    code: Code | None = None
    message: str = ""
    skipped: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"step": self.step.value, "ok": self.ok, "message": self.message}
        if self.code is not None:
            out["code"] = self.code.value
        if self.skipped:
            out["skipped"] = True
        return out


class ProofCheck(NamedTuple):
    """One proof's outcome in a Data Integrity document (a proof set or chain lists every
    proof; a single proof is listed too). `status` is `valid` only when its key and its
    signature were checked; a proof not reached (an earlier step failed for the document) is
    `indeterminate` with no code."""

    #: 0-based, in the document's `proof` list.
    position: int
    status: Status
    #: `DataIntegrityProof/<cryptosuite>` or the legacy proof type.
    suite: str
    verification_method: str
    id: str | None = None
    previous: tuple[str, ...] = ()
    code: Code | None = None
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "index": self.position,
            "status": self.status.value,
            "suite": self.suite,
            "verificationMethod": self.verification_method,
            "message": self.message,
        }
        if self.id is not None:
            out["id"] = self.id
        if self.previous:
            out["previousProof"] = list(self.previous)
        if self.code is not None:
            out["code"] = self.code.value
        return out


@dataclass(frozen=True, slots=True)
class VerificationResult:
    """What ancre found. `status` is `valid` only if every check that ran passed."""

    status: Status
    checks: tuple[CheckResult, ...]
    format: str | None = None
    #: Who issued the credential (for a presentation: None — see `holder`).
    issuer: str | None = None
    types: tuple[str, ...] = ()
    subject: str | None = None
    credential: Mapping[str, Any] | None = field(default=None, repr=False)
    header: Mapping[str, Any] | None = field(default=None, repr=False)
    #: For presentations: the result of each enclosed credential, in order.
    credentials: tuple[VerificationResult, ...] = ()
    #: True when the input could not even be parsed (the CLI exits 65 for it).
    malformed: bool = False
    #: For presentations: who presented it (the holder whose key signed it).
    holder: str | None = None
    #: Data Integrity: each proof's outcome, in document order (proof sets and chains).
    proofs: tuple[ProofCheck, ...] = ()

    @classmethod
    def failure(
        cls,
        step: Step,
        code: Code,
        message: str,
        *,
        indeterminate: bool = False,
        malformed: bool = False,
    ) -> VerificationResult:
        """A result for input that failed before any format-specific pipeline could run."""
        return cls(
            status=Status.INDETERMINATE if indeterminate else Status.INVALID,
            checks=(CheckResult(step, False, code, message),),
            malformed=malformed,
        )

    @property
    def valid(self) -> bool:
        return self.status is Status.VALID

    @property
    def errors(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if not c.ok)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "status": self.status.value,
            "format": self.format,
            "issuer": self.issuer,
            "types": list(self.types),
            "subject": self.subject,
            "checks": [c.to_json() for c in self.checks],
            "errors": [
                {
                    "code": None if c.code is None else c.code.value,
                    "message": c.message,
                    "step": c.step.value,
                }
                for c in self.errors
            ],
        }
        if self.holder is not None:
            out["holder"] = self.holder
        if self.credentials:
            out["credentials"] = [r.to_json() for r in self.credentials]
        if self.proofs:
            out["proofs"] = [p.to_json() for p in self.proofs]
        return out
