"""Authorization code grant and the login bridge: issuer states, pending authorization
requests, authorization codes, OpenID Connect login states.

Revision ID: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _time(name: str, *, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "issuer_states",
        sa.Column("state_sha256", sa.String(64), primary_key=True),
        sa.Column("configuration_id", sa.String(64), nullable=False),
        _time("expires_at"),
    )
    op.create_table(
        "authorization_requests",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("client_id", sa.String(256), nullable=False),
        sa.Column("redirect_uri", sa.String(2048), nullable=False),
        sa.Column("code_challenge", sa.String(128), nullable=False),
        sa.Column("configuration_id", sa.String(64), nullable=False),
        sa.Column("wallet_state", sa.String(512), nullable=True),
        sa.Column("browser_sha256", sa.String(64), nullable=False),
        _time("created_at"),
        _time("expires_at"),
        _time("completed_at", nullable=True),
        sa.Column("approved_json", sa.Text(), nullable=True),
    )
    op.create_table(
        "authorization_codes",
        sa.Column("code_sha256", sa.String(64), primary_key=True),
        sa.Column(
            "request_id",
            sa.String(64),
            sa.ForeignKey("authorization_requests.id"),
            nullable=False,
        ),
        sa.Column("offer_id", sa.String(64), sa.ForeignKey("offers.id"), nullable=False),
        sa.Column("client_id", sa.String(256), nullable=False),
        sa.Column("redirect_uri", sa.String(2048), nullable=False),
        sa.Column("code_challenge", sa.String(128), nullable=False),
        _time("expires_at"),
        _time("used_at", nullable=True),
    )
    op.create_index("ix_authorization_codes_offer_id", "authorization_codes", ["offer_id"])
    op.create_table(
        "login_states",
        sa.Column("state_sha256", sa.String(64), primary_key=True),
        sa.Column("nonce", sa.String(128), nullable=False),
        sa.Column("code_verifier", sa.String(128), nullable=False),
        sa.Column("browser_sha256", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("acr_values", sa.String(1024), nullable=False),
        _time("expires_at"),
        _time("used_at", nullable=True),
    )


def downgrade() -> None:
    op.drop_table("login_states")
    op.drop_index("ix_authorization_codes_offer_id", "authorization_codes")
    op.drop_table("authorization_codes")
    op.drop_table("authorization_requests")
    op.drop_table("issuer_states")
