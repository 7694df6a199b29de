"""`python -m bench.soak [--seconds S] [--json PATH]`: the load and fault campaign.

Exit 0 when every invariant held, 1 when one failed, 2 when the campaign could not run."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.soak.campaign import Settings, run, write_json
from bench.soak.cluster import Cluster
from bench.soak.services import deploy


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def render(summary: dict[str, Any], console: Console) -> None:
    table = Table(title="ancre soak: load and faults (loopback)")
    for column in (
        "phase",
        "requests",
        "ok",
        "errors",
        "faults absorbed",
        "p50 ms",
        "p99 ms",
        "faults injected",
        "recovery s",
    ):
        table.add_column(column, justify="left" if column == "phase" else "right")
    for p in summary["phases"]:
        table.add_row(
            p["name"],
            str(p["requests"]),
            str(p["ok"]),
            str(p["errors"]),
            str(p["faults_absorbed"]),
            _ms(p["p50_ms"]),
            _ms(p["p99_ms"]),
            str(p["faults_injected"]),
            "-" if p["recovery_seconds"] is None else str(p["recovery_seconds"]),
        )
    console.print(table)
    for p in summary["phases"]:
        if p["kind"] == "steady":
            parts = [
                f"{name} {e['ok']} ok, p50 {_ms(e['p50_ms'])} / p99 {_ms(e['p99_ms'])} ms"
                for name, e in p["endpoints"].items()
            ]
            console.print(f"  {p['name']}: " + "; ".join(parts), highlight=False)
    checks = Table(title="invariants")
    for column in ("", "invariant", "detail"):
        checks.add_column(column)
    for c in summary["invariants"]:
        checks.add_row("[green]ok[/]" if c["ok"] else "[red]FAIL[/]", c["name"], c["detail"])
    console.print(checks)
    served = sum(p["ok"] for p in summary["phases"])
    errors = sum(p["errors"] for p in summary["phases"])
    faults = sum(p["faults_injected"] for p in summary["phases"])
    worst = max((p["p99_ms"] or 0.0) for p in summary["phases"] if p["kind"] == "steady")
    console.print(
        f"requests served {served}, errors {errors}, worst steady p99 {worst:.1f} ms, faults "
        f"injected {faults}, credentials received {summary['credentials']['received']} — "
        + ("[green]all invariants held[/]" if summary["ok"] else "[red]INVARIANT FAILED[/]")
    )
    for p in summary["phases"]:
        for sample in p["failure_samples"]:
            console.print(f"  {p['name']}: {sample}", markup=False, highlight=False)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # runs every `finally`: services and cluster are cleaned up


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="each steady load phase")
    parser.add_argument(
        "--fault-seconds",
        type=float,
        default=0.0,
        help="load before and after each fault (default: seconds / 4)",
    )
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--kill",
        default="registry,issuer,verifier",
        help="services to SIGKILL mid-load (comma-separated, or none)",
    )
    parser.add_argument("--no-outage", action="store_true", help="skip the PostgreSQL restart")
    parser.add_argument(
        "--sabotage",
        action="store_true",
        help="damage the databases before the checks: they must then fail (tests the checker)",
    )
    parser.add_argument("--json", type=Path, help="also write the summary here")
    parser.add_argument(
        "--keep", action="store_true", help="keep the run's folder (the services' logs)"
    )
    args = parser.parse_args(argv)
    kill = tuple(k for k in args.kill.split(",") if k and k != "none")
    if not set(kill) <= {"registry", "issuer", "verifier"}:
        parser.error(f"--kill: unknown service in {args.kill!r}")
    settings = Settings(
        args.seconds, args.fault_seconds, args.concurrency, kill, not args.no_outage, args.sabotage
    )
    signal.signal(signal.SIGTERM, _terminate)
    console = Console(width=None if sys.stdout.isatty() else 150)
    folder = Path(tempfile.mkdtemp(prefix="ancre-soak-"))
    cluster = Cluster()
    deployment = None
    started = time.monotonic()
    try:
        cluster.start()
        console.print(f"PostgreSQL on 127.0.0.1:{cluster.port}; starting the services…")
        deployment = deploy(folder, cluster.create("registry"), cluster.create("issuer"))
        summary = asyncio.run(run(deployment, cluster, settings))
    except KeyboardInterrupt:
        console.print("[red]interrupted[/]: cleaning up")
        return 130
    except Exception as error:  # noqa: BLE001 — a campaign that could not run says why, then exits 2
        console.print(
            f"[red]soak could not run[/]: {type(error).__name__}: {error}",
            markup=True,
            highlight=False,
        )
        return 2
    finally:
        if deployment is not None:
            deployment.stop()
        cluster.destroy()
        if args.keep:
            console.print(f"kept {folder} (registry.log, issuer.log, verifier.log)")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    summary["seconds_total"] = round(time.monotonic() - started, 1)
    render(summary, console)
    if args.json is not None:
        write_json(args.json, summary)
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
