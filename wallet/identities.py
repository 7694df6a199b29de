"""Identities: the holder keys of a wallet, each with its DID (`did:key`, `did:jwk`, or
`did:web` — an organization's own domain, whose `did.json` it publishes itself).

An organization may hold several. The private key lives only inside its encrypted record —
or, for an identity made with a PKCS#11 reference (`Pkcs11Ref`), only inside the token: the
record then holds the reference and the public key, and every signature goes through the
token (`ancre.trust.keys.pkcs11`), its user PIN taken from `ANCRE_PKCS11_PIN`,
`ANCRE_PKCS11_PIN_FILE` or a prompt, when first needed. What is shown or printed
(`Identity.to_json`) never includes a private key nor a PIN.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from ancre.trust.did.jwk import did_jwk_from_public_key
from ancre.trust.did.key import did_key_from_public_key
from ancre.trust.did.web import did_web_to_url
from ancre.trust.errors import AncreError, Code, ConfigurationError, InvalidError
from ancre.trust.keys.jwk import KeyType, PrivateKey, PublicKey, Signer
from ancre.trust.keys.pkcs11 import Pkcs11Ref, Pkcs11Signer, open_or_generate

from .store import WalletStore, new_record_id

__all__ = [
    "METHODS",
    "Identity",
    "create_identity",
    "did_and_kid",
    "did_web_document",
    "find_identity",
    "list_identities",
    "pkcs11_pin",
    "web_did",
]

METHODS: Final = ("key", "jwk", "web")
_DOMAIN_RE: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(?::[0-9]{1,5})?")
_PATH_SEGMENT_RE: Final = re.compile(r"[A-Za-z0-9._~-]{1,100}")
KEY_TYPES: Final = ("ed25519", "p256")
_KIND: Final = "id"


@dataclass(frozen=True, slots=True)
class Identity:
    """A holder identity: a DID and the signing key its verification method names (in
    memory, or a `Pkcs11Signer` whose private key stays in its token)."""

    id: str
    name: str
    did: str
    kid: str
    method: str
    key_type: str
    created_at: str
    key: Signer = field(repr=False, compare=False)
    #: Creation order within the wallet (timestamps tie within a second).
    seq: int = 0

    def to_json(self) -> dict[str, Any]:
        """What may be shown: never the private key (a token key's reference is shown)."""
        shown: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "did": self.did,
            "kid": self.kid,
            "method": self.method,
            "key_type": self.key_type,
            "created_at": self.created_at,
        }
        if isinstance(self.key, Pkcs11Signer):
            shown["pkcs11"] = self.key.ref.to_json()
        return shown

    def record(self) -> dict[str, Any]:
        """The stored record: what is shown, the creation order, and the private key (or,
        for a token key, its public key; the reference is in `to_json`)."""
        data: dict[str, Any] = {**self.to_json(), "seq": self.seq}
        if isinstance(self.key, PrivateKey):
            data["private_jwk"] = self.key.export_private_jwk()
        else:
            data["public_jwk"] = self.key.public_key.to_jwk()
        return data

    @classmethod
    def from_record(cls, record_id: str, data: dict[str, Any]) -> Identity:
        try:
            return cls(
                id=record_id,
                name=str(data["name"]),
                did=str(data["did"]),
                kid=str(data["kid"]),
                method=str(data["method"]),
                key_type=str(data["key_type"]),
                created_at=str(data["created_at"]),
                key=_record_key(data),
                seq=int(data.get("seq", 0)),
            )
        except (KeyError, TypeError, ValueError):
            raise InvalidError(
                Code.RECORD_TAMPERED, f"record {record_id} is not an identity"
            ) from None


def _record_key(data: dict[str, Any]) -> Signer:
    if "pkcs11" in data:
        ref = Pkcs11Ref.from_json(data["pkcs11"])
        return Pkcs11Signer(ref, PublicKey.from_jwk(data["public_jwk"]), lambda: pkcs11_pin(ref))
    return PrivateKey.from_jwk(data["private_jwk"])


def pkcs11_pin(ref: Pkcs11Ref, pin_file: str | None = None) -> str:
    """The user PIN of `ref`'s token: from `pin_file`, else `ANCRE_PKCS11_PIN`, else the
    file `ANCRE_PKCS11_PIN_FILE` names, else a prompt (a terminal only)."""
    pin_file = pin_file or os.environ.get("ANCRE_PKCS11_PIN_FILE")
    if pin_file is None and "ANCRE_PKCS11_PIN" in os.environ:
        return os.environ["ANCRE_PKCS11_PIN"]
    if pin_file is not None:
        try:
            with open(pin_file, encoding="utf-8") as source:
                pin = source.read(1024).rstrip("\r\n")
        except OSError as error:
            raise ConfigurationError(f"cannot read the PIN file: {error.strerror}") from None
        if not pin:
            raise ConfigurationError("the PIN file is empty")
        return pin
    if not sys.stdin.isatty():
        raise ConfigurationError(
            f"the key is in PKCS#11 token {ref.token_label!r}: set ANCRE_PKCS11_PIN or "
            "ANCRE_PKCS11_PIN_FILE (no terminal to ask for the PIN)"
        )
    import getpass

    return getpass.getpass(f"PIN of token {ref.token_label!r}: ")


