"""VC-API machine clients: API keys stored hashed, each allowed one issuer and a set of
credential types.

An API key is ``ancre_<key id>.<secret>``, stored hashed (:mod:`ancre.issuer.api_keys`,
shared with the admin API's keys): shown once, when the client is added; a lost key is
replaced by revoking the client and adding a new one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from ancre.issuer.api_keys import HashedKeyStore, stamp
from ancre.issuer.db import ClientRow, VcApiCredentialRow
from ancre.issuer.templates import TEMPLATES
from ancre.trust.errors import Code, ConfigurationError

__all__ = [
    "VC_API_TYPES",
    "AddedClient",
    "Client",
    "ClientRow",
    "ClientStore",
    "VcApiCredentialRow",
]

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
            "created_at": stamp(self.created_at),
            "revoked_at": None if self.revoked_at is None else stamp(self.revoked_at),
        }


@dataclass(frozen=True, slots=True)
class AddedClient:
    """A new client and its API key (shown once, stored hashed)."""

    client: Client
    api_key: str


def _client(row: ClientRow) -> Client:
    return Client(
        row.name, row.issuer_id, tuple(json.loads(row.types_json)), row.created_at, row.revoked_at
    )


class ClientStore(HashedKeyStore[ClientRow]):
    """The issuer's VC-API clients, in its database."""

    row_class = ClientRow
    prefix = "ancre_"
    noun = "client"
    already_revoked = Code.CONFLICT

    def add(self, name: str, *, issuer_id: str, types: tuple[str, ...], actor: str) -> AddedClient:
        """Add a client allowed to issue `types` (configuration ids of ``vc+jwt``
        templates) naming `issuer_id` as issuer. Returns its API key, never stored."""
        self._check_name(name)
        if not types:
            raise ConfigurationError("a client must be allowed at least one credential type")
        unknown = sorted(set(types) - set(VC_API_TYPES))
        if unknown:
            raise ConfigurationError(
                f"the VC-API issues {', '.join(VC_API_TYPES)}; not {', '.join(unknown)}"
            )
        key_id, digest, api_key = self._new_key()
        row = ClientRow(
            name=name,
            key_id=key_id,
            key_sha256=digest,
            issuer_id=issuer_id,
            types_json=json.dumps(sorted(set(types))),
            created_at=self._clock.now(),
            created_by=actor[:256],
            revoked_at=None,
        )
        self._insert(row)
        return AddedClient(_client(row), api_key)

    def list(self) -> list[Client]:
        """Every client, revoked ones included, by name."""
        return [_client(r) for r in self._rows()]

    def revoke(self, name: str) -> Client:
        """Revoke a client's key for good (its credentials stay valid)."""
        return _client(self._revoke(name))

    def authenticate(self, api_key: str) -> Client | None:
        """The live client whose key this is, else None (unknown, wrong or revoked key)."""
        row = self._authenticate(api_key)
        return None if row is None else _client(row)
