"""Code that must not block (an event loop) says so; code that would block (a fetch, a wait
for a lock held across one) raises `WouldBlock` instead.

Its own module, with no import beyond the standard library, so hot paths (the trust-list
client, the status checker) and `ancre.trust.net.guard` share it without importing the HTTP
stack."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Final

__all__ = ["WouldBlock", "may_block", "no_network"]

_NO_NETWORK: Final[ContextVar[bool]] = ContextVar("ancre_no_network", default=False)


class WouldBlock(BaseException):
    """Raised, inside `no_network()`, where a network fetch (or a wait for one) would start.

    A `BaseException` so that no `except Exception`/`AncreError` handler on the way mistakes
    it for a verdict: it unwinds the whole verification, which the caller runs again where
    blocking is fine (a worker thread)."""


@contextmanager
def no_network() -> Iterator[None]:
    """Run code that must not block on the network (an event loop thread): every `fetch`
    raises `WouldBlock` instead. Warm caches answer as usual."""
    token = _NO_NETWORK.set(True)
    try:
        yield
    finally:
        _NO_NETWORK.reset(token)


def may_block() -> bool:
    """False inside `no_network()`: callers must not wait on locks held across fetches."""
    return not _NO_NETWORK.get()
