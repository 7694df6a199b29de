"""SQL plumbing shared by ancre's stores (the registry, the verifier's OpenID4VP
transactions): engines with SQLite set up for concurrent writers, and column types.
Imported only by code that already uses SQLAlchemy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import BigInteger, Dialect, TypeDecorator, create_engine, event
from sqlalchemy.engine import Engine

__all__ = [
    "CONNECT_TIMEOUT",
    "WRITE_OPTION",
    "UtcMicros",
    "make_engine",
    "migration_lock",
    "write_engine",
]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
#: Seconds a PostgreSQL connection attempt may take (libpq's `connect_timeout`).
CONNECT_TIMEOUT: Final = 5


class UtcMicros(TypeDecorator[datetime]):
    """An aware UTC datetime stored as integer microseconds since the epoch: exact, sortable
    and identical on SQLite and PostgreSQL (no time-zone or precision surprises)."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> int | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("stored times must be timezone-aware")
        return (value - _EPOCH) // timedelta(microseconds=1)

    def process_result_value(self, value: int | None, dialect: Dialect) -> datetime | None:
        return None if value is None else _EPOCH + timedelta(microseconds=value)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url` (`sqlite:///path` or `postgresql+psycopg://…`).

    SQLite runs in WAL mode with full synchronous commits and foreign keys on. Transactions on
    an engine copy made with `write_engine()` take the write lock at BEGIN (`BEGIN
    IMMEDIATE`), so two writers (processes or replicas) serialize instead of failing half-way
    through a multi-statement write (the registry's hash-chained audit append, the OpenID4VP
    store's bounded insert).

    Every engine checks a pooled connection before lending it (`pool_pre_ping`): after
    PostgreSQL restarts, the first request reconnects instead of failing on a dead socket,
    without restarting ancre (issue 17). A PostgreSQL connection attempt gives up after
    `CONNECT_TIMEOUT` seconds, so a database that does not answer is a 503, not a hang."""
    kwargs.setdefault("pool_pre_ping", True)
    if url.startswith("postgresql"):
        connect_args = dict(kwargs.pop("connect_args", {}))
        connect_args.setdefault("connect_timeout", CONNECT_TIMEOUT)
        kwargs["connect_args"] = connect_args
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # Manage transactions ourselves: pysqlite's implicit BEGIN is deferred.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection: Any) -> None:
            # Writers take the lock up front; readers use WAL snapshots and never block.
            write = connection.get_execution_options().get(WRITE_OPTION)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


WRITE_OPTION: Final = "ancre_write"


def write_engine(engine: Engine) -> Engine:
    """The same engine, marked so that its transactions are write transactions."""
    return engine.execution_options(**{WRITE_OPTION: True})


def migration_lock(connection: Any, name: str) -> None:
    """Serialize schema migrations across processes (issue 19: several replicas starting at
    once each run `upgrade head`): on PostgreSQL, a transaction-scoped advisory lock keyed by
    `name`, held until the caller's transaction ends; the second replica then finds the
    schema current and does nothing. SQLite needs none: its first write locks the file."""
    if connection.dialect.name != "postgresql":
        return
    import hashlib

    from sqlalchemy import func, select

    digest = hashlib.sha256(f"ancre migrations {name}".encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)  # PostgreSQL's bigint
    connection.execute(select(func.pg_advisory_xact_lock(key)))
