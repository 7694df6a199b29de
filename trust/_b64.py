"""Strict base64url (RFC 4648 §5, unpadded, as RFC 7515 §2 requires).

Strict means: only the URL-safe alphabet, no padding, no whitespace, and *canonical*: the
unused low bits of the last character must be zero (RFC 4648 §3.5). A decoder that accepts
non-canonical input lets one token have several encodings, which breaks replay caches and
signature-equality checks.
"""

from __future__ import annotations

import base64
import binascii
import re

from .errors import Code, MalformedError

__all__ = ["b64url_decode", "b64url_encode"]

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_VALUE = {c: i for i, c in enumerate(_ALPHABET)}
_CHARS = re.compile(r"[A-Za-z0-9_-]*")
_PAD = ("", None, "==", "=")


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str | bytes, *, what: str = "value") -> bytes:
    """Decode unpadded base64url, refusing anything non-canonical."""
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            raise MalformedError(
                Code.NON_CANONICAL_BASE64URL, f"{what} is not ASCII base64url"
            ) from None
    rem = len(text) % 4
    pad = _PAD[rem]
    if pad is None or _CHARS.fullmatch(text) is None:
        raise MalformedError(
            Code.NON_CANONICAL_BASE64URL,
            f"{what} is not unpadded base64url (only A-Z a-z 0-9 - _ are allowed)",
        )
    if rem:
        # 2 chars encode 1 byte (4 spare bits), 3 chars encode 2 bytes (2 spare bits).
        spare_mask = 0x0F if rem == 2 else 0x03
        if _VALUE[text[-1]] & spare_mask:
            raise MalformedError(Code.NON_CANONICAL_BASE64URL, f"{what} is non-canonical base64url")
    try:
        return base64.urlsafe_b64decode(text + pad)
    except (binascii.Error, ValueError):  # pragma: no cover - the checks above exclude it
        raise MalformedError(Code.NON_CANONICAL_BASE64URL, f"{what} is not base64url") from None
