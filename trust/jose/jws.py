"""Compact JWS (RFC 7515 §7.1), strict, over `cryptography` primitives.

Why not a general JOSE library on this path: verification is ancre's hot path (connectors
verify every peer) and its first line of defence, so parsing is done once, strictly
(canonical base64url, duplicate-free JSON, size and depth limits), and the algorithm is
checked against an explicit per-call allow-list *and* against the key type before any
cryptography runs. Interop with pyjwt, jwcrypto and joserfc is proven in the tests.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

from ancre.trust.codec.b64 import b64url_decode, b64url_encode
from ancre.trust.codec.json import DEFAULT_MAX_DEPTH, dumps_compact, loads_strict
from ancre.trust.errors import Code, InvalidError, MalformedError
from ancre.trust.keys.jwk import ALG_KEY_TYPES, PublicKey, Signer

__all__ = [
    "DEFAULT_MAX_TOKEN_BYTES",
    "ParsedJws",
    "parse_compact",
    "sign_compact",
    "unverified_header",
]

DEFAULT_MAX_TOKEN_BYTES: Final = 256 * 1024
#: Header parameters RFC 7515 §4.1 defines; `crit` must never list these (§4.1.11).
_REGISTERED: Final = frozenset(
    {"alg", "jku", "jwk", "kid", "x5u", "x5c", "x5t", "x5t#S256", "typ", "cty", "crit"}
)


@dataclass(frozen=True, slots=True)
class ParsedJws:
    """A compact JWS split and decoded, *not yet verified*."""

    header: dict[str, Any]
    payload_bytes: bytes
    signing_input: bytes
    signature: bytes

    @property
    def alg(self) -> str:
        alg: str = self.header["alg"]
        return alg

    def payload_json(self, *, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
        return loads_strict(self.payload_bytes, what="JWS payload", max_depth=max_depth)

    def verify_with(self, key: PublicKey) -> None:
        """Check the signature with `key`; raise `signature_invalid` if it does not hold."""
        if not key.verify(self.alg, self.signing_input, self.signature):
            raise InvalidError(
                Code.SIGNATURE_INVALID, "the signature does not verify with the issuer's key"
            )


def parse_compact(
    token: str | bytes,
    *,
    allowed_algs: Collection[str],
    understood_crit: Collection[str] = (),
    max_bytes: int = DEFAULT_MAX_TOKEN_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> ParsedJws:
    """Split a compact JWS, decode it strictly and check its header.

    Raises `MalformedError` for anything that is not a well-formed compact JWS, and
    `InvalidError` for a header ancre refuses (`alg` not allowed, unknown `crit`).
    """
    if len(token) > max_bytes:
        raise MalformedError(
            Code.INPUT_TOO_LARGE, f"token is {len(token)} bytes, the limit is {max_bytes}"
        )
    if isinstance(token, bytes):
        try:
            token = token.decode("ascii")
        except UnicodeDecodeError:
            raise MalformedError(Code.MALFORMED_TOKEN, "a compact JWS is ASCII") from None
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedError(
            Code.MALFORMED_TOKEN,
            f"a compact JWS has 3 dot-separated parts, this has {len(parts)}"
            + (" (a JWE? ancre accepts signed tokens only)" if len(parts) == 5 else ""),
        )
    h64, p64, s64 = parts
    header = loads_strict(
        b64url_decode(h64, what="JWS header"), what="JWS header", max_depth=max_depth
    )
    if not isinstance(header, dict):
        raise MalformedError(Code.INVALID_HEADER, "JWS header must be a JSON object")
    alg = header.get("alg")
    if not isinstance(alg, str):
        raise MalformedError(Code.INVALID_HEADER, "JWS header has no `alg` string")
    # `none` and MAC algorithms are never in ALG_KEY_TYPES: refuse them whatever the caller allows.
    if alg not in allowed_algs or alg not in ALG_KEY_TYPES:
        raise InvalidError(Code.ALG_NOT_ALLOWED, f"algorithm {alg!r} is not allowed")
    _check_crit(header, understood_crit)
    payload = b64url_decode(p64, what="JWS payload")
    signature = b64url_decode(s64, what="JWS signature")
    if not signature:
        raise MalformedError(Code.MALFORMED_TOKEN, "JWS signature is empty")
    return ParsedJws(
        header=header,
        payload_bytes=payload,
        signing_input=f"{h64}.{p64}".encode("ascii"),
        signature=signature,
    )


def _check_crit(header: Mapping[str, Any], understood: Collection[str]) -> None:
    # RFC 7515 §4.1.11: a recipient MUST reject a JWS whose `crit` lists an extension it does
    # not understand; `crit` must be a non-empty array of names that are not RFC 7515's own.
    if "crit" not in header:
        return
    crit = header["crit"]
    if not isinstance(crit, list) or not crit or not all(isinstance(c, str) for c in crit):
        raise MalformedError(Code.INVALID_HEADER, "`crit` must be a non-empty array of strings")
    for name in crit:
        if name in _REGISTERED:
            raise MalformedError(Code.INVALID_HEADER, f"`crit` must not list {name!r}")
        if name not in understood:
            raise InvalidError(
                Code.UNKNOWN_CRIT, f"critical header extension {name!r} is not understood"
            )
        if name not in header:
            raise MalformedError(
                Code.INVALID_HEADER, f"`crit` lists {name!r}, absent from the header"
            )


def unverified_header(token: str, *, max_bytes: int = DEFAULT_MAX_TOKEN_BYTES) -> dict[str, Any]:
    """The decoded header of a compact JWS, *without any check of the signature*."""
    if len(token) > max_bytes:
        raise MalformedError(
            Code.INPUT_TOO_LARGE, f"token is {len(token)} bytes, the limit is {max_bytes}"
        )
    head, sep, _ = token.partition(".")
    if not sep:
        raise MalformedError(Code.MALFORMED_TOKEN, "not a compact JWS")
    header = loads_strict(b64url_decode(head, what="JWS header"), what="JWS header")
    if not isinstance(header, dict):
        raise MalformedError(Code.INVALID_HEADER, "JWS header must be a JSON object")
    return header


def sign_compact(header: Mapping[str, Any], payload: bytes, signer: Signer) -> str:
    """Sign `payload` as a compact JWS; `alg` is set from the signer, never from the caller."""
    full = {"alg": signer.alg, **{k: v for k, v in header.items() if k != "alg"}}
    h64 = b64url_encode(dumps_compact(full).encode("utf-8"))
    p64 = b64url_encode(payload)
    signing_input = f"{h64}.{p64}".encode("ascii")
    return f"{h64}.{p64}.{b64url_encode(signer.sign(signing_input))}"
