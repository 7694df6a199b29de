"""OpenID4VP transactions in a database, so that verifier replicas sharing it serve any
request (DESIGN.md "Storage and scale": single-use values live in the database).

One table, `ancre_openid4vp_transactions`, one row per transaction. The database enforces
single use: `claim` is one `UPDATE … SET phase = 'processing' WHERE request_id = :id AND
phase = 'pending' AND expires_at > :now`, and exactly one caller, in whichever process, sees
it change a row. Rows are visible while `retained_until > now` and deleted by `purge` (run
on every `add`). Times are integer microseconds since the epoch (UTC), which compare the
same way on SQLite and PostgreSQL.

The per-transaction ephemeral P-256 private key (direct_post.jwt) is stored encrypted:
AES-256-GCM under a key derived (HKDF-SHA256) from the store's `secret`, with the row's
request id as associated data, so a row's key cannot be moved to another row and a
database dump alone does not decrypt responses. Every replica needs the same secret.

The schema is kept by Alembic (`ancre.verifier.migrations`, version table
`ancre_openid4vp_alembic_version`, so the database may hold other services' tables): the
store upgrades it at start-up, under `BEGIN IMMEDIATE` (SQLite) or a transaction-level
advisory lock (PostgreSQL), so replicas starting together do not race. A database whose
table was made by an earlier release (`create_all`, no version table) is adopted as
revision 0001.
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import (
    Column,
    Connection,
    Index,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.engine import Engine, RowMapping

from ancre.storage.sql import UtcMicros, make_engine, write_engine
from ancre.trust.codec.json import dumps_compact
from ancre.trust.errors import ConfigurationError

from .dcql import DcqlError, parse_dcql
from .transactions import (
    ALREADY_ANSWERED,
    EXPIRED,
    Phase,
    Transaction,
    TransactionStoreError,
)

__all__ = [
    "METADATA",
    "MIN_SECRET_BYTES",
    "TABLE_NAME",
    "TRANSACTIONS",
    "VERSION_TABLE",
    "SqlTransactionStore",
    "migrate",
]

TABLE_NAME: Final = "ancre_openid4vp_transactions"
#: Alembic's version table: named for this store so that its database may also hold others.
VERSION_TABLE: Final = "ancre_openid4vp_alembic_version"
#: The store secret's minimum length (bytes, after UTF-8 encoding of a str).
MIN_SECRET_BYTES: Final = 32
_KDF_INFO: Final = b"ancre openid4vp transaction store: ephemeral key encryption v1"
#: First byte of a stored key: the encryption format (12-byte nonce, AES-256-GCM of PKCS#8).
_KEY_FORMAT: Final = b"\x01"
_NONCE_BYTES: Final = 12
#: Transaction and request ids are `secrets.token_urlsafe(32)`; anything else (a NUL byte, a
#: megabyte of path) is unknown without asking the database.
_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: pg_advisory_xact_lock key serializing schema creation and the bounded insert.
_PG_LOCK: Final = 0x616E_6372_6534_7670  # "ancre4vp"


METADATA: Final = MetaData()
TRANSACTIONS: Final = Table(
    TABLE_NAME,
    METADATA,
    Column("transaction_id", String(64), primary_key=True),
    Column("request_id", String(64), nullable=False, unique=True),
    Column("state", String(64), nullable=False),
    Column("nonce", String(64), nullable=False),
    Column("response_mode", String(32), nullable=False),
    Column("request_uri_method", String(8), nullable=False),
    #: The validated DCQL query (JSON); parsed again with `parse_dcql` when loaded.
    Column("dcql_query", Text, nullable=False),
    Column("expires_at", UtcMicros, nullable=False),
    Column("retained_until", UtcMicros, nullable=False),
    Column("phase", String(16), nullable=False),
    #: The verdict (JSON) once the phase is `done`.
    Column("result", Text, nullable=True),
    #: direct_post.jwt only: the key's RFC 7638 thumbprint, and the private key encrypted.
    Column("enc_kid", String(64), nullable=True),
    Column("enc_key", LargeBinary, nullable=True),
    #: The verifier profile checked over the answer (`gaia-x-onboarding`), or NULL.
    Column("profile", String(32), nullable=True),
    Index(f"ix_{TABLE_NAME}_retained_until", "retained_until"),
)
_T: Final = TRANSACTIONS


def migrate(connection: Connection) -> None:
    """Bring the schema to the latest Alembic revision (idempotent), inside the caller's
    transaction. A table made before migrations existed is stamped 0001 first."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option(
        "script_location", str(Path(__file__).resolve().parent.parent / "migrations")
    )
    config.attributes["connection"] = connection
    tables = set(inspect(connection).get_table_names())
    if TABLE_NAME in tables and VERSION_TABLE not in tables:
        command.stamp(config, "0001")
    command.upgrade(config, "head")


