"""RP-initiated logout of the login bridge (issue 14: OpenID Connect RP-Initiated Logout
1.0).

A new table only: `logout_sessions` (the ID token of a login, kept server-side for the
``id_token_hint``, bound to its browser, single use, expiring).

Revision ID: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "logout_sessions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("browser_sha256", sa.String(64), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("id_token", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("used_at", sa.BigInteger(), nullable=True),
        sa.Column("state_sha256", sa.String(64), nullable=True),
        sa.Column("returned_at", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_logout_sessions_browser_sha256", "logout_sessions", ["browser_sha256"])


def downgrade() -> None:
    op.drop_index("ix_logout_sessions_browser_sha256", "logout_sessions")
    op.drop_table("logout_sessions")
