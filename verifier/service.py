"""The verifier service: W3C VC-API `POST /credentials/verify` and `/presentations/verify`
over the one verification pipeline, with health, readiness and Prometheus metrics.

An app factory (`create_app(settings)`), no work at import time. The DID resolver (did:web
cache), the status-list checker and the trust-list client are built once per app and shared
by every request: all three are thread-safe and bounded. Endpoints are synchronous, so
FastAPI runs verifications in its thread pool.

Responses follow ancre's HTTP conventions (DESIGN.md): 200 with `{"verified": true,
"checks": […], "warnings": [], "errors": []}`; 400 with `"verified": false` and the errors
(indeterminate results included: they are not verified either) — never a 200 with errors.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from ancre.trust.clock import Clock, SystemClock
from ancre.trust.net import NetworkPolicy
from ancre.trust.policy import VerificationPolicy
from ancre.trust.result import VerificationResult

from .openid4vp import OpenID4VPSettings
from .pipeline import verify

__all__ = ["VerifierSettings", "create_app"]

MAX_BODY_BYTES = 1024 * 1024
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
    #: OpenID4VP 1.0 verifier endpoints (`/openid4vp/…`); None: not served.
    openid4vp: OpenID4VPSettings | None = None


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


def _vc_api(result: VerificationResult) -> JSONResponse:
    body: dict[str, Any] = {
        "verified": result.valid,
        "status": result.status.value,
        "checks": [c.step.value for c in result.checks if c.ok and not c.skipped],
        "warnings": [
            {"step": c.step.value, "message": c.message} for c in result.checks if c.skipped
        ],
        "errors": [
            {"code": c.code, "message": c.message, "step": c.step.value} for c in result.errors
        ],
        "issuer": result.issuer,
        "types": list(result.types),
    }
    if result.credentials:
        body["credentials"] = [r.to_json() for r in result.credentials]
    return JSONResponse(body, status_code=200 if result.valid else 400)


def _problem(status: int, detail: str, code: str) -> JSONResponse:
    return JSONResponse(
        {
            "type": "about:blank",
            "title": "Bad request",
            "status": status,
            "detail": detail,
            "code": code,
        },
        status_code=status,
        media_type="application/problem+json",
    )


def create_app(settings: VerifierSettings | None = None) -> FastAPI:
    """The verifier API. Shared, thread-safe caches live as long as the app."""
    from ancre.trust.resolvers import default_resolver
    from ancre.trust.status import StatusListChecker
    from ancre.trust.trust_list import TrustListClient

    config = settings or VerifierSettings()
    client = httpx.Client(trust_env=False, follow_redirects=False)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            client.close()

    app = FastAPI(
        title="ancre verifier",
        version="1",
        description="W3C VC-API credential and presentation verification.",
        lifespan=lifespan,
    )
    resolver = default_resolver(http_client=client, network=config.network, clock=config.clock)
    status = StatusListChecker(client=client, resolver=resolver, network=config.network)
    trust = None
    if config.trust_list_url is not None:
        if config.registry_did is None:
            raise ValueError("a trust list needs the registry DID that signs it")
        trust = TrustListClient(
            config.trust_list_url,
            registry=config.registry_did,
            resolver=resolver,
            clock=config.clock,
            http_client=client,
            network=config.network,
        )
    metrics = _Metrics()

    async def _body(request: Request) -> Any:
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            return _problem(413, f"body over {MAX_BODY_BYTES} bytes", "input_too_large")
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return _problem(400, "the body is not JSON", "malformed_json")

    def _run(kind: str, item: Any, options: Any) -> JSONResponse:
        policy = config.policy
        if isinstance(options, dict):
            # VC-API options: `challenge` is the nonce and `domain` the audience a holder bound
            # the presentation to.
            challenge, domain = options.get("challenge"), options.get("domain")
            if challenge is not None or domain is not None:
                from dataclasses import replace

                policy = replace(
                    policy,
                    nonce=challenge if isinstance(challenge, str) else policy.nonce,
                    audience=domain if isinstance(domain, str) else policy.audience,
                )
        data = item if isinstance(item, str) else json.dumps(item)
        start = time.perf_counter()
        result = verify(
            data, resolver=resolver, clock=config.clock, policy=policy, status=status, trust=trust
        )
        metrics.observe(kind, result, time.perf_counter() - start)
        return _vc_api(result)

    @app.post("/credentials/verify", responses={400: {}, 413: {}})
    async def credentials_verify(request: Request) -> JSONResponse:
        """Verify a credential: `{"verifiableCredential": <credential or envelope>}`."""
        body = await _body(request)
        if isinstance(body, JSONResponse):
            return body
        if not isinstance(body, dict) or "verifiableCredential" not in body:
            return _problem(400, 'expected {"verifiableCredential": …}', "invalid_request")
        return _run("credential", body["verifiableCredential"], body.get("options"))

    @app.post("/presentations/verify", responses={400: {}, 413: {}})
    async def presentations_verify(request: Request) -> JSONResponse:
        """Verify a presentation: `{"verifiablePresentation": …, "options": {"challenge",
        "domain"}}`."""
        body = await _body(request)
        if isinstance(body, JSONResponse):
            return body
        if not isinstance(body, dict) or "verifiablePresentation" not in body:
            return _problem(400, 'expected {"verifiablePresentation": …}', "invalid_request")
        return _run("presentation", body["verifiablePresentation"], body.get("options"))

    if config.openid4vp is not None:
        from .openid4vp import create_router

        def _verify_with(item: Any, policy: VerificationPolicy) -> VerificationResult:
            data = item if isinstance(item, str) else json.dumps(item)
            start = time.perf_counter()
            result = verify(
                data,
                resolver=resolver,
                clock=config.clock,
                policy=policy,
                status=status,
                trust=trust,
            )
            metrics.observe("openid4vp", result, time.perf_counter() - start)
            return result

        app.include_router(
            create_router(
                config.openid4vp, verify=_verify_with, policy=config.policy, clock=config.clock
            )
        )

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready")
    def ready() -> JSONResponse:
        """Ready when the trust list (if one is configured) is current."""
        if trust is None:
            return JSONResponse({"status": "ready"})
        from ancre.trust.errors import AncreError

        try:
            current = trust.current()
        except AncreError as error:
            return JSONResponse({"status": "not ready", "reason": error.message}, status_code=503)
        return JSONResponse({"status": "ready", "trust_list": current.sequence})

    @app.get("/metrics", response_class=PlainTextResponse)
    def prometheus() -> str:
        return metrics.render()

    return app
