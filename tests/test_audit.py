"""`.ci/audit.py`: the OSV range matcher, the offline snapshot mode and PyPI's project JSON reader.

Recorded data in tests/vectors/audit/ (each file says where it came from); the project JSON
answers are served from a loopback server, never the internet.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "vectors" / "audit"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ancre_ci_audit", ROOT / ".ci" / "audit.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while decorating
    spec.loader.exec_module(module)
    return module


audit = _load()
JINJA = yaml.safe_load((DATA / "PYSEC-2019-217.yaml").read_text())
MINIMIST = json.loads((DATA / "GHSA-vh95-rmgr-6w4m.json").read_text())


# -- the OSV matcher --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "affected"),
    [
        ("2.10", True),  # listed, and inside [0, 2.10.1)
        ("2.10.0", True),  # PEP 440 equal to the listed "2.10"
        ("2.9.6", True),
        ("2.0rc1", True),
        ("2.10.1", False),  # the fix
        ("2.11.0", False),
        ("3.1.6", False),
    ],
)
def test_pypi_ecosystem_range(version: str, affected: bool) -> None:
    assert audit.osv_affects(JINJA, "PyPI", "jinja2", version) is affected


def test_pypi_names_are_compared_normalised_and_ecosystems_apart() -> None:
    assert audit.osv_affects(JINJA, "PyPI", "Jinja2", "2.10")
    assert audit.osv_affects(JINJA, "PyPI", "JINJA2", "2.9")
    legacy = {**JINJA, "affected": [{**JINJA["affected"][0], "ranges": []}]}
    legacy["affected"][0]["versions"] = ["0.7.10p1", *JINJA["affected"][0]["versions"]]
    assert audit.osv_affects(legacy, "PyPI", "jinja2", "2.10.0")  # past a legacy string
    assert not audit.osv_affects(JINJA, "PyPI", "jinja", "2.10")
    assert not audit.osv_affects(JINJA, "npm", "jinja2", "2.10.0")


def test_range_alone_without_versions_list() -> None:
    record = {**JINJA, "affected": [{**JINJA["affected"][0], "versions": []}]}
    assert audit.osv_affects(record, "PyPI", "jinja2", "2.10")
    assert audit.osv_affects(record, "PyPI", "jinja2", "2.10.1rc1")  # a pre-release of the fix
    assert not audit.osv_affects(record, "PyPI", "jinja2", "2.10.1")


@pytest.mark.parametrize(
    ("version", "affected"),
    [
        ("0.0.8", True),
        ("0.2.0", True),
        ("0.2.1", False),
        ("0.2.4", False),
        ("1.0.0", True),
        ("1.2.2", True),
        ("1.2.3-beta.1", True),  # a pre-release sorts before its release (semver §11)
        ("1.2.3", False),
        ("1.2.10", False),  # numeric, not string, order: 10 > 3
        ("1.10.0", False),
    ],
)
def test_npm_semver_ranges(version: str, affected: bool) -> None:
    assert audit.osv_affects(MINIMIST, "npm", "minimist", version) is affected


def test_last_affected_is_inclusive_and_withdrawn_records_count_for_nothing() -> None:
    record: dict[str, Any] = {
        "id": "TEST-1",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "demo"},
                "ranges": [
                    {
                        "type": "ECOSYSTEM",
                        "events": [{"introduced": "1.0"}, {"last_affected": "1.4"}],
                    }
                ],
            }
        ],
    }
    assert not audit.osv_affects(record, "PyPI", "demo", "0.9")
    assert audit.osv_affects(record, "PyPI", "demo", "1.4")
    assert not audit.osv_affects(record, "PyPI", "demo", "1.4.1")
    record["withdrawn"] = "2024-01-01T00:00:00Z"
    assert not audit.osv_affects(record, "PyPI", "demo", "1.4")


def test_semver_order() -> None:
    parse = audit.SemVer.parse
    ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta.2", "1.0.0-beta.11"]
    ordered += ["1.0.0-rc.1", "1.0.0", "1.0.1", "1.10.0", "2.0.0"]
    assert [parse(v) for v in ordered] == sorted(parse(v) for v in ordered)
    assert parse("1.0.0+build.5") == parse("1.0.0")
    assert parse("1.2") == parse("1.2.0")  # a bound some advisories write short
    with pytest.raises(ValueError, match="not a semantic version"):
        parse("1.0.x")


def test_a_range_that_cannot_be_evaluated_is_undecided_not_clear() -> None:
    record: dict[str, Any] = {
        "id": "TEST-2",
        "affected": [
            {
                "package": {"ecosystem": "npm", "name": "demo"},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "next"}]}
                ],
                "versions": ["0.1.0"],
            }
        ],
    }
    assert audit.osv_affects(record, "npm", "demo", "0.1.0")  # named in `versions`
    with pytest.raises(audit.Undecided, match="range bound cannot be ordered"):
        audit.osv_affects(record, "npm", "demo", "0.2.0")
    with pytest.raises(audit.Undecided, match="cannot be ordered"):
        audit.osv_affects(JINJA, "PyPI", "jinja2", "not-a-version")


def test_lock_readers() -> None:
    pins = audit.read_pins("a-b==1.0 \\\n    --hash=sha256:00\n# c==2\nC_d==2.0.post1\n")
    assert pins == [("a-b", "1.0"), ("C_d", "2.0.post1")]
    lock = {
        "lockfileVersion": 3,
        "packages": {
            "": {"name": "peer"},
            "node_modules/minimist": {"version": "1.2.0"},
            "node_modules/a/node_modules/minimist": {"version": "0.0.8"},
            "node_modules/alias": {"name": "real-name", "version": "3.0.0"},
            "node_modules/linked": {"link": True, "resolved": "../x"},
        },
    }
    assert audit.read_npm_lock(lock) == [
        ("minimist", "0.0.8"),
        ("minimist", "1.2.0"),
        ("real-name", "3.0.0"),
    ]
    with pytest.raises(TypeError):
        audit.read_npm_lock({"lockfileVersion": 1, "dependencies": {}})


# -- offline mode -----------------------------------------------------------------------


def _project(tmp: Path, python: str, npm: dict[str, str]) -> Path:
    (tmp / "requirements").mkdir(parents=True)
    (tmp / "requirements" / "dev.lock").write_text(python)
    (tmp / "tests" / "peer").mkdir(parents=True)
    packages: dict[str, Any] = {"": {"name": "peer"}}
    packages.update({f"node_modules/{n}": {"version": v} for n, v in npm.items()})
    lock = {"lockfileVersion": 3, "packages": packages}
    (tmp / "tests" / "peer" / "package-lock.json").write_text(json.dumps(lock))
    return tmp


def _db(tmp: Path) -> Path:
    db = tmp / "db"
    (db / "vulns" / "jinja2").mkdir(parents=True)
    (db / "npm").mkdir()
    (db / "vulns" / "jinja2" / "PYSEC-2019-217.yaml").write_text(
        (DATA / "PYSEC-2019-217.yaml").read_text()
    )
    (db / "npm" / "GHSA-vh95-rmgr-6w4m.json").write_text(
        (DATA / "GHSA-vh95-rmgr-6w4m.json").read_text()
    )
    (db / "README.json").write_text("{}")  # not an OSV record: counted, not fatal
    return db


def test_offline_finds_vulnerable_pins_in_both_ecosystems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _project(
        tmp_path / "p", "jinja2==2.10 \\\n    --hash=sha256:00\n", {"minimist": "1.2.0"}
    )
    monkeypatch.setattr(audit, "ROOT", root)
    monkeypatch.setattr(audit, "LOCK", root / "requirements" / "dev.lock")
    assert audit.main(["--advisory-db", str(_db(tmp_path))]) == 1
    out = capsys.readouterr().out
    assert "VULNERABLE requirements/dev.lock: jinja2 2.10: PYSEC-2019-217 (CVE-2019-10906" in out
    assert "VULNERABLE tests/peer/package-lock.json: minimist 1.2.0: GHSA-vh95-rmgr-6w4m" in out
    assert "1 files were not OSV records" in out


def test_offline_clean_and_a_missing_ecosystem_is_not_a_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _project(tmp_path / "p", "jinja2==3.1.6\n", {"minimist": "1.2.8"})
    monkeypatch.setattr(audit, "ROOT", root)
    monkeypatch.setattr(audit, "LOCK", root / "requirements" / "dev.lock")
    db = _db(tmp_path)
    assert audit.main(["--advisory-db", str(db)]) == 0
    assert "clean against this snapshot" in capsys.readouterr().out
    (db / "npm" / "GHSA-vh95-rmgr-6w4m.json").unlink()  # a PyPI-only snapshot
    monkeypatch.setenv("AUDIT_REQUIRED", "1")
    assert audit.main(["--advisory-db", str(db)]) == 1
    out = capsys.readouterr().out
    assert "tests/peer/package-lock.json: NOT CHECKED, the snapshot holds no npm advisory" in out
    monkeypatch.delenv("AUDIT_REQUIRED")
    assert audit.main(["--advisory-db", str(db)]) == 0
    undecidable = {
        "id": "TEST-3",
        "affected": [
            {
                "package": {"ecosystem": "npm", "name": "minimist"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "?"}]}],
            }
        ],
    }
    (db / "npm" / "TEST-3.json").write_text(json.dumps(undecidable))
    capsys.readouterr()
    monkeypatch.setenv("AUDIT_REQUIRED", "1")
    assert audit.main(["--advisory-db", str(db)]) == 1
    out = capsys.readouterr().out
    assert "UNDECIDED tests/peer/package-lock.json: minimist 1.2.8: TEST-3: a range bound" in out
    assert "NOT PERFORMED for minimist 1.2.8 in tests/peer/package-lock.json" in out


def test_offline_reads_a_bare_git_clone_and_names_its_commit(tmp_path: Path) -> None:
    db = _db(tmp_path)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q", str(db)], check=True)
    subprocess.run([*git, "-C", str(db), "add", "-A"], check=True)
    subprocess.run([*git, "-C", str(db), "commit", "-qm", "snapshot"], check=True)
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(db), str(bare)], check=True)
    loaded = audit.load_advisory_db(bare)
    assert loaded.count("PyPI") == 1
    assert loaded.count("npm") == 1
    assert " committed " in loaded.source
    assert loaded.find("PyPI", "jinja2", "2.10")[0][0].startswith("PYSEC-2019-217")
    assert loaded.find("npm", "minimist", "1.2.8") == ([], [])


# -- live mode: PyPI's project JSON, from a loopback server ------------------------------


def _answer(name: str, version: str, vulnerabilities: list[dict[str, Any]]) -> bytes:
    body = {
        "info": {"name": name, "version": version},
        "releases": {},
        "vulnerabilities": vulnerabilities,
    }
    return json.dumps(body).encode()


ANSWERS: dict[str, bytes] = {
    "/pypi/pycrypto/json": (DATA / "pypi-pycrypto.json").read_bytes(),
    "/pypi/jinja2/json": (DATA / "pypi-jinja2.json").read_bytes(),
    "/pypi/fixed-below/json": _answer(
        "fixed-below",
        "2.0",
        [
            {"id": "OLD-1", "fixed_in": ["1.5"], "withdrawn": None, "aliases": []},
            {"id": "GONE-1", "fixed_in": [], "withdrawn": "2025-01-01T00:00:00Z"},
        ],
    ),
    "/pypi/still-open/json": _answer(
        "still-open", "2.0", [{"id": "OPEN-1", "fixed_in": ["2.1"], "aliases": ["CVE-0-1"]}]
    ),
    "/pypi/not-json/json": b"<html>",
}


class _PyPI(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = ANSWERS.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def pypi() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PyPI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/pypi"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_project_json_verdicts(pypi: str) -> None:
    canary = audit.judge_pin(audit.fetch_project_json("pycrypto", pypi), "2.6.1")
    assert canary.status == "vulnerable"
    assert "PYSEC-2017-94" in canary.detail
    jinja = audit.fetch_project_json("jinja2", pypi)
    assert audit.judge_pin(jinja, "3.1.6").status == "clean"
    older = audit.judge_pin(jinja, "2.10")  # the list speaks for 3.1.6 only
    assert older.status == "unchecked"
    assert "not the latest release (3.1.6)" in older.detail
    stale = audit.judge_pin(audit.fetch_project_json("fixed-below", pypi), "2.0")
    assert stale.status == "clean"  # fixed at 1.5 and a withdrawn entry: nothing left
    open_ = audit.judge_pin(audit.fetch_project_json("still-open", pypi), "2.0")
    assert open_ == audit.PinVerdict("vulnerable", "OPEN-1 (CVE-0-1)")


def test_project_json_refuses_what_is_not_one(pypi: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(OSError, match="404"):
        audit.fetch_project_json("absent", pypi)
    with pytest.raises(ValueError, match="Expecting value"):
        audit.fetch_project_json("not-json", pypi)
    monkeypatch.setattr(audit, "MAX_PROJECT_JSON", 100)
    with pytest.raises(ValueError, match="larger than 100 bytes"):
        audit.fetch_project_json("pycrypto", pypi)


def test_project_json_audit_counts_unchecked_pins_as_not_a_pass(
    pypi: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert audit.audit_python_project_json([("jinja2", "3.1.6")], pypi) == "clean"
    assert (
        audit.audit_python_project_json([("Jinja2", "3.1.6"), ("jinja2", "2.10")], pypi)
        == "partial"
    )
    out = capsys.readouterr().out
    assert "not checkable jinja2==2.10: not the latest release (3.1.6)" in out
    assert "1 pins clean (latest release, no advisory), 0 vulnerable, 1 not checkable" in out
    pins = [("still-open", "2.0"), ("absent", "1.0")]
    assert audit.audit_python_project_json(pins, pypi) == "vulnerable"
    out = capsys.readouterr().out
    assert "VULNERABLE still-open==2.0: OPEN-1 (CVE-0-1)" in out
    assert "not checkable absent==1.0: no answer" in out


def test_project_json_canary_must_come_back_vulnerable(
    pypi: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # A service (or filtering proxy) that reports nothing for a known-vulnerable release
    # is not trusted with the real pins.
    assert (
        audit.audit_python_project_json([("jinja2", "3.1.6")], pypi, ("jinja2", "3.1.6"))
        == "unavailable"
    )
    assert "came back clean" in capsys.readouterr().out
    assert (
        audit.audit_python_project_json([("jinja2", "3.1.6")], pypi, ("absent", "1.0"))
        == "unavailable"
    )
    assert "no answer for the canary" in capsys.readouterr().out
