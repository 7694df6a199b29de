"""Public and private keys, JWK import/export (RFC 7517/7518/8037) and thumbprints (RFC 7638).

ancre signs with Ed25519, P-256, P-384, P-521 (ES512) and secp256k1 (ES256K) and verifies
those plus RSA ≥ 2048 (Gaia-X notaries sign PS256); whether an algorithm is *accepted* is the
verification policy's allow-list (`ES256K` is off by default). Keys are typed: an algorithm is
only ever used with the key type it belongs to (RFC 8725 §3.1), which closes the "HS256 with
the public key as secret" confusion.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, NamedTuple, Protocol, cast, runtime_checkable

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from ancre.trust.codec.b64 import b64url_decode, b64url_encode
from ancre.trust.codec.json import dumps_compact
from ancre.trust.errors import Code, ConfigurationError, InvalidError, MalformedError


def _serialization() -> Any:
    """`cryptography`'s serialization module, imported on first use: it pulls in its SSH
    key support (~15 ms), which verifying a JWS never needs (start-up budget)."""
    from cryptography.hazmat.primitives import serialization

    return serialization


__all__ = [
    "ALG_KEY_TYPES",
    "JWK_THUMBPRINT_URI_PREFIX",
    "SIGNING_ALGS",
    "KeyType",
    "PrivateKey",
    "PublicKey",
    "Signer",
    "jwk_thumbprint",
]


class KeyType(StrEnum):
    ED25519 = "ed25519"
    P256 = "p256"
    P384 = "p384"
    P521 = "p521"
    SECP256K1 = "secp256k1"
    RSA = "rsa"


#: The key types ancre's services and commands generate keys of. P-521 and secp256k1 keys
#: also sign (`PrivateKey.generate`, `PrivateKey.from_jwk`): VC-JOSE-COSE's ES512 and ES256K.
SIGNING_KEY_TYPES: Final = (KeyType.ED25519, KeyType.P256, KeyType.P384)
MIN_RSA_BITS: Final = 2048

#: Which key type each JWS algorithm needs. `Ed25519` is RFC 9864's fully-specified name for
#: what RFC 8037 called `EdDSA` over Ed25519; ancre accepts both and emits `EdDSA`.
ALG_KEY_TYPES: Final[Mapping[str, KeyType]] = {
    "EdDSA": KeyType.ED25519,
    "Ed25519": KeyType.ED25519,
    "ES256": KeyType.P256,
    "ES384": KeyType.P384,
    "ES512": KeyType.P521,
    "ES256K": KeyType.SECP256K1,
    "RS256": KeyType.RSA,
    "RS384": KeyType.RSA,
    "RS512": KeyType.RSA,
    "PS256": KeyType.RSA,
    "PS384": KeyType.RSA,
    "PS512": KeyType.RSA,
}
#: The algorithm ancre emits for each signing key type.
SIGNING_ALGS: Final[Mapping[KeyType, str]] = {
    KeyType.ED25519: "EdDSA",
    KeyType.P256: "ES256",
    KeyType.P384: "ES384",
    KeyType.P521: "ES512",
    KeyType.SECP256K1: "ES256K",
}
_EC_CURVES: Final = {
    KeyType.P256: (ec.SECP256R1(), "P-256", 32, hashes.SHA256()),
    KeyType.P384: (ec.SECP384R1(), "P-384", 48, hashes.SHA384()),
    # RFC 7518 §3.4: ES512 is P-521 with SHA-512, R and S 66 bytes each.
    KeyType.P521: (ec.SECP521R1(), "P-521", 66, hashes.SHA512()),
    # RFC 8812 §3.2: ES256K is secp256k1 with SHA-256 (JWK crv "secp256k1").
    KeyType.SECP256K1: (ec.SECP256K1(), "secp256k1", 32, hashes.SHA256()),
}
_CRV_TO_TYPE: Final = {
    "P-256": KeyType.P256,
    "P-384": KeyType.P384,
    "P-521": KeyType.P521,
    "secp256k1": KeyType.SECP256K1,
}
_CURVE_NAMES: Final = {
    "secp256r1": KeyType.P256,
    "secp384r1": KeyType.P384,
    "secp521r1": KeyType.P521,
    "secp256k1": KeyType.SECP256K1,
}
_RSA_HASHES: Final[Mapping[str, type[hashes.HashAlgorithm]]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}
_PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})

PublicKeyObject = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey
PrivateKeyObject = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey


def _member(jwk: Mapping[str, Any], name: str) -> bytes:
    value = jwk.get(name)
    if not isinstance(value, str):
        raise MalformedError(Code.INVALID_KEY, f"JWK member {name!r} must be a base64url string")
    return b64url_decode(value, what=f"JWK member {name!r}")


class _Sodium(NamedTuple):
    verify: Callable[[bytes, bytes, bytes], bool]
    valid_point: Callable[[bytes], bool]


_SODIUM: _Sodium | None = None


def _sodium() -> _Sodium:
    """libsodium's Ed25519 verification and point check (the copy PyNaCl ships), loaded on
    first use.

    Why not `cryptography`: OpenSSL's Ed25519 verify takes about twice as long as libsodium's
    on the machines ancre is measured on, and EdDSA is the verifier's most common signature.
    libsodium's rules are also the stricter ones: beyond RFC 8032 §5.1.7 (canonical `S`), it
    refuses small-order public keys and `R`, and non-canonical key encodings, which OpenSSL
    accepts (with a small-order key a "signature" verifies for every message).

    The cffi module is imported directly: `nacl.bindings` loads every libsodium binding
    (~30 ms), which `ancre verify`'s start-up budget cannot afford."""
    global _SODIUM
    if _SODIUM is None:
        from nacl._sodium import ffi, lib

        if lib.sodium_init() < 0:  # pragma: no cover - only if libsodium cannot initialise
            raise ConfigurationError("libsodium failed to initialise")
        open_, new, is_valid_point = (
            lib.crypto_sign_open,
            ffi.new,
            lib.crypto_core_ed25519_is_valid_point,
        )

        def verify(signature: bytes, message: bytes, public: bytes) -> bool:
            if len(signature) != 64 or len(public) != 32:
                return False
            signed = signature + message
            out = new("unsigned char[]", len(signed))
            return bool(open_(out, new("unsigned long long *"), signed, len(signed), public) == 0)

        def valid_point(public: bytes) -> bool:
            # Canonical encoding, on the curve, in the prime-order subgroup, not small order.
            return len(public) == 32 and bool(is_valid_point(public) == 1)

        _SODIUM = _Sodium(verify, valid_point)
    return _SODIUM


