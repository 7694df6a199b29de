"""JSON-LD canonicalization off the event loop, in a bounded pool of worker processes.

Why processes: canonicalization is pure Python. In a thread it holds the GIL, and one busy
thread was measured to push the event loop's `/health` to ~90 ms (two threads: ~240 ms),
since every time the loop thread wants the GIL back it waits a switch interval. A worker
process leaves the service's interpreter idle. It also makes the time budget a real one: a
worker that has not answered `limits.time_budget + grace` seconds after it was given a
document is killed (and replaced), whatever pyld was doing — the in-process budget checks
only run where pyld gives them a chance.

Admission is bounded too (issue 12, point 14): at most `workers + queue` verifications that
need JSON-LD work are in flight; past that the service answers 503 `service_busy` with
`Retry-After` instead of letting a queue of hostile documents grow without limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import queue
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import Any, Final, TypeVar

from ancre.trust.errors import (
    AncreError,
    Code,
    IndeterminateError,
    InvalidError,
    MalformedError,
)
from ancre.trust.vcdm.jsonld import (
    CanonicalizationLimits,
    ContextStore,
    canonicalize_with,
    default_context_store,
)

__all__ = ["JsonLdPool", "PoolFullError"]

T = TypeVar("T")
#: How long a new worker may take to start (a spawned interpreter importing pyld).
_START_TIMEOUT: Final = 30.0
_ERRORS: Final[Mapping[str, type[AncreError]]] = {
    "MalformedError": MalformedError,
    "InvalidError": InvalidError,
    "IndeterminateError": IndeterminateError,
}


class PoolFullError(Exception):
    """Every worker is busy and the queue is full: answer 503, do not wait."""


def _child_main(conn: Connection) -> None:
    """A worker process: canonicalize documents sent on `conn` until it is closed."""
    import os

    from ancre.trust.vcdm import jsonld

    # Below the service's own priority: on a busy machine the scheduler serves the event loop
    # (health checks, warm JOSE verifications) before a canonicalization.
    with contextlib.suppress(OSError):
        os.nice(10)
    jsonld._pyld()  # import pyld before saying ready: the first job's budget is its own
    conn.send(("ready",))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        document, contexts, limits = message
        try:
            if contexts is None:
                store = default_context_store()
            else:  # an operator's store: its documents were checked against their pins
                store = ContextStore(bundled=False)
                store._documents = dict(contexts)
            conn.send(("ok", jsonld.canonize_here(document, store, limits)))
        except AncreError as error:
            conn.send(("error", type(error).__name__, error.code.value, error.message))
        except BaseException as error:  # noqa: BLE001 - a worker answers, whatever happened
            # Not pyld's failure (canonize_here translates those): an ancre bug, or the
            # machine's (memory). The traceback goes to the worker's stderr, which is the
            # service's; the verdict, which reaches the client, names only the type.
            traceback.print_exc(file=sys.stderr)
            failed = f"JSON-LD processing failed in its worker ({type(error).__name__})"
            conn.send(("error", "InvalidError", Code.CANONICALIZATION_FAILED.value, failed))


class _Worker:
    """One worker: a fresh interpreter running this module (`python -m`), never a fork of
    the threaded server, and never multiprocessing's spawn, which re-imports the parent's
    `__main__` (an unguarded script that builds the app would start a server per worker)."""

    __slots__ = ("conn", "process")

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        try:
            self.process = subprocess.Popen(  # noqa: S603 - this interpreter, this module
                [sys.executable, "-m", __name__, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                close_fds=True,
            )
        finally:
            theirs.close()
        self.conn = Connection(ours.detach())

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
        self.conn.close()


class JsonLdPool:
    """`workers` worker processes (started on first use) and a waiting room of `queue_limit`
    jobs.

    :meth:`run` (on the event loop) admits a job or raises :class:`PoolFullError`, and runs the
    whole verification in one of `workers` threads, where every canonicalization goes to a
    worker process; the thread blocks without holding the GIL while the worker computes."""

    def __init__(
        self,
        *,
        workers: int = 2,
        queue_limit: int = 16,
        grace: float = 1.0,
        job_budget: float = 3.0,
    ) -> None:
        if workers < 1 or queue_limit < 0 or grace <= 0 or job_budget <= 0:
            raise ValueError("workers >= 1, queue_limit >= 0, grace > 0, job_budget > 0")
        self.workers = workers
        self.capacity = workers + queue_limit
        self._grace = grace
        #: Seconds of canonicalization (worker time, not fetches) one verification may use
        #: in all: a presentation carrying many JSON-LD credentials (two canonicalizations
        #: each) must not multiply the per-canonicalization budget.
        self.job_budget = job_budget
        self._job = threading.local()
        self._admitted = 0
        # As many threads as workers: a job waiting its turn waits in the executor's queue,
        # before its own preparation (parsing, key resolution), which holds the GIL and so
        # competes with the event loop: at most `workers` jobs do that at a time.
        self._threads = ThreadPoolExecutor(workers, thread_name_prefix="ancre-jsonld")
        self._idle: queue.Queue[_Worker | None] = queue.Queue()
        for _ in range(workers):
            self._idle.put(None)  # a slot; the process starts when first needed
        self._lock = threading.Lock()
        self._live: set[_Worker] = set()
        self._closed = False
        self._started = False

    @property
    def in_flight(self) -> int:
        """Admitted jobs not finished yet (running or waiting for a worker)."""
        return self._admitted

    async def run(self, job: Callable[[], T]) -> T:
        """Run `job` in the pool; raises :class:`PoolFullError` at once when it is full. Call
        from the event loop only (admission is counted there, without a lock)."""
        if self._admitted >= self.capacity or self._closed:
            raise PoolFullError
        loop = asyncio.get_running_loop()
        if not self._started:
            # Every worker at once, in the background, on first use: a service that never
            # sees a JSON-LD document never pays for them, and one under a flood does not
            # start its second interpreter in the middle of it.
            self._started = True
            threading.Thread(target=self._start_all, daemon=True).start()
        submitted = self._threads.submit(self._in_thread, job)
        self._admitted += 1
        # Released when the job ends, not when its request does: a client that hangs up
        # must not free a place while its verification still runs (or waits) here.
        submitted.add_done_callback(lambda _: loop.call_soon_threadsafe(self._release))
        return await asyncio.wrap_future(submitted)

    def _release(self) -> None:
        self._admitted -= 1

    def _in_thread(self, job: Callable[[], T]) -> T:
        self._job.spent = 0.0
        try:
            with canonicalize_with(self.canonize):
                return job()
        finally:
            self._job.spent = None

    def canonize(
        self, document: Mapping[str, Any], store: ContextStore, limits: CanonicalizationLimits
    ) -> str:
        """A :data:`ancre.trust.vcdm.jsonld.Canonicalizer`: the JSON-LD work in a worker process,
        killed when it overruns `limits.time_budget` (plus the grace for the hand-over)."""
        spent: float | None = getattr(self._job, "spent", None)
        if spent is not None:
            left = self.job_budget - spent
            if left <= 0:
                raise IndeterminateError(
                    Code.CANONICALIZATION_TIMEOUT,
                    f"this verification used up its {self.job_budget:g} s of JSON-LD work",
                )
            if left < limits.time_budget:
                limits = dataclasses.replace(limits, time_budget=left)
        contexts = None if store is default_context_store() else dict(store._documents)
        worker = self._idle.get()
        try:
            if worker is None or not worker.alive():
                if worker is not None:
                    self._forget(worker)
                worker = self._start()
            started = time.monotonic()
            worker.conn.send((dict(document), contexts, limits))
            answered = worker.conn.poll(limits.time_budget + self._grace)
            if spent is not None:
                self._job.spent = spent + time.monotonic() - started
            if not answered:
                self._forget(worker)
                worker = None
                raise IndeterminateError(
                    Code.CANONICALIZATION_TIMEOUT,
                    f"RDF canonicalization overran its {limits.time_budget:g} s budget: the "
                    "worker was stopped",
                )
            answer = worker.conn.recv()
        except (EOFError, OSError, BrokenPipeError):
            if worker is not None:
                self._forget(worker)
                worker = None
            raise IndeterminateError(
                Code.CANONICALIZATION_TIMEOUT, "the JSON-LD worker stopped before answering"
            ) from None
        finally:
            self._idle.put(worker)
        if answer[0] == "ok":
            result: str = answer[1]
            return result
        _, kind, code, message = answer
        raise _ERRORS.get(kind, InvalidError)(Code(code), message)

    def _start_all(self) -> None:
        for _ in range(self.workers):
            try:
                slot = self._idle.get_nowait()
            except queue.Empty:
                return  # the others are in use: started already
            try:
                if slot is None and not self._closed:
                    slot = self._start()
            except IndeterminateError:
                slot = None  # started again when a job needs it
            finally:
                self._idle.put(slot)

    def _start(self) -> _Worker:
        worker = _Worker()
        with self._lock:
            self._live.add(worker)
        try:
            ready = worker.conn.poll(_START_TIMEOUT) and worker.conn.recv() == ("ready",)
        except (EOFError, OSError):
            ready = False
        if not ready:
            self._forget(worker)
            raise IndeterminateError(
                Code.CANONICALIZATION_TIMEOUT, "a JSON-LD worker process did not start"
            )
        return worker

    def _forget(self, worker: _Worker) -> None:
        with self._lock:
            self._live.discard(worker)
        worker.kill()

    def close(self) -> None:
        """Stop the worker processes (jobs still running fail as indeterminate)."""
        self._closed = True
        with self._lock:
            live = list(self._live)
            self._live.clear()
        for worker in live:
            worker.kill()
        self._threads.shutdown(wait=False, cancel_futures=True)


if __name__ == "__main__":
    _child_main(Connection(int(sys.argv[1])))
