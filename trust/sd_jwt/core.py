"""Selective Disclosure for JWTs (SD-JWT), RFC 9901: issuance, presentation, verification.

An SD-JWT is ``<issuer-signed JWT>~<disclosure>~…~<disclosure>~`` (§4, the *issuance* form
the holder keeps) and, presented with key binding, ``…~<KB-JWT>`` (an *SD-JWT+KB*). Each
disclosure is the base64url of a JSON array ``[salt, name, value]`` (an object property,
§4.2.1) or ``[salt, value]`` (an array element, §4.2.2); the signed payload carries only
their digests, in ``_sd`` arrays and ``{"...": digest}`` array placeholders (§4.2.4).

- :func:`issue_sd_jwt` makes object properties and array elements disclosable, recursively
  (a disclosure's value may itself hold digests, §4.2.6), adds decoy digests (§4.2.5) and
  sorts every ``_sd`` array so its order says nothing about the claims.
- :func:`present` keeps only the disclosures a presentation needs (with the parents of nested
  ones) and appends a Key Binding JWT (§4.3) whose ``sd_hash`` covers exactly what is sent.
- :func:`verify_sd_jwt` runs the verifier's checks of §7.1 and §7.3 as a pipeline and never
  raises for bad input; :func:`parse_sd_jwt`, :func:`process_disclosures` and
  :func:`check_key_binding` are its steps, reused by the SD-JWT VC verifier.

Paths name claims with JSON Pointers (RFC 6901) into the *processed* claims: ``/address``,
``/address/locality``, ``/nationalities/0``; the token ``*`` stands for every element of an
array or every member of an object (``/nationalities/*``).
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

from ancre.trust.clock import Clock
from ancre.trust.codec.b64 import b64url_decode, b64url_encode
from ancre.trust.codec.json import DEFAULT_MAX_DEPTH, dumps_compact, loads_strict
from ancre.trust.errors import (
    AncreError,
    Code,
    ConfigurationError,
    IndeterminateError,
    InvalidError,
    MalformedError,
)
from ancre.trust.jose.jws import ParsedJws, parse_compact, sign_compact
from ancre.trust.keys.jwk import PublicKey, Signer
from ancre.trust.policy import VerificationPolicy
from ancre.trust.result import Status, Step, VerificationResult
from ancre.trust.steps import Run, check_window, iso, media_type, numeric_date, parse_jws

__all__ = [
    "DIGEST_ALGORITHMS",
    "KB_JWT_TYP",
    "MAX_DISCLOSURES",
    "Disclosure",
    "ParsedSdJwt",
    "ProcessedSdJwt",
    "SaltSource",
    "SdJwt",
    "check_key_binding",
    "issue_sd_jwt",
    "parse_sd_jwt",
    "present",
    "process_disclosures",
    "verify_sd_jwt",
]

#: `_sd_alg` names (IANA "Named Information Hash Algorithm Registry", RFC 9901 §4.1.1) ancre
#: can compute. Which of them a verifier *accepts* is `VerificationPolicy.sd_jwt_digest_algs`.
DIGEST_ALGORITHMS: Final[Mapping[str, Callable[[bytes], Any]]] = {
    "sha-256": hashlib.sha256,
    "sha-384": hashlib.sha384,
    "sha-512": hashlib.sha512,
    "sha3-256": hashlib.sha3_256,
    "sha3-384": hashlib.sha3_384,
    "sha3-512": hashlib.sha3_512,
}
#: §4.1.1: without `_sd_alg` the digests are SHA-256.
DEFAULT_DIGEST_ALG: Final = "sha-256"
#: §4.3: the Key Binding JWT's `typ`.
KB_JWT_TYP: Final = "kb+jwt"
#: A verifier's default ceiling on the number of disclosures in one token: each costs a hash
#: and a JSON parse, and real credentials carry a few dozen at most.
MAX_DISCLOSURES: Final = 256
#: §4.2.1: the salt SHOULD have at least 128 bits of entropy.
SALT_BYTES: Final = 16
#: §4.2.1: names a disclosure must never carry (they are the mechanism's own keys).
_RESERVED_NAMES: Final = frozenset({"_sd", "..."})
_SD: Final = "_sd"
_SD_ALG: Final = "_sd_alg"
_ELLIPSIS: Final = "..."
_WILDCARD: Final = "*"
_DEFAULT_POLICY: Final = VerificationPolicy()

PathPart = str | int
Path = tuple[PathPart, ...]


class SaltSource(Protocol):
    """Where salts and decoy counts come from: the `secrets` module, or a seeded stand-in
    in tests. Salts must be unpredictable (§4.2.1): production code passes `secrets`."""

    def token_bytes(self, nbytes: int) -> bytes: ...

    def randbelow(self, exclusive_upper_bound: int, /) -> int: ...


# ------------------------------------------------------------------------------------------
# disclosures


def _digest(alg: str, encoded: str) -> str:
    # §4.2.3: the digest is over the ASCII bytes of the base64url disclosure *as sent*, never
    # over a re-encoding of its JSON, so no canonicalization is needed.
    return b64url_encode(DIGEST_ALGORITHMS[alg](encoded.encode("ascii")).digest())


@dataclass(frozen=True, slots=True)
class Disclosure:
    """One disclosure: `encoded` is the base64url string on the wire; `name` is None for an
    array element (§4.2.2)."""

    encoded: str
    salt: str
    name: str | None
    value: Any

    @classmethod
    def create(cls, salt: str, name: str | None, value: Any) -> Disclosure:
        """Encode ``[salt, name, value]`` (or ``[salt, value]``) as §4.2.1/§4.2.2 say."""
        if name is not None and name in _RESERVED_NAMES:
            raise ConfigurationError(f"a claim may not be named {name!r} in an SD-JWT")
        array = [salt, value] if name is None else [salt, name, value]
        encoded = b64url_encode(dumps_compact(array).encode("utf-8"))
        return cls(encoded, salt, name, value)

    @classmethod
    def decode(cls, encoded: str, *, max_depth: int = DEFAULT_MAX_DEPTH) -> Disclosure:
        """Decode and check one disclosure (§7.1): a JSON array of 2 or 3
        elements, a string salt, a string name that is not ``_sd`` or ``...``."""
        try:
            array = loads_strict(
                b64url_decode(encoded, what="disclosure"), what="disclosure", max_depth=max_depth
            )
        except MalformedError as error:
            raise MalformedError(Code.DISCLOSURE_INVALID, error.message) from None
        if not isinstance(array, list) or len(array) not in (2, 3):
            raise MalformedError(
                Code.DISCLOSURE_INVALID, "a disclosure must be a JSON array of 2 or 3 elements"
            )
        salt = array[0]
        if not isinstance(salt, str):
            raise MalformedError(Code.DISCLOSURE_INVALID, "a disclosure's salt must be a string")
        if len(array) == 2:
            return cls(encoded, salt, None, array[1])
        name = array[1]
        if not isinstance(name, str):
            raise MalformedError(
                Code.DISCLOSURE_INVALID, "a disclosure's claim name must be a string"
            )
        if name in _RESERVED_NAMES:
            raise MalformedError(
                Code.DISCLOSURE_INVALID, f"a disclosure must not name a claim {name!r}"
            )
        return cls(encoded, salt, name, array[2])

    def digest(self, alg: str = DEFAULT_DIGEST_ALG) -> str:
        """The base64url digest the issuer-signed JWT refers to this disclosure by."""
        if alg not in DIGEST_ALGORITHMS:
            raise ConfigurationError(f"unknown digest algorithm {alg!r}")
        return _digest(alg, self.encoded)


# ------------------------------------------------------------------------------------------
# JSON Pointer paths (RFC 6901) with a `*` wildcard


def _parse_pointer(pointer: str) -> tuple[str, ...]:
    if not isinstance(pointer, str) or not pointer.startswith("/"):
        raise ConfigurationError(f"{pointer!r} is not a JSON Pointer to a claim (e.g. '/email')")
    return tuple(t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/"))


def _pointer(path: Iterable[PathPart]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _token_matches(token: str, part: PathPart) -> bool:
    if token == _WILDCARD:
        return True
    if isinstance(part, int):
        # RFC 6901 §4: array indices are decimal without leading zeros.
        return token == str(part)
    return token == part


def _matches(pattern: Sequence[str], path: Path) -> bool:
    return len(pattern) == len(path) and all(map(_token_matches, pattern, path))


def _pattern_covers(pattern: Sequence[str], path: Path) -> bool:
    """Whether `pattern` names `path` or one of its ancestors."""
    return len(pattern) <= len(path) and all(map(_token_matches, pattern, path))


def _path_covers(path: Path, pattern: Sequence[str]) -> bool:
    """Whether `path` is (one of) what `pattern` names, or an ancestor of it."""
    return len(path) <= len(pattern) and all(map(_token_matches, pattern, path))


# ------------------------------------------------------------------------------------------
# issuance


@dataclass(frozen=True, slots=True)
class SdJwt:
    """An SD-JWT in its issuance form: the issuer-signed JWT and *all* its disclosures (what
    the issuer hands the holder). ``str(sd_jwt)`` is ``<jwt>~<d1>~…~<dn>~``."""

    jwt: str
    disclosures: tuple[Disclosure, ...]

    def serialize(self) -> str:
        """The compact serialization (§4), ending with `~` (no key binding)."""
        return "".join((self.jwt, "~", *(d.encoded + "~" for d in self.disclosures)))

    def __str__(self) -> str:
        return self.serialize()

    @classmethod
    def parse(
        cls, text: str, *, max_disclosures: int = MAX_DISCLOSURES, max_bytes: int | None = None
    ) -> SdJwt:
        """Split an SD-JWT in issuance form and decode its disclosures, *without verifying
        anything* (the holder's view; a verifier uses :func:`verify_sd_jwt`)."""
        policy = (
            _DEFAULT_POLICY if max_bytes is None else VerificationPolicy(max_token_bytes=max_bytes)
        )
        jwt, disclosures, key_binding = _split(text, policy, max_disclosures)
        if key_binding:
            raise MalformedError(
                Code.MALFORMED_TOKEN, "an SD-JWT in issuance form has no Key Binding JWT"
            )
        return cls(jwt, tuple(Disclosure.decode(d) for d in disclosures))

    def unverified_payload(self) -> dict[str, Any]:
        """The issuer-signed JWT's payload, decoded *without checking the signature*."""
        parts = self.jwt.split(".")
        if len(parts) != 3:
            raise MalformedError(Code.MALFORMED_TOKEN, "the issuer-signed JWT is not a JWS")
        payload = loads_strict(b64url_decode(parts[1], what="JWS payload"), what="JWS payload")
        if not isinstance(payload, dict):
            raise MalformedError(Code.MALFORMED_TOKEN, "JWS payload must be a JSON object")
        return payload

    def unverified_claims(self) -> dict[str, Any]:
        """Every claim, all disclosures applied, *without checking the signature* (what the
        holder sees of its own credential)."""
        payload = self.unverified_payload()
        alg = _digest_alg_of(payload, None)
        return _Processor(self.disclosures, alg, DEFAULT_MAX_DEPTH, record_paths=False).run(payload)


def _check_input_claims(node: Any, path: Path) -> None:
    # §4.2.1/§4.2.4: `_sd`, `_sd_alg` and `...` are the mechanism's own names; a claim set
    # that already uses them would be read back differently from what the issuer meant.
    if isinstance(node, dict):
        for key, value in node.items():
            if not isinstance(key, str):
                raise ConfigurationError(f"claim names must be strings (at {_pointer(path)})")
            if key in (_SD, _SD_ALG, _ELLIPSIS):
                raise ConfigurationError(
                    f"{_pointer((*path, key))}: {key!r} is reserved by SD-JWT (RFC 9901 §4)"
                )
            _check_input_claims(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _check_input_claims(value, (*path, index))


class _Issuance:
    def __init__(
        self,
        patterns: Sequence[tuple[str, ...]],
        alg: str,
        decoys: int,
        salts: SaltSource,
    ) -> None:
        self.patterns = patterns
        self.used = [False] * len(patterns)
        self.alg = alg
        self.decoys = decoys
        self.salts = salts
        self.disclosures: list[Disclosure] = []
        self.disclosed_paths: list[Path] = []

    def disclosable(self, path: Path) -> bool:
        hit = False
        for i, pattern in enumerate(self.patterns):
            if _matches(pattern, path):
                self.used[i] = True
                hit = True
        return hit

    def salt(self) -> str:
        return b64url_encode(self.salts.token_bytes(SALT_BYTES))

    def make(self, name: str | None, value: Any, path: Path) -> str:
        disclosure = Disclosure.create(self.salt(), name, value)
        self.disclosures.append(disclosure)
        self.disclosed_paths.append(path)
        return _digest(self.alg, disclosure.encoded)

    def walk(self, node: Any, path: Path) -> Any:
        # Children first, so a disclosable object's own disclosure carries the digests of
        # its disclosable members (recursive disclosures, §4.2.6).
        if isinstance(node, dict):
            out: dict[str, Any] = {}
            digests: list[str] = []
            for key, value in node.items():
                child = (*path, key)
                inner = self.walk(value, child)
                if self.disclosable(child):
                    digests.append(self.make(key, inner, child))
                else:
                    out[key] = inner
            if digests:
                # §4.2.5: decoys hide how many claims are disclosable; their number varies
                # per object so it cannot be subtracted back out.
                for _ in range(self.salts.randbelow(self.decoys + 1) if self.decoys else 0):
                    digests.append(_digest(self.alg, self.salt()))
                # §4.2.4.1: sorted, so the order of the digests says nothing about the order
                # (or the names) of the claims.
                out[_SD] = sorted(digests)
            return out
        if isinstance(node, list):
            items: list[Any] = []
            for index, value in enumerate(node):
                child = (*path, index)
                inner = self.walk(value, child)
                if self.disclosable(child):
                    items.append({_ELLIPSIS: self.make(None, inner, child)})
                else:
                    items.append(inner)
            return items
        return node


def _compile_paths(disclosable: Iterable[str]) -> list[tuple[str, ...]]:
    if isinstance(disclosable, str):
        raise ConfigurationError("`disclosable` is a collection of JSON Pointers, not one string")
    return [_parse_pointer(p) for p in disclosable]


def issue_sd_jwt(
    claims: Mapping[str, Any],
    signer: Signer,
    *,
    disclosable: Iterable[str],
    header: Mapping[str, Any] | None = None,
    decoys: int = 0,
    digest_alg: str = DEFAULT_DIGEST_ALG,
    salt_source: SaltSource = secrets,
    plain_claims: Collection[str] = (),
) -> SdJwt:
    """Sign `claims` as an SD-JWT in which the claims `disclosable` names (JSON Pointers,
    ``*`` for every element/member) are selectively disclosable.

    `decoys` is the most decoy digests added to each ``_sd`` array (the number is drawn at
    random per array, §4.2.5). `plain_claims` are top-level claims that must stay in the
    clear (a pattern reaching one is refused). Every pattern must match at least one claim,
    so a misspelt path cannot leave a claim in the clear. ``alg`` comes from the signer.
    """
    if digest_alg not in DIGEST_ALGORITHMS:
        raise ConfigurationError(f"unknown digest algorithm {digest_alg!r}")
    if isinstance(decoys, bool) or not isinstance(decoys, int) or decoys < 0:
        raise ConfigurationError("`decoys` must be a non-negative integer")
    if not isinstance(claims, Mapping):
        raise ConfigurationError("SD-JWT claims must be a JSON object")
    document = dict(claims)
    _check_input_claims(document, ())
    patterns = _compile_paths(disclosable)
    issuance = _Issuance(patterns, digest_alg, decoys, salt_source)
    try:
        payload = issuance.walk(document, ())
        body = dumps_compact({**payload, _SD_ALG: digest_alg}).encode("utf-8")
    except (TypeError, ValueError) as exc:  # a datetime, a set, NaN…: not JSON
        raise ConfigurationError(f"SD-JWT claims must be JSON data: {exc}") from None
    unused = [_pointer(p) for p, hit in zip(patterns, issuance.used, strict=True) if not hit]
    if unused:
        raise ConfigurationError(f"no claim at {', '.join(unused)} to make disclosable")
    for path in issuance.disclosed_paths:
        if len(path) == 1 and path[0] in plain_claims:
            raise ConfigurationError(f"claim {path[0]!r} must not be selectively disclosable")
    jwt = sign_compact(dict(header or {}), body, signer)
    return SdJwt(jwt, tuple(issuance.disclosures))


# ------------------------------------------------------------------------------------------
# processing (shared by the holder and the verifier)


def _digest_alg_of(payload: Mapping[str, Any], allowed: Collection[str] | None) -> str:
    alg = payload.get(_SD_ALG, DEFAULT_DIGEST_ALG)
    if not isinstance(alg, str):
        raise InvalidError(Code.DIGEST_ALG_NOT_ALLOWED, "`_sd_alg` must be a string")
    # §7.1: an unsupported or disallowed algorithm rejects the SD-JWT (e.g. `sha-1`,
    # `md5`: a second preimage would let a disclosure be swapped for another).
    if alg not in DIGEST_ALGORITHMS or (allowed is not None and alg not in allowed):
        raise InvalidError(Code.DIGEST_ALG_NOT_ALLOWED, f"`_sd_alg` {alg!r} is not allowed")
    return alg


class _Processor:
    """§7.1: replace digests by the disclosed claims, refusing every ambiguity."""

    __slots__ = ("by_digest", "max_depth", "paths", "record", "seen", "withheld")

    def __init__(
        self, disclosures: Sequence[Disclosure], alg: str, max_depth: int, *, record_paths: bool
    ) -> None:
        by_digest: dict[str, Disclosure] = {}
        for disclosure in disclosures:
            digest = _digest(alg, disclosure.encoded)
            if digest in by_digest:
                raise InvalidError(Code.DUPLICATE_DIGEST, "the same disclosure is sent twice")
            by_digest[digest] = disclosure
        self.by_digest = by_digest
        self.max_depth = max_depth
        self.seen: set[str] = set()
        self.withheld: list[dict[str, Any]] = []
        self.record = record_paths
        self.paths: dict[str, Path] = {}

    def run(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        out = self.object(payload, 0, ())
        # §7.1: a disclosure no digest refers to was not signed for this token (a
        # tampered one, or one replayed from another credential).
        if len(self.by_digest) > len(self.seen) or not self.seen.issuperset(self.by_digest):
            unreferenced = [d for d in self.by_digest if d not in self.seen]
            raise InvalidError(
                Code.DISCLOSURE_UNREFERENCED,
                f"{len(unreferenced)} disclosure(s) are not referenced by the issuer-signed JWT",
            )
        return out

    def see(self, digest: Any) -> Disclosure | None:
        if not isinstance(digest, str):
            raise InvalidError(Code.DISCLOSURE_INVALID, "a digest must be a string")
        # §7.1: a digest met twice (directly or through disclosures) rejects the
        # SD-JWT; otherwise one disclosure could be placed in two locations.
        if digest in self.seen:
            raise InvalidError(Code.DUPLICATE_DIGEST, f"digest {digest} appears more than once")
        self.seen.add(digest)
        return self.by_digest.get(digest)

    def value(self, node: Any, depth: int, path: Path) -> Any:
        if depth > self.max_depth:
            # Disclosures nest: bound the total depth, not just each JSON document's.
            raise MalformedError(
                Code.JSON_TOO_DEEP, f"the claims nest deeper than {self.max_depth} levels"
            )
        if type(node) is dict:
            return self.object(node, depth, path)
        if type(node) is list:
            return self.array(node, depth, path)
        return node

    def object(self, node: Mapping[str, Any], depth: int, path: Path) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, item in node.items():
            if key == _SD:
                continue
            if key == _SD_ALG:
                if depth:
                    raise InvalidError(
                        Code.DISCLOSURE_INVALID, "`_sd_alg` may only appear at the top level"
                    )
                continue
            out[key] = self.value(item, depth + 1, (*path, key) if self.record else path)
        digests = node.get(_SD)
        if digests is None:
            return out
        if type(digests) is not list:
            raise InvalidError(Code.DISCLOSURE_INVALID, "`_sd` must be an array of digests")
        withheld = False
        for digest in digests:
            disclosure = self.see(digest)
            if disclosure is None:
                withheld = True  # a decoy, or a claim the holder did not disclose
                continue
            name = disclosure.name
            if name is None:
                raise InvalidError(
                    Code.DISCLOSURE_INVALID, "an array-element disclosure is referenced from `_sd`"
                )
            # §7.1: a disclosed name must not override a claim already there.
            if name in out:
                raise InvalidError(
                    Code.DISCLOSURE_INVALID, f"claim {name!r} is both disclosed and present"
                )
            child = (*path, name) if self.record else path
            if self.record:
                self.paths[digest] = child
            out[name] = self.value(disclosure.value, depth + 1, child)
        if withheld:
            self.withheld.append(out)
        return out

    def array(self, node: Sequence[Any], depth: int, path: Path) -> list[Any]:
        out: list[Any] = []
        for item in node:
            if type(item) is dict and len(item) == 1 and _ELLIPSIS in item:
                disclosure = self.see(item[_ELLIPSIS])
                if disclosure is None:
                    continue  # §7.1: an undisclosed element is removed
                if disclosure.name is not None:
                    raise InvalidError(
                        Code.DISCLOSURE_INVALID,
                        "an object-property disclosure is referenced from an array",
                    )
                child = (*path, len(out)) if self.record else path
                if self.record:
                    self.paths[item[_ELLIPSIS]] = child
                out.append(self.value(disclosure.value, depth + 1, child))
            else:
                out.append(self.value(item, depth + 1, (*path, len(out)) if self.record else path))
        return out


# ------------------------------------------------------------------------------------------
# presentation


def present(
    sd_jwt: SdJwt | str,
    disclose: Iterable[str],
    *,
    holder_key: Signer | None = None,
    audience: str | None = None,
    nonce: str | None = None,
    clock: Clock | None = None,
) -> str:
    """Present an SD-JWT with only the disclosures `disclose` needs.

    `disclose` are JSON Pointers into the claims (``*`` for every element/member). Naming a
    claim discloses it with everything inside it and the parents it sits in (nested
    disclosures, §4.2.6); claims that are always in the clear need not be named. With
    `holder_key`, `audience`, `nonce` and `clock`, a Key Binding JWT is appended (§4.3): an
    SD-JWT+KB. Without them, the result ends with ``~`` (§4).

    The holder's own copy is not verified here; check it once on receipt with
    :func:`verify_sd_jwt` (or the SD-JWT VC verifier).
    """
    issued = SdJwt.parse(sd_jwt) if isinstance(sd_jwt, str) else sd_jwt
    binding = (holder_key, audience, nonce, clock)
    if any(v is not None for v in binding) and any(v is None for v in binding):
        raise ConfigurationError("key binding needs holder_key, audience, nonce and clock together")
    payload = issued.unverified_payload()
    alg = _digest_alg_of(payload, None)
    processor = _Processor(issued.disclosures, alg, DEFAULT_MAX_DEPTH, record_paths=True)
    claims = processor.run(payload)
    wanted = _compile_paths(disclose)
    for pattern in wanted:
        if not _exists(claims, pattern):
            raise ConfigurationError(f"the credential has no claim at {_pointer(pattern)}")
    chosen = []
    for disclosure in issued.disclosures:
        path = processor.paths[_digest(alg, disclosure.encoded)]
        if any(_path_covers(path, pattern) or _pattern_covers(pattern, path) for pattern in wanted):
            chosen.append(disclosure.encoded)
    presented = "".join((issued.jwt, "~", *(d + "~" for d in chosen)))
    if holder_key is None or audience is None or nonce is None or clock is None:
        return presented
    kb_payload = {
        "iat": int(clock.now().timestamp()),
        "aud": audience,
        "nonce": nonce,
        "sd_hash": _digest(alg, presented),
    }
    kb_jwt = sign_compact(
        {"typ": KB_JWT_TYP}, dumps_compact(kb_payload).encode("utf-8"), holder_key
    )
    return presented + kb_jwt


def _exists(node: Any, pattern: Sequence[str]) -> bool:
    if not pattern:
        return True
    token, rest = pattern[0], pattern[1:]
    # A wildcard over an empty array or object selects nothing, and that is no error: "every
    # nationality" of a credential that lists none.
    if isinstance(node, dict):
        if token == _WILDCARD:
            return all(_exists(v, rest) for v in node.values())
        return token in node and _exists(node[token], rest)
    if isinstance(node, list):
        if token == _WILDCARD:
            return all(_exists(v, rest) for v in node)
        if token.isdigit() and str(int(token)) == token and int(token) < len(node):
            return _exists(node[int(token)], rest)
    return False


# ------------------------------------------------------------------------------------------
# verification


@dataclass(frozen=True, slots=True)
class ParsedSdJwt:
    """An SD-JWT (or SD-JWT+KB) split and decoded, *nothing verified yet*."""

    jws: ParsedJws
    payload: dict[str, Any]
    disclosures: tuple[Disclosure, ...]
    #: The compact Key Binding JWT, or None when the token ends with `~`.
    key_binding: str | None
    #: What `sd_hash` covers: the token up to and including its last `~` (§4.3.1).
    presented: str

    @property
    def header(self) -> dict[str, Any]:
        return self.jws.header


@dataclass(frozen=True, slots=True)
class ProcessedSdJwt:
    """The Processed SD-JWT Payload (§7.1): disclosures applied, `_sd`/`_sd_alg` removed."""

    claims: dict[str, Any]
    digest_alg: str
    disclosed: int
    #: Objects in `claims` from which digests were left undisclosed (decoys or withheld
    #: claims): a required claim may legitimately be missing there.
    withheld: tuple[dict[str, Any], ...] = field(default=(), repr=False)

    def withheld_at(self, obj: object) -> bool:
        """Whether `obj` (an object inside `claims`) had digests left undisclosed."""
        return any(w is obj for w in self.withheld)


def _split(
    token: str | bytes, policy: VerificationPolicy, max_disclosures: int
) -> tuple[str, list[str], str]:
    if len(token) > policy.max_token_bytes:
        raise MalformedError(
            Code.INPUT_TOO_LARGE,
            f"token is {len(token)} bytes, the limit is {policy.max_token_bytes}",
        )
    if isinstance(token, bytes):
        try:
            token = token.decode("ascii")
        except UnicodeDecodeError:
            raise MalformedError(Code.MALFORMED_TOKEN, "an SD-JWT is ASCII") from None
    if not isinstance(token, str) or not token.isascii():
        raise MalformedError(Code.MALFORMED_TOKEN, "an SD-JWT is ASCII")
    # Count before splitting: a token of only `~` must not make a million-element list.
    count = token.count("~")
    if count == 0:
        raise MalformedError(
            Code.MALFORMED_TOKEN, "not an SD-JWT: no `~` after the issuer-signed JWT"
        )
    if count - 1 > max_disclosures:
        raise MalformedError(
            Code.INPUT_TOO_LARGE,
            f"{count - 1} disclosures, the limit is {max_disclosures}",
        )
    parts = token.split("~")
    jwt, disclosures, key_binding = parts[0], parts[1:-1], parts[-1]
    if not jwt:
        raise MalformedError(Code.MALFORMED_TOKEN, "the issuer-signed JWT is missing")
    if any(not d for d in disclosures):
        # §4: `~~` is not an empty disclosure, it is a malformed SD-JWT.
        raise MalformedError(Code.DISCLOSURE_INVALID, "empty disclosure (`~~`) in the SD-JWT")
    return jwt, disclosures, key_binding


def parse_sd_jwt(
    token: str | bytes,
    policy: VerificationPolicy = _DEFAULT_POLICY,
    *,
    max_disclosures: int = MAX_DISCLOSURES,
) -> ParsedSdJwt:
    """Split ``<jws>~<d1>~…~<kb?>`` strictly (size and count limits, canonical base64url,
    duplicate-free JSON), parse the issuer-signed JWS under `policy` (alg allow-list, crit)
    and decode every disclosure. Verifies nothing."""
    jwt, encoded, key_binding = _split(token, policy, max_disclosures)
    parsed, payload = parse_jws(jwt, policy)
    disclosures = tuple(Disclosure.decode(d, max_depth=policy.max_json_depth) for d in encoded)
    text = token.decode("ascii") if isinstance(token, bytes) else token
    presented = text[: len(text) - len(key_binding)]
    return ParsedSdJwt(parsed, payload, disclosures, key_binding or None, presented)


def process_disclosures(
    parsed: ParsedSdJwt, policy: VerificationPolicy = _DEFAULT_POLICY
) -> ProcessedSdJwt:
    """§7.1: check `_sd_alg` against the policy, match every disclosure to exactly
    one digest and rebuild the claims. Call only after the issuer signature verified."""
    alg = _digest_alg_of(parsed.payload, policy.sd_jwt_digest_algs)
    processor = _Processor(parsed.disclosures, alg, policy.max_json_depth, record_paths=False)
    claims = processor.run(parsed.payload)
    return ProcessedSdJwt(claims, alg, len(parsed.disclosures), tuple(processor.withheld))


def _holder_key(payload: Mapping[str, Any]) -> PublicKey:
    cnf = payload.get("cnf")
    if not isinstance(cnf, dict):
        raise InvalidError(Code.KEY_BINDING_INVALID, "`cnf` must be a JSON object")
    jwk = cnf.get("jwk")
    if jwk is None:
        # RFC 7800 also allows `kid`/`jku` references: ancre cannot check those, which proves
        # nothing either way.
        raise IndeterminateError(
            Code.KEY_BINDING_INVALID, "`cnf` has no `jwk`: ancre binds holders by JWK only"
        )
    if not isinstance(jwk, dict):
        raise InvalidError(Code.KEY_BINDING_INVALID, "`cnf.jwk` must be a JSON object")
    try:
        members = tuple(sorted(jwk.items()))
        hash(members)
    except TypeError:  # array-valued members (`key_ops`, `x5c`): no cache, same checks
        return PublicKey.from_jwk(jwk)
    return _holder_key_cached(members)


@functools.lru_cache(maxsize=1024)
def _holder_key_cached(members: tuple[tuple[str, Any], ...]) -> PublicKey:
    # Importing and validating a P-256 point costs about as much as the ECDSA check itself;
    # a connector sees the same peers' holder keys again and again. Public keys are values,
    # failures are never cached (lru_cache does not store exceptions), and a JWK with private
    # members is refused by from_jwk on every call.
    return PublicKey.from_jwk(dict(members))


def _verify_kb_jwt(
    parsed: ParsedSdJwt, key_binding: str, alg: str, now: datetime, policy: VerificationPolicy
) -> str:
    try:
        key = _holder_key(parsed.payload)
        kb = parse_compact(
            key_binding,
            allowed_algs=policy.algorithms,
            understood_crit=policy.understood_crit,
            max_bytes=policy.max_token_bytes,
            max_depth=policy.max_json_depth,
        )
        # §4.3: explicit typing keeps an issuer-signed JWT (or any other JWT signed by the
        # holder key) from being passed off as a Key Binding JWT.
        if media_type(kb.header.get("typ")) != KB_JWT_TYP:
            raise InvalidError(Code.KEY_BINDING_INVALID, f"KB-JWT `typ` must be {KB_JWT_TYP!r}")
        if not key.verify(kb.alg, kb.signing_input, kb.signature):
            raise InvalidError(
                Code.KEY_BINDING_INVALID, "the KB-JWT signature does not verify with `cnf.jwk`"
            )
        claims = kb.payload_json(max_depth=policy.max_json_depth)
        if not isinstance(claims, dict):
            raise InvalidError(Code.KEY_BINDING_INVALID, "KB-JWT payload must be a JSON object")
        for name in ("aud", "nonce", "sd_hash"):
            if not isinstance(claims.get(name), str):
                raise InvalidError(Code.KEY_BINDING_INVALID, f"KB-JWT `{name}` must be a string")
        iat = numeric_date(claims, "iat")
        if iat is None:
            raise InvalidError(Code.KEY_BINDING_INVALID, "KB-JWT has no `iat`")
    except AncreError as error:
        if error.code is Code.KEY_BINDING_INVALID:
            raise
        kind = IndeterminateError if error.outcome == "indeterminate" else InvalidError
        raise kind(Code.KEY_BINDING_INVALID, f"KB-JWT: {error.message}") from None
    # §7.3: freshness. A KB-JWT from the future is forged or from a broken clock.
    if iat > now + policy.clock_skew:
        raise InvalidError(Code.KEY_BINDING_INVALID, f"KB-JWT issued in the future ({iso(iat)})")
    if now - iat > policy.key_binding_max_age + policy.clock_skew:
        raise InvalidError(
            Code.KEY_BINDING_TOO_OLD,
            f"KB-JWT issued {iso(iat)}, older than {policy.key_binding_max_age}",
        )
    parts = []
    if policy.accepted_audiences:
        # RFC 9901 §4.3: the KB-JWT `aud` is a single string.
        if not isinstance(claims["aud"], str) or not policy.audience_ok(claims["aud"]):
            raise InvalidError(
                Code.AUDIENCE_MISMATCH,
                f"KB-JWT is for {claims['aud']!r}, not one of {sorted(policy.accepted_audiences)}",
            )
        parts.append(f"aud {claims['aud']}")
    if policy.nonce is not None:
        if claims["nonce"] != policy.nonce:
            raise InvalidError(Code.NONCE_MISMATCH, "KB-JWT nonce is not the expected nonce")
        parts.append("nonce matches")
    # §7.3: the hash binds the KB-JWT to exactly this issuer JWT and these
    # disclosures: none added, removed or reordered after the holder signed.
    if claims["sd_hash"] != _digest(alg, parsed.presented):
        raise InvalidError(
            Code.SD_HASH_MISMATCH, "KB-JWT `sd_hash` does not match the presented SD-JWT"
        )
    replay = "" if parts else " (no audience or nonce required by policy: replayable)"
    return ", ".join([f"{kb.alg} KB-JWT by the cnf key", *parts, "sd_hash matches"]) + replay


def check_key_binding(
    parsed: ParsedSdJwt,
    processed: ProcessedSdJwt,
    *,
    clock: Clock,
    policy: VerificationPolicy = _DEFAULT_POLICY,
) -> str:
    """§7.3: when the credential names a holder key (`cnf`) and the policy requires key
    binding, a KB-JWT signed by that key must come with it; any KB-JWT present is checked
    (`typ`, signature, `iat` age, `aud`, `nonce`, `sd_hash`). Returns a one-line message;
    raises `key_binding_missing`, `key_binding_invalid`, `key_binding_too_old`,
    `sd_hash_mismatch`, `audience_mismatch` or `nonce_mismatch`."""
    if parsed.key_binding is None:
        if "cnf" not in parsed.payload:
            return "no `cnf`: a bearer credential, not bound to a holder key"
        if policy.require_key_binding:
            raise InvalidError(
                Code.KEY_BINDING_MISSING,
                "the credential is bound to a holder key (`cnf`) and no KB-JWT was presented",
            )
        return "key binding not required by policy (the presentation is replayable)"
    if "cnf" not in parsed.payload:
        raise InvalidError(
            Code.KEY_BINDING_INVALID, "a KB-JWT was presented but the credential has no `cnf`"
        )
    return _verify_kb_jwt(parsed, parsed.key_binding, processed.digest_alg, clock.now(), policy)


def verify_sd_jwt(
    token: str | bytes,
    *,
    issuer_key: PublicKey,
    clock: Clock,
    policy: VerificationPolicy = _DEFAULT_POLICY,
    max_disclosures: int = MAX_DISCLOSURES,
) -> VerificationResult:
    """Verify a generic SD-JWT (or SD-JWT+KB) signed by `issuer_key` (RFC 9901 §7.1, §7.3).

    Steps: parse, signature (issuer JWT, then `_sd_alg` and every disclosure digest), time
    (`nbf`, `iat`, `exp` when present), holder binding. Never raises for bad input; the
    processed claims are `result.credential`. For SD-JWT VCs use
    `ancre.trust.sd_jwt.vc.verify_sd_jwt_vc`, which also resolves the issuer key and checks
    the credential's data model, schema, status and trust."""
    run = Run()
    step = Step.PARSE
    try:
        parsed = parse_sd_jwt(token, policy, max_disclosures=max_disclosures)
        run.header = parsed.header
        run.fmt = "sd-jwt"
        run.ok(step, f"SD-JWT with {len(parsed.disclosures)} disclosure(s)")

        step = Step.SIGNATURE
        parsed.jws.verify_with(issuer_key)
        processed = process_disclosures(parsed, policy)
        run.document = processed.claims
        iss = processed.claims.get("iss")
        run.issuer = iss if isinstance(iss, str) else None
        run.ok(step, _signature_message(parsed, processed))

        step = Step.TIME
        run.ok(step, _check_time(parsed.payload, clock.now(), policy))

        step = Step.HOLDER_BINDING
        run.ok(step, check_key_binding(parsed, processed, clock=clock, policy=policy))
    except AncreError as error:
        return run.fail(step, error)
    return run.result(Status.VALID)


def _signature_message(parsed: ParsedSdJwt, processed: ProcessedSdJwt) -> str:
    return (
        f"{parsed.jws.alg} signature verifies; {processed.disclosed} disclosure(s) match "
        f"signed {processed.digest_alg} digests"
    )


def _check_time(payload: Mapping[str, Any], now: datetime, policy: VerificationPolicy) -> str:
    iat = numeric_date(payload, "iat")
    message = check_window(
        now=now,
        skew=policy.clock_skew,
        not_before=[("nbf", numeric_date(payload, "nbf")), ("iat", iat)],
        not_after=[("exp", numeric_date(payload, "exp"))],
    )
    too_old: timedelta | None = policy.max_credential_age
    issued = numeric_date(payload, "nbf") or iat
    if too_old is not None and issued is not None and now - issued > too_old:
        raise InvalidError(
            Code.CREDENTIAL_TOO_OLD, f"issued {iso(issued)}, older than the policy's {too_old}"
        )
    return message