def _uint(data: bytes) -> int:
    return int.from_bytes(data, "big")


def _uint_bytes(value: int, length: int | None = None) -> bytes:
    size = length if length is not None else max(1, (value.bit_length() + 7) // 8)
    return value.to_bytes(size, "big")


class PublicKey:
    """A verification key: its type, its `cryptography` object and its public JWK."""

    __slots__ = ("_jwk", "_raw", "_thumbprint", "key", "key_type")

    def __init__(self, key: PublicKeyObject) -> None:
        self.key: Final = key
        self._raw: bytes | None = None
        if isinstance(key, ed25519.Ed25519PublicKey):
            self.key_type = KeyType.ED25519
            raw = key.public_bytes_raw()
            if not _sodium().valid_point(raw):
                raise InvalidError(
                    Code.WEAK_KEY,
                    "Ed25519 public key is not a point of prime order (small-order or "
                    "non-canonical): anyone could sign for it",
                )
            self._raw = raw
        elif isinstance(key, ec.EllipticCurvePublicKey):
            crv = key.curve.name
            if crv in _CURVE_NAMES:
                self.key_type = _CURVE_NAMES[crv]
            else:
                raise InvalidError(Code.UNSUPPORTED_KEY_TYPE, f"EC curve {crv} is not supported")
        elif isinstance(key, rsa.RSAPublicKey):
            if key.key_size < MIN_RSA_BITS:
                raise InvalidError(
                    Code.WEAK_KEY, f"RSA key has {key.key_size} bits, at least 2048 are required"
                )
            self.key_type = KeyType.RSA
        else:  # pragma: no cover - the type annotation excludes it
            raise InvalidError(Code.UNSUPPORTED_KEY_TYPE, f"unsupported key {type(key).__name__}")
        self._jwk: dict[str, str] | None = None
        self._thumbprint: str | None = None

    # ---- JWK -------------------------------------------------------------------------
    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any]) -> PublicKey:
        """Import a public JWK. Private members are refused: a public key slot that carries a
        private key means someone published their secret."""
        if not isinstance(jwk, Mapping):
            raise MalformedError(Code.INVALID_KEY, "a JWK must be a JSON object")
        leaked = _PRIVATE_MEMBERS.intersection(jwk)
        if leaked:
            raise InvalidError(
                Code.INVALID_KEY, f"public JWK carries private members {sorted(leaked)}"
            )
        return cls(_public_object_from_jwk(jwk))

    def to_jwk(self) -> dict[str, str]:
        """The public JWK with only the members RFC 7638 requires (plus nothing private)."""
        if self._jwk is None:
            self._jwk = _public_jwk(self.key, self.key_type)
        return dict(self._jwk)

    def thumbprint(self) -> str:
        """RFC 7638 SHA-256 thumbprint, base64url."""
        if self._thumbprint is None:
            self._thumbprint = jwk_thumbprint(self.to_jwk())
        return self._thumbprint

    # ---- raw forms used by did:key -----------------------------------------------------
    def raw_public_bytes(self) -> bytes:
        """Ed25519: 32 raw bytes; EC: the SEC1 compressed point (what did:key encodes)."""
        if isinstance(self.key, ed25519.Ed25519PublicKey):
            return cast(bytes, self._raw)
        if isinstance(self.key, ec.EllipticCurvePublicKey):
            return self.key.public_bytes(
                _serialization().Encoding.X962, _serialization().PublicFormat.CompressedPoint
            )
        raise InvalidError(Code.UNSUPPORTED_KEY_TYPE, "RSA keys have no did:key form in ancre")

    @classmethod
    def from_raw(cls, key_type: KeyType, data: bytes) -> PublicKey:
        try:
            if key_type is KeyType.ED25519:
                return cls(ed25519.Ed25519PublicKey.from_public_bytes(data))
            if key_type in _EC_CURVES:
                curve = _EC_CURVES[key_type][0]
                return cls(ec.EllipticCurvePublicKey.from_encoded_point(curve, data))
        except ValueError as exc:
            raise InvalidError(
                Code.INVALID_KEY, f"not a valid {key_type} public key: {exc}"
            ) from None
        raise InvalidError(Code.UNSUPPORTED_KEY_TYPE, f"no raw form for {key_type}")

    # ---- verification ----------------------------------------------------------------
    def check_alg(self, alg: str) -> None:
        """Raise unless `alg` is an algorithm for this key's type."""
        wanted = ALG_KEY_TYPES.get(alg)
        if wanted is None:
            raise InvalidError(Code.ALG_NOT_ALLOWED, f"algorithm {alg!r} is not supported")
        if wanted is not self.key_type:
            raise InvalidError(
                Code.ALG_KEY_MISMATCH,
                f"algorithm {alg} needs a {wanted} key, the key is {self.key_type}",
            )

    def verify(self, alg: str, signing_input: bytes, signature: bytes) -> bool:
        """True if `signature` is a valid JWS signature (RFC 7518 encoding) by this key."""
        self.check_alg(alg)
        key = self.key
        if isinstance(key, ed25519.Ed25519PublicKey):
            return _sodium().verify(signature, signing_input, cast(bytes, self._raw))
        try:
            if isinstance(key, ec.EllipticCurvePublicKey):
                _, _, size, digest = _EC_CURVES[self.key_type]
                # RFC 7518 §3.4: R || S, each exactly the curve's size.
                if len(signature) != 2 * size:
                    return False
                r, s = _uint(signature[:size]), _uint(signature[size:])
                key.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(digest))
            else:
                hash_cls = _RSA_HASHES[alg[2:]]
                pad: padding.AsymmetricPadding
                if alg.startswith("PS"):
                    # RFC 7518 §3.5: MGF1 with the same hash, salt as long as the hash.
                    pad = padding.PSS(
                        mgf=padding.MGF1(hash_cls()), salt_length=padding.PSS.DIGEST_LENGTH
                    )
                else:
                    pad = padding.PKCS1v15()
                key.verify(signature, signing_input, pad, hash_cls())
        except InvalidSignature:
            return False
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and self.to_jwk() == other.to_jwk()

    def __hash__(self) -> int:
        return hash(self.thumbprint())

    def __repr__(self) -> str:
        return f"PublicKey({self.key_type}, {self.thumbprint()})"


