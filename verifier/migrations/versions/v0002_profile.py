"""A transaction's verifier profile (`gaia-x-onboarding`: the answer is checked as one
onboarding bundle); NULL for every transaction made before.

Revision ID: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TABLE = "ancre_openid4vp_transactions"


def upgrade() -> None:
    with op.batch_alter_table(_TABLE) as batch:
        batch.add_column(sa.Column("profile", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table(_TABLE) as batch:
        batch.drop_column("profile")
