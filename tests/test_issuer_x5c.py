"""An issuer signing with an X.509-certified key: `ancre issuer init --x5c CHAIN.pem --key
KEY.pem` checks the chain and the key at once, and every credential and status list the
issuer signs carries `x5c` beside `kid` — verified by ancre's verifier anchored at the test
CA (`X5cKeySource`), and still by `kid` through the DID document."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from _issuer_support import (
    DIRECTOR_CLAIMS,
    LEGAL_PERSON_CLAIMS,
    ancre_cli,
    make_issuer,
    open_issuer,
)
from _x509_pki import CertifiedKey, make_ca, make_leaf, pem_chain
from cryptography.hazmat.primitives import serialization

from ancre.issuer.config import load_config
from ancre.issuer.service import holder_from_key
from ancre.issuer.templates import Authorization
from ancre.trust.clock import SystemClock
from ancre.trust.codec.b64 import b64url_decode
from ancre.trust.errors import ConfigurationError
from ancre.trust.jose.vc_jose import verify_vc_jwt
from ancre.trust.keys.jwk import PrivateKey
from ancre.trust.sd_jwt.vc import verify_sd_jwt_vc
from ancre.trust.steps import PinnedKeys
from ancre.trust.x509.chain import X5cKeySource

PORT = 4701
DID = f"did:web:localhost%3A{PORT}"
OPERATOR = Authorization("operator", "alice", register_checked=True)


@pytest.fixture(scope="module")
def root() -> CertifiedKey:
    return make_ca("ancre agency test root")


@pytest.fixture(scope="module")
def inter(root: CertifiedKey) -> CertifiedKey:
    return make_ca("ancre agency issuing CA", issuer=root, path_length=0)


def _key_pem(leaf: CertifiedKey, password: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return leaf.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def _files(tmp_path: Path, leaf: CertifiedKey, *, chain: Any = None, **key: Any) -> list[str]:
    key_file, chain_file = tmp_path / "key.pem", tmp_path / "chain.pem"
    key_file.write_bytes(_key_pem(leaf, **key))
    chain_file.write_text(pem_chain(leaf.path if chain is None else chain))
    return ["--x5c", str(chain_file), "--key", str(key_file)]


def _init(folder: Path, *extra: str) -> Any:
    return ancre_cli(
        "issuer", "init", "--dir", str(folder), "--did", DID,
        "--public-url", f"https://localhost:{PORT}", *extra,
    )  # fmt: skip


def _header(token: str) -> dict[str, Any]:
    header: dict[str, Any] = json.loads(b64url_decode(token.split(".")[0], what="header"))
    return header


def _failed(result: Any) -> list[str]:
    return [c.code for c in result.checks if not c.ok]


def test_an_x5c_issuer_signs_what_a_verifier_anchored_at_its_ca_accepts(
    tmp_path: Path, root: CertifiedKey, inter: CertifiedKey
) -> None:
    leaf = make_leaf(inter, uris=[DID], key_type="p256")
    folder = tmp_path / "agency"
    done = _init(folder, *_files(tmp_path, leaf))
    assert done.returncode == 0, done.stderr
    assert "(x5c: 2 certificate(s))" in done.stderr
    config = load_config(folder)
    assert config.key_type == "p256"
    # Leaf and intermediate: the root is the verifier's anchor, not sent (HAIP).
    assert list(config.current_key.x5c) == leaf.x5c()
    issuer = open_issuer(folder)
    assert issuer.x5c == leaf.x5c()
    holder = holder_from_key(PrivateKey.generate("ed25519").public_key)

    clock = SystemClock()
    anchored = X5cKeySource([root.certificate], clock=clock)
    jwk = {**leaf.signer.public_key.to_jwk(), "kid": issuer.kid}
    by_kid = PinnedKeys({DID: [jwk]})

    vc = issuer.issue("LegalPerson", LEGAL_PERSON_CLAIMS, holder=holder, authorization=OPERATOR)
    assert _header(vc.credential)["x5c"] == leaf.x5c()
    assert _header(vc.credential)["kid"] == f"{DID}#signing-1"
    for resolver in (anchored, by_kid):
        result = verify_vc_jwt(vc.credential, resolver=resolver, clock=clock)
        assert _failed(result) == ["status_unchecked"], result.to_json()

    sd = issuer.issue("DirectorCertification", DIRECTOR_CLAIMS, holder=holder,
                      authorization=OPERATOR)  # fmt: skip
    assert _header(sd.credential)["x5c"] == leaf.x5c()
    for resolver in (anchored, by_kid):
        result = verify_sd_jwt_vc(sd.credential, resolver=resolver, clock=clock)
        assert "status_unchecked" in _failed(result), result.to_json()
        assert not {"signature_invalid", "certificate_untrusted"} & set(_failed(result))
        assert next(c for c in result.checks if c.step.value == "issuer_key").ok

    # The status lists it serves carry the chain too.
    for list_id in ("revocation-1", "tokens-1"):
        assert _header(issuer.status_list(list_id)[0])["x5c"] == leaf.x5c()
    # The same credential, verified against another CA: refused.
    other = X5cKeySource([make_ca("another root").certificate], clock=clock)
    assert "certificate_untrusted" in _failed(
        verify_vc_jwt(vc.credential, resolver=other, clock=clock)
    )


def test_without_x5c_the_kid_path_is_unchanged(tmp_path: Path) -> None:
    issuer = make_issuer(tmp_path / "agency", PORT)
    assert issuer.x5c is None
    assert "x5c" not in json.loads((tmp_path / "agency" / "issuer.json").read_text())["keys"][0]
    holder = holder_from_key(PrivateKey.generate("ed25519").public_key)
    vc = issuer.issue("LegalPerson", LEGAL_PERSON_CLAIMS, holder=holder, authorization=OPERATOR)
    assert set(_header(vc.credential)) == {"alg", "kid", "typ", "cty", "iss"}


def _refusals(
    root: CertifiedKey, inter: CertifiedKey
) -> list[tuple[str, CertifiedKey, dict[str, Any], str]]:
    leaf = make_leaf(inter, uris=[DID])
    other = make_leaf(inter, uris=[DID])
    return [
        ("another key", leaf, {"chain": other.path},
         "the x5c leaf certifies another key than the private key given (--key)"),
        ("leaf not first", leaf, {"chain": (inter.certificate, leaf.certificate)},
         "the x5c leaf certifies another key"),
        ("leaf alone", leaf, {"chain": (leaf.certificate,)}, "holds only one certificate"),
        ("another issuer", make_leaf(inter, dns_names=["agency.example"]), {},
         "certificate_identity_mismatch: the certificate names did:web:agency.example"),
        ("expired", make_leaf(inter, uris=[DID], not_after=datetime(2021, 1, 1, tzinfo=UTC)),
         {}, "certificate_expired"),
        ("may not sign", make_leaf(inter, uris=[DID], key_usage=("key_encipherment",)), {},
         "certificate_key_usage"),
        ("unrooted", leaf, {"chain": (leaf.certificate, make_ca("stranger").certificate)},
         "certificate_untrusted"),
        ("encrypted key", leaf, {"password": b"secret"}, "the private key is encrypted"),
        ("rsa key", make_leaf(inter, uris=[DID], key_type="rsa"), {},
         "ancre signs with Ed25519, P-256 or P-384 keys, not"),
    ]  # fmt: skip


def test_init_refuses_a_chain_or_key_that_does_not_hold(
    tmp_path: Path, root: CertifiedKey, inter: CertifiedKey
) -> None:
    folder = tmp_path / "agency"
    for name, leaf, options, why in _refusals(root, inter):
        done = _init(folder, *_files(tmp_path, leaf, **options))
        assert done.returncode == 64, (name, done.stderr)
        assert why in done.stderr, (name, done.stderr)
        assert "Traceback" not in done.stderr
        assert not folder.exists(), name
    files = _files(tmp_path, make_leaf(inter, uris=[DID]))
    alone = _init(folder, *files[:2])
    assert alone.returncode == 64
    assert "--x5c and --key go together" in alone.stderr
    mismatch = _init(folder, *files, "--key-type", "ed25519")
    assert mismatch.returncode == 64
    assert "the certified key is p256, not the key type ed25519" in mismatch.stderr
    assert not folder.exists()


def test_rotation_of_a_certified_key(
    tmp_path: Path, root: CertifiedKey, inter: CertifiedKey
) -> None:
    folder = tmp_path / "agency"
    first = make_leaf(inter, uris=[DID])
    assert _init(folder, *_files(tmp_path, first)).returncode == 0
    bare = ancre_cli("issuer", "keys", "rotate", "--dir", str(folder))
    assert bare.returncode == 64
    assert "rotate to a new certified key (--key NEW.pem --x5c NEW_CHAIN.pem)" in bare.stderr
    second = make_leaf(inter, uris=[DID])
    # This time without the root: the chain is checked up to its last certificate.
    without_root = _files(tmp_path, second, chain=(second.certificate, inter.certificate))
    rotated = ancre_cli("issuer", "keys", "rotate", "--dir", str(folder), *without_root)
    assert rotated.returncode == 0, rotated.stderr
    keys = load_config(folder).keys
    assert [list(k.x5c) for k in keys] == [first.x5c(), second.x5c()]
    assert keys[0].retired_at is not None
    assert open_issuer(folder).x5c == second.x5c()


def test_a_stored_chain_must_certify_the_stored_key(
    tmp_path: Path, root: CertifiedKey, inter: CertifiedKey
) -> None:
    folder = tmp_path / "agency"
    assert _init(folder, *_files(tmp_path, make_leaf(inter, uris=[DID]))).returncode == 0
    settings = json.loads((folder / "issuer.json").read_text())
    settings["keys"][0]["x5c"] = make_leaf(inter, uris=[DID]).x5c()
    (folder / "issuer.json").write_text(json.dumps(settings))
    with pytest.raises(ConfigurationError) as refused:
        open_issuer(folder)
    assert (
        refused.value.message
        == "signing key signing-1: the x5c leaf does not certify the signing key"
    )
    settings["keys"][0]["x5c"] = ["not base64!"]
    (folder / "issuer.json").write_text(json.dumps(settings))
    with pytest.raises(ConfigurationError) as malformed:
        load_config(folder)
    assert "x5c" in malformed.value.message
    served = ancre_cli("issuer", "list", "--dir", str(folder))
    assert served.returncode == 64
