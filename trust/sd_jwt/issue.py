"""Issuing an SD-JWT, RFC 9901 §4 and §5: the issuance form ``<jwt>~<d1>~…~<dn>~``
(:class:`SdJwt`, what the holder keeps) and :func:`issue_sd_jwt`, which makes object
properties (§4.2.1) and array elements (§4.2.2) selectively disclosable, recursively (a
disclosure's value may itself hold digests, §4.2.6), adds decoy digests (§4.2.5) and sorts
every ``_sd`` array (§4.2.4.1) so its order says nothing about the claims.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ancre.trust.codec.b64 import b64url_decode, b64url_encode
from ancre.trust.codec.json import DEFAULT_MAX_DEPTH, dumps_compact, loads_strict
from ancre.trust.errors import Code, ConfigurationError, MalformedError
from ancre.trust.jose.jws import sign_compact
from ancre.trust.keys.jwk import Signer
from ancre.trust.policy import VerificationPolicy
from ancre.trust.sd_jwt.disclosure import (
    _ELLIPSIS,
    _SD,
    _SD_ALG,
    DEFAULT_DIGEST_ALG,
    DIGEST_ALGORITHMS,
    MAX_DISCLOSURES,
    SALT_BYTES,
    Disclosure,
    SaltSource,
    _digest,
)
from ancre.trust.sd_jwt.paths import Path, _compile_paths, _matches, _pointer
from ancre.trust.sd_jwt.processing import _DEFAULT_POLICY, _digest_alg_of, _Processor, _split

__all__ = ["SdJwt", "issue_sd_jwt"]


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
