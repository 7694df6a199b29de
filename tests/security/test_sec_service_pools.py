"""Issue 12, points 14 and 18: the verifier's bounded pools stay bounded when clients hang
up. A verification keeps its place (JSON-LD admission, a host's fetch slot) until its job
ends, not until its request does: otherwise an attacker sending and dropping requests
would queue unbounded work behind the limits."""

from __future__ import annotations

import asyncio
import threading

import pytest

from ancre.trust.vcdm.jsonld import DEFAULT_LIMITS
from ancre.verifier._jsonld_pool import JsonLdPool, PoolFullError, _Worker
from ancre.verifier._outbound import HostBusyError, OutboundLimiter


def test_jsonld_admission_survives_a_cancelled_request() -> None:
    pool = JsonLdPool(workers=1, queue_limit=0)
    release = threading.Event()

    async def scenario() -> None:
        first = asyncio.ensure_future(pool.run(lambda: release.wait(10)))
        await asyncio.sleep(0)  # let it be admitted and start
        first.cancel()  # the client hung up; its job runs on
        with pytest.raises(asyncio.CancelledError):
            await first
        with pytest.raises(PoolFullError):
            await pool.run(lambda: True)
        release.set()
        for _ in range(500):  # bounded: the place comes back when the job ends
            if pool.in_flight == 0:
                break
            await asyncio.sleep(0.01)
        assert await pool.run(lambda: "ran") == "ran"

    try:
        asyncio.run(scenario())
    finally:
        release.set()
        pool.close()


def test_host_slot_survives_a_cancelled_request() -> None:
    limiter = OutboundLimiter(total=4, per_host=1, per_host_queue=0)
    release = threading.Event()

    async def scenario() -> None:
        first = asyncio.ensure_future(limiter.run("http://slow", lambda: release.wait(10)))
        for _ in range(500):
            await asyncio.sleep(0.01)
            if limiter._hosts["http://slow"].semaphore.locked():
                break
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        # Still fetching from the hanging host: no second slot for it, and no waiting room.
        with pytest.raises(HostBusyError):
            await limiter.run("http://slow", lambda: True)
        # Another host is unaffected.
        assert await limiter.run("http://fast", lambda: "fetched") == "fetched"
        release.set()
        for _ in range(500):
            if not limiter._hosts["http://slow"].semaphore.locked():
                break
            await asyncio.sleep(0.01)
        assert await limiter.run("http://slow", lambda: "again") == "again"

    try:
        asyncio.run(scenario())
    finally:
        release.set()
        limiter.close()


def test_one_verification_has_one_jsonld_budget() -> None:
    """A presentation carrying many JSON-LD credentials canonicalizes twice per credential:
    the budget is per verification (worker time), not per canonicalization."""
    from _support import credential

    from ancre.trust.errors import IndeterminateError
    from ancre.trust.vcdm.jsonld import canonize

    pool = JsonLdPool(workers=1, queue_limit=0, job_budget=0.2)
    document = credential(
        "did:example:issuer",
        credentialSubject=[{"name": f"subject {i}"} for i in range(300)],
    )
    document["@context"] = [*document["@context"], {"@vocab": "https://example.org/vocab#"}]
    done: list[int] = []

    def many_canonicalizations() -> None:
        for _ in range(50):
            canonize(document)
            done.append(1)

    async def scenario() -> None:
        await pool.run(lambda: canonize({"@context": document["@context"]}))  # a warm worker
        with pytest.raises(IndeterminateError) as raised:
            await pool.run(many_canonicalizations)
        assert raised.value.code.value == "canonicalization_timeout"

    try:
        asyncio.run(scenario())
    finally:
        pool.close()
    assert len(done) < 50


def test_jsonld_worker_logs_an_unexpected_failure_and_echoes_none_of_it(
    capfd: pytest.CaptureFixture[str],
) -> None:
    # A failure that is not pyld's (those are translated in the worker): the verdict, which
    # reaches the client, names the type only; the traceback goes to the service's stderr.
    worker = _Worker()
    try:
        assert worker.conn.poll(30), "the worker did not start"
        assert worker.conn.recv() == ("ready",)
        document = {"@context": "https://www.w3.org/ns/credentials/v2"}
        worker.conn.send((document, 5, DEFAULT_LIMITS))  # 5: not a store's documents
        assert worker.conn.poll(30), "the worker did not answer"
        answer = worker.conn.recv()
    finally:
        worker.kill()
    assert answer == (
        "error",
        "InvalidError",
        "canonicalization_failed",
        "JSON-LD processing failed in its worker (TypeError)",
    )
    logged = capfd.readouterr().err
    assert "Traceback" in logged
    assert "'int' object is not iterable" in logged
