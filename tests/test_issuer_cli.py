"""`ancre issuer …` as an operator uses it: real subprocesses, a served issuer over HTTPS."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from _issuer_support import LEGAL_PERSON_CLAIMS, Tls, Wallet, ancre_cli, cli_issuer, make_tls

from ancre.trust.clock import SystemClock
from ancre.trust.did.resolvers import default_resolver
from ancre.trust.net.guard import NetworkPolicy
from ancre.trust.result import Status
from ancre.trust.status.checker import StatusListChecker
from ancre.verifier.pipeline import verify

LOOPBACK = NetworkPolicy(allow_loopback=True, max_bytes=4 * 1024 * 1024)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


def test_init_checks_everything_before_writing(tmp_path: Path) -> None:
    target = tmp_path / "issuer"
    for bad, why in (
        (["--did", "did:key:z6Mk"], "must be a did:web"),
        (["--did", "did:web:a..b:%2F"], "invalid did:web"),
        (["--did", "did:web:agency.example", "--key-type", "rsa"], "key type must be one of"),
        (["--did", "did:web:agency.example", "--public-url", "http://agency.example"], "loopback"),
        (["--did", "did:web:agency.example", "--database", "mysql://x"], "sqlite"),
    ):
        done = ancre_cli("issuer", "init", "--dir", str(target), *bad)
        assert done.returncode == 64, (bad, done.stderr)
        assert why in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
        assert not target.exists()
    done = ancre_cli("issuer", "init", "--dir", str(target), "--did", "did:web:agency.example")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in target.iterdir()) == ["issuer.db", "issuer.json", "keys.ancre"]
    assert (target / "keys.ancre").stat().st_mode & 0o777 == 0o600
    config = json.loads((target / "issuer.json").read_text())
    assert config["public_url"] == "https://agency.example"
    assert config["keys"][0]["kid"] == "did:web:agency.example#signing-1"
    again = ancre_cli("issuer", "init", "--dir", str(target), "--did", "did:web:agency.example")
    assert again.returncode == 64
    assert "already holds an issuer" in again.stderr


def test_operator_story_over_a_served_issuer(tmp_path: Path, tls: Tls) -> None:
    directory = tmp_path / "issuer"
    claims = tmp_path / "claims.json"
    claims.write_text(json.dumps(LEGAL_PERSON_CLAIMS))
    d = ["--dir", str(directory)]
    with (
        cli_issuer(directory, tls),
        httpx.Client(trust_env=False, timeout=10, verify=tls.context()) as http,
    ):
        made = ancre_cli(
            "issuer", "offer", *d, "--type", "LegalPerson", "--claims", str(claims),
            "--tx-code", "--json",
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        offer = json.loads(made.stdout)
        assert sorted(offer) == ["expires_at", "offer_uri", "tx_code"]
        assert offer["offer_uri"].startswith("openid-credential-offer://?credential_offer_uri=")
        token = Wallet(http).obtain(offer["offer_uri"], offer["tx_code"])

        clock = SystemClock()

        def check() -> list[str | None]:
            resolver = default_resolver(http_client=http, network=LOOPBACK, clock=clock)
            status = StatusListChecker(client=http, resolver=resolver, network=LOOPBACK)
            result = verify(token, resolver=resolver, clock=clock, status=status)
            assert result.status is not Status.INDETERMINATE, result.to_json()
            return [c.code for c in result.errors]

        assert check() == []
        listed = ancre_cli("issuer", "list", *d, "--json")
        rows = json.loads(listed.stdout)
        assert [(r["configuration"], r["state"]) for r in rows] == [("LegalPerson", "valid")]
        credential_id = rows[0]["id"]
        suspended = ancre_cli("issuer", "suspend", credential_id, *d, "--as", "alice")
        assert suspended.stdout == f"{credential_id}: suspended\n"
        assert check() == ["suspended"]
        assert ancre_cli("issuer", "reinstate", credential_id, *d).returncode == 0
        assert check() == []
        assert ancre_cli("issuer", "revoke", credential_id, *d).returncode == 0
        assert check() == ["revoked"]
        final = ancre_cli("issuer", "reinstate", credential_id, *d)
        assert final.returncode == 1
        assert "already_in_state: " in final.stderr
        assert "revocation is final" in final.stderr
        twice = ancre_cli("issuer", "revoke", credential_id, *d, "--json")
        assert (twice.returncode, twice.stdout) == (1, "")
        assert f"ancre: already_in_state: {credential_id} is revoked" in twice.stderr
        unknown = ancre_cli("issuer", "revoke", "urn:uuid:nope", *d)
        assert unknown.returncode == 1
        assert "credential_not_found" in unknown.stderr
        audit = ancre_cli("issuer", "audit", "verify", *d, "--json")
        assert json.loads(audit.stdout) == {
            "ok": True,
            "events": 6,
            "first_broken": None,
            "reason": "",
        }
    rotated = ancre_cli("issuer", "keys", "rotate", *d)
    assert rotated.stdout.endswith("#signing-2\n"), rotated.stderr


def test_offer_refuses_bad_claims_files(tmp_path: Path) -> None:
    directory = tmp_path / "issuer"
    assert (
        ancre_cli(
            "issuer", "init", "--dir", str(directory), "--did", "did:web:a.example"
        ).returncode
        == 0
    )
    d = ["--dir", str(directory)]
    duplicate = tmp_path / "dup.json"
    duplicate.write_text('{"schema:name": "A", "schema:name": "B"}')
    missing = tmp_path / "missing.json"
    for path, code, why in (
        (duplicate, 65, "duplicate_json_key"),
        (missing, 65, "cannot read"),
    ):
        done = ancre_cli("issuer", "offer", *d, "--type", "LegalPerson", "--claims", str(path))
        assert done.returncode == code, done.stderr
        assert why in done.stderr
        assert "Traceback" not in done.stderr
    short = tmp_path / "short.json"
    short.write_text('{"schema:name": "A"}')
    done = ancre_cli("issuer", "offer", *d, "--type", "LegalPerson", "--claims", str(short))
    assert done.returncode == 65
    assert "invalid_claims" in done.stderr
    not_issuer = ancre_cli("issuer", "list", "--dir", str(tmp_path / "nothing"))
    assert not_issuer.returncode == 64
    assert "is not an issuer" in not_issuer.stderr
