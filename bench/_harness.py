"""Timing shared by the benchmarks: calibrated rates, and rows paired with a floor.

This machine's speed drifts 20-40 % between repeats, so a row is timed back to back with
its floor in every repeat and the ratio reported is the median of the per-repeat ratios."""

from __future__ import annotations

import base64
import statistics
import time
from collections.abc import Callable
from typing import Any

Timer = Callable[[], float]


def b64(text: str) -> bytes:
    """Plain (lenient) base64url decoding: what a floor measurement does."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def rate(fn: Callable[[], object], n: int, timer: Timer = time.perf_counter) -> float:
    start = timer()
    for _ in range(n):
        fn()
    return n / (timer() - start)


def calibrate(
    fn: Callable[[], object], target: float = 0.15, timer: Timer = time.perf_counter
) -> int:
    """How many calls take about `target` seconds."""
    n = 10
    while True:
        start = timer()
        for _ in range(n):
            fn()
        elapsed = timer() - start
        if elapsed > target / 4:
            return max(10, int(n * target / elapsed))
        n *= 4


def paired(
    floor: Callable[[], object],
    row: Callable[[], object],
    *,
    repeats: int = 7,
    target: float = 0.15,
    timer: Timer = time.perf_counter,
) -> tuple[float, float, float]:
    """(floor ops/s, row ops/s, median ratio row/floor)."""
    nf, nr = calibrate(floor, target, timer), calibrate(row, target, timer)
    floors, rows, ratios = [], [], []
    for _ in range(repeats):
        f, r = rate(floor, nf, timer), rate(row, nr, timer)
        floors.append(f)
        rows.append(r)
        ratios.append(r / f)
    return statistics.median(floors), statistics.median(rows), statistics.median(ratios)


def reference_credential(issuer: str) -> dict[str, Any]:
    """The reference `gx:LegalPerson` credential every verification bench signs."""
    from datetime import UTC, datetime

    from ancre.issuer.builders import Address, legal_person_credential

    return legal_person_credential(
        issuer=issuer,
        credential_id="urn:uuid:0f6c1a3c-1b9e-4d0e-9d1c-5c7f0b5d2a11",
        subject_id="https://danone.example/participant#lp",
        name="DANONE",
        registration_number_id="https://danone.example/participant#lrn",
        legal_address=Address("FR", "FR-75", "17 boulevard Haussmann", "75009", "Paris"),
        valid_from=datetime(2026, 1, 1, tzinfo=UTC),
        valid_until=datetime(2027, 1, 1, tzinfo=UTC),
    )
