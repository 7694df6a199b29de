"""Initial issuer schema.

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
        "issuer_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.create_table(
        "status_lists",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("bits", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("published", sa.Text(), nullable=True),
        sa.Column("published_url", sa.String(2048), nullable=True),
        sa.Column("published_revision", sa.Integer(), nullable=False),
        _time("published_at", nullable=True),
        _time("published_until", nullable=True),
    )
    op.create_table(
        "status_entries",
        sa.Column("list_id", sa.String(64), sa.ForeignKey("status_lists.id"), primary_key=True),
        sa.Column("idx", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("credential_id", sa.String(128), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        _time("allocated_at"),
    )
    op.create_index("ix_status_entries_credential_id", "status_entries", ["credential_id"])
    op.create_table(
        "issued_credentials",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("configuration_id", sa.String(64), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("holder", sa.String(2048), nullable=False),
        sa.Column("kid", sa.String(2048), nullable=False),
        sa.Column("offer_id", sa.String(64), nullable=True),
        _time("issued_at"),
        _time("valid_until"),
        sa.Column("status_list", sa.String(64), nullable=False),
        sa.Column("status_index", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
    )
    op.create_index("ix_issued_credentials_offer", "issued_credentials", ["offer_id"])
    op.create_table(
        "offers",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("configuration_id", sa.String(64), nullable=False),
        sa.Column("claims_json", sa.Text(), nullable=True),
        sa.Column("code", sa.String(64), nullable=True),
        sa.Column("tx_code_length", sa.Integer(), nullable=True),
        sa.Column("authorization_json", sa.Text(), nullable=False),
        _time("created_at"),
        _time("expires_at"),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("credential_id", sa.String(128), nullable=True),
    )
    op.create_table(
        "pre_authorized_codes",
        sa.Column("code_sha256", sa.String(64), primary_key=True),
        sa.Column("offer_id", sa.String(64), sa.ForeignKey("offers.id"), nullable=False),
        _time("expires_at"),
        _time("used_at", nullable=True),
        sa.Column("tx_code_sha256", sa.String(64), nullable=True),
        sa.Column("tx_attempts", sa.Integer(), nullable=False),
    )
    op.create_index("ix_pre_authorized_codes_offer_id", "pre_authorized_codes", ["offer_id"])
    op.create_table(
        "access_tokens",
        sa.Column("token_sha256", sa.String(64), primary_key=True),
        sa.Column("offer_id", sa.String(64), sa.ForeignKey("offers.id"), nullable=False),
        _time("expires_at"),
        _time("used_at", nullable=True),
    )
    op.create_index("ix_access_tokens_offer_id", "access_tokens", ["offer_id"])
    op.create_table(
        "nonces",
        sa.Column("nonce_sha256", sa.String(64), primary_key=True),
        _time("expires_at"),
        _time("used_at", nullable=True),
    )
    op.create_index("ix_nonces_expires_at", "nonces", ["expires_at"])
    op.create_table(
        "issuer_audit",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        _time("at"),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(2048), nullable=False),
        sa.Column("details_json", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "issuer_audit",
        "nonces",
        "access_tokens",
        "pre_authorized_codes",
        "offers",
        "issued_credentials",
        "status_entries",
        "status_lists",
        "issuer_meta",
    ):
        op.drop_table(table)
