"""The Alembic migrations of the OpenID4VP store build exactly the schema the models
describe, on SQLite and PostgreSQL, and a table made before migrations (`create_all`) is
adopted, its rows kept."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, MetaData, Table, text

from ancre.storage.sql import make_engine
from ancre.verifier.openid4vp.store import (
    METADATA,
    TABLE_NAME,
    TRANSACTIONS,
    VERSION_TABLE,
    migrate,
)


def _first_release_table() -> MetaData:
    """The table as `create_all` made it before migrations (revision 0001: no `profile`)."""
    metadata = MetaData()
    Table(
        TABLE_NAME,
        metadata,
        *(
            Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
            for c in TRANSACTIONS.columns
            if c.name != "profile"
        ),
    )
    return metadata


def _ignored(diff: object) -> bool:
    # Times are UtcMicros over BIGINT: the same column type in the database.
    return isinstance(diff, list) and bool(diff) and diff[0][0] == "modify_type"


def test_migrations_match_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.begin() as connection:
        migrate(connection)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": False, "version_table": VERSION_TABLE}
        )
        diffs = [d for d in compare_metadata(context, METADATA) if not _ignored(d)]
    engine.dispose()
    assert diffs == []


def test_a_table_made_before_migrations_is_adopted(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.begin() as connection:
        _first_release_table().create_all(connection)
        connection.execute(
            text(
                f"INSERT INTO {TABLE_NAME} (transaction_id, request_id, state, nonce, "
                "response_mode, request_uri_method, dcql_query, expires_at, retained_until, "
                "phase) VALUES ('t', 'r', 's', 'n', 'direct_post', 'get', '{}', 0, 0, 'pending')"
            )
        )
    with engine.begin() as connection:
        migrate(connection)
    with engine.begin() as connection:
        migrate(connection)  # idempotent
    with engine.connect() as connection:
        kept = connection.execute(text(f"SELECT transaction_id FROM {TABLE_NAME}")).scalar_one()
        version = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar_one()
    engine.dispose()
    assert (kept, version) == ("t", "0002")
