"""Structured logs: one JSON object per line on stderr, for the verifier service.

`create_app` only emits records (logger `ancre.verifier`, one per verification, at INFO);
configuring handlers is the program's business: `ancre verifier serve` calls
`configure_logging`. A verification record carries what an operator needs to follow
verdicts — kind, status, first error code and step, format, issuer DID, credential types,
duration — and never the credential, its subject or any personal data.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Final

__all__ = ["LOGGER", "JsonFormatter", "configure_logging", "log_verification"]

LOGGER: Final = logging.getLogger("ancre.verifier")
#: LogRecord attributes that are not the caller's `extra` fields.
_STANDARD: Final = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's ANSI-coloured copy of the message
}


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "message", …extra fields}` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in record.__dict__.items():
            if name not in _STANDARD and not name.startswith("_"):
                out[name] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str, separators=(",", ":"))


def configure_logging(*, level: str = "info", json_format: bool = True) -> None:
    """Send every log record (ancre's and uvicorn's) to stderr, as JSON lines by default."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if json_format else logging.Formatter("%(levelname)s %(name)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def log_verification(kind: str, result: Any, seconds: float) -> None:
    """One INFO record per verification (skipped cheaply when INFO is off)."""
    if not LOGGER.isEnabledFor(logging.INFO):
        return
    first = result.errors[0] if result.errors else None
    LOGGER.info(
        "verification %s",
        result.status.value,
        extra={
            "event": "verification",
            "kind": kind,
            "status": result.status.value,
            "code": first.code if first else None,
            "step": first.step.value if first else None,
            "format": result.format,
            "issuer": result.issuer,
            "types": list(result.types),
            "ms": round(seconds * 1000, 3),
        },
    )
