"""Bounds on the verifications that must fetch (issue 12, point 18).

A verification that needs the network (a cold did:web, a status list, a trust-list refresh)
leaves the event loop for a worker thread, and holds it until the fetch ends — up to the
network deadline when the other side hangs. Two hundred credentials naming one hanging
did:web host used to take every worker thread, so a credential from a healthy host waited
~24 s behind them (and so did `/health`, then a sync endpoint).

Now each such verification first takes a slot for the host it is about to fetch from
(`WouldBlock` names the URL): at most `per_host` at a time per host (scheme, host and port),
at most `total` in all, in a thread pool of its own. A host's waiting room is bounded too:
past `per_host_queue` waiting, the service answers 503 `service_busy` at once. Verifications
whose caches are warm never come here: they stay on the event loop.

Only the first fetch of a verification is assigned to a host: one that goes on to fetch
elsewhere (a status list after a DID document) keeps its slot, bounded by the network
deadline of each fetch.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Final, TypeVar
from urllib.parse import urlsplit

__all__ = ["HostBusyError", "OutboundLimiter", "host_of"]

T = TypeVar("T")
#: Hosts whose semaphores are kept (idle ones beyond this are forgotten).
_MAX_HOSTS: Final = 4096


class HostBusyError(Exception):
    """Too many verifications are already waiting on this host: answer 503, do not queue."""


def host_of(blocked: BaseException) -> str:
    """The origin a `WouldBlock` was about to fetch from; "" when it does not say (a wait
    for a refresh another thread runs), which shares one slot group."""
    url = blocked.args[0] if blocked.args and isinstance(blocked.args[0], str) else ""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.netloc else ""


class _Host:
    __slots__ = ("semaphore", "users", "waiting")

    def __init__(self, per_host: int) -> None:
        self.semaphore = asyncio.Semaphore(per_host)
        self.waiting = 0
        #: Jobs waiting for or holding a slot: a host is forgotten only at 0.
        self.users = 0


class OutboundLimiter:
    """Per-host and overall limits on verifications that fetch; used from one event loop."""

    def __init__(self, *, total: int = 32, per_host: int = 4, per_host_queue: int = 64) -> None:
        if total < 1 or per_host < 1 or per_host_queue < 0:
            raise ValueError("total >= 1, per_host >= 1, per_host_queue >= 0")
        self.total = total
        self.per_host = per_host
        self.per_host_queue = per_host_queue
        self._all: asyncio.Semaphore | None = None
        self._hosts: OrderedDict[str, _Host] = OrderedDict()
        self._threads = ThreadPoolExecutor(total, thread_name_prefix="ancre-fetch")

    async def run(self, host: str, job: Callable[[], T]) -> T:
        """Run `job` in a fetch thread once `host` and the pool have a slot; raises
        :class:`HostBusyError` at once when `per_host_queue` jobs already wait for `host`."""
        if self._all is None:
            self._all = asyncio.Semaphore(self.total)  # bound to the running loop
        slot = self._hosts.get(host)
        if slot is None:
            slot = self._hosts[host] = _Host(self.per_host)
            self._forget_idle()
        self._hosts.move_to_end(host)
        if slot.semaphore.locked() and slot.waiting >= self.per_host_queue:
            raise HostBusyError(host)
        all_slots = self._all
        slot.users += 1
        slot.waiting += 1
        try:
            await slot.semaphore.acquire()
        except BaseException:
            slot.users -= 1
            raise
        finally:
            slot.waiting -= 1
        try:
            await all_slots.acquire()
        except BaseException:
            slot.semaphore.release()
            slot.users -= 1
            raise
        loop = asyncio.get_running_loop()

        def release() -> None:
            all_slots.release()
            slot.semaphore.release()
            slot.users -= 1

        submitted = self._threads.submit(job)
        # Released when the fetch ends, not when the request does: a client that hangs up
        # must not free its host's slot while the thread still waits on that host.
        submitted.add_done_callback(lambda _: loop.call_soon_threadsafe(release))
        return await asyncio.wrap_future(submitted)

    def _forget_idle(self) -> None:
        for name in list(self._hosts)[: max(0, len(self._hosts) - _MAX_HOSTS)]:
            candidate = self._hosts[name]
            if candidate.users == 0:
                del self._hosts[name]

    def close(self) -> None:
        """Stop taking jobs (running fetches end at their deadline)."""
        self._threads.shutdown(wait=False, cancel_futures=True)
