"""Load: concurrent workers over one async httpx pool, each request's latency and outcome
recorded in a `Tally`; a `Window` says when a fault is being injected, so that what fails
then is counted as a fault absorbed, not as a steady-state error."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx


@dataclass
class Window:
    """Whether a fault is being injected (set by the injector), and whether an outage of the
    database is (503 + Retry-After is then the only clean refusal)."""

    fault: bool = False
    outage: bool = False


@dataclass
class Tally:
    """What one phase's clients saw."""

    latencies: list[float] = field(default_factory=list)
    #: The same, per endpoint ("POST /token"): the issuer's flow mixes three.
    endpoints: dict[str, list[float]] = field(default_factory=dict)
    ok: int = 0
    errors: int = 0  # outside a fault window: a failure of the service under load
    absorbed: int = 0  # failed while a fault was injected (process dead, database down)
    clean_503: int = 0  # 503 with Retry-After during a database outage
    unclean: int = 0  # during an outage: anything but 2xx or a clean 503
    statuses: Counter[str] = field(default_factory=Counter)
    #: The first failure of each kind (method, path, outcome), for the reader.
    samples: dict[str, str] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return self.ok + self.errors + self.absorbed

    def note(self, what: str, kind: str = "") -> None:
        kind = kind or what[:80]
        if kind not in self.samples and len(self.samples) < 10:
            self.samples[kind] = what[:300]

    def percentile(self, q: float, latencies: list[float] | None = None) -> float | None:
        """Milliseconds; nearest rank."""
        values = self.latencies if latencies is None else latencies
        if not values:
            return None
        ordered = sorted(values)
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "ok": self.ok,
            "errors": self.errors,
            "faults_absorbed": self.absorbed,
            "clean_503": self.clean_503,
            "unclean_during_outage": self.unclean,
            "p50_ms": self.percentile(0.50),
            "p99_ms": self.percentile(0.99),
            "endpoints": {
                name: {
                    "ok": len(values),
                    "p50_ms": self.percentile(0.50, values),
                    "p99_ms": self.percentile(0.99, values),
                }
                for name, values in sorted(self.endpoints.items())
            },
            "statuses": dict(sorted(self.statuses.items())),
            "failure_samples": list(self.samples.values()),
        }


class RequestFailedError(Exception):
    """A request that did not get the answer expected: ends this iteration of the worker."""


async def call(
    http: httpx.AsyncClient,
    tally: Tally,
    window: Window,
    method: str,
    url: str,
    *,
    expect: int,
    **kwargs: Any,
) -> httpx.Response:
    """One request: timed, classified; raises `RequestFailedError` unless its status is
    `expect`."""
    start = time.perf_counter()
    try:
        response = await http.request(method, url, **kwargs)
    except httpx.HTTPError as error:
        label = f"transport:{type(error).__name__}"
        _failure(
            tally, window, label, f"{method} {url}: {label} {error}", _kind(method, url, label)
        )
        if window.outage:
            tally.unclean += 1
            tally.note(
                f"during the outage: {method} {url}: {label} {error}", _kind(method, url, label)
            )
        raise RequestFailedError(label) from error
    elapsed = time.perf_counter() - start
    status = response.status_code
    tally.statuses[str(status)] += 1
    if status == expect:
        tally.ok += 1
        tally.latencies.append(elapsed)
        tally.endpoints.setdefault(f"{method} {urlsplit(url).path}", []).append(elapsed)
        return response
    if window.outage:
        if status == 503 and response.headers.get("retry-after"):
            tally.clean_503 += 1
        else:
            tally.unclean += 1
            tally.note(
                f"during the outage: {method} {url} -> {status} {response.text[:200]}",
                _kind(method, url, str(status)),
            )
    _failure(
        tally,
        window,
        str(status),
        f"{method} {url} -> {status} {response.text[:200]}",
        _kind(method, url, str(status)),
    )
    raise RequestFailedError(str(status))


def _kind(method: str, url: str, outcome: str) -> str:
    return f"{method} {urlsplit(url).path} {outcome}"


def _failure(tally: Tally, window: Window, label: str, what: str, kind: str) -> None:
    if label.startswith("transport:"):
        tally.statuses[label] += 1
    if window.fault:
        tally.absorbed += 1
    else:
        tally.errors += 1
        tally.note(what, kind)


Operation = Callable[[httpx.AsyncClient, Tally, Window], Awaitable[None]]


async def drive(
    http: httpx.AsyncClient,
    operation: Operation,
    tally: Tally,
    window: Window,
    stop: asyncio.Event,
    concurrency: int,
) -> None:
    """`concurrency` workers repeating `operation` until `stop`."""

    async def worker() -> None:
        while not stop.is_set():
            try:
                await operation(http, tally, window)
            except RequestFailedError:
                await asyncio.sleep(0.05 if window.fault else 0)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
