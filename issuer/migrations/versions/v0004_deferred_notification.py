"""Batch and deferred issuance, notifications (OpenID4VCI 1.0 §8, §9, §11).

`offers.approval` (the wallet's request waits for an operator), `deferred_requests` (the
held requests: proven holder keys, hashed transaction id and access token, the decision),
`notifications` (a notification id, bound to its access token) and, on
`issued_credentials`, the notification id of the response that carried a credential and
the last event the wallet notified. Existing rows: offers need no approval, credentials
have no notification.

Revision ID: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _time(name: str, *, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("offers") as batch:
        batch.add_column(
            sa.Column("approval", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("issued_credentials") as batch:
        batch.add_column(sa.Column("notification_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("wallet_event", sa.String(32), nullable=True))
        batch.add_column(_time("wallet_event_at", nullable=True))
    op.create_index(
        "ix_issued_credentials_notification_id", "issued_credentials", ["notification_id"]
    )
    op.create_table(
        "deferred_requests",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("transaction_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("offer_id", sa.String(64), sa.ForeignKey("offers.id"), nullable=False),
        sa.Column("configuration_id", sa.String(64), nullable=False),
        sa.Column("holders_json", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        _time("created_at"),
        _time("expires_at"),
        _time("decided_at", nullable=True),
        sa.Column("decided_by", sa.String(256), nullable=True),
        _time("collected_at", nullable=True),
    )
    op.create_index("ix_deferred_requests_offer_id", "deferred_requests", ["offer_id"])
    op.create_index("ix_deferred_requests_state", "deferred_requests", ["state"])
    op.create_table(
        "notifications",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        _time("created_at"),
        _time("expires_at"),
    )


def downgrade() -> None:
    op.drop_table("notifications")
    op.drop_index("ix_deferred_requests_state", "deferred_requests")
    op.drop_index("ix_deferred_requests_offer_id", "deferred_requests")
    op.drop_table("deferred_requests")
    op.drop_index("ix_issued_credentials_notification_id", "issued_credentials")
    with op.batch_alter_table("issued_credentials") as batch:
        batch.drop_column("wallet_event_at")
        batch.drop_column("wallet_event")
        batch.drop_column("notification_id")
    with op.batch_alter_table("offers") as batch:
        batch.drop_column("approval")
