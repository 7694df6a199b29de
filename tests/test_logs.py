"""The JSON log formatter: one object per line, extra fields kept, exceptions included."""

from __future__ import annotations

import json
import logging

from ancre.verifier.logs import JsonFormatter


def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord("ancre.test", logging.WARNING, __file__, 1, "a %s", ("b",), None)
    record.__dict__.update(extra)
    return record


def test_one_line_with_extra_fields() -> None:
    text = JsonFormatter().format(_record(event="x", types=["A"], note="é\nnext"))
    assert "\n" not in text
    line = json.loads(text)
    assert line["message"] == "a b"
    assert (line["level"], line["logger"], line["event"], line["types"]) == (
        "warning",
        "ancre.test",
        "x",
        ["A"],
    )
    assert line["note"] == "é\nnext"
    assert line["ts"].endswith("+00:00")


def test_exceptions_are_kept_on_the_same_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord(
            "ancre.test", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    line = json.loads(JsonFormatter().format(record))
    assert "ValueError: boom" in line["exception"]
