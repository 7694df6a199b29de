"""OpenID for Verifiable Presentations 1.0 (final): the verifier's endpoints.

Cross-device flow, request by reference (RFC 9101 JAR), Response Mode `direct_post` or
`direct_post.jwt` (§8.2, §8.3), DCQL queries (§6) over the `dc+sd-jwt` and `jwt_vc_json`
Credential Formats (Appendix B), Client Identifier Prefix `decentralized_identifier` (§5.9.3).

| endpoint | caller | what |
|---|---|---|
| `POST /openid4vp/requests` | RP backend | create a transaction from a DCQL query |
| `GET`/`POST /openid4vp/request-objects/{request_id}` | wallet | the signed Request Object |
| `POST /openid4vp/responses/{request_id}` | wallet | the Authorization Response |
| `GET /openid4vp/requests/{transaction_id}/result` | RP backend | the verdict |

Two random identifiers per transaction, as in the spec's reference design (§13.3, §14.3.3):
the *request id* is public (it is in the QR code, the `request_uri` and the `response_uri`),
the *transaction id* is returned only to the caller and is the only key to the result, so
whoever scans the QR code cannot read what the wallet sent. `state` and `nonce` are fresh
256-bit values; a response is accepted once, only with the transaction's `state`, and only
before the transaction expires. Responses that do not carry the right `state` (or do not
decrypt) change nothing, so nobody can burn someone else's transaction.

Every presentation runs ancre's full verification pipeline bound to the transaction's
`nonce` and the Client Identifier (`aud` of the KB-JWT or of the VP JWT), and must then
satisfy its DCQL Credential Query: format, `vct_values`/`type_values`, every requested claim
path (for SD-JWT, among the disclosed claims) and its `values`, cryptographic holder binding
(§B.3: an SD-JWT+KB; §B.1: a VP by the credential's subject) — the verifier never relies on
the wallet having applied the query (§14.9).

Wallet-facing errors are OAuth error responses (`{"error": "invalid_request", …}`); caller
errors are RFC 9457 problems with an ancre `code` (docs/errors.md). Nothing a client sends
yields a traceback. Transactions live in a `TransactionStore`: in process memory by
default (one process), or in a database shared by every replica
(`ancre.verifier.oid4vp_store.SqlTransactionStore`, docs/openid4vp.md "Storage"), where the
single use of a transaction is enforced by the database.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any, Final, Protocol
from urllib.parse import parse_qsl, quote, urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from ancre.trust.clock import Clock
from ancre.trust.codec.b64 import b64url_decode
from ancre.trust.codec.json import dumps_compact, loads_strict
from ancre.trust.did.document import did_of, parse_did
from ancre.trust.errors import AncreError, Code, ConfigurationError
from ancre.trust.jose.jws import sign_compact
from ancre.trust.jose.vc_jose import (
    FORMAT_VC_JOSE,
    FORMAT_VC_JWT_11,
    FORMAT_VP_JOSE,
    FORMAT_VP_JWT_11,
)
from ancre.trust.keys.jwk import KeyType, PublicKey, Signer
from ancre.trust.policy import VerificationPolicy
from ancre.trust.result import Status, VerificationResult
from ancre.trust.sd_jwt.vc import FORMAT_SD_JWT_VC
from ancre.trust.vcdm.model import subject_ids, types_of

from ._http import RateLimiter, read_body

__all__ = [
    "FORMAT_JWT_VC_JSON",
    "REQUEST_OBJECT_AUDIENCE",
    "REQUEST_OBJECT_TYP",
    "MemoryTransactionStore",
    "OpenID4VPSettings",
    "Phase",
    "Transaction",
    "TransactionStore",
    "TransactionStoreError",
    "create_router",
]

#: RFC 9101 §4 / OpenID4VP §5: the `typ` of a Request Object (wallets refuse any other).
REQUEST_OBJECT_TYP: Final = "oauth-authz-req+jwt"
REQUEST_OBJECT_MEDIA_TYPE: Final = "application/oauth-authz-req+jwt"
#: §5.8: the `aud` of a Request Object when the wallet is known by static metadata only.
REQUEST_OBJECT_AUDIENCE: Final = "https://self-issued.me/v2"
CLIENT_ID_PREFIX: Final = "decentralized_identifier"
FORMAT_JWT_VC_JSON: Final = "jwt_vc_json"
FORMATS: Final = frozenset({FORMAT_SD_JWT_VC, FORMAT_JWT_VC_JSON})
RESPONSE_MODES: Final = frozenset({"direct_post", "direct_post.jwt"})
#: The JWE `enc` values ancre decrypts (RFC 7518 §5.3); AES-CBC-HMAC is not offered.
SUPPORTED_ENC: Final = {"A128GCM": 16, "A192GCM": 24, "A256GCM": 32}
JWE_ALG: Final = "ECDH-ES"

# Bounds on what a caller may ask and a wallet may send: verification cost is per
# presentation, so a response can never make the verifier run more than
# MAX_CREDENTIAL_QUERIES x MAX_PRESENTATIONS_PER_QUERY pipelines.
MAX_CREDENTIAL_QUERIES: Final = 16
MAX_PRESENTATIONS_PER_QUERY: Final = 8
MAX_CLAIMS_PER_QUERY: Final = 64
MAX_PATH_LENGTH: Final = 16
MAX_VALUES: Final = 64
MAX_META_VALUES: Final = 32
MAX_STRING: Final = 512
MAX_FORM_FIELDS: Final = 16
_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
# RFC 6749 §4.1.2.1 / §5.2: the characters allowed in `error` and `error_description`.
_OAUTH_TEXT: Final = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]{1,1024}")
_WALLET_NONCE: Final = re.compile(r"[\x21-\x7e]{1,256}")
_VC_TYPE_IRI: Final = "https://www.w3.org/2018/credentials#VerifiableCredential"
_NO_STORE: Final = {"Cache-Control": "no-store"}
_LOG: Final = logging.getLogger("ancre.verifier.openid4vp")


# ------------------------------------------------------------------------------------------
# settings


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
    #: Replicas share one `ancre.verifier.oid4vp_store.SqlTransactionStore` database.
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


# ------------------------------------------------------------------------------------------
# DCQL (§6) and claims path pointers (§7)

PathPart = str | int | None
ClaimValue = str | int | bool


class DcqlError(ValueError):
    """A DCQL query ancre refuses to send (malformed, or asking what it cannot check)."""


@dataclass(frozen=True, slots=True)
class ClaimsQuery:
    id: str | None
    path: tuple[PathPart, ...]
    values: tuple[ClaimValue, ...] | None


@dataclass(frozen=True, slots=True)
class CredentialQuery:
    id: str
    format: str
    multiple: bool
    vct_values: tuple[str, ...]
    type_values: tuple[tuple[str, ...], ...]
    claims: tuple[ClaimsQuery, ...]
    claim_sets: tuple[tuple[str, ...], ...] | None


@dataclass(frozen=True, slots=True)
class CredentialSetQuery:
    options: tuple[tuple[str, ...], ...]
    required: bool


@dataclass(frozen=True, slots=True)
class DcqlQuery:
    credentials: tuple[CredentialQuery, ...]
    credential_sets: tuple[CredentialSetQuery, ...] | None
    #: The validated JSON, as sent to the wallet.
    raw: Mapping[str, Any] = field(repr=False)

    def by_id(self, query_id: str) -> CredentialQuery | None:
        return next((q for q in self.credentials if q.id == query_id), None)


def _only(obj: Any, allowed: frozenset[str], what: str) -> Mapping[str, Any]:
    if not isinstance(obj, dict):
        raise DcqlError(f"{what} must be a JSON object")
    unknown = sorted(set(obj) - allowed)
    if unknown:
        # §6 tells wallets to ignore unknown properties; a verifier that cannot enforce a
        # constraint refuses to ask for it rather than accept what does not meet it.
        raise DcqlError(f"{what}: unsupported member(s) {unknown}")
    return obj


def _array(value: Any, what: str, limit: int) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise DcqlError(f"{what} must be a non-empty array")
    if len(value) > limit:
        raise DcqlError(f"{what} has {len(value)} entries, the limit is {limit}")
    return value


def _strings(value: Any, what: str, limit: int = MAX_META_VALUES) -> tuple[str, ...]:
    items = _array(value, what, limit)
    if not all(isinstance(s, str) and s and len(s) <= MAX_STRING for s in items):
        raise DcqlError(f"{what} must hold non-empty strings")
    return tuple(items)


def _identifier(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise DcqlError(f"{what} must be 1-64 characters of A-Z a-z 0-9 _ -")
    return value


def _bool(obj: Mapping[str, Any], name: str, default: bool, what: str) -> bool:
    value = obj.get(name, default)
    if not isinstance(value, bool):
        raise DcqlError(f"{what}.{name} must be a boolean")
    return value


def _claims_query(value: Any, what: str, need_id: bool) -> ClaimsQuery:
    obj = _only(value, frozenset({"id", "path", "values"}), what)
    ident = _identifier(obj["id"], f"{what}.id") if "id" in obj else None
    if need_id and ident is None:
        raise DcqlError(f"{what}.id is required when claim_sets is present")
    path = _array(obj.get("path"), f"{what}.path", MAX_PATH_LENGTH)
    for part in path:
        if not (
            part is None
            or (isinstance(part, str) and len(part) <= MAX_STRING)
            or (isinstance(part, int) and not isinstance(part, bool) and part >= 0)
        ):
            raise DcqlError(f"{what}.path holds strings, null and non-negative integers only")
    values: tuple[ClaimValue, ...] | None = None
    if "values" in obj:
        items = _array(obj["values"], f"{what}.values", MAX_VALUES)
        if not all(isinstance(v, str | int) and len(str(v)) <= MAX_STRING for v in items):
            raise DcqlError(f"{what}.values holds strings, integers and booleans only")
        values = tuple(items)
    return ClaimsQuery(ident, tuple(path), values)


_CREDENTIAL_QUERY_MEMBERS: Final = frozenset(
    {
        "id",
        "format",
        "multiple",
        "meta",
        "trusted_authorities",
        "require_cryptographic_holder_binding",
        "claims",
        "claim_sets",
    }
)


def _credential_query(value: Any, index: int) -> CredentialQuery:
    what = f"credentials[{index}]"
    obj = _only(value, _CREDENTIAL_QUERY_MEMBERS, what)
    ident = _identifier(obj.get("id"), f"{what}.id")
    what = f"credential query {ident!r}"
    fmt = obj.get("format")
    if fmt not in FORMATS:
        raise DcqlError(f"{what}: format {fmt!r} is not supported (only {sorted(FORMATS)})")
    if "trusted_authorities" in obj:
        raise DcqlError(
            f"{what}: trusted_authorities is not supported; the verifier's own trust list "
            "decides which issuers it trusts"
        )
    if not _bool(obj, "require_cryptographic_holder_binding", True, what):
        raise DcqlError(
            f"{what}: presentations without holder binding are replayable; ancre requires "
            "cryptographic holder binding"
        )
    multiple = _bool(obj, "multiple", False, what)
    meta = obj.get("meta")
    vct_values: tuple[str, ...] = ()
    type_values: tuple[tuple[str, ...], ...] = ()
    if fmt == FORMAT_SD_JWT_VC:
        meta = _only(meta, frozenset({"vct_values"}), f"{what}.meta")
        vct_values = _strings(meta.get("vct_values"), f"{what}.meta.vct_values")
    else:
        meta = _only(meta, frozenset({"type_values"}), f"{what}.meta")
        outer = _array(meta.get("type_values"), f"{what}.meta.type_values", MAX_META_VALUES)
        type_values = tuple(
            _strings(inner, f"{what}.meta.type_values[{i}]") for i, inner in enumerate(outer)
        )
    claim_sets_raw = obj.get("claim_sets")
    claims: tuple[ClaimsQuery, ...] = ()
    if "claims" in obj:
        items = _array(obj["claims"], f"{what}.claims", MAX_CLAIMS_PER_QUERY)
        claims = tuple(
            _claims_query(c, f"{what}.claims[{i}]", claim_sets_raw is not None)
            for i, c in enumerate(items)
        )
        ids = [c.id for c in claims if c.id is not None]
        if len(ids) != len(set(ids)):
            raise DcqlError(f"{what}: claim ids must be unique")
        paths = [c.path for c in claims]
        if len(paths) != len(set(paths)):
            raise DcqlError(f"{what}: a claim path is requested twice")
    claim_sets: tuple[tuple[str, ...], ...] | None = None
    if claim_sets_raw is not None:
        if not claims:
            raise DcqlError(f"{what}: claim_sets needs claims")
        known = {c.id for c in claims}
        options = _array(claim_sets_raw, f"{what}.claim_sets", MAX_CLAIMS_PER_QUERY)
        claim_sets = tuple(
            _strings(o, f"{what}.claim_sets[{i}]", MAX_CLAIMS_PER_QUERY)
            for i, o in enumerate(options)
        )
        for option in claim_sets:
            unknown = sorted(set(option) - known)
            if unknown:
                raise DcqlError(f"{what}: claim_sets name unknown claim ids {unknown}")
    return CredentialQuery(ident, fmt, multiple, vct_values, type_values, claims, claim_sets)


def parse_dcql(value: Any) -> DcqlQuery:
    """Validate a DCQL query strictly (§6) and turn it into typed values. Raises `DcqlError`
    for malformed queries and for what ancre cannot verify (other formats,
    `trusted_authorities`, presentations without holder binding, unknown members)."""
    obj = _only(value, frozenset({"credentials", "credential_sets"}), "dcql_query")
    items = _array(obj.get("credentials"), "dcql_query.credentials", MAX_CREDENTIAL_QUERIES)
    credentials = tuple(_credential_query(q, i) for i, q in enumerate(items))
    ids = [q.id for q in credentials]
    if len(ids) != len(set(ids)):
        raise DcqlError("credential query ids must be unique")
    sets: tuple[CredentialSetQuery, ...] | None = None
    if "credential_sets" in obj:
        raw_sets = _array(
            obj["credential_sets"], "dcql_query.credential_sets", MAX_CREDENTIAL_QUERIES
        )
        parsed_sets = []
        for i, raw in enumerate(raw_sets):
            what = f"credential_sets[{i}]"
            entry = _only(raw, frozenset({"options", "required"}), what)
            options = tuple(
                _strings(o, f"{what}.options[{j}]", MAX_CREDENTIAL_QUERIES)
                for j, o in enumerate(
                    _array(entry.get("options"), f"{what}.options", MAX_CREDENTIAL_QUERIES)
                )
            )
            for option in options:
                unknown = sorted(set(option) - set(ids))
                if unknown:
                    raise DcqlError(f"{what} names unknown credential query ids {unknown}")
            parsed_sets.append(CredentialSetQuery(options, _bool(entry, "required", True, what)))
        sets = tuple(parsed_sets)
    return DcqlQuery(credentials, sets, value)


class _PathError(Exception):
    pass


def select_claims(document: Any, path: Sequence[PathPart]) -> list[Any]:
    """§7.1.1: the elements a claims path pointer selects in a JSON credential. Raises
    `_PathError` where processing aborts (a component applied to the wrong JSON type, or an
    empty selection)."""
    selected = [document]
    for part in path:
        if isinstance(part, str):
            if not all(isinstance(node, dict) for node in selected):
                raise _PathError(f"{part!r} applied to a non-object")
            selected = [node[part] for node in selected if part in node]
        elif part is None:
            if not all(isinstance(node, list) for node in selected):
                raise _PathError("null applied to a non-array")
            selected = [item for node in selected for item in node]
        else:
            if not all(isinstance(node, list) for node in selected):
                raise _PathError(f"{part} applied to a non-array")
            selected = [node[part] for node in selected if part < len(node)]
    if not selected:
        raise _PathError("no such claim")
    return selected


def _same(a: Any, b: Any) -> bool:
    # §6.3: type and value both match exactly (so `true` is not `1`).
    return type(a) is type(b) and a == b


def _claim_present(document: Any, claim: ClaimsQuery) -> bool:
    try:
        selected = select_claims(document, claim.path)
    except _PathError:
        return False
    if claim.values is None:
        return True
    return any(_same(node, v) for node in selected for v in claim.values)


def _path_text(path: Sequence[PathPart]) -> str:
    return "[" + ", ".join("null" if p is None else repr(p) for p in path) + "]"


def _claims_satisfied(document: Any, query: CredentialQuery) -> str | None:
    """None when the claims the query asks for are in `document`, else what is missing."""
    if not query.claims:
        return None
    present = {c.path: _claim_present(document, c) for c in query.claims}
    if query.claim_sets is None:
        missing = [_path_text(c.path) for c in query.claims if not present[c.path]]
        return f"claim(s) {', '.join(missing)} missing or not matching" if missing else None
    by_id = {c.id: c for c in query.claims}
    for option in query.claim_sets:
        if all(present[by_id[cid].path] for cid in option):
            return None
    return "no option of claim_sets is satisfied"


def _types_match(document: Mapping[str, Any], type_values: Sequence[Sequence[str]]) -> bool:
    # §B.1.1 asks for JSON-LD-expanded type IRIs; jwt_vc_json credentials are read without
    # JSON-LD, so a value matches a `type` as the issuer wrote it, and the VCDM IRI of
    # `VerifiableCredential` matches that base type (docs/openid4vp.md).
    types = set(types_of(document))
    if "VerifiableCredential" in types:
        types.add(_VC_TYPE_IRI)
    return any(all(t in types for t in option) for option in type_values)


# ------------------------------------------------------------------------------------------
# JWE (RFC 7516 compact, RFC 7518 §4.6 ECDH-ES direct key agreement, §5.3 AES-GCM)


class _RefusedError(Exception):
    """A wallet-facing refusal: an OAuth `invalid_request` with this description."""


def _len_prefixed(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def decrypt_response(
    token: str,
    key: ec.EllipticCurvePrivateKey,
    *,
    kid: str,
    enc_values: Sequence[str],
    max_depth: int,
) -> Any:
    """Decrypt an encrypted Authorization Response (§8.3): a compact JWE with `alg`
    ECDH-ES (direct key agreement: no encrypted key) and an allowed AES-GCM `enc`, made
    for the transaction's key (`kid`). Everything is checked before any cryptography; an
    algorithm outside the allow-list is refused, never negotiated."""
    parts = token.split(".")
    if len(parts) != 5:
        raise _RefusedError("`response` must be a compact JWE (5 parts)")
    h64, ek64, iv64, ct64, tag64 = parts
    try:
        header = loads_strict(b64url_decode(h64, what="JWE header"), what="JWE header")
        if not isinstance(header, dict):
            raise _RefusedError("the JWE header must be a JSON object")
        if header.get("alg") != JWE_ALG:
            raise _RefusedError(f"JWE alg {header.get('alg')!r} is not allowed (only {JWE_ALG})")
        enc = header.get("enc")
        if not isinstance(enc, str) or enc not in enc_values:
            raise _RefusedError(f"JWE enc {enc!r} is not allowed (only {', '.join(enc_values)})")
        if "zip" in header or "crit" in header:
            raise _RefusedError("JWE `zip` and `crit` are not supported")
        if not isinstance(header.get("kid"), str) or not hmac.compare_digest(
            header["kid"].encode(), kid.encode()
        ):
            raise _RefusedError("the JWE is not for this request's encryption key (`kid`)")
        epk = header.get("epk")
        if (
            not isinstance(epk, dict)
            or epk.get("kty") != "EC"
            or epk.get("crv") != "P-256"
            or not all(isinstance(epk.get(n), str) for n in ("x", "y"))
        ):
            raise _RefusedError("JWE `epk` must be a P-256 EC public key")
        # from_jwk refuses private members and points not on the curve (invalid-curve attack).
        ephemeral = PublicKey.from_jwk(epk)
        if ephemeral.key_type is not KeyType.P256 or not isinstance(
            ephemeral.key, ec.EllipticCurvePublicKey
        ):
            raise _RefusedError("JWE `epk` must be a P-256 EC public key")
        for name in ("apu", "apv"):
            if name in header and not isinstance(header[name], str):
                raise _RefusedError(f"JWE `{name}` must be a base64url string")
        apu = b64url_decode(header["apu"], what="apu") if "apu" in header else b""
        apv = b64url_decode(header["apv"], what="apv") if "apv" in header else b""
        if ek64:
            raise _RefusedError("ECDH-ES direct key agreement has an empty encrypted key")
        iv = b64url_decode(iv64, what="JWE iv")
        ciphertext = b64url_decode(ct64, what="JWE ciphertext")
        tag = b64url_decode(tag64, what="JWE tag")
    except AncreError as error:
        raise _RefusedError(f"malformed JWE: {error.message}") from None
    if len(iv) != 12 or len(tag) != 16:
        raise _RefusedError("AES-GCM needs a 96-bit iv and a 128-bit tag")
    size = SUPPORTED_ENC[enc]
    shared = key.exchange(ec.ECDH(), ephemeral.key)
    # RFC 7518 §4.6.2: Concat KDF; AlgorithmID is `enc` in direct key agreement mode.
    other_info = (
        _len_prefixed(enc.encode("ascii"))
        + _len_prefixed(apu)
        + _len_prefixed(apv)
        + (size * 8).to_bytes(4, "big")
    )
    cek = ConcatKDFHash(hashes.SHA256(), size, other_info).derive(shared)
    try:
        # RFC 7516 §5.2: the AAD is the ASCII of the encoded protected header.
        plaintext = AESGCM(cek).decrypt(iv, ciphertext + tag, h64.encode("ascii"))
    except InvalidTag:
        raise _RefusedError("the JWE does not decrypt with this request's key") from None
    try:
        return loads_strict(plaintext, what="the decrypted response", max_depth=max_depth)
    except AncreError as error:
        raise _RefusedError(error.message) from None


# ------------------------------------------------------------------------------------------
# transactions


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


ALREADY_ANSWERED: Final = "this request has already been answered"
EXPIRED: Final = "this request has expired"


class MemoryTransactionStore:
    """Transactions in process memory by transaction id and by request id; thread-safe.
    For one process only (development, tests): replicas need a shared store
    (`ancre.verifier.oid4vp_store.SqlTransactionStore`). Insertion order is retention order
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
# HTTP helpers


