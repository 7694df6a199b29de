"""SQL column types shared by ancre's stores (the registry, the verifier's OpenID4VP
transactions). Imported only by code that already uses SQLAlchemy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

from sqlalchemy import BigInteger, Dialect, TypeDecorator

__all__ = ["UtcMicros"]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


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
