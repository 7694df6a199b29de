"""Issue 18, acceptance 2: the tour walked in a real terminal (bash in a pty, through
pexpect), as a person types it, tab completion included. Every screen is kept as an
artifact next to the test's files (`tour.screen`, and in $ANCRE_SCREENS_DIR when set, for
CI to upload)."""

from __future__ import annotations

import io
import os
import re
import shutil
import sys
from pathlib import Path

import pexpect
import pytest

pytestmark = pytest.mark.slow

PROMPT = "tour$ "
PASSPHRASE = "correct horse battery"
#: Rich and readline decorations a person does not see as text.
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r")


class Terminal:
    """bash in an 160×40 pty, in an empty folder, with `ancre` on the PATH."""

    def __init__(self, folder: Path) -> None:
        self.screen = io.StringIO()
        bin_dir = str(Path(sys.executable).parent)
        env = {
            "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(folder),
            "TERM": "xterm-256color",
            "NO_COLOR": "1",
            "LANG": "C.UTF-8",
            "PS1": PROMPT,
            "ANCRE_KEYSTORE_PASSPHRASE": PASSPHRASE,
        }
        self.child = pexpect.spawn(
            "bash",
            ["--norc", "--noprofile", "-i"],
            cwd=str(folder),
            env=env,
            encoding="utf-8",
            timeout=60,
            dimensions=(40, 160),
        )
        self.child.logfile_read = self.screen
        self.child.expect_exact(PROMPT)

    def run(self, line: str) -> str:
        """Type `line`, wait for the prompt; what the screen showed in between, and the
        exit status (asked with `echo`, as a person would)."""
        self.child.sendline(line)
        self.child.expect_exact(PROMPT)
        shown = _ANSI.sub("", self.child.before or "")
        return shown.split("\n", 1)[1] if "\n" in shown else ""

    def status(self) -> int:
        return int(self.run("echo $?").strip())

    def close(self, artifact: Path) -> str:
        self.child.sendline("exit")
        self.child.expect(pexpect.EOF)
        self.child.close()
        text = _ANSI.sub("", self.screen.getvalue())
        artifact.write_text(text)
        keep = os.environ.get("ANCRE_SCREENS_DIR")
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(artifact, Path(keep) / artifact.name)
        return text


def test_the_tour_in_a_terminal(tmp_path: Path) -> None:
    term = Terminal(tmp_path)
    try:
        assert re.fullmatch(r"ancre \d+\.\d+\.\d+\S*\n", term.run("ancre --version"))

        # Tab completion, loaded as `ancre completion --help` says.
        term.run('eval "$(ancre completion bash)"')
        term.child.send("ancre regi\t")
        term.child.expect_exact("ancre registry ")
        term.child.send("\x15")  # ^U: clear the line, as a person would
        term.run("")

        assert "wrote" in term.run("ancre samples samples").lower()
        verdict = term.run("ancre verify samples/credential.jwt")
        assert verdict.startswith("VALID (issuer not checked: no trust source given)")
        assert term.status() == 0
        tampered = term.run("ancre verify samples/tampered.jwt")
        assert tampered.startswith("INVALID")
        assert "signature_invalid" in tampered
        assert term.status() == 1
        readme = term.run("ancre verify samples/README.md")
        assert "not a credential or presentation" in readme
        assert "ASCII" not in readme
        assert term.status() == 65

        # A registry, administered as the README does: two persons for an anchor.
        term.run("ancre registry init --did did:web:registry.example --dir reg "
                 "--admin alice --admin bob --json > init.json")  # fmt: skip
        assert term.status() == 0
        read = 'python3 -c \'import json,sys; print(json.load(open("init.json"))'
        term.run(f'ALICE=$({read}["admin_tokens"]["alice"])\')')
        term.run(f'BOB=$({read}["admin_tokens"]["bob"])\')')
        filed = term.run("ancre registry anchor add did:web:assoc.example --name Association "
                         '--dir reg --token "$ALICE"')  # fmt: skip
        assert filed.startswith("pending change 1: another administrator must run")
        pending = term.run("ancre registry changes --dir reg")
        assert "add_anchor" in pending
        assert "alice" in pending
        assert term.run('ancre registry approve 1 --dir reg --token "$BOB"') == (
            "change 1 (add_anchor) approved and applied\n"
        )
        term.run("ancre registry issuer add did:web:agency.example --name Agence --dir reg "
                 "--accredited-by did:web:assoc.example --type gx:LegalPerson")  # fmt: skip
        term.run("ancre registry issuer add-type did:web:agency.example gx:ServiceOffering "
                 "--dir reg")  # fmt: skip
        listed = term.run("ancre registry issuer list --dir reg")
        assert "active" in listed
        assert "gx:ServiceOffering" in listed
        audit = term.run("ancre registry audit list --dir reg")
        assert "approve:add_anchor" in audit
        assert not re.search(r"T\d\d:\d\d:\d\d\.\d", audit)  # to the second, for people
        assert "grant_type" in term.run("ancre registry audit show 8 --dir reg")
        assert term.run("ancre registry changes --dir reg") == "no pending changes\n"
    finally:
        shown = term.close(tmp_path / "tour.screen")
    assert "this is a bug" not in shown
    assert "Traceback" not in shown
