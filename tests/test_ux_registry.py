"""Issue 18, for registry administrators: reading the audit log, adding a credential type to
an issuer, issuer status in lists, `--json` on every command that changes something with one
naming scheme (docs/registry-json.md), `registry serve` serving its DID document, and
`verifier serve` refusing a trust source it could never use. Real subprocesses, a real
SQLite registry; every message and exit code a person sees is asserted."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from _support import spawn_server

PASSPHRASE = {"ANCRE_KEYSTORE_PASSPHRASE": "registry passphrase"}
REGISTRY = "did:web:registry.example"
ANCHOR = "did:web:assoc.example"
AGENCY = "did:web:agency.example"
DOCS = Path(__file__).resolve().parent.parent / "docs" / "registry-json.md"
#: A time cut to the second, as people read it (no microseconds).
SECONDS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00$")


def ancre(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "ancre.cli.main", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **PASSPHRASE, "NO_COLOR": "1", **(env or {})},
        timeout=60,
    )
    assert "this is a bug" not in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done


def as_json(done: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(done.stdout)


def table(done: subprocess.CompletedProcess[str]) -> list[list[str]]:
    """A human table read through a pipe: tab-separated lines, the header first."""
    return [line.split("\t") for line in done.stdout.splitlines()]


class Reg:
    def __init__(self, folder: Path, tokens: dict[str, str]) -> None:
        self.folder, self.tokens = folder, tokens

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return ancre("registry", *args, "--dir", str(self.folder))


@pytest.fixture(scope="module")
def reg(tmp_path_factory: pytest.TempPathFactory) -> Reg:
    """A registry with two administrators, an anchor (approved by the second) and an
    issuer trusted for one type."""
    folder = tmp_path_factory.mktemp("ux-registry") / "reg"
    init = ancre("registry", "init", "--did", REGISTRY, "--dir", str(folder),
                 "--admin", "alice", "--admin", "bob", "--json")  # fmt: skip
    assert init.returncode == 0, init.stderr
    made = as_json(init)
    assert (made["ok"], made["code"], made["action"], made["subject"], made["applied"]) == (
        True, None, "init", REGISTRY, True,
    )  # fmt: skip
    assert made["verification_method"]["id"] == f"{REGISTRY}#registry"
    assert set(made["admin_tokens"]) == {"alice", "bob"}
    assert init.stderr == ""  # under --json the tokens are in the document, not on stderr
    r = Reg(folder, made["admin_tokens"])
    filed = as_json(r("anchor", "add", ANCHOR, "--name", "Association",
                      "--token", r.tokens["alice"], "--json"))  # fmt: skip
    assert (filed["ok"], filed["applied"]) == (True, False)
    assert filed["change"]["state"] == "pending"
    assert filed["change"]["actor"] == "alice"
    assert filed["message"].startswith(f"pending change {filed['change']['id']}: ")
    approved = as_json(r("approve", str(filed["change"]["id"]), "--token", r.tokens["bob"],
                         "--json"))  # fmt: skip
    assert (approved["applied"], approved["change"]["state"]) == (True, "approved")
    added = r("issuer", "add", AGENCY, "--name", "Agence", "--accredited-by", ANCHOR,
              "--type", "gx:LegalPerson", "--as", "Carol")  # fmt: skip
    assert (added.returncode, added.stdout) == (0, f"issuer {AGENCY} added for gx:LegalPerson\n")
    return r


def test_registry_init_writes_its_did_document(reg: Reg) -> None:
    document = json.loads((reg.folder / "did.json").read_text())
    settings = json.loads((reg.folder / "registry.json").read_text())
    assert document["id"] == REGISTRY
    assert document["assertionMethod"] == [f"{REGISTRY}#registry"]
    assert document["verificationMethod"][0]["publicKeyJwk"] == settings["public_jwk"]


def test_add_a_credential_type_to_an_existing_issuer(reg: Reg) -> None:
    done = reg("issuer", "add-type", AGENCY, "gx:ServiceOffering", "--json")
    assert done.returncode == 0, done.stderr
    outcome = as_json(done)
    assert outcome == {
        "ok": True, "code": None,
        "message": f"{AGENCY} is now trusted for gx:ServiceOffering",
        "action": "issuer add-type", "subject": AGENCY, "applied": True, "change": None,
        "type": "gx:ServiceOffering",
    }  # fmt: skip
    again = reg("issuer", "add-type", AGENCY, "gx:ServiceOffering")
    assert again.returncode == 1
    assert again.stderr == f"ancre: {AGENCY} is already trusted for gx:ServiceOffering\n"
    unknown = reg("issuer", "add-type", "did:web:nobody.example", "gx:LegalPerson", "--json")
    assert unknown.returncode == 1
    refused = as_json(unknown)
    assert (refused["ok"], refused["code"], refused["applied"]) == (False, "not_found", False)
    assert refused["action"] == "issuer add-type"
    assert unknown.stderr == "ancre: no issuer did:web:nobody.example\n"
    # Withdrawn, then granted again: the list shows each type's status now.
    assert reg("issuer", "withdraw-type", AGENCY, "--type", "gx:ServiceOffering",
               "--reason", "audit finding").returncode == 0  # fmt: skip
    listed = table(reg("issuer", "list"))
    assert listed[0] == ["id", "name", "status", "types", "accredited by"]
    assert listed[1][3] == "gx:LegalPerson, gx:ServiceOffering (withdrawn)"
    back = reg("issuer", "add-type", AGENCY, "gx:ServiceOffering")
    assert back.stdout == f"{AGENCY} is now trusted for gx:ServiceOffering\n"
    shown = as_json(reg("issuer", "show", AGENCY, "--json"))
    offering = next(t for t in shown["types"] if t["type"] == "gx:ServiceOffering")
    assert [h["status"] for h in offering["history"]] == ["active", "withdrawn", "active"]
    assert offering["status"] == "active"


def test_issuer_list_says_each_issuers_status(reg: Reg) -> None:
    other = "did:web:suspended.example"
    assert reg("issuer", "add", other, "--name", "Other", "--accredited-by", ANCHOR,
               "--type", "gx:LegalPerson").returncode == 0  # fmt: skip
    done = reg("issuer", "suspend", other, "--reason", "unpaid fees", "--json")
    assert as_json(done)["message"] == f"{other} is now suspended"
    rows = {row[0]: row for row in table(reg("issuer", "list"))[1:]}
    assert rows[other][2] == "suspended"
    assert rows[AGENCY][2] == "active"
    listed = {i["id"]: i for i in as_json(reg("issuer", "list", "--json"))}
    assert listed[other]["status"] == "suspended"
    assert listed[other]["types"] == [{"type": "gx:LegalPerson", "status": "active"}]


def test_read_the_audit_log(reg: Reg) -> None:
    every = as_json(reg("audit", "list", "--json"))
    assert [e["id"] for e in every] == list(range(1, len(every) + 1))
    assert every[0]["action"] == "configure"
    # `--as Carol` is a label, normalised as a person's name is.
    added = next(e for e in every if e["action"] == "add_issuer" and e["subject"] == AGENCY)
    assert added["actor"] == "carol"
    page = table(reg("audit", "list", "--since", "2", "--limit", "3"))
    assert page[0] == ["seq", "at", "actor", "action", "subject"]
    assert [row[0] for row in page[1:]] == ["3", "4", "5"]
    assert all(SECONDS.match(row[1]) for row in page[1:]), page
    assert page[1][2:] == ["init", "create_token", "bob"]
    past = reg("audit", "list", "--since", "100000")
    assert (past.returncode, past.stdout) == (0, "no audit events after 100000\n")
    bad = reg("audit", "list", "--limit", "0")
    assert bad.returncode == 64
    assert "--limit" in bad.stderr

    one = reg("audit", "show", "3")
    assert one.returncode == 0, one.stderr
    lines = one.stdout.splitlines()
    assert lines[0] == "event 3"
    assert SECONDS.match(lines[1].split()[1])
    assert lines[2:5] == ["  actor     init", "  action    create_token", "  subject   bob"]
    assert lines[-1] == f"  hash      {every[2]['hash']}"
    assert as_json(reg("audit", "show", "3", "--json")) == every[2]
    missing = reg("audit", "show", "100000")
    assert (missing.returncode, missing.stderr) == (1, "ancre: no audit event 100000\n")


def test_every_command_that_changes_something_takes_json() -> None:
    from ancre.cli.main import build_command

    registry = build_command().commands["registry"]
    leaves: dict[str, Any] = {}
    for name, command in registry.commands.items():
        for sub, leaf in getattr(command, "commands", {name: command}).items():
            leaves[name if sub == name else f"{name} {sub}"] = leaf
    assert {"audit list", "audit show", "issuer add-type"} <= set(leaves)
    without = [n for n, c in leaves.items() if not any("--json" in p.opts for p in c.params)]
    assert without == ["serve"]  # a server prints logs, not a document


def test_changes_and_tokens_in_one_naming_scheme(reg: Reg) -> None:
    assert reg("changes").stdout == "no pending changes\n"
    off = as_json(reg("two-person-rule", "off", "--token", reg.tokens["alice"], "--json"))
    assert (off["applied"], off["change"]["kind"]) == (False, "two_person_rule")
    pending = as_json(reg("changes", "--json"))
    assert pending == [off["change"]]
    rejected = as_json(reg("reject", str(off["change"]["id"]), "--token", reg.tokens["bob"],
                           "--json"))  # fmt: skip
    assert (rejected["applied"], rejected["change"]["state"]) == (False, "rejected")
    tokens = as_json(reg("token", "list", "--json"))
    assert [(t["id"], t["person"], t["revoked_at"]) for t in tokens] == [
        ("alice", "alice", None), ("bob", "bob", None),
    ]  # fmt: skip
    created = as_json(reg("token", "create", "reader", "--role", "viewer", "--json"))
    assert created["token"].startswith("ancre_")
    assert created["applied"] is True
    revoked = as_json(reg("token", "revoke", "reader", "--token", reg.tokens["alice"], "--json"))
    assert revoked["message"] == "token reader revoked"
    published = as_json(reg("publish", "--json"))
    assert published["trust_list"]["id"] == published["subject"]
    assert SECONDS.match(published["message"].rsplit(" ", 1)[1])
    checkpoint = as_json(reg("audit", "checkpoint", "--json"))
    assert checkpoint["action"] == "audit checkpoint"
    assert len(checkpoint["head"]) == 64


def _documented() -> dict[str, list[str]]:
    """The fields docs/registry-json.md lists per record (### `name`, then a table)."""
    out: dict[str, list[str]] = {}
    current = None
    for line in DOCS.read_text().splitlines():
        heading = re.fullmatch(r"### `([a-z ]+)`", line)
        if heading:
            current = heading.group(1)
            out[current] = []
        elif current and line.startswith("| `"):
            out[current].append(line.split("`")[1])
    return out


def test_the_documented_schema_is_the_one_printed(reg: Reg) -> None:
    docs = _documented()
    issuer = as_json(reg("issuer", "list", "--json"))[0]
    shown = as_json(reg("issuer", "show", AGENCY, "--json"))
    printed = {
        "anchor": as_json(reg("anchor", "list", "--json"))[0],
        "issuer": issuer,
        "type": issuer["types"][0],
        "history entry": shown["history"][0],
        "audit event": as_json(reg("audit", "show", "1", "--json")),
        "token": as_json(reg("token", "list", "--json"))[0],
        "outcome": as_json(reg("issuer", "add-type", AGENCY, "gx:Extra", "--json")),
        "publication": as_json(reg("publish", "--json"))["trust_list"],
    }
    changed = as_json(reg("anchor", "suspend", ANCHOR, "--reason", "drill",
                          "--token", reg.tokens["alice"], "--json"))  # fmt: skip
    printed["change"] = changed["change"]
    for record, fields in printed.items():
        extra = {"type"} if record == "outcome" else set()
        assert list(docs[record]) == [k for k in fields if k not in extra], record
    assert set(shown) == set(docs["issuer"]) | {"history"}


def test_registry_serve_serves_its_did_document_and_says_where_the_api_is(
    reg: Reg, tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"

    def up(port: int) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    with log.open("wb") as sink:
        serve = [sys.executable, "-m", "ancre.cli.main", "registry", "serve"]
        process, port = spawn_server(
            lambda port: [*serve, "--dir", str(reg.folder), "--port", str(port)],
            up,
            stderr=sink,
            env={**os.environ, **PASSPHRASE},
        )
        try:
            url = f"http://127.0.0.1:{port}/.well-known/did.json"
            with urllib.request.urlopen(url, timeout=5) as response:
                served = json.load(response)
                assert response.headers["Content-Type"] == "application/did+json"
        finally:
            process.terminate()
            process.wait(10)
    assert served == json.loads((reg.folder / "did.json").read_text())
    said = log.read_text()
    assert f"every route is described at http://127.0.0.1:{port}/docs" in said
    assert f"serving {REGISTRY}'s DID document at /.well-known/did.json" in said


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--trust-list", "http://registry.example/trust-list",
             "--registry-key", REGISTRY],
            "ancre: --trust-list http://registry.example/trust-list can never be fetched: "
            "refusing to fetch 'http://registry.example/trust-list': plain http is not "
            "allowed (https only) (--insecure-loopback allows http to loopback); not starting\n",
        ),
        (
            ["--trust-list", "https://10.0.0.7/trust-list", "--registry-did", REGISTRY],
            "ancre: --trust-list https://10.0.0.7/trust-list can never be fetched: refusing "
            "to fetch 'https://10.0.0.7/trust-list': address 10.0.0.7 is in the non-public "
            "range 10.0.0.0/8; not starting\n",
        ),
        (
            ["--trust-list", "https://registry.example/trust-list",
             "--registry-key", "registry.example"],
            "ancre: --registry-key 'registry.example' is not a DID (did:web:registry.example); "
            "not starting\n",
        ),
        (
            ["--trust-list", "https://registry.example/trust-list",
             "--registry-key", "did:example:registry"],
            "ancre: --registry-key did:example:registry: did:example cannot be resolved here "
            "(did:web, did:key or did:jwk); not starting\n",
        ),
    ],
)  # fmt: skip
def test_verifier_serve_refuses_a_trust_source_it_could_never_use(
    args: list[str], message: str
) -> None:
    done = ancre("verifier", "serve", "--port", "1", *args)
    assert (done.returncode, done.stderr) == (64, message)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"kty": "OKP", "crv": "Ed25519", "x": "bad"}',
         "JWK member 'x' is non-canonical base64url"),
        ('{"id": "k", "controller": "registry.example", "publicKeyJwk": {}}',
         "--registry-key: a verification method needs id, controller (a DID) and a public "
         "publicKeyJwk"),
        ("# a README", "--registry-key is not valid JSON"),
    ],
)  # fmt: skip
def test_a_registry_key_that_is_no_key_is_a_usage_error(
    tmp_path: Path, content: str, message: str
) -> None:
    key = tmp_path / "registry.jwk"
    key.write_text(content)
    token = tmp_path / "credential.jwt"
    token.write_text("eyJhbGciOiJFZERTQSJ9.e30.c2ln\n")
    done = ancre("verify", str(token), "--trust-list", "https://registry.example/trust-list",
                 "--registry-key", str(key))  # fmt: skip
    assert done.returncode == 64
    assert done.stderr.startswith("ancre: ")
    assert message in done.stderr


