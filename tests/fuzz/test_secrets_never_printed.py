"""The issuer's and the registry's command lines never print key material, passphrases,
tokens or a holder's claims (issue 17, supply chain; the wallet's own test is in
tests/test_wallet_flow.py). A secret made for the operator (an API key, an admin token, a
tx_code) is printed once, by the command that made it, and by no other command, in any
output mode (human or `--json`, stdout or stderr, where the logs go)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _issuer_support import LEGAL_PERSON_CLAIMS, PASSPHRASE, ancre_cli

from ancre.trust.keys.keystore import FileKeyStore

pytestmark = pytest.mark.slow

#: A claim value no output may show (the offer's claims are personal data).
UNDISCLOSED = "Zephyrine-Undisclosed-4711"


def _private_parts(folder: Path) -> list[str]:
    """Every private JWK member (`d`…) of every key store in `folder`."""
    found = []
    for path in folder.glob("*.ancre"):
        store = FileKeyStore(path, PASSPHRASE)
        for info in store.list():
            jwk = store.export_private_jwk(info.name)
            found += [value for name, value in jwk.items() if name in ("d", "p", "q", "dp", "dq")]
    assert found, f"no key store in {folder}"
    return found


def _outputs(done: Any) -> str:
    return f"{done.stdout}\n{done.stderr}"


def _assert_clean(outputs: dict[str, str], secrets: dict[str, list[str]]) -> None:
    for command, text in outputs.items():
        for kind, values in secrets.items():
            for value in values:
                assert value not in text, f"`{command}` printed the {kind}"


def test_issuer_cli_prints_no_secret(tmp_path: Path) -> None:
    folder = tmp_path / "issuer"
    d = ["--dir", str(folder)]
    claims = tmp_path / "claims.json"
    claims.write_text(json.dumps({**LEGAL_PERSON_CLAIMS, "schema:name": UNDISCLOSED}))
    runs: dict[str, Any] = {}

    def run(*args: str) -> Any:
        done = ancre_cli("issuer", *args)
        runs[" ".join(args)] = done
        return done

    init = run("init", *d, "--did", "did:web:agency.example")
    assert init.returncode == 0, init.stderr
    offers = [
        run("offer", *d, "--type", "LegalPerson", "--claims", str(claims), "--tx-code", *mode)
        for mode in ([], ["--json"])
    ]
    assert all(o.returncode == 0 for o in offers), offers[0].stderr
    tx_code = json.loads(offers[1].stdout)["tx_code"]
    client = run("client", "add", "machine-1", "--type", "LegalPerson", *d)
    admin = run("admin-key", "add", "alice", *d)
    assert client.returncode == admin.returncode == 0, client.stderr + admin.stderr
    run("list", *d)
    run("pending", *d, "--json")
    run("client", "list", *d, "--json")
    run("admin-key", "list", *d)
    run("audit", "verify", *d, "--json")
    run("keys", "rotate", *d)
    assert all(r.returncode in (0, 1) for r in runs.values()), {
        k: r.stderr for k, r in runs.items() if r.returncode not in (0, 1)
    }

    made_once = {
        "client API key": [client.stdout.strip().split()[-1]],
        "admin API key": [admin.stdout.strip().split()[-1]],
        "tx_code": [tx_code],
    }
    assert all(len(v[0]) >= 6 for v in made_once.values()), made_once
    creators = {k for k in runs if k.startswith(("offer ", "client add ", "admin-key add "))}
    _assert_clean(
        {k: _outputs(r) for k, r in runs.items() if k not in creators},
        {**made_once, "private key": _private_parts(folder), "passphrase": [PASSPHRASE]},
    )
    _assert_clean(
        {k: _outputs(r) for k, r in runs.items()},
        {
            "private key": _private_parts(folder),
            "passphrase": [PASSPHRASE],
            "undisclosed claim": [UNDISCLOSED],
        },
    )


def _admin_tokens(stderr: str) -> list[str]:
    lines = stderr.splitlines()
    return [
        lines[i + 1].strip()
        for i, line in enumerate(lines)
        if line.startswith("ancre: approver token for ")
    ]


def test_registry_cli_prints_no_secret(tmp_path: Path) -> None:
    folder = tmp_path / "registry"
    d = ["--dir", str(folder)]
    runs: dict[str, Any] = {}

    def run(*args: str) -> Any:
        done = ancre_cli("registry", *args)
        runs[" ".join(args)] = done
        return done

    init = run("init", "--did", "did:web:registry.example", *d, "--admin", "alice")
    assert init.returncode == 0, init.stderr
    tokens = _admin_tokens(init.stderr)
    assert len(tokens) == 1, init.stderr
    created = run("token", "create", "dashboard", "--role", "viewer", *d, "--token", tokens[0])
    assert created.returncode == 0, created.stderr
    made = created.stdout.strip().splitlines()[-1].strip()
    assert len(made) >= 16, created.stdout
    run("token", "list", *d, "--json")
    run("changes", *d)
    run("audit", "verify", *d, "--json")
    run("publish", *d)
    _assert_clean(
        {k: _outputs(r) for k, r in runs.items() if not k.startswith(("init ", "token create"))},
        {
            "admin token": [*tokens, made],
            "private key": _private_parts(folder),
            "passphrase": [PASSPHRASE],
        },
    )
    _assert_clean(
        {k: _outputs(r) for k, r in runs.items()},
        {"private key": _private_parts(folder), "passphrase": [PASSPHRASE]},
    )
