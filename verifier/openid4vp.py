"""OpenID4VP 1.0 verifier endpoints (placeholder: being written)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter

from ancre.trust.clock import Clock
from ancre.trust.policy import VerificationPolicy
from ancre.trust.result import VerificationResult

__all__ = ["OpenID4VPSettings", "create_router"]


@dataclass(frozen=True)
class OpenID4VPSettings:
    """How the verifier identifies itself to wallets (to be completed)."""


def create_router(
    settings: OpenID4VPSettings,
    *,
    verify: Callable[[Any, VerificationPolicy], VerificationResult],
    policy: VerificationPolicy,
    clock: Clock,
) -> APIRouter:
    raise NotImplementedError
