"""`make audit`: known vulnerabilities in the pinned dependencies (issue 17, supply chain).

- Python: pip-audit over requirements/dev.lock (hashed pins, so no resolution: --no-deps
  --disable-pip), first against OSV, then against PyPI's vulnerability data.
- npm: `npm audit --omit=dev` over each test peer's lock (tests/*/package-lock.json).

A vulnerability service that does not answer is not a pass. Before trusting a service, a
canary (a pin with published advisories) must come back vulnerable; if no service passes
its canary, the audit says loudly that it was NOT performed. It then fails when
AUDIT_REQUIRED=1 and warns otherwise (docs/security.md, "Fuzzing and supply chain", says
why). A vulnerability found always fails.

Exit codes: 0 clean (or not performed, warned), 1 vulnerable or not performed while
required, 2 usage.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "dev.lock"
PIP_AUDIT = ROOT / ".venv" / "bin" / "pip-audit"
# Pins with long-published advisories: a service that finds nothing here is not answering.
PY_CANARY = "jinja2==2.10\n"
NPM_CANARY = {"name": "canary", "version": "1.0.0", "dependencies": {"minimist": "0.0.8"}}
TIMEOUT = 120


def _run(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(  # noqa: S603 - fixed tool paths, no shell
            args, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(args, 124, "", f"timed out after {TIMEOUT} s")


def _pip_audit(requirements: Path, service: str) -> tuple[int, list[dict[str, object]], str]:
    """(exit code, vulnerable dependencies, stderr) of one pip-audit run."""
    done = _run(
        [
            str(PIP_AUDIT),
            "--progress-spinner=off",
            "--strict",
            "--no-deps",
            "--disable-pip",
            "--format=json",
            f"--vulnerability-service={service}",
            "-r",
            str(requirements),
        ]
    )
    try:
        report = json.loads(done.stdout or "{}")
    except json.JSONDecodeError:
        report = {}
    vulnerable = [d for d in report.get("dependencies", []) if d.get("vulns")]
    return done.returncode, vulnerable, done.stderr.strip()


def audit_python() -> str:
    """'clean', 'vulnerable' or 'unavailable'."""
    with tempfile.TemporaryDirectory() as folder:
        canary = Path(folder) / "canary.txt"
        canary.write_text(PY_CANARY)
        for service in ("osv", "pypi"):
            _, found, why = _pip_audit(canary, service)
            if not found:
                print(f"   pip-audit: the {service} service does not answer ({why[-200:]})")
                continue
            code, vulnerable, why = _pip_audit(LOCK, service)
            for dep in vulnerable:
                ids = ", ".join(str(v.get("id")) for v in dep.get("vulns", []))  # type: ignore[attr-defined]
                print(f"   VULNERABLE {dep.get('name')}=={dep.get('version')}: {ids}")
            if vulnerable:
                return "vulnerable"
            if code != 0:
                print(f"   pip-audit ({service}) could not audit every pin: {why[-500:]}")
                return "unavailable"
            print(f"   pip-audit ({service}): no known vulnerability in {LOCK.name}")
            return "clean"
    return "unavailable"


def _npm_audit(folder: Path) -> tuple[int | None, str]:
    """(number of vulnerabilities, or None when the service did not answer; error text)."""
    done = _run(["npm", "audit", "--omit=dev", "--json"], cwd=folder)
    try:
        report = json.loads(done.stdout or "{}")
    except json.JSONDecodeError:
        return None, done.stderr.strip()[-300:]
    if "error" in report or "metadata" not in report:
        return None, str(report.get("message") or report.get("error") or done.stderr)[-300:]
    return int(report["metadata"]["vulnerabilities"]["total"]), ""


def audit_npm() -> str:
    with tempfile.TemporaryDirectory() as folder:
        canary = Path(folder)
        (canary / "package.json").write_text(json.dumps(NPM_CANARY))
        lock = _run(
            ["npm", "install", "--package-lock-only", "--ignore-scripts", "--no-audit"], cwd=canary
        )
        found, why = _npm_audit(canary) if lock.returncode == 0 else (None, lock.stderr[-300:])
        if not found:
            print(f"   npm audit: the advisory service does not answer ({why})")
            return "unavailable"
    status = "clean"
    for lockfile in sorted(ROOT.glob("tests/*/package-lock.json")):
        count, why = _npm_audit(lockfile.parent)
        where = lockfile.parent.relative_to(ROOT)
        if count is None:
            print(f"   npm audit {where}: no answer ({why})")
            status = "unavailable" if status == "clean" else status
        elif count:
            print(f"   VULNERABLE {where}: {count} (run `npm audit --omit=dev` there)")
            status = "vulnerable"
        else:
            print(f"   npm audit {where}: no known vulnerability")
    return status


def main() -> int:
    if not PIP_AUDIT.exists():
        print("audit: run `make install` first (pip-audit is a dev dependency)")
        return 2
    required = os.environ.get("AUDIT_REQUIRED") == "1"
    print("== audit: Python pins (requirements/dev.lock)")
    results = {"python": audit_python()}
    print("== audit: npm test peers (tests/*/package-lock.json)")
    results["npm"] = audit_npm()
    if "vulnerable" in results.values():
        print("== audit: FAILED, known vulnerabilities above")
        return 1
    missing = [name for name, status in results.items() if status == "unavailable"]
    if missing:
        print(
            "== audit: NOT PERFORMED for " + ", ".join(missing) + ": the vulnerability service "
            "is unreachable from this machine. This is not a pass."
        )
        if required:
            return 1
        print("   (warning only; set AUDIT_REQUIRED=1 to make this fail)")
        return 0
    print("== audit: clean")
    return 0


if __name__ == "__main__":
    sys.exit(main())
