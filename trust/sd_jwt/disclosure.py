"""SD-JWT disclosures, RFC 9901 §4.1.1 and §4.2: the digest algorithms (`_sd_alg`), salts,
and the disclosures themselves — the base64url of ``[salt, name, value]`` (an object
property, §4.2.1) or ``[salt, value]`` (an array element, §4.2.2) — with the digest the
issuer-signed JWT refers to each by (§4.2.3).

The constants the other SD-JWT modules share live here too: the Key Binding JWT's ``typ``
(§4.3), a verifier's default ceiling on disclosures, and the names the mechanism reserves
for itself (``_sd``, ``_sd_alg``, ``...``, §4.2.4).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from ancre.trust.codec.b64 import b64url_decode, b64url_encode
from ancre.trust.codec.json import DEFAULT_MAX_DEPTH, dumps_compact, loads_strict
from ancre.trust.errors import Code, ConfigurationError, MalformedError

__all__ = ["DIGEST_ALGORITHMS", "KB_JWT_TYP", "MAX_DISCLOSURES", "Disclosure", "SaltSource"]

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


class SaltSource(Protocol):
    """Where salts and decoy counts come from: the `secrets` module, or a seeded stand-in
    in tests. Salts must be unpredictable (§4.2.1): production code passes `secrets`."""

    def token_bytes(self, nbytes: int) -> bytes: ...

    def randbelow(self, exclusive_upper_bound: int, /) -> int: ...


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
