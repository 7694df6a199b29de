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

    from ancre.trust.did.document import DidResolver
    from ancre.trust.jose.vc_jose import KeySource, StatusChecker, TrustChecker
    from ancre.trust.net.guard import NetworkPolicy
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


class Verifier:
    """Verifies credentials and presentations of any format against one environment.

    Build it with `from_trust_list` (a connector in a data space), `from_trusted_issuers`
    (a fixed list of issuer DIDs) or the constructor (your own resolver and checkers). Use
    it as a context manager, or call `close()`, to close the HTTP client it made."""

    __slots__ = ("_engine", "_owned_client")

    def __init__(
        self,
        *,
        resolver: DidResolver | KeySource,
        clock: Clock | None = None,
        policy: VerificationPolicy = _DEFAULT_POLICY,
        status: StatusChecker | None = None,
        trust: TrustChecker | None = None,
    ) -> None:
        from ancre.verifier.engine import Verifier as Engine
        from ancre.verifier.engine import VerifyContext

        context = VerifyContext(resolver, clock or SystemClock(), policy, status, trust)
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
    ) -> Verifier:
        """A verifier trusting what the registry's signed trust list says, per credential
        type and at issuance time; did:web DIDs and status lists resolved over HTTP.

        `source` is the list's https URL (or a saved file); `registry` the DID that signs it,
        resolved like any DID unless `registry_key` (a public JWK or key) pins its key.
        Without `http_client` one is made (no redirects, no proxy from the environment) and
        closed by `close()`. `cache_dir` keeps the last list for restarts while the registry
        is down; `state_dir` remembers the highest sequence seen (rollbacks are refused)."""
        from ancre.verifier.factory import TrustListSource, build_context

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
    ) -> Verifier:
        """A verifier trusting exactly these issuer DIDs. Without `http_client` it stays
        offline: did:key and did:jwk issuers only, and status lists cannot be checked."""
        from ancre.verifier.factory import build_context

        policy = replace(policy, trusted_issuers=frozenset(issuers))
        context = build_context(
            clock=clock or SystemClock(), policy=policy, http=http_client, network=network
        )
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
) -> VerificationResult:
    """Verify a credential or presentation of any format, in one call.

    `trust` is what decides whether the issuer is trusted: issuer DIDs, or a trust list
    (`ancre.trust.trust_list.index.TrustList` / `ancre.trust.trust_list.client.TrustListClient`).
    Without it the trust step is recorded as skipped and `valid` means only "a valid signature
    by someone" — check `trust` in production. Offline unless `http_client` is given (did:web,
    status lists).
    For many verifications, build a `Verifier` once."""
    if isinstance(trust, str):
        raise ConfigurationError("trust= takes a list of issuer DIDs, not one string")
    if trust is None or hasattr(trust, "check"):
        from ancre.verifier.factory import build_context

        context = build_context(clock=clock or SystemClock(), policy=policy, http=http_client)
        checker = cast("TrustChecker | None", trust)
        verifier = Verifier._from_context(context._replace(trust=checker), None)
    else:
        verifier = Verifier.from_trusted_issuers(
            trust, policy=policy, http_client=http_client, clock=clock
        )
    return verifier.verify(data, audience=audience, nonce=nonce)
