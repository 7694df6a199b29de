"""The registry's database: SQLAlchemy 2.0 tables, engine set-up, migrations.

Nothing is ever deleted: trust anchors, issuers, credential-type grants and their status
histories only grow, so "was this issuer trusted for this type on date T" always has an
answer. Times are stored as integer microseconds since the epoch (UTC), which sorts and
compares the same way on SQLite and PostgreSQL.
"""

from __future__ import annotations

import contextlib
import os
from datetime import datetime
from pathlib import Path

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from ancre.storage.sql import UtcMicros, make_engine, migration_lock, write_engine

__all__ = [
    "AccessRow",
    "AnchorRow",
    "AuditRow",
    "Base",
    "CheckpointRow",
    "GrantRow",
    "IssuerRow",
    "MetaRow",
    "PendingRow",
    "PublicationRow",
    "StatusRow",
    "TokenRow",
    "create_private_sqlite",
    "make_engine",
    "migrate",
    "session_factory",
    "write_engine",
]


class Base(DeclarativeBase):
    pass


class MetaRow(Base):
    """Registry-wide settings (registry DID, two-person rule…), one row per key."""

    __tablename__ = "registry_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class AnchorRow(Base):
    __tablename__ = "trust_anchors"
    id: Mapped[str] = mapped_column(String(2048), primary_key=True)  # a DID or a slug
    name: Mapped[str] = mapped_column(String(512))
    x509_pem: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcMicros)


class IssuerRow(Base):
    __tablename__ = "trusted_issuers"
    did: Mapped[str] = mapped_column(String(2048), primary_key=True)
    legal_name: Mapped[str] = mapped_column(String(512))
    registration_number: Mapped[str | None] = mapped_column(String(64), nullable=True)
    accredited_by: Mapped[str] = mapped_column(ForeignKey("trust_anchors.id"))
    created_at: Mapped[datetime] = mapped_column(UtcMicros)


class GrantRow(Base):
    """An issuer's permission for one credential type (with optional claim constraints)."""

    __tablename__ = "credential_type_grants"
    __table_args__ = (UniqueConstraint("issuer_did", "credential_type"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    issuer_did: Mapped[str] = mapped_column(ForeignKey("trusted_issuers.did"))
    credential_type: Mapped[str] = mapped_column(String(256))
    constraints_json: Mapped[str] = mapped_column(Text, default="[]")
    created_at: Mapped[datetime] = mapped_column(UtcMicros)


class StatusRow(Base):
    """One dated status change of an anchor, an issuer or a grant (`subject_kind`)."""

    __tablename__ = "status_history"
    __table_args__ = (Index("ix_status_subject", "subject_kind", "subject_id", "effective_from"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject_kind: Mapped[str] = mapped_column(String(16))  # anchor | issuer | grant
    subject_id: Mapped[str] = mapped_column(String(2048))
    status: Mapped[str] = mapped_column(String(16))
    effective_from: Mapped[datetime] = mapped_column(UtcMicros)
    reason: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(256))
    recorded_at: Mapped[datetime] = mapped_column(UtcMicros)


class PendingRow(Base):
    """A change waiting for a second administrator's approval (two-person rule)."""

    __tablename__ = "pending_changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload_json: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(256))
    requested_at: Mapped[datetime] = mapped_column(UtcMicros)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    decided_by: Mapped[str | None] = mapped_column(String(256), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UtcMicros, nullable=True)


class AuditRow(Base):
    """Append-only, hash-chained audit log: each row's hash covers its content and the
    previous row's hash, so editing or removing a row breaks every hash after it."""

    __tablename__ = "audit_log"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UtcMicros)
    actor: Mapped[str] = mapped_column(String(256))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(2048))
    details_json: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AccessRow(Base):
    """An admin read (GET), kept apart from the audit chain: reads change nothing, and a
    viewer polling the API must not be able to grow the signed history (issue 12 point 4)."""

    __tablename__ = "access_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcMicros)
    actor: Mapped[str] = mapped_column(String(256))
    method: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(String(2048))


class CheckpointRow(Base):
    """A signed statement "the audit log had `events` events ending in `head`": a database
    writer without the registry's key can neither forge one nor make the chain match it
    after an edit."""

    __tablename__ = "audit_checkpoints"
    events: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    head: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcMicros)
    jws: Mapped[str] = mapped_column(Text)


class TokenRow(Base):
    """An admin API token: only its SHA-256 is stored. `person` is who holds it (a
    normalised name): the two-person rule counts people, not tokens."""

    __tablename__ = "admin_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    person: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcMicros)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcMicros, nullable=True)


class PublicationRow(Base):
    __tablename__ = "publications"
    sequence: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    issued_at: Mapped[datetime] = mapped_column(UtcMicros)
    next_update: Mapped[datetime] = mapped_column(UtcMicros)
    state_sha256: Mapped[str] = mapped_column(String(64))
    jws: Mapped[str] = mapped_column(Text)
    #: The caller's `Idempotency-Key`: a retried request gets this list, not a new one.
    request_key: Mapped[str | None] = mapped_column(String(128), unique=True, nullable=True)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(str(parsed.database))


def create_private_sqlite(url: str) -> None:
    """Create a SQLite database file readable by its owner only (0600), before SQLite
    would create it under the umask (0644: token hashes, operators' names and the audit
    log readable by every local user; issue 12 point 20). Other URLs: nothing to do."""
    path = _sqlite_path(url)
    if path is None:
        return
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def _restrict_sqlite(engine: Engine) -> None:
    # SQLite gives its -wal and -shm files the database file's mode: restricting the
    # database (also one created 0644 before this release) restricts all three.
    path = _sqlite_path(engine.url.render_as_string(hide_password=False))
    if path is None:
        return
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(f"{path}{suffix}", 0o600)


def migrate(engine: Engine) -> None:
    """Bring the schema to the latest Alembic revision (idempotent); a SQLite database file
    is made private to its owner (0600)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.begin() as connection:
        # Replicas starting together: one migrates, the others wait, then find it done.
        migration_lock(connection, "registry")
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    _restrict_sqlite(engine)
