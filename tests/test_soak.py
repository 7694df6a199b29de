"""`make soak` in a tiny form, so the harness does not rot: bench/soak/ run as `make soak`
runs it (a subprocess, real services on a throw-away PostgreSQL), 2-second phases, one
SIGKILL (the issuer's) and the PostgreSQL restart; its JSON summary must say every
invariant held, and its exit code must agree with the summary."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OUTAGE = ("PostgreSQL restart: only 503 + Retry-After while down",)


@pytest.mark.slow
def test_a_tiny_soak_holds_its_invariants(tmp_path: Path) -> None:
    summary_file = tmp_path / "soak.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.soak", "--seconds", "2", "--fault-seconds", "1",
         "--concurrency", "8", "--kill", "issuer", "--json", str(summary_file)],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stdout + done.stderr
    summary = json.loads(summary_file.read_text())
    checks = {c["name"]: c for c in summary["invariants"]}
    assert (done.returncode == 0) is summary["ok"] is all(c["ok"] for c in checks.values())

    kinds = [(p["service"], p["kind"]) for p in summary["phases"]]
    assert kinds == [
        ("registry", "steady"),
        ("issuer", "steady"),
        ("verifier", "steady"),
        ("issuer", "kill"),
        ("registry+issuer", "outage"),
    ]
    for phase in summary["phases"]:
        assert phase["ok"] > 0, phase
        if phase["kind"] == "steady":
            assert phase["errors"] == 0, phase
            assert phase["p50_ms"] <= phase["p99_ms"]
    kill = summary["phases"][3]
    assert kill["faults_injected"] == 1
    assert kill["recovered"] is True
    outage = summary["phases"][4]
    assert outage["faults_injected"] == 1
    assert outage["recovered"] is True

    # Everything but how the services answer while PostgreSQL is down holds today; that one
    # is the database-outage work's (503 service_unavailable + Retry-After): the summary
    # must report it faithfully either way.
    for name, check in checks.items():
        if name not in OUTAGE:
            assert check["ok"], check
    assert checks[OUTAGE[0]]["ok"] is (
        outage["unclean_during_outage"] == 0 and outage["errors"] == 0
    )
    received = summary["credentials"]["received"]
    assert received > 0
    assert (
        f"{received} received, {received} found"
        in (checks["credentials received = found in the database"]["detail"])
    )


@pytest.mark.slow
def test_the_checks_catch_a_damaged_database(tmp_path: Path) -> None:
    """--sabotage edits the databases before the checks (a received credential's record
    renamed, two credentials on one status index, an audit event edited in each chain, an
    acknowledged registry write deleted): each of those invariants must fail, and the run
    exit 1, while the load's own invariants still hold."""
    summary_file = tmp_path / "soak.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.soak", "--seconds", "1", "--concurrency", "4",
         "--kill", "none", "--no-outage", "--sabotage", "--json", str(summary_file)],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    summary = json.loads(summary_file.read_text())
    failed = {c["name"] for c in summary["invariants"] if not c["ok"]}
    assert failed == {
        "credentials received = found in the database",
        "no duplicated status index",
        "registry writes acknowledged = found",
        "issuer audit chain verified",
        "registry audit chain verified",
    }
    assert "INVARIANT FAILED" in done.stdout
