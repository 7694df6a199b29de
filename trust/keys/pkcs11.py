"""Signing keys kept in a PKCS#11 token (an HSM, a smart card, SoftHSM2): a :class:`Signer`
whose private key never leaves the token. ancre keeps only the reference (module path,
token label, key label) and the public key; each signature opens a session, logs in with the
user PIN, signs and closes it.

ES256 (P-256): the token computes ECDSA over the SHA-256 digest ancre hashes (``CKM_ECDSA``,
which every token has, where ``CKM_ECDSA_SHA256`` is optional — SoftHSM2 lacks it) and
returns the raw ``r || s`` (PKCS#11 §2.3.1), which is JOSE's form already (RFC 7518 §3.4):
no DER round trip. EdDSA (Ed25519): ``CKM_EDDSA`` over the message itself (PKCS#11 v3.0
§2.3.14; SoftHSM2 ≥ 2.6 built on OpenSSL ≥ 1.1.1 has it), a 64-byte RFC 8032 signature.

:class:`Pkcs11KeyStore` is a :class:`~ancre.trust.keys.keystore.KeyStore` over one token,
each key's store name its label: what the issuer and the registry sign with when their
keys live in an HSM (``docs/deployment.md``, key custody).

Needs the optional extra ``pkcs11`` (``python-pkcs11``); without it, every use is refused
with ``pkcs11_unavailable``. Errors: ``pkcs11_unavailable`` (module, token or key not found,
token failure), ``pkcs11_pin_incorrect`` (the PIN was refused or is locked), ``invalid_key``
(the token's key is not the one the reference was made for).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ancre.trust.errors import AncreError, Code, ConfigurationError, InvalidError
from ancre.trust.keys.jwk import KeyType, PublicKey, Signer
from ancre.trust.keys.keystore import KeyInfo

__all__ = ["PinSource", "Pkcs11KeyStore", "Pkcs11Ref", "Pkcs11Signer", "open_or_generate"]

#: Where a PIN comes from when a signature needs one: called at most once per signer.
PinSource = Callable[[], str]

_LABEL_MAX: Final = 128
_P256_OID_CURVE: Final = "secp256r1"
#: RFC 8410's id-Ed25519, as CKA_EC_PARAMS names the curve (PKCS#11 v3.0 §2.3.10).
_ED25519_OID: Final = "1.3.101.112"
#: The key types a token key may be, and each one's JOSE algorithm.
TOKEN_KEY_TYPES: Final = (KeyType.P256, KeyType.ED25519)
_TOKEN_ALGS: Final = {KeyType.P256: "ES256", KeyType.ED25519: "EdDSA"}
#: DER OCTET STRING header of an uncompressed P-256 point (65 bytes), as CKA_EC_POINT
#: holds it (PKCS#11 v2.40 §2.3.3: DER-encoding of an ANSI X9.62 ECPoint value).
_EC_POINT_DER_PREFIX: Final = b"\x04\x41"
#: The same around an Ed25519 public key (32 bytes; some tokens give the bare bytes).
_ED_POINT_DER_PREFIX: Final = b"\x04\x20"

_libraries: dict[str, Any] = {}
_libraries_lock = threading.Lock()
_crypto: list[Any] = []


def _clear_openssl_errors() -> None:
    """Empty this thread's OpenSSL error queue. A token module built on the same libcrypto
    as Python's ``ssl`` (SoftHSM2 is) may leave an error there — SoftHSM2's start-up asks
    for the ``rdrand`` engine, which OpenSSL 3 does not have — and the next TLS read of
    the process then fails with it (``[ENGINE: NO_SUCH_ENGINE] no such engine``). Called
    after every call into the token."""
    if not _crypto:
        import ctypes
        import ctypes.util

        name = ctypes.util.find_library("crypto")
        try:
            _crypto.append(ctypes.CDLL(name) if name else None)
        except OSError:
            _crypto.append(None)
    if _crypto[0] is not None:
        _crypto[0].ERR_clear_error()


def _unavailable(message: str) -> InvalidError:
    return InvalidError(Code.PKCS11_UNAVAILABLE, message)


def _pkcs11() -> Any:
    try:
        import pkcs11
    except ImportError:
        raise _unavailable(
            "PKCS#11 needs the optional extra: pip install 'ancre[pkcs11]' (python-pkcs11)"
        ) from None
    return pkcs11


@dataclass(frozen=True, slots=True)
class Pkcs11Ref:
    """Where a key lives: the PKCS#11 module (a shared library), the token's label and the
    key pair's label (``CKA_LABEL``, the same on its private and public objects)."""

    module: str
    token_label: str
    key_label: str

    def __post_init__(self) -> None:
        for name in ("token_label", "key_label"):
            value = getattr(self, name)
            if not isinstance(value, str) or not 0 < len(value) <= _LABEL_MAX:
                raise ConfigurationError(f"the PKCS#11 {name} must be 1 to {_LABEL_MAX} characters")
            if any(ord(c) < 0x20 for c in value):
                raise ConfigurationError(f"the PKCS#11 {name} holds a control character")
        if not isinstance(self.module, str) or not Path(self.module).is_absolute():
            raise ConfigurationError("the PKCS#11 module must be an absolute path")

    def to_json(self) -> dict[str, str]:
        return {"module": self.module, "token_label": self.token_label, "key_label": self.key_label}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Pkcs11Ref:
        if not isinstance(data, Mapping) or set(data) != {"module", "token_label", "key_label"}:
            raise InvalidError(Code.INVALID_KEY, "not a PKCS#11 key reference")
        return cls(str(data["module"]), str(data["token_label"]), str(data["key_label"]))