def _engine_for(url: str) -> Engine:
    engine = make_engine(url)
    if engine.dialect.name == "sqlite" and engine.url.database in (None, "", ":memory:"):
        engine.dispose()
        raise ConfigurationError(
            "an in-memory SQLite database is not shared: give the transaction store a file"
        )
    return engine


def _aead(secret: bytes | str | None) -> AESGCM:
    if secret is None:
        raise ConfigurationError(
            "the SQL transaction store needs a secret (at least "
            f"{MIN_SECRET_BYTES} bytes, the same on every replica) to encrypt the "
            "per-transaction keys it stores"
        )
    raw = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    if len(raw) < MIN_SECRET_BYTES:
        raise ConfigurationError(
            f"the transaction store secret must be at least {MIN_SECRET_BYTES} bytes"
        )
    key = HKDF(hashes.SHA256(), 32, salt=None, info=_KDF_INFO).derive(raw)
    return AESGCM(key)


def _known_id(value: str) -> bool:
    return _ID.fullmatch(value) is not None


class SqlTransactionStore:
    """A `TransactionStore` in a SQL database (SQLite file in WAL mode, or PostgreSQL) that
    any number of verifier processes share.

    `database` is a SQLAlchemy URL (`sqlite:///path/verifier.db`,
    `postgresql+psycopg://…`) or an `Engine` (then owned by the caller; for SQLite, prefer a
    URL: the store sets WAL and takes write locks at `BEGIN`). `secret` (str or bytes, at
    least 32 bytes, e.g. `secrets.token_urlsafe(32)`) encrypts the ephemeral private keys
    at rest; every replica must have the same one. Creates its table if missing.
    `close()` disposes the engine the store made."""

    def __init__(self, database: str | Engine, secret: bytes | str | None) -> None:
        self._aead = _aead(secret)
        self._owns_engine = isinstance(database, str)
        self._engine = _engine_for(database) if isinstance(database, str) else database
        self._write = write_engine(self._engine)
        try:
            self._create_schema()
        except BaseException:
            self.close()
            raise

    @property
    def engine(self) -> Engine:
        return self._engine

    def __repr__(self) -> str:
        url = self._engine.url.render_as_string(hide_password=True)
        return f"SqlTransactionStore({url!r})"

    def close(self) -> None:
        if self._owns_engine:
            self._engine.dispose()

    def _lock(self, connection: Connection) -> None:
        if connection.dialect.name == "postgresql":
            connection.execute(select(func.pg_advisory_xact_lock(_PG_LOCK)))

    def _create_schema(self) -> None:
        with self._write.begin() as connection:
            self._lock(connection)
            migrate(connection)

    # ---- the private key, encrypted at rest ------------------------------------------

    def _seal(self, key: ec.EllipticCurvePrivateKey, request_id: str) -> bytes:
        der = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return _KEY_FORMAT + nonce + self._aead.encrypt(nonce, der, request_id.encode("ascii"))

    def _open(self, sealed: bytes, request_id: str) -> ec.EllipticCurvePrivateKey:
        nonce = sealed[1 : 1 + _NONCE_BYTES]
        der: bytes | None = None
        if sealed[:1] == _KEY_FORMAT and len(nonce) == _NONCE_BYTES:
            try:
                der = self._aead.decrypt(
                    nonce, sealed[1 + _NONCE_BYTES :], request_id.encode("ascii")
                )
            except InvalidTag:
                der = None
        if der is None:
            raise TransactionStoreError(
                "a transaction's encryption key does not decrypt with this store's secret "
                "(do all replicas have the same secret?)"
            )
        key = serialization.load_der_private_key(der, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise TransactionStoreError("a transaction's encryption key is not an EC key")
        return key

    # ---- rows --------------------------------------------------------------------------

    def _row(self, tx: Transaction) -> dict[str, Any]:
        return {
            "transaction_id": tx.transaction_id,
            "request_id": tx.request_id,
            "state": tx.state,
            "nonce": tx.nonce,
            "response_mode": tx.response_mode,
            "request_uri_method": tx.request_uri_method,
            "dcql_query": dumps_compact(tx.query.raw),
            "expires_at": tx.expires_at,
            "retained_until": tx.retained_until,
            "phase": tx.phase.value,
            "result": None if tx.result is None else dumps_compact(tx.result),
            "enc_kid": tx.enc_kid,
            "enc_key": None if tx.enc_key is None else self._seal(tx.enc_key, tx.request_id),
            "profile": tx.profile,
        }

    def _load(self, row: RowMapping) -> Transaction:
        try:
            query = parse_dcql(json.loads(row["dcql_query"]))
            result = None if row["result"] is None else json.loads(row["result"])
            phase = Phase(row["phase"])
        except (ValueError, DcqlError) as error:  # JSON, unknown phase, DCQL
            raise TransactionStoreError(f"a stored transaction is unreadable: {error}") from None
        sealed = row["enc_key"]
        return Transaction(
            transaction_id=row["transaction_id"],
            request_id=row["request_id"],
            query=query,
            response_mode=row["response_mode"],
            request_uri_method=row["request_uri_method"],
            nonce=row["nonce"],
            state=row["state"],
            expires_at=row["expires_at"],
            retained_until=row["retained_until"],
            enc_key=None if sealed is None else self._open(bytes(sealed), row["request_id"]),
            enc_kid=row["enc_kid"],
            phase=phase,
            result=result,
            profile=row["profile"],
        )

    def _find(self, column: Any, value: str, now: datetime) -> Transaction | None:
        if not _known_id(value):
            return None
        with self._engine.connect() as connection:
            row = (
                connection.execute(select(_T).where(column == value, _T.c.retained_until > now))
                .mappings()
                .first()
            )
        return None if row is None else self._load(row)

    # ---- TransactionStore --------------------------------------------------------------

    def purge(self, now: datetime) -> int:
        with self._write.begin() as connection:
            return connection.execute(delete(_T).where(_T.c.retained_until <= now)).rowcount

    def add(self, tx: Transaction, now: datetime, limit: int) -> bool:
        row = self._row(tx)
        with self._write.begin() as connection:
            # One adder at a time (BEGIN IMMEDIATE / advisory lock): count then insert
            # cannot overshoot the bound, however many replicas add at once.
            self._lock(connection)
            connection.execute(delete(_T).where(_T.c.retained_until <= now))
            live = connection.execute(select(func.count()).select_from(_T)).scalar_one()
            if live >= limit:
                return False
            connection.execute(insert(_T).values(**row))
        return True

    def by_transaction(self, transaction_id: str, now: datetime) -> Transaction | None:
        return self._find(_T.c.transaction_id, transaction_id, now)

    def by_request(self, request_id: str, now: datetime) -> Transaction | None:
        return self._find(_T.c.request_id, request_id, now)

    def claim(self, tx: Transaction, now: datetime) -> str | None:
        with self._write.begin() as connection:
            claimed = connection.execute(
                update(_T)
                .where(
                    _T.c.request_id == tx.request_id,
                    _T.c.phase == Phase.PENDING.value,
                    _T.c.expires_at > now,
                )
                .values(phase=Phase.PROCESSING.value)
            ).rowcount
            if claimed == 1:
                tx.phase = Phase.PROCESSING
                return None
            phase = connection.execute(
                select(_T.c.phase).where(_T.c.request_id == tx.request_id)
            ).scalar_one_or_none()
        # Gone (retention over) or still pending: it expired; otherwise someone answered.
        return EXPIRED if phase in (None, Phase.PENDING.value) else ALREADY_ANSWERED

    def finish(self, tx: Transaction, result: dict[str, Any]) -> None:
        with self._write.begin() as connection:
            connection.execute(
                update(_T)
                .where(
                    _T.c.transaction_id == tx.transaction_id,
                    _T.c.phase == Phase.PROCESSING.value,
                )
                .values(phase=Phase.DONE.value, result=dumps_compact(result))
            )
        tx.phase, tx.result = Phase.DONE, result

    def snapshot(self, tx: Transaction) -> tuple[Phase, dict[str, Any] | None]:
        with self._engine.connect() as connection:
            row = connection.execute(
                select(_T.c.phase, _T.c.result).where(_T.c.transaction_id == tx.transaction_id)
            ).first()
        if row is None:  # removed since it was read: what was read is the last word
            return tx.phase, tx.result
        try:
            return Phase(row.phase), None if row.result is None else json.loads(row.result)
        except ValueError as error:
            raise TransactionStoreError(f"a stored transaction is unreadable: {error}") from None
