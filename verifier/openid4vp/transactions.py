"""OpenID4VP transactions: their life cycle (pending → processing → done, then forgotten
when their retention ends), the stores that keep them, and the signed Request Object
(RFC 9101 JAR) a wallet fetches for one.

Two random identifiers per transaction, as in the spec's reference design (§13.3, §14.3.3):
the *request id* is public (it is in the QR code, the `request_uri` and the `response_uri`),
the *transaction id* is returned only to the caller and is the only key to the result, so
whoever scans the QR code cannot read what the wallet sent. `state` and `nonce` are fresh
256-bit values.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, Final, Protocol
from urllib.parse import quote

from cryptography.hazmat.primitives.asymmetric import ec

from ancre.trust.codec.json import dumps_compact
from ancre.trust.errors import ConfigurationError
from ancre.trust.jose.jws import sign_compact
from ancre.trust.keys.jwk import PublicKey
from ancre.trust.sd_jwt.vc import FORMAT_SD_JWT_VC

from .dcql import FORMAT_JWT_VC_JSON, DcqlQuery
from .jwe import JWE_ALG

if TYPE_CHECKING:
    from .settings import OpenID4VPSettings

__all__ = [
    "ALREADY_ANSWERED",
    "DIRECT_POST_JWT",
    "EXPIRED",
    "REQUEST_OBJECT_AUDIENCE",
    "REQUEST_OBJECT_MEDIA_TYPE",
    "REQUEST_OBJECT_TYP",
    "RESPONSE_MODES",
    "MemoryTransactionStore",
    "Phase",
    "Transaction",
    "TransactionStore",
    "TransactionStoreError",
    "authorization_request",
    "new_transaction",
    "request_object_uri",
    "response_uri",
    "sign_request_object",
]

#: RFC 9101 §4 / OpenID4VP §5: the `typ` of a Request Object (wallets refuse any other).
REQUEST_OBJECT_TYP: Final = "oauth-authz-req+jwt"
REQUEST_OBJECT_MEDIA_TYPE: Final = "application/oauth-authz-req+jwt"
#: §5.8: the `aud` of a Request Object when the wallet is known by static metadata only.
REQUEST_OBJECT_AUDIENCE: Final = "https://self-issued.me/v2"
DIRECT_POST_JWT: Final = "direct_post.jwt"
RESPONSE_MODES: Final = frozenset({"direct_post", DIRECT_POST_JWT})
ALREADY_ANSWERED: Final = "this request has already been answered"
EXPIRED: Final = "this request has expired"


class Phase(Enum):
    PENDING = "pending"
    PROCESSING = "processing"
    DONE = "done"


@dataclass(slots=True, eq=False)
class Transaction:
    """One OpenID4VP transaction. A store may hand out copies: `phase` and `result` are read
    through `TransactionStore.snapshot`, and changed only by `claim` and `finish`."""

    transaction_id: str
    request_id: str
    query: DcqlQuery
    response_mode: str
    request_uri_method: str
    nonce: str
    state: str
    expires_at: datetime
    retained_until: datetime
    enc_key: ec.EllipticCurvePrivateKey | None = field(default=None, repr=False)
    enc_kid: str | None = None
    phase: Phase = Phase.PENDING
    result: dict[str, Any] | None = None
    #: A verifier profile checked over the whole answer (`onboarding.PROFILES`), or None.
    profile: str | None = None


class TransactionStoreError(ConfigurationError):
    """The store holds a transaction this verifier cannot use (its encryption key does not
    decrypt with the configured secret): a deployment error, never the client's."""


class TransactionStore(Protocol):
    """Where transactions live from creation until their retention ends.

    A transaction is visible (by either id) while `now < retained_until`; `claim` is the one
    atomic pending → processing step, and must succeed for exactly one caller however many
    processes share the store. Methods may block on I/O: the router calls them from worker
    threads. `now` is always the app's clock."""

    def add(self, tx: Transaction, now: datetime, limit: int) -> bool:
        """Keep `tx`, unless `limit` transactions are still retained (then False; nothing
        is evicted to make room)."""
        ...

    def by_transaction(self, transaction_id: str, now: datetime) -> Transaction | None: ...

    def by_request(self, request_id: str, now: datetime) -> Transaction | None: ...

    def claim(self, tx: Transaction, now: datetime) -> str | None:
        """Move a pending, unexpired transaction to processing; else say why not."""
        ...

    def finish(self, tx: Transaction, result: dict[str, Any]) -> None:
        """Record the verdict of a claimed transaction (phase done)."""
        ...

    def snapshot(self, tx: Transaction) -> tuple[Phase, dict[str, Any] | None]:
        """The transaction's current phase and result."""
        ...

    def purge(self, now: datetime) -> int:
        """Forget the transactions whose retention has ended; how many were removed."""
        ...