def web_did(domain: str, path: str | None = None) -> str:
    """The did:web of `domain` (a DNS name, optionally ``:port``) and an optional
    /-separated `path`: ``example.org`` + ``org/unit`` → ``did:web:example.org:org:unit``.
    Refuses what did:web cannot carry (IP addresses are left to the resolver's rules)."""
    domain = domain.strip().lower()
    if not _DOMAIN_RE.fullmatch(domain) or ".." in domain:
        raise ConfigurationError(
            f"--domain must be a DNS name (with an optional :port), not {domain[:80]!r}"
        )
    host = domain.rsplit(":", 1)[0] if ":" in domain else domain
    if re.fullmatch(r"[0-9.]+", host):
        # The did:web spec forbids IP addresses when creating one (see did_web_to_url).
        raise ConfigurationError(f"--domain must be a domain name, not the address {host!r}")
    segments = [s for s in (path or "").strip("/").split("/") if s] if path else []
    for segment in segments:
        if segment in (".", "..") or not _PATH_SEGMENT_RE.fullmatch(segment):
            raise ConfigurationError(f"--path segment {segment[:80]!r} is not allowed in did:web")
    did = "did:web:" + ":".join([domain.replace(":", "%3A"), *segments])
    did_web_to_url(did)  # the resolver's own rules: what it refuses is refused here too
    return did


def did_web_document(identity: Identity) -> dict[str, Any]:
    """The DID document an organization publishes for a did:web identity: its one key, as
    a ``JsonWebKey2020`` method for both `authentication` (presentations) and
    `assertionMethod` (credentials it signs itself, such as the Gaia-X T&C)."""
    if identity.method != "web":
        raise ConfigurationError(f"{identity.name} is a did:{identity.method}, not a did:web")
    return {
        "@context": [
            "https://www.w3.org/ns/did/v1",
            "https://w3id.org/security/suites/jws-2020/v1",
        ],
        "id": identity.did,
        "verificationMethod": [
            {
                "id": identity.kid,
                "type": "JsonWebKey2020",
                "controller": identity.did,
                "publicKeyJwk": identity.key.public_key.to_jwk(),
            }
        ],
        "authentication": [identity.kid],
        "assertionMethod": [identity.kid],
    }


def did_and_kid(
    method: str, key: Signer, domain: str | None = None, path: str | None = None
) -> tuple[str, str]:
    """The DID and verification-method id of `key` under `method` (did:web needs
    `domain`, and optionally `path`)."""
    if method == "key":
        did = did_key_from_public_key(key.public_key)
        # did:key's verification method is named by the multibase key itself.
        return did, f"{did}#{did.removeprefix('did:key:')}"
    if method == "jwk":
        did = did_jwk_from_public_key(key.public_key)
        return did, f"{did}#0"
    if method == "web":
        if not domain:
            raise ConfigurationError("--method web needs --domain (the organization's domain)")
        did = web_did(domain, path)
        # One key per did:web identity; named by its thumbprint, so a later key added to
        # the same document by hand cannot collide with it.
        return did, f"{did}#{key.public_key.thumbprint()}"
    raise ConfigurationError(f"--method must be one of {', '.join(METHODS)}, not {method!r}")


def create_identity(
    store: WalletStore,
    *,
    method: str,
    key_type: str,
    name: str | None,
    now: datetime,
    domain: str | None = None,
    path: str | None = None,
    pkcs11: tuple[Pkcs11Ref, Callable[[], str]] | None = None,
) -> Identity:
    """Generate a key, derive its DID and store both (under the writers' lock). With
    `pkcs11` (a reference and where its PIN comes from), the key is the token's P-256 key
    pair under that label — generated there if the token has none — and only the reference
    is stored."""
    if pkcs11 is not None and key_type != "p256":
        raise ConfigurationError("a PKCS#11 key is P-256: --type p256")
    if key_type not in KEY_TYPES:
        raise ConfigurationError(f"--type must be one of {', '.join(KEY_TYPES)}, not {key_type!r}")
    if method not in METHODS:
        raise ConfigurationError(f"--method must be one of {', '.join(METHODS)}, not {method!r}")
    if method != "web" and (domain or path):
        raise ConfigurationError("--domain and --path are for --method web only")
    key: Signer
    if pkcs11 is not None:
        ref, pin = pkcs11
        key = open_or_generate(ref, pin())
    else:
        key = PrivateKey.generate(KeyType(key_type))
    did, kid = did_and_kid(method, key, domain, path)
    record_id = new_record_id(_KIND)
    with store.writing():
        existing = list_identities(store)
        label = name or f"identity-{len(existing) + 1}"
        if any(i.name == label for i in existing):
            raise ConfigurationError(f"an identity named {label!r} exists already")
        if any(i.did == did for i in existing):
            raise ConfigurationError(f"the wallet already holds an identity for {did}")
        seq = max((i.seq for i in existing), default=0) + 1
        stamp = now.isoformat(timespec="seconds")
        identity = Identity(record_id, label, did, kid, method, key_type, stamp, key, seq)
        store.put(record_id, identity.record())
    return identity


def list_identities(store: WalletStore) -> list[Identity]:
    """The wallet's identities in creation order (tampered records are skipped: `list`
    reports them)."""
    found = []
    for entry in store.entries(_KIND):
        if entry.data is None:
            continue
        try:
            found.append(Identity.from_record(entry.id, entry.data))
        except (AncreError, ValueError):
            continue  # damaged: not usable, and not worth a crash
    return sorted(found, key=lambda i: (i.seq, i.created_at, i.id))


def find_identity(store: WalletStore, ref: str | None) -> Identity:
    """The identity named `ref` (its id, name or DID); without `ref`, the first created."""
    identities = list_identities(store)
    if not identities:
        raise InvalidError(
            Code.RECORD_NOT_FOUND, "the wallet has no identity: run `ancre wallet did create`"
        )
    if ref is None:
        return identities[0]
    for identity in identities:
        if ref in (identity.id, identity.name, identity.did):
            return identity
    raise InvalidError(Code.RECORD_NOT_FOUND, f"no identity {ref[:120]!r} in the wallet")