def _library(module: str) -> Any:
    pkcs11 = _pkcs11()
    with _libraries_lock:
        lib = _libraries.get(module)
        if lib is None:
            if not Path(module).is_file():
                raise _unavailable(f"no PKCS#11 module at {module}")
            try:
                lib = pkcs11.lib(module)
            except Exception as error:  # noqa: BLE001 - a foreign library: any failure
                raise _unavailable(f"cannot load the PKCS#11 module {module}: {error}") from None
            finally:
                _clear_openssl_errors()
            _libraries[module] = lib
        return lib


def _point(public_object: Any, key_type: KeyType = KeyType.P256) -> PublicKey:
    pkcs11 = _pkcs11()
    raw = bytes(public_object[pkcs11.Attribute.EC_POINT])
    if key_type is KeyType.ED25519:
        if raw.startswith(_ED_POINT_DER_PREFIX) and len(raw) == 34:
            raw = raw[2:]
        return PublicKey.from_raw(KeyType.ED25519, raw)
    if raw.startswith(_EC_POINT_DER_PREFIX) and len(raw) == 67:
        raw = raw[2:]  # the DER OCTET STRING around the point (most tokens)
    return PublicKey.from_raw(KeyType.P256, raw)


def _pkcs11_key_type(key_type: KeyType) -> Any:
    pkcs11 = _pkcs11()
    return pkcs11.KeyType.EC_EDWARDS if key_type is KeyType.ED25519 else pkcs11.KeyType.EC


