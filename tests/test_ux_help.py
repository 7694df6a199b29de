"""Issue 18, polish: `--version`, `-h`, bash completion that works, help for every
parameter, choices in metavars, empty lists as sentences."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ancre.cli.main import build_command


def ancre(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ancre.cli.main", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "80"},
        cwd=cwd,
        timeout=60,
    )


def _commands(command: Any, path: tuple[str, ...] = ("ancre",)) -> list[tuple[str, Any]]:
    subcommands = getattr(command, "commands", None)
    if subcommands is None:
        return [(" ".join(path), command)]
    found = []
    for name, sub in subcommands.items():
        found.extend(_commands(sub, (*path, name)))
    return found


COMMANDS = _commands(build_command())


def test_version_and_short_help() -> None:
    from importlib.metadata import version

    for flag in ("--version", "-V"):
        done = ancre(flag)
        assert done.returncode == 0
        assert done.stdout == f"ancre {version('ancre')}\n"
    short, long = ancre("-h"), ancre("--help")
    assert short.returncode == long.returncode == 0
    assert short.stdout == long.stdout
    assert ancre("keys", "generate", "-h").stdout.startswith("Usage: ")


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[p for p, _ in COMMANDS])
def test_every_command_and_parameter_has_help(path: str, command: Any) -> None:
    assert command.help, f"{path} has no help"
    missing = [p.name for p in command.params if not getattr(p, "help", None)]
    assert missing == [], f"{path}: no help for {missing}"
    for param in command.params:
        if param.param_type_name == "argument":
            assert param.metavar == param.metavar.upper() or "|" in param.metavar, (path, param)


@pytest.mark.parametrize(
    ("args", "option", "metavar"),
    [
        (("keys", "generate"), "--type", "ed25519|p256|p384"),
        (("registry", "init"), "--key-type", "ed25519|p256|p384"),
        (("registry", "token", "create"), "--role", "viewer|editor|approver"),
        (("sign",), "--format", "vc+jwt|vc+sd-jwt|vc+cose|dc+sd-jwt|di"),
        (("verifier", "serve"), "--log-format", "json|text"),
        (("verifier", "serve"), "--log-level", "debug|info|warning|error"),
        (("verifier", "serve"), "--failure-status", "200|400"),
    ],
)
def test_choices_are_shown_in_metavars(args: tuple[str, ...], option: str, metavar: str) -> None:
    done = ancre(*args, "--help")
    assert done.returncode == 0
    assert f"{option} {metavar}" in done.stdout


def test_bash_completion_script_can_be_sourced_and_completes() -> None:
    script = ancre("completion", "bash")
    assert script.returncode == 0
    assert "complete -o default -F _ancre_completion ancre" in script.stdout
    venv = str(Path(sys.executable).parent)
    probe = (
        f"{script.stdout}\n"
        "COMP_WORDS=(ancre ve); COMP_CWORD=1; _ancre_completion ancre; "
        'echo "${COMPREPLY[*]}"\n'
        "COMP_WORDS=(ancre keys generate --ty); COMP_CWORD=3; _ancre_completion ancre; "
        'echo "${COMPREPLY[*]}"\n'
    )
    done = subprocess.run(
        ["bash", "-c", probe],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PATH": f"{venv}:{os.environ['PATH']}"},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["verify verifier", "--type"]


def test_completion_for_an_unknown_shell() -> None:
    done = ancre("completion", "tcsh")
    assert done.returncode == 64
    assert done.stderr == "ancre: SHELL must be one of bash, zsh, fish, not 'tcsh'\n"


def test_empty_lists_are_sentences(tmp_path: Path) -> None:
    env = {**os.environ, "ANCRE_KEYSTORE_PASSPHRASE": "correct horse"}
    made = subprocess.run(
        [sys.executable, "-m", "ancre.cli.main", "registry", "init", "--did",
         "did:web:r.example", "--dir", str(tmp_path / "reg")],
        capture_output=True, text=True, check=False, env=env, timeout=60,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    for args, sentence in (
        (("changes",), "no pending changes"),
        (("anchor", "list"), "no trust anchors"),
        (("issuer", "list"), "no trusted issuers"),
    ):
        done = ancre("registry", *args, "--dir", str(tmp_path / "reg"))
        assert done.returncode == 0, done.stderr
        assert done.stdout == sentence + "\n"


def test_help_examples_are_not_rewrapped() -> None:
    done = ancre("keys", "generate", "-h")  # COLUMNS=80: the example is longer
    assert done.returncode == 0
    example = (
        "    ANCRE_KEYSTORE_PASSPHRASE=… ancre keys generate --keystore keys.ancre --name issuer"
    )
    assert example in done.stdout.splitlines()


def _help_of(path: tuple[str, ...]) -> str:
    from typer._click import Context

    command: Any = build_command()
    for name in path:
        command = command.commands[name]
    with Context(command, info_name=" ".join(["ancre", *path]), terminal_width=80) as ctx:
        return str(command.get_help(ctx))


def _examples(text: str) -> list[str]:
    """The command lines of a help text's examples: indented lines holding `ancre `, with
    their `\\` continuations joined."""
    lines, found, at = text.splitlines(), [], 0
    while at < len(lines):
        line = lines[at]
        at += 1
        if not (line.startswith("    ") and "ancre " in line):
            continue
        whole = line.strip()
        while whole.endswith("\\") and at < len(lines):
            whole = whole[:-1] + " " + lines[at].strip()
            at += 1
        found.append(whole)
    return found


def _ancre_invocations(example: str) -> list[list[str]]:
    """The arguments of each `ancre …` in an example's shell line (after `|`, `&&`, and
    before a redirection), without environment assignments."""
    import shlex

    words, invocations, current = shlex.split(example, comments=True), [], []
    for word in [*words, "&&"]:
        if word in ("|", "&&", ">", ">>"):
            while current and "=" in current[0] and current[0] != "ancre":
                current = current[1:]  # VAR=value before the command
            if current and current[0] == "ancre":
                invocations.append(current[1:])
            current = [] if word in ("|", "&&") else ["redirect"]
        elif current != ["redirect"] or word in ("|", "&&"):
            if current and current[0] == "redirect":
                continue
            current.append(word)
    return invocations


def _parses(args: list[str]) -> tuple[str, ...]:
    """Parse `ancre ARGS` as the CLI would (commands, options, required parameters),
    without running it; the command path it names."""
    command: Any = build_command()
    ctx: Any = None
    name, path = "ancre", []
    while hasattr(command, "resolve_command"):  # a group (typer's own click)
        ctx = command.make_context(name, list(args), parent=ctx)
        rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
        name, command, args = command.resolve_command(ctx, rest)
        assert command is not None, args
        path.append(name)
    command.make_context(name, list(args), parent=ctx)
    return tuple(path)


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[p for p, _ in COMMANDS])
def test_every_command_shows_a_whole_example_that_parses(path: str, command: Any) -> None:
    """Issue 18: an example in every command's help (issuer, wallet, registry… alike), on
    its own indented lines so it is never rewrapped mid-command, and each a command line
    the CLI accepts: real commands and options, every required parameter given."""
    words = tuple(path.split()[1:])
    examples = _examples(_help_of(words))
    assert any(f"{path} " in f"{e} " for e in examples), f"{path}: no example in its help"
    for example in examples:
        for args in _ancre_invocations(example):
            _parses(args)  # raises click's usage error for a wrong example


def test_an_example_with_a_wrong_option_is_caught() -> None:
    from typer._click.exceptions import UsageError

    assert _parses(["issuer", "revoke", "urn:uuid:x", "--dir", "agency"]) == ("issuer", "revoke")
    for wrong in (
        ["issuer", "revoke", "urn:uuid:x", "--folder", "agency"],  # no such option
        ["issuer", "login-approve", "2c26b46b68ffc68f"],  # --claims is required
        ["issuer", "list", "agency"],  # no argument there
        ["issuer", "offer", "--dir", "agency"],  # --type is required
        ["issuer", "nosuch"],  # no such command
    ):
        with pytest.raises(UsageError):
            _parses(wrong)
    assert _ancre_invocations(
        "ANCRE_KEYSTORE_PASSPHRASE=… ancre keys list --keystore k.ancre > out.txt"
    ) == [["keys", "list", "--keystore", "k.ancre"]]
    assert _ancre_invocations("cat vp.jwt | ancre verify - --json") == [["verify", "-", "--json"]]