def _help(path: list[str]) -> str:
    import click

    from ancre.cli.main import build_command

    command: Any = build_command()
    for name in path:
        command = command.commands[name]
    with click.Context(command, info_name=" ".join(["ancre", *path]), terminal_width=80) as ctx:
        return str(command.get_help(ctx))


def test_every_registry_command_shows_a_whole_example() -> None:
    from ancre.cli.main import build_command

    registry = build_command().commands["registry"]
    paths = [
        [name, *([sub] if sub else [])]
        for name, command in registry.commands.items()
        for sub in (getattr(command, "commands", None) or {"": None})
    ]
    assert len(paths) >= 25
    for path in [*(["registry", *p] for p in paths), ["demo"], ["completion"]]:
        text = _help(path)
        examples = [line for line in text.splitlines() if line.startswith("    ")]
        # Indented, on its own line, never rewrapped in the middle of the command.
        assert any(f"ancre {' '.join(path)}" in line for line in examples), (path, text)
    anchor = _help(["registry", "anchor", "withdraw"]).splitlines()
    at = anchor.index(
        '    ancre registry anchor withdraw did:web:assoc.example --reason "left the space" \\'
    )
    assert anchor[at + 1] == '        --dir reg --token "$ALICE_TOKEN"'
    # Metavars say what to type, not Python's types.
    assert "--reason TEXT" in "\n".join(anchor)
    assert "--token TOKEN" in "\n".join(anchor)
    assert "--as NAME" in "\n".join(anchor)


