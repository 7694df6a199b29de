"""Signing keys kept in a PKCS#11 token (an HSM, a smart card, SoftHSM2): a :class:`Signer`
whose private key never leaves the token. ancre keeps only the reference (module path,
token label, key label) and the public key; each signature opens a session, logs in with the
user PIN, signs and closes it.

ES256 only (P-256): the token computes ECDSA over the SHA-256 digest ancre hashes
(``CKM_ECDSA``, which every token has, where ``CKM_ECDSA_SHA256`` is optional — SoftHSM2
lacks it) and returns the raw ``r || s`` (PKCS#11 §2.3.1), which is JOSE's form already
(RFC 7518 §3.4): no DER round trip.

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
from ancre.trust.keys.jwk import KeyType, PublicKey

__all__ = ["PinSource", "Pkcs11Ref", "Pkcs11Signer", "open_or_generate"]

#: Where a PIN comes from when a signature needs one: called at most once per signer.
PinSource = Callable[[], str]

_LABEL_MAX: Final = 128
_P256_OID_CURVE: Final = "secp256r1"
#: DER OCTET STRING header of an uncompressed P-256 point (65 bytes), as CKA_EC_POINT
#: holds it (PKCS#11 v2.40 §2.3.3: DER-encoding of an ANSI X9.62 ECPoint value).
_EC_POINT_DER_PREFIX: Final = b"\x04\x41"

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


def _point(public_object: Any) -> PublicKey:
    pkcs11 = _pkcs11()
    raw = bytes(public_object[pkcs11.Attribute.EC_POINT])
    if raw.startswith(_EC_POINT_DER_PREFIX) and len(raw) == 67:
        raw = raw[2:]  # the DER OCTET STRING around the point (most tokens)
    return PublicKey.from_raw(KeyType.P256, raw)


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


def _find(session: Any, object_class: Any, label: str) -> Any | None:
    pkcs11 = _pkcs11()
    try:
        return session.get_key(object_class=object_class, key_type=pkcs11.KeyType.EC, label=label)
    except pkcs11.NoSuchKey:
        return None
    except pkcs11.MultipleObjectsReturned:
        raise _unavailable(f"several PKCS#11 EC keys are labelled {label!r}") from None


class Pkcs11Signer:
    """A :class:`~ancre.trust.keys.jwk.Signer` over a P-256 key pair in a PKCS#11 token.

    `public_key` is the one recorded when the reference was made: every signature first
    checks the token still holds that key under the label (``invalid_key`` otherwise), so a
    key swapped in the token signs nothing in this identity's name. The PIN is asked of
    `pin` on the first signature only."""

    def __init__(self, ref: Pkcs11Ref, public_key: PublicKey, pin: PinSource) -> None:
        if public_key.key_type is not KeyType.P256:
            raise InvalidError(Code.UNSUPPORTED_KEY_TYPE, "PKCS#11 keys are P-256 (ES256) only")
        self.ref = ref
        self._public_key = public_key
        self._pin_source = pin
        self._pin: str | None = None
        self._lock = threading.Lock()

    @property
    def key_type(self) -> KeyType:
        return KeyType.P256

    @property
    def alg(self) -> str:
        return "ES256"

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
        with _Session(self.ref, pin) as session:
            private = _find(session, pkcs11.ObjectClass.PRIVATE_KEY, self.ref.key_label)
            public = _find(session, pkcs11.ObjectClass.PUBLIC_KEY, self.ref.key_label)
            if private is None or public is None:
                raise _unavailable(
                    f"no EC key pair labelled {self.ref.key_label!r} in token "
                    f"{self.ref.token_label!r}"
                )
            if _point(public) != self._public_key:
                raise InvalidError(
                    Code.INVALID_KEY,
                    f"the key labelled {self.ref.key_label!r} in token {self.ref.token_label!r} "
                    "is not this identity's (replaced in the token?)",
                )
            try:
                signature = bytes(
                    private.sign(hashlib.sha256(data).digest(), mechanism=pkcs11.Mechanism.ECDSA)
                )
            except pkcs11.PKCS11Error as error:
                raise _unavailable(f"the token refused to sign: {type(error).__name__}") from None
        if len(signature) != 64:
            raise _unavailable(f"the token returned a {len(signature)}-byte ECDSA signature")
        return signature

    def __repr__(self) -> str:
        where = f"{self.ref.token_label}/{self.ref.key_label}"
        return f"Pkcs11Signer({where}, {self._public_key.thumbprint()})"


def open_or_generate(ref: Pkcs11Ref, pin: str, *, generate: bool = True) -> Pkcs11Signer:
    """The signer of the P-256 key pair labelled `ref.key_label`, generated in the token
    (private key sensitive and not extractable) when the token has none under that label
    and `generate` allows it."""
    pkcs11 = _pkcs11()
    from pkcs11.util.ec import encode_named_curve_parameters

    with _Session(ref, pin, rw=True) as session:
        public = _find(session, pkcs11.ObjectClass.PUBLIC_KEY, ref.key_label)
        private = _find(session, pkcs11.ObjectClass.PRIVATE_KEY, ref.key_label)
        if public is None and private is None:
            if not generate:
                raise _unavailable(f"no key labelled {ref.key_label!r} in {ref.token_label!r}")
            try:
                parameters = session.create_domain_parameters(
                    pkcs11.KeyType.EC,
                    {pkcs11.Attribute.EC_PARAMS: encode_named_curve_parameters(_P256_OID_CURVE)},
                    local=True,
                )
                public, private = parameters.generate_keypair(
                    store=True,
                    label=ref.key_label,
                    private_template={
                        pkcs11.Attribute.SENSITIVE: True,
                        pkcs11.Attribute.EXTRACTABLE: False,
                    },
                )
            except pkcs11.PKCS11Error as error:
                raise _unavailable(
                    f"the token could not generate a P-256 key: {type(error).__name__}"
                ) from None
        elif public is None or private is None:
            raise _unavailable(
                f"the token holds only half of the key pair labelled {ref.key_label!r}"
            )
        try:
            key = _point(public)
        except AncreError:
            raise InvalidError(
                Code.UNSUPPORTED_KEY_TYPE, f"the key labelled {ref.key_label!r} is not P-256"
            ) from None
    return Pkcs11Signer(ref, key, lambda: pin)
