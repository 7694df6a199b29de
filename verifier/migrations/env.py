"""Alembic environment: runs on the connection `ancre.verifier.openid4vp.store.migrate`
hands over."""

from __future__ import annotations

from alembic import context

from ancre.verifier.openid4vp.store import METADATA, VERSION_TABLE

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=METADATA,
    render_as_batch=True,
    version_table=VERSION_TABLE,
)
with context.begin_transaction():
    context.run_migrations()
