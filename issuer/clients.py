"""VC-API machine clients: API keys stored hashed, each allowed one issuer and a set of
credential types.

An API key is ``ancre_<key id>.<secret>``: the key id (public, 16 hex digits) finds the
client's row, the secret (32 random bytes) is compared with its stored SHA-256 in constant
time. A high-entropy random secret needs no slow password hash: SHA-256 cannot be reversed
and there is nothing to guess. The key is shown once, when the client is added; a lost key
is replaced by revoking the client and adding a new one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from ancre.issuer.db import ClientRow, VcApiCredentialRow, session_factory, write_engine
from ancre.issuer.service import IssuerError
from ancre.issuer.templates import TEMPLATES
from ancre.trust.clock import Clock
from ancre.trust.errors import Code, ConfigurationError

__all__ = [
    "VC_API_TYPES",
    "AddedClient",
    "Client",
    "ClientRow",
    "ClientStore",
    "VcApiCredentialRow",
]

_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_KEY: Final = re.compile(r"ancre_([0-9a-f]{16})\.([A-Za-z0-9_-]{43})")
#: The credential configurations the VC-API issues: the VCDM 2.0 (``vc+jwt``) templates. An
#: SD-JWT VC is bound to a wallet key proven over OpenID4VCI, which a machine client has not.
VC_API_TYPES: Final = tuple(sorted(t for t, v in TEMPLATES.items() if v.format == "vc+jwt"))


@dataclass(frozen=True, slots=True)
class Client:
    """An authenticated (or listed) client."""

    name: str
    issuer_id: str
    types: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "issuer_id": self.issuer_id,
            "types": list(self.types),
            "created_at": _stamp(self.created_at),
            "revoked_at": None if self.revoked_at is None else _stamp(self.revoked_at),
        }


@dataclass(frozen=True, slots=True)
class AddedClient:
    """A new client and its API key (shown once, stored hashed)."""

    client: Client
    api_key: str


def _stamp(moment: datetime) -> str:
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode("ascii")).hexdigest()


def _client(row: ClientRow) -> Client:
    return Client(
        row.name, row.issuer_id, tuple(json.loads(row.types_json)), row.created_at, row.revoked_at
    )


class ClientStore:
    """The issuer's VC-API clients, in its database."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._read = session_factory(engine)
        self._write = session_factory(write_engine(engine))
        self._clock = clock

    def add(self, name: str, *, issuer_id: str, types: tuple[str, ...], actor: str) -> AddedClient:
        """Add a client allowed to issue `types` (configuration ids of ``vc+jwt``
        templates) naming `issuer_id` as issuer. Returns its API key, never stored."""
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ConfigurationError(
                "a client name is 1-64 letters, digits, '.', '_' or '-', starting with a "
                "letter or digit"
            )
        if not types:
            raise ConfigurationError("a client must be allowed at least one credential type")
        unknown = sorted(set(types) - set(VC_API_TYPES))
        if unknown:
            raise ConfigurationError(
                f"the VC-API issues {', '.join(VC_API_TYPES)}; not {', '.join(unknown)}"
            )
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        now = self._clock.now()
        row = ClientRow(
            name=name,
            key_id=key_id,
            key_sha256=_sha256(secret),
            issuer_id=issuer_id,
            types_json=json.dumps(sorted(set(types))),
            created_at=now,
            created_by=actor[:256],
            revoked_at=None,
        )
        try:
            with self._write() as session, session.begin():
                session.add(row)
        except IntegrityError:
            raise IssuerError(
                Code.CONFLICT, f"a client named {name!r} exists already", 409
            ) from None
        return AddedClient(_client(row), f"ancre_{key_id}.{secret}")

    def list(self) -> list[Client]:
        """Every client, revoked ones included, by name."""
        with self._read() as session:
            rows = session.execute(select(ClientRow).order_by(ClientRow.name)).scalars()
            return [_client(r) for r in rows]

    def revoke(self, name: str) -> Client:
        """Revoke a client's key for good (its credentials stay valid)."""
        now = self._clock.now()
        with self._write() as session, session.begin():
            row = session.get(ClientRow, name, with_for_update=True)
            if row is None:
                raise IssuerError(Code.NOT_FOUND, f"no client named {name!r}", 404)
            if row.revoked_at is not None:
                raise IssuerError(Code.CONFLICT, f"the client {name!r} is already revoked", 409)
            session.execute(update(ClientRow).where(ClientRow.name == name).values(revoked_at=now))
            row.revoked_at = now
            return _client(row)

    def authenticate(self, api_key: str) -> Client | None:
        """The live client whose key this is, else None (unknown, wrong or revoked key)."""
        match = _KEY.fullmatch(api_key) if isinstance(api_key, str) else None
        # Hash even a malformed key: the time taken says nothing about what was wrong.
        presented = _sha256(match.group(2) if match else "-")
        if match is None:
            return None
        with self._read() as session:
            row = session.execute(
                select(ClientRow).where(ClientRow.key_id == match.group(1))
            ).scalar_one_or_none()
        stored = row.key_sha256 if row is not None else _sha256("no such key")
        if not hmac.compare_digest(presented, stored) or row is None or row.revoked_at:
            return None
        return _client(row)
