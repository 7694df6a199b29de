"""Keys, JWKs and key stores."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from _support import vectors
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ancre.trust.codec.b64 import b64url_encode
from ancre.trust.errors import AncreError, Code, ConfigurationError, InvalidError
from ancre.trust.keys.jwk import PrivateKey, PublicKey
from ancre.trust.keys.keystore import FileKeyStore, MemoryKeyStore

FAST_N = 2**14  # the floor the store allows; keeps tests quick


@pytest.mark.parametrize("key_type", ["ed25519", "p256", "p384"])
def test_private_jwk_round_trip(key_type: str) -> None:
    key = PrivateKey.generate(key_type)
    again = PrivateKey.from_jwk(key.export_private_jwk())
    assert again.public_key == key.public_key
    data = b"payload"
    assert key.public_key.verify(key.alg, data, again.sign(data))
    assert "d" not in key.public_key.to_jwk()
    assert key.export_private_jwk()["d"] not in repr(key)


def test_public_jwk_refuses_private_members_and_weak_or_odd_keys() -> None:
    key = PrivateKey.generate("p256")
    with pytest.raises(InvalidError) as err:
        PublicKey.from_jwk(key.export_private_jwk())
    assert err.value.code is Code.INVALID_KEY
    small = (
        rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key().public_numbers()
    )
    jwk = {"kty": "RSA", "n": b64url_encode(small.n.to_bytes(128, "big")), "e": "AQAB"}
    with pytest.raises(InvalidError) as err:
        PublicKey.from_jwk(jwk)
    assert err.value.code is Code.WEAK_KEY
    with pytest.raises(AncreError) as err2:
        PublicKey.from_jwk({"kty": "oct", "k": "c2VjcmV0"})  # a MAC secret is never a public key
    assert err2.value.code is Code.INVALID_KEY
    with pytest.raises(AncreError) as err2:
        PublicKey.from_jwk({"kty": "OKP", "crv": "X448", "x": "AAAA"})
    assert err2.value.code is Code.UNSUPPORTED_KEY_TYPE


def test_off_curve_point_is_refused() -> None:
    good = PrivateKey.generate("p256").public_key.to_jwk()
    y = bytearray(b"\0" * 31 + b"\1")
    with pytest.raises(InvalidError) as err:
        PublicKey.from_jwk({**good, "y": b64url_encode(bytes(y))})
    assert err.value.code is Code.INVALID_KEY


def test_short_coordinates_are_refused() -> None:
    good = PrivateKey.generate("p384").public_key.to_jwk()
    with pytest.raises(InvalidError):
        PublicKey.from_jwk({**good, "x": good["x"][:-4]})


def test_private_jwk_with_mismatched_public_part() -> None:
    a, b = PrivateKey.generate("ed25519"), PrivateKey.generate("ed25519")
    jwk = {**a.export_private_jwk(), "x": b.public_key.to_jwk()["x"]}
    with pytest.raises(InvalidError):
        PrivateKey.from_jwk(jwk)


def test_ecdsa_signature_is_raw_r_s_of_curve_size() -> None:
    key = PrivateKey.generate("p384")
    sig = key.sign(b"x")
    assert len(sig) == 96
    assert not key.public_key.verify("ES384", b"x", sig[:-1])
    assert isinstance(key.public_key.key, ec.EllipticCurvePublicKey)


def test_rsa_verify_only() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    public = PublicKey(private.public_key())
    sig = private.sign(
        b"m", padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256()
    )
    assert public.verify("PS256", b"m", sig)
    assert not public.verify("PS256", b"n", sig)
    with pytest.raises(InvalidError) as err:
        public.verify("ES256", b"m", sig)
    assert err.value.code is Code.ALG_KEY_MISMATCH
    with pytest.raises(ConfigurationError):
        PrivateKey.generate("rsa")


def test_memory_key_store() -> None:
    store = MemoryKeyStore()
    info = store.generate("issuer", "p256")
    assert store.public_key("issuer") == info.public_key
    signer = store.signer("issuer")
    assert info.public_key.verify(signer.alg, b"m", signer.sign(b"m"))
    with pytest.raises(ConfigurationError):
        store.generate("issuer", "p256")
    with pytest.raises(ConfigurationError):
        store.generate("../etc/passwd", "p256")
    with pytest.raises(InvalidError) as err:
        store.signer("missing")
    assert err.value.code is Code.KEY_NOT_FOUND


def test_file_key_store_encrypts_persists_and_is_private(tmp_path: Path) -> None:
    path = tmp_path / "keys.ancre"
    store = FileKeyStore.create(path, "correct horse", scrypt_n=FAST_N)
    info = store.generate("issuer", "ed25519")
    private_d = store.export_private_jwk("issuer")["d"]
    raw = path.read_text()
    assert private_d not in raw
    assert info.public_key.to_jwk()["x"] not in raw
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    reopened = FileKeyStore(path, "correct horse")
    assert reopened.public_key("issuer") == info.public_key
    assert [k.name for k in reopened.list()] == ["issuer"]
    with pytest.raises(InvalidError) as err:
        FileKeyStore(path, "wrong")
    assert err.value.code is Code.KEYSTORE_LOCKED
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind


def test_file_key_store_detects_tampering(tmp_path: Path) -> None:
    path = tmp_path / "keys.ancre"
    FileKeyStore.create(path, "pw", scrypt_n=FAST_N).generate("a", "p256")
    envelope = json.loads(path.read_text())
    # Swapping the KDF cost (bound as associated data) must not go unnoticed.
    envelope["header"]["cipher"] = "A128GCM"
    path.write_text(json.dumps(envelope))
    with pytest.raises(InvalidError) as err:
        FileKeyStore(path, "pw")
    assert err.value.code is Code.KEYSTORE_LOCKED
    path.write_text("{not json")
    with pytest.raises(AncreError):
        FileKeyStore(path, "pw")


def test_file_key_store_failed_write_keeps_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "keys.ancre"
    store = FileKeyStore.create(path, "pw", scrypt_n=FAST_N)
    store.generate("first", "ed25519")
    before = path.read_bytes()

    def boom(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="disk full"):
        store.generate("second", "ed25519")
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [k.name for k in store.list()] == ["first"]  # memory agrees with disk
    assert not list(tmp_path.glob(".*.tmp"))


def test_file_key_store_refuses_weak_parameters(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        FileKeyStore(tmp_path / "k", "pw", scrypt_n=1024)
    with pytest.raises(ConfigurationError):
        FileKeyStore(tmp_path / "k", "")
    FileKeyStore.create(tmp_path / "k", "pw", scrypt_n=FAST_N)
    with pytest.raises(ConfigurationError):
        FileKeyStore.create(tmp_path / "k", "pw", scrypt_n=FAST_N)


# ---- Ed25519 (libsodium) -----------------------------------------------------------------

_ED25519_ORDER = 2**252 + 27742317777372353535851937790883648493


def _raw_public(hex_key: str) -> PublicKey:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    return PublicKey(Ed25519PublicKey.from_public_bytes(bytes.fromhex(hex_key)))


@pytest.mark.parametrize("vector", vectors("rfc8032.json")["vectors"], ids=lambda v: v["name"])
@pytest.mark.parametrize("alg", ["EdDSA", "Ed25519"])
def test_rfc8032_vectors_verify(vector: dict[str, str], alg: str) -> None:
    key = _raw_public(vector["public_key"])
    message, signature = bytes.fromhex(vector["message"]), bytes.fromhex(vector["signature"])
    assert key.verify(alg, message, signature)
    assert not key.verify(alg, message + b"\x00", signature)
    tampered = bytearray(signature)
    tampered[0] ^= 1
    assert not key.verify(alg, message, bytes(tampered))
    # ancre's own signer reproduces the RFC's signature (Ed25519 is deterministic).
    signer = PrivateKey.from_jwk(
        {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": b64url_encode(bytes.fromhex(vector["public_key"])),
            "d": b64url_encode(bytes.fromhex(vector["secret_key"])),
        }
    )
    assert signer.sign(message) == signature


def test_ed25519_refuses_non_canonical_s() -> None:
    vector = vectors("rfc8032.json")["vectors"][1]
    key = _raw_public(vector["public_key"])
    signature = bytes.fromhex(vector["signature"])
    s = int.from_bytes(signature[32:], "little") + _ED25519_ORDER
    malleated = signature[:32] + s.to_bytes(32, "little")
    assert not key.verify("EdDSA", bytes.fromhex(vector["message"]), malleated)


def test_ed25519_refuses_small_order_key_that_openssl_accepts() -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from ancre.trust.keys.jwk import _sodium

    identity = b"\x01" + bytes(31)
    forged = identity + bytes(32)  # R = identity, S = 0: "valid" for any message and this key
    openssl = Ed25519PublicKey.from_public_bytes(identity)
    openssl.verify(forged, b"pay 1,000,000 EUR")  # what ancre no longer relies on
    assert not _sodium().verify(forged, b"pay 1,000,000 EUR", identity)
    # Such a key is refused as soon as it is imported, whatever the route.
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(identity)}
    for make in (lambda: PublicKey(openssl), lambda: PublicKey.from_jwk(jwk)):
        with pytest.raises(InvalidError) as err:
            make()
        assert err.value.code is Code.WEAK_KEY


def test_did_key_with_a_small_order_ed25519_key_is_refused() -> None:
    from ancre.trust.codec.multibase import base58btc_encode
    from ancre.trust.did.key import DidKeyResolver

    did = "did:key:z" + base58btc_encode(bytes([0xED, 0x01]) + b"\x01" + bytes(31))
    with pytest.raises(AncreError) as err:
        DidKeyResolver().resolve(did)
    assert err.value.code is Code.WEAK_KEY


@pytest.mark.parametrize("length", [0, 63, 65])
def test_ed25519_refuses_wrong_signature_length(length: int) -> None:
    key = PrivateKey.generate("ed25519")
    signature = key.sign(b"data")
    assert not key.public_key.verify("EdDSA", b"data", (signature * 2)[:length])