@runtime_checkable
class Signer(Protocol):
    """Something that signs with a key it does not hand out (a key store entry, an HSM)."""

    @property
    def key_type(self) -> KeyType: ...

    @property
    def alg(self) -> str: ...

    @property
    def public_key(self) -> PublicKey: ...

    def sign(self, data: bytes) -> bytes: ...


@dataclass(frozen=True, slots=True, repr=False)
class PrivateKey:
    """A signing key held in memory. Its bytes leave only through :meth:`export_private_jwk`."""

    key: PrivateKeyObject
    key_type: KeyType
    public_key: PublicKey

    @classmethod
    def generate(cls, key_type: KeyType | str) -> PrivateKey:
        kt = KeyType(key_type)
        if kt is KeyType.ED25519:
            return cls._wrap(ed25519.Ed25519PrivateKey.generate())
        if kt in _EC_CURVES:
            return cls._wrap(ec.generate_private_key(_EC_CURVES[kt][0]))
        raise ConfigurationError(f"ancre signs with Ed25519 and EC keys only; not {kt}")

    @classmethod
    def _wrap(cls, key: PrivateKeyObject) -> PrivateKey:
        public = PublicKey(key.public_key())
        return cls(key=key, key_type=public.key_type, public_key=public)

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any]) -> PrivateKey:
        """Import a private JWK (Ed25519 `OKP` or `EC` P-256/P-384/P-521/secp256k1), checking
        it matches its public part."""
        kty = jwk.get("kty")
        try:
            if kty == "OKP":
                if jwk.get("crv") != "Ed25519":
                    raise InvalidError(
                        Code.UNSUPPORTED_KEY_TYPE, "only Ed25519 OKP keys are supported"
                    )
                d = _member(jwk, "d")
                if len(d) != 32:
                    raise InvalidError(Code.INVALID_KEY, "Ed25519 `d` must be 32 bytes")
                key: PrivateKeyObject = ed25519.Ed25519PrivateKey.from_private_bytes(d)
            elif kty == "EC":
                curve, size = _ec_curve(jwk)
                d = _member(jwk, "d")
                if len(d) != size:
                    raise InvalidError(Code.INVALID_KEY, f"{jwk['crv']} `d` must be {size} bytes")
                key = ec.derive_private_key(_uint(d), curve)
            else:
                raise InvalidError(Code.UNSUPPORTED_KEY_TYPE, f"cannot sign with kty {kty!r}")
        except ValueError as exc:
            raise InvalidError(Code.INVALID_KEY, f"invalid private key: {exc}") from None
        wrapped = cls._wrap(key)
        public_members = {k: v for k, v in jwk.items() if k not in _PRIVATE_MEMBERS}
        if PublicKey.from_jwk(public_members) != wrapped.public_key:
            raise InvalidError(Code.INVALID_KEY, "private JWK's public members do not match `d`")
        return wrapped

    def export_private_jwk(self) -> dict[str, str]:
        """The private JWK. The only way a private key's bytes leave ancre's API."""
        jwk = self.public_key.to_jwk()
        if isinstance(self.key, ed25519.Ed25519PrivateKey):
            raw = self.key.private_bytes(
                _serialization().Encoding.Raw,
                _serialization().PrivateFormat.Raw,
                _serialization().NoEncryption(),
            )
            jwk["d"] = b64url_encode(raw)
        else:
            size = _EC_CURVES[self.key_type][2]
            jwk["d"] = b64url_encode(_uint_bytes(self.key.private_numbers().private_value, size))
        return jwk

    @property
    def alg(self) -> str:
        return SIGNING_ALGS[self.key_type]

    def sign(self, data: bytes) -> bytes:
        key = self.key
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key.sign(data)
        _, _, size, digest = _EC_CURVES[self.key_type]
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(digest)))
        return _uint_bytes(r, size) + _uint_bytes(s, size)

    def __repr__(self) -> str:
        return f"PrivateKey({self.key_type}, {self.public_key.thumbprint()})"


