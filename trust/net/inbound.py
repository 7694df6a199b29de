"""Inbound HTTP bodies, read within a limit: the one reader every ancre service uses.

Framework-free (the trust core depends on no web framework): it takes anything with
Starlette's request shape — `headers` and an async `stream()` of byte chunks. A declared
`Content-Length` over the limit (or not a number) is refused before a byte is read; a body
that grows past the limit while streaming is refused as soon as it does, so a client that
lies about its length or sends none costs at most `limit` bytes of memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Protocol

__all__ = ["BodySource", "read_limited"]


class BodySource(Protocol):
    """What a request must offer to be read (a Starlette/FastAPI `Request` does)."""

    @property
    def headers(self) -> Mapping[str, str]: ...

    def stream(self) -> AsyncIterator[bytes]: ...


async def read_limited(request: BodySource, limit: int) -> bytes | None:
    """The whole body, or None when it is (or says it is) longer than `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
