"""Identities: the holder keys of a wallet, each with its DID (`did:key`, `did:jwk`, or
`did:web` — an organization's own domain, whose `did.json` it publishes itself).

An organization may hold several. The private key lives only inside its encrypted record;
what is shown or printed (`Identity.to_json`) never includes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from ancre.trust.did.jwk import did_jwk_from_public_key
from ancre.trust.did.key import did_key_from_public_key
from ancre.trust.did.web import did_web_to_url
from ancre.trust.errors import AncreError, Code, ConfigurationError, InvalidError
from ancre.trust.keys.jwk import KeyType, PrivateKey

from .store import WalletStore, new_record_id

__all__ = [
    "METHODS",
    "Identity",
    "create_identity",
    "did_and_kid",
    "did_web_document",
    "find_identity",
    "list_identities",
    "web_did",
]

METHODS: Final = ("key", "jwk", "web")
_DOMAIN_RE: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(?::[0-9]{1,5})?")
_PATH_SEGMENT_RE: Final = re.compile(r"[A-Za-z0-9._~-]{1,100}")
KEY_TYPES: Final = ("ed25519", "p256")
_KIND: Final = "id"


@dataclass(frozen=True, slots=True)
class Identity:
    """A holder identity: a DID and the private key its verification method names."""

    id: str
    name: str
    did: str
    kid: str
    method: str
    key_type: str
    created_at: str
    key: PrivateKey = field(repr=False, compare=False)
    #: Creation order within the wallet (timestamps tie within a second).
    seq: int = 0

    def to_json(self) -> dict[str, Any]:
        """What may be shown: never the private key."""
        return {
            "id": self.id,
            "name": self.name,
            "did": self.did,
            "kid": self.kid,
            "method": self.method,
            "key_type": self.key_type,
            "created_at": self.created_at,
        }

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
                key=PrivateKey.from_jwk(data["private_jwk"]),
                seq=int(data.get("seq", 0)),
            )
        except (KeyError, TypeError, ValueError):
            raise InvalidError(
                Code.RECORD_TAMPERED, f"record {record_id} is not an identity"
            ) from None


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
    method: str, key: PrivateKey, domain: str | None = None, path: str | None = None
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
) -> Identity:
    """Generate a key, derive its DID and store both (under the writers' lock)."""
    if key_type not in KEY_TYPES:
        raise ConfigurationError(f"--type must be one of {', '.join(KEY_TYPES)}, not {key_type!r}")
    if method not in METHODS:
        raise ConfigurationError(f"--method must be one of {', '.join(METHODS)}, not {method!r}")
    if method != "web" and (domain or path):
        raise ConfigurationError("--domain and --path are for --method web only")
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
        store.put(
            record_id,
            {**identity.to_json(), "seq": seq, "private_jwk": key.export_private_jwk()},
        )
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
