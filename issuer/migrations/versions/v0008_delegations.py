"""Delegation of a Mandate by a director (issue 14: "the organization's directors approve a
delegation").

A new table only: `delegations` (a non-director's request for a Mandate of an organization,
its hashed single-use approval code, and the approving director as a digest of their subject
key with the register check that found them a director; pending → approved|rejected → used,
expiring).

Revision ID: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "delegations",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("siren", sa.String(9), nullable=False),
        sa.Column("organization_name", sa.String(256), nullable=False),
        sa.Column("requester_key", sa.String(512), nullable=False),
        sa.Column("requester_name", sa.String(512), nullable=False),
        sa.Column("role", sa.String(150), nullable=False),
        sa.Column("approval_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("approver_sha256", sa.String(80), nullable=True),
        sa.Column("approver_browser_sha256", sa.String(64), nullable=True),
        sa.Column("approver_checked_at", sa.BigInteger(), nullable=True),
        sa.Column("approver_evidence_json", sa.Text(), nullable=True),
        sa.Column("decided_at", sa.BigInteger(), nullable=True),
        sa.Column("used_at", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_delegations_siren", "delegations", ["siren"])
    op.create_index("ix_delegations_requester_key", "delegations", ["requester_key"])


def downgrade() -> None:
    op.drop_index("ix_delegations_requester_key", "delegations")
    op.drop_index("ix_delegations_siren", "delegations")
    op.drop_table("delegations")
