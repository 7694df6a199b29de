"""Multibase base58btc (`z…`) and the multicodec varint prefixes did:key uses."""

from __future__ import annotations

from typing import Final

from ancre.trust.errors import Code, MalformedError

__all__ = ["base58btc_decode", "base58btc_encode", "multicodec_split", "varint_encode"]

_B58: Final = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX: Final = {c: i for i, c in enumerate(_B58)}
MAX_B58_CHARS: Final = 512


def base58btc_encode(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = []
    while n:
        n, r = divmod(n, 58)
        out.append(_B58[r])
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + "".join(reversed(out))


def base58btc_decode(text: str) -> bytes:
    if not text or len(text) > MAX_B58_CHARS:
        raise MalformedError(Code.INVALID_KEY, "base58btc value is empty or too long")
    n = 0
    for ch in text:
        digit = _B58_INDEX.get(ch)
        if digit is None:
            raise MalformedError(Code.INVALID_KEY, f"{ch!r} is not a base58btc character")
        n = n * 58 + digit
    zeros = len(text) - len(text.lstrip("1"))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * zeros + body


def varint_encode(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def multicodec_split(data: bytes) -> tuple[int, bytes]:
    """Split an unsigned-varint multicodec prefix (at most 4 bytes here) from its payload."""
    value = shift = 0
    for i, byte in enumerate(data[:4]):
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            rest = data[i + 1 :]
            if varint_encode(value) != data[: i + 1]:
                raise MalformedError(Code.INVALID_KEY, "multicodec prefix is not minimally encoded")
            return value, rest
    raise MalformedError(Code.INVALID_KEY, "multicodec prefix is not a valid varint")
