"""`make audit`: known vulnerabilities in the pinned dependencies (issue 17, supply chain).

Live mode (no argument):

- Python: pip-audit over requirements/dev.lock (hashed pins, so no resolution: --no-deps
  --disable-pip), first against OSV, then against PyPI's per-version data. When neither
  answers (this machine: api.osv.dev does not resolve, /pypi/<name>/<version>/json is a 404),
  PyPI's *project* JSON (/pypi/<name>/json), whose `vulnerabilities` list speaks for the
  latest release only: a pin that is the latest release is checked by it, any other pin is
  "not checkable" and listed as such.
- npm: `npm audit --omit=dev` over each test peer's lock (tests/*/package-lock.json).

Offline mode (`--advisory-db PATH`): every pin of requirements/dev.lock and every package of
tests/*/package-lock.json is matched against a snapshot of OSV records (a folder of OSV
.yaml/.json files, or a bare git clone of one, e.g. github.com/pypa/advisory-database):
`affected[].versions` and `affected[].ranges` (ECOSYSTEM ranges with PEP 440 order for PyPI,
semantic-version order for npm). The snapshot's date bounds what it can know.

A vulnerability service that does not answer is not a pass. Before trusting a service, a
canary (a pin with published advisories) must come back vulnerable; pins the audit could not
check are listed. When anything was NOT PERFORMED or not checkable, the audit says so loudly;
it then fails when AUDIT_REQUIRED=1 and warns otherwise (docs/security.md, "Fuzzing and supply
chain", says why). A vulnerability found always fails.

Exit codes: 0 clean (or not performed, warned), 1 vulnerable or not performed while
required, 2 usage.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "dev.lock"
PIP_AUDIT = ROOT / ".venv" / "bin" / "pip-audit"
# Pins with long-published advisories: a service that finds nothing here is not answering.
PY_CANARY = "jinja2==2.10\n"
# For PyPI's project JSON the canary must be a project whose *latest* release is vulnerable:
# pycrypto 2.6.1 (abandoned in 2013; PYSEC-2017-94, PYSEC-2018-97, two GHSA).
PY_PROJECT_CANARY = ("pycrypto", "2.6.1")
NPM_CANARY = {"name": "canary", "version": "1.0.0", "dependencies": {"minimist": "0.0.8"}}
TIMEOUT = 120
PYPI_JSON = os.environ.get("AUDIT_PYPI_URL", "https://pypi.org/pypi")
# A project JSON lists every release with its files: a few MB for the largest pins.
MAX_PROJECT_JSON = 64 * 1024 * 1024
MAX_OSV_RECORD = 4 * 1024 * 1024
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)


def _run(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(  # noqa: S603 - fixed tool paths, no shell
            args, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(args, 124, "", f"timed out after {TIMEOUT} s")


def read_pins(text: str) -> list[tuple[str, str]]:
    """(name, version) of each `name==version` line of a requirements file."""
    return [(name, version) for name, version in PIN.findall(text)]


def read_npm_lock(lock: dict[str, Any]) -> list[tuple[str, str]]:
    """(name, version) of every installed package of an npm lock (lockfileVersion 2 or 3)."""
    found: set[tuple[str, str]] = set()
    packages = lock.get("packages")
    if not isinstance(packages, dict):
        raise TypeError("no `packages` object: lockfileVersion 2 or 3 expected")
    for where, entry in packages.items():
        if not where or not isinstance(entry, dict) or entry.get("link"):
            continue  # "" is the project itself; a link points at another entry
        name = entry.get("name") or where.rsplit("node_modules/", 1)[-1]
        version = entry.get("version")
        if isinstance(name, str) and isinstance(version, str):
            found.add((name, version))
    return sorted(found)


# -- version order ----------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class SemVer:
    """A semantic version (semver.org §11 precedence); build metadata is ignored.

    A missing minor or patch reads as 0: some advisories write a bound as "1.2".
    """

    core: tuple[int, int, int]
    # A release sorts after all its pre-releases: (1,) after (0, ...).
    pre: tuple[tuple[int, tuple[tuple[int, int, str], ...]], ...] = field(default=((1, ()),))

    @classmethod
    def parse(cls, text: str) -> SemVer:
        match = re.fullmatch(
            r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?",
            text.strip(),
        )
        if not match:
            raise ValueError(f"not a semantic version: {text!r}")
        core = (int(match[1]), int(match[2] or 0), int(match[3] or 0))
        if match[4] is None:
            return cls(core)
        # Numeric identifiers sort before alphanumeric ones, numerically among themselves.
        ids = tuple(
            (0, int(part), "") if part.isdigit() else (1, 0, part) for part in match[4].split(".")
        )
        return cls(core, ((0, ids),))


def _version_key(ecosystem: str) -> Callable[[str], Any]:
    if ecosystem == "npm":
        return SemVer.parse
    return Version


def _affected_by_range(
    events: list[dict[str, str]], version: Any, key: Callable[[str], Any]
) -> bool:
    """OSV's evaluation of one range: walk the events in version order (osv.dev schema)."""

    def order(event: dict[str, str]) -> tuple[Any, ...]:
        value = next(iter(event.values()))
        return (0,) if value == "0" else (1, key(value))

    affected = False
    for event in sorted(events, key=order):
        if "introduced" in event:
            start = event["introduced"]
            if start == "0" or version >= key(start):
                affected = True
        elif ("fixed" in event and version >= key(event["fixed"])) or (
            "last_affected" in event and version > key(event["last_affected"])
        ):
            affected = False
    return affected


