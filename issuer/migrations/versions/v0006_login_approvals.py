"""Operator approval of logins (issue 13: the authorization code grant's operator-approval
user-authentication step, ``ancre issuer serve --operator-approval``).

A new table only: `login_approvals` (a wallet's authorization request waiting for an
operator's decision, bound to its browser, single use, expiring).

Revision ID: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_approvals",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("request_id", sa.String(64), nullable=False, unique=True),
        sa.Column("browser_sha256", sa.String(64), nullable=False),
        sa.Column("configuration_id", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(256), nullable=False),
        sa.Column("redirect_uri", sa.String(2048), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("decided_at", sa.BigInteger(), nullable=True),
        sa.Column("decided_by", sa.String(256), nullable=True),
        sa.Column("decision_json", sa.Text(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("login_approvals")