class MemoryTransactionStore:
    """Transactions in process memory by transaction id and by request id; thread-safe.
    For one process only (development, tests): replicas need a shared store
    (`ancre.verifier.openid4vp.store.SqlTransactionStore`). Insertion order is retention order
    (one TTL for all)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_transaction: OrderedDict[str, Transaction] = OrderedDict()
        self._by_request: dict[str, Transaction] = {}

    def _purge(self, now: datetime) -> int:
        removed = 0
        while self._by_transaction:
            oldest = next(iter(self._by_transaction.values()))
            if oldest.retained_until > now:
                break
            self._by_transaction.popitem(last=False)
            self._by_request.pop(oldest.request_id, None)
            removed += 1
        return removed

    def purge(self, now: datetime) -> int:
        with self._lock:
            return self._purge(now)

    def add(self, tx: Transaction, now: datetime, limit: int) -> bool:
        with self._lock:
            self._purge(now)
            if len(self._by_transaction) >= limit:
                return False
            self._by_transaction[tx.transaction_id] = tx
            self._by_request[tx.request_id] = tx
            return True

    def by_transaction(self, transaction_id: str, now: datetime) -> Transaction | None:
        with self._lock:
            self._purge(now)
            return self._by_transaction.get(transaction_id)

    def by_request(self, request_id: str, now: datetime) -> Transaction | None:
        with self._lock:
            self._purge(now)
            return self._by_request.get(request_id)

    def claim(self, tx: Transaction, now: datetime) -> str | None:
        with self._lock:
            if tx.phase is not Phase.PENDING:
                return ALREADY_ANSWERED
            if now >= tx.expires_at:
                return EXPIRED
            tx.phase = Phase.PROCESSING
            return None

    def finish(self, tx: Transaction, result: dict[str, Any]) -> None:
        with self._lock:
            tx.result = result
            tx.phase = Phase.DONE

    def snapshot(self, tx: Transaction) -> tuple[Phase, dict[str, Any] | None]:
        with self._lock:
            return tx.phase, tx.result


# ------------------------------------------------------------------------------------------
# a new transaction and its Request Object


def new_transaction(
    settings: OpenID4VPSettings,
    query: DcqlQuery,
    response_mode: str,
    method: str,
    now: datetime,
    profile: str | None = None,
) -> Transaction:
    """A pending transaction with fresh identifiers, `nonce` and `state` (and, for
    direct_post.jwt, its own encryption key)."""
    expires = now + settings.transaction_ttl
    tx = Transaction(
        transaction_id=secrets.token_urlsafe(32),
        request_id=secrets.token_urlsafe(32),
        query=query,
        response_mode=response_mode,
        request_uri_method=method,
        nonce=secrets.token_urlsafe(32),
        state=secrets.token_urlsafe(32),
        expires_at=expires,
        retained_until=expires + settings.result_ttl,
        profile=profile,
    )
    if response_mode == DIRECT_POST_JWT:
        # §8.3: an ephemeral key per request, so a response can only be read here.
        tx.enc_key = ec.generate_private_key(ec.SECP256R1())
        tx.enc_kid = PublicKey(tx.enc_key.public_key()).thumbprint()
    return tx


def request_object_uri(settings: OpenID4VPSettings, tx: Transaction) -> str:
    """The `request_uri`, built from the configured public origin (never from `Host`)."""
    return f"{settings.base_url}/openid4vp/request-objects/{tx.request_id}"


def response_uri(settings: OpenID4VPSettings, tx: Transaction) -> str:
    """The `response_uri` (§8.2) the wallet posts its Authorization Response to."""
    return f"{settings.base_url}/openid4vp/responses/{tx.request_id}"


def authorization_request(settings: OpenID4VPSettings, tx: Transaction) -> str:
    """The `openid4vp://` invocation (a QR code or a link) that names the Request Object."""
    invocation = f"openid4vp://?client_id={quote(settings.client_id, safe='')}"
    invocation += f"&request_uri={quote(request_object_uri(settings, tx), safe='')}"
    if tx.request_uri_method == "post":
        invocation += "&request_uri_method=post"
    return invocation


def _client_metadata(
    settings: OpenID4VPSettings, tx: Transaction, algorithms: Iterable[str]
) -> dict[str, Any]:
    algs = sorted(algorithms)
    metadata: dict[str, Any] = {
        "vp_formats_supported": {
            FORMAT_SD_JWT_VC: {"sd-jwt_alg_values": algs, "kb-jwt_alg_values": algs},
            FORMAT_JWT_VC_JSON: {"alg_values": algs},
        }
    }
    if tx.enc_key is not None:
        jwk: dict[str, Any] = PublicKey(tx.enc_key.public_key()).to_jwk()
        jwk.update({"use": "enc", "alg": JWE_ALG, "kid": tx.enc_kid})
        metadata["jwks"] = {"keys": [jwk]}
        metadata["encrypted_response_enc_values_supported"] = list(settings.enc_values)
    return metadata


def sign_request_object(
    settings: OpenID4VPSettings,
    tx: Transaction,
    *,
    now: datetime,
    algorithms: Iterable[str],
    wallet_nonce: str | None = None,
) -> str:
    """The signed Request Object (§5, RFC 9101) for `tx`: `algorithms` are the signature
    algorithms the verifier accepts (`vp_formats_supported`); `wallet_nonce` is echoed
    (§5.10, `request_uri_method=post`)."""
    payload: dict[str, Any] = {
        "aud": REQUEST_OBJECT_AUDIENCE,
        "client_id": settings.client_id,
        "response_type": "vp_token",
        "response_mode": tx.response_mode,
        "response_uri": response_uri(settings, tx),
        "nonce": tx.nonce,
        "state": tx.state,
        "dcql_query": tx.query.raw,
        "client_metadata": _client_metadata(settings, tx, algorithms),
        "iat": int(now.timestamp()),
        "exp": int(tx.expires_at.timestamp()),
    }
    if wallet_nonce is not None:
        payload["wallet_nonce"] = wallet_nonce
    header = {"typ": REQUEST_OBJECT_TYP, "kid": settings.kid}
    return sign_compact(header, dumps_compact(payload).encode("utf-8"), settings.key)
