"""OpenID for Verifiable Presentations 1.0 (final): the verifier's side.

Cross-device flow, request by reference (RFC 9101 JAR), Response Mode `direct_post` or
`direct_post.jwt` (§8.2, §8.3), DCQL queries (§6) over the `dc+sd-jwt` and `jwt_vc_json`
Credential Formats (Appendix B), Client Identifier Prefix `decentralized_identifier` (§5.9.3).

- `dcql`: DCQL queries parsed strictly, claims path pointers, matching a credential;
- `transactions`: the transaction life cycle, the `TransactionStore` protocol and its
  in-memory store, the signed Request Object;
- `settings`: `OpenID4VPSettings`, the verifier's identity and bounds;
- `jwe`: decrypting a `direct_post.jwt` response (ECDH-ES + AES-GCM, allow-listed);
- `response`: reading an Authorization Response and checking its presentations;
- `store`: `SqlTransactionStore`, shared by replicas (Alembic migrations in
  `ancre.verifier.migrations`); import it from `ancre.verifier.openid4vp.store`;
- `router`: the FastAPI endpoints.

The SQL store is not imported here, so using OpenID4VP does not import SQLAlchemy.
"""

from __future__ import annotations

from .dcql import FORMAT_JWT_VC_JSON, DcqlError, DcqlQuery, parse_dcql, select_claims
from .router import create_router
from .settings import OpenID4VPSettings
from .transactions import (
    REQUEST_OBJECT_AUDIENCE,
    REQUEST_OBJECT_TYP,
    MemoryTransactionStore,
    Phase,
    Transaction,
    TransactionStore,
    TransactionStoreError,
)

__all__ = [
    "FORMAT_JWT_VC_JSON",
    "REQUEST_OBJECT_AUDIENCE",
    "REQUEST_OBJECT_TYP",
    "DcqlError",
    "DcqlQuery",
    "MemoryTransactionStore",
    "OpenID4VPSettings",
    "Phase",
    "Transaction",
    "TransactionStore",
    "TransactionStoreError",
    "create_router",
    "parse_dcql",
    "select_claims",
]