class Undecided(Exception):  # noqa: N818 - a verdict, not a failure of the checker
    """The record has a range this version cannot be placed in: neither affected nor clear."""


def osv_affects(record: dict[str, Any], ecosystem: str, name: str, version: str) -> bool:
    """Whether an OSV record (already parsed) says `name` `version` of `ecosystem` is affected.

    Raises Undecided rather than answer "not affected" when a range could not be evaluated
    (the version or a bound is not orderable) and the `versions` list does not name it.
    """
    if record.get("withdrawn"):
        return False
    key = _version_key(ecosystem)
    wanted = _package_key(ecosystem, name)
    try:
        parsed = key(version)
    except (InvalidVersion, ValueError):
        parsed = None
    undecided = ""
    for affected in record.get("affected") or []:
        package = affected.get("package") or {}
        if package.get("ecosystem") != ecosystem:
            continue
        if _package_key(ecosystem, str(package.get("name", ""))) != wanted:
            continue
        listed = [str(v) for v in affected.get("versions") or []]
        if version in listed:
            return True
        if parsed is not None and any(_same(key, v, parsed) for v in listed):
            return True
        for span in affected.get("ranges") or []:
            if span.get("type") not in ("ECOSYSTEM", "SEMVER"):
                continue  # GIT ranges name commits, not releases
            if parsed is None:
                undecided = f"version {version!r} cannot be ordered"
                continue
            try:
                if _affected_by_range(list(span.get("events") or []), parsed, key):
                    return True
            except (InvalidVersion, ValueError) as error:
                undecided = f"a range bound cannot be ordered ({error})"
    if undecided:
        raise Undecided(undecided)
    return False


def _same(key: Callable[[str], Any], listed: str, parsed: Any) -> bool:
    """A listed version equal to the parsed one; a legacy string ("0.7.10p1") is not."""
    try:
        return bool(key(listed) == parsed)
    except (InvalidVersion, ValueError):
        return False


def _package_key(ecosystem: str, name: str) -> str:
    return str(canonicalize_name(name)) if ecosystem == "PyPI" else name


# -- offline mode: an OSV snapshot ------------------------------------------------------


