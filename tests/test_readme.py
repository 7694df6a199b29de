"""Every command and code block of README.md, run as written, in order, in a scratch folder.

Blocks are taken from the README itself, so the tour cannot drift from what ancre does. A
block may be preceded by one marker comment, and only these exist:

- `<!-- readme-test: skip (why) -->` — not run (installing, the whole test suite, an issuer
  that needs a public did:web and TLS certificate). Kept few: the test below counts them.
- `<!-- readme-test: background (… http://127.0.0.1:PORT/PATH …) -->` — the block's first
  command is a server: it is started in the background, the test waits until the URL named
  in the marker answers, runs the rest of the block against it, then stops it.

The only change made to the text: the servers' ports are swapped for free ones, so that
parallel test runs (and whatever else listens on 8600/8700 here) do not collide.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

# Well over a second (a browser or a subprocess tour): `make test-fast` skips it.
pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parent.parent / "README.md"
_FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.M | re.S)
_MARKER = re.compile(r"<!-- readme-test: (skip|background) \((.*?)\) -->\s*\Z", re.S)
_URL = re.compile(r"http://127\.0\.0\.1:\d+/[\w/.-]*")
#: The README's default ports, replaced by free ones (see the module docstring).
_PORTS = ("8600", "8700")


@dataclass(frozen=True)
class Block:
    language: str
    text: str
    marker: str | None  # "skip", "background" or None
    reason: str


def readme_blocks() -> list[Block]:
    """The fenced `sh`/`python` blocks of the README, with the marker just before each."""
    text = README.read_text(encoding="utf-8")
    blocks = []
    for match in _FENCE.finditer(text):
        language, body = match.group(1), match.group(2)
        if language not in ("sh", "python"):
            continue  # `json` examples of output, not something to run
        marker = _MARKER.search(text[: match.start()][-300:])
        blocks.append(
            Block(
                language,
                body,
                marker.group(1) if marker else None,
                marker.group(2) if marker else "",
            )
        )
    return blocks


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _first_command(text: str) -> tuple[str, str]:
    """Split a block into its first command (with its `\\` continuations) and the rest."""
    lines = text.splitlines()
    end = 0
    while lines[end].rstrip().endswith("\\"):
        end += 1
    # A trailing `# comment` would swallow the redirection and `&` appended to the command.
    first = [re.sub(r"\s+#.*$", "", line) for line in lines[: end + 1]]
    return "\n".join(first), "\n".join(lines[end + 1 :])


def build_script(blocks: list[Block], folder: Path) -> str:
    """One bash script running every block in order: variables and exports carry over, as
    they would for a person typing the tour into one terminal."""
    ports = {port: str(_free_port()) for port in _PORTS}
    parts = ["set -euo pipefail"]
    for n, block in enumerate(blocks):
        if block.marker == "skip":
            continue
        body = block.text
        for old, new in ports.items():
            body = body.replace(old, new)
        parts.append(f"echo '=== block {n}' >&2")
        if block.language == "python":
            script = folder / f"block_{n}.py"
            script.write_text(body, encoding="utf-8")
            parts.append(f"{sys.executable} {script.name}")
        elif block.marker == "background":
            reason = block.reason
            for old, new in ports.items():
                reason = reason.replace(old, new)
            url = _URL.search(reason)
            assert url is not None, f"block {n}: the marker must name the URL to wait for"
            server, rest = _first_command(body)
            log = f"server_{n}.log"
            parts.append(
                f"{server} > {log} 2>&1 &\nSERVER=$!\ntrap 'kill $SERVER 2>/dev/null' EXIT"
            )
            # Poll until the server answers (or died): readiness, not a fixed sleep.
            parts.append(
                "for _ in $(seq 300); do\n"
                f"  curl -sf -o /dev/null {url.group(0)} && break\n"
                f"  kill -0 $SERVER 2>/dev/null || {{ cat {log} >&2; exit 90; }}\n"
                "  sleep 0.1\n"
                "done\n"
                f"curl -sf -o /dev/null {url.group(0)}"
            )
            parts.append(rest)
            parts.append("kill $SERVER; wait $SERVER || true; trap - EXIT")
        else:
            parts.append(body)
    parts.append("echo '=== README done' >&2")
    return "\n".join(parts) + "\n"


def test_readme_markers_are_few_and_explained() -> None:
    blocks = readme_blocks()
    skipped = [b for b in blocks if b.marker == "skip"]
    assert all(b.reason for b in skipped)
    # Installing, the test suite itself, and the issuer that needs a public did:web: any
    # new exemption must be argued here.
    assert len(skipped) == 3, [b.text.splitlines()[0] for b in skipped]
    assert sum(b.marker is None for b in blocks) >= 2


def test_every_readme_command_runs_as_written(tmp_path: Path) -> None:
    blocks = readme_blocks()
    script = tmp_path / "readme.sh"
    script.write_text(build_script(blocks, tmp_path), encoding="utf-8")
    venv_bin = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(tmp_path),  # trust-list state and caches stay in the scratch folder
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }
    env.pop("ANCRE_KEYSTORE_PASSPHRASE", None)
    done = subprocess.run(
        ["bash", str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:] + done.stdout[-4000:]
    assert "=== README done" in done.stderr
    out = done.stdout
    assert "Traceback" not in out + done.stderr
    # What the tour promises, as a person would read it.
    assert "VALID (issuer not checked: no trust source given)  vc+jwt" in out
    assert "✗ time           expired" in out
    assert "✗ signature      signature_invalid" in out
    assert "– data_model     not run: signature failed" in out
    assert re.search(
        r"✓ trust +did:key:\S+ is trusted for ExampleMembership \(trust list #1\)", out
    )
    assert out.rstrip().endswith('{"verified":true,"problemDetails":[]}')
    served = (tmp_path / "served-trust-list.jwt").read_text()
    assert served.strip() == (tmp_path / "trust-list.jwt").read_text().strip()
