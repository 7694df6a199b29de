"""The verifier service: W3C VC-API `POST /credentials/verify` and `/presentations/verify`
over the one verification pipeline, with health, readiness and Prometheus metrics.

An app factory (`create_app(settings)`), no work at import time. The DID resolver (did:web
cache), the status-list checker and the trust-list client are built once per app and shared
by every request: all three are thread-safe and bounded.

Responses follow the VC-API / VCALM specification (see docs/architecture.md for why this
departs from DESIGN.md's "400 with verified:false"): every completed verification answers
200 with a VerificationResult `{"verified": bool, "problemDetails": […]}` (plus `results`,
`checks`, `credential` or `verifiablePresentation` when the request's options ask for them;
`vc_api` reads the options and builds the body), and ancre's three-valued status (valid /
invalid / indeterminate) in the `Ancre-Status` header. With `failure_status=400` a
completed verification that did not succeed answers 400 with the same body. A request the
service cannot process answers 400 (413 when too large) with a problem body carrying ancre's
stable `code`. Warm JOSE verifications run on the event loop; one that must fetch
reruns in a worker thread, and one that needs JSON-LD canonicalization reruns in the bounded
JSON-LD pool (worker processes; 503 `service_busy` when full), so neither a slow fetch nor a
costly document stalls the event loop or `/health`.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal

import anyio.to_thread
import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from ancre.storage.abuse import AbuseGuard, RateLimit
from ancre.trust.clock import Clock, SystemClock
from ancre.trust.codec.json import loads_strict
from ancre.trust.errors import AncreError, Code, ConfigurationError
from ancre.trust.net.guard import NetworkPolicy, WouldBlock, no_network
from ancre.trust.net.inbound import read_limited
from ancre.trust.policy import VerificationPolicy
from ancre.trust.problem import problem
from ancre.trust.result import VerificationResult
from ancre.trust.trust_list.client import TrustListClient
from ancre.trust.trust_list.signed import MAX_TRUST_LIST_BYTES
from ancre.trust.vcdm.jsonld import (
    CanonicalizationDeferred,
    ContextStore,
    defer_canonicalization,
)

from ._jsonld_pool import JsonLdPool, PoolFullError
from ._outbound import HostBusyError, OutboundLimiter, host_of
from .engine import Verifier
from .factory import TrustListSource, build_context
from .logs import LOGGER, log_verification
from .openid4vp import OpenID4VPSettings
from .vc_api import (
    FAILURE_STATUSES,
    STATUS_HEADER,
    OptionError,
    VcApiOptions,
    check_bindable,
    read_options,
    verification_body,
)
from .vc_api import proofless as vc_api_proofless

__all__ = ["VerifierSettings", "create_app"]

MAX_BODY_BYTES = 1024 * 1024
#: Bodies up to this size are parsed on the event loop (a `vc+jwt` request is a few kB).
_PARSE_ON_LOOP_BYTES: Final = 32 * 1024
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass(frozen=True)
class VerifierSettings:
    """What the service trusts and how it reaches the network."""

    policy: VerificationPolicy = field(default_factory=VerificationPolicy)
    #: A trust list (URL) and the registry DID that signs it; None: only policy.trusted_issuers.
    trust_list_url: str | None = None
    registry_did: str | None = None
    network: NetworkPolicy = field(default_factory=NetworkPolicy)
    clock: Clock = field(default_factory=SystemClock)
    #: Where the last accepted trust list and the highest sequence seen are kept, so a
    #: restarted service answers as before (and refuses rollbacks) while the registry is down.
    cache_dir: str | None = None
    #: The trust list's own size limit (not `network.max_bytes`, sized for DID documents).
    trust_list_max_bytes: int = MAX_TRUST_LIST_BYTES
    #: Where the highest trust-list sequence per registry is remembered (rollback memory);
    #: None: `cache_dir` if set, else `ancre.trust.trust_list.client.default_state_dir()`.
    state_dir: str | None = None
    #: OpenID4VP 1.0 verifier endpoints (`/openid4vp/…`); None: not served.
    openid4vp: OpenID4VPSettings | None = None
    #: Run with no trust source at all (neither `trust_list_url` nor
    #: `policy.trusted_issuers`): an explicit choice, logged at start-up, and every response
    #: carries `Ancre-Trust: not-checked`. Without it such settings are refused: a verifier
    #: that vouches for any self-signed did:key issuer is a misconfiguration.
    no_trust_check: bool = False
    #: A PEM bundle the outbound client trusts instead of the system's CAs (a private CA,
    #: as `ancre demo` runs on loopback TLS); None: the system's.
    ca_file: str | None = None
    #: The names this verifier is known by (its public URL, a domain, a DID): a presentation
    #: verified without a request `domain` must be bound (`aud`, proof `domain`) to one of
    #: them. With none configured, a presentation bound to any audience is refused (it is
    #: someone's, and this service cannot tell whose); one bound to none is verified and
    #: reported replayable.
    audiences: frozenset[str] = frozenset()
    #: Worker processes for JSON-LD canonicalization (Data Integrity proofs), and how many
    #: more such verifications may wait for one before the service answers 503.
    jsonld_workers: int = 2
    jsonld_queue: int = 16
    #: Seconds of canonicalization one verification may use in all (each canonicalization
    #: also has its own budget, 1 s by default).
    jsonld_budget: float = 3.0
    #: Verifications that must fetch: at most this many at a time in all, per host (scheme,
    #: host, port), and waiting per host before the service answers 503.
    fetch_workers: int = 32
    fetch_per_host: int = 4
    fetch_queue_per_host: int = 64
    #: The HTTP status of a VC-API verification that ran and did not succeed: 200 (VCALM:
    #: `verified: false` says it) or 400, for clients that treat only ≥ 400 as a rejection.
    #: The body is the same either way.
    failure_status: int = 200
    #: The JSON-LD contexts Data Integrity proofs may use: None, the shipped ones; an
    #: operator adds vetted ones, pinned by SHA-256 (`load_context_manifest`).
    contexts: ContextStore | None = None
    #: Per-client rate limit (by connection address) on the verification endpoints
    #: (`/credentials/verify`, `/presentations/verify`, OpenID4VP responses): 429
    #: `rate_limited` with `Retry-After` past it. None: no limit (the CLI sets one).
    rate_limit: RateLimit | None = None


class _Metrics:
    """Prometheus text exposition of verification counts and latencies (per process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str, str]] = Counter()
        self._buckets = [0] * (len(_BUCKETS) + 1)
        self._sum = 0.0
        self._total = 0

    def observe(self, kind: str, result: VerificationResult, seconds: float) -> None:
        code = result.errors[0].code if result.errors else ""
        with self._lock:
            self._counts[(kind, result.status.value, code or "")] += 1
            self._total += 1
            self._sum += seconds
            for i, bound in enumerate(_BUCKETS):
                if seconds <= bound:
                    self._buckets[i] += 1
            self._buckets[-1] += 1

    def render(self) -> str:
        with self._lock:
            lines = [
                "# HELP ancre_verifications_total Verifications by kind, status and error code.",
                "# TYPE ancre_verifications_total counter",
            ]
            for (kind, status, code), n in sorted(self._counts.items()):
                labels = f'kind="{kind}",status="{status}",code="{code}"'
                lines.append(f"ancre_verifications_total{{{labels}}} {n}")
            lines += [
                "# HELP ancre_verification_seconds Verification latency.",
                "# TYPE ancre_verification_seconds histogram",
            ]
            for bound, n in zip((*map(str, _BUCKETS), "+Inf"), self._buckets, strict=True):
                lines.append(f'ancre_verification_seconds_bucket{{le="{bound}"}} {n}')
            lines.append(f"ancre_verification_seconds_sum {self._sum:.6f}")
            lines.append(f"ancre_verification_seconds_count {self._total}")
        return "\n".join(lines) + "\n"


