"""`TrustListClient`: keeps a verified trust list current for verifiers — fetching or
reading it, caching it (in memory and on disk), remembering the highest sequence accepted
per registry across restarts (rollback memory), and backing off after failed refreshes while
the last good list serves until its `NextUpdate`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from ancre.trust.clock import Clock
from ancre.trust.did.document import DidResolver
from ancre.trust.errors import (
    AncreError,
    Code,
    ConfigurationError,
    IndeterminateError,
    InvalidError,
    MalformedError,
)
from ancre.trust.net.blocking import WouldBlock, may_block
from ancre.trust.steps import KeySource
from ancre.trust.trust_list.index import TrustList
from ancre.trust.trust_list.model import _stamp
from ancre.trust.trust_list.signed import MAX_TRUST_LIST_BYTES, verify_trust_list

__all__ = ["RefreshStatus", "TrustListClient", "default_state_dir"]


#: The environment variable naming ancre's state directory (rollback memory).
STATE_DIR_ENV: Final = "ANCRE_STATE_DIR"


def default_state_dir() -> str:
    """Where ancre keeps state that must survive a restart (the highest trust-list sequence
    seen per registry): `$ANCRE_STATE_DIR`, else `$XDG_STATE_HOME/ancre`, else
    `~/.local/state/ancre` (XDG Base Directory: "state data that should persist between
    (application) restarts")."""
    import os
    from pathlib import Path

    explicit = os.environ.get(STATE_DIR_ENV)
    if explicit:
        return explicit
    xdg = os.environ.get("XDG_STATE_HOME")
    if xdg and os.path.isabs(xdg):  # the spec: a relative path is invalid, ignore it
        return str(Path(xdg) / "ancre")
    return str(Path.home() / ".local" / "state" / "ancre")


def _registry_file(folder: str, registry: str, suffix: str) -> str:
    """A file in `folder` (created, owner-only) named after the registry, not after where
    its list comes from: the same registry's list fetched from a URL or read from a saved
    file shares one rollback memory (issue 12, point 12)."""
    import hashlib
    from pathlib import Path

    path = Path(folder)
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigurationError(f"state directory {folder}: {error.strerror}") from None
    name = "trust-list-" + hashlib.sha256(registry.encode("utf-8")).hexdigest()[:16]
    return str(path / f"{name}{suffix}")


def _raise_state(path: str, sequence: int) -> int:
    """Raise the sequence stored in `path` to `sequence` (never lower it) and return the
    stored value. Under an exclusive lock: two processes accepting #7 and #6 at once must
    leave 7, not whichever wrote last."""
    import fcntl
    import os
    from pathlib import Path

    from ancre.trust.keys.keystore import atomic_write

    try:
        lock = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as error:
        raise _unrecorded(path, error) from None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with open(path, encoding="utf-8") as handle:
                stored = int(handle.read(32).strip() or 0)
        except FileNotFoundError:
            stored = 0
        except (OSError, ValueError):
            raise ConfigurationError(f"trust-list state file {path} is unreadable") from None
        if sequence > stored:
            atomic_write(Path(path), f"{sequence}\n".encode(), mode=0o644)
            stored = sequence
    except OSError as error:
        raise _unrecorded(path, error) from None
    finally:
        os.close(lock)  # releases the lock
    return stored


def _unrecorded(path: str, error: OSError) -> IndeterminateError:
    # A list whose sequence cannot be recorded is not accepted: after a restart the memory
    # would not know it, and an older list would pass. The list held (if any) keeps serving.
    return IndeterminateError(
        Code.TRUST_LIST_UNAVAILABLE,
        f"cannot record the trust-list sequence in {path}: {error.strerror}",
    )


@dataclass(frozen=True, slots=True)
class RefreshStatus:
    """How the client's refreshes are going, for readiness probes, metrics and logs."""

    #: The sequence of the list served now (None: none).
    sequence: int | None
    #: When that list expires (its NextUpdate).
    next_update: datetime | None
    #: Failed refreshes since the client was made, and in a row since the last success.
    failures: int
    consecutive_failures: int
    #: The last failed refresh's code and message (None after a success).
    last_error_code: str | None
    last_error: str | None
    #: When the next refresh may be tried (backoff), if the last one failed.
    next_attempt_at: datetime | None


class TrustListClient:
    """Keeps a verified trust list current, for verifiers.

    `source` is the list's URL (fetched through `ancre.trust.net.guard.fetch`, so the SSRF guard
    and time limits apply; ETag revalidation after `max-age`) or, offline, a path to a saved
    `trust-list+jwt` file. The list may be up to `max_bytes` long — its own limit, not the
    network policy's (a list of 10,000 issuers is about 14 MB).

    Rollback: the highest sequence number ever accepted for `registry` is remembered — in a
    state file named after the registry (not the source: a URL and a saved file of the same
    registry share it) in `state_dir`, which defaults to `cache_dir` if given, else
    `default_state_dir()`; `state_file` names the file outright. An older list is refused
    as a rollback.

    A failed refresh (unreachable, too slow, garbage, a forged or an older list) never
    discards a good list: the last accepted list is served until its `NextUpdate`, the
    failure is counted and logged (`refresh_status()`), and the next attempt waits with
    exponential backoff and jitter (`retry_base` doubling up to `retry_max`) — one refresh
    at a time; while it runs, other callers get the cached list. Past `NextUpdate`, and
    with no list at all, `current()` raises — never a stale answer.

    `cache_file` keeps the last accepted signed list on disk (written atomically), so a
    restarted verifier answers as before even while the registry is down: the file is
    verified again (signature, registry, rollback, NextUpdate) when loaded, revalidated with
    the registry at first use, and ignored if it no longer verifies. `cache_dir` sets it
    (named after the registry) and, by default, `state_dir`.
    """

    def __init__(
        self,
        source: str,
        *,
        registry: str,
        resolver: DidResolver | KeySource,
        clock: Clock,
        http_client: Any = None,
        network: Any = None,
        state_file: str | None = None,
        cache_file: str | None = None,
        cache_dir: str | None = None,
        state_dir: str | None = None,
        default_ttl: timedelta = timedelta(minutes=5),
        max_bytes: int = MAX_TRUST_LIST_BYTES,
        retry_base: timedelta = timedelta(seconds=1),
        retry_max: timedelta = timedelta(minutes=5),
    ) -> None:
        if cache_dir is not None:
            if state_file is not None or cache_file is not None:
                raise ConfigurationError("give cache_dir, or state_file/cache_file, not both")
            cache_file = _registry_file(cache_dir, registry, ".jwt")
        if max_bytes < 1:
            raise ConfigurationError("the trust-list size limit must be positive")
        if state_file is not None and state_dir is not None:
            raise ConfigurationError("give state_file or state_dir, not both")
        if state_file is None:
            folder = state_dir or cache_dir or default_state_dir()
            state_file = _registry_file(folder, registry, ".sequence")
        self.source = source
        self._registry, self._resolver, self._clock = registry, resolver, clock
        self._client, self._network = http_client, network
        self._state_file: str = state_file
        self._ttl = default_ttl
        self._max_bytes = max_bytes
        self._retry_base, self._retry_max = retry_base, retry_max
        self._list: TrustList | None = None
        self._etag: str | None = None
        self._fresh_until: datetime | None = None
        self._lock = threading.Lock()
        self._failures = 0
        self._consecutive = 0
        self._last_error: AncreError | None = None
        self._retry_at: datetime | None = None
        self._highest = self._load_highest()
        self._cache_file = cache_file
        self._load_cache()

    @property
    def offline(self) -> bool:
        return not self.source.startswith(("https://", "http://"))

    @property
    def max_bytes(self) -> int:
        """The largest list this client accepts, in bytes."""
        return self._max_bytes

    def _load_highest(self) -> int:
        try:
            with open(self._state_file, encoding="utf-8") as handle:
                value = int(handle.read(32).strip() or 0)
        except FileNotFoundError:
            return 0
        except (OSError, ValueError):
            raise ConfigurationError(
                f"trust-list state file {self._state_file} is unreadable"
            ) from None
        return value

    def _load_cache(self) -> None:
        if self._cache_file is None:
            return
        try:
            with open(self._cache_file, "rb") as handle:
                body = handle.read(self._max_bytes + 1)
        except FileNotFoundError:
            return
        except OSError as error:
            raise ConfigurationError(
                f"trust-list cache {self._cache_file} is unreadable: {error.strerror}"
            ) from None
        try:
            # Fresh until now: the first use revalidates with the registry; if that fails,
            # this list serves until its NextUpdate, like any list fetched earlier.
            self._accept(body, fresh_until=self._clock.now(), save=False)
        except AncreError:
            # Tampered, rolled back, stale or signed by another registry: not a list to use.
            self._list = None

    def _remember(self, sequence: int) -> None:
        if sequence <= self._highest:
            return
        self._highest = _raise_state(self._state_file, sequence)

    def refresh_status(self) -> RefreshStatus:
        """The list served now and how refreshing it is going (no network)."""
        listed, error = self._list, self._last_error
        return RefreshStatus(
            sequence=None if listed is None else listed.sequence,
            next_update=None if listed is None else listed.document.next_update,
            failures=self._failures,
            consecutive_failures=self._consecutive,
            last_error_code=None if error is None else error.code.value,
            last_error=None if error is None else error.message,
            next_attempt_at=self._retry_at,
        )

    def _due(self, now: datetime) -> bool:
        """Whether a refresh should be tried now."""
        if self._retry_at is not None:
            return now >= self._retry_at  # backing off after a failure
        return self._list is None or self._fresh_until is None or now >= self._fresh_until

    def current(self) -> TrustList:
        """A verified, non-stale list (refreshing it if its cache time is over)."""
        now = self._clock.now()
        listed = self._list
        if listed is not None and not self._due(now):
            return self._answer(now)
        # Single flight: one refresh at a time. A caller arriving while another refreshes
        # gets the cached list if it still serves; only with nothing to serve does it wait.
        # The lock is held across a refresh (network): code that must not block (an event
        # loop, inside `net.no_network()`) does not wait for it.
        if not self._lock.acquire(blocking=False):
            if listed is not None and now < listed.document.next_update:
                return listed
            if not may_block():
                raise WouldBlock(self.source)
            self._lock.acquire()
        try:
            now = self._clock.now()
            if self._due(now):
                if not may_block():
                    raise WouldBlock(self.source)  # a fetch or a file read
                self._attempt(now)
            return self._answer(now)
        finally:
            self._lock.release()

    def _attempt(self, now: datetime) -> None:
        try:
            self._refresh(now)
        except (InvalidError, IndeterminateError, MalformedError) as error:
            self._failed(now, error)
            return
        self._consecutive, self._last_error, self._retry_at = 0, None, None

    def _failed(self, now: datetime, error: AncreError) -> None:
        """Count and log a failed refresh and back off before the next one. The list held
        (if any) stays: one bad answer from the registry — garbage, a forgery, an older list
        — must not turn every verdict invalid (issue 12, point 8), and a failing registry
        must not be asked again on every request (point 9)."""
        import logging
        import random

        self._failures += 1
        self._consecutive += 1
        self._last_error = error
        exponent = min(self._consecutive - 1, 30)
        delay = min(self._retry_max, self._retry_base * (2**exponent))
        # "Equal jitter": half the delay, plus up to as much again at random, so verifiers
        # restarted together do not hit a recovering registry in step.
        delay = delay / 2 + delay * (random.random() / 2)  # noqa: S311 - not a secret
        self._retry_at = now + delay
        listed = self._list
        serving = (
            f"serving #{listed.sequence} until {_stamp(listed.document.next_update)}"
            if listed is not None and now < listed.document.next_update
            else "no list to serve"
        )
        logging.getLogger("ancre.trust.trust_list.client").warning(
            "trust list refresh from %s failed (%s: %s); %s; next attempt at %s",
            self.source[:200],
            error.code.value,
            # The message may quote what the registry sent (a header's `iss`…): escaped, so
            # it cannot forge log lines.
            error.message[:500].encode("unicode_escape").decode("ascii"),
            serving,
            _stamp(self._retry_at),
        )

    def _answer(self, now: datetime) -> TrustList:
        listed, error = self._list, self._last_error
        if listed is not None:
            if now < listed.document.next_update:
                return listed
            why = "" if error is None else f" ({error.code.value}: {error.message})"
            raise IndeterminateError(
                Code.TRUST_LIST_STALE,
                f"trust list #{listed.sequence} expired at "
                f"{_stamp(listed.document.next_update)} and could not be refreshed{why}",
            )
        if error is not None:
            # While backing off, the last failure stands (same verdict and code), without
            # asking the registry again.
            raise type(error)(error.code, error.message)
        raise IndeterminateError(Code.TRUST_LIST_UNAVAILABLE, f"no trust list from {self.source}")

    def _refresh(self, now: datetime) -> None:
        if self.offline:
            try:
                with open(self.source, "rb") as handle:
                    body = handle.read(self._max_bytes + 1)
            except OSError as error:
                raise IndeterminateError(
                    Code.TRUST_LIST_UNAVAILABLE, f"cannot read {self.source}: {error.strerror}"
                ) from None
            self._accept(body, fresh_until=now + self._ttl)
            return
        from dataclasses import replace

        from ancre.trust.net.guard import NetworkPolicy, fetch, freshness

        if self._client is None:
            raise ConfigurationError("fetching a trust list needs an http_client")
        # The list has its own size limit: the network policy's (256 KiB by default, sized
        # for DID documents) would refuse a list of a few hundred issuers (point 11).
        network = replace(self._network or NetworkPolicy(), max_bytes=self._max_bytes)
        headers = {"Accept": "application/trust-list+jwt"}
        if self._etag and self._list is not None:
            headers["If-None-Match"] = self._etag
        try:
            result = fetch(self.source, client=self._client, policy=network, headers=headers)
        except (InvalidError, IndeterminateError) as error:
            # Refused by the guard, unreachable, too slow: in every case the list is simply
            # not available, which is what the verdict should say.
            raise IndeterminateError(
                Code.TRUST_LIST_UNAVAILABLE, f"{self.source}: {error.code}: {error.message}"
            ) from None
        fresh = freshness(
            result.headers,
            clock=self._clock,
            default_ttl=int(self._ttl.total_seconds()),
            max_ttl=86400,
        )
        if result.status == 304 and self._list is not None:
            self._fresh_until = fresh.expires_at
            return
        if result.status != 200:
            raise IndeterminateError(
                Code.TRUST_LIST_UNAVAILABLE, f"{self.source} answered HTTP {result.status}"
            )
        self._accept(result.body, fresh_until=fresh.expires_at)
        self._etag = fresh.etag

    def _accept(self, body: bytes, *, fresh_until: datetime, save: bool = True) -> None:
        # Another process (a CLI run, a replica) may have seen a newer list since.
        self._highest = max(self._highest, self._load_highest())
        token = body.strip()
        trust_list = verify_trust_list(
            token,
            registry=self._registry,
            resolver=self._resolver,
            clock=self._clock,
            min_sequence=self._highest or None,
            max_bytes=self._max_bytes,
        )
        self._remember(trust_list.sequence)
        if save and self._cache_file is not None:
            import logging
            from pathlib import Path

            from ancre.trust.keys.keystore import atomic_write

            try:
                atomic_write(Path(self._cache_file), token, mode=0o644)
            except OSError as error:  # a warm start is lost, not the list: keep going
                logging.getLogger("ancre.trust.trust_list.client").warning(
                    "cannot write the trust-list cache %s: %s", self._cache_file, error.strerror
                )
        self._list, self._fresh_until = trust_list, fresh_until

    def is_trusted(self, issuer: str, credential_type: str, at: datetime) -> bool:
        return self.current().is_trusted(issuer, credential_type, at)

    def check(
        self,
        issuer: str,
        credential_types: Iterable[str],
        *,
        issued_at: datetime,
        now: datetime,
        credential: Mapping[str, Any] | None = None,
    ) -> str:
        """`TrustList.check` on the current list (indeterminate if there is none)."""
        return self.current().check(
            issuer, credential_types, issued_at=issued_at, now=now, credential=credential
        )
