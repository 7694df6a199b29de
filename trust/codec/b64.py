"""Strict base64url (RFC 4648 §5, unpadded, as RFC 7515 §2 requires).

Strict means: only the URL-safe alphabet, no padding, no whitespace, and *canonical*: the
unused low bits of the last character must be zero (RFC 4648 §3.5). A decoder that accepts
non-canonical input lets one token have several encodings, which breaks replay caches and
signature-equality checks.
"""

from __future__ import annotations

import base64
import binascii

from ancre.trust.errors import Code, MalformedError

__all__ = ["b64url_decode", "b64url_encode"]

_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_VALUE = {c: i for i, c in enumerate(_ALPHABET)}
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_PAD = (b"", None, b"==", b"=")


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _refuse(what: str, why: str) -> MalformedError:
    return MalformedError(Code.NON_CANONICAL_BASE64URL, f"{what} {why}")


def b64url_decode(text: str | bytes, *, what: str = "value") -> bytes:
    """Decode unpadded base64url, refusing anything non-canonical."""
    raw = text.encode("ascii", "replace") if isinstance(text, str) else text
    pad = _PAD[len(raw) % 4]
    # The URL-safe alphabet only: `+`, `/` and `=` are standard-alphabet/padding characters
    # that the strict decoder below would otherwise accept after translation; anything else
    # outside the alphabet (whitespace, `?` from non-ASCII) it refuses itself.
    if pad is None or b"+" in raw or b"/" in raw or b"=" in raw:
        raise _refuse(what, "is not unpadded base64url (only A-Z a-z 0-9 - _ are allowed)")
    if pad:
        # 2 chars encode 1 byte (4 spare bits), 3 chars encode 2 bytes (2 spare bits).
        spare_mask = 0x0F if len(pad) == 2 else 0x03
        if _VALUE.get(raw[-1], 0) & spare_mask:
            raise _refuse(what, "is non-canonical base64url")
    try:
        return binascii.a2b_base64(raw.translate(_TO_STANDARD) + pad, strict_mode=True)
    except binascii.Error:
        raise _refuse(
            what, "is not unpadded base64url (only A-Z a-z 0-9 - _ are allowed)"
        ) from None
