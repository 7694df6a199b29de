"""DID documents (DID Core 1.0), the resolver protocol, and verification-method lookup.

A verification method may carry `revoked` (W3C Controlled Identifiers v1.0 §2.2
"Verification Methods"): the time from which it must not be used. Its key is then a
`RevokedKey`, which says so to whoever verifies with it (the engine's time step refuses a
proof made at or after that time) at no cost for every other key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Protocol, runtime_checkable

from ancre.trust.codec.multibase import base58btc_decode, multicodec_split
from ancre.trust.errors import Code, IndeterminateError, InvalidError, MalformedError
from ancre.trust.keys.jwk import KeyType, PublicKey, PublicKeyObject

__all__ = [
    "CompositeResolver",
    "DidDocument",
    "DidResolver",
    "RevokedKey",
    "VerificationMethod",
    "did_of",
    "parse_did",
    "public_key_from_multikey",
]

MAX_DID_LENGTH: Final = 2048
# DID Core §3.1: did = "did:" method-name ":" method-specific-id
_DID_RE: Final = re.compile(
    r"did:([a-z0-9]+):((?:[A-Za-z0-9._-]|%[0-9A-Fa-f]{2})*(?::(?:[A-Za-z0-9._-]|%[0-9A-Fa-f]{2})*)*)"
)

#: multicodec codes for public keys (multiformats table): ed25519-pub, p256-pub, p384-pub,
#: p521-pub, secp256k1-pub.
MULTICODEC_KEY_TYPES: Final[Mapping[int, KeyType]] = {
    0xED: KeyType.ED25519,
    0x1200: KeyType.P256,
    0x1201: KeyType.P384,
    0x1202: KeyType.P521,
    0xE7: KeyType.SECP256K1,
}
KEY_TYPE_MULTICODECS: Final[Mapping[KeyType, int]] = {v: k for k, v in MULTICODEC_KEY_TYPES.items()}


def parse_did(did: str) -> tuple[str, str]:
    """Split a DID (no path, query or fragment) into (method, method-specific id)."""
    if not isinstance(did, str) or len(did) > MAX_DID_LENGTH:
        raise MalformedError(Code.INVALID_DID, "a DID must be a string of at most 2048 characters")
    m = _DID_RE.fullmatch(did)
    if m is None or not m.group(2) or m.group(2).endswith(":"):
        raise MalformedError(Code.INVALID_DID, f"{did[:100]!r} is not a DID")
    return m.group(1), m.group(2)


def did_of(did_url: str) -> str:
    """The DID part of a DID URL (`did:x:y#key-1` → `did:x:y`)."""
    cut = len(did_url)
    for sep in "/?#":
        i = did_url.find(sep)
        if i != -1:
            cut = min(cut, i)
    return did_url[:cut]


def public_key_from_multikey(value: str) -> PublicKey:
    """Decode a `publicKeyMultibase` / did:key value: base58btc of multicodec || raw key.

    A value that does not decode to a point of its curve is `invalid_multikey`; a key type
    ancre does not support stays `unsupported_key_type`, a small-order Ed25519 key
    `weak_key`."""
    if not isinstance(value, str) or not value.startswith("z"):
        raise MalformedError(
            Code.INVALID_MULTIKEY, "only base58btc (`z`) multibase keys are supported"
        )
    try:
        code, raw = multicodec_split(base58btc_decode(value[1:]))
    except MalformedError as exc:
        raise MalformedError(Code.INVALID_MULTIKEY, f"not a multikey: {exc.message}") from None
    key_type = MULTICODEC_KEY_TYPES.get(code)
    if key_type is None:
        raise InvalidError(
            Code.UNSUPPORTED_KEY_TYPE, f"multicodec 0x{code:x} is not a supported key"
        )
    try:
        return PublicKey.from_raw(key_type, raw)
    except InvalidError as exc:
        if exc.code is not Code.INVALID_KEY:
            raise
        raise InvalidError(Code.INVALID_MULTIKEY, f"not a multikey: {exc.message}") from None


class RevokedKey(PublicKey):
    """The key of a verification method that carries `revoked`: good for proofs made
    before `revoked`, not for any made at or after it (the engine's time step decides, once
    the signature verified and the proof's time is known). `method` is the method's id."""

    __slots__ = ("method", "revoked")

    def __init__(self, key: PublicKeyObject, *, method: str, revoked: datetime) -> None:
        super().__init__(key)
        self.method: Final = method
        self.revoked: Final = revoked

    def __repr__(self) -> str:
        return f"RevokedKey({self.key_type}, {self.thumbprint()}, revoked {self.revoked})"


@dataclass(frozen=True, slots=True)
class VerificationMethod:
    id: str
    type: str
    controller: str
    public_key: PublicKey
    #: Controlled Identifiers v1.0 §2.2: when the method stopped being usable (then
    #: `public_key` is a `RevokedKey` saying so).
    revoked: datetime | None = None


@dataclass(frozen=True, slots=True)
class DidDocument:
    """The parts of a DID document ancre uses, parsed once and strictly."""

    id: str
    verification_methods: Mapping[str, VerificationMethod]
    assertion_method: frozenset[str]
    authentication: frozenset[str]
    controller: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, doc: Any, *, expected_id: str | None = None) -> DidDocument:
        if not isinstance(doc, dict):
            raise InvalidError(Code.INVALID_DID_DOCUMENT, "a DID document must be a JSON object")
        doc_id = doc.get("id")
        if not isinstance(doc_id, str):
            raise InvalidError(Code.INVALID_DID_DOCUMENT, "DID document has no `id`")
        parse_did(doc_id)
        if expected_id is not None and doc_id != expected_id:
            # DID Core §7.1.2: the resolved document's id must be the DID that was resolved.
            raise InvalidError(
                Code.INVALID_DID_DOCUMENT,
                f"DID document id {doc_id!r} is not the resolved DID {expected_id!r}",
            )
        controller_raw = doc.get("controller", ())
        controller = (controller_raw,) if isinstance(controller_raw, str) else tuple(controller_raw)
        if not all(isinstance(c, str) for c in controller):
            raise InvalidError(Code.INVALID_DID_DOCUMENT, "`controller` must be DIDs")

        methods: dict[str, VerificationMethod] = {}

        def add(entry: Any) -> str:
            vm = _parse_method(entry, doc_id)
            if vm.id in methods and methods[vm.id] != vm:
                raise InvalidError(
                    Code.INVALID_DID_DOCUMENT, f"verification method {vm.id} defined twice"
                )
            methods[vm.id] = vm
            return vm.id

        for entry in _as_list(doc.get("verificationMethod", []), "verificationMethod"):
            add(entry)

        def relationship(name: str) -> frozenset[str]:
            ids = set()
            for entry in _as_list(doc.get(name, []), name):
                if isinstance(entry, str):
                    ids.add(_absolute(entry, doc_id))
                else:
                    ids.add(add(entry))  # embedded method, usable for this relationship only
            return frozenset(ids)

        return cls(
            id=doc_id,
            verification_methods=methods,
            assertion_method=relationship("assertionMethod"),
            authentication=relationship("authentication"),
            controller=controller,
            raw=doc,
        )

    def method(self, did_url: str) -> VerificationMethod:
        vm = self.verification_methods.get(_absolute(did_url, self.id))
        if vm is None:
            raise InvalidError(
                Code.VERIFICATION_METHOD_NOT_FOUND,
                f"{did_url} is not a verification method of {self.id}",
            )
        return vm

    def assertion_key(self, kid: str) -> PublicKey:
        """The key `kid` names, checked to be an `assertionMethod` controlled by this DID.

        `kid` must be a DID URL of this document's DID (or a bare fragment)."""
        return self._key_for(
            kid, self.assertion_method, Code.KEY_NOT_ASSERTION_METHOD, "assertionMethod"
        )

    def authentication_key(self, kid: str) -> PublicKey:
        """As :meth:`assertion_key`, for holder binding (`authentication`)."""
        return self._key_for(
            kid, self.authentication, Code.KEY_NOT_AUTHENTICATION, "authentication"
        )

    def sole_method(self, *, authentication: bool = False) -> str:
        """The id of the one verification method this DID may use for assertions (or
        `authentication`), for a JWS that names no key: RFC 7515 makes `kid` optional, and
        did-jwt-vc, jose and @sd-jwt leave it out. Always one for did:key and did:jwk. None
        usable is `verification_method_not_found`; several is `ambiguous_key`
        (indeterminate): the signature would have to be tried with each, and which key
        signed is part of what a verifier reports."""
        allowed = self.authentication if authentication else self.assertion_method
        name = "authentication" if authentication else "assertionMethod"
        usable = sorted(
            vm_id
            for vm_id in allowed
            if (vm := self.verification_methods.get(vm_id)) is not None
            and (vm.controller == self.id or vm.controller in self.controller)
            and did_of(vm_id) == self.id
        )
        if not usable:
            raise InvalidError(
                Code.VERIFICATION_METHOD_NOT_FOUND,
                f"the JWS names no key (`kid`) and {self.id} has no {name} key",
            )
        if len(usable) > 1:
            raise IndeterminateError(
                Code.AMBIGUOUS_KEY,
                f"the JWS names no key (`kid`) and {self.id} has {len(usable)} {name} keys; "
                "ask the issuer to name the signing key with `kid`",
            )
        return usable[0]

    def _key_for(self, kid: str, allowed: frozenset[str], code: Code, name: str) -> PublicKey:
        full = _absolute(kid, self.id)
        if did_of(full) != self.id:
            raise InvalidError(Code.KID_MISMATCH, f"key {kid} does not belong to {self.id}")
        vm = self.method(full)
        if vm.controller != self.id and vm.controller not in self.controller:
            raise InvalidError(
                Code.CONTROLLER_MISMATCH, f"{vm.id} is controlled by {vm.controller}, not {self.id}"
            )
        if vm.id not in allowed:
            raise InvalidError(code, f"{vm.id} is not listed under {name} in {self.id}")
        return vm.public_key


def _absolute(ref: str, doc_id: str) -> str:
    return doc_id + ref if ref.startswith("#") else ref


def _as_list(value: Any, name: str) -> Sequence[Any]:
    if isinstance(value, list):
        return value
    raise InvalidError(Code.INVALID_DID_DOCUMENT, f"`{name}` must be an array")


def _parse_method(entry: Any, doc_id: str) -> VerificationMethod:
    if not isinstance(entry, dict):
        raise InvalidError(Code.INVALID_DID_DOCUMENT, "a verification method must be an object")
    vm_id, vm_type, controller = entry.get("id"), entry.get("type"), entry.get("controller")
    if (
        not isinstance(vm_id, str)
        or not isinstance(vm_type, str)
        or not isinstance(controller, str)
    ):
        raise InvalidError(
            Code.INVALID_DID_DOCUMENT,
            "a verification method needs string `id`, `type` and `controller`",
        )
    jwk, multikey = entry.get("publicKeyJwk"), entry.get("publicKeyMultibase")
    if (jwk is None) == (multikey is None):
        raise InvalidError(
            Code.INVALID_DID_DOCUMENT,
            f"{vm_id} must have exactly one of publicKeyJwk and publicKeyMultibase",
        )
    if jwk is not None:
        key = PublicKey.from_jwk(jwk)
    elif isinstance(multikey, str):
        key = public_key_from_multikey(multikey)
    else:
        raise InvalidError(
            Code.INVALID_DID_DOCUMENT, f"{vm_id} publicKeyMultibase must be a string"
        )
    method_id = _absolute(vm_id, doc_id)
    revoked = _revoked(entry, method_id) if "revoked" in entry else None
    if revoked is not None:
        key = RevokedKey(key.key, method=method_id, revoked=revoked)
    return VerificationMethod(
        id=method_id, type=vm_type, controller=controller, public_key=key, revoked=revoked
    )


def _revoked(entry: Mapping[str, Any], method_id: str) -> datetime:
    """Controlled Identifiers v1.0 §2.2: "If present, it MUST be an [XMLSCHEMA11-2]
    dateTimeStamp string specifying when the verification method MUST NOT be used." A value
    that is not one fails the whole document (never ignored: that would fail open)."""
    from ancre.trust.vcdm.model import parse_datetime_stamp

    try:
        return parse_datetime_stamp(entry["revoked"], "revoked")
    except InvalidError as error:
        raise InvalidError(
            Code.INVALID_DID_DOCUMENT, f"verification method {method_id}: {error.message}"
        ) from None


@runtime_checkable
class DidResolver(Protocol):
    """Resolves a DID to its document. Raises `AncreError`s: `IndeterminateError` when it
    could not find out (network), `InvalidError`/`MalformedError` when the answer is bad."""

    def resolve(self, did: str) -> DidDocument: ...


class CompositeResolver:
    """Dispatches on the DID method to the resolver registered for it."""

    #: Keys remembered per resolver for methods whose document is a pure function of the DID.
    KEY_CACHE_SIZE: Final = 4096

    def __init__(self, resolvers: Mapping[str, DidResolver]) -> None:
        self._resolvers = dict(resolvers)
        self._pure = frozenset(m for m, r in self._resolvers.items() if getattr(r, "pure", False))
        self._keys: dict[tuple[str, str, bool], PublicKey] = {}

    @property
    def methods(self) -> frozenset[str]:
        return frozenset(self._resolvers)

    def resolve(self, did: str) -> DidDocument:
        method, _ = parse_did(did)
        resolver = self._resolvers.get(method)
        if resolver is None:
            # Not knowing a method proves nothing about the credential: indeterminate.
            raise IndeterminateError(
                Code.UNSUPPORTED_DID_METHOD, f"DID method {method!r} is not supported"
            )
        return resolver.resolve(did)

    def verification_key(self, did: str, kid: str, *, authentication: bool) -> PublicKey:
        """The key `kid` (a DID URL of `did`) for assertions or authentication. For did:key
        and did:jwk, whose documents are derived from the DID itself, the answer is
        remembered (bounded): the same kid always names the same key."""
        cache_key = (did, kid, authentication)
        found = self._keys.get(cache_key)
        if found is not None:
            return found
        doc = self.resolve(did)
        key = doc.authentication_key(kid) if authentication else doc.assertion_key(kid)
        if did[4:].partition(":")[0] in self._pure:
            if len(self._keys) >= self.KEY_CACHE_SIZE:
                self._keys.clear()
            self._keys[cache_key] = key
        return key
