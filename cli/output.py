"""Rendering for people (Rich, on a terminal) and machines (`--json`, one document)."""

from __future__ import annotations

import json
import sys
from typing import Any

from ancre.trust.result import Status, VerificationResult

_MARK = {True: "[green]✓[/]", False: "[red]✗[/]"}
_HEADLINE = {
    Status.VALID: "[bold green]VALID[/]",
    Status.INVALID: "[bold red]INVALID[/]",
    Status.INDETERMINATE: "[bold yellow]INDETERMINATE[/]",
}


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def render_result(result: VerificationResult, *, indent: str = "", brief: bool = False) -> None:
    """Print a result: every check, or with `brief` the headline and what failed."""
    from rich.console import Console
    from rich.markup import escape

    console = Console(highlight=False, soft_wrap=True, emoji=False)
    what = result.format or "input"
    console.print(f"{indent}{_HEADLINE[result.status]}  {escape(what)}")
    if result.issuer:
        console.print(f"{indent}  issuer   {escape(result.issuer)}")
    if result.types:
        console.print(f"{indent}  types    {escape(', '.join(result.types))}")
    if result.subject:
        console.print(f"{indent}  subject  {escape(result.subject)}")
    for check in result.checks:
        if brief and check.ok:
            continue
        mark = "[dim]–[/]" if check.skipped else _MARK[check.ok]
        code = f" [bold]{escape(check.code)}[/]" if check.code else ""
        console.print(f"{indent}  {mark} {check.step.value:<14}{code} {escape(check.message)}")
    for i, inner in enumerate(result.credentials, 1):
        console.print(f"{indent}  credential {i}:")
        render_result(inner, indent=indent + "    ", brief=brief)
