"""What the holder and the verifier both do with an SD-JWT, RFC 9901 §4 and §7.1: split the
compact serialization ``<jwt>~<d1>~…~<dn>~<kb?>`` strictly, check `_sd_alg`, and replace the
digests by the disclosed claims, refusing every ambiguity (a digest met twice, a disclosure
no digest refers to, a disclosed name that overrides a claim).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Final

from ancre.trust.errors import Code, InvalidError, MalformedError
from ancre.trust.policy import VerificationPolicy
from ancre.trust.sd_jwt.disclosure import (
    _ELLIPSIS,
    _SD,
    _SD_ALG,
    DEFAULT_DIGEST_ALG,
    DIGEST_ALGORITHMS,
    Disclosure,
    _digest,
)
from ancre.trust.sd_jwt.paths import Path

_DEFAULT_POLICY: Final = VerificationPolicy()


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
