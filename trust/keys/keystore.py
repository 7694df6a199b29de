"""Key stores: where signing keys live. Code asks a store for a `Signer`, never for bytes.

- `MemoryKeyStore` for tests and throw-away demos.
- `FileKeyStore`: one file, a JSON envelope whose private keys are encrypted with AES-256-GCM
  under a key derived from a passphrase with scrypt (RFC 7914). The envelope's clear header is
  bound to the ciphertext as associated data, so nobody can swap KDF parameters. Writes are
  atomic (temporary file in the same folder, fsync, rename, fsync of the folder) with mode
  0600, so a crash leaves either the old store or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ancre.trust.codec.b64 import b64url_decode, b64url_encode
from ancre.trust.codec.json import dumps_compact, loads_strict
from ancre.trust.errors import Code, ConfigurationError, InvalidError, MalformedError
from ancre.trust.keys.jwk import KeyType, PrivateKey, PublicKey, Signer

__all__ = [
    "FileKeyStore",
    "KeyInfo",
    "KeyStore",
    "MemoryKeyStore",
    "atomic_write",
    "derive_passphrase_key",
    "scrypt_n_allowed",
]

_FORMAT: Final = "ancre-keystore/1"
_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: scrypt cost: N=2^17, r=8, p=1 (128 MiB, a fraction of a second) is OWASP's floor for
#: password hashing (its cheapest recommended setting); tests may go down to 2^14.
DEFAULT_SCRYPT_N: Final = 2**17
MIN_SCRYPT_N: Final = 2**14
#: The most a key store may ask for: N=2^18 (256 MiB, about a second). The cost sits in the
#: file's clear header, so whoever can write the file chooses it: at 2^22 opening it took
#: 17 s and 4.2 GB before the passphrase was even checked (issue 12, point 20). Refused
#: before any derivation.
MAX_SCRYPT_N: Final = 2**18
_MAX_STORE_BYTES: Final = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class KeyInfo:
    name: str
    key_type: KeyType
    public_key: PublicKey


@runtime_checkable
class KeyStore(Protocol):
    def generate(self, name: str, key_type: KeyType | str) -> KeyInfo: ...

    def signer(self, name: str) -> Signer: ...

    def public_key(self, name: str) -> PublicKey: ...

    def list(self) -> list[KeyInfo]: ...

    def import_private_jwk(self, name: str, jwk: Mapping[str, Any]) -> KeyInfo: ...

    def export_private_jwk(self, name: str) -> dict[str, str]: ...


def scrypt_n_allowed(n: object) -> bool:
    """Whether `n` is a scrypt cost a passphrase-protected file may ask for: a power of two
    from `MIN_SCRYPT_N` to `MAX_SCRYPT_N` (a file's header chooses it; see `MAX_SCRYPT_N`)."""
    return (
        isinstance(n, int)
        and not isinstance(n, bool)
        and MIN_SCRYPT_N <= n <= MAX_SCRYPT_N
        and not n & (n - 1)
    )


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise ConfigurationError(
            f"key name {name!r} must be 1-64 characters of letters, digits, '.', '_' or '-'"
        )


class MemoryKeyStore:
    """Keys in process memory; gone when the process ends."""

    def __init__(self) -> None:
        self._keys: dict[str, PrivateKey] = {}
        self._lock = threading.Lock()

    def _add(self, name: str, key: PrivateKey) -> KeyInfo:
        _check_name(name)
        with self._lock:
            if name in self._keys:
                raise ConfigurationError(f"a key named {name!r} already exists")
            self._keys[name] = key
        return KeyInfo(name, key.key_type, key.public_key)

    def _get(self, name: str) -> PrivateKey:
        try:
            return self._keys[name]
        except KeyError:
            raise InvalidError(Code.KEY_NOT_FOUND, f"no key named {name!r}") from None

    def generate(self, name: str, key_type: KeyType | str) -> KeyInfo:
        return self._add(name, PrivateKey.generate(key_type))

    def import_private_jwk(self, name: str, jwk: Mapping[str, Any]) -> KeyInfo:
        return self._add(name, PrivateKey.from_jwk(jwk))

    def signer(self, name: str) -> Signer:
        return self._get(name)

    def public_key(self, name: str) -> PublicKey:
        return self._get(name).public_key

    def list(self) -> list[KeyInfo]:
        return [KeyInfo(n, k.key_type, k.public_key) for n, k in sorted(self._keys.items())]

    def export_private_jwk(self, name: str) -> dict[str, str]:
        return self._get(name).export_private_jwk()


class FileKeyStore(MemoryKeyStore):
    """An encrypted key file. Open it with the passphrase; every change is saved atomically."""

    def __init__(
        self, path: str | os.PathLike[str], passphrase: str, *, scrypt_n: int = DEFAULT_SCRYPT_N
    ) -> None:
        super().__init__()
        if not passphrase:
            raise ConfigurationError("a key store needs a non-empty passphrase")
        if not scrypt_n_allowed(scrypt_n):
            raise ConfigurationError(
                f"scrypt N must be a power of two from {MIN_SCRYPT_N} to {MAX_SCRYPT_N}"
            )
        self.path = Path(path)
        self._passphrase = passphrase.encode("utf-8")
        self._scrypt_n = scrypt_n
        if self.path.exists():
            self._load()

    @classmethod
    def create(
        cls, path: str | os.PathLike[str], passphrase: str, *, scrypt_n: int = DEFAULT_SCRYPT_N
    ) -> FileKeyStore:
        """Create an empty store; refuses to overwrite an existing file."""
        if Path(path).exists():
            raise ConfigurationError(f"{path} already exists")
        store = cls(path, passphrase, scrypt_n=scrypt_n)
        store._save()
        return store

    # ---- envelope ---------------------------------------------------------------------
    def _kek(self, salt: bytes, n: int) -> bytes:
        return derive_passphrase_key(self._passphrase, salt, n)

    def _load(self) -> None:
        data = self.path.read_bytes()
        envelope = loads_strict(data, what="key store", max_bytes=_MAX_STORE_BYTES)
        try:
            if not isinstance(envelope, dict) or envelope.get("format") != _FORMAT:
                raise MalformedError(Code.KEYSTORE_CORRUPT, f"{self.path} is not an {_FORMAT} file")
            header = envelope["header"]
            kdf = header["kdf"]
            if kdf.get("name") != "scrypt" or kdf.get("r") != 8 or kdf.get("p") != 1:
                raise MalformedError(Code.KEYSTORE_CORRUPT, "unsupported key derivation")
            n = kdf["n"]
            if not scrypt_n_allowed(n):
                raise MalformedError(
                    Code.KEYSTORE_CORRUPT,
                    f"{self.path}: scrypt N must be a power of two from {MIN_SCRYPT_N} to "
                    f"{MAX_SCRYPT_N}, the file asks for {str(n)[:40]}",
                )
            salt = b64url_decode(kdf["salt"], what="salt")
            nonce = b64url_decode(envelope["nonce"], what="nonce")
            ciphertext = b64url_decode(envelope["ciphertext"], what="ciphertext")
        except (KeyError, TypeError, AttributeError):
            raise MalformedError(
                Code.KEYSTORE_CORRUPT, f"{self.path} is not a valid key store"
            ) from None
        try:
            clear = AESGCM(self._kek(salt, n)).decrypt(
                nonce, ciphertext, dumps_compact(header).encode()
            )
        except InvalidTag:
            raise InvalidError(
                Code.KEYSTORE_LOCKED, f"wrong passphrase for {self.path}, or the file was altered"
            ) from None
        keys = loads_strict(clear, what="key store contents")
        loaded: dict[str, PrivateKey] = {}
        for name, jwk in keys.items():
            _check_name(name)
            loaded[name] = PrivateKey.from_jwk(jwk)
        self._keys = loaded
        self._scrypt_n = n

    def _save(self) -> None:
        salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
        header = {
            "kdf": {
                "name": "scrypt",
                "n": self._scrypt_n,
                "r": 8,
                "p": 1,
                "salt": b64url_encode(salt),
            },
            "cipher": "A256GCM",
        }
        clear = dumps_compact({n: k.export_private_jwk() for n, k in self._keys.items()}).encode()
        ciphertext = AESGCM(self._kek(salt, self._scrypt_n)).encrypt(
            nonce, clear, dumps_compact(header).encode()
        )
        envelope = {
            "format": _FORMAT,
            "header": header,
            "nonce": b64url_encode(nonce),
            "ciphertext": b64url_encode(ciphertext),
        }
        atomic_write(self.path, (dumps_compact(envelope) + "\n").encode())

    def _add(self, name: str, key: PrivateKey) -> KeyInfo:
        info = super()._add(name, key)
        try:
            self._save()
        except BaseException:
            with self._lock:
                del self._keys[name]  # keep memory and disk in agreement
            raise
        return info


def derive_passphrase_key(passphrase: bytes, salt: bytes, n: int) -> bytes:
    """A 32-byte key from a passphrase: scrypt (RFC 7914) with r=8, p=1 and cost `n`, which
    must pass :func:`scrypt_n_allowed` (checked here too: the cost often comes from a file)."""
    if not scrypt_n_allowed(n):
        raise ConfigurationError(
            f"scrypt N must be a power of two from {MIN_SCRYPT_N} to {MAX_SCRYPT_N}"
        )
    return Scrypt(salt=salt, length=32, n=n, r=8, p=1).derive(passphrase)


def atomic_write(
    path: Path,
    data: bytes,
    *,
    mode: int = 0o600,
    before_replace: Callable[[], None] | None = None,
) -> None:
    """Write `data` to `path` so that a crash leaves the old file or the new one.

    `before_replace` runs once the temporary file is complete and synced, just before the
    rename: crash tests stop a writer there (the wallet's test hook)."""
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if before_replace is not None:
            before_replace()
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