class _Session:
    """One logged-in session, closed on exit; PKCS#11 failures become ancre errors."""

    def __init__(self, ref: Pkcs11Ref, pin: str, *, rw: bool = False) -> None:
        self._ref, self._pin, self._rw = ref, pin, rw
        self._session: Any = None

    def __enter__(self) -> Any:
        pkcs11 = _pkcs11()
        lib = _library(self._ref.module)
        try:
            token = lib.get_token(token_label=self._ref.token_label)
        except (pkcs11.NoSuchToken, pkcs11.MultipleTokensReturned):
            raise _unavailable(
                f"no single PKCS#11 token labelled {self._ref.token_label!r} in {self._ref.module}"
            ) from None
        try:
            self._session = token.open(user_pin=self._pin, rw=self._rw)
        except (pkcs11.PinIncorrect, pkcs11.PinLenRange, pkcs11.PinInvalid):
            raise InvalidError(
                Code.PKCS11_PIN_INCORRECT,
                f"the PIN of token {self._ref.token_label!r} was refused",
            ) from None
        except pkcs11.PinLocked:
            raise InvalidError(
                Code.PKCS11_PIN_INCORRECT, f"the PIN of token {self._ref.token_label!r} is locked"
            ) from None
        except pkcs11.PKCS11Error as error:
            raise _unavailable(f"token {self._ref.token_label!r}: {type(error).__name__}") from None
        return self._session

    def __exit__(self, *exc: object) -> None:
        try:
            if self._session is not None:
                self._session.close()
        finally:
            _clear_openssl_errors()


def _find(
    session: Any, object_class: Any, label: str, key_type: KeyType = KeyType.P256
) -> Any | None:
    pkcs11 = _pkcs11()
    try:
        return session.get_key(
            object_class=object_class, key_type=_pkcs11_key_type(key_type), label=label
        )
    except pkcs11.NoSuchKey:
        return None
    except pkcs11.MultipleObjectsReturned:
        raise _unavailable(f"several PKCS#11 {key_type} keys are labelled {label!r}") from None


def _labelled_type(session: Any, label: str) -> KeyType | None:
    """The key type of the public key labelled `label` (P-256 or Ed25519), None if none."""
    found = [
        t for t in TOKEN_KEY_TYPES if _find(session, _pkcs11().ObjectClass.PUBLIC_KEY, label, t)
    ]
    if len(found) > 1:
        raise _unavailable(f"several PKCS#11 keys are labelled {label!r}")
    return found[0] if found else None


class Pkcs11Signer:
    """A :class:`~ancre.trust.keys.jwk.Signer` over a P-256 or Ed25519 key pair in a
    PKCS#11 token.

    `public_key` is the one recorded when the reference was made: every signature first
    checks the token still holds that key under the label (``invalid_key`` otherwise), so a
    key swapped in the token signs nothing in this identity's name. The PIN is asked of
    `pin` on the first signature only."""

    def __init__(self, ref: Pkcs11Ref, public_key: PublicKey, pin: PinSource) -> None:
        if public_key.key_type not in TOKEN_KEY_TYPES:
            raise InvalidError(
                Code.UNSUPPORTED_KEY_TYPE, "PKCS#11 keys are P-256 (ES256) or Ed25519 (EdDSA)"
            )
        self.ref = ref
        self._public_key = public_key
        self._pin_source = pin
        self._pin: str | None = None
        self._lock = threading.Lock()

    @property
    def key_type(self) -> KeyType:
        return self._public_key.key_type

    @property
    def alg(self) -> str:
        return _TOKEN_ALGS[self.key_type]

    @property
    def public_key(self) -> PublicKey:
        return self._public_key

    def _pin_value(self) -> str:
        with self._lock:
            if self._pin is None:
                self._pin = self._pin_source()
            return self._pin

    def sign(self, data: bytes) -> bytes:
        pkcs11 = _pkcs11()
        pin = self._pin_value()
        kind = self.key_type
        with _Session(self.ref, pin) as session:
            private = _find(session, pkcs11.ObjectClass.PRIVATE_KEY, self.ref.key_label, kind)
            public = _find(session, pkcs11.ObjectClass.PUBLIC_KEY, self.ref.key_label, kind)
            if private is None or public is None:
                raise _unavailable(
                    f"no {kind} key pair labelled {self.ref.key_label!r} in token "
                    f"{self.ref.token_label!r}"
                )
            if _point(public, kind) != self._public_key:
                raise InvalidError(
                    Code.INVALID_KEY,
                    f"the key labelled {self.ref.key_label!r} in token {self.ref.token_label!r} "
                    "is not this identity's (replaced in the token?)",
                )
            try:
                if kind is KeyType.ED25519:
                    signature = bytes(private.sign(data, mechanism=pkcs11.Mechanism.EDDSA))
                else:
                    digest = hashlib.sha256(data).digest()
                    signature = bytes(private.sign(digest, mechanism=pkcs11.Mechanism.ECDSA))
            except pkcs11.PKCS11Error as error:
                raise _unavailable(f"the token refused to sign: {type(error).__name__}") from None
        if len(signature) != 64:
            raise _unavailable(f"the token returned a {len(signature)}-byte {self.alg} signature")
        return signature

    def __repr__(self) -> str:
        where = f"{self.ref.token_label}/{self.ref.key_label}"
        return f"Pkcs11Signer({where}, {self._public_key.thumbprint()})"


