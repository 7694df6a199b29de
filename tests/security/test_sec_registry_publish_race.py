"""Issue 12 point 5: ten concurrent `POST /admin/publish`: on PostgreSQL one succeeded and
nine got 409; on SQLite `issued_at` did not always increase with the sequence. Publication
is now serialised on a locked row, and time is forced to move forward with the sequence."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import httpx
from _sec_registry import auth, registry_for, served, with_anchor_and_agency


def test_ten_concurrent_publications_get_distinct_increasing_sequences(database_url: str) -> None:
    with registry_for(database_url) as setup, served(setup) as base:
        with_anchor_and_agency(setup)
        # The clock stands still (FixedClock): time must still increase with the sequence.
        barrier = threading.Barrier(10)

        def publish(_: int) -> httpx.Response:
            with httpx.Client(base_url=base, trust_env=False, timeout=60) as http:
                barrier.wait(timeout=30)
                return http.post("/admin/publish", headers=auth(setup.tokens["ed"]))

        with ThreadPoolExecutor(10) as pool:
            answers = list(pool.map(publish, range(10)))
        assert [a.status_code for a in answers] == [201] * 10, [a.text for a in answers]
        published = sorted(
            (a.json()["sequence"], datetime.fromisoformat(a.json()["issued_at"])) for a in answers
        )
        assert [s for s, _ in published] == list(range(1, 11))
        times = [t for _, t in published]
        assert all(a < b for a, b in itertools.pairwise(times)), times
        # Every publication is in the log, and the log verifies with the key.
        report = setup.registry.verify_audit(key=setup.key.key.public_key)
        assert report.ok, report
        latest = setup.registry.latest_publication()
        assert latest is not None
        assert latest.sequence == 10


def test_a_retried_publication_with_an_idempotency_key_publishes_once(database_url: str) -> None:
    with registry_for(database_url) as setup, served(setup) as base:
        with_anchor_and_agency(setup)
        barrier = threading.Barrier(5)
        headers = {**auth(setup.tokens["ed"]), "Idempotency-Key": "nightly-2026-03-01"}

        def publish(_: int) -> httpx.Response:
            with httpx.Client(base_url=base, trust_env=False, timeout=60) as http:
                barrier.wait(timeout=30)
                return http.post("/admin/publish", headers=headers)

        with ThreadPoolExecutor(5) as pool:
            answers = list(pool.map(publish, range(5)))
        assert [a.status_code for a in answers] == [201] * 5
        assert {a.json()["sequence"] for a in answers} == {1}
        with httpx.Client(base_url=base, trust_env=False) as http:
            other = http.post(
                "/admin/publish", headers={**auth(setup.tokens["ed"]), "Idempotency-Key": "b"}
            )
        assert other.json()["sequence"] == 2
        published = [e for e in setup.registry.audit_events() if e.action == "publish"]
        assert len(published) == 2