def _ec_curve(jwk: Mapping[str, Any]) -> tuple[ec.EllipticCurve, int]:
    """The curve of an `EC` JWK and its coordinate size: P-256, P-384, P-521, secp256k1."""
    kt = _CRV_TO_TYPE.get(str(jwk.get("crv")))
    if kt is None:
        raise InvalidError(
            Code.UNSUPPORTED_KEY_TYPE, f"EC curve {jwk.get('crv')!r} is not supported"
        )
    curve, _, size, _ = _EC_CURVES[kt]
    return curve, size


def _public_object_from_jwk(jwk: Mapping[str, Any]) -> PublicKeyObject:
    kty = jwk.get("kty")
    try:
        if kty == "OKP":
            if jwk.get("crv") != "Ed25519":
                raise InvalidError(
                    Code.UNSUPPORTED_KEY_TYPE, f"OKP curve {jwk.get('crv')!r} is not supported"
                )
            x = _member(jwk, "x")
            if len(x) != 32:
                raise InvalidError(Code.INVALID_KEY, "Ed25519 `x` must be 32 bytes")
            return ed25519.Ed25519PublicKey.from_public_bytes(x)
        if kty == "EC":
            curve, size = _ec_curve(jwk)
            x, y = _member(jwk, "x"), _member(jwk, "y")
            # RFC 7518 §6.2.1.2: coordinates are the full curve size, zero-padded.
            if len(x) != size or len(y) != size:
                raise InvalidError(
                    Code.INVALID_KEY, f"{jwk['crv']} coordinates must be {size} bytes"
                )
            # from_encoded_point checks the point is on the curve (invalid-curve attacks).
            return ec.EllipticCurvePublicKey.from_encoded_point(curve, b"\x04" + x + y)
        if kty == "RSA":
            n, e = _uint(_member(jwk, "n")), _uint(_member(jwk, "e"))
            if n.bit_length() < MIN_RSA_BITS:
                raise InvalidError(
                    Code.WEAK_KEY, f"RSA key has {n.bit_length()} bits, at least 2048 are required"
                )
            return rsa.RSAPublicNumbers(e, n).public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise InvalidError(Code.INVALID_KEY, f"invalid {kty} public key: {exc}") from None
    raise InvalidError(Code.UNSUPPORTED_KEY_TYPE, f"JWK kty {kty!r} is not supported")


