"""The default DID resolver: did:key, did:jwk and (when given an HTTP client) did:web."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .did import CompositeResolver, DidResolver
from .did_jwk import DidJwkResolver
from .did_key import DidKeyResolver

if TYPE_CHECKING:
    import httpx

    from .clock import Clock
    from .net import NetworkPolicy

__all__ = ["default_resolver"]


def default_resolver(
    *,
    http_client: httpx.Client | None = None,
    network: NetworkPolicy | None = None,
    clock: Clock | None = None,
) -> CompositeResolver:
    """did:key and did:jwk always; did:web only with an injected `http_client` (no client,
    no network)."""
    resolvers: dict[str, DidResolver] = {"key": DidKeyResolver(), "jwk": DidJwkResolver()}
    if http_client is not None:
        from .clock import SystemClock
        from .did_web import DidWebResolver
        from .net import NetworkPolicy

        resolvers["web"] = DidWebResolver(
            client=http_client,
            policy=network or NetworkPolicy(),
            clock=clock or SystemClock(),
        )
    return CompositeResolver(resolvers)
