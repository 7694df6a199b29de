"""Print the entries of a hash-pinned lock (`uv pip compile --generate-hashes`) that a pip
installation report names: the packages one distribution needs, each with the lock's
version and hashes, for `pip install --require-hashes --no-deps` (deploy/Dockerfile).

    python locked-subset.py REPORT.json LOCK [SKIP...]

Fails (exit 1) when a package the report installs is missing from the lock or locked at
another version: the image then holds exactly what the lock allows."""

from __future__ import annotations

import json
import re
import sys


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def main(report_path: str, lock_path: str, skip: list[str]) -> int:
    with open(report_path, encoding="utf-8") as handle:
        report = json.load(handle)
    wanted = {
        canonical(item["metadata"]["name"]): item["metadata"]["version"]
        for item in report["install"]
    }
    for name in skip:
        wanted.pop(canonical(name), None)
    entries: dict[str, tuple[str, list[str]]] = {}
    current: list[str] | None = None
    with open(lock_path, encoding="utf-8") as handle:
        for line in handle:
            pinned = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^ \\]+)", line)
            if pinned:
                current = [line.rstrip("\n")]
                entries[canonical(pinned.group(1))] = (pinned.group(2), current)
            elif current is not None and line.lstrip().startswith("--hash="):
                current.append(line.rstrip("\n"))
            else:
                current = None
    problems = []
    for name, version in sorted(wanted.items()):
        if name not in entries:
            problems.append(f"{name} {version}: not in {lock_path}")
        elif entries[name][0] != version:
            problems.append(f"{name} {version}: {lock_path} has {entries[name][0]}")
        else:
            print("\n".join(entries[name][1]).rstrip(" \\"))
    for problem in problems:
        print(f"locked-subset: {problem}", file=sys.stderr)
    return 1 if problems or not wanted else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3:]))
