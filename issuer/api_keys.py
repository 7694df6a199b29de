"""API keys stored hashed: the one implementation behind the VC-API's machine clients
(:mod:`ancre.issuer.clients`) and the admin API's keys (:mod:`ancre.issuer.admin_api`).

A key is ``<prefix><key id>.<secret>``: the key id (public, 16 hex digits) finds the row,
the secret (32 random bytes, base64url) is compared with its stored SHA-256 in constant
time. A high-entropy random secret needs no slow password hash: SHA-256 cannot be reversed
and there is nothing to guess. The key is shown once, when it is made; a lost key is
replaced by revoking its holder and adding a new one. Revocation is for good: the row
stays, so what its holder did remains attributable.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime
from typing import Any, ClassVar, Final, Generic, TypeVar

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute

from ancre.issuer.db import AdminKeyRow, ClientRow, session_factory, write_engine
from ancre.issuer.service import IssuerError
from ancre.trust.clock import Clock
from ancre.trust.errors import Code, ConfigurationError

__all__ = ["HashedKeyStore", "stamp"]

#: A holder's name: what operators type and what audit events name.
NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def stamp(moment: datetime) -> str:
    """A time as people and JSON read it: whole seconds, ``Z``."""
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("ascii")).hexdigest()


#: The tables of hashed keys (each has name, key_id, key_sha256, revoked_at).
_Row = TypeVar("_Row", ClientRow, AdminKeyRow)


class HashedKeyStore(Generic[_Row]):
    """The add / list / revoke / authenticate of one table of hashed keys. A subclass names
    its table (`row_class`), its key prefix, what its holders are called, and the code a
    second revocation gets; it builds the row and says what a holder looks like."""

    row_class: ClassVar[type[Any]]
    #: ``ancre_`` (VC-API clients) or ``ancre_admin_``.
    prefix: ClassVar[str]
    #: "client", "admin": in messages.
    noun: ClassVar[str]
    already_revoked: ClassVar[Code]

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._read = session_factory(engine)
        self._write = session_factory(write_engine(engine))
        self._clock = clock
        self._pattern = re.compile(re.escape(self.prefix) + r"([0-9a-f]{16})\.([A-Za-z0-9_-]{43})")

    def _check_name(self, name: object) -> None:
        if not isinstance(name, str) or not NAME.fullmatch(name):
            article = "an" if self.noun[0] in "aeiou" else "a"
            raise ConfigurationError(
                f"{article} {self.noun} name is 1-64 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )

    def _new_key(self) -> tuple[str, str, str]:
        """(key id, the secret's SHA-256, the whole key to show once)."""
        key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        return key_id, sha256_hex(secret), f"{self.prefix}{key_id}.{secret}"

    def _insert(self, row: _Row) -> None:
        try:
            with self._write() as session, session.begin():
                session.add(row)
        except IntegrityError:
            article = "an" if self.noun[0] in "aeiou" else "a"
            raise IssuerError(
                Code.CONFLICT, f"{article} {self.noun} named {row.name!r} exists already", 409
            ) from None

    def _rows(self) -> list[_Row]:
        """Every holder, revoked ones included, by name."""
        name: InstrumentedAttribute[str] = self.row_class.name
        with self._read() as session:
            return list(session.execute(select(self.row_class).order_by(name)).scalars())

    def _revoke(self, name: str) -> _Row:
        now = self._clock.now()
        with self._write() as session, session.begin():
            row: _Row | None = session.get(self.row_class, name, with_for_update=True)
            if row is None:
                raise IssuerError(Code.NOT_FOUND, f"no {self.noun} named {name!r}", 404)
            if row.revoked_at is not None:
                raise IssuerError(
                    self.already_revoked, f"the {self.noun} {name!r} is already revoked", 409
                )
            session.execute(
                update(self.row_class).where(self.row_class.name == name).values(revoked_at=now)
            )
            row.revoked_at = now
            return row

    def _authenticate(self, api_key: object) -> _Row | None:
        """The live holder's row for this key, else None (unknown, wrong or revoked)."""
        match = self._pattern.fullmatch(api_key) if isinstance(api_key, str) else None
        # Hash even a malformed key: the time taken says nothing about what was wrong.
        presented = sha256_hex(match.group(2) if match else "-")
        if match is None:
            return None
        with self._read() as session:
            row: _Row | None = session.execute(
                select(self.row_class).where(self.row_class.key_id == match.group(1))
            ).scalar_one_or_none()
        stored = row.key_sha256 if row is not None else sha256_hex("no such key")
        if not hmac.compare_digest(presented, stored) or row is None or row.revoked_at:
            return None
        return row
