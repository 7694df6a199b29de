"""The scripts of examples/, run as a reader would run them: against a real registry and a
real issuer served on loopback, with files the `ancre` command made.

One story: the trust-list administrators accredit an agency (admin_publish.py), the agency
issues a certification over its VC-API (agency_issue.py), and a connector verifies a peer's
credential against the published list (connector_verify.py) — and refuses one whose issuer
the list does not name.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from _issuer_support import PASSPHRASE, make_tls
from _support import spawn_server

# Subprocesses and servers: `make test-fast` skips it.
pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
ENV = {**os.environ, "ANCRE_KEYSTORE_PASSPHRASE": PASSPHRASE, "NO_COLOR": "1"}


def ancre(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ancre.cli.main", *args],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def example(name: str, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=cwd,
        env={**ENV, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def _answers(url: str, **client: Any) -> bool:
    try:
        with httpx.Client(trust_env=False, timeout=2, **client) as http:
            return http.get(url).status_code == 200
    except httpx.TransportError:
        return False


@contextmanager
def served(process: subprocess.Popen[bytes]) -> Iterator[None]:
    try:
        yield
    finally:
        process.terminate()
        process.wait(10)


def _payload(jws: str) -> dict[str, Any]:
    part = jws.split(".")[1]
    payload: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return payload


def test_the_three_examples_tell_the_story(tmp_path: Path) -> None:
    # The administrators' registry, as README's tour makes it.
    init = ancre(
        "registry", "init", "--did", "did:web:registry.example", "--dir", "reg",
        "--admin", "alice", "--admin", "bob", cwd=tmp_path,
    )  # fmt: skip
    assert init.returncode == 0, init.stderr
    (tmp_path / "registry-method.json").write_text(init.stdout)
    lines = init.stderr.splitlines()
    tokens = {
        who: lines[i + 1].strip()
        for i, line in enumerate(lines)
        for who in ("alice", "bob")
        if f"for {who}" in line
    }
    assert set(tokens) == {"alice", "bob"}, init.stderr
    agency_key = ancre("keys", "generate", "--type", "ed25519", "--out", "agency.jwk", cwd=tmp_path)
    assert agency_key.returncode == 0, agency_key.stderr
    agency_did = ancre("keys", "show", "agency.jwk", "--did", cwd=tmp_path).stdout.strip()
    assert agency_did.startswith("did:key:")

    registry, port = spawn_server(
        lambda port: [
            sys.executable,
            "-m",
            "ancre.cli.main",
            "registry",
            "serve",
            "--dir",
            "reg",
            "--port",
            str(port),
        ],
        lambda port: _answers(f"http://127.0.0.1:{port}/health"),
        cwd=tmp_path,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with served(registry):
        published = example(
            "admin_publish.py", f"http://127.0.0.1:{port}", agency_did, "trust-list.jwt",
            cwd=tmp_path, ALICE_TOKEN=tokens["alice"], BOB_TOKEN=tokens["bob"],
        )  # fmt: skip
        assert published.returncode == 0, published.stderr
        assert "may issue ancre:Certification" in published.stdout
        # Bob approved Alice's anchor: nothing is left pending.
        with httpx.Client(trust_env=False) as http:
            changes = http.get(
                f"http://127.0.0.1:{port}/admin/changes",
                headers={"Authorization": f"Bearer {tokens['bob']}"},
            ).json()
        assert not [c for c in changes if c.get("state", "pending") == "pending"], changes

    trust_list = (tmp_path / "trust-list.jwt").read_text().strip()
    assert agency_did in json.dumps(_payload(trust_list))

    # A connector verifies a certification signed by the listed agency's key...
    certification = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential", "ancre:Certification"],
        "credentialSubject": {
            "id": "did:web:danone.example",
            "ancre:scheme": "ISO/IEC 27001:2022",
            "ancre:scope": "Hosting of customer data",
            "ancre:certificateNumber": "FR-2026-0042",
            "ancre:certificateValidFrom": "2026-01-15",
        },
    }
    (tmp_path / "certification.json").write_text(json.dumps(certification))
    signed = ancre("sign", "certification.json", "--key", "agency.jwk", cwd=tmp_path)
    assert signed.returncode == 0, signed.stderr
    (tmp_path / "peer.jwt").write_text(signed.stdout)
    verified = example(
        "connector_verify.py", "trust-list.jwt", "registry-method.json", "peer.jwt", cwd=tmp_path
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.startswith(f"valid {agency_did} []"), verified.stdout

    # ...and refuses the same credential signed by a key the list does not name.
    ancre("keys", "generate", "--type", "ed25519", "--out", "stranger.jwk", cwd=tmp_path)
    forged = ancre("sign", "certification.json", "--key", "stranger.jwk", cwd=tmp_path)
    (tmp_path / "stranger.jwt").write_text(forged.stdout)
    refused = example(
        "connector_verify.py", "trust-list.jwt", "registry-method.json", "stranger.jwt",
        cwd=tmp_path,
    )  # fmt: skip
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert refused.stdout.startswith("invalid "), refused.stdout


def test_an_agency_issues_a_certification_over_its_vc_api(tmp_path: Path) -> None:
    tls = make_tls(tmp_path / "tls")
    agency = tmp_path / "agency"

    def argv(port: int) -> list[str]:
        # Each attempt on a new port is a new issuer (its DID names the port).
        if agency.exists():
            for path in sorted(agency.rglob("*"), reverse=True):
                path.unlink() if path.is_file() else path.rmdir()
            agency.rmdir()
        did = f"did:web:localhost%3A{port}"
        made = ancre(
            "issuer", "init", "--dir", "agency", "--did", did,
            "--public-url", f"https://localhost:{port}", cwd=tmp_path,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        (agency / "schemes.json").write_text(
            json.dumps({"schemes": [{"name": "ISO/IEC 27001:2022", "validity_days": 1095}]})
        )
        return [
            sys.executable, "-m", "ancre.cli.main", "issuer", "serve", "--dir", "agency",
            "--port", str(port), "--tls-cert", str(tls.cert), "--tls-key", str(tls.key),
            "--no-accreditation-check",
        ]  # fmt: skip

    issuer, port = spawn_server(
        argv,
        lambda port: _answers(f"https://localhost:{port}/health", verify=tls.context()),
        cwd=tmp_path,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with served(issuer):
        client = ancre(
            "issuer", "client", "add", "back-office", "--dir", "agency",
            "--type", "Certification", "--json", cwd=tmp_path,
        )  # fmt: skip
        assert client.returncode == 0, client.stderr
        api_key = json.loads(client.stdout)["api_key"]
        url = f"https://localhost:{port}"
        issued = example(
            "agency_issue.py", url, "did:web:danone.example", "certification.jwt",
            cwd=tmp_path, ANCRE_API_KEY=api_key, ANCRE_CA_BUNDLE=str(tls.ca),
        )  # fmt: skip
        assert issued.returncode == 0, issued.stdout + issued.stderr
        # A wrong key is refused, and the example says so instead of writing a file.
        refused = example(
            "agency_issue.py", url, "did:web:danone.example", "refused.jwt",
            cwd=tmp_path, ANCRE_API_KEY=api_key[:-2] + "xx", ANCRE_CA_BUNDLE=str(tls.ca),
        )  # fmt: skip
        assert refused.returncode == 1
        assert "refused: 401" in refused.stderr
        assert not (tmp_path / "refused.jwt").exists()

    payload = _payload((tmp_path / "certification.jwt").read_text().strip())
    assert payload["issuer"] == f"did:web:localhost%3A{port}"
    assert payload["type"] == ["VerifiableCredential", "ancre:Certification"]
    assert payload["credentialSubject"]["ancre:scheme"] == "ISO/IEC 27001:2022"
    assert payload["credentialStatus"], "the issuer adds its status-list entries"
