"""The default DID resolver: did:key, did:jwk and (when given an HTTP client) did:web."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from ancre.trust.did.document import CompositeResolver, DidDocument, DidResolver

if TYPE_CHECKING:
    import httpx

    from ancre.trust.clock import Clock
    from ancre.trust.net.guard import NetworkPolicy

__all__ = ["default_resolver"]


class _LazyDidWeb:
    """Builds the did:web resolver (and its HTTP client) on the first did:web DID, so that
    verifying a did:key credential never pays for importing an HTTP stack."""

    def __init__(
        self,
        factory: Callable[[], httpx.Client],
        network: NetworkPolicy | None,
        clock: Clock | None,
    ) -> None:
        self._factory, self._network, self._clock = factory, network, clock
        self._resolver: DidResolver | None = None
        self._lock = threading.Lock()

    def resolve(self, did: str) -> DidDocument:
        with self._lock:
            if self._resolver is None:
                self._resolver = _did_web(self._factory(), self._network, self._clock)
        return self._resolver.resolve(did)


class _DidWebNeedsHttp:
    """Stands for did:web in a resolver built without an HTTP client: says what is missing,
    rather than that did:web is unsupported (it is, given a client)."""

    def resolve(self, did: str) -> DidDocument:
        from ancre.trust.errors import Code, IndeterminateError

        raise IndeterminateError(
            Code.UNSUPPORTED_DID_METHOD,
            f"did:web needs an http client to resolve {did[:100]}: build the resolver with "
            "default_resolver(http_client=httpx.Client()), or use ancre.Verifier",
        )


def _did_web(
    client: httpx.Client, network: NetworkPolicy | None, clock: Clock | None
) -> DidResolver:
    from ancre.trust.clock import SystemClock
    from ancre.trust.did.web import DidWebResolver
    from ancre.trust.net.guard import NetworkPolicy

    return DidWebResolver(
        client=client, policy=network or NetworkPolicy(), clock=clock or SystemClock()
    )


def default_resolver(
    *,
    http_client: httpx.Client | Callable[[], httpx.Client] | None = None,
    network: NetworkPolicy | None = None,
    clock: Clock | None = None,
) -> CompositeResolver:
    """did:key and did:jwk always; did:web only with an injected `http_client` (no client,
    no network). Pass a zero-argument factory instead of a client to create it lazily."""
    from ancre.trust.did.jwk import DidJwkResolver
    from ancre.trust.did.key import DidKeyResolver

    resolvers: dict[str, DidResolver] = {"key": DidKeyResolver(), "jwk": DidJwkResolver()}
    if callable(http_client):
        resolvers["web"] = _LazyDidWeb(http_client, network, clock)
    elif http_client is not None:
        resolvers["web"] = _did_web(http_client, network, clock)
    else:
        resolvers["web"] = _DidWebNeedsHttp()
    return CompositeResolver(resolvers)