#: On every response of a service running with `no_trust_check`.
TRUST_HEADER: Final = "Ancre-Trust"


_TITLES: Final = {413: "Request too large", 503: "Service unavailable"}


def _problem(
    status: int, detail: str, code: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """A request the service could not process. VC-API bodies are `application/json`, so the
    RFC 9457 members travel under that media type."""
    return problem(
        status,
        code,
        detail,
        title=_TITLES.get(status, "Bad request"),
        media_type="application/json",
    ).response(JSONResponse, headers=headers)


def _refresh(trust: TrustListClient) -> dict[str, Any]:
    """`/ready`'s detail on trust-list refreshes."""
    status = trust.refresh_status()
    detail: dict[str, Any] = {
        "ok": status.last_error_code is None,
        "failures": status.failures,
        "consecutive_failures": status.consecutive_failures,
    }
    if status.last_error_code is not None:
        detail["last_error"] = {"code": status.last_error_code, "message": status.last_error}
    if status.next_attempt_at is not None:
        detail["next_attempt_at"] = status.next_attempt_at.isoformat()
    if status.next_update is not None:
        detail["next_update"] = status.next_update.isoformat()
    return detail


#: Stands for "this service's audience" when none is configured: matches no presentation.
UNCONFIGURED_AUDIENCE: Final = "urn:ancre:verifier:no-audience-configured"


def _presentation_policy(
    config: VerifierSettings, options: Mapping[str, Any], submitted: Any
) -> VerificationPolicy:
    """The policy for one presentation (issue 12, point 17): the request's `challenge` and
    `domain`; without a `domain`, the service's own audiences. A presentation bound to
    another verifier must never pass here because the caller forgot `domain`."""
    policy = config.policy
    if "challenge" in options:
        policy = replace(policy, nonce=options["challenge"])
    if "domain" in options:
        return replace(policy, audience=options["domain"])
    if policy.accepted_audiences:
        return policy  # the operator's policy names them
    if config.audiences:
        return replace(policy, audiences=config.audiences)
    if _names_an_audience(submitted):
        return replace(policy, audiences=frozenset({UNCONFIGURED_AUDIENCE}))
    return policy


def _jwt_claims(token: str) -> Mapping[str, Any]:
    from ancre.trust.codec.b64 import b64url_decode

    parts = token.split(".")
    if len(parts) != 3 or len(parts[1]) > 64 * 1024:
        return {}
    claims = loads_strict(b64url_decode(parts[1], what="JWT payload"), what="JWT payload")
    return claims if isinstance(claims, dict) else {}


def _names_an_audience(submitted: Any) -> bool:
    """Whether a presentation says whom it is for (unverified: it only decides whether the
    pipeline must check it). A vp+jwt's or key-binding JWT's `aud`, a proof's `domain`."""
    try:
        if isinstance(submitted, dict):
            proof = submitted.get("proof")
            proofs = proof if isinstance(proof, list) else [proof]
            if any(isinstance(p, dict) and "domain" in p for p in proofs):
                return True
            ident = submitted.get("id")
            if not isinstance(ident, str) or not ident.startswith("data:"):
                return False
            submitted = ident.partition(",")[2]
        if not isinstance(submitted, str):
            return False
        token = submitted.rsplit("~", 1)[-1] if "~" in submitted else submitted
        return bool(token) and _jwt_claims(token).get("aud") is not None
    except AncreError:
        return False  # unreadable: the pipeline says why


def _looks_jsonld(submitted: Any) -> bool:
    """A JSON-LD document with an embedded proof, or a presentation carrying one: its
    verification canonicalizes (data_integrity), so it belongs to the JSON-LD pool."""
    if not isinstance(submitted, dict):
        return False
    if "proof" in submitted:
        return True
    entries = submitted.get("verifiableCredential")
    entries = entries if isinstance(entries, list) else [entries]
    return any(isinstance(entry, dict) and "proof" in entry for entry in entries)


class _MarkUntrusted:
    """ASGI middleware: `Ancre-Trust: not-checked` on every response (issue 12, point 16), so
    that no client can take a `verified: true` from this service for an issuer check."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def marked(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (b"ancre-trust", b"not-checked")],
                }
            await send(message)

        await self.app(scope, receive, marked)


def _check_settings(config: VerifierSettings) -> None:
    if config.failure_status not in FAILURE_STATUSES:
        raise ConfigurationError(
            f"failure_status must be one of {sorted(FAILURE_STATUSES)}, not {config.failure_status}"
        )
    _check_trust_source(config)


def _check_trust_source(config: VerifierSettings) -> None:
    has_source = config.trust_list_url is not None or config.policy.trusted_issuers is not None
    if has_source and config.no_trust_check:
        raise ConfigurationError("no_trust_check contradicts the trust source configured")
    if not has_source and not config.no_trust_check:
        raise ConfigurationError(
            "the verifier has no trust source: configure a trust list (trust_list_url and "
            "registry_did) or trusted issuers (policy.trusted_issuers), or set no_trust_check "
            "to verify signatures only (every response then says Ancre-Trust: not-checked)"
        )
    if config.no_trust_check:
        LOGGER.warning(
            "TRUST NOT CHECKED: this verifier runs without a trust list or trusted issuers "
            "(--no-trust-check): `verified: true` means a valid signature by ANY issuer; "
            "every response carries %s: not-checked",
            TRUST_HEADER,
        )


class _Service:
    """What the routes share, for as long as the app lives: the settings, one verifier (one
    HTTP client, DID cache, status-list checker and trust-list client), its metrics, and the
    pool and limiters that bound the work verifications may queue."""

    def __init__(self, config: VerifierSettings) -> None:
        self.config = config
        verify: ssl.SSLContext | bool = True
        if config.ca_file is not None:
            verify = ssl.create_default_context(cafile=config.ca_file)
        self.client = httpx.Client(trust_env=False, follow_redirects=False, verify=verify)
        self.jsonld_pool = JsonLdPool(
            workers=config.jsonld_workers,
            queue_limit=config.jsonld_queue,
            job_budget=config.jsonld_budget,
        )
        self.outbound = OutboundLimiter(
            total=config.fetch_workers,
            per_host=config.fetch_per_host,
            per_host_queue=config.fetch_queue_per_host,
        )
        if config.trust_list_url is not None and config.registry_did is None:
            raise ValueError("a trust list needs the registry DID that signs it")
        from ancre.trust.did.resolvers import default_resolver

        # One DID resolver (one did:web cache) for the engine and the OpenID4VP onboarding
        # check, which resolves the holder the engine has just resolved for its signature.
        self.resolver = default_resolver(
            http_client=self.client, network=config.network, clock=config.clock
        )
        context = build_context(
            resolver=self.resolver,
            clock=config.clock,
            policy=config.policy,
            http=self.client,
            network=config.network,
            contexts=config.contexts,
            trust_list=None
            if config.trust_list_url is None or config.registry_did is None
            else TrustListSource(
                config.trust_list_url,
                config.registry_did,
                cache_dir=config.cache_dir,
                state_dir=config.state_dir,
                max_bytes=config.trust_list_max_bytes,
            ),
        )
        self.trust = context.trust if isinstance(context.trust, TrustListClient) else None
        self.verifier = Verifier(context)
        self.metrics = _Metrics()
        self.parse_limiter = anyio.CapacityLimiter(2)

    @asynccontextmanager
    async def lifespan(self, _: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            self.jsonld_pool.close()
            self.outbound.close()
            self.client.close()

    async def body(self, request: Request) -> Any:
        """The request's JSON body, or the problem response saying why there is none."""
        raw = await read_limited(request, MAX_BODY_BYTES)
        if raw is None:
            return _problem(413, f"body over {MAX_BODY_BYTES} bytes", "input_too_large")
        max_depth = self.config.policy.max_json_depth

        def parse() -> Any:
            # Strict, once: duplicate members would let the service and a later reader of the
            # same body see different credentials. The pipeline takes the parsed document.
            return loads_strict(raw, what="request body", max_depth=max_depth)

        try:
            if len(raw) <= _PARSE_ON_LOOP_BYTES:
                return parse()
            # A burst of large bodies parsed on the loop would queue `/health` behind them
            # (~3 ms each for 128 KB); in threads, the loop gets its turn between them. Two
            # at a time: each thread wanting the GIL is one more the loop must win it from.
            return await anyio.to_thread.run_sync(parse, limiter=self.parse_limiter)
        except AncreError as error:
            return _problem(400, error.message, error.code.value)

    def verify(
        self,
        kind: Literal["credential", "presentation", "openid4vp"],
        item: Any,
        policy: VerificationPolicy,
    ) -> VerificationResult:
        """`kind` labels metrics and logs; each VC-API endpoint accepts only its own kind,
        OpenID4VP's vp_token entries either."""
        start = time.perf_counter()
        # Parsed once, strictly, by `body`: the engine takes the JSON value as it is (a
        # value that is neither a token nor an object is refused as an unsupported format).
        result = self.verifier.verify(
            item, expect=None if kind == "openid4vp" else kind, policy=policy, parsed=True
        )
        elapsed = time.perf_counter() - start
        self.metrics.observe(kind, result, elapsed)
        log_verification(kind, result, elapsed)
        return result

    def answer(
        self, result: VerificationResult | JSONResponse, options: VcApiOptions, submitted: Any
    ) -> JSONResponse:
        """A completed verification's VC-API answer (or the refusal `run` gave instead):
        200, or the configured failure status when it did not succeed; ancre's three-valued
        status in the `Ancre-Status` header."""
        if isinstance(result, JSONResponse):
            return result
        return JSONResponse(
            verification_body(result, options, submitted),
            status_code=200 if result.valid else self.config.failure_status,
            headers={STATUS_HEADER: result.status.value},
        )

    async def run(
        self, job: Callable[[], VerificationResult], submitted: Any
    ) -> VerificationResult | JSONResponse:
        """On the event loop when every cache it needs is warm and it needs no JSON-LD work
        (no thread hop: the common case, and the fast one); again in a worker thread when it
        must fetch something; in the bounded JSON-LD pool when it must canonicalize (a 503
        when that is full: the queue of costly documents stays bounded). A JSON-LD document
        goes to the pool at once: even its limit checks walk all of it."""
        if not _looks_jsonld(submitted):
            try:
                with no_network(), defer_canonicalization():
                    return job()
            except WouldBlock as blocked:
                host = host_of(blocked)
                try:
                    fetched = await self.outbound.run(host, lambda: _fetching(job))
                except HostBusyError:
                    return _problem(
                        503,
                        f"too many verifications are waiting on {host or 'the network'}; "
                        "try again later",
                        Code.SERVICE_BUSY.value,
                        {"Retry-After": str(max(1, int(self.config.network.timeout)))},
                    )
                if fetched is not None:
                    return fetched
            except CanonicalizationDeferred:
                pass
        try:
            return await self.jsonld_pool.run(job)
        except PoolFullError:
            return _problem(
                503,
                f"{self.jsonld_pool.in_flight} JSON-LD verifications are in progress or "
                "waiting; try again later",
                Code.SERVICE_BUSY.value,
                {"Retry-After": "1"},
            )


def _fetching(job: Callable[[], VerificationResult]) -> VerificationResult | None:
    """`job` in a worker thread, where it may fetch; None when it reaches JSON-LD work,
    which belongs to the JSON-LD pool, not to the threads fetches share."""
    try:
        with defer_canonicalization():
            return job()
    except CanonicalizationDeferred:
        return None


def _add_vc_api_routes(app: FastAPI, service: _Service) -> None:
    """VC-API `POST /credentials/verify` and `POST /presentations/verify`."""

    @app.post("/credentials/verify", responses={400: {}, 413: {}, 503: {}})
    async def credentials_verify(request: Request) -> JSONResponse:
        """Verify a credential: `{"verifiableCredential": <credential or envelope>,
        "options": {"returnCredential", "returnResults", "returnProblemDetails", "checks",
        …}}`."""
        body = await service.body(request)
        if isinstance(body, JSONResponse):
            return body
        if not isinstance(body, dict) or "verifiableCredential" not in body:
            return _problem(400, 'expected {"verifiableCredential": …}', "invalid_request")
        try:
            options = read_options(body.get("options"), presentation=False)
        except OptionError as refused:
            return _problem(400, refused.detail, refused.code.value)
        item = body["verifiableCredential"]
        policy = _request_policy(service.config.policy, options)
        result = await service.run(lambda: service.verify("credential", item, policy), item)
        return service.answer(result, options, item)

    @app.post("/presentations/verify", responses={400: {}, 413: {}, 503: {}})
    async def presentations_verify(request: Request) -> JSONResponse:
        """Verify a presentation: `{"verifiablePresentation": …, "options": {"challenge",
        "domain", "returnPresentation", "checks", …}}`, or a proofless `{"presentation": …}`
        (its credentials are verified; there is no holder proof to bind)."""
        body = await service.body(request)
        if isinstance(body, JSONResponse):
            return body
        if not isinstance(body, dict) or (
            "verifiablePresentation" not in body and "presentation" not in body
        ):
            return _problem(
                400,
                'expected {"verifiablePresentation": …} or {"presentation": …}',
                "invalid_request",
            )
        proofless = "verifiablePresentation" not in body
        try:
            options = read_options(body.get("options"), presentation=True)
            audiences = bool(service.config.audiences or service.config.policy.accepted_audiences)
            check_bindable(options, proofless=proofless, audiences=audiences)
        except OptionError as refused:
            return _problem(400, refused.detail, refused.code.value)
        if proofless:
            submitted = body["presentation"]
            inner = options.tighten(service.config.policy)
            result = await service.run(
                lambda: vc_api_proofless(
                    submitted, lambda entry: service.verify("credential", entry, inner)
                ),
                submitted,
            )
        else:
            # `challenge` is the nonce and `domain` the audience the holder bound it to.
            submitted = body["verifiablePresentation"]
            bound = options.tighten(_presentation_policy(service.config, options.values, submitted))
            result = await service.run(
                lambda: service.verify("presentation", submitted, bound), submitted
            )
        return service.answer(result, options, submitted)


def _request_policy(policy: VerificationPolicy, options: VcApiOptions) -> VerificationPolicy:
    """A credential request's policy: the service's, with the listed checks switched on and
    the request's `challenge`/`domain` (which a bare credential cannot meet: it carries no
    binding, and the engine says so)."""
    policy = options.tighten(policy)
    if "challenge" in options.values:
        policy = replace(policy, nonce=options.values["challenge"])
    if "domain" in options.values:
        policy = replace(policy, audience=options.values["domain"])
    return policy


def _mount_openid4vp(app: FastAPI, service: _Service, settings: OpenID4VPSettings) -> None:
    """OpenID4VP 1.0 verifier endpoints (`/openid4vp/…`), over the same verifier."""
    from .openid4vp import create_router

    def verify_with(item: Any, policy: VerificationPolicy) -> VerificationResult:
        return service.verify("openid4vp", item, policy)

    config = service.config
    # The gaia-x-onboarding profile compares an SD-JWT member's key with a did:web holder's
    # authentication keys: the engine's resolver, so the document the holder's signature
    # check fetched is read from the same cache, not fetched a second time.
    app.include_router(
        create_router(
            settings,
            verify=verify_with,
            policy=config.policy,
            clock=config.clock,
            resolve=service.resolver.resolve,
        )
    )


def _add_operations_routes(app: FastAPI, service: _Service) -> None:
    """`/health`, `/ready` and `/metrics`, for orchestrators and monitoring."""
    trust, metrics = service.trust, service.metrics

    @app.get("/health")
    async def health() -> dict[str, str]:
        # On the event loop: a sync endpoint would wait for a free worker thread, and hanging
        # fetches can hold them all (issue 12, point 18).
        return {"status": "ok"}

    engines = _store_engines(service.config)

    @app.get("/ready")
    def ready() -> Response:
        """Readiness probe: 200 when the OpenID4VP database answers and the trust list is
        current. The OpenID4VP store's database (if any) is asked `SELECT 1`: down, 503
        `service_unavailable` with Retry-After; a configured trust list not current: 503."""
        if engines:
            from ancre.storage.outage import ready_response

            answer = ready_response(lambda: engines, "verifier")
            if answer.status_code != 200:
                return answer
        if trust is None:
            return JSONResponse({"status": "ready"})
        try:
            current = trust.current()
        except AncreError as error:
            return JSONResponse(
                {"status": "not ready", "reason": error.message, "refresh": _refresh(trust)},
                status_code=503,
            )
        # Ready while the last good list serves, even if refreshing it fails: the detail
        # says so, for operators (issue 12, point 8).
        return JSONResponse(
            {"status": "ready", "trust_list": current.sequence, "refresh": _refresh(trust)}
        )

    @app.get("/metrics", response_class=PlainTextResponse)
    async def prometheus() -> str:
        if trust is None:
            return metrics.render()
        refresh = trust.refresh_status()
        return metrics.render() + (
            "# HELP ancre_trust_list_refresh_failures_total Failed trust-list refreshes "
            "(the last good list kept serving).\n"
            "# TYPE ancre_trust_list_refresh_failures_total counter\n"
            f"ancre_trust_list_refresh_failures_total {refresh.failures}\n"
            "# HELP ancre_trust_list_sequence Sequence of the trust list served (0: none).\n"
            "# TYPE ancre_trust_list_sequence gauge\n"
            f"ancre_trust_list_sequence {refresh.sequence or 0}\n"
        )


def _store_engines(config: VerifierSettings) -> list[Any]:
    """The databases `/ready` checks: the OpenID4VP transaction store's (a SQLAlchemy
    `Engine`), when it has one."""
    store = config.openid4vp.store if config.openid4vp is not None else None
    if store is None or not hasattr(store, "engine"):
        return []
    from sqlalchemy.engine import Engine

    engine = store.engine
    return [engine] if isinstance(engine, Engine) else []


def create_app(settings: VerifierSettings | None = None) -> FastAPI:
    """The verifier API. Shared, thread-safe caches live as long as the app.

    Raises `ConfigurationError` when the settings name no trust source and do not say
    `no_trust_check` (the default `VerifierSettings()` is refused)."""
    config = settings or VerifierSettings()
    _check_settings(config)
    service = _Service(config)
    app = FastAPI(
        title="ancre verifier",
        version="1",
        description="W3C VC-API credential and presentation verification.",
        lifespan=service.lifespan,
    )
    _add_vc_api_routes(app, service)
    if config.openid4vp is not None:
        _mount_openid4vp(app, service, config.openid4vp)
    _add_operations_routes(app, service)
    from ancre.storage.outage import add_outage_handlers, add_unexpected_handler

    # The OpenID4VP store's database down: 503 `service_unavailable`, Retry-After (issue 17).
    if _store_engines(config):
        add_outage_handlers(app, "verifier")
    add_unexpected_handler(app, "verifier")
    # Every request: the body limit (the largest a route allows), then the rate limit.
    largest = max(MAX_BODY_BYTES, config.openid4vp.max_body_bytes if config.openid4vp else 0)
    app.add_middleware(
        AbuseGuard,
        max_body=largest,
        rate=config.rate_limit,
        classify=_rate_bucket,
        oauth=_oauth_error,
        problem_media=_problem_media,
    )
    if config.no_trust_check:
        app.add_middleware(_MarkUntrusted)
    return app


def _oauth_error(path: str) -> str | None:
    """The wallet-facing OpenID4VP endpoints answer errors as OAuth does (RFC 6749 §5.2)."""
    if path.startswith(("/openid4vp/responses/", "/openid4vp/request-objects/")):
        return str(Code.INVALID_REQUEST)
    return None


def _problem_media(path: str) -> str:
    """The VC-API's verify endpoints send every body, problems too, as application/json."""
    if path in ("/credentials/verify", "/presentations/verify"):
        return "application/json"
    return "application/problem+json"


def _rate_bucket(method: str, path: str) -> str | None:
    """The verification endpoints share one bucket per client; nothing else is limited
    here (transaction creation has its own limit, after authentication)."""
    if method == "POST" and (
        path in ("/credentials/verify", "/presentations/verify")
        or path.startswith("/openid4vp/responses/")
    ):
        return "verification"
    return None