def open_or_generate(
    ref: Pkcs11Ref, pin: str, *, generate: bool = True, key_type: KeyType = KeyType.P256
) -> Pkcs11Signer:
    """The signer of the key pair labelled `ref.key_label`, generated in the token (a
    `key_type` key, P-256 unless told; private key sensitive and not extractable) when the
    token has none under that label and `generate` allows it. A key pair already there is
    used whatever its type (P-256 or Ed25519): one an HSM administrator made."""
    with _Session(ref, pin, rw=True) as session:
        key = _open_or_generate(session, ref, key_type if generate else None)
    return Pkcs11Signer(ref, key, lambda: pin)


def _open_or_generate(session: Any, ref: Pkcs11Ref, generate: KeyType | None) -> PublicKey:
    pkcs11 = _pkcs11()
    label = ref.key_label
    kind = _labelled_type(session, label)
    if kind is None:
        # No public key: a lone private key (or a key of another type) is still "half".
        for other in TOKEN_KEY_TYPES:
            if _find(session, pkcs11.ObjectClass.PRIVATE_KEY, label, other) is not None:
                raise _unavailable(f"the token holds only half of the key pair labelled {label!r}")
        if generate is None:
            raise _unavailable(f"no key labelled {label!r} in {ref.token_label!r}")
        return _generate(session, label, generate)
    if _find(session, pkcs11.ObjectClass.PRIVATE_KEY, label, kind) is None:
        raise _unavailable(f"the token holds only half of the key pair labelled {label!r}")
    try:
        return _point(_find(session, pkcs11.ObjectClass.PUBLIC_KEY, label, kind), kind)
    except AncreError:
        raise InvalidError(
            Code.UNSUPPORTED_KEY_TYPE, f"the key labelled {label!r} is not P-256 or Ed25519"
        ) from None


def _generate(session: Any, label: str, key_type: KeyType) -> PublicKey:
    pkcs11 = _pkcs11()
    from pkcs11.util.ec import encode_named_curve_parameters

    if key_type not in TOKEN_KEY_TYPES:
        raise InvalidError(
            Code.UNSUPPORTED_KEY_TYPE,
            f"a PKCS#11 key is p256 or ed25519, not {key_type}",
        )
    edwards = key_type is KeyType.ED25519
    curve = _ED25519_OID if edwards else _P256_OID_CURVE
    try:
        parameters = session.create_domain_parameters(
            _pkcs11_key_type(key_type),
            {pkcs11.Attribute.EC_PARAMS: encode_named_curve_parameters(curve)},
            local=True,
        )
        public, _ = parameters.generate_keypair(
            store=True,
            label=label,
            mechanism=(
                pkcs11.Mechanism.EC_EDWARDS_KEY_PAIR_GEN
                if edwards
                else pkcs11.Mechanism.EC_KEY_PAIR_GEN
            ),
            private_template={
                pkcs11.Attribute.SENSITIVE: True,
                pkcs11.Attribute.EXTRACTABLE: False,
            },
        )
    except pkcs11.PKCS11Error as error:
        raise _unavailable(
            f"the token could not generate a {key_type} key: {type(error).__name__}"
        ) from None
    return _point(public, key_type)


