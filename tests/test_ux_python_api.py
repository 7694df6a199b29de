"""Issue 18, "one obvious door": `import ancre`, `ancre.verify`, `ancre.Verifier`, and the
examples of docs/python-api.md and README.md run as written."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from _support import NOW, Issuer
from _x509_pki import make_ca, make_leaf, pem_chain

import ancre
from ancre.trust.clock import FixedClock, SystemClock
from ancre.trust.data_integrity.proofs import add_proof
from ancre.trust.did.key import did_key_from_public_key
from ancre.trust.did.resolvers import default_resolver
from ancre.trust.errors import Code, ConfigurationError
from ancre.trust.jose.jws import sign_compact
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
from ancre.trust.vcdm.jsonld import ContextStore, load_context_manifest
from ancre.trust.x509.chain import parse_pem_chain

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


def test_the_docs_examples_run_as_written(connector_files: Path, tmp_path: Path) -> None:
    blocks = _python_blocks(DOCS)
    assert len(blocks) == 3
    connector = blocks[0]
    assert len([line for line in connector.splitlines() if line.strip()]) <= 13
    done = _run(connector, connector_files)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "valid []\n"
    done = _run(blocks[1], connector_files)
    assert done.returncode == 0, done.stderr
    # Vetted contexts and certificate trust anchors: each credential needs its own.
    operator = tmp_path / "operator"
    issuer, root = Issuer.new("ed25519"), make_ca("Test root")
    store = load_context_manifest(_context_folder(operator / "contexts"))
    (operator / "issuer.did").write_text(issuer.did + "\n")
    (operator / "membership.json").write_text(_membership(issuer, store))
    (operator / "x5c-credential.jwt").write_text(
        _x5c_credential(make_leaf(root, uris=[X5C_ISSUER]))
    )
    (operator / "root.pem").write_text(pem_chain([make_ca("Another root").certificate]))
    refused = _run(blocks[2], operator)
    assert refused.returncode != 0
    assert "x5c-credential.jwt" in refused.stderr, refused.stderr
    assert "certificate_untrusted" in refused.stderr, refused.stderr
    (operator / "root.pem").write_text(pem_chain([root.certificate]))
    done = _run(blocks[2], operator)
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


# ---- the operator's choices `ancre verify` takes: --context and --trust-anchor ------------


MEMBERSHIP = "https://contexts.example/membership/v1"
MEMBERSHIP_DOC = json.dumps(
    {"@context": {"@protected": True, "memberOf": "https://contexts.example/membership#memberOf"}}
).encode()
X5C_ISSUER = "https://issuer.example"


def _context_folder(folder: Path) -> Path:
    """A manifest pinning the membership context by its SHA-256 (what an operator vets)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "membership.jsonld").write_bytes(MEMBERSHIP_DOC)
    pin = hashlib.sha256(MEMBERSHIP_DOC).hexdigest()
    entry = {"file": "membership.jsonld", "sha256": pin}
    (folder / "manifest.json").write_text(json.dumps({MEMBERSHIP: entry}))
    return folder


def _membership(issuer: Issuer, store: ContextStore) -> str:
    """A Data Integrity credential whose terms come from the membership context."""
    credential = {
        "@context": ["https://www.w3.org/ns/credentials/v2", MEMBERSHIP],
        "type": ["VerifiableCredential"],
        "issuer": issuer.did,
        "validFrom": "2026-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:member", "memberOf": "Data space Loire"},
    }
    created = datetime(2026, 1, 2, tzinfo=UTC)
    return json.dumps(
        add_proof(credential, issuer.key, issuer.kid, created=created, contexts=store)
    )


def _x5c_credential(leaf: Any) -> str:
    """A vc+jwt whose key is the leaf certificate of its `x5c` header (no DID)."""
    body = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential", TYPE],
        "issuer": X5C_ISSUER,
        "validFrom": "2026-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:member"},
    }
    header = {"typ": "vc+jwt", "cty": "vc", "iss": X5C_ISSUER, "x5c": leaf.x5c()}
    return sign_compact(header, json.dumps(body).encode(), leaf.signer)


