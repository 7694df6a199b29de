"""JSON-LD contexts as peers use them: an unshipped context is `unknown_context`,
indeterminate (it proves nothing bad about the credential); an operator adds vetted ones,
each pinned by SHA-256 through a manifest (`--context` on `ancre verify` and `verifier
serve`, `load_context_manifest` in the library); nothing is ever fetched."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from _support import NOW, Issuer

from ancre.trust.clock import FixedClock
from ancre.trust.data_integrity.proofs import add_proof, verify_data_integrity
from ancre.trust.did.resolvers import default_resolver
from ancre.trust.errors import ConfigurationError
from ancre.trust.result import Status
from ancre.trust.vcdm.jsonld import ContextStore, default_context_store, load_context_manifest
from ancre.verifier.engine import Verifier
from ancre.verifier.factory import build_context

VC_V2 = "https://www.w3.org/ns/credentials/v2"
UNDEFINED_TERMS = "https://www.w3.org/ns/credentials/undefined-terms/v2"
OWN = "https://contexts.example/membership/v1"
OWN_DOC = json.dumps(
    {"@context": {"@protected": True, "memberOf": "https://contexts.example/membership#memberOf"}},
    indent=2,
).encode()
CREATED = datetime(2026, 1, 2, tzinfo=UTC)


def _credential(issuer: str, context: str) -> dict[str, Any]:
    return {
        "@context": [VC_V2, context],
        "id": "urn:uuid:0b1e9b58-3a1f-4a8e-9d0a-3c2a4f5e6d7c",
        "type": ["VerifiableCredential"],
        "issuer": issuer,
        "validFrom": "2026-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:member", "memberOf": "Data space Loire"},
    }


def _manifest(folder: Path, *, sha256: str | None = None, file: str = "membership.jsonld") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "membership.jsonld").write_bytes(OWN_DOC)
    pin = sha256 or hashlib.sha256(OWN_DOC).hexdigest()
    (folder / "manifest.json").write_text(json.dumps({OWN: {"file": file, "sha256": pin}}))
    return folder


def _signed(issuer: Issuer, store: ContextStore, context: str = OWN) -> dict[str, Any]:
    return add_proof(
        _credential(issuer.did, context), issuer.key, issuer.kid, created=CREATED, contexts=store
    )


def test_undefined_terms_context_is_shipped_pinned_and_signs_any_term() -> None:
    store = default_context_store()
    assert UNDEFINED_TERMS in store
    document = store.document(UNDEFINED_TERMS)
    assert document == {"@context": {"@vocab": "https://www.w3.org/ns/credentials/undefined-term#"}}
    issuer = Issuer.new("ed25519")
    signed = _signed(issuer, store, UNDEFINED_TERMS)
    result = verify_data_integrity(signed, resolver=default_resolver(), clock=FixedClock(NOW))
    assert result.status is Status.VALID, result.to_json()
    # The undefined term is covered by the proof: changing it breaks the signature.
    signed["credentialSubject"]["memberOf"] = "Another data space"
    tampered = verify_data_integrity(signed, resolver=default_resolver(), clock=FixedClock(NOW))
    assert tampered.status is Status.INVALID


def test_the_suites_contexts_are_shipped() -> None:
    store = default_context_store()
    for url in (
        "https://w3id.org/security/data-integrity/v2",
        "https://w3id.org/security/multikey/v1",
        "https://w3id.org/security/jwk/v1",
    ):
        assert url in store


def test_unknown_context_is_indeterminate_then_valid_once_pinned(tmp_path: Path) -> None:
    issuer = Issuer.new("ed25519")
    store = load_context_manifest(_manifest(tmp_path / "ctx"))
    assert OWN in store
    signed = _signed(issuer, store)
    clock, resolver = FixedClock(NOW), default_resolver()
    unknown = verify_data_integrity(signed, resolver=resolver, clock=clock)
    assert unknown.status is Status.INDETERMINATE
    assert unknown.errors[0].code == "unknown_context"
    assert OWN in unknown.errors[0].message
    known = verify_data_integrity(signed, resolver=resolver, clock=clock, contexts=store)
    assert known.status is Status.VALID, known.to_json()
    # The library's build_context takes the store too.
    context = build_context(clock=clock, contexts=store)
    assert Verifier(context).verify(json.dumps(signed).encode()).status is Status.VALID


def test_manifest_file_or_folder_and_its_refusals(tmp_path: Path) -> None:
    folder = _manifest(tmp_path / "a")
    assert OWN in load_context_manifest(folder / "manifest.json")
    with pytest.raises(ConfigurationError, match="not the pinned"):
        load_context_manifest(_manifest(tmp_path / "b", sha256="0" * 64))
    with pytest.raises(ConfigurationError, match="outside its folder"):
        load_context_manifest(_manifest(tmp_path / "c", file="../a/membership.jsonld"))
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_context_manifest(tmp_path / "missing")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "manifest.json").write_text('{"https://x.example/": "nope"}')
    with pytest.raises(ConfigurationError, match="needs a `file` and a `sha256`"):
        load_context_manifest(tmp_path / "d")
    # A shipped URL cannot be redefined with other content.
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "v2.jsonld").write_bytes(OWN_DOC)
    (tmp_path / "e" / "manifest.json").write_text(
        json.dumps({VC_V2: {"file": "v2.jsonld", "sha256": hashlib.sha256(OWN_DOC).hexdigest()}})
    )
    with pytest.raises(ConfigurationError, match="already defined differently"):
        load_context_manifest(tmp_path / "e")


def _ancre(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ancre.cli.main", *args],
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ),
        timeout=60,
    )


def test_cli_verify_context_option(tmp_path: Path) -> None:
    issuer = Issuer.new("ed25519")
    folder = _manifest(tmp_path / "ctx")
    path = tmp_path / "vc.json"
    path.write_text(json.dumps(_signed(issuer, load_context_manifest(folder))))
    at = "2026-01-15T12:00:00Z"
    unknown = _ancre("verify", str(path), "--at", at, "--json")
    assert unknown.returncode == 2, unknown.stderr
    assert json.loads(unknown.stdout)["errors"][0]["code"] == "unknown_context"
    known = _ancre("verify", str(path), "--at", at, "--json", "--context", str(folder))
    assert known.returncode == 0, known.stdout + known.stderr
    wrong = _ancre(
        "verify", str(path), "--context", str(_manifest(tmp_path / "bad", sha256="1" * 64))
    )
    assert wrong.returncode == 64
    assert "--context" in wrong.stderr
    assert "Traceback" not in wrong.stderr


def test_verifier_serve_refuses_a_context_manifest_that_does_not_match(tmp_path: Path) -> None:
    bad = _manifest(tmp_path / "bad", sha256="2" * 64)
    done = _ancre("verifier", "serve", "--no-trust-check", "--port", "0", "--context", str(bad))
    assert done.returncode == 64, done.stderr
    assert "--context" in done.stderr
    assert "not the pinned" in done.stderr


def test_verifier_service_uses_the_configured_contexts(tmp_path: Path) -> None:
    import httpx
    from _asgi_server import serve

    from ancre.verifier.service import VerifierSettings, create_app

    issuer = Issuer.new("ed25519")
    store = load_context_manifest(_manifest(tmp_path / "ctx"))
    body = {"verifiableCredential": _signed(issuer, store)}
    clock = FixedClock(NOW)
    for contexts, expected in ((None, "indeterminate"), (store, "valid")):
        settings = VerifierSettings(no_trust_check=True, clock=clock, contexts=contexts)
        with serve(create_app(settings)) as base, httpx.Client(trust_env=False) as client:
            response = client.post(f"{base}/credentials/verify", json=body, timeout=30)
        assert response.headers["Ancre-Status"] == expected, response.text
