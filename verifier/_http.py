"""HTTP plumbing the verifier's endpoints share (the token bucket now lives in
``ancre.storage.abuse``, shared with the issuer and the registry)."""

from __future__ import annotations

from ancre.storage.abuse import RateLimiter

__all__ = ["RateLimiter"]