def test_times_cut_to_the_second_never_read_as_a_contradiction() -> None:
    from ancre.cli.output import to_seconds

    assert to_seconds("valid from 2026-12-06T23:03:33.5Z until 2026-12-07T23:03:33.5Z") == (
        "valid from 2026-12-06T23:03:33Z until 2026-12-07T23:03:33Z"
    )
    # An issuer listed 0.4 s after issuance: cut, both would read 23:03:33Z.
    told = "not listed at issuance time 2026-12-06T23:03:33Z (listed from 2026-12-06T23:03:33.4Z)"
    assert to_seconds(told) == told


def test_every_refusal_under_json_is_one_document(reg: Reg) -> None:
    cases = [
        (["approve", "1", "--as", "bob", "--json"], 77, "forbidden", "approve"),
        (["history", "did:web:nobody.example", "--json"], 1, "not_found", "issuer show"),
        (["two-person-rule", "maybe", "--json"], 64, "invalid_request", "two-person-rule"),
        (["init", "--did", REGISTRY, "--json"], 64, "invalid_request", "init"),
    ]
    for args, exit_code, code, action in cases:
        done = reg(*args)
        assert done.returncode == exit_code, (args, done.stderr)
        refused = as_json(done)  # exactly one document, even through a nested command
        assert (refused["ok"], refused["code"], refused["action"]) == (False, code, action)
        assert refused["applied"] is False
        assert done.stderr == f"ancre: {refused['message']}\n"