class Pkcs11KeyStore:
    """A :class:`~ancre.trust.keys.keystore.KeyStore` whose keys live in one PKCS#11
    token: a key's store name is its label (``CKA_LABEL``). Keys are generated in the
    token and never leave it: importing or exporting a private key is refused. The PIN is
    asked of `pin` once, when the token is first opened; public keys are read from the
    token once and kept (each signature checks the token still holds the same one)."""

    def __init__(self, module: str, token_label: str, pin: PinSource) -> None:
        # A reference with a placeholder key label checks the module and token label now.
        Pkcs11Ref(module, token_label, "-")
        self.module, self.token_label = module, token_label
        self._pin_source = pin
        self._pin: str | None = None
        self._public: dict[str, PublicKey] = {}
        self._lock = threading.Lock()

    def _ref(self, name: str) -> Pkcs11Ref:
        return Pkcs11Ref(self.module, self.token_label, name)

    def _pin_value(self) -> str:
        with self._lock:
            if self._pin is None:
                self._pin = self._pin_source()
            return self._pin

    def ensure(self, name: str, key_type: KeyType | str) -> KeyInfo:
        """The key pair labelled `name`, generated when the token has none under that
        label (one an HSM administrator made beforehand is used as it is)."""
        key = open_or_generate(self._ref(name), self._pin_value(), key_type=KeyType(key_type))
        self._public[name] = key.public_key
        return KeyInfo(name, key.public_key.key_type, key.public_key)

    def generate(self, name: str, key_type: KeyType | str) -> KeyInfo:
        """A new key pair labelled `name`; refused when the token holds one already."""
        kind = KeyType(key_type)
        with _Session(self._ref(name), self._pin_value(), rw=True) as session:
            if _labelled_type(session, name) is not None:
                raise ConfigurationError(
                    f"token {self.token_label!r} already holds a key labelled {name!r}"
                )
            key = _generate(session, name, kind)
        self._public[name] = key
        return KeyInfo(name, kind, key)

    def public_key(self, name: str) -> PublicKey:
        known = self._public.get(name)
        if known is None:
            with _Session(self._ref(name), self._pin_value()) as session:
                known = _open_or_generate(session, self._ref(name), None)
            self._public[name] = known
        return known

    def signer(self, name: str) -> Signer:
        return Pkcs11Signer(self._ref(name), self.public_key(name), self._pin_value)

    def list(self) -> list[KeyInfo]:
        """The token's labelled key pairs of a type ancre signs with."""
        pkcs11 = _pkcs11()
        found: list[KeyInfo] = []
        with _Session(self._ref("-"), self._pin_value()) as session:
            for kind in TOKEN_KEY_TYPES:
                objects = session.get_objects(
                    {
                        pkcs11.Attribute.CLASS: pkcs11.ObjectClass.PUBLIC_KEY,
                        pkcs11.Attribute.KEY_TYPE: _pkcs11_key_type(kind),
                    }
                )
                for public in objects:
                    label = public[pkcs11.Attribute.LABEL]
                    if isinstance(label, str) and label:
                        try:
                            found.append(KeyInfo(label, kind, _point(public, kind)))
                        except AncreError:
                            continue  # not a key of this curve: not one ancre made
        return sorted(found, key=lambda info: info.name)

    def import_private_jwk(self, name: str, jwk: Mapping[str, Any]) -> KeyInfo:
        raise ConfigurationError(
            f"the keys of token {self.token_label!r} are made in the token: import a key "
            "with the token's own tools, then name its label"
        )

    def export_private_jwk(self, name: str) -> dict[str, str]:
        raise InvalidError(
            Code.PKCS11_UNAVAILABLE,
            f"the key {name!r} is in PKCS#11 token {self.token_label!r}: it never leaves it",
        )

    def __repr__(self) -> str:
        return f"Pkcs11KeyStore({self.token_label!r} in {self.module})"
