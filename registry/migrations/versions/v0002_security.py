"""Security hardening (issue 12): token holders, a separate access log, signed audit
checkpoints, idempotent publication.

Revision ID: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Tokens minted before this revision belong to a person named like the token: the best
    # guess available, and never two people sharing one token.
    with op.batch_alter_table("admin_tokens") as batch:
        batch.add_column(sa.Column("person", sa.String(256), nullable=True))
    op.execute("UPDATE admin_tokens SET person = lower(name)")
    with op.batch_alter_table("admin_tokens") as batch:
        batch.alter_column("person", existing_type=sa.String(256), nullable=False)
    with op.batch_alter_table("publications") as batch:
        batch.add_column(sa.Column("request_key", sa.String(128), nullable=True))
        batch.create_unique_constraint("uq_publications_request_key", ["request_key"])
    op.create_table(
        "access_log",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("path", sa.String(2048), nullable=False),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("events", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("head", sa.String(64), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("jws", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("audit_checkpoints")
    op.drop_table("access_log")
    with op.batch_alter_table("publications") as batch:
        batch.drop_constraint("uq_publications_request_key", type_="unique")
        batch.drop_column("request_key")
    with op.batch_alter_table("admin_tokens") as batch:
        batch.drop_column("person")