def test_verifier_contexts_a_credential_with_a_vetted_context_verifies_only_with_it(
    tmp_path: Path,
) -> None:
    issuer = Issuer.new("ed25519")
    store = load_context_manifest(_context_folder(tmp_path / "contexts"))
    signed = _membership(issuer, store)
    clock = FixedClock(NOW)
    with ancre.Verifier.from_trusted_issuers([issuer.did], clock=clock) as verifier:
        unknown = verifier.verify(signed)
    assert unknown.status is ancre.Status.INDETERMINATE
    assert [e.code for e in unknown.errors] == [Code.UNKNOWN_CONTEXT.value]
    with ancre.Verifier.from_trusted_issuers([issuer.did], clock=clock, contexts=store) as known:
        result = known.verify(signed)
    assert result.valid, result.errors
    # The constructor, the trust-list verifier and the one call take the same store.
    own = ancre.Verifier(resolver=default_resolver(), clock=clock, contexts=store)
    assert own.verify(signed).valid
    assert not ancre.Verifier(resolver=default_resolver(), clock=clock).verify(signed).valid
    assert ancre.verify(signed, trust=[issuer.did], clock=clock, contexts=store).valid
    assert not ancre.verify(signed, trust=[issuer.did], clock=clock).valid
    # What the store pins is what the proof covers: a changed term no longer verifies.
    tampered = json.loads(signed)
    tampered["credentialSubject"]["memberOf"] = "Another data space"
    forged = own.verify(json.dumps(tampered))
    assert forged.status is ancre.Status.INVALID


def test_verifier_contexts_from_a_trust_list(connector_files: Path) -> None:
    # The list names its issuer for ExampleMembership only: a credential of no listed type
    # gets as far as the trust step only when its context is known.
    issuer = Issuer.new("ed25519")
    store = load_context_manifest(_context_folder(connector_files / "contexts"))
    signed = _membership(issuer, store)
    key = json.loads((connector_files / "registry.jwk").read_text())
    trust_list = connector_files / "trust-list.jwt"
    with ancre.Verifier.from_trust_list(trust_list, registry=REGISTRY, registry_key=key) as bare:
        assert [e.code for e in bare.verify(signed).errors] == [Code.UNKNOWN_CONTEXT.value]
    with ancre.Verifier.from_trust_list(
        trust_list, registry=REGISTRY, registry_key=key, contexts=store
    ) as verifier:
        result = verifier.verify(signed)
    assert [e.code for e in result.errors] == [Code.ISSUER_NOT_TRUSTED.value]


def test_verifier_trust_anchors_for_x5c_credentials() -> None:
    root = make_ca("Test root")
    token = _x5c_credential(make_leaf(root, uris=[X5C_ISSUER]))
    clock = FixedClock(NOW)
    anchored = ancre.Verifier.from_trusted_issuers(
        [X5C_ISSUER], clock=clock, trust_anchors=[root.certificate]
    )
    result = anchored.verify(token)
    assert result.valid, result.errors
    assert result.issuer == X5C_ISSUER
    # Another root: the chain ends nowhere trusted — proven bad, not unknown.
    stranger = ancre.Verifier.from_trusted_issuers(
        [X5C_ISSUER], clock=clock, trust_anchors=[make_ca("Another root").certificate]
    ).verify(token)
    assert stranger.status is ancre.Status.INVALID
    assert [e.code for e in stranger.errors] == [Code.CERTIFICATE_UNTRUSTED.value]
    # No anchor: an https issuer's key cannot be found offline, which proves nothing.
    bare = ancre.Verifier.from_trusted_issuers([X5C_ISSUER], clock=clock).verify(token)
    assert bare.status is ancre.Status.INDETERMINATE
    # The anchored chain is still subject to trust: an issuer not listed is refused.
    other = ancre.Verifier.from_trusted_issuers(
        ["https://other.example"], clock=clock, trust_anchors=[root.certificate]
    ).verify(token)
    assert [e.code for e in other.errors] == [Code.ISSUER_NOT_TRUSTED.value]
    # The constructor keeps DIDs resolving for headers without x5c.
    own = ancre.Verifier(resolver=default_resolver(), clock=clock, trust_anchors=[root.certificate])
    assert own.verify(token).valid
    key = PrivateKey.generate("ed25519")
    assert own.verify(_issue(key)).valid
    assert ancre.verify(
        token, trust=[X5C_ISSUER], clock=clock, trust_anchors=[root.certificate]
    ).valid


def test_verifier_refuses_contexts_and_anchors_of_the_wrong_type(tmp_path: Path) -> None:
    root = make_ca("Test root")
    pem = pem_chain([root.certificate])
    with pytest.raises(ConfigurationError, match="parse_pem_chain"):
        ancre.Verifier.from_trusted_issuers([], trust_anchors=pem)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="not str"):
        ancre.Verifier.from_trusted_issuers([], trust_anchors=[pem])  # type: ignore[list-item]
    folder = str(_context_folder(tmp_path / "contexts"))
    with pytest.raises(ConfigurationError, match="load_context_manifest"):
        ancre.Verifier(resolver=default_resolver(), contexts=folder)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="a list of issuer DIDs"):
        ancre.Verifier.from_trusted_issuers("did:web:agency.example")
    # PEM read the documented way is accepted.
    assert ancre.Verifier.from_trusted_issuers([], trust_anchors=parse_pem_chain(pem))
