"""Issue 12 point 7: SQLite under 16 concurrent writers answered 36 × 500 "database is
locked" and clients timed out. Writers now never need a second connection while holding
the write lock, retry taking it, and when the database stays locked the answer is a 503
`registry_busy` with `Retry-After` — never a bare 500."""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from _sec_registry import ANCHOR, LP, auth, registry_for, served, with_anchor_and_agency
from sqlalchemy import event

from ancre.trust.errors import Code

WRITERS, EACH = 16, 4


def test_sixteen_concurrent_writers_get_no_500(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    with registry_for(url) as setup, served(setup) as base:
        with_anchor_and_agency(setup)
        barrier = threading.Barrier(WRITERS)

        def writer(n: int) -> list[httpx.Response]:
            answers = []
            with httpx.Client(base_url=base, trust_env=False, timeout=120) as http:
                barrier.wait(timeout=30)
                for i in range(EACH):
                    issuer = {
                        "did": f"did:web:w{n}-{i}.example", "legal_name": f"W {n} {i}",
                        "accredited_by": ANCHOR, "credential_types": {LP: []},
                    }  # fmt: skip
                    anchor = {"id": f"did:web:anchor{n}-{i}.example", "name": f"A {n} {i}"}
                    ed = auth(setup.tokens["ed"])
                    # The mix that ran the pool dry: writes that read settings (anchors,
                    # publication) next to plain inserts and audited reads.
                    answers.append(http.post("/admin/issuers", json=issuer, headers=ed))
                    answers.append(http.post("/admin/anchors", json=anchor, headers=ed))
                    answers.append(http.post("/admin/publish", headers=ed))
                    answers.append(http.get("/admin/anchors", headers=auth(setup.tokens["vi"])))
            return answers

        with ThreadPoolExecutor(WRITERS) as pool:
            answers = [a for batch in pool.map(writer, range(WRITERS)) for a in batch]
        statuses = [a.status_code for a in answers]
        assert 500 not in statuses
        for answer in answers:
            if answer.status_code == 503:
                assert answer.headers["Retry-After"] == "1"
                assert answer.json()["code"] == Code.REGISTRY_BUSY.value
            else:
                assert answer.status_code in (200, 201, 202), answer.text
        added = {i.did for i in setup.registry.issuers()}
        created = sum(1 for a in answers if a.status_code == 201 and "did" in a.json())
        assert len(added) == created + 1  # + the agency of the set-up
        assert setup.registry.verify_audit().ok


def test_a_database_locked_for_good_is_a_503_with_retry_after(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    with registry_for(f"sqlite:///{path}") as setup, served(setup) as base:

        @event.listens_for(setup.registry.engine, "connect")
        def _short(dbapi_connection: Any, _record: Any) -> None:
            # Keep the test short: wait 50 ms for the lock instead of 10 s.
            dbapi_connection.execute("PRAGMA busy_timeout=50")

        setup.registry.engine.dispose()  # new connections get the short timeout
        holder = sqlite3.connect(path, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            with httpx.Client(base_url=base, trust_env=False) as http:
                answer = http.post(
                    "/admin/anchors", json={"id": "did:web:a.example", "name": "A"},
                    headers=auth(setup.tokens["ed"]),
                )  # fmt: skip
            assert answer.status_code == 503, answer.text
            assert answer.headers["Retry-After"] == "1"
            assert answer.json()["code"] == Code.REGISTRY_BUSY.value
        finally:
            holder.rollback()
            holder.close()
        with httpx.Client(base_url=base, trust_env=False) as http:
            again = http.post(
                "/admin/anchors", json={"id": "did:web:a.example", "name": "A"},
                headers=auth(setup.tokens["ed"]),
            )  # fmt: skip
        assert again.status_code == 202
