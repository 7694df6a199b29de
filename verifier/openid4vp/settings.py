"""How the OpenID4VP verifier identifies itself to wallets and bounds its transactions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final
from urllib.parse import urlsplit

from ancre.trust.did.document import did_of, parse_did
from ancre.trust.errors import ConfigurationError
from ancre.trust.keys.jwk import Signer

from .jwe import SUPPORTED_ENC
from .transactions import TransactionStore

__all__ = ["CLIENT_ID_PREFIX", "OpenID4VPSettings"]

CLIENT_ID_PREFIX: Final = "decentralized_identifier"


def _loopback(host: str | None) -> bool:
    return host in ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class OpenID4VPSettings:
    """How the verifier identifies itself to wallets and bounds its transactions.

    `key` signs Request Objects; `kid` is a DID URL of `did` naming that key (wallets resolve
    `did` and take the key `kid` names, §5.9.3). `base_url` is the public origin (and path
    prefix) wallets reach: `request_uri` and `response_uri` are built from it and never from
    a request's `Host`, which would let anyone get a signed request sending presentations
    elsewhere. It must be https (http only for a loopback host)."""

    key: Signer
    did: str
    kid: str
    base_url: str
    #: How long a wallet has to answer (and the signed Request Object's `exp`).
    transaction_ttl: timedelta = timedelta(minutes=5)
    #: How long a result (or the fact that a transaction expired) stays readable afterwards.
    result_ttl: timedelta = timedelta(minutes=10)
    #: Transactions kept (until their retention ends); beyond it new requests are refused
    #: (503).
    max_transactions: int = 10_000
    #: JWE `enc` values offered for `direct_post.jwt` (`encrypted_response_enc_values_supported`).
    enc_values: tuple[str, ...] = ("A128GCM", "A256GCM")
    #: Callers must send `Authorization: Bearer <api_token>` to create requests and read
    #: results. Required unless `open_backend` (issue 12, point 19: an open backend let
    #: anyone fill the transaction store until every caller got 503).
    api_token: str | None = field(default=None, repr=False)
    #: Serve the caller endpoints without a token: an explicit choice, e.g. behind a proxy
    #: that authenticates callers (mTLS). Creation stays rate-limited per client address.
    open_backend: bool = False
    #: Transactions one client (address) may create: a burst, refilled at this rate.
    create_burst: int = 30
    create_per_minute: int = 60
    #: Bodies larger than this are refused unread (413).
    max_body_bytes: int = 1024 * 1024
    #: Where transactions live. None: a `MemoryTransactionStore` per router (one process).
    #: Replicas share one `ancre.verifier.openid4vp.store.SqlTransactionStore` database.
    store: TransactionStore | None = None

    def __post_init__(self) -> None:
        parse_did(self.did)
        if did_of(self.kid) != self.did or "#" not in self.kid:
            raise ConfigurationError(f"kid {self.kid!r} must be a DID URL of {self.did}")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ConfigurationError("base_url must be an absolute https URL")
        if parts.scheme == "http" and not _loopback(parts.hostname):
            raise ConfigurationError("base_url must be https (http only on a loopback host)")
        if parts.query or parts.fragment:
            raise ConfigurationError("base_url must have no query or fragment")
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
        if not self.enc_values or any(e not in SUPPORTED_ENC for e in self.enc_values):
            raise ConfigurationError(f"enc_values must be among {sorted(SUPPORTED_ENC)}")
        if self.transaction_ttl <= timedelta(0) or self.result_ttl < timedelta(0):
            raise ConfigurationError("transaction_ttl must be positive, result_ttl not negative")
        if self.max_transactions < 1 or self.max_body_bytes < 1024:
            raise ConfigurationError("max_transactions >= 1 and max_body_bytes >= 1024")
        if self.api_token is not None and len(self.api_token) < 16:
            raise ConfigurationError("api_token must be at least 16 characters")
        if self.api_token is None and not self.open_backend:
            raise ConfigurationError(
                "the OpenID4VP caller endpoints need an api_token (or open_backend=True, "
                "e.g. behind an authenticating proxy)"
            )
        if self.api_token is not None and self.open_backend:
            raise ConfigurationError("open_backend contradicts the api_token given")
        if self.create_burst < 1 or self.create_per_minute < 1:
            raise ConfigurationError("create_burst and create_per_minute must be >= 1")

    @property
    def client_id(self) -> str:
        """The Client Identifier with its prefix (§5.9.1): what presentations are bound to."""
        return f"{CLIENT_ID_PREFIX}:{self.did}"
