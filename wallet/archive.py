"""Wallet archives: the whole wallet exported under a passphrase, and imported (merged)
into another wallet — or the same one restored.

An archive is one JSON document::

    {"format": "ancre-wallet-archive/1",
     "kdf": {"name": "scrypt", "n": …, "r": 8, "p": 1, "salt": …},
     "cipher": "A256GCM", "nonce": …, "ciphertext": …}

The ciphertext is AES-256-GCM under a key derived from the archive passphrase (scrypt, its
cost capped as for the wallet header: the cost sits in a file an attacker may write), with
the clear header as associated data: an archive whose header or contents were altered does
not decrypt (``archive_locked``, as a wrong passphrase — the two cannot be told apart, and
either way nothing is imported). The clear text is ``{"records": {id: data, …}}``: identities
with their private keys and credentials with every disclosure, hence the encryption.

Nothing from an archive is trusted before it is checked: its size, its JSON (strict, depth
and size limited), every record id (``kind-<12 hex>``, so no name can leave the records
directory), every record's kind and shape. One bad record refuses the whole archive and
nothing is written (``archive_invalid``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ancre.trust.codec.b64 import b64url_decode, b64url_encode
from ancre.trust.codec.json import dumps_compact, loads_strict
from ancre.trust.errors import AncreError, Code, ConfigurationError, InvalidError, MalformedError
from ancre.trust.keys.keystore import (
    DEFAULT_SCRYPT_N,
    atomic_write,
    derive_passphrase_key,
    scrypt_n_allowed,
)

from .credentials import KIND as CREDENTIAL_KIND
from .credentials import HeldCredential, list_credentials
from .identities import Identity, did_and_kid, list_identities
from .store import WalletStore, new_record_id, valid_record_id

__all__ = [
    "ARCHIVE_FORMAT",
    "MAX_ARCHIVE_BYTES",
    "ExportReport",
    "MergeReport",
    "decrypt_archive",
    "encrypt_archive",
    "export_archive",
    "looks_like_archive",
    "merge_records",
]

ARCHIVE_FORMAT: Final = "ancre-wallet-archive/1"
MAX_ARCHIVE_BYTES: Final = 64 * 1024 * 1024
_MAX_RECORDS: Final = 10_000
_IDENTITY_KIND: Final = "id"


def _invalid(why: str) -> MalformedError:
    return MalformedError(Code.ARCHIVE_INVALID, f"not an importable wallet archive: {why}")


@dataclass(frozen=True, slots=True)
class ExportReport:
    """What an export wrote: the file, how many identities and credentials, and the ids of
    the damaged records left out."""

    path: str
    identities: int
    credentials: int
    skipped_damaged: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "archive": self.path,
            "identities": self.identities,
            "credentials": self.credentials,
            "skipped_damaged": list(self.skipped_damaged),
        }


@dataclass(frozen=True, slots=True)
class MergeReport:
    """What an import added, and what it left because the wallet already had it."""

    identities_added: tuple[str, ...]
    credentials_added: tuple[str, ...]
    already_present: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "identities_added": list(self.identities_added),
            "credentials_added": list(self.credentials_added),
            "already_present": list(self.already_present),
        }


# ---- the container -----------------------------------------------------------------------


def encrypt_archive(
    records: dict[str, dict[str, Any]], passphrase: str, *, scrypt_n: int = DEFAULT_SCRYPT_N
) -> bytes:
    """The archive bytes of `records` (id → clear data) under `passphrase`."""
    if not passphrase:
        raise ConfigurationError("an archive needs a non-empty passphrase")
    if not scrypt_n_allowed(scrypt_n):
        raise ConfigurationError("scrypt N must be a power of two from 2^14 to 2^18")
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    kdf = {"name": "scrypt", "n": scrypt_n, "r": 8, "p": 1, "salt": b64url_encode(salt)}
    bound = {"format": ARCHIVE_FORMAT, "kdf": kdf, "cipher": "A256GCM"}
    key = derive_passphrase_key(passphrase.encode("utf-8"), salt, scrypt_n)
    clear = dumps_compact({"records": records}).encode("utf-8")
    ciphertext = AESGCM(key).encrypt(nonce, clear, dumps_compact(bound).encode())
    document = {**bound, "nonce": b64url_encode(nonce), "ciphertext": b64url_encode(ciphertext)}
    return (dumps_compact(document) + "\n").encode("utf-8")


def looks_like_archive(raw: bytes) -> bool:
    """Whether `raw` claims to be an archive (a JSON object naming the archive format):
    the rest of it is then judged as one, never as a credential."""
    head = raw[:200].lstrip()
    return head.startswith(b"{") and b'"ancre-wallet-archive/' in raw[:400]


def decrypt_archive(raw: bytes, passphrase: str) -> dict[str, dict[str, Any]]:
    """The records of an archive, every one checked (ids, kinds, shapes); raises
    ``archive_invalid`` or ``archive_locked``."""
    if len(raw) > MAX_ARCHIVE_BYTES:
        raise _invalid(f"over {MAX_ARCHIVE_BYTES // (1024 * 1024)} MiB")
    try:
        document = loads_strict(raw, what="wallet archive", max_bytes=MAX_ARCHIVE_BYTES)
    except AncreError:
        raise _invalid("not well-formed JSON") from None
    if not isinstance(document, dict) or document.get("format") != ARCHIVE_FORMAT:
        raise _invalid(f"not an {ARCHIVE_FORMAT} document")
    kdf = document.get("kdf")
    if (
        not isinstance(kdf, dict)
        or set(kdf) != {"name", "n", "r", "p", "salt"}
        or kdf.get("name") != "scrypt"
        or kdf.get("r") != 8
        or kdf.get("p") != 1
        or document.get("cipher") != "A256GCM"
        or set(document) != {"format", "kdf", "cipher", "nonce", "ciphertext"}
    ):
        raise _invalid("unsupported key derivation, cipher or members")
    if not scrypt_n_allowed(kdf.get("n")):
        raise _invalid(f"scrypt N {str(kdf.get('n'))[:40]} is outside 2^14..2^18")
    try:
        salt = b64url_decode(str(kdf["salt"]), what="salt")
        nonce = b64url_decode(str(document["nonce"]), what="nonce")
        ciphertext = b64url_decode(str(document["ciphertext"]), what="ciphertext")
    except AncreError:
        raise _invalid("a member is not base64url") from None
    if len(nonce) != 12 or len(salt) < 16:
        raise _invalid("bad nonce or salt length")
    bound = {"format": ARCHIVE_FORMAT, "kdf": kdf, "cipher": "A256GCM"}
    key = derive_passphrase_key(passphrase.encode("utf-8"), salt, kdf["n"])
    try:
        clear = AESGCM(key).decrypt(nonce, ciphertext, dumps_compact(bound).encode())
    except InvalidTag:
        raise InvalidError(
            Code.ARCHIVE_LOCKED,
            "the archive does not decrypt: wrong archive passphrase, or the archive was altered",
        ) from None
    try:
        contents = loads_strict(clear, what="archive contents", max_bytes=MAX_ARCHIVE_BYTES)
    except AncreError:
        raise _invalid("the decrypted contents are not JSON") from None
    if not isinstance(contents, dict) or set(contents) != {"records"}:
        raise _invalid("the decrypted contents are not {records: …}")
    return _checked_records(contents["records"])


def _checked_records(records: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(records, dict):
        raise _invalid("`records` is not an object")
    if len(records) > _MAX_RECORDS:
        raise _invalid(f"more than {_MAX_RECORDS} records")
    identities: set[str] = set()
    for record_id, data in records.items():
        if not valid_record_id(record_id):
            # A name such as `../../.ssh/x` or `records/x` would become a file path.
            raise _invalid(f"unsafe record id {str(record_id)[:60]!r}")
        if not isinstance(data, dict):
            raise _invalid(f"record {record_id} is not an object")
        kind = record_id.split("-", 1)[0]
        try:
            if kind == _IDENTITY_KIND:
                _check_identity(Identity.from_record(record_id, data))
                identities.add(record_id)
            elif kind == CREDENTIAL_KIND:
                HeldCredential.from_record(record_id, data)
            else:
                raise _invalid(f"record {record_id}: unknown kind {kind!r}")
        except InvalidError as error:
            raise _invalid(error.message) from None
    return records


def _check_identity(identity: Identity) -> None:
    """The DID and kid must be the key's: an archive naming a DID with another key would
    sign presentations nobody can verify (or pass one party's DID off with another's key)."""
    if identity.method == "web":
        expected_kid = f"{identity.did}#{identity.key.public_key.thumbprint()}"
        if identity.kid != expected_kid or not identity.did.startswith("did:web:"):
            raise InvalidError(Code.ARCHIVE_INVALID, f"{identity.id}: the kid is not its key's")
        return
    try:
        did, kid = did_and_kid(identity.method, identity.key)
    except ConfigurationError:
        raise InvalidError(
            Code.ARCHIVE_INVALID, f"{identity.id}: unknown DID method {identity.method[:20]!r}"
        ) from None
    if (did, kid) != (identity.did, identity.kid):
        raise InvalidError(Code.ARCHIVE_INVALID, f"{identity.id}: the DID is not its key's")


def export_archive(
    store: WalletStore, target: Path, passphrase: str, *, scrypt_n: int = DEFAULT_SCRYPT_N
) -> ExportReport:
    """Write the whole wallet to `target` (atomically, 0600) encrypted under `passphrase`;
    damaged records are left out and named in the report."""
    records, damaged = store.snapshot()
    data = encrypt_archive(records, passphrase, scrypt_n=scrypt_n)
    atomic_write(target, data, mode=0o600)
    kinds = [r.split("-", 1)[0] for r in records]
    return ExportReport(
        str(target),
        kinds.count(_IDENTITY_KIND),
        kinds.count(CREDENTIAL_KIND),
        tuple(e.id for e in damaged),
    )


def merge_records(store: WalletStore, records: dict[str, dict[str, Any]]) -> MergeReport:
    """Add the checked `records` of an archive to the wallet: an identity whose DID the
    wallet holds already is not added again (its credentials are attached to the wallet's
    copy), a credential the wallet holds (same token) is skipped, and clashing ids or names
    get fresh ones. All under the writers' lock."""
    added_ids: list[str] = []
    added_creds: list[str] = []
    present: list[str] = []
    with store.writing():
        mine = list_identities(store)
        by_did = {i.did: i.id for i in mine}
        names = {i.name for i in mine}
        seq = max((i.seq for i in mine), default=0)
        held, _ = list_credentials(store)
        tokens = {c.token for c in held}
        existing_ids = {e.id for e in store.entries()}
        owners = {i.id for i in mine} | {k for k in records if k.startswith("id-")}
        for record_id, data in records.items():
            if record_id.startswith(CREDENTIAL_KIND + "-") and data["identity"] not in owners:
                # Checked before anything is written: a refused archive leaves no trace.
                raise _invalid(f"credential {record_id} belongs to an identity not in the archive")
        renamed: dict[str, str] = {}
        incoming = sorted(
            (Identity.from_record(k, v) for k, v in records.items() if k.startswith("id-")),
            key=lambda i: (i.seq, i.created_at, i.id),
        )
        for identity in incoming:
            if identity.did in by_did:
                renamed[identity.id] = by_did[identity.did]
                present.append(identity.id)
                continue
            new_id = identity.id if identity.id not in existing_ids else new_record_id("id")
            name = identity.name
            while name in names:
                name = f"{identity.name}-imported-{secrets.token_hex(2)}"
            seq += 1
            data = {**records[identity.id], "id": new_id, "name": name, "seq": seq}
            store.put(new_id, data)
            names.add(name)
            by_did[identity.did] = new_id
            existing_ids.add(new_id)
            renamed[identity.id] = new_id
            added_ids.append(new_id)
        for record_id, data in records.items():
            if not record_id.startswith(CREDENTIAL_KIND + "-"):
                continue
            credential = HeldCredential.from_record(record_id, data)
            if credential.token in tokens:
                present.append(record_id)
                continue
            owner = renamed.get(credential.identity, credential.identity)
            new_id = record_id if record_id not in existing_ids else new_record_id(CREDENTIAL_KIND)
            store.put(new_id, {**data, "id": new_id, "identity": owner})
            tokens.add(credential.token)
            existing_ids.add(new_id)
            added_creds.append(new_id)
    return MergeReport(tuple(added_ids), tuple(added_creds), tuple(present))
