"""The Alembic migrations build exactly the schema the models describe, on SQLite and
PostgreSQL, and an existing v0001 database upgrades with its tokens kept."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from ancre.registry.db import Base, make_engine, migrate


def _ignored(diff: object) -> bool:
    # Times are UtcMicros over BIGINT: the same column type in the database.
    return isinstance(diff, list) and bool(diff) and diff[0][0] == "modify_type"


def test_migrations_match_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        diffs = [d for d in compare_metadata(context, Base.metadata) if not _ignored(d)]
    engine.dispose()
    assert diffs == []


def test_v0001_tokens_get_a_person(database_url: str) -> None:
    from alembic import command
    from alembic.config import Config

    from ancre.registry import db

    engine = make_engine(database_url)
    config = Config()
    config.set_main_option("script_location", str(db.Path(db.__file__).parent / "migrations"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO admin_tokens (name, role, token_sha256, created_at) "
                "VALUES ('Alice', 'approver', :h, 0)"
            ),
            {"h": "0" * 64},
        )
    migrate(engine)
    with engine.connect() as connection:
        person = connection.execute(text("SELECT person FROM admin_tokens")).scalar_one()
    engine.dispose()
    assert person == "alice"
