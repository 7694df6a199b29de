"""Issue 18, "one obvious door": `import ancre`, `ancre.verify`, `ancre.Verifier`, and the
examples of docs/python-api.md and README.md run as written."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

import ancre
from ancre.trust.clock import SystemClock
from ancre.trust.did.key import did_key_from_public_key
from ancre.trust.did.resolvers import default_resolver
from ancre.trust.errors import Code
from ancre.trust.jose.vc_jose import issue_vc_jwt
from ancre.trust.keys.jwk import PrivateKey
from ancre.trust.trust_list.model import (
    EntryStatus,
    StatusPeriod,
    TrustedEntity,
    TrustedService,
    TrustListDocument,
)
from ancre.trust.trust_list.signed import sign_trust_list

DOCS = Path(__file__).resolve().parent.parent / "docs" / "python-api.md"
REGISTRY = "did:web:registry.example"
TYPE = "ExampleMembership"


def _issue(key: PrivateKey, types: tuple[str, ...] = (TYPE,)) -> str:
    did = did_key_from_public_key(key.public_key)
    credential = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential", *types],
        "issuer": did,
        "validFrom": "2026-01-01T00:00:00Z",
        "credentialSubject": {"id": "https://danone.example/participant"},
    }
    return issue_vc_jwt(credential, key, f"{did}#{did.removeprefix('did:key:')}")


@pytest.fixture
def connector_files(tmp_path: Path) -> Path:
    """What a connector holds: the registry's key, its signed list, a credential."""
    issuer = PrivateKey.generate("ed25519")
    registry = PrivateKey.generate("ed25519")
    did = did_key_from_public_key(issuer.public_key)
    since = SystemClock().now().replace(year=2025)
    service = TrustedService(TYPE, (StatusPeriod(EntryStatus.ACTIVE, since),))
    now = SystemClock().now()
    document = TrustListDocument(
        sequence=1,
        issued_at=now,
        next_update=now + timedelta(days=1),
        operator_name="Loire data space",
        scheme_name="Trusted credential issuers",
        entities=(TrustedEntity(id=did, name="Agence", services=(service,)),),
    )
    token = sign_trust_list(document, registry, kid=f"{REGISTRY}#registry", issuer=REGISTRY)
    (tmp_path / "trust-list.jwt").write_text(token)
    (tmp_path / "registry.jwk").write_text(json.dumps(registry.public_key.to_jwk()))
    (tmp_path / "credential.jwt").write_text(_issue(issuer))
    (tmp_path / "issuer.did").write_text(did + "\n")
    return tmp_path


def _python_blocks(path: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", path.read_text(), re.M | re.S)


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "HOME": str(cwd)},
        timeout=60,
    )


def test_the_docs_examples_run_as_written(connector_files: Path) -> None:
    blocks = _python_blocks(DOCS)
    assert len(blocks) == 2
    connector = blocks[0]
    assert len([line for line in connector.splitlines() if line.strip()]) <= 13
    done = _run(connector, connector_files)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "valid []\n"
    done = _run(blocks[1], connector_files)
    assert done.returncode == 0, done.stderr


def test_import_ancre_is_documented_and_lazy() -> None:
    assert ancre.__doc__ is not None
    assert "ancre.verify" in ancre.__doc__
    assert set(ancre.__all__) >= {"verify", "Verifier", "VerificationResult", "Status"}
    # Every trust-list module imports the list's model: none of them may be loaded.
    code = (
        "import sys, ancre\n"
        "heavy = [m for m in ('ancre.trust.trust_list.model', 'httpx', 'ancre.verifier.pipeline')"
        " if m in sys.modules]\n"
        "print(heavy)"
    )
    done = _run(code, Path.cwd())
    assert done.stdout == "[]\n", done.stderr
    with pytest.raises(AttributeError, match="module 'ancre' has no attribute 'nothing'"):
        _ = ancre.nothing  # type: ignore[attr-defined]


def test_verify_any_format_with_trusted_issuers() -> None:
    key = PrivateKey.generate("ed25519")
    did = did_key_from_public_key(key.public_key)
    token = _issue(key)
    assert ancre.verify(token, trust=[did]).valid
    untrusted = ancre.verify(token, trust=["did:web:other.example"])
    assert untrusted.status is ancre.Status.INVALID
    assert [e.code for e in untrusted.errors] == [Code.ISSUER_NOT_TRUSTED.value]
    skipped = ancre.verify(token)
    assert skipped.valid
    trust_step = next(c for c in skipped.checks if c.step.value == "trust")
    assert trust_step.skipped
    with pytest.raises(ancre.trust.errors.ConfigurationError, match="a list of issuer DIDs"):
        ancre.verify(token, trust=did)


def test_verifier_from_trust_list_refuses_an_unlisted_type(connector_files: Path) -> None:
    key = PrivateKey.generate("ed25519")
    with ancre.Verifier.from_trust_list(
        str(connector_files / "trust-list.jwt"),
        registry=REGISTRY,
        registry_key=json.loads((connector_files / "registry.jwk").read_text()),
        state_dir=connector_files / "state",
    ) as verifier:
        listed = verifier.verify((connector_files / "credential.jwt").read_text())
        stranger = verifier.verify(_issue(key))
    assert listed.valid, listed.errors
    assert [e.code for e in stranger.errors] == [Code.ISSUER_NOT_TRUSTED.value]


def test_verifier_with_the_wrong_registry_key_is_indeterminate_or_invalid(
    connector_files: Path,
) -> None:
    wrong = PrivateKey.generate("ed25519").public_key
    with ancre.Verifier.from_trust_list(
        connector_files / "trust-list.jwt",
        registry=REGISTRY,
        registry_key=wrong,
        state_dir=connector_files / "state",
    ) as verifier:
        result = verifier.verify((connector_files / "credential.jwt").read_text())
    assert not result.valid
    assert next(c for c in result.checks if not c.ok).step.value == "trust"


def test_default_resolver_without_http_names_what_is_missing() -> None:
    from ancre.trust.errors import IndeterminateError

    with pytest.raises(IndeterminateError) as caught:
        default_resolver().resolve("did:web:agency.example")
    assert caught.value.code is Code.UNSUPPORTED_DID_METHOD
    assert caught.value.message.startswith(
        "did:web needs an http client to resolve did:web:agency.example: build the resolver "
        "with default_resolver(http_client=httpx.Client())"
    )
