"""The wallet's encrypted, crash-safe store: one directory, one file per record.

Layout (directory 0700, every file 0600)::

    wallet.json          format, scrypt parameters and salt, the wrapped data key
    records/<id>.rec     one record (an identity's key, a credential), encrypted
    .lock                the writers' lock (fcntl), empty

A random 256-bit *data key* encrypts every record with AES-256-GCM; the record id is the
associated data, so a record file that was altered, truncated, or copied over another
record's name fails authentication and is reported (``record_tampered``), never trusted.
The data key itself is wrapped (AES-256-GCM) under a key derived from the passphrase with
scrypt (`ancre.trust.keys.keystore.derive_passphrase_key`, cost capped as for key stores, since
the cost sits in a file an attacker may write). Changing the passphrase re-wraps the data
key only: no record is rewritten.

Every write is atomic (`ancre.trust.keys.keystore.atomic_write`: temporary file, fsync, rename,
fsync of the directory): a crash leaves the old file or the new one. Writers take an
exclusive `fcntl` lock on ``.lock`` for their whole read-modify-write, so two processes
adding credentials at once cannot lose or corrupt each other's work; readers need no lock
(they only ever see whole files).

Not detected: a record *deleted* (or an older copy of the whole wallet restored) by
someone with write access to the directory; each remaining record still authenticates.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import secrets
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ancre.trust.codec.b64 import b64url_decode, b64url_encode
from ancre.trust.codec.json import dumps_compact, loads_strict
from ancre.trust.errors import (
    AncreError,
    Code,
    ConfigurationError,
    IndeterminateError,
    InvalidError,
    MalformedError,
)
from ancre.trust.keys.keystore import (
    DEFAULT_SCRYPT_N,
    atomic_write,
    derive_passphrase_key,
    scrypt_n_allowed,
)

__all__ = [
    "ENV_WALLET",
    "Entry",
    "WalletStore",
    "default_wallet_path",
    "new_record_id",
    "valid_record_id",
]

ENV_WALLET: Final = "ANCRE_WALLET"
#: Test hook: when set to ``pause-before-rename``, a write stops (after its temporary file is
#: complete and synced, before the rename) and says ``ancre-wallet: paused`` on stderr, so a
#: test can SIGKILL the writer at exactly that point.
ENV_TEST_HOOK: Final = "ANCRE_WALLET_TEST_HOOK"
_HEADER_FILE: Final = "wallet.json"
_RECORDS: Final = "records"
_LOCK_FILE: Final = ".lock"
_FORMAT: Final = "ancre-wallet/1"
_RECORD_FORMAT: Final = "ancre-wallet-record/1"
_RECORD_ID: Final = re.compile(r"[a-z]{2,12}-[0-9a-f]{12}")
_MAX_HEADER_BYTES: Final = 64 * 1024
_MAX_RECORD_BYTES: Final = 4 * 1024 * 1024
_MAX_RECORDS: Final = 10_000
_LOCK_WAIT_SECONDS: Final = 10.0


def default_wallet_path() -> Path:
    """``$ANCRE_WALLET``, else the user data directory (``platformdirs`` when installed,
    else ``$XDG_DATA_HOME/ancre/wallet`` or ``~/.local/share/ancre/wallet``)."""
    explicit = os.environ.get(ENV_WALLET)
    if explicit:
        return Path(explicit)
    try:
        import platformdirs  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        return Path(base) / "ancre" / "wallet"
    return Path(str(platformdirs.user_data_dir("ancre"))) / "wallet"


def new_record_id(kind: str) -> str:
    """A fresh record id such as ``cred-3f9a1c2b7d0e`` (`kind` is 2-12 lower-case letters)."""
    record_id = f"{kind}-{secrets.token_hex(6)}"
    if not _RECORD_ID.fullmatch(record_id):
        raise ConfigurationError(f"bad record kind {kind!r}")
    return record_id


def valid_record_id(record_id: Any) -> bool:
    """Whether `record_id` is a record id the store would write (``kind-<12 hex>``): what an
    imported archive names must pass this before it becomes a file name."""
    return isinstance(record_id, str) and _RECORD_ID.fullmatch(record_id) is not None


@dataclass(frozen=True, slots=True)
class Entry:
    """One record as read: its data, or why it could not be trusted (`problem`)."""

    id: str
    data: dict[str, Any] | None
    problem: str | None = None


def _corrupt(path: Path, why: str) -> MalformedError:
    return MalformedError(Code.WALLET_CORRUPT, f"{path}: {why}")


def _test_hook() -> None:
    if os.environ.get(ENV_TEST_HOOK) == "pause-before-rename":
        sys.stderr.write("ancre-wallet: paused\n")
        sys.stderr.flush()
        time.sleep(3600)


class WalletStore:
    """An opened (unlocked) wallet directory. Build it with :meth:`create` or :meth:`open`."""

    def __init__(self, path: Path, data_key: bytes, header: dict[str, Any]) -> None:
        self.path = path
        self._aead = AESGCM(data_key)
        self._header = header

    # ---- opening -------------------------------------------------------------------------
    @classmethod
    def create(
        cls, path: str | os.PathLike[str], passphrase: str, *, scrypt_n: int = DEFAULT_SCRYPT_N
    ) -> WalletStore:
        """Create an empty wallet at `path` (a new or empty directory)."""
        folder = Path(path)
        if not passphrase:
            raise ConfigurationError("a wallet needs a non-empty passphrase")
        if not scrypt_n_allowed(scrypt_n):
            raise ConfigurationError("scrypt N must be a power of two from 2^14 to 2^18")
        if (folder / _HEADER_FILE).exists():
            raise ConfigurationError(f"{folder} already holds a wallet")
        if folder.exists() and any(folder.iterdir()):
            raise ConfigurationError(f"{folder} exists and is not empty")
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(folder, 0o700)  # mkdir's mode is filtered by the umask; exist_ok keeps old
        (folder / _RECORDS).mkdir(mode=0o700, exist_ok=True)
        os.chmod(folder / _RECORDS, 0o700)
        data_key = secrets.token_bytes(32)
        with _exclusive(folder):
            header = _wrap(data_key, passphrase, scrypt_n)
            atomic_write(folder / _HEADER_FILE, (dumps_compact(header) + "\n").encode())
        return cls(folder, data_key, header)

    @classmethod
    def open(cls, path: str | os.PathLike[str], passphrase: str) -> WalletStore:
        """Unlock the wallet at `path`; a wrong passphrase raises ``wallet_locked``."""
        folder = Path(path)
        header = _read_header(folder)
        return cls(folder, _unwrap(folder, header, passphrase), header)

    @staticmethod
    def exists(path: str | os.PathLike[str]) -> bool:
        """Whether `path` holds a wallet (its header file)."""
        return (Path(path) / _HEADER_FILE).is_file()

    @property
    def scrypt_n(self) -> int:
        n: int = self._header["kdf"]["n"]
        return n

    def change_passphrase(self, old: str, new: str, *, scrypt_n: int | None = None) -> None:
        """Re-wrap the data key under `new`: the records are not rewritten. `old` is checked
        again under the lock (another process may have changed it meanwhile)."""
        if not new:
            raise ConfigurationError("a wallet needs a non-empty passphrase")
        with self.writing():
            data_key = _unwrap(self.path, _read_header(self.path), old)
            header = _wrap(data_key, new, scrypt_n or self.scrypt_n)
            self._write(self.path / _HEADER_FILE, (dumps_compact(header) + "\n").encode())
            self._header = header

    # ---- records -------------------------------------------------------------------------
    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the writers' lock (waits up to 10 s, then ``wallet_busy``)."""
        with _exclusive(self.path):
            yield

    def put(self, record_id: str, data: dict[str, Any]) -> None:
        """Encrypt and write one record (atomically). Call inside :meth:`writing`."""
        if not _RECORD_ID.fullmatch(record_id):
            raise ConfigurationError(f"bad record id {record_id!r}")
        nonce = secrets.token_bytes(12)
        ciphertext = self._aead.encrypt(
            nonce, dumps_compact(data).encode("utf-8"), record_id.encode("ascii")
        )
        envelope = {
            "format": _RECORD_FORMAT,
            "id": record_id,
            "nonce": b64url_encode(nonce),
            "ciphertext": b64url_encode(ciphertext),
        }
        self._write(self._record_path(record_id), (dumps_compact(envelope) + "\n").encode())

    def delete(self, record_id: str) -> None:
        """Remove one record. Call inside :meth:`writing`."""
        path = self._record_path(record_id)
        try:
            path.unlink()
        except FileNotFoundError:
            raise InvalidError(Code.RECORD_NOT_FOUND, f"no record {record_id}") from None
        _fsync_dir(path.parent)

    def get(self, record_id: str) -> dict[str, Any]:
        """Decrypt one record; ``record_not_found`` or ``record_tampered`` otherwise."""
        if not _RECORD_ID.fullmatch(record_id):
            raise InvalidError(Code.RECORD_NOT_FOUND, f"no record {record_id[:80]!r}")
        entry = self._read(record_id)
        if entry.data is None:
            raise InvalidError(Code.RECORD_TAMPERED, f"record {record_id}: {entry.problem}")
        return entry.data

    def entries(self, kind: str | None = None) -> list[Entry]:
        """Every record (of `kind`, the id prefix), sorted by id; tampered ones carry their
        `problem` instead of data."""
        folder = self.path / _RECORDS
        ids = sorted(
            p.name[: -len(".rec")]
            for p in folder.iterdir()
            if p.name.endswith(".rec") and _RECORD_ID.fullmatch(p.name[: -len(".rec")])
        )
        if len(ids) > _MAX_RECORDS:
            raise _corrupt(folder, f"more than {_MAX_RECORDS} records")
        if kind is not None:
            ids = [i for i in ids if i.startswith(kind + "-")]
        return [self._read(i) for i in ids]

    def snapshot(self) -> tuple[dict[str, dict[str, Any]], list[Entry]]:
        """Every record in the clear (id → data), read under the writers' lock so the set
        is consistent, and the records that failed their check (left out)."""
        with self.writing():
            entries = self.entries()
        good = {e.id: e.data for e in entries if e.data is not None}
        return good, [e for e in entries if e.data is None]

    # ---- internals -----------------------------------------------------------------------
    def _record_path(self, record_id: str) -> Path:
        return self.path / _RECORDS / f"{record_id}.rec"

    def _write(self, path: Path, data: bytes) -> None:
        atomic_write(path, data, mode=0o600, before_replace=_test_hook)

    def _read(self, record_id: str) -> Entry:
        path = self._record_path(record_id)
        try:
            with path.open("rb") as handle:
                raw = handle.read(_MAX_RECORD_BYTES + 1)
        except FileNotFoundError:
            raise InvalidError(Code.RECORD_NOT_FOUND, f"no record {record_id}") from None
        if len(raw) > _MAX_RECORD_BYTES:
            return Entry(record_id, None, "record file too large")
        try:
            envelope = loads_strict(raw, what="wallet record", max_bytes=_MAX_RECORD_BYTES)
            if not isinstance(envelope, dict) or envelope.get("format") != _RECORD_FORMAT:
                return Entry(record_id, None, "not a wallet record")
            if envelope.get("id") != record_id:
                return Entry(record_id, None, "the record names another id")
            nonce = b64url_decode(str(envelope["nonce"]), what="nonce")
            ciphertext = b64url_decode(str(envelope["ciphertext"]), what="ciphertext")
            clear = self._aead.decrypt(nonce, ciphertext, record_id.encode("ascii"))
            data = loads_strict(clear, what="wallet record contents")
        except InvalidTag:
            return Entry(record_id, None, "authentication failed: the record was altered")
        except (AncreError, KeyError, ValueError):
            return Entry(record_id, None, "the record file is not well formed")
        if not isinstance(data, dict):
            return Entry(record_id, None, "the record contents are not an object")
        return Entry(record_id, data)


