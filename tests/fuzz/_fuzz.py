"""Hypothesis settings for the fuzz properties: profile `ci` (the default, seconds in all)
or `long` (FUZZ_PROFILE=long, minutes; docs/security.md). Applied per test, never loaded
globally, so the other property tests keep their own settings."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings

from ancre.trust.errors import AncreError, Code
from ancre.verifier.openid4vp.errors import RefusedError

settings.register_profile(
    "ancre-fuzz-ci",
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "ancre-fuzz-long",
    max_examples=20_000,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROFILE = os.environ.get("FUZZ_PROFILE", "ci")
FUZZ = settings(settings.get_profile(f"ancre-fuzz-{PROFILE}"))

#: A "hang" is any single parse slower than this (the inputs are a few KiB at most; the
#: margin is for a loaded CI machine and the wallet target's one-time set-up).
MAX_SECONDS = 5.0
_DOC = (Path(__file__).resolve().parents[2] / "docs" / "errors.md").read_text()
DOCUMENTED = frozenset(re.findall(r"`([a-z0-9_]+)`", _DOC))


def check_refusal(error: Exception) -> None:
    """A refusal is an `AncreError` whose code is a stable `Code`, documented in
    docs/errors.md, with a message (or the verifier's wallet-facing `RefusedError`)."""
    if isinstance(error, RefusedError):
        assert str(error)
        return
    assert isinstance(error, AncreError), repr(error)
    assert isinstance(error.code, Code), error.code
    assert error.code.value in DOCUMENTED, f"{error.code.value} is not in docs/errors.md"
    assert error.message


def parses_or_refuses(call: Any, *args: Any) -> Any:
    """`call(*args)`, which must return or raise a refusal, within MAX_SECONDS."""
    import time

    started = time.monotonic()
    try:
        return call(*args)
    except (AncreError, RefusedError) as error:
        check_refusal(error)
        return None
    finally:
        elapsed = time.monotonic() - started
        assert elapsed < MAX_SECONDS, f"{getattr(call, '__name__', call)} took {elapsed:.2f} s"
