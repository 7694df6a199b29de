"""What every registry route shares: the registry, the signing key, and the bearer-token
dependencies that turn a request into an authenticated `Caller` of at least a role."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse

from ancre.trust.errors import Code
from ancre.trust.keys.jwk import Signer
from ancre.trust.problem import problem

from ..service import Registry, Role

_RANK = {Role.VIEWER: 0, Role.EDITOR: 1, Role.APPROVER: 2}


def problem_response(status: int, title: str, detail: str, code: Code | str) -> JSONResponse:
    return problem(status, code, detail, title=title).response(JSONResponse)


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated administrator: the person holding the token, and its role."""

    person: str
    role: Role


class AuthError(Exception):
    """No valid bearer token (401), or one whose role is too low (403)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def caller(registry: Registry, minimum: Role) -> Callable[..., Caller]:
    """A dependency: the `Caller` behind the request's bearer token, of at least `minimum`."""

    def dependency(
        request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> Caller:
        # The token is compared by hash and never logged or echoed.
        scheme, _, token = (authorization or "").partition(" ")
        found = registry.authenticate(token) if scheme.lower() == "bearer" and token else None
        if found is None:
            raise AuthError(401, "a valid bearer token is required")
        person, role = found
        if _RANK[role] < _RANK[minimum]:
            raise AuthError(403, f"this needs the {minimum} role; the token is {role}")
        if request.method == "GET":
            # Changes are audited by the service; reads land in the access log, outside
            # the hash chain (issue 12 point 4).
            registry.record_access(person, request.method, request.url.path)
        return Caller(person, role)

    return dependency


@dataclass(frozen=True, slots=True)
class RouteContext:
    """The state the routers share. `viewer`, `editor` and `approver` are `Depends(…)`
    defaults: a route parameter `who: Caller = context.editor` needs at least that role."""

    registry: Registry
    #: The registry's key: without it, publishing and checkpoints answer 503.
    signer: Signer | None
    viewer: Any
    editor: Any
    approver: Any

    @classmethod
    def build(cls, registry: Registry, signer: Signer | None) -> RouteContext:
        return cls(
            registry,
            signer,
            viewer=Depends(caller(registry, Role.VIEWER)),
            editor=Depends(caller(registry, Role.EDITOR)),
            approver=Depends(caller(registry, Role.APPROVER)),
        )
