"""The wallet-facing refusal shared by the response readers (form, JWE, parameters)."""

from __future__ import annotations

__all__ = ["RefusedError"]


class RefusedError(Exception):
    """A wallet-facing refusal: an OAuth `invalid_request` with this description. Raised
    before the transaction is claimed, so it changes nothing (nobody can burn someone
    else's transaction with a bad response)."""
