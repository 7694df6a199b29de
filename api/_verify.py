"""`ancre.verify` and `ancre.Verifier`: the verification engine (`ancre.verifier.engine`)
with its environment — DID resolver, clock, status lists, trust — built once.

Modelled on cryptography's `PolicyBuilder`: a `Verifier` is made by a class method that
takes every choice explicitly, then never changes; one object is passed around instead of
five. The environment is wired by `ancre.verifier.factory.build_context`, as for the CLI and the
service; its pieces stay public (`ancre.trust.did.resolvers.default_resolver`,
`ancre.trust.trust_list.client.TrustListClient`,
`ancre.trust.status.checker.StatusListChecker`) for those who need to assemble them differently.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, cast

from ancre.trust.clock import Clock, SystemClock
from ancre.trust.errors import Code, ConfigurationError, InvalidError
from ancre.trust.keys.jwk import PublicKey
from ancre.trust.policy import VerificationPolicy
from ancre.trust.result import VerificationResult

if TYPE_CHECKING:
    import httpx
    from cryptography import x509

    from ancre.trust.did.document import DidResolver
    from ancre.trust.jose.vc_jose import KeySource, StatusChecker, TrustChecker
    from ancre.trust.net.guard import NetworkPolicy
    from ancre.trust.vcdm.jsonld import ContextStore
    from ancre.verifier.engine import VerifyContext

__all__ = ["Verifier", "verify"]

_DEFAULT_POLICY = VerificationPolicy()


class _RegistryKey:
    """The registry's key, pinned by the operator: whatever `kid` a list names, only this
    key verifies lists of this registry (a `KeySource`)."""

    def __init__(self, registry: str, key: PublicKey) -> None:
        self._registry, self._key = registry, key

    def key_for(
        self, controller: str, header: Mapping[str, Any], *, authentication: bool
    ) -> PublicKey:
        if controller != self._registry:
            raise InvalidError(
                Code.VERIFICATION_METHOD_NOT_FOUND, f"no pinned key for {controller}"
            )
        return self._key


def _checked_contexts(contexts: ContextStore | None) -> ContextStore | None:
    """`contexts=` as given, once it is proven a `ContextStore` (a path is not read here:
    the operator vets and pins a manifest with `load_context_manifest`)."""
    if contexts is None:
        return None
    from ancre.trust.vcdm.jsonld import ContextStore

    if not isinstance(contexts, ContextStore):
        raise ConfigurationError(
            "contexts= takes a ContextStore, e.g. "
            "ancre.trust.vcdm.jsonld.load_context_manifest(path), "
            f"not {type(contexts).__name__}"
        )
    return contexts


def _checked_anchors(anchors: Iterable[x509.Certificate]) -> tuple[x509.Certificate, ...]:
    """`trust_anchors=` as a tuple of certificates (PEM is read with
    `ancre.trust.x509.chain.parse_pem_chain`, not guessed at here)."""
    given: object = anchors  # typed, but hostile or mistaken callers pass PEM text
    if isinstance(given, str | bytes):
        raise ConfigurationError(
            "trust_anchors= takes certificates: read PEM with "
            "ancre.trust.x509.chain.parse_pem_chain(text)"
        )
    found = tuple(anchors)
    if found:
        from cryptography import x509

        for anchor in found:
            if not isinstance(anchor, x509.Certificate):
                raise ConfigurationError(
                    "trust_anchors= takes cryptography x509.Certificate objects, "
                    f"not {type(anchor).__name__}"
                )
    return found


class Verifier:
    """Verifies credentials and presentations of any format against one environment.

    Build it with `from_trust_list` (a connector in a data space), `from_trusted_issuers`
    (a fixed list of issuer DIDs) or the constructor (your own resolver and checkers). Use
    it as a context manager, or call `close()`, to close the HTTP client it made.

    Each way of building one takes the same two operator choices as `ancre verify`:

    - `contexts`: the JSON-LD contexts Data Integrity credentials may use, as a
      `ancre.trust.vcdm.jsonld.ContextStore` — the shipped ones plus those an operator
      vetted and pinned by SHA-256, e.g. `load_context_manifest("contexts/")` (`--context`).
      Contexts are never fetched: a credential using one the store lacks is
      `indeterminate` (`unknown_context`). `None`: the shipped contexts only.
    - `trust_anchors`: certificates (`cryptography.x509.Certificate`, e.g. from
      `ancre.trust.x509.chain.parse_pem_chain`) an `x5c` chain in a JOSE header must
      validate to, its leaf naming the issuer (`--trust-anchor`). Headers without `x5c`
      keep resolving the issuer's DID. Empty: an `x5c` header is not a key source.

    A wrong type for either raises `ConfigurationError`."""

    __slots__ = ("_engine", "_owned_client")

    def __init__(
        self,
        *,
        resolver: DidResolver | KeySource,
        clock: Clock | None = None,
        policy: VerificationPolicy = _DEFAULT_POLICY,
        status: StatusChecker | None = None,
        trust: TrustChecker | None = None,
        contexts: ContextStore | None = None,
        trust_anchors: Iterable[x509.Certificate] = (),
    ) -> None:
        from ancre.verifier.engine import Verifier as Engine
        from ancre.verifier.engine import VerifyContext

        clock = clock or SystemClock()
        stores, anchors = _checked_contexts(contexts), _checked_anchors(trust_anchors)
        keys: DidResolver | KeySource = resolver
        if anchors:
            from ancre.trust.x509.chain import X5cKeySource

            keys = X5cKeySource(anchors, clock=clock, fallback=resolver)
        context = VerifyContext(keys, clock, policy, status, trust, stores)
        self._engine = Engine(context)
        self._owned_client: httpx.Client | None = None

    @classmethod
    def _from_context(cls, context: VerifyContext, owned: httpx.Client | None) -> Verifier:
        from ancre.verifier.engine import Verifier as Engine

        verifier = cls.__new__(cls)
        verifier._engine, verifier._owned_client = Engine(context), owned
        return verifier

    @classmethod
    def from_trust_list(
        cls,
        source: str | Path,
        *,
        registry: str,
        registry_key: Mapping[str, Any] | PublicKey | None = None,
        policy: VerificationPolicy = _DEFAULT_POLICY,
        http_client: httpx.Client | None = None,
        network: NetworkPolicy | None = None,
        clock: Clock | None = None,
        cache_dir: str | Path | None = None,
        state_dir: str | Path | None = None,
        contexts: ContextStore | None = None,
        trust_anchors: Iterable[x509.Certificate] = (),
    ) -> Verifier:
        """A verifier trusting what the registry's signed trust list says, per credential
        type and at issuance time; did:web DIDs and status lists resolved over HTTP.

        `source` is the list's https URL (or a saved file); `registry` the DID that signs it,
        resolved like any DID unless `registry_key` (a public JWK or key) pins its key.
        Without `http_client` one is made (no redirects, no proxy from the environment) and
        closed by `close()`. `cache_dir` keeps the last list for restarts while the registry
        is down; `state_dir` remembers the highest sequence seen (rollbacks are refused).
        `contexts`, `trust_anchors`: see the class."""
        from ancre.verifier.factory import TrustListSource, build_context

        stores, anchors = _checked_contexts(contexts), _checked_anchors(trust_anchors)
        client, owned = http_client, http_client is None
        if client is None:
            import httpx

            client = httpx.Client(follow_redirects=False, trust_env=False)
        try:
            pinned: KeySource | None = None
            if registry_key is not None:
                key = (
                    registry_key
                    if isinstance(registry_key, PublicKey)
                    else PublicKey.from_jwk(registry_key)
                )
                pinned = _RegistryKey(registry, key)
            context = build_context(
                clock=clock or SystemClock(),
                policy=policy,
                http=client,
                network=network,
                trust_list=TrustListSource(
                    str(source),
                    registry,
                    registry_keys=pinned,
                    cache_dir=None if cache_dir is None else str(cache_dir),
                    state_dir=None if state_dir is None else str(state_dir),
                ),
                contexts=stores,
                trust_anchors=anchors,
            )
        except BaseException:
            if owned:
                client.close()
            raise
        return cls._from_context(context, client if owned else None)

    @classmethod
    def from_trusted_issuers(
        cls,
        issuers: Iterable[str],
        *,
        policy: VerificationPolicy = _DEFAULT_POLICY,
        http_client: httpx.Client | None = None,
        network: NetworkPolicy | None = None,
        clock: Clock | None = None,
        contexts: ContextStore | None = None,
        trust_anchors: Iterable[x509.Certificate] = (),
    ) -> Verifier:
        """A verifier trusting exactly these issuers (DIDs, or the https URLs `x5c` leaf
        certificates name). Without `http_client` it stays offline: did:key and did:jwk
        issuers, or `x5c` chains to `trust_anchors`, only, and status lists cannot be
        checked. `contexts`, `trust_anchors`: see the class."""
        from ancre.verifier.factory import build_context

        if isinstance(issuers, str):
            raise ConfigurationError("issuers takes a list of issuer DIDs, not one string")
        stores, anchors = _checked_contexts(contexts), _checked_anchors(trust_anchors)
        policy = replace(policy, trusted_issuers=frozenset(issuers))
        context = build_context(
            clock=clock or SystemClock(), policy=policy, http=http_client, network=network,
            contexts=stores, trust_anchors=anchors,
        )  # fmt: skip
        return cls._from_context(context, None)

    @property
    def policy(self) -> VerificationPolicy:
        return self._engine.policy

    def verify(
        self,
        data: bytes | str | Mapping[str, Any],
        *,
        audience: str | None = None,
        nonce: str | None = None,
        expect: Literal["credential", "presentation"] | None = None,
    ) -> VerificationResult:
        """Verify `data` (a token, JSON text, a parsed JSON object, or the raw CBOR bytes of
        a `vc+cose`/`vp+cose` COSE_Sign1). A presentation must be bound to `audience` and
        `nonce` when given. Never raises for bad input: the result says what is wrong
        (`result.valid`, `result.errors`)."""
        policy = None
        if audience is not None or nonce is not None:
            base = self._engine.policy
            policy = replace(
                base,
                audience=audience if audience is not None else base.audience,
                nonce=nonce if nonce is not None else base.nonce,
            )
        return self._engine.verify(data, expect=expect, policy=policy)

    def close(self) -> None:
        """Close the HTTP client this verifier made (not one that was passed in)."""
        if self._owned_client is not None:
            self._owned_client.close()
            self._owned_client = None

    def __enter__(self) -> Verifier:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def verify(
    data: bytes | str | Mapping[str, Any],
    *,
    trust: Iterable[str] | TrustChecker | None = None,
    policy: VerificationPolicy = _DEFAULT_POLICY,
    audience: str | None = None,
    nonce: str | None = None,
    http_client: httpx.Client | None = None,
    clock: Clock | None = None,
    contexts: ContextStore | None = None,
    trust_anchors: Iterable[x509.Certificate] = (),
) -> VerificationResult:
    """Verify a credential or presentation of any format, in one call.

    `trust` is what decides whether the issuer is trusted: issuer DIDs, or a trust list
    (`ancre.trust.trust_list.index.TrustList` / `ancre.trust.trust_list.client.TrustListClient`).
    Without it the trust step is recorded as skipped and `valid` means only "a valid signature
    by someone" — check `trust` in production. Offline unless `http_client` is given (did:web,
    status lists). `contexts`, `trust_anchors`: as for `Verifier`.
    For many verifications, build a `Verifier` once."""
    if isinstance(trust, str):
        raise ConfigurationError("trust= takes a list of issuer DIDs, not one string")
    if trust is None or hasattr(trust, "check"):
        from ancre.verifier.factory import build_context

        context = build_context(
            clock=clock or SystemClock(), policy=policy, http=http_client,
            contexts=_checked_contexts(contexts), trust_anchors=_checked_anchors(trust_anchors),
        )  # fmt: skip
        checker = cast("TrustChecker | None", trust)
        verifier = Verifier._from_context(context._replace(trust=checker), None)
    else:
        verifier = Verifier.from_trusted_issuers(
            trust, policy=policy, http_client=http_client, clock=clock, contexts=contexts,
            trust_anchors=trust_anchors,
        )  # fmt: skip
    return verifier.verify(data, audience=audience, nonce=nonce)
