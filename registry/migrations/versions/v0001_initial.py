"""Initial registry schema.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _time(name: str, *, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "registry_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.create_table(
        "trust_anchors",
        sa.Column("id", sa.String(2048), primary_key=True),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("x509_pem", sa.Text(), nullable=True),
        _time("created_at"),
    )
    op.create_table(
        "trusted_issuers",
        sa.Column("did", sa.String(2048), primary_key=True),
        sa.Column("legal_name", sa.String(512), nullable=False),
        sa.Column("registration_number", sa.String(64), nullable=True),
        sa.Column(
            "accredited_by", sa.String(2048), sa.ForeignKey("trust_anchors.id"), nullable=False
        ),
        _time("created_at"),
    )
    op.create_table(
        "credential_type_grants",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "issuer_did", sa.String(2048), sa.ForeignKey("trusted_issuers.did"), nullable=False
        ),
        sa.Column("credential_type", sa.String(256), nullable=False),
        sa.Column("constraints_json", sa.Text(), nullable=False),
        _time("created_at"),
        sa.UniqueConstraint("issuer_did", "credential_type"),
    )
    op.create_table(
        "status_history",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("subject_kind", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(2048), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _time("effective_from"),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        _time("recorded_at"),
    )
    op.create_index(
        "ix_status_subject", "status_history", ["subject_kind", "subject_id", "effective_from"]
    )
    op.create_table(
        "pending_changes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("payload_json", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(256), nullable=False),
        _time("requested_at"),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.String(256), nullable=True),
        _time("decided_at", nullable=True),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        _time("at"),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(2048), nullable=False),
        sa.Column("details_json", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_table(
        "admin_tokens",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(256), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        _time("created_at"),
        _time("revoked_at", nullable=True),
    )
    op.create_table(
        "publications",
        sa.Column("sequence", sa.Integer(), primary_key=True, autoincrement=False),
        _time("issued_at"),
        _time("next_update"),
        sa.Column("state_sha256", sa.String(64), nullable=False),
        sa.Column("jws", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "publications",
        "admin_tokens",
        "audit_log",
        "pending_changes",
        "status_history",
        "credential_type_grants",
        "trusted_issuers",
        "trust_anchors",
        "registry_meta",
    ):
        op.drop_table(table)
