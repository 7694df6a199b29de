"""Alembic environment: runs on the connection `ancre.issuer.db.migrate` hands over."""

from __future__ import annotations

from alembic import context

from ancre.issuer.db import VERSION_TABLE, Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,
    version_table=VERSION_TABLE,
)
with context.begin_transaction():
    context.run_migrations()
