"""Abuse limits every ancre service shares (issue 17): a token bucket per client, and one
ASGI middleware that enforces, before any route runs, the request body limit and per-client
rate limits.

- **Body size.** A declared ``Content-Length`` over the limit is refused before a byte is
  read; a body that grows past it while streaming (chunked, or a client lying about its
  length) is cut as soon as it does, and whatever the route had started to answer is
  replaced by the refusal. Either way: 413, RFC 9457 problem ``input_too_large``. Routes keep
  their own (lower or equal) limits: this is the floor every route gets, including those
  that never read a body. On an OAuth endpoint (the service says which) the 413 carries the
  spec's body instead, ``{"error", "error_description"}``.
- **Rate.** A service names, per request, the bucket it falls in (``"login"``, ``"token"``,
  …) or none; each (bucket, client address) pair has its own token bucket. Past it: 429,
  problem ``rate_limited``, with ``Retry-After`` in whole seconds. The client address is the
  connection's peer: behind a reverse proxy every caller shares the proxy's address (limit
  there instead, or give the proxy a generous bucket).

Framework-free: the middleware speaks plain ASGI.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Final

from ancre.trust.errors import Code, ConfigurationError
from ancre.trust.problem import PROBLEM_MEDIA_TYPE, problem

__all__ = ["AbuseGuard", "RateLimit", "RateLimiter", "rate_limit_per_minute"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
#: Given a request's method and path: its rate-limit bucket, or None for no limit.
Classifier = Callable[[str, str], str | None]
#: Given a request's path: the OAuth error code its 413 must carry (an OAuth endpoint, whose
#: spec fixes the error body: RFC 6749 §5.2), or None for an RFC 9457 problem.
OAuthErrors = Callable[[str], str | None]
#: Given a request's path: the media type of a problem there (the VC-API's verify endpoints
#: send every body as ``application/json``), else ``application/problem+json``.
ProblemMedia = Callable[[str], str]

_MAX_CLIENTS: Final = 10_000


class RateLimiter:
    """A token bucket per client key (`burst` tokens, refilled at `per_minute`), over a
    bounded number of keys (the least recently seen are forgotten: a forgotten client starts
    again with a full bucket, which costs at most one burst)."""

    def __init__(self, *, burst: int, per_minute: int, max_clients: int = _MAX_CLIENTS) -> None:
        self._burst = float(burst)
        self._rate = per_minute / 60.0
        self._max = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str, now: float | None = None) -> int | None:
        """None when `key` may go ahead (one token taken); else the whole seconds to wait."""
        moment = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.pop(key, (self._burst, moment))
            tokens = min(self._burst, tokens + (moment - last) * self._rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, moment)
                allowed = True
            else:
                self._buckets[key] = (tokens, moment)
                allowed = False
            while len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
        return None if allowed else max(1, math.ceil((1.0 - tokens) / self._rate))


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Per client address and bucket: `burst` requests at once, refilled at `per_minute`."""

    burst: int = 30
    per_minute: int = 60

    def __post_init__(self) -> None:
        for name in ("burst", "per_minute"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10**6:
                raise ConfigurationError(f"rate limit {name} must be an integer from 1 to 10^6")


def rate_limit_per_minute(per_minute: int) -> RateLimit:
    """The command lines' ``--rate-limit N``: N a minute, bursts of N/2 (at least 1)."""
    return RateLimit(burst=max(1, per_minute // 2), per_minute=per_minute)


class _TooLargeError(Exception):
    """Raised into the route when its body passes the limit."""


class AbuseGuard:
    """ASGI middleware: the body limit (`max_body` bytes) on every HTTP request, and the
    rate limit `rate` on requests `classify` puts in a bucket (none when `rate` is None)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body: int,
        rate: RateLimit | None = None,
        classify: Classifier | None = None,
        oauth: OAuthErrors | None = None,
        problem_media: ProblemMedia | None = None,
    ) -> None:
        if max_body < 1:
            raise ConfigurationError("the body limit must be positive")
        self.app = app
        self.max_body = max_body
        self.rate = rate
        self.classify = classify
        self.oauth = oauth
        self.problem_media = problem_media
        self._limiters: dict[str, RateLimiter] = {}
        self._lock = threading.Lock()

    def _limiter(self, bucket: str, rate: RateLimit) -> RateLimiter:
        with self._lock:
            limiter = self._limiters.get(bucket)
            if limiter is None:
                limiter = RateLimiter(burst=rate.burst, per_minute=rate.per_minute)
                self._limiters[bucket] = limiter
            return limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.rate is not None and self.classify is not None:
            bucket = self.classify(scope.get("method", ""), scope.get("path", ""))
            if bucket is not None:
                client = scope.get("client")
                host = str(client[0]) if client else ""
                wait = self._limiter(bucket, self.rate).take(host)
                if wait is not None:
                    detail = f"too many {bucket} requests from this address; retry in {wait} s"
                    await _problem(send, 429, Code.RATE_LIMITED, detail, self._media(scope),
                                   {"retry-after": wait})  # fmt: skip
                    return
        declared = _content_length(scope)
        if declared is not None and (declared < 0 or declared > self.max_body):
            await self._too_large(scope, send)
            return
        await self._limited(scope, receive, send)

    def _media(self, scope: Scope) -> str:
        if self.problem_media is None:
            return PROBLEM_MEDIA_TYPE
        return self.problem_media(scope.get("path", ""))

    async def _too_large(self, scope: Scope, send: Send) -> None:
        detail = f"the request body is over {self.max_body} bytes"
        error = self.oauth(scope.get("path", "")) if self.oauth is not None else None
        if error is None:
            await _problem(send, 413, Code.INPUT_TOO_LARGE, detail, self._media(scope))
        else:
            body = json.dumps({"error": error, "error_description": detail}).encode()
            await _send(send, 413, body, "application/json")

    async def _limited(self, scope: Scope, receive: Receive, send: Send) -> None:
        size = 0
        over = started = False

        async def counted() -> Message:
            nonlocal size, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > self.max_body:
                    over = True
                    raise _TooLargeError
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if over:
                return  # the route's answer to a cut body is replaced by the refusal
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            # A framework may turn the cut into its own error (FastAPI: 400 "error parsing
            # the body"): once the body is over the limit, the refusal below is the answer.
            if not over:
                raise
        if over and not started:
            await self._too_large(scope, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() and len(text) <= 18 else -1
    return None


async def _problem(
    send: Send,
    status: int,
    code: Code,
    detail: str,
    media: str,
    extra: dict[str, int] | None = None,
) -> None:
    body = json.dumps(dict(problem(status, code, detail).body)).encode()
    await _send(send, status, body, media, extra)


async def _send(
    send: Send, status: int, body: bytes, media: str, extra: dict[str, int] | None = None
) -> None:
    headers = [
        (b"content-type", media.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    if status == 413:  # the client may still be sending: do not read the rest
        headers.append((b"connection", b"close"))
    headers += [(name.encode(), str(value).encode()) for name, value in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
