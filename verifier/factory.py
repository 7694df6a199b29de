"""One place that wires a verification environment: DID resolver, status-list checker and
trust-list client, from configuration.

The CLI (`ancre verify`), the VC-API service, and the library's `ancre.Verifier` used to
assemble these three pieces each in their own way; they now describe what they want
(`TrustListSource`, an HTTP client or a factory for one, a network policy) and
`build_context` returns the frozen `VerifyContext` the engine runs with. Choices stay with
the caller: a lazily created HTTP client (so `ancre verify` of a did:key credential imports
no HTTP stack), a pinned registry key, cache and state directories.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from ancre.trust.engine import VerifyContext
from ancre.trust.policy import VerificationPolicy
from ancre.trust.trust_list.signed import MAX_TRUST_LIST_BYTES

if TYPE_CHECKING:
    import httpx
    from cryptography import x509

    from ancre.trust.clock import Clock
    from ancre.trust.did.document import DidResolver
    from ancre.trust.net.guard import NetworkPolicy
    from ancre.trust.status.checker import StatusListChecker
    from ancre.trust.steps import KeySource
    from ancre.trust.trust_list.client import TrustListClient
    from ancre.trust.vcdm.jsonld import ContextStore

__all__ = ["TrustListSource", "build_context"]

_DEFAULT_POLICY: Final = VerificationPolicy()


@dataclass(frozen=True, slots=True)
class TrustListSource:
    """Where the registry's signed trust list comes from and who must have signed it."""

    #: The list's https URL, or the path of a saved copy.
    location: str
    #: The DID of the registry that signs it.
    registry: str
    #: Keys that verify the list instead of resolving `registry` (a pinned key); `None`
    #: resolves the registry's DID like any other.
    registry_keys: DidResolver | KeySource | None = None
    #: Keeps the last accepted list, so a restart while the registry is down still decides.
    cache_dir: str | None = None
    #: Remembers the highest sequence seen, so a rolled-back list is refused.
    state_dir: str | None = None
    max_bytes: int = MAX_TRUST_LIST_BYTES

    @property
    def remote(self) -> bool:
        return self.location.startswith(("https://", "http://"))


def build_context(
    *,
    clock: Clock,
    policy: VerificationPolicy = _DEFAULT_POLICY,
    http: httpx.Client | Callable[[], httpx.Client] | None = None,
    network: NetworkPolicy | None = None,
    trust_list: TrustListSource | None = None,
    contexts: ContextStore | None = None,
    trust_anchors: Sequence[x509.Certificate] = (),
    resolver: DidResolver | None = None,
) -> VerifyContext:
    """The context a `Verifier` runs with.

    Without `http` the environment is offline: did:key and did:jwk only, no status checker
    (a credential with a status entry is then `indeterminate`), and a trust list only from a
    saved file. `network` (default: the public-internet guard) limits where did:web
    documents, status lists and the trust list may be fetched from. Raises
    `ConfigurationError` for an unusable cache or state directory. `http` is a client or a
    zero-argument factory that makes one on first use. `contexts`: the JSON-LD contexts Data
    Integrity proofs may use (the shipped ones by default; add vetted ones with
    `ancre.trust.vcdm.jsonld.load_context_manifest`). `trust_anchors`: certificates an
    `x5c` chain in a JOSE header must validate to (its leaf naming the issuer); headers
    without `x5c` keep resolving the issuer's DID. With `http`, an SD-JWT VC whose issuer is
    an https URL gets its key from the issuer's JWT VC Issuer Metadata (or `x5c`).
    `resolver`: the DID resolver to use (default: `default_resolver` over `http`), for a
    caller that resolves DIDs of its own too and must share the engine's cache (the
    verifier service's OpenID4VP onboarding check) rather than fetch each document twice."""
    if resolver is None:
        from ancre.trust.did.resolvers import default_resolver

        resolver = default_resolver(http_client=http, network=network, clock=clock)
    status: Any = None
    if http is not None:
        status = _LazyStatusChecker(http, resolver, network)
    trust: TrustListClient | None = None
    if trust_list is not None:
        from ancre.trust.trust_list.client import TrustListClient

        trust = TrustListClient(
            trust_list.location,
            registry=trust_list.registry,
            resolver=trust_list.registry_keys or resolver,
            clock=clock,
            http_client=_client(http) if trust_list.remote and http is not None else None,
            network=network,
            cache_dir=trust_list.cache_dir,
            state_dir=trust_list.state_dir,
            max_bytes=trust_list.max_bytes,
        )
    keys: DidResolver | KeySource = resolver
    x5c = None
    if trust_anchors:
        from ancre.trust.x509.chain import X5cKeySource

        keys = x5c = X5cKeySource(list(trust_anchors), clock=clock, fallback=resolver)
    if http is not None:
        # SD-JWT VC issuers named by an https URL: their metadata's keys, or x5c.
        from ancre.trust.sd_jwt.issuer_metadata import IssuerMetadataKeys

        keys = IssuerMetadataKeys(keys, client=http, network=network, clock=clock, x5c=x5c)
    return VerifyContext(keys, clock, policy, status, trust, contexts)


def _client(http: httpx.Client | Callable[[], httpx.Client]) -> httpx.Client:
    import httpx

    return http if isinstance(http, httpx.Client) else http()


class _LazyStatusChecker:
    """Makes the status-list checker (and, from a factory, its HTTP client) only when a
    credential has a status entry: the common case imports no HTTP stack."""

    __slots__ = ("_checker", "_http", "_network", "_resolver")

    def __init__(
        self,
        http: httpx.Client | Callable[[], httpx.Client],
        resolver: DidResolver,
        network: NetworkPolicy | None,
    ) -> None:
        self._http, self._resolver, self._network = http, resolver, network
        self._checker: StatusListChecker | None = None

    def check(self, credential: Any, *, issuer: str, clock: Clock) -> str:
        if self._checker is None:
            from ancre.trust.status.checker import DEFAULT_NETWORK, StatusListChecker

            self._checker = StatusListChecker(
                client=_client(self._http),
                resolver=self._resolver,
                network=self._network or DEFAULT_NETWORK,
            )
        return self._checker.check(credential, issuer=issuer, clock=clock)
