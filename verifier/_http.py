"""HTTP plumbing the verifier's endpoints share."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict

__all__ = ["RateLimiter"]


class RateLimiter:
    """A token bucket per client key (`burst` tokens, refilled at `per_minute`), over a
    bounded number of keys (the least recently seen are forgotten: a forgotten client starts
    again with a full bucket, which costs at most one burst)."""

    def __init__(self, *, burst: int, per_minute: int, max_clients: int = 10_000) -> None:
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
