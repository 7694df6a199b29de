"""The documentation site holds to the code: the generated references are current, every
`ancre …` command line shown in the docs names a real command and real options, every
environment variable the code reads is in the configuration reference, and
`mkdocs build --strict` passes (no broken link, no page outside the nav)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS))

import gen_reference  # noqa: E402 - from docs/, through the line above

_FENCE = re.compile(r"^```(?:sh|bash|console)\n(.*?)^```$", re.M | re.S)
#: Where a command line ends for the shell: what follows is another command or a redirection.
_END = {"|", "||", "&&", ";", ">", ">>", "2>", "<", "&", "#"}


def test_generated_reference_pages_are_current() -> None:
    # Out of date after a change to a command or a route: `make docs-reference`.
    stale = gen_reference.stale()
    assert stale == [], f"{stale} out of date: run `make docs-reference`, commit docs/reference/"


def test_the_cli_reference_covers_every_command() -> None:
    from ancre.cli.main import build_command

    page = (DOCS / "reference" / "cli.md").read_text(encoding="utf-8")
    for path, command in gen_reference._commands(build_command(), ["ancre"]):
        if len(path) > 1:
            assert f"`{' '.join(path)}`" in page, path
        if not getattr(command, "commands", None):
            for param in command.params:
                if getattr(param, "hidden", False):
                    continue  # a test knob (`--scrypt-n`), kept out of --help too
                for option in param.opts:
                    if option.startswith("--") and option != "--help":
                        assert option in page, (path, option)


def _doc_files() -> list[Path]:
    pages = [p for p in DOCS.rglob("*.md") if "reference" not in p.parts]
    return [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted(pages)]


def _command_lines() -> list[tuple[str, str]]:
    """(file, line) for each `ancre …` command in a shell block, continuations joined."""
    found = []
    for path in _doc_files():
        for block in _FENCE.findall(path.read_text(encoding="utf-8")):
            for line in re.sub(r"\\\n\s*", " ", block).splitlines():
                words = line.strip().split()
                while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", words[0]):
                    words = words[1:]  # VAR=value ancre …
                if words and words[0] == "ancre":
                    found.append((path.relative_to(ROOT).as_posix(), " ".join(words)))
    return found


def _words(line: str) -> list[str]:
    try:
        words = shlex.split(line, comments=True)
    except ValueError:  # an unbalanced quote around an elided value (`'…`)
        words = line.split()
    for i, word in enumerate(words):
        if word in _END or word.startswith((">", "2>")):
            return words[:i]
    return words


def _resolve(root: Any, words: list[str]) -> tuple[Any, list[str]]:
    command, rest = root, words[1:]
    while rest and getattr(command, "commands", None) and rest[0] in command.commands:
        command, rest = command.commands[rest[0]], rest[1:]
    return command, rest


def test_every_command_line_in_the_docs_names_real_commands_and_options() -> None:
    from ancre.cli.main import build_command

    root = build_command()
    lines = _command_lines()
    assert len(lines) > 60  # the guides, the quickstart, the README, the service pages
    wrong = []
    for where, line in lines:
        command, rest = _resolve(root, _words(line))
        if getattr(command, "commands", None) and rest and "|" in rest[0]:
            # A synopsis (`ancre issuer revoke|suspend|reinstate ID`): each alternative.
            unknown = [name for name in rest[0].split("|") if name not in command.commands]
            if unknown:
                wrong.append(f"{where}: {line!r}: no command {unknown}")
            continue
        if getattr(command, "commands", None):
            if rest and not rest[0].startswith("-"):
                wrong.append(f"{where}: {line!r}: no command {rest[0]!r}")
            continue
        options = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
        options |= {"--help", "-h"}
        for word in rest:
            if word.startswith("--") and word.split("=", 1)[0] not in options:
                wrong.append(f"{where}: {line!r}: {command.name} has no {word.split('=')[0]}")
    assert wrong == []


def test_the_checker_catches_a_wrong_command_line() -> None:
    from ancre.cli.main import build_command

    root = build_command()
    command, rest = _resolve(root, _words("ancre registry issuer add-type DID TYPE --typo x"))
    assert command.name == "add-type"
    assert rest == ["DID", "TYPE", "--typo", "x"]
    assert "--typo" not in {o for p in command.params for o in p.opts}
    grouped, left = _resolve(root, _words("ancre registry frobnicate --dir reg"))
    assert grouped.name == "registry"
    assert left[0] == "frobnicate"


#: Read by the code, not meant for people: the test wallet's fault injection, and the
#: variable click sets when a shell asks for completions.
_INTERNAL_ENV = {"ANCRE_WALLET_TEST_HOOK", "ANCRE_COMPLETE"}


def test_the_configuration_reference_lists_every_environment_variable() -> None:
    used = set()
    for folder in ("api", "cli", "issuer", "registry", "storage", "trust", "verifier", "wallet"):
        for source in (ROOT / folder).rglob("*.py"):
            used |= set(re.findall(r"\bANCRE_[A-Z0-9_]*[A-Z0-9]\b", source.read_text("utf-8")))
    assert len(used) > 10
    page = (DOCS / "configuration.md").read_text(encoding="utf-8")
    missing = sorted(name for name in used - _INTERNAL_ENV if f"`{name}`" not in page)
    assert missing == [], f"add {missing} to the table of docs/configuration.md"


def test_the_license_file_is_the_one_pyproject_declares() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]
    assert declared == "Apache-2.0"
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text
    assert "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_the_changelog_keeps_a_changelog() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "https://keepachangelog.com/en/1.1.0/" in text
    assert "https://semver.org/spec/v2.0.0.html" in text
    assert re.search(r"^## \[Unreleased\]$", text, re.M)
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    headings = re.findall(r"^## \[([^\]]+)\]", text, re.M)
    assert all(h == "Unreleased" or re.fullmatch(r"\d+\.\d+\.\d+", h) for h in headings)
    assert version not in headings or headings[0] == "Unreleased"
    assert re.search(r"^### (Added|Changed|Fixed|Security)$", text, re.M)


def test_pre_commit_runs_what_make_lint_runs() -> None:
    import yaml

    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    packages = re.search(r"^PKGS\s*:=\s*(.+)$", makefile, re.M)
    assert packages is not None
    hooks = {
        hook["id"]: hook
        for repo in yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())["repos"]
        for hook in repo["hooks"]
    }
    assert hooks["mypy"]["entry"].split()[1:] == packages.group(1).split()
    assert hooks["ruff-check"]["entry"].startswith(".venv/bin/ruff check")
    assert hooks["ruff-format"]["entry"].startswith(".venv/bin/ruff format --check")


@pytest.mark.slow
def test_mkdocs_build_strict_passes(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={"PATH": str(Path(sys.executable).parent), "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for page in ("index", "quickstart", "concepts", "onboarding-flow", "configuration"):
        assert (tmp_path / f"{page}.html").is_file()
    for guide in ("certification-agency", "connector-operator"):
        assert (tmp_path / "guides" / f"{guide}.html").is_file()
    cli = (tmp_path / "reference" / "cli.html").read_text(encoding="utf-8")
    assert "ancre registry issuer add" in cli
    verifier = (tmp_path / "reference" / "http-verifier.html").read_text(encoding="utf-8")
    assert "/presentations/verify" in verifier
    # The flow's diagram is a Mermaid block the theme renders, not a code listing.
    flow = (tmp_path / "onboarding-flow.html").read_text(encoding="utf-8")
    assert '<pre class="mermaid">' in flow
    # Offline: no web font is fetched from a CDN at build time or by the pages.
    assert "fonts.googleapis.com" not in flow


@pytest.mark.slow
def test_the_strict_build_refuses_a_broken_link(tmp_path: Path) -> None:
    import shutil

    shutil.copytree(DOCS, tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    page = tmp_path / "docs" / "concepts.md"
    page.write_text(page.read_text() + "\n[gone](issuer.md#no-such-section)\n")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "s")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={"PATH": str(Path(sys.executable).parent), "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 1
    assert "does not contain an anchor '#no-such-section'" in done.stderr
