"""Coverage-guided fuzzing (atheris, libFuzzer) of every parser in tests/fuzz/_targets.py.

    python tests/fuzz/atheris_run.py --seconds 60            # every target, 60 s each
    python tests/fuzz/atheris_run.py --seconds 600 dcql      # one target, longer
    python tests/fuzz/atheris_run.py --seconds 45 all        # CI: every parser in one process

Each target runs in its own process (libFuzzer owns the process), from a corpus of its
seeds, and stops after its time. A crash is any exception but a refusal (`AncreError`, the
verifier's `RefusedError`), a per-input timeout or memory over the limit: libFuzzer writes
the input to fuzz-crashes/<target>-crash-<sha1> and this runner exits 1 naming it. Turn it
into a regression test (tests/fuzz/test_fuzz_regressions.py) and fix the parser.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CRASHES = HERE.parents[1] / "fuzz-crashes"


def _child(name: str, libfuzzer_args: list[str]) -> None:
    """In the child process: instrument ancre, then fuzz one target."""
    import atheris

    sys.path.insert(0, str(HERE))
    with atheris.instrument_imports(include=["ancre"]):
        import _targets

    from _fuzz import check_refusal

    target = _targets.every_parser if name == "all" else _targets.TARGETS[name]

    def one(data: bytes) -> None:
        try:
            target(data)
        except _targets.REFUSALS as error:
            check_refusal(error)
        except BaseException:
            # libFuzzer does not always get to write the input of a Python exception: keep it.
            digest = hashlib.sha1(data).hexdigest()
            (CRASHES / f"{name}-crash-{digest}").write_bytes(data)
            raise

    atheris.Setup([sys.argv[0], *libfuzzer_args], one)
    atheris.Fuzz()


def _run(name: str, seconds: int, random_seed: int = 0) -> bool:
    sys.path.insert(0, str(HERE))
    import _targets

    CRASHES.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"fuzz-{name}-") as corpus:
        seeds = _targets.SEEDS_ALL if name == "all" else _targets.SEEDS[name]
        for i, seed in enumerate(seeds):
            (Path(corpus) / f"seed-{i}").write_bytes(seed)
        args = [
            sys.executable,
            __file__,
            "--child",
            name,
            f"-max_total_time={seconds}",
            "-timeout=5",
            "-rss_limit_mb=1024",
            "-max_len=4096",
            f"-artifact_prefix={CRASHES}/{name}-",
            "-print_final_stats=1",
            *([f"-seed={random_seed}"] if random_seed else []),
            corpus,
        ]
        started = time.monotonic()
        done = subprocess.run(args, capture_output=True, text=True, check=False)
        elapsed = time.monotonic() - started
    runs = next(
        (
            line.split(":")[-1].strip()
            for line in done.stderr.splitlines()
            if "number_of_executed_units" in line
        ),
        "?",
    )
    if done.returncode != 0:
        lines = [
            line
            for line in done.stderr.splitlines()
            if not line.startswith(("#", "INFO:", "WARNING:")) and line.strip()
        ]
        print(f"CRASH {name} after {elapsed:.0f} s (exit {done.returncode}):")
        print("\n".join(lines[-40:]))
        return False
    print(f"ok    {name}: {runs} inputs in {elapsed:.0f} s")
    return True


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="per target")
    parser.add_argument("--total", type=int, help="shared by all targets (overrides --seconds)")
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="libFuzzer's random seed (0: a new one each run). CI fixes it, so its short run "
        "walks the same inputs on every machine (a slower one walks a prefix) and a red CI "
        "is a change's doing, not the dice's; `make fuzz` keeps exploring.",
    )
    parser.add_argument(
        "targets", nargs="*", help="default: every target, one by one; `all`: all in one process"
    )
    options = parser.parse_args()
    try:
        import atheris  # noqa: F401
    except ImportError:
        print("atheris is not installed (a dev dependency on x86-64 Linux): `make install`")
        return 2
    sys.path.insert(0, str(HERE))
    import _targets

    names = options.targets or sorted(_targets.TARGETS)
    unknown = set(names) - {*_targets.TARGETS, "all"}
    if unknown:
        parser.error(f"unknown targets {sorted(unknown)}; known: {sorted(_targets.TARGETS)}")
    seconds = max(1, options.total // len(names)) if options.total else options.seconds
    os.environ.setdefault("PYTHONHASHSEED", "0")
    failed = [name for name in names if not _run(name, seconds, options.seed)]
    if failed:
        print(f"fuzz: {len(failed)} target(s) crashed: {', '.join(failed)} (inputs in {CRASHES})")
        return 1
    print(f"fuzz: {len(names)} targets, no crash")
    return 0


if __name__ == "__main__":
    sys.exit(main())