def _public_jwk(key: PublicKeyObject, key_type: KeyType) -> dict[str, str]:
    if isinstance(key, ed25519.Ed25519PublicKey):
        raw = key.public_bytes(_serialization().Encoding.Raw, _serialization().PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)}
    if isinstance(key, ec.EllipticCurvePublicKey):
        _, crv, size, _ = _EC_CURVES[key_type]
        nums = key.public_numbers()
        return {
            "kty": "EC",
            "crv": crv,
            "x": b64url_encode(_uint_bytes(nums.x, size)),
            "y": b64url_encode(_uint_bytes(nums.y, size)),
        }
    rsa_nums = key.public_numbers()
    return {
        "kty": "RSA",
        "n": b64url_encode(_uint_bytes(rsa_nums.n)),
        "e": b64url_encode(_uint_bytes(rsa_nums.e)),
    }


_THUMBPRINT_MEMBERS: Final = {
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
    "RSA": ("e", "kty", "n"),
    "oct": ("k", "kty"),
}


#: RFC 9278 §3: a JWK thumbprint (SHA-256) as a URI, naming a bare key as a holder.
JWK_THUMBPRINT_URI_PREFIX: Final = "urn:ietf:params:oauth:jwk-thumbprint:sha-256:"


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 §3: SHA-256 over the required members, sorted, without whitespace."""
    kty = jwk.get("kty")
    members = _THUMBPRINT_MEMBERS.get(kty) if isinstance(kty, str) else None
    if members is None:
        raise InvalidError(Code.UNSUPPORTED_KEY_TYPE, f"no thumbprint rule for kty {kty!r}")
    subset = {}
    for name in members:
        value = jwk.get(name)
        if not isinstance(value, str):
            raise MalformedError(Code.INVALID_KEY, f"JWK member {name!r} is missing")
        subset[name] = value
    canonical = dumps_compact(dict(sorted(subset.items())))
    return b64url_encode(hashlib.sha256(canonical.encode("utf-8")).digest())
