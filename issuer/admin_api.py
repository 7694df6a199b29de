"""The issuer's admin API: the operator's revocation power over HTTP.

- ``POST /admin/credentials/{id}/status`` with ``{"action": "revoke" | "suspend" |
  "reinstate"}``: changes the status of any credential this issuer issued (OpenID4VCI,
  VC-API or library), re-signs its status list; 200 ``{"id", "state", "by"}``.
- ``GET /admin/credentials/{id}``: the credential's record (``ancre issuer show``'s:
  metadata, status entries, history; never a claim).

Both under the issuer's path, both authenticated by an admin API key (``Authorization:
Bearer ancre_admin_<key id>.<secret>``) made by ``ancre issuer admin-key add NAME`` and
stored hashed like the VC-API clients' keys (:mod:`ancre.issuer.clients`): shown once, a
SHA-256 of the secret kept, compared in constant time. Every change is audited with the
admin's name (actor ``admin:NAME``). Refusals are RFC 9457 problems
(``application/problem+json``, ``urn:ancre:error:<code>``): 401 ``unauthorized``, 400
``invalid_request``, 404 ``credential_not_found``, 409 ``already_in_state``.

:class:`AdminKeyStore` is the library part (no HTTP); :func:`admin_router` the FastAPI
routes that ``ancre.issuer.api.create_app`` mounts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, TypeVar, cast

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from ancre.issuer.api_keys import HashedKeyStore, stamp
from ancre.issuer.db import AdminKeyRow
from ancre.issuer.service import Issuer, IssuerError, StatusAction, internal_error
from ancre.trust.codec.json import loads_strict
from ancre.trust.errors import AncreError, Code, InternalError
from ancre.trust.net.inbound import read_limited
from ancre.trust.problem import problem

__all__ = ["AddedAdminKey", "AdminKey", "AdminKeyStore", "admin_router"]

_MAX_BODY: Final = 4096
_MAX_ID: Final = 128  # the issued_credentials.id column
_ACTIONS: Final = ("revoke", "suspend", "reinstate")
_NO_STORE: Final = {"Cache-Control": "no-store"}
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class AdminKey:
    """An admin key's holder (never the key)."""

    name: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "created_at": stamp(self.created_at),
            "created_by": self.created_by,
            "revoked_at": None if self.revoked_at is None else stamp(self.revoked_at),
        }


@dataclass(frozen=True, slots=True)
class AddedAdminKey:
    """A new admin and its API key (shown once, stored hashed)."""

    admin: AdminKey
    api_key: str


def _admin(row: AdminKeyRow) -> AdminKey:
    return AdminKey(row.name, row.created_at, row.created_by, row.revoked_at)


class AdminKeyStore(HashedKeyStore[AdminKeyRow]):
    """The issuer's admin API keys, in its database."""

    row_class = AdminKeyRow
    prefix = "ancre_admin_"
    noun = "admin"
    already_revoked = Code.ALREADY_IN_STATE

    def add(self, name: str, *, actor: str) -> AddedAdminKey:
        """Add an admin; returns its API key, never stored."""
        self._check_name(name)
        key_id, digest, api_key = self._new_key()
        row = AdminKeyRow(
            name=name,
            key_id=key_id,
            key_sha256=digest,
            created_at=self._clock.now(),
            created_by=actor[:256],
            revoked_at=None,
        )
        self._insert(row)
        return AddedAdminKey(_admin(row), api_key)

    def list(self) -> list[AdminKey]:
        """Every admin, revoked ones included, by name."""
        return [_admin(r) for r in self._rows()]

    def revoke(self, name: str) -> AdminKey:
        """Revoke an admin's key for good (the changes it made stay)."""
        return _admin(self._revoke(name))

    def authenticate(self, api_key: str) -> AdminKey | None:
        """The live admin whose key this is, else None (unknown, wrong or revoked key)."""
        row = self._authenticate(api_key)
        return None if row is None else _admin(row)


# -- HTTP ------------------------------------------------------------------------------------


def _problem(status: int, code: Code | str, detail: str) -> JSONResponse:
    headers = dict(_NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="ancre-admin"'
    return problem(status, code, detail).response(JSONResponse, headers=headers)


def _admitted(admins: AdminKeyStore, request: Request, credential_id: str) -> AdminKey:
    """The admin whose key authorizes `request` (401 otherwise), for a credential id that
    may exist (404 otherwise). Authentication first: an unauthenticated caller learns
    nothing, not even whether its body or the credential id would do."""
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not 0 < len(key) <= 128:
        raise IssuerError(Code.UNAUTHORIZED, "an admin API key is required (Bearer)", 401)
    admin = admins.authenticate(key.strip())
    if admin is None:
        raise IssuerError(Code.UNAUTHORIZED, "the admin API key is unknown, wrong or revoked", 401)
    if not 0 < len(credential_id) <= _MAX_ID:
        raise IssuerError(Code.CREDENTIAL_NOT_FOUND, "no such credential", 404)
    return admin


async def _action(request: Request) -> StatusAction:
    """The ``action`` of a status request's strict-JSON body."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise IssuerError(Code.INVALID_REQUEST, "the request body must be application/json", 415)
    raw = await read_limited(request, _MAX_BODY)
    if raw is None:
        raise IssuerError(Code.INPUT_TOO_LARGE, f"the body is over {_MAX_BODY} bytes", 413)
    try:
        body = loads_strict(raw, what="request body")
    except AncreError as error:
        raise IssuerError(error.code, error.message, 400) from None
    if not isinstance(body, dict) or set(body) != {"action"} or body["action"] not in _ACTIONS:
        raise IssuerError(
            Code.INVALID_REQUEST, f'expected {{"action": one of {list(_ACTIONS)}}}', 400
        )
    return cast(StatusAction, body["action"])


def admin_router(issuer: Issuer, prefix: str) -> APIRouter:
    """The admin routes under the issuer's path `prefix`."""
    from ancre.issuer.records import credential_record

    router = APIRouter()
    admins = AdminKeyStore(issuer.engine, issuer.clock)

    async def call(fn: Callable[..., _T], *args: Any) -> _T:
        return await run_in_threadpool(fn, *args)

    async def guarded(request: Request, credential_id: str, fn: Any) -> Response:
        try:
            admin = await call(_admitted, admins, request, credential_id)
            result: Response = await fn(admin)
        except IssuerError as error:
            return _problem(error.status, error.code, error.message)
        except InternalError as error:
            return _problem(500, error.code, internal_error(error))
        except AncreError as error:
            return _problem(400, error.code, error.message)
        return result

    @router.post(prefix + "/admin/credentials/{credential_id}/status")
    async def change_status(credential_id: str, request: Request) -> Response:
        async def run(admin: AdminKey) -> Response:
            action = await _action(request)
            actor = f"admin:{admin.name}"
            state = await call(lambda: issuer.set_status(credential_id, action, actor=actor))
            return JSONResponse(
                {"id": credential_id, "state": state, "by": actor}, headers=_NO_STORE
            )

        return await guarded(request, credential_id, run)

    @router.get(prefix + "/admin/credentials/{credential_id}")
    async def show(credential_id: str, request: Request) -> Response:
        async def run(_admin: AdminKey) -> Response:
            record = await call(credential_record, issuer, credential_id)
            return JSONResponse(record, headers=_NO_STORE)

        return await guarded(request, credential_id, run)

    return router