# ---- header: wrapping the data key -------------------------------------------------------


def _wrap(data_key: bytes, passphrase: str, n: int) -> dict[str, Any]:
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    kdf = {"name": "scrypt", "n": n, "r": 8, "p": 1, "salt": b64url_encode(salt)}
    kek = derive_passphrase_key(passphrase.encode("utf-8"), salt, n)
    bound = {"format": _FORMAT, "kdf": kdf, "cipher": "A256GCM"}
    # The clear header is the associated data: nobody can swap KDF parameters or salt.
    wrapped = AESGCM(kek).encrypt(nonce, data_key, dumps_compact(bound).encode())
    return {**bound, "nonce": b64url_encode(nonce), "wrapped_key": b64url_encode(wrapped)}


def _read_header(folder: Path) -> dict[str, Any]:
    path = folder / _HEADER_FILE
    try:
        with path.open("rb") as handle:
            raw = handle.read(_MAX_HEADER_BYTES + 1)
    except FileNotFoundError:
        raise InvalidError(
            Code.WALLET_NOT_FOUND, f"no wallet at {folder} (create one with `ancre wallet init`)"
        ) from None
    except PermissionError:
        raise InvalidError(Code.WALLET_LOCKED, f"{path}: permission denied") from None
    try:
        header = loads_strict(raw, what="wallet header", max_bytes=_MAX_HEADER_BYTES)
    except AncreError:
        raise _corrupt(path, "not a wallet header") from None
    if not isinstance(header, dict) or header.get("format") != _FORMAT:
        raise _corrupt(path, f"not an {_FORMAT} header")
    kdf = header.get("kdf")
    if (
        not isinstance(kdf, dict)
        or kdf.get("name") != "scrypt"
        or kdf.get("r") != 8
        or kdf.get("p") != 1
        or header.get("cipher") != "A256GCM"
    ):
        raise _corrupt(path, "unsupported key derivation or cipher")
    if not scrypt_n_allowed(kdf.get("n")):
        # Refused before any derivation: the cost is the file's to choose (issue 12, point 20).
        raise _corrupt(path, f"scrypt N {str(kdf.get('n'))[:40]} is outside 2^14..2^18")
    return header


