"""The registry API's routes: one `APIRouter` per concern, each built by a function from the
`RouteContext` the routes share (the registry, its signing key, the role dependencies).
`ancre.registry.api.create_app` assembles them; it alone owns the app and its error
handlers."""

from __future__ import annotations

from .admin import anchors_router, changes_router, governance_router, issuers_router, tokens_router
from .context import AuthError, Caller, RouteContext, problem_response
from .public import health_router, public_router, trust_anchor_router

__all__ = [
    "AuthError",
    "Caller",
    "RouteContext",
    "anchors_router",
    "changes_router",
    "governance_router",
    "health_router",
    "issuers_router",
    "problem_response",
    "public_router",
    "tokens_router",
    "trust_anchor_router",
]
