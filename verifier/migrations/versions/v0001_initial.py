"""The OpenID4VP transaction table, as `MetaData.create_all` made it before migrations.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TABLE = "ancre_openid4vp_transactions"


def upgrade() -> None:
    op.create_table(
        _TABLE,
        sa.Column("transaction_id", sa.String(64), primary_key=True),
        sa.Column("request_id", sa.String(64), nullable=False, unique=True),
        sa.Column("state", sa.String(64), nullable=False),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("response_mode", sa.String(32), nullable=False),
        sa.Column("request_uri_method", sa.String(8), nullable=False),
        sa.Column("dcql_query", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("retained_until", sa.BigInteger(), nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("enc_kid", sa.String(64), nullable=True),
        sa.Column("enc_key", sa.LargeBinary(), nullable=True),
    )
    op.create_index(f"ix_{_TABLE}_retained_until", _TABLE, ["retained_until"])


def downgrade() -> None:
    op.drop_index(f"ix_{_TABLE}_retained_until", table_name=_TABLE)
    op.drop_table(_TABLE)
