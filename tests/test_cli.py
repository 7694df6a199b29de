"""The `ancre` command, run as a real subprocess: exit codes, JSON output, no tracebacks."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _negative import NEGATIVE
from _support import Issuer, credential, spawn_server

from ancre.trust.jose.vc_jose import issue_vc_jwt
from ancre.trust.result import Status

AT = "2026-01-15T12:00:00Z"
EXIT = {Status.VALID: 0, Status.INVALID: 1, Status.INDETERMINATE: 2}


def ancre(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ancre.cli.main", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


# The CLI resolves did:key/did:jwk/did:web only; the did:example case needs a test resolver.
CLI_CASES = [name for name in NEGATIVE if name != "key not in assertionMethod"]


@pytest.mark.parametrize("name", CLI_CASES)
def test_negative_suite_through_the_cli(name: str, tmp_path: Path) -> None:
    make, status, code, malformed = NEGATIVE[name]
    path = tmp_path / "token"
    path.write_text(make(Issuer.new()))
    done = ancre("verify", str(path), "--at", AT, "--json")
    assert "Traceback" not in done.stderr
    assert done.returncode == (65 if malformed else EXIT[status]), done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == status.value
    if name == "status list not checkable yet":
        # The CLI does check status lists; this one is on a loopback address the SSRF guard
        # refuses (no --insecure-loopback), so the status is still undecided.
        code = "status_unavailable"
    assert [e["code"] for e in report["errors"]] == [code]


def test_verify_valid_credential_human_and_json(tmp_path: Path) -> None:
    issuer = Issuer.new("p256")
    path = tmp_path / "vc.jwt"
    path.write_text(issue_vc_jwt(credential(issuer.did), issuer.key, issuer.kid))
    human = ancre("verify", str(path), "--at", AT, "--trusted-issuer", issuer.did)
    assert human.returncode == 0, human.stderr
    assert "VALID" in human.stdout
    assert "✓ signature" in human.stdout
    assert issuer.did in human.stdout
    machine = ancre("verify", "-", "--at", AT, "--json", stdin=path.read_text())
    report = json.loads(machine.stdout)
    assert machine.returncode == 0
    assert report["status"] == "valid"
    assert report["types"] == ["VerifiableCredential", "ExampleMembership"]
    assert {c["step"] for c in report["checks"]} >= {"signature", "time", "trust"}
    assert report["errors"] == []
    expired = ancre("verify", str(path), "--at", "2030-01-01T00:00:00Z", "--json")
    assert expired.returncode == 1
    assert json.loads(expired.stdout)["errors"][0]["code"] == "expired"


def test_usage_and_input_errors() -> None:
    assert ancre("verify").returncode == 64
    assert ancre("verify", "x", "--no-such-flag").returncode == 64
    assert ancre("verify", "-", "--at", "yesterday", stdin="x").returncode == 64
    missing = ancre("verify", "/nonexistent/file.jwt")
    assert missing.returncode == 65
    assert "cannot read" in missing.stderr
    assert "Traceback" not in missing.stderr
    assert ancre("keys", "generate", "--type", "rsa").returncode == 64


def test_help_teaches() -> None:
    top = ancre("--help")
    assert top.returncode == 0
    assert "Exit codes" in top.stdout
    verify = ancre("verify", "--help")
    assert "--trusted-issuer" in verify.stdout
    assert "ancre verify credential.jwt" in verify.stdout


def test_keys_generate_and_show(tmp_path: Path) -> None:
    out = tmp_path / "issuer.jwk"
    done = ancre("keys", "generate", "--type", "p384", "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["type"] == "p384"
    assert shown["did_key"].startswith("did:key:z82")
    assert "d" not in shown["jwk"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert "d" in json.loads(out.read_text())
    again = ancre("keys", "show", str(out), "--json")
    assert json.loads(again.stdout)["thumbprint"] == shown["thumbprint"]
    refused = ancre("keys", "generate", "--out", str(out))
    assert refused.returncode == 64  # never overwrites a key file
    assert "never overwrites" in refused.stderr


def test_keys_in_encrypted_keystore(tmp_path: Path) -> None:
    store = tmp_path / "keys.ancre"
    env = {"ANCRE_KEYSTORE_PASSPHRASE": "s3cret passphrase"}
    made = ancre(
        "keys", "generate", "--keystore", str(store), "--name", "issuer", "--json", env=env
    )
    assert made.returncode == 0, made.stderr
    shown = ancre("keys", "show", "--keystore", str(store), "--name", "issuer", "--json", env=env)
    assert json.loads(shown.stdout)["thumbprint"] == json.loads(made.stdout)["thumbprint"]
    wrong = ancre(
        "keys",
        "show",
        "--keystore",
        str(store),
        "--name",
        "issuer",
        env={"ANCRE_KEYSTORE_PASSPHRASE": "nope"},
    )
    assert wrong.returncode == 65
    assert "keystore_locked" in wrong.stderr
    no_pass = ancre(
        "keys", "show", "--keystore", str(store), env={"ANCRE_KEYSTORE_PASSPHRASE": ""}, stdin=""
    )
    assert no_pass.returncode == 64


def test_verifier_serve_with_openid4vp(tmp_path: Path) -> None:
    """`ancre verifier serve --openid4vp-key … --public-url …` serves signed OpenID4VP
    request objects, as a real process; incomplete options are usage errors."""

    import httpx

    from ancre.trust.codec.b64 import b64url_decode

    key = tmp_path / "verifier.jwk"
    assert ancre("keys", "generate", "--type", "p256", "--out", str(key)).returncode == 0
    for partial in (
        ["--openid4vp-key", str(key)],
        ["--openid4vp-open-backend"],
        # No ANCRE_VERIFIER_API_TOKEN and no --openid4vp-open-backend (issue 12, point 19).
        ["--openid4vp-key", str(key), "--public-url", "https://v.example"],
        ["--openid4vp-key", str(key), "--public-url", "https://v.example", "--openid4vp-did", "x"],
        ["--openid4vp-database", f"sqlite:///{tmp_path / 'tx.db'}"],
        # A shared transaction store without the secret that encrypts its per-request keys.
        [
            "--openid4vp-key",
            str(key),
            "--public-url",
            "https://v.example",
            "--openid4vp-database",
            f"sqlite:///{tmp_path / 'tx.db'}",
        ],
    ):
        done = ancre("verifier", "serve", "--no-trust-check", *partial)
        assert done.returncode == 64, done.stderr
        assert "Traceback" not in done.stderr
    log = (tmp_path / "serve.log").open("wb")

    def argv(port: int) -> list[str]:
        base = f"http://127.0.0.1:{port}"
        args = ["--port", str(port), "--openid4vp-key", str(key), "--public-url", base]
        return [sys.executable, "-m", "ancre.cli.main", "verifier", "serve", *args,
                "--no-trust-check"]  # fmt: skip

    server, port = spawn_server(
        argv,
        lambda port: _answers(f"http://127.0.0.1:{port}/health"),
        stdout=subprocess.DEVNULL,
        stderr=log,
        env={**os.environ, "ANCRE_VERIFIER_API_TOKEN": "t" * 32},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, trust_env=False) as http:
            query = {
                "credentials": [
                    {"id": "m", "format": "dc+sd-jwt", "meta": {"vct_values": ["urn:x"]}}
                ]
            }
            refused = http.post("/openid4vp/requests", json={"dcql_query": query})
            assert refused.status_code == 401
            created = http.post(
                "/openid4vp/requests",
                json={"dcql_query": query},
                headers={"Authorization": "Bearer " + "t" * 32},
            )
            assert created.status_code == 201, created.text
            request_uri = created.json()["request_uri"]
            assert request_uri.startswith(base + "/openid4vp/")
            signed = http.get(request_uri)
            assert signed.headers["content-type"].startswith("application/oauth-authz-req+jwt")
            header = json.loads(b64url_decode(signed.text.split(".")[0]))
            assert header["typ"] == "oauth-authz-req+jwt"
            assert header["kid"].startswith("did:jwk:")
            issuer = Issuer.new()
            token = issue_vc_jwt(credential(issuer.did), issuer.key, issuer.kid)
            http.post("/credentials/verify", json={"verifiableCredential": token})
    finally:
        server.terminate()
        server.wait(10)
        log.close()
    # Structured logs: every stderr line is one JSON object (uvicorn's too), and the
    # verification is one of them.
    lines = [json.loads(line) for line in (tmp_path / "serve.log").read_text().splitlines()]
    assert lines
    assert all({"ts", "level", "logger", "message"} <= set(line) for line in lines)
    (logged,) = [line for line in lines if line.get("event") == "verification"]
    assert (logged["status"], logged["issuer"]) == ("valid", issuer.did)


def test_policy_file(tmp_path: Path) -> None:
    """--policy: its requirements apply, command-line options win, a bad file is a usage
    error."""
    issuer = Issuer.new()
    token = tmp_path / "vc.jwt"
    token.write_text(issue_vc_jwt(credential(issuer.did), issuer.key, issuer.kid))
    policy = tmp_path / "policy.json"
    policy.write_text(
        json.dumps({"required_types": ["gx:LegalPerson"], "trusted_issuers": ["did:web:x"]})
    )
    done = ancre("verify", str(token), "--at", AT, "--policy", str(policy), "--json")
    assert done.returncode == 1, done.stdout + done.stderr
    # The file's trusted issuers fail first; --trusted-issuer replaces them.
    assert [e["code"] for e in json.loads(done.stdout)["errors"]] == ["issuer_not_trusted"]
    args = ["--policy", str(policy), "--trusted-issuer", issuer.did, "--json"]
    done = ancre("verify", str(token), "--at", AT, *args)
    assert done.returncode == 1, done.stdout + done.stderr
    assert [e["code"] for e in json.loads(done.stdout)["errors"]] == ["policy_violation"]
    policy.write_text(json.dumps({"required_types": ["ExampleMembership"]}))
    assert ancre("verify", str(token), "--at", AT, "--policy", str(policy)).returncode == 0
    policy.write_text(json.dumps({"requried_types": ["ExampleMembership"]}))
    done = ancre("verify", str(token), "--at", AT, "--policy", str(policy))
    assert done.returncode == 64
    assert "unknown policy member" in done.stderr
    assert "Traceback" not in done.stderr


def test_verifier_serve_terminates_tls(tmp_path: Path) -> None:
    """--tls-cert/--tls-key: HTTPS straight from the service (a test CA; the client trusts
    only it); half a configuration or a mismatched pair is a usage error."""

    import httpx
    from _x509_pki import make_ca, make_leaf, pem_chain
    from cryptography.hazmat.primitives import serialization

    ca = make_ca("ancre test CA")
    leaf = make_leaf(ca, dns_names=["localhost"], key_usage=None)
    other = make_leaf(ca, dns_names=["localhost"], key_usage=None)
    cert, key, ca_pem = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert.write_text(pem_chain([leaf.certificate]))
    ca_pem.write_text(pem_chain([ca.certificate]))

    def write_key(path: Path, private: Any) -> None:
        path.write_bytes(
            private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    write_key(key, leaf.private_key)
    write_key(tmp_path / "other.pem", other.private_key)
    for bad in (
        ["--tls-cert", str(cert)],
        ["--tls-cert", str(cert), "--tls-key", str(tmp_path / "other.pem")],
    ):
        done = ancre("verifier", "serve", "--no-trust-check", *bad)
        assert done.returncode == 64, done.stderr
        assert "Traceback" not in done.stderr
    import ssl

    trust = ssl.create_default_context(cafile=str(ca_pem))

    def argv(port: int) -> list[str]:
        args = ["--port", str(port), "--tls-cert", str(cert), "--tls-key", str(key)]
        return [sys.executable, "-m", "ancre.cli.main", "verifier", "serve", *args,
                "--no-trust-check"]  # fmt: skip

    server, port = spawn_server(
        argv,
        lambda port: _answers(f"https://localhost:{port}/health", verify=trust),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with httpx.Client(base_url=f"https://localhost:{port}", verify=trust) as http:
            health = http.get("/health")
            assert health.json() == {"status": "ok"}
        with httpx.Client(base_url=f"http://localhost:{port}") as plain:
            try:
                refused = plain.get("/health").status_code != 200
            except httpx.HTTPError:
                refused = True
            assert refused  # no plain HTTP on a TLS port
    finally:
        server.terminate()
        server.wait(10)


def test_verifier_serve_failure_status(tmp_path: Path) -> None:
    """`--failure-status 400` (or ANCRE_VERIFIER_FAILURE_STATUS=400): a VC-API verification
    that ran and failed answers 400 with the VerificationResult; the flag wins over the
    environment; anything but 200 or 400 is a usage error."""
    import httpx

    from ancre.trust.jose.vc_jose import envelope_credential

    for args, env in (
        (["--failure-status", "500"], {}),
        ([], {"ANCRE_VERIFIER_FAILURE_STATUS": "201"}),
    ):
        done = ancre("verifier", "serve", "--no-trust-check", *args, env=env)
        assert done.returncode == 64, done.stderr
        assert "--failure-status is 200 or 400" in done.stderr
    issuer, other = Issuer.new(), Issuer.new()
    forged = envelope_credential(issue_vc_jwt(credential(issuer.did), other.key, issuer.kid))
    for flag, env, status in (
        ([], {"ANCRE_VERIFIER_FAILURE_STATUS": "400"}, 400),
        (["--failure-status", "200"], {"ANCRE_VERIFIER_FAILURE_STATUS": "400"}, 200),
    ):

        def argv(port: int, flag: list[str] = flag) -> list[str]:
            return [sys.executable, "-m", "ancre.cli.main", "verifier", "serve",
                    "--port", str(port), "--no-trust-check", *flag]  # fmt: skip

        server, port = spawn_server(
            argv,
            lambda port: _answers(f"http://127.0.0.1:{port}/health"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **env},
        )
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False) as http:
                answer = http.post("/credentials/verify", json={"verifiableCredential": forged})
            assert answer.status_code == status
            assert answer.json()["verified"] is False
            assert [p["code"] for p in answer.json()["problemDetails"] if "code" in p] == [
                "signature_invalid"
            ]
        finally:
            server.terminate()
            server.wait(10)


def _answers(url: str, **options: Any) -> bool:
    """Whether a server answers `url` yet (a spawned server's readiness probe)."""
    import httpx

    try:
        with httpx.Client(trust_env=False, timeout=2, **options) as http:
            return http.get(url).status_code == 200
    except httpx.TransportError:
        return False
