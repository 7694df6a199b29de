"""VC-API machine clients and the credentials they issued (issue 13, VC-API slice).

New tables only (no column added to the first slice's tables): `vc_api_clients` (API keys,
stored as SHA-256 hashes, with the issuer and credential types each client may use) and
`vc_api_credentials` (which client issued which credential, for `/credentials/status`) and
`csv_offer_rows` (the offer each CSV row key created, so that a re-run creates no other).

Revision ID: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vc_api_clients",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("key_id", sa.String(32), nullable=False, unique=True),
        sa.Column("key_sha256", sa.String(64), nullable=False),
        sa.Column("issuer_id", sa.String(2048), nullable=False),
        sa.Column("types_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
    )
    op.create_table(
        "vc_api_credentials",
        sa.Column("credential_id", sa.String(128), primary_key=True),
        sa.Column("client", sa.String(64), nullable=False, index=True),
        sa.Column("proof", sa.String(32), nullable=False),
    )
    op.create_table(
        "csv_offer_rows",
        sa.Column("row_key", sa.String(64), primary_key=True),
        sa.Column("claims_sha256", sa.String(64), nullable=False),
        sa.Column("offer_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("csv_offer_rows")
    op.drop_table("vc_api_credentials")
    op.drop_table("vc_api_clients")
