"""Database outages answered cleanly, and the readiness probe that touches the database
(issues 17 and 19).

When a service's database is unreachable (PostgreSQL stopped or restarting, a connection
cut, a SQLite file that cannot be opened), a request that needs it gets an RFC 9457 problem,
503 ``service_unavailable`` with ``Retry-After`` — an HTML page instead for a browser asking
for one — and the operator gets one log line naming the driver's error, never a traceback
in a body. Engines made by `ancre.storage.sql.make_engine` ping pooled connections before
use, so the first request after the database comes back works without restarting ancre.

Anything else a route did not expect (a bug) is a 500 problem ``internal_error``: the client
learns nothing of it, the server logs the traceback.

`/ready` runs ``SELECT 1`` on each database of the service with a short timeout; `/health`
stays a liveness probe that touches nothing.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Sequence
from typing import Any, Final

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from ancre.trust.errors import Code
from ancre.trust.problem import problem

__all__ = [
    "OUTAGE_ERRORS",
    "READY_TIMEOUT",
    "RETRY_AFTER",
    "add_outage_handlers",
    "add_unexpected_handler",
    "check_databases",
    "outage_response",
    "ready_response",
]

_LOG: Final = logging.getLogger("ancre.storage.outage")

#: Seconds a client should wait before trying again (sent as `Retry-After`).
RETRY_AFTER: Final = 5
#: Seconds `/ready`'s ``SELECT 1`` may take on PostgreSQL (its `statement_timeout`).
READY_TIMEOUT: Final = 2.0


def _outage_errors() -> tuple[type[BaseException], ...]:
    import sqlite3

    found: list[type[BaseException]] = [
        OperationalError,
        InterfaceError,
        DisconnectionError,
        sqlite3.OperationalError,
        sqlite3.InterfaceError,
    ]
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency of the PostgreSQL extra
        pass
    else:
        found += [psycopg.OperationalError, psycopg.InterfaceError]
    return tuple(found)


#: What a database outage raises: SQLAlchemy's wrappers of the driver's connection errors
#: (`OperationalError`, `InterfaceError`), a pool's `DisconnectionError`, and the drivers'
#: own classes where code uses a driver directly.
OUTAGE_ERRORS: Final = _outage_errors()


def _reason(error: BaseException) -> str:
    orig = getattr(error, "orig", None) or error
    first = (str(orig).strip().splitlines() or [""])[0]
    return f"{type(orig).__name__}: {first[:300]}"


def _wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "json" not in accept


def outage_response(request: Request | None, error: BaseException, service: str) -> Response:
    """The 503 for `error` (one of `OUTAGE_ERRORS`) met while serving `request`; logs it."""
    path = request.url.path if request is not None else "-"
    _LOG.error("%s: database unavailable on %s: %s", service, path, _reason(error))
    headers = {"Retry-After": str(RETRY_AFTER), "Cache-Control": "no-store"}
    detail = f"the {service} cannot reach its database; try again in a few seconds"
    if request is not None and _wants_html(request):
        page = (
            "<!doctype html><html lang=en><meta charset=utf-8>"
            f"<title>Service unavailable</title><h1>Service unavailable</h1>"
            f"<p>{html.escape(detail)}.</p></html>"
        )
        return HTMLResponse(page, 503, headers=headers)
    return problem(503, Code.SERVICE_UNAVAILABLE, detail, title="Service Unavailable").response(
        JSONResponse, headers=headers
    )


def add_outage_handlers(app: Any, service: str) -> None:
    """Answer every database outage raised by a route of `app` (a Starlette or FastAPI app)
    with `outage_response`. `service` names the service in the detail and the log."""

    async def handler(request: Request, exc: Exception) -> Response:
        return outage_response(request, exc, service)

    for error in OUTAGE_ERRORS:
        app.add_exception_handler(error, handler)


def add_unexpected_handler(app: Any, service: str) -> None:
    """Answer an exception no route expected with a 500 problem ``internal_error`` instead
    of Starlette's plain-text page: same shape as every other error, nothing of the failure
    in the body. Starlette re-raises it after the answer, so the server still logs it with
    its traceback."""

    async def handler(request: Request, exc: Exception) -> Response:
        detail = f"the {service} failed unexpectedly; the failure is logged"
        return problem(500, Code.INTERNAL_ERROR, detail, title="Internal Server Error").response(
            JSONResponse, headers={"Cache-Control": "no-store"}
        )

    app.add_exception_handler(Exception, handler)


def check_databases(engines: Sequence[Engine], timeout: float = READY_TIMEOUT) -> None:
    """Run ``SELECT 1`` on each engine (PostgreSQL: under a `statement_timeout` of
    `timeout`; connecting is bounded by the engine's `connect_timeout`). Raises one of
    `OUTAGE_ERRORS` when a database does not answer."""
    for engine in engines:
        with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                millis = max(1, int(timeout * 1000))
                # LOCAL: ends with the transaction, rolled back below.
                connection.exec_driver_sql(f"SET LOCAL statement_timeout = {millis}")
            connection.execute(text("SELECT 1")).scalar_one()
            connection.rollback()


def ready_response(engines: Callable[[], Sequence[Engine]], service: str) -> Response:
    """`/ready`: 200 ``{"status": "ready"}`` when every database of `engines()` answers
    ``SELECT 1``, else the 503 of `outage_response`. Call it from a thread (it blocks)."""
    try:
        check_databases(engines())
    except OUTAGE_ERRORS as error:
        return outage_response(None, error, service)
    return JSONResponse({"status": "ready"}, headers={"Cache-Control": "no-store"})