def _oauth_error(status: int, description: str, error: str = "invalid_request") -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=status, headers=_NO_STORE
    )


def _problem(
    status: int, detail: str, code: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    titles = {
        400: "Bad request",
        401: "Unauthorized",
        404: "Not found",
        410: "Gone",
        413: "Request too large",
        429: "Too many requests",
        500: "Internal server error",
        503: "Service unavailable",
    }
    return JSONResponse(
        {
            "type": f"urn:ancre:error:{code}",
            "title": titles.get(status, "Error"),
            "status": status,
            "detail": detail,
            "code": code,
        },
        status_code=status,
        media_type="application/problem+json",
        headers={**_NO_STORE, **(headers or {})},
    )


def _form(request: Request, body: bytes) -> dict[str, str]:
    """RFC 6749 §3.1 / OpenID4VP §8.2: `application/x-www-form-urlencoded`, UTF-8, each
    parameter at most once."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        raise _RefusedError("the body must be application/x-www-form-urlencoded")
    if not body:
        return {}
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=True,
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except (UnicodeDecodeError, ValueError):
        raise _RefusedError("the form body is malformed (or not UTF-8)") from None
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise _RefusedError(f"parameter {name!r} is repeated")
        params[name] = value
    return params


def _wallet_nonce(params: Mapping[str, str]) -> str | None:
    """§5.10: the request to a `request_uri` by POST; `wallet_metadata` is read only to
    check it is a JSON object (ancre offers one configuration to every wallet)."""
    if "wallet_metadata" in params:
        try:
            metadata = loads_strict(params["wallet_metadata"], what="wallet_metadata")
        except AncreError as error:
            raise _RefusedError(error.message) from None
        if not isinstance(metadata, dict):
            raise _RefusedError("wallet_metadata must be a JSON object")
    wallet_nonce = params.get("wallet_nonce")
    if wallet_nonce is not None and not _WALLET_NONCE.fullmatch(wallet_nonce):
        raise _RefusedError("wallet_nonce must be 1-256 printable ASCII characters")
    return wallet_nonce


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# ------------------------------------------------------------------------------------------
# checking a response


def _combine(statuses: Sequence[Status]) -> Status:
    if Status.INVALID in statuses:
        return Status.INVALID
    if Status.INDETERMINATE in statuses:
        return Status.INDETERMINATE
    return Status.VALID


class _Verdict:
    """What a response yields: per credential query, the result of each presentation, and
    the errors that decide the status."""

    def __init__(self) -> None:
        self.credentials: dict[str, list[dict[str, Any]]] = {}
        self.errors: list[dict[str, Any]] = []
        self.statuses: list[Status] = []

    def fail(
        self,
        code: str,
        message: str,
        *,
        query: str | None = None,
        index: int | None = None,
        step: str | None = None,
        status: Status = Status.INVALID,
    ) -> None:
        error: dict[str, Any] = {"code": code, "message": message}
        if query is not None:
            error["credential_query"] = query
        if index is not None:
            error["index"] = index
        if step is not None:
            error["step"] = step
        self.errors.append(error)
        self.statuses.append(status)

    @property
    def status(self) -> Status:
        return _combine(self.statuses) if self.statuses else Status.INVALID

    def to_json(self, **extra: Any) -> dict[str, Any]:
        status = self.status
        return {
            "status": status.value,
            "verified": status is Status.VALID,
            "credentials": self.credentials,
            "errors": self.errors,
            **extra,
        }


def _vp_token_shape(vp_token: Any, query: DcqlQuery, verdict: _Verdict) -> bool:
    """§8.1 and §6.4.2: an object keyed by credential query ids, each an array of
    presentations (one unless `multiple`), covering what the query requires."""
    if not isinstance(vp_token, dict) or not vp_token:
        verdict.fail(Code.INVALID_VP_TOKEN, "vp_token must be a non-empty JSON object")
        return False
    ok = True
    for key, value in vp_token.items():
        q = query.by_id(key)
        if q is None:
            verdict.fail(Code.INVALID_VP_TOKEN, f"vp_token names unknown credential query {key!r}")
            ok = False
        elif not isinstance(value, list) or not value:
            verdict.fail(
                Code.INVALID_VP_TOKEN, "must be a non-empty array of presentations", query=key
            )
            ok = False
        elif len(value) > (MAX_PRESENTATIONS_PER_QUERY if q.multiple else 1):
            verdict.fail(
                Code.INVALID_VP_TOKEN,
                f"{len(value)} presentations"
                + ("" if q.multiple else " for a query without `multiple`"),
                query=key,
            )
            ok = False
        elif not all(isinstance(p, str) for p in value):
            verdict.fail(Code.INVALID_VP_TOKEN, f"{q.format} presentations are strings", query=key)
            ok = False
    answered = set(vp_token)
    if query.credential_sets is None:
        missing = [q.id for q in query.credentials if q.id not in answered]
        if missing:
            verdict.fail(Code.DCQL_NOT_SATISFIED, f"no presentation for {missing}")
            ok = False
    else:
        for i, cset in enumerate(query.credential_sets):
            if cset.required and not any(set(o) <= answered for o in cset.options):
                verdict.fail(Code.DCQL_NOT_SATISFIED, f"credential_sets[{i}] is not satisfied")
                ok = False
    return ok


class _MismatchError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _check_presentation(
    presentation: str, result: VerificationResult, query: CredentialQuery
) -> Mapping[str, Any]:
    """After the pipeline said valid: does this presentation answer `query`? Returns the
    verified credential's claims; raises `_MismatchError`."""
    if query.format == FORMAT_SD_JWT_VC:
        if result.format != FORMAT_SD_JWT_VC:
            raise _MismatchError(Code.DCQL_NOT_SATISFIED, f"a {result.format} is not a dc+sd-jwt")
        # §B.3.5: holder binding is an SD-JWT+KB. Without a KB-JWT the pipeline accepts a
        # bearer SD-JWT (no `cnf`), which anyone could replay.
        if presentation.strip().endswith("~"):
            raise _MismatchError(
                Code.KEY_BINDING_MISSING, "an SD-JWT+KB (key binding JWT) is required"
            )
        claims = result.credential or {}
        if not result.types or result.types[0] not in query.vct_values:
            vct = result.types[0] if result.types else None
            raise _MismatchError(
                Code.DCQL_NOT_SATISFIED, f"vct {vct!r} is not among {query.vct_values}"
            )
    else:
        if result.format not in (FORMAT_VP_JOSE, FORMAT_VP_JWT_11):
            raise _MismatchError(Code.DCQL_NOT_SATISFIED, f"a {result.format} is not a VP JWT")
        if len(result.credentials) != 1:
            raise _MismatchError(
                Code.DCQL_NOT_SATISFIED,
                f"the VP carries {len(result.credentials)} credentials, expected one",
            )
        inner = result.credentials[0]
        if inner.format not in (FORMAT_VC_JOSE, FORMAT_VC_JWT_11):
            raise _MismatchError(Code.DCQL_NOT_SATISFIED, f"a {inner.format} is not a jwt_vc_json")
        claims = inner.credential or {}
        # §2 "Cryptographic Holder Binding": the credential names the key (here: the DID)
        # the holder signed the presentation with.
        if result.issuer is None or result.issuer not in subject_ids(claims):
            raise _MismatchError(
                Code.HOLDER_MISMATCH,
                f"the VP holder {result.issuer} is not the credential's subject",
            )
        if not _types_match(claims, query.type_values):
            raise _MismatchError(
                Code.DCQL_NOT_SATISFIED,
                f"types {list(types_of(claims))} match no option of type_values",
            )
    missing = _claims_satisfied(claims, query)
    if missing is not None:
        raise _MismatchError(Code.DCQL_NOT_SATISFIED, missing)
    return claims


def _wallet_error(params: Mapping[str, Any], verdict: _Verdict) -> dict[str, Any] | None:
    error = params.get("error")
    description = params.get("error_description")
    if not isinstance(error, str) or not _OAUTH_TEXT.fullmatch(error):
        raise _RefusedError("`error` must be an OAuth error code")
    if description is not None and (
        not isinstance(description, str) or not _OAUTH_TEXT.fullmatch(description)
    ):
        raise _RefusedError("`error_description` has characters OAuth does not allow")
    detail = {"error": error}
    if description is not None:
        detail["error_description"] = description
    verdict.fail(
        Code.WALLET_ERROR,
        f"the wallet answered {error}" + (f": {description}" if description else ""),
    )
    return detail


# ------------------------------------------------------------------------------------------
# the router


def create_router(
    settings: OpenID4VPSettings,
    *,
    verify: Callable[[Any, VerificationPolicy], VerificationResult],
    policy: VerificationPolicy,
    clock: Clock,
) -> APIRouter:
    """The OpenID4VP endpoints. `verify(item, policy)` runs ancre's verification pipeline
    (with the app's shared resolver, status and trust caches); `policy` is the service's,
    bound per transaction to its nonce and the Client Identifier."""
    router = APIRouter(prefix="/openid4vp", tags=["OpenID4VP"])
    store = settings.store if settings.store is not None else MemoryTransactionStore()
    client_id = settings.client_id
    algorithms = sorted(policy.algorithms)
    vp_formats = {
        FORMAT_SD_JWT_VC: {"sd-jwt_alg_values": algorithms, "kb-jwt_alg_values": algorithms},
        FORMAT_JWT_VC_JSON: {"alg_values": algorithms},
    }

    def request_object_uri(tx: Transaction) -> str:
        return f"{settings.base_url}/openid4vp/request-objects/{tx.request_id}"

    def response_uri(tx: Transaction) -> str:
        return f"{settings.base_url}/openid4vp/responses/{tx.request_id}"

    limiter = RateLimiter(burst=settings.create_burst, per_minute=settings.create_per_minute)

    def authorized(request: Request) -> JSONResponse | None:
        if settings.api_token is None:
            return None
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), settings.api_token.encode()
        ):
            return _problem(
                401,
                "this endpoint needs `Authorization: Bearer <api token>`",
                "unauthorized",
                {"WWW-Authenticate": 'Bearer realm="openid4vp"'},
            )
        return None

    # ---- caller: create a request ----------------------------------------------------

    @router.post(
        "/requests", status_code=201, responses={400: {}, 401: {}, 413: {}, 429: {}, 503: {}}
    )
    async def create_request(request: Request) -> JSONResponse:
        """Create a transaction: `{"dcql_query": {…}, "response_mode": "direct_post" |
        "direct_post.jwt" (default), "request_uri_method": "get" (default) | "post"}`."""
        denied = authorized(request)
        if denied is not None:
            return denied
        # Per client address, after authentication (a caller without the token costs
        # nothing) and before any work: one client cannot take the whole store.
        wait = limiter.take(request.client.host if request.client else "")
        if wait is not None:
            return _problem(
                429,
                "too many transactions created from this address; slow down",
                Code.RATE_LIMITED,
                {"Retry-After": str(wait)},
            )
        raw = await read_body(request, settings.max_body_bytes)
        if raw is None:
            return _problem(413, f"body over {settings.max_body_bytes} bytes", "input_too_large")
        try:
            body = loads_strict(raw, what="the body", max_depth=policy.max_json_depth)
        except AncreError as error:
            return _problem(400, error.message, error.code.value)
        if not isinstance(body, dict):
            return _problem(400, "the body must be a JSON object", "invalid_request")
        unknown = sorted(set(body) - {"dcql_query", "response_mode", "request_uri_method"})
        if unknown:
            return _problem(400, f"unknown member(s) {unknown}", "invalid_request")
        mode = body.get("response_mode", "direct_post.jwt")
        if mode not in RESPONSE_MODES:
            return _problem(
                400, f"response_mode must be one of {sorted(RESPONSE_MODES)}", "invalid_request"
            )
        method = body.get("request_uri_method", "get")
        if method not in ("get", "post"):
            return _problem(400, 'request_uri_method must be "get" or "post"', "invalid_request")
        try:
            query = parse_dcql(body.get("dcql_query"))
        except DcqlError as error:
            return _problem(400, str(error), Code.INVALID_DCQL_QUERY)
        now = clock.now()
        expires = now + settings.transaction_ttl
        tx = Transaction(
            transaction_id=secrets.token_urlsafe(32),
            request_id=secrets.token_urlsafe(32),
            query=query,
            response_mode=mode,
            request_uri_method=method,
            nonce=secrets.token_urlsafe(32),
            state=secrets.token_urlsafe(32),
            expires_at=expires,
            retained_until=expires + settings.result_ttl,
        )
        if mode == "direct_post.jwt":
            # §8.3: an ephemeral key per request, so a response can only be read here.
            tx.enc_key = ec.generate_private_key(ec.SECP256R1())
            tx.enc_kid = PublicKey(tx.enc_key.public_key()).thumbprint()
        if not await run_in_threadpool(store.add, tx, now, settings.max_transactions):
            return _problem(
                503,
                f"{settings.max_transactions} transactions are pending; try again later",
                Code.TOO_MANY_TRANSACTIONS,
                {"Retry-After": str(max(1, int(settings.transaction_ttl.total_seconds())))},
            )
        uri = request_object_uri(tx)
        invocation = f"openid4vp://?client_id={quote(client_id, safe='')}"
        invocation += f"&request_uri={quote(uri, safe='')}"
        if method == "post":
            invocation += "&request_uri_method=post"
        return JSONResponse(
            {
                "transaction_id": tx.transaction_id,
                "client_id": client_id,
                "request_uri": uri,
                "request_uri_method": method,
                "authorization_request": invocation,
                "response_mode": mode,
                "expires_at": _iso(expires),
            },
            status_code=201,
            headers=_NO_STORE,
        )

    # ---- wallet: the Request Object --------------------------------------------------

    def signed_request(tx: Transaction, wallet_nonce: str | None) -> str:
        now = clock.now()
        metadata: dict[str, Any] = {"vp_formats_supported": vp_formats}
        if tx.enc_key is not None:
            jwk: dict[str, Any] = PublicKey(tx.enc_key.public_key()).to_jwk()
            jwk.update({"use": "enc", "alg": JWE_ALG, "kid": tx.enc_kid})
            metadata["jwks"] = {"keys": [jwk]}
            metadata["encrypted_response_enc_values_supported"] = list(settings.enc_values)
        payload: dict[str, Any] = {
            "aud": REQUEST_OBJECT_AUDIENCE,
            "client_id": client_id,
            "response_type": "vp_token",
            "response_mode": tx.response_mode,
            "response_uri": response_uri(tx),
            "nonce": tx.nonce,
            "state": tx.state,
            "dcql_query": tx.query.raw,
            "client_metadata": metadata,
            "iat": int(now.timestamp()),
            "exp": int(tx.expires_at.timestamp()),
        }
        if wallet_nonce is not None:
            payload["wallet_nonce"] = wallet_nonce
        header = {"typ": REQUEST_OBJECT_TYP, "kid": settings.kid}
        return sign_compact(header, dumps_compact(payload).encode("utf-8"), settings.key)

    def store_failure(error: TransactionStoreError) -> None:
        _LOG.error("OpenID4VP transaction store: %s", error.message)

    def pending_request(request_id: str) -> Transaction | JSONResponse:
        now = clock.now()
        try:
            tx = store.by_request(request_id, now)
        except TransactionStoreError as error:
            store_failure(error)
            return _oauth_error(500, "the verifier cannot serve this request", "server_error")
        if tx is None:
            return _oauth_error(404, "unknown request")
        phase, _ = store.snapshot(tx)
        if phase is not Phase.PENDING or now >= tx.expires_at:
            return _oauth_error(410, "this request has expired or was already answered")
        return tx

    def request_object(tx: Transaction, wallet_nonce: str | None) -> Response:
        return Response(
            signed_request(tx, wallet_nonce),
            media_type=REQUEST_OBJECT_MEDIA_TYPE,
            headers=_NO_STORE,
        )

    @router.get("/request-objects/{request_id}", responses={404: {}, 410: {}, 500: {}})
    def get_request_object(request_id: str) -> Response:
        """The signed Request Object (RFC 9101 `request_uri`)."""
        found = pending_request(request_id)
        return found if isinstance(found, Response) else request_object(found, None)

    @router.post("/request-objects/{request_id}", responses={400: {}, 404: {}, 410: {}, 500: {}})
    async def post_request_object(request_id: str, request: Request) -> Response:
        """§5.10 `request_uri_method=post`: `wallet_metadata` and `wallet_nonce` (echoed in
        the signed Request Object)."""
        raw = await read_body(request, 64 * 1024)
        if raw is None:
            return _oauth_error(413, "body too large")
        try:
            wallet_nonce = _wallet_nonce(_form(request, raw))
        except _RefusedError as refused:
            return _oauth_error(400, str(refused))
        found = await run_in_threadpool(pending_request, request_id)
        return found if isinstance(found, Response) else request_object(found, wallet_nonce)

    # ---- wallet: the Authorization Response ------------------------------------------

    def read_params(tx: Transaction, form: Mapping[str, str]) -> dict[str, Any]:
        """The response parameters: from the form (direct_post), or from the decrypted JWE
        (direct_post.jwt; only an error may come in the clear, §8.3.1)."""
        if tx.response_mode == "direct_post.jwt" and "response" in form:
            if "vp_token" in form:
                raise _RefusedError("send the vp_token inside the encrypted `response` only")
            assert tx.enc_key is not None
            assert tx.enc_kid is not None
            payload = decrypt_response(
                form["response"],
                tx.enc_key,
                kid=tx.enc_kid,
                enc_values=settings.enc_values,
                max_depth=policy.max_json_depth,
            )
            if not isinstance(payload, dict):
                raise _RefusedError("the decrypted response must be a JSON object")
            return payload
        if "response" in form:
            raise _RefusedError("an encrypted `response` was not requested")
        if tx.response_mode == "direct_post.jwt" and "error" not in form:
            raise _RefusedError("this request asked for an encrypted response (direct_post.jwt)")
        params: dict[str, Any] = dict(form)
        if "vp_token" in params:
            try:
                params["vp_token"] = loads_strict(
                    params["vp_token"], what="vp_token", max_depth=policy.max_json_depth
                )
            except AncreError as error:
                # Parsed after `state` is checked (below), so keep the failure for then.
                params["vp_token"] = error
        return params

    def process(tx: Transaction, form: Mapping[str, str]) -> JSONResponse:
        params = read_params(tx, form)
        state = params.get("state")
        if not isinstance(state, str) or not hmac.compare_digest(state.encode(), tx.state.encode()):
            raise _RefusedError("`state` is missing or does not match this request")
        verdict = _Verdict()
        wallet_error = None
        if "error" in params:
            wallet_error = _wallet_error(params, verdict)  # validates before claiming
        refusal = store.claim(tx, clock.now())
        if refusal is not None:
            raise _RefusedError(refusal)
        extra: dict[str, Any] = {"response_mode": tx.response_mode}
        try:
            if wallet_error is not None:
                extra["wallet_error"] = wallet_error
                return JSONResponse({}, headers=_NO_STORE)
            check(tx, params.get("vp_token"), verdict)
            if verdict.status is Status.VALID:
                return JSONResponse({}, headers=_NO_STORE)
            codes = sorted({e["code"] for e in verdict.errors})
            return _oauth_error(400, f"the presentation was not accepted ({', '.join(codes)})")
        finally:
            extra["received_at"] = _iso(clock.now())
            store.finish(tx, verdict.to_json(**extra))

    def check(tx: Transaction, vp_token: Any, verdict: _Verdict) -> None:
        if vp_token is None:
            verdict.fail(Code.INVALID_VP_TOKEN, "the response has no vp_token")
            return
        if isinstance(vp_token, AncreError):
            verdict.fail(vp_token.code.value, f"vp_token: {vp_token.message}")
            return
        if not _vp_token_shape(vp_token, tx.query, verdict):
            return
        bound = replace(policy, nonce=tx.nonce, audience=client_id, require_key_binding=True)
        for query_id, presentations in vp_token.items():
            query = tx.query.by_id(query_id)
            assert query is not None  # _vp_token_shape checked every key
            entries = verdict.credentials.setdefault(query_id, [])
            for index, presentation in enumerate(presentations):
                result = verify(presentation, bound)
                entry = result.to_json()
                entries.append(entry)
                if not result.valid:
                    for error in result.errors:
                        verdict.fail(
                            error.code or "error",
                            error.message,
                            query=query_id,
                            index=index,
                            step=error.step.value,
                            status=result.status,
                        )
                    continue
                try:
                    claims = _check_presentation(presentation, result, query)
                except _MismatchError as mismatch:
                    verdict.fail(mismatch.code, mismatch.message, query=query_id, index=index)
                    continue
                entry["claims"] = dict(claims)
                verdict.statuses.append(Status.VALID)

    @router.post("/responses/{request_id}", responses={400: {}, 413: {}, 500: {}})
    async def authorization_response(request_id: str, request: Request) -> JSONResponse:
        """The `response_uri` (§8.2): `vp_token` + `state`, or `response` (a JWE) for
        direct_post.jwt, or an error response (`error`, `error_description`, `state`)."""
        raw = await read_body(request, settings.max_body_bytes)
        if raw is None:
            return _oauth_error(413, f"body over {settings.max_body_bytes} bytes")
        try:
            tx = await run_in_threadpool(store.by_request, request_id, clock.now())
        except TransactionStoreError as error:
            store_failure(error)
            return _oauth_error(500, "the verifier cannot serve this request", "server_error")
        if tx is None:
            return _oauth_error(400, "unknown or expired request")
        try:
            form = _form(request, raw)
            return await run_in_threadpool(process, tx, form)
        except _RefusedError as refused:
            return _oauth_error(400, str(refused))

    # ---- caller: the result ------------------------------------------------------------

    @router.get("/requests/{transaction_id}/result", responses={401: {}, 404: {}, 410: {}, 500: {}})
    def result(transaction_id: str, request: Request) -> JSONResponse:
        """202 `{"status": "pending"}` until the wallet answers; then 200 with the verdict:
        `{"status", "verified", "credentials": {query id: [result…]}, "errors": […]}`."""
        denied = authorized(request)
        if denied is not None:
            return denied
        now = clock.now()
        try:
            tx = store.by_transaction(transaction_id, now)
        except TransactionStoreError as error:
            store_failure(error)
            return _problem(500, "the verifier cannot read this transaction", error.code.value)
        if tx is None:
            return _problem(
                404, "no such transaction (or its result expired)", Code.TRANSACTION_NOT_FOUND
            )
        phase, verdict = store.snapshot(tx)
        if phase is Phase.DONE and verdict is not None:
            return JSONResponse(verdict, headers=_NO_STORE)
        if now >= tx.expires_at and phase is Phase.PENDING:
            return _problem(410, "the wallet did not answer in time", Code.TRANSACTION_EXPIRED)
        return JSONResponse(
            {"status": "pending", "expires_at": _iso(tx.expires_at)},
            status_code=202,
            headers=_NO_STORE,
        )

    return router
