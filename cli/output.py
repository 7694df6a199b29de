"""Rendering for people (Rich, on a terminal) and machines (`--json`, one document)."""

from __future__ import annotations

import json
import re
import sys
from typing import Any, Final, Literal

from ancre.trust.result import Status, Step, VerificationResult

#: The `trust` field of `ancre verify --json` (stable): whether the issuer's trust was
#: decided, and from what. `not_checked`: no trust source was given, so VALID means only "a
#: valid signature by someone"; `checked`: decided by the trusted issuers or a current trust
#: list; `cached_list`: decided by the last accepted list, kept because the registry could not
#: be reached (still before the list's NextUpdate); `not_run`: a trust source was given but
#: verification stopped before the trust step.
TrustState = Literal["not_checked", "checked", "cached_list", "not_run"]

#: Every format runs the steps in the `Step` enum's order (`ancre.trust.engine.ORDER`).
ORDER: Final = tuple(Step)
#: Fractions of a second say nothing to a person reading a verdict.
_SUB_SECOND = re.compile(r"(T\d{2}:\d{2}:\d{2})\.\d+")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})?")

_MARK = {True: "[green]✓[/]", False: "[red]✗[/]"}
_HEADLINE = {
    Status.VALID: "[bold green]VALID[/]",
    Status.INVALID: "[bold red]INVALID[/]",
    Status.INDETERMINATE: "[bold yellow]INDETERMINATE[/]",
}


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def to_seconds(text: str) -> str:
    """`text` with ISO 8601 times cut to the second (for people; `--json` keeps them whole),
    unless cutting would make two different times in it read the same: "issued at
    10:00:00Z (listed from 10:00:00.4Z)" must not become "10:00:00Z (listed from 10:00:00Z)",
    which reads as a contradiction."""
    times = set(_TIME.findall(text))
    if len({_SUB_SECOND.sub(r"\1", t) for t in times}) < len(times):
        return text
    return _SUB_SECOND.sub(r"\1", text)


def not_run(result: VerificationResult) -> list[tuple[Step, str]]:
    """The steps a failed verification never reached, each with why: a verifier stops at
    the first failed step (checking dates of a forged document would mean nothing), but a
    person should still see everything that was *not* checked."""
    failed = next((c for c in result.checks if not c.ok), None)
    # Input that does not even parse ran nothing: nine "not run" lines would bury the reason.
    if failed is None or failed.step is Step.PARSE:
        return []
    done = {c.step for c in result.checks}
    later = ORDER[ORDER.index(failed.step) + 1 :]
    reason = f"not run: {failed.step.value} failed"
    return [(step, reason) for step in later if step not in done]


def trust_state(
    result: VerificationResult, *, source_given: bool, cached: bool = False
) -> TrustState:
    """The `trust` field: see `TrustState`."""
    if not source_given:
        return "not_checked"

    def ran(r: VerificationResult) -> bool:
        return any(c.step is Step.TRUST and not c.skipped for c in r.checks) or any(
            ran(inner) for inner in r.credentials
        )

    if not ran(result):
        return "not_run"
    return "cached_list" if cached else "checked"


def render_result(
    result: VerificationResult,
    *,
    indent: str = "",
    brief: bool = False,
    trust: TrustState | None = None,
    not_a_credential: bool = False,
) -> None:
    """Print a result: every check (and, on failure, every step not run and why), or with
    `brief` the headline and what failed. `trust` adds what the trust verdict rests on.
    `not_a_credential`: the input is not shaped like any credential (a README, a PDF), so
    the parse step says that rather than the parser's complaint about one format."""
    from rich.console import Console
    from rich.markup import escape

    console = Console(highlight=False, soft_wrap=True, emoji=False)
    what = result.format or "input"
    headline = _HEADLINE[result.status]
    if result.status is Status.VALID and trust == "not_checked":
        headline += " [yellow](issuer not checked: no trust source given)[/]"
    elif trust == "cached_list":
        headline += " [yellow](trust decided on the cached trust list: registry unreachable)[/]"
    console.print(f"{indent}{headline}  {escape(what)}")
    if result.issuer:
        console.print(f"{indent}  issuer   {escape(result.issuer)}")
    if result.holder:
        console.print(f"{indent}  holder   {escape(result.holder)}")
    if result.types:
        console.print(f"{indent}  types    {escape(', '.join(result.types))}")
    if result.subject:
        console.print(f"{indent}  subject  {escape(result.subject)}")
    for check in result.checks:
        if brief and check.ok:
            continue
        mark = "[dim]–[/]" if check.skipped else _MARK[check.ok]
        code = f" [bold]{escape(check.code)}[/]" if check.code else ""
        message = escape(to_seconds(check.message))
        if not_a_credential and check.step is Step.PARSE and not check.ok:
            message = "not a credential or presentation"
        console.print(f"{indent}  {mark} {check.step.value:<14}{code} {message}")
    if not brief:
        for step, reason in not_run(result):
            console.print(f"{indent}  [dim]– {step.value:<14} {reason}[/]")
    for i, inner in enumerate(result.credentials, 1):
        console.print(f"{indent}  credential {i}:")
        render_result(inner, indent=indent + "    ", brief=brief)