@dataclass
class AdvisoryDb:
    """OSV records indexed by (ecosystem, package), with where the snapshot came from."""

    records: dict[tuple[str, str], list[dict[str, Any]]]
    source: str
    newest_modified: str
    unreadable: int

    def count(self, ecosystem: str) -> int:
        return sum(len(v) for (eco, _), v in self.records.items() if eco == ecosystem)

    def find(self, ecosystem: str, name: str, version: str) -> tuple[list[str], list[str]]:
        """Ids (with aliases) of the records that affect this version, and of those undecided."""
        hits, undecided = [], []
        for record in self.records.get((ecosystem, _package_key(ecosystem, name)), []):
            aliases = ", ".join(str(a) for a in record.get("aliases") or [])
            label = f"{record.get('id')}" + (f" ({aliases})" if aliases else "")
            try:
                if osv_affects(record, ecosystem, name, version):
                    hits.append(label)
            except Undecided as why:
                undecided.append(f"{label}: {why}")
        return hits, undecided


def _parse_record(name: str, text: str) -> dict[str, Any] | None:
    if len(text) > MAX_OSV_RECORD:
        return None
    try:
        value = json.loads(text) if name.endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError):
        return None
    return value if isinstance(value, dict) and "affected" in value else None


def _git_files(repo: Path) -> Iterator[tuple[str, str]]:
    """(path, text) of every .json/.yaml file at HEAD of a (bare) git repository."""
    listing = _run(["git", "-C", str(repo), "ls-tree", "-r", "HEAD"])
    blobs = []
    for line in listing.stdout.splitlines():
        meta, _, path = line.partition("\t")
        parts = meta.split()
        if len(parts) == 3 and parts[1] == "blob" and path.endswith((".json", ".yaml", ".yml")):
            blobs.append((path, parts[2]))
    batch = subprocess.Popen(  # noqa: S603
        ["git", "-C", str(repo), "cat-file", "--batch"],  # noqa: S607
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    if batch.stdin is None or batch.stdout is None:  # pragma: no cover - PIPE was asked
        raise OSError("git cat-file: no pipes")
    try:
        for path, sha in blobs:
            batch.stdin.write(sha.encode() + b"\n")
            batch.stdin.flush()
            header = batch.stdout.readline().split()
            size = int(header[2])
            data = batch.stdout.read(size)
            batch.stdout.read(1)
            yield path, data.decode("utf-8", "replace")
    finally:
        batch.stdin.close()
        batch.stdout.close()
        batch.wait()


def _tree_files(folder: Path) -> Iterator[tuple[str, str]]:
    for path in sorted(folder.rglob("*")):
        if path.suffix in (".json", ".yaml", ".yml") and path.is_file():
            yield str(path.relative_to(folder)), path.read_text("utf-8", "replace")


def load_advisory_db(path: Path) -> AdvisoryDb:
    is_bare = (path / "HEAD").is_file() and (path / "objects").is_dir()
    is_git = is_bare or (path / ".git").exists()
    files: Iterable[tuple[str, str]] = _git_files(path) if is_bare else _tree_files(path)
    records: dict[tuple[str, str], list[dict[str, Any]]] = {}
    newest, unreadable = "", 0
    for name, text in files:
        if name.startswith(".github/"):
            continue
        record = _parse_record(name, text)
        if record is None:
            unreadable += 1
            continue
        modified = record.get("modified", "")  # YAML reads a timestamp as a datetime
        modified = modified.isoformat() if hasattr(modified, "isoformat") else str(modified)
        newest = max(newest, modified.replace("+00:00", "Z"))
        keys = set()
        for affected in record.get("affected") or []:
            package = affected.get("package") or {}
            eco, pkg = str(package.get("ecosystem", "")), str(package.get("name", ""))
            if eco in ("PyPI", "npm") and pkg:
                keys.add((eco, _package_key(eco, pkg)))
        for k in keys:
            records.setdefault(k, []).append(record)
    source = str(path)
    if is_git:
        head = _run(["git", "-C", str(path), "log", "-1", "--format=%H committed %cI"])
        if head.returncode == 0:
            source += f" at {head.stdout.strip()}"
    return AdvisoryDb(records, source, newest, unreadable)


def audit_offline(db_path: Path, required: bool) -> int:
    if not db_path.is_dir():
        print(f"audit: --advisory-db {db_path}: not a folder")
        return 2
    db = load_advisory_db(db_path)
    print(f"== audit (offline): OSV snapshot {db.source}")
    print(
        f"   newest record modified {db.newest_modified or '?'}; "
        f"{db.count('PyPI')} PyPI and {db.count('npm')} npm package records"
        + (f"; {db.unreadable} files were not OSV records" if db.unreadable else "")
    )
    print("   Advisories published after the snapshot are NOT known to this check.")
    found, unchecked = 0, []
    targets: list[tuple[str, str, list[tuple[str, str]]]] = [
        ("PyPI", str(LOCK.relative_to(ROOT)), read_pins(LOCK.read_text()))
    ]
    for lockfile in sorted(ROOT.glob("tests/*/package-lock.json")):
        targets.append(
            (
                "npm",
                str(lockfile.relative_to(ROOT)),
                read_npm_lock(json.loads(lockfile.read_text())),
            )
        )
    for ecosystem, where, packages in targets:
        if not db.count(ecosystem):
            print(f"   {where}: NOT CHECKED, the snapshot holds no {ecosystem} advisory")
            unchecked.append(where)
            continue
        hits = 0
        for name, version in packages:
            affected, undecided = db.find(ecosystem, name, version)
            for advisory in affected:
                print(f"   VULNERABLE {where}: {name} {version}: {advisory}")
                hits += 1
            for advisory in undecided:
                print(f"   UNDECIDED {where}: {name} {version}: {advisory}")
                unchecked.append(f"{name} {version} in {where}")
        found += hits
        if not hits:
            print(f"   {where}: {len(packages)} packages, no known vulnerability")
    if found:
        print(f"== audit (offline): FAILED, {found} known vulnerabilities above")
        return 1
    if unchecked:
        print("== audit (offline): NOT PERFORMED for " + ", ".join(unchecked) + ". Not a pass.")
        return 1 if required else 0
    print("== audit (offline): clean against this snapshot")
    return 0


# -- live mode --------------------------------------------------------------------------


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


def fetch_project_json(name: str, base: str = PYPI_JSON) -> dict[str, Any]:
    """PyPI's JSON for a project (bounded, strict): raises OSError, ValueError or TypeError."""
    # The normalised name: PyPI answers other spellings with a redirect.
    url = f"{base.rstrip('/')}/{urllib.parse.quote(canonicalize_name(name))}/json"
    with urllib.request.urlopen(url, timeout=60) as answer:  # noqa: S310 - fixed https base
        body = answer.read(MAX_PROJECT_JSON + 1)
    if len(body) > MAX_PROJECT_JSON:
        raise ValueError(f"{url}: answer larger than {MAX_PROJECT_JSON} bytes")
    value = json.loads(body)
    if not isinstance(value, dict) or not isinstance(value.get("info"), dict):
        raise TypeError(f"{url}: not a project JSON (no `info` object)")
    if not isinstance(value.get("vulnerabilities"), list):
        raise TypeError(f"{url}: no `vulnerabilities` list")
    return value


@dataclass(frozen=True)
class PinVerdict:
    """'clean', 'vulnerable' or 'unchecked' for one pin, with why."""

    status: str
    detail: str


def judge_pin(project: dict[str, Any], version: str) -> PinVerdict:
    """What a project JSON proves about one pinned version.

    Its `vulnerabilities` list speaks for the latest release (`info.version`) only, so any
    other pin is unchecked, not clean.
    """
    latest = str(project["info"].get("version", ""))
    try:
        pin, newest = Version(version), Version(latest)
    except InvalidVersion:
        return PinVerdict("unchecked", f"version {version!r} or latest {latest!r} is not PEP 440")
    if pin != newest:
        return PinVerdict("unchecked", f"not the latest release ({latest})")
    ids = []
    for entry in project["vulnerabilities"]:
        if not isinstance(entry, dict) or entry.get("withdrawn"):
            continue
        fixed = []
        for value in entry.get("fixed_in") or []:
            try:
                fixed.append(Version(str(value)))
            except InvalidVersion:
                continue
        # PyPI lists the entries for this release; a fix at or below it would be a stale entry.
        if fixed and all(f <= pin for f in fixed):
            continue
        aliases = ", ".join(str(a) for a in entry.get("aliases") or [])
        ids.append(str(entry.get("id")) + (f" ({aliases})" if aliases else ""))
    if ids:
        return PinVerdict("vulnerable", "; ".join(ids))
    return PinVerdict("clean", "latest release, no advisory")


def audit_python_project_json(
    pins: list[tuple[str, str]], base: str = PYPI_JSON, canary: tuple[str, str] = PY_PROJECT_CANARY
) -> str:
    """'clean', 'vulnerable', 'partial' (some pins unchecked) or 'unavailable'."""
    try:
        verdict = judge_pin(fetch_project_json(canary[0], base), canary[1])
    except (OSError, ValueError, TypeError) as error:
        print(f"   PyPI project JSON: no answer for the canary ({str(error)[-200:]})")
        return "unavailable"
    if verdict.status != "vulnerable":
        print(f"   PyPI project JSON: canary {canary[0]}=={canary[1]} came back {verdict.status}")
        return "unavailable"

    def one(pin: tuple[str, str]) -> tuple[str, str, PinVerdict]:
        try:
            return (*pin, judge_pin(fetch_project_json(pin[0], base), pin[1]))
        except (OSError, ValueError, TypeError) as error:
            return (*pin, PinVerdict("unchecked", f"no answer: {str(error)[-200:]}"))

    with ThreadPoolExecutor(max_workers=8) as pool:
        verdicts = list(pool.map(one, pins))
    counts = {"clean": 0, "vulnerable": 0, "unchecked": 0}
    for name, version, verdict in verdicts:
        counts[verdict.status] += 1
        if verdict.status == "vulnerable":
            print(f"   VULNERABLE {name}=={version}: {verdict.detail}")
        elif verdict.status == "unchecked":
            print(f"   not checkable {name}=={version}: {verdict.detail}")
    print(
        f"   PyPI project JSON: {counts['clean']} pins clean (latest release, no advisory), "
        f"{counts['vulnerable']} vulnerable, {counts['unchecked']} not checkable"
    )
    if counts["vulnerable"]:
        return "vulnerable"
    return "partial" if counts["unchecked"] else "clean"


def audit_python() -> str:
    """'clean', 'vulnerable', 'partial' or 'unavailable'."""
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
                break
            print(f"   pip-audit ({service}): no known vulnerability in {LOCK.name}")
            return "clean"
    return audit_python_project_json(read_pins(LOCK.read_text()))


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--advisory-db",
        type=Path,
        metavar="PATH",
        help="offline: match the pins against this OSV snapshot (folder or bare git clone)",
    )
    args = parser.parse_args(argv)
    required = os.environ.get("AUDIT_REQUIRED") == "1"
    if args.advisory_db is not None:
        return audit_offline(args.advisory_db, required)
    if not PIP_AUDIT.exists():
        print("audit: run `make install` first (pip-audit is a dev dependency)")
        return 2
    print("== audit: Python pins (requirements/dev.lock)")
    results = {"python": audit_python()}
    print("== audit: npm test peers (tests/*/package-lock.json)")
    results["npm"] = audit_npm()
    if "vulnerable" in results.values():
        print("== audit: FAILED, known vulnerabilities above")
        return 1
    missing = [name for name, status in results.items() if status == "unavailable"]
    partial = [name for name, status in results.items() if status == "partial"]
    if missing or partial:
        if missing:
            print(
                "== audit: NOT PERFORMED for " + ", ".join(missing) + ": the vulnerability "
                "service is unreachable from this machine. This is not a pass."
            )
        if partial:
            print(
                "== audit: INCOMPLETE for " + ", ".join(partial) + ": the pins listed as "
                "not checkable above were not audited. This is not a pass."
            )
        if required:
            return 1
        print("   (warning only; set AUDIT_REQUIRED=1 to make this fail)")
        return 0
    print("== audit: clean")
    return 0


if __name__ == "__main__":
    sys.exit(main())