def _unwrap(folder: Path, header: dict[str, Any], passphrase: str) -> bytes:
    kdf = header["kdf"]
    try:
        salt = b64url_decode(str(kdf["salt"]), what="salt")
        nonce = b64url_decode(str(header["nonce"]), what="nonce")
        wrapped = b64url_decode(str(header["wrapped_key"]), what="wrapped key")
    except (AncreError, KeyError):
        raise _corrupt(folder / _HEADER_FILE, "not a wallet header") from None
    bound = {"format": header["format"], "kdf": kdf, "cipher": header["cipher"]}
    kek = derive_passphrase_key(passphrase.encode("utf-8"), salt, kdf["n"])
    try:
        data_key = AESGCM(kek).decrypt(nonce, wrapped, dumps_compact(bound).encode())
    except InvalidTag:
        raise InvalidError(
            Code.WALLET_LOCKED, f"wrong passphrase for the wallet at {folder}"
        ) from None
    if len(data_key) != 32:
        raise _corrupt(folder / _HEADER_FILE, "the data key is not 256 bits")
    return data_key


# ---- locking and fsync -----------------------------------------------------------------


@contextlib.contextmanager
def _exclusive(folder: Path) -> Iterator[None]:
    fd = os.open(folder / _LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + _LOCK_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as error:
                if error.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    raise IndeterminateError(
                        Code.WALLET_BUSY,
                        f"another process has held the wallet at {folder} for "
                        f"{_LOCK_WAIT_SECONDS:.0f} s; try again",
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
