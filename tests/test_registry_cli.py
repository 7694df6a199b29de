"""`ancre registry …` as an operator uses it (real subprocesses, a real SQLite file)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ancre.trust.clock import FixedClock
from ancre.trust.jose.vc_jose import PinnedKeys
from ancre.trust.trust_list.signed import verify_trust_list

PASSPHRASE = {"ANCRE_KEYSTORE_PASSPHRASE": "registry passphrase"}
REGISTRY = "did:web:registry.example"


def ancre(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ancre.cli.main", *args],
        capture_output=True,
        text=True,
        # os.environ now, not at import: it carries this test's own ANCRE_STATE_DIR.
        env={**os.environ, **PASSPHRASE},
        check=False,
        timeout=60,
    )


def _admin_tokens(stderr: str) -> dict[str, str]:
    lines = stderr.splitlines()
    tokens = {}
    for i, line in enumerate(lines):
        if line.startswith("ancre: approver token for "):
            tokens[line.split()[4]] = lines[i + 1].strip()
    return tokens


def test_operator_story(tmp_path: Path) -> None:
    d = ["--dir", str(tmp_path / "reg")]
    init = ancre("registry", "init", "--did", REGISTRY, *d, "--admin", "alice", "--admin", "bob")
    assert init.returncode == 0, init.stderr
    method = json.loads(init.stdout)
    assert method["id"] == f"{REGISTRY}#registry"
    assert "d" not in method["publicKeyJwk"]
    assert ancre("registry", "init", "--did", REGISTRY, *d).returncode == 64  # never twice
    tokens = _admin_tokens(init.stderr)
    assert set(tokens) == {"alice", "bob"}

    filed = ancre(
        "registry",
        "anchor",
        "add",
        "did:web:assoc.example",
        "--name",
        "Association",
        *d,
        "--token",
        tokens["alice"],
    )
    assert "pending change 1" in filed.stdout
    own = ancre("registry", "approve", "1", *d, "--token", tokens["alice"])
    assert own.returncode == 1
    assert "cannot approve their own" in own.stderr
    # `--as` is no identity: without a token there is no approval.
    assert ancre("registry", "approve", "1", *d, "--as", "bob").returncode == 77
    assert ancre("registry", "approve", "1", *d, "--token", tokens["bob"]).returncode == 0
    added = ancre(
        "registry", "issuer", "add", "did:web:agency.example", "--name", "Agence",
        "--accredited-by", "did:web:assoc.example", "--type", "gx:LegalPerson",
        "--constraint", "gx:LegalPerson:credentialSubject.gx:legalAddress.gx:countryCode=FR", *d,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    bad = ancre(
        "registry",
        "issuer",
        "add",
        "did:web:x.example",
        "--name",
        "X",
        "--accredited-by",
        "did:web:assoc.example",
        "--type",
        "gx:LegalPerson",
        "--constraint",
        "nonsense",
        *d,
    )
    assert bad.returncode == 64
    out = tmp_path / "list.jwt"
    assert ancre("registry", "publish", *d, "--out", str(out)).returncode == 0

    shown = json.loads(
        ancre(
            "keys",
            "show",
            "--keystore",
            str(tmp_path / "reg" / "keys.ancre"),
            "--name",
            "registry",
            "--json",
        ).stdout
    )
    keys = PinnedKeys({REGISTRY: [dict(shown["jwk"], kid="registry")]})
    tl = verify_trust_list(
        out.read_text().strip(),
        registry=REGISTRY,
        resolver=keys,
        clock=FixedClock(datetime.now(UTC) + timedelta(minutes=1)),
    )
    assert tl.is_trusted("did:web:agency.example", "gx:LegalPerson", datetime.now(UTC))

    listed = json.loads(ancre("registry", "issuer", "list", *d, "--json").stdout)
    assert [i["id"] for i in listed] == ["did:web:agency.example"]
    assert listed[0]["status"] == "active"
    assert ancre("registry", "audit", "verify", *d).returncode == 0
    with sqlite3.connect(tmp_path / "reg" / "registry.db") as db:
        db.execute("UPDATE audit_log SET details_json = '{}' WHERE seq = 4")
    broken = ancre("registry", "audit", "verify", *d, "--json")
    assert broken.returncode == 1
    report = json.loads(broken.stdout)
    assert (report["ok"], report["first_broken"]) == (False, 4)


def test_not_a_registry(tmp_path: Path) -> None:
    missing = ancre("registry", "issuer", "list", "--dir", str(tmp_path / "nothing"))
    assert missing.returncode == 64
    assert "registry init" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_connector_verifies_against_a_published_list(tmp_path: Path) -> None:
    import sys as _sys

    _sys.path.insert(0, str(Path(__file__).parent))
    from _support import Issuer, credential

    from ancre.trust.jose.vc_jose import issue_vc_jwt

    agency = Issuer.new("ed25519")
    d = ["--dir", str(tmp_path / "reg")]
    assert ancre("registry", "init", "--did", REGISTRY, "--no-two-person-rule", *d).returncode == 0
    assert (
        ancre("registry", "anchor", "add", "did:web:assoc.example", "--name", "A", *d).returncode
        == 0
    )
    added = ancre(
        "registry",
        "issuer",
        "add",
        agency.did,
        "--name",
        "Agence",
        "--accredited-by",
        "did:web:assoc.example",
        "--type",
        "ExampleMembership",
        *d,
    )
    assert added.returncode == 0, added.stderr
    listed = tmp_path / "list.jwt"
    assert ancre("registry", "publish", *d, "--out", str(listed)).returncode == 0
    shown = json.loads(
        ancre(
            "keys",
            "show",
            "--keystore",
            str(tmp_path / "reg" / "keys.ancre"),
            "--name",
            "registry",
            "--json",
        ).stdout
    )
    registry_jwk = tmp_path / "registry.jwk"
    registry_jwk.write_text(json.dumps(dict(shown["jwk"], kid="registry")))

    now = datetime.now(UTC).replace(microsecond=0)
    stamp = now.isoformat().replace("+00:00", "Z")
    token = tmp_path / "vc.jwt"
    token.write_text(issue_vc_jwt(credential(agency.did, validFrom=stamp), agency.key, agency.kid))
    args = [
        "verify",
        str(token),
        "--trust-list",
        str(listed),
        "--registry-key",
        str(registry_jwk),
        "--json",
    ]
    ok = ancre(*args)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    trust = next(c for c in json.loads(ok.stdout)["checks"] if c["step"] == "trust")
    assert "trust list #1" in trust["message"]
    # A credential type the agency is not listed for is refused.
    other = tmp_path / "other.jwt"
    other.write_text(
        issue_vc_jwt(
            credential(agency.did, validFrom=stamp, type=["VerifiableCredential", "ExampleDegree"]),
            agency.key,
            agency.kid,
        )
    )
    refused = ancre(
        "verify",
        str(other),
        "--trust-list",
        str(listed),
        "--registry-key",
        str(registry_jwk),
        "--json",
    )
    assert refused.returncode == 1
    assert json.loads(refused.stdout)["errors"][0]["code"] == "issuer_not_trusted"
    assert ancre("verify", str(token), "--trust-list", str(listed)).returncode == 64
    assert ancre("verify", str(token), "--cache-dir", str(tmp_path / "c")).returncode == 64

    # --cache-dir remembers the highest sequence of the registry (here, one saved file that
    # the connector refreshes) and keeps the last good list: once list #2 was seen there,
    # #1 is a rollback — the cached #2 keeps answering, with a warning (issue 12, point 8).
    first = listed.read_bytes()
    assert ancre("registry", "publish", *d, "--out", str(listed)).returncode == 0
    cache = ["--cache-dir", str(tmp_path / "cache"), "--registry-key", str(registry_jwk)]
    seen = ancre("verify", str(token), "--trust-list", str(listed), *cache, "--json")
    assert seen.returncode == 0, seen.stdout + seen.stderr
    (sequence,) = (tmp_path / "cache").glob("*.sequence")
    assert sequence.read_text() == "2\n"
    listed.write_bytes(first)
    kept = ancre("verify", str(token), "--trust-list", str(listed), *cache, "--json")
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert "trust list #2" in kept.stdout
    assert "trust_list_rollback: trust list #1 is older than #2" in kept.stderr
    # Without the cached list, only the memory of #2 is left: #1 is refused.
    for cached in (tmp_path / "cache").glob("*.jwt"):
        cached.unlink()
    rolled = ancre("verify", str(token), "--trust-list", str(listed), *cache, "--json")
    assert rolled.returncode == 1, rolled.stdout + rolled.stderr
    assert json.loads(rolled.stdout)["errors"][0]["code"] == "trust_list_rollback"
