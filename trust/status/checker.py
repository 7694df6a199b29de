"""Revocation and suspension checks against status lists fetched over HTTP.

:class:`StatusListChecker` implements the pipeline's ``StatusChecker`` protocol for

* VCDM credentials whose ``credentialStatus`` entries are ``BitstringStatusListEntry``
  (W3C Bitstring Status List v1.0, :mod:`ancre.trust.status.bitstring`), the list being a
  ``BitstringStatusListCredential`` secured as ``vc+jwt`` (also enveloped) or with an
  embedded Data Integrity proof (any allow-listed cryptosuite, proof sets and chains);
* JWT / SD-JWT VC claims with ``status.status_list`` (IETF Token Status List,
  :mod:`ancre.trust.status.token`), the list being a ``statuslist+jwt``.

Every list is fetched through :func:`ancre.trust.net.guard.fetch` (SSRF guard, size and time
limits: the list URL is chosen by whoever issued the credential), verified like any
credential, and must be signed by the credential's issuer — a list "signed by a stranger"
would let anyone un-revoke a credential. Lists are cached with HTTP semantics
(``Cache-Control`` max-age, ``ETag`` revalidation) tightened by the list's own ``ttl``,
``validUntil`` and ``exp``; the decoded bitstring is kept per list version (keyed by URL and
the digest of the encoded list), so a check on a cached list is one O(1) bit lookup.

Fail closed: a list that cannot be fetched, verified or is expired makes the status
*indeterminate* (``status_unavailable``), never valid; stale lists are not served when the
server cannot be reached.
"""

from __future__ import annotations

import hashlib
import socket
import threading
from collections import OrderedDict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Final, cast

import httpx

from ancre.trust.clock import Clock
from ancre.trust.codec.json import loads_strict
from ancre.trust.did.document import DidResolver
from ancre.trust.errors import (
    AncreError,
    Code,
    ConfigurationError,
    IndeterminateError,
    InvalidError,
)
from ancre.trust.jose.vc_jose import unenvelope, verify_vc_jwt
from ancre.trust.net.blocking import WouldBlock, may_block
from ancre.trust.net.guard import AddressResolver, Freshness, NetworkPolicy, fetch, freshness
from ancre.trust.policy import VerificationPolicy
from ancre.trust.status.bitstring import (
    DEFAULT_MAX_DECODED_BYTES,
    ENTRY_TYPE,
    MIN_ENTRIES,
    PURPOSES,
    Bitstring,
    BitstringStatusListEntry,
    parse_entry,
    parse_status_list_credential,
)
from ancre.trust.status.token import (
    DecodedStatusList,
    StatusType,
    parse_status_reference,
    verify_status_list_token,
)
from ancre.trust.steps import KeySource, iso, numeric_date
from ancre.trust.vcdm.model import parse_datetime_stamp, types_of

__all__ = ["CacheStats", "StatusListChecker"]

#: Status list credentials are small (a 131,072-entry list is a few hundred bytes to 22 KB);
#: 1 MiB leaves room for large lists while bounding what a hostile issuer can send.
DEFAULT_NETWORK: Final = NetworkPolicy(max_bytes=1024 * 1024)
_BITSTRING: Final = "bitstring"
_TOKEN: Final = "token"  # noqa: S105 - a list kind, not a secret
_ACCEPT: Final = {
    _BITSTRING: "application/vc+jwt, application/vc+ld+json+jwt;q=0.9, application/vc;q=0.8, "
    "application/vc+ld+json;q=0.7, application/jwt;q=0.5",
    _TOKEN: "application/statuslist+jwt",
}
#: Codes that say something about the list itself; every other failure to obtain or
#: verify a list only means its status could not be established.
_PASS_THROUGH: Final = frozenset(
    {
        Code.STATUS_LIST_ISSUER_MISMATCH,
        Code.STATUS_LIST_INVALID,
        Code.STATUS_LIST_TOO_LARGE,
        Code.STATUS_UNAVAILABLE,
    }
)
_MAX_STATUS_ENTRIES: Final = 8


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Counters since the checker was made (for tests, metrics and benchmarks)."""

    hits: int
    fetches: int
    not_modified: int
    decodes: int
    lists: int
    cached_bytes: int


@dataclass(slots=True)
class _List:
    """A verified, decoded status list as cached."""

    kind: str
    url: str
    issuer: str
    purposes: frozenset[str]
    data: Bitstring | DecodedStatusList
    digest: bytes
    not_before: datetime | None
    not_after: datetime | None
    ttl: timedelta | None
    #: the ttl overrides HTTP caching headers (Token Status List §8.2)
    ttl_overrides_http: bool
    fresh: Freshness
    cache_control: str | None

    @property
    def nbytes(self) -> int:
        return self.data.nbytes


def _unavailable(url: str, error: AncreError) -> AncreError:
    if error.code in _PASS_THROUGH:
        return error
    if error.code is Code.RESPONSE_TOO_LARGE:
        return InvalidError(Code.STATUS_LIST_TOO_LARGE, error.message)
    return IndeterminateError(
        Code.STATUS_UNAVAILABLE, f"status list {url[:200]}: {error.code}: {error.message}"
    )


class StatusListChecker:
    """Checks ``credentialStatus`` / ``status.status_list`` against fetched status lists.

    ``client`` is the ``httpx.Client`` for :func:`ancre.trust.net.guard.fetch` (dedicated, no
    HTTP/2); ``network`` its policy. ``resolver`` resolves the keys of status-list signers
    (the credential issuers' DIDs, or a ``KeySource``). ``policy`` is the verification
    policy for the list credentials (algorithms, clock skew); its status, schema, trust and
    type requirements are not applied to lists.

    ``also_trusted`` maps a credential issuer to other issuers whose status lists are
    accepted for its credentials (W3C §2.2 and TSL §13.5 allow a separate status issuer);
    by default a list must be issued by the credential's own issuer.

    Caching: at most ``max_lists`` lists and ``max_cached_bytes`` decoded bytes (LRU);
    freshness from ``Cache-Control`` (``default_ttl`` seconds without it, capped at
    ``max_ttl``), shortened by a W3C list's ``ttl``, replaced by a Token Status List's
    ``ttl`` (TSL §8.2: the token's claims take priority over HTTP headers), never past the
    list's ``validUntil`` / ``exp``. ``max_decoded_bytes`` bounds decompression;
    ``min_entries`` is the W3C herd-privacy minimum (§3.2 step 2).

    Thread-safe: the cache lock is never held across network I/O.
    """

    def __init__(
        self,
        *,
        client: httpx.Client,
        resolver: DidResolver | KeySource,
        network: NetworkPolicy = DEFAULT_NETWORK,
        policy: VerificationPolicy | None = None,
        also_trusted: Mapping[str, Collection[str]] | None = None,
        max_lists: int = 256,
        max_cached_bytes: int = 64 * 1024 * 1024,
        default_ttl: int = 300,
        max_ttl: int = 86400,
        max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES,
        min_entries: int = MIN_ENTRIES,
        getaddrinfo: AddressResolver = socket.getaddrinfo,
    ) -> None:
        if (
            max_lists < 0
            or max_cached_bytes < 0
            or not 0 <= default_ttl <= max_ttl
            or max_decoded_bytes < 1
            or min_entries < 0
        ):
            raise ConfigurationError(
                "StatusListChecker needs non-negative sizes and 0 <= default_ttl <= max_ttl"
            )
        base = policy or VerificationPolicy()
        # The list credential is verified like any credential, except: its own status is
        # not checked (no recursion), no Gaia-X schema applies, the trust list and type
        # requirements are the caller's business for the credential, not for the list, and
        # its size limit is the network limit (a list can be larger than a credential).
        self._policy = replace(
            base,
            check_status=False,
            check_schema=False,
            trusted_issuers=None,
            required_types=frozenset(),
            max_credential_age=None,
            max_token_bytes=network.max_bytes,
            audience=None,
            nonce=None,
        )
        self._client = client
        self._resolver = resolver
        self._network = network
        self._also = {k: frozenset(v) for k, v in (also_trusted or {}).items()}
        self._max_lists = max_lists
        self._max_cached_bytes = max_cached_bytes
        self._default_ttl = default_ttl
        self._max_ttl = max_ttl
        self._max_decoded = max_decoded_bytes
        self._min_entries = min_entries
        self._getaddrinfo = getaddrinfo
        self._lock = threading.Lock()
        #: Striped per-list locks: one fetch of a list at a time (no stampede on expiry).
        self._flights = tuple(threading.Lock() for _ in range(64))
        self._cache: OrderedDict[tuple[str, str], _List] = OrderedDict()
        self._cached_bytes = 0
        self._hits = self._fetches = self._not_modified = self._decodes = 0

    # -- public API

    def check(self, credential: Mapping[str, Any], *, issuer: str, clock: Clock) -> str:
        """Check the status of ``credential`` (issued by ``issuer``) at ``clock.now()``.

        Returns a one-line summary when no entry reports a problem; ``statusPurpose``
        ``message`` and ``refresh`` entries report their status in that summary (they do
        not invalidate the credential). Raises ``InvalidError`` — ``revoked``,
        ``suspended``, ``status_list_issuer_mismatch``, ``status_index_out_of_range``,
        ``status_list_invalid``, ``status_list_too_large``, ``invalid_property`` (malformed
        entry) — or ``IndeterminateError(status_unavailable)`` (list unreachable, HTTP
        error, unverifiable or expired list, unsupported status type). With several
        entries, a proven problem wins over an undecidable one."""
        if "credentialStatus" in credential:
            raw = credential["credentialStatus"]
            entries = raw if isinstance(raw, list) else [raw]
            if not entries:
                raise InvalidError(Code.INVALID_PROPERTY, "`credentialStatus` must not be empty")
            if len(entries) > _MAX_STATUS_ENTRIES:
                # Each entry may name another list URL: a credential must not be able to
                # make the verifier fetch arbitrarily many documents.
                raise IndeterminateError(
                    Code.STATUS_UNCHECKED,
                    f"{len(entries)} status entries; ancre checks at most {_MAX_STATUS_ENTRIES}",
                )
            messages: list[str] = []
            pending: AncreError | None = None
            for item in entries:
                try:
                    messages.append(self._check_entry(item, issuer, clock))
                except IndeterminateError as error:
                    pending = pending or error
            if pending is not None:
                raise pending
            return "; ".join(messages)
        if "status" in credential:
            return self._check_token_reference(credential, issuer, clock)
        return "no status information to check"

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(
                hits=self._hits,
                fetches=self._fetches,
                not_modified=self._not_modified,
                decodes=self._decodes,
                lists=len(self._cache),
                cached_bytes=self._cached_bytes,
            )

    def invalidate(self, url: str | None = None) -> None:
        """Forget one list (every kind at that URL), or all lists."""
        with self._lock:
            for key in [k for k in self._cache if url is None or k[1] == url]:
                self._cached_bytes -= self._cache.pop(key).nbytes

    # -- W3C Bitstring Status List

    def _check_entry(self, item: Any, issuer: str, clock: Clock) -> str:
        kind = item.get("type") if isinstance(item, dict) else None
        if kind != ENTRY_TYPE and not (isinstance(kind, list) and ENTRY_TYPE in kind):
            raise IndeterminateError(
                Code.STATUS_UNCHECKED,
                f"unsupported status type {kind if kind is not None else item!r:.80}: ancre "
                "checks BitstringStatusListEntry",
            )
        entry = parse_entry(item)
        url = entry.list_credential
        lst = self._list(_BITSTRING, url, issuer, clock)
        if entry.purpose not in lst.purposes:
            # §3.2 step 5: STATUS_VERIFICATION_ERROR.
            raise InvalidError(
                Code.STATUS_LIST_INVALID,
                f"the status list {url} is for {sorted(lst.purposes)}, not {entry.purpose!r}",
            )
        data = cast(Bitstring, lst.data)  # a _BITSTRING list holds a Bitstring
        if data.entries(entry.size) < self._min_entries:
            # §3.2 step 9: STATUS_LIST_LENGTH_ERROR (for multi-bit entries the byte minimum
            # enforced at decoding is not enough).
            raise InvalidError(
                Code.STATUS_LIST_INVALID,
                f"the status list {url} holds {data.entries(entry.size)} entries of "
                f"{entry.size} bits; at least {self._min_entries} are required",
            )
        value = data.get(entry.index, entry.size)
        return _outcome(entry, value)

    # -- IETF Token Status List

    def _check_token_reference(self, claims: Mapping[str, Any], issuer: str, clock: Clock) -> str:
        ref = parse_status_reference(claims)
        lst = self._list(_TOKEN, ref.uri, issuer, clock)
        data = cast(DecodedStatusList, lst.data)  # a _TOKEN list holds a DecodedStatusList
        value = data.status(ref.idx)
        where = f"{ref.uri} idx {ref.idx}"
        if value == StatusType.VALID:
            return f"status VALID ({where})"
        if value == StatusType.INVALID:
            raise InvalidError(Code.REVOKED, f"the token is revoked (INVALID at {where})")
        if value == StatusType.SUSPENDED:
            raise InvalidError(Code.SUSPENDED, f"the token is suspended (SUSPENDED at {where})")
        # §7.1: 0x03 and 0x0C-0x0F are application-specific, the rest reserved; ancre knows
        # no meaning for them, so it cannot call the token valid.
        raise IndeterminateError(
            Code.STATUS_UNCHECKED,
            f"status 0x{value:02x} at {where} is application-specific or reserved",
        )

    # -- fetching, verifying and caching lists

    def _list(self, kind: str, url: str, issuer: str, clock: Clock) -> _List:
        now = clock.now()
        current = self._fresh((kind, url), now) or self._refresh_once(kind, url, issuer, clock)
        if current.issuer != issuer and current.issuer not in self._also.get(issuer, ()):
            raise InvalidError(
                Code.STATUS_LIST_ISSUER_MISMATCH,
                f"the status list {url} is issued by {current.issuer}, not by {issuer}",
            )
        skew = self._policy.clock_skew
        if current.not_after is not None and now >= current.not_after + skew:
            raise IndeterminateError(
                Code.STATUS_UNAVAILABLE,
                f"the status list {url} expired at {iso(current.not_after)}",
            )
        if current.not_before is not None and current.not_before > now + skew:
            raise IndeterminateError(
                Code.STATUS_UNAVAILABLE,
                f"the status list {url} is not valid before {iso(current.not_before)}",
            )
        return current

    def _refresh_once(self, kind: str, url: str, issuer: str, clock: Clock) -> _List:
        """Refresh a list, one fetch at a time per list: callers arriving while it is being
        fetched wait for that fetch (in a thread) instead of fetching it again, and code
        that must not block (inside `net.no_network()`) is told so."""
        key = (kind, url)
        flight = self._flights[hash(key) % len(self._flights)]
        if not flight.acquire(blocking=may_block()):
            raise WouldBlock(url)
        try:
            # Refreshed meanwhile by the fetch this caller waited for?
            done = self._fresh(key, clock.now())
            if done is not None:
                return done
            with self._lock:
                stale = self._cache.get(key)
            return self._refresh(kind, url, issuer, clock, stale=stale)
        finally:
            flight.release()

    def _fresh(self, key: tuple[str, str], now: datetime) -> _List | None:
        """The cached list if it is still fresh (counted as a hit), else None."""
        with self._lock:
            entry = self._cache.get(key)
            if entry is None:
                return None
            self._cache.move_to_end(key)
            if not entry.fresh.is_fresh(now):
                return None
            self._hits += 1
            return entry

    def _refresh(
        self, kind: str, url: str, issuer: str, clock: Clock, stale: _List | None
    ) -> _List:
        if not may_block():
            raise WouldBlock(url)  # before counting: this fetch happens later, in a thread
        headers = {"Accept": _ACCEPT[kind]}
        if stale is not None and stale.fresh.etag is not None:
            headers["If-None-Match"] = stale.fresh.etag
        with self._lock:
            self._fetches += 1
        try:
            result = fetch(
                url,
                client=self._client,
                policy=self._network,
                headers=headers,
                clock=clock,
                resolve=self._getaddrinfo,
            )
        except AncreError as error:
            raise _unavailable(url, error) from None
        if result.status == 304 and stale is not None and "If-None-Match" in headers:
            # RFC 9111 §4.3.4: the 304's header fields update the stored response's; the
            # list (and its verified signature) is unchanged: nothing to decode again.
            cache_control = result.headers.get("cache-control", stale.cache_control)
            merged = {"etag": result.headers.get("etag", stale.fresh.etag or "")}
            if cache_control is not None:
                merged["cache-control"] = cache_control
            if "age" in result.headers:
                merged["age"] = result.headers["age"]
            renewed = replace(
                stale,
                fresh=self._freshness(merged, clock, stale),
                cache_control=cache_control,
            )
            with self._lock:
                self._not_modified += 1
            self._store(renewed)
            return renewed
        if result.status != 200:
            raise IndeterminateError(
                Code.STATUS_UNAVAILABLE, f"status list {url[:200]}: HTTP {result.status}"
            )
        try:
            if kind == _BITSTRING:
                fresh = self._verify_bitstring(url, result.body, clock, stale)
            else:
                fresh = self._verify_token(url, issuer, result.body, clock, stale)
        except AncreError as error:
            raise _unavailable(url, error) from None
        cache_control = result.headers.get("cache-control")
        fresh = replace(
            fresh, fresh=self._freshness(result.headers, clock, fresh), cache_control=cache_control
        )
        self._store(fresh)
        return fresh

    def _verify_bitstring(self, url: str, body: bytes, clock: Clock, stale: _List | None) -> _List:
        # Whether the list's issuer is the credential's is decided by the caller (`_list`),
        # for fresh and cached lists alike.
        secured = _secured(body)
        if isinstance(secured, dict):
            # Imported here: the JSON-LD machinery is only paid for by lists that need it.
            from ancre.trust.data_integrity.proofs import verify_data_integrity

            result = verify_data_integrity(
                secured, resolver=self._resolver, clock=clock, policy=self._policy, status=None
            )
        else:
            result = verify_vc_jwt(
                secured, resolver=self._resolver, clock=clock, policy=self._policy, status=None
            )
        if not result.valid:
            failed = result.errors[0]
            if failed.code == Code.KID_MISMATCH:
                # The token claims the issuer but is signed with another DID's key.
                raise InvalidError(Code.STATUS_LIST_ISSUER_MISMATCH, failed.message)
            raise IndeterminateError(
                Code.STATUS_UNAVAILABLE,
                f"status list {url[:200]} does not verify: {failed.code}: {failed.message}",
            )
        document = result.credential
        if document is None or result.issuer is None:  # pragma: no cover - valid results have both
            raise IndeterminateError(Code.STATUS_UNAVAILABLE, "verification returned no document")
        data = parse_status_list_credential(document)
        if data.credential_id is not None and data.credential_id != url:
            # §2.2 lets the list credential's `id` match `statusListCredential`; when it is
            # given and differs, this is another list served in place of the one referenced.
            raise InvalidError(
                Code.STATUS_LIST_INVALID,
                f"the status list credential at {url} has `id` {data.credential_id}",
            )
        digest = hashlib.sha256(data.encoded_list.encode("utf-8")).digest()
        if stale is not None and stale.digest == digest:
            bitstring = stale.data  # same list version: decoded once
        else:
            bitstring = data.decode(max_bytes=self._max_decoded, min_entries=self._min_entries)
            with self._lock:
                self._decodes += 1
        not_before, not_after = _window(document)
        return _List(
            kind=_BITSTRING,
            url=url,
            issuer=result.issuer,
            purposes=data.purposes,
            data=bitstring,
            digest=digest,
            not_before=not_before,
            not_after=not_after,
            ttl=data.ttl,
            ttl_overrides_http=False,
            fresh=Freshness(store=False, expires_at=clock.now(), etag=None),
            cache_control=None,
        )

    def _verify_token(
        self, url: str, issuer: str, body: bytes, clock: Clock, stale: _List | None
    ) -> _List:
        token = verify_status_list_token(
            body.strip(),
            uri=url,
            issuer=issuer,
            resolver=self._resolver,
            clock=clock,
            policy=self._policy,
            also_trusted=self._also.get(issuer, ()),
        )
        digest = hashlib.sha256(f"{token.bits}:{token.lst}".encode()).digest()
        if stale is not None and stale.digest == digest:
            decoded = stale.data
        else:
            decoded = token.decode(max_bytes=self._max_decoded)
            with self._lock:
                self._decodes += 1
        return _List(
            kind=_TOKEN,
            url=url,
            issuer=token.issuer,
            purposes=frozenset(),
            data=decoded,
            digest=digest,
            not_before=None,
            not_after=token.expires_at,
            ttl=token.ttl,
            ttl_overrides_http=True,
            fresh=Freshness(store=False, expires_at=clock.now(), etag=None),
            cache_control=None,
        )

    def _freshness(self, headers: Mapping[str, str], clock: Clock, lst: _List) -> Freshness:
        http = freshness(headers, clock=clock, default_ttl=self._default_ttl, max_ttl=self._max_ttl)
        now = clock.now()
        expires = http.expires_at
        if lst.ttl is not None:
            by_ttl = now + min(lst.ttl, timedelta(seconds=self._max_ttl))
            expires = by_ttl if lst.ttl_overrides_http else min(expires, by_ttl)
        if lst.not_after is not None:
            expires = min(expires, lst.not_after)
        store = expires > now or http.etag is not None
        if not (lst.ttl_overrides_http and lst.ttl is not None):
            store = store and http.store
        return Freshness(store=store, expires_at=expires, etag=http.etag)

    def _store(self, lst: _List) -> None:
        key = (lst.kind, lst.url)
        with self._lock:
            old = self._cache.pop(key, None)
            if old is not None:
                self._cached_bytes -= old.nbytes
            if not lst.fresh.store or self._max_lists == 0 or lst.nbytes > self._max_cached_bytes:
                return
            self._cache[key] = lst
            self._cached_bytes += lst.nbytes
            while len(self._cache) > self._max_lists or self._cached_bytes > self._max_cached_bytes:
                _, evicted = self._cache.popitem(last=False)
                self._cached_bytes -= evicted.nbytes


def _outcome(entry: BitstringStatusListEntry, value: int) -> str:
    where = f"{entry.list_credential} index {entry.index}"
    purpose = entry.purpose
    if value == 0:
        return f"{purpose}: status 0 ({entry.message(0)}) at {where}"
    if purpose == "revocation":
        raise InvalidError(
            Code.REVOKED, f"the credential is revoked ({entry.message(value)} at {where})"
        )
    if purpose == "suspension":
        raise InvalidError(
            Code.SUSPENDED, f"the credential is suspended ({entry.message(value)} at {where})"
        )
    if purpose in PURPOSES:  # message, refresh: information, not a verdict (§2.1)
        return f"{purpose}: status 0x{value:x} ({entry.message(value)}) at {where}"
    raise IndeterminateError(
        Code.STATUS_UNAVAILABLE,
        f"status 0x{value:x} for purpose {purpose!r:.60} at {where}: ancre does not know "
        "what it means",
    )


def _secured(body: bytes) -> str | dict[str, Any]:
    """What secures a status list credential response: a compact JWS (the body itself,
    ``application/vc+jwt``, or an ``EnvelopedVerifiableCredential`` around it), or the JSON-LD
    credential with its Data Integrity proof."""
    text = body.strip()
    if text.startswith(b"{"):
        document = loads_strict(text, what="status list credential")
        if isinstance(document, dict) and "EnvelopedVerifiableCredential" in types_of(document):
            return unenvelope(document)
        if isinstance(document, dict) and "proof" in document:
            return document
        raise IndeterminateError(
            Code.STATUS_UNAVAILABLE, "the status list credential is not secured"
        )
    try:
        return text.decode("ascii")
    except UnicodeDecodeError:
        raise IndeterminateError(
            Code.STATUS_UNAVAILABLE, "the status list response is not a compact JWS"
        ) from None


def _window(document: Mapping[str, Any]) -> tuple[datetime | None, datetime | None]:
    def stamp(name: str) -> datetime | None:
        if name not in document:
            return None
        # VCDM 2.0 dateTimeStamps need a zone; 1.1's issuanceDate/expirationDate do not.
        zone = name in ("validFrom", "validUntil")
        return parse_datetime_stamp(document[name], name, zone_required=zone)

    starts = [stamp("validFrom"), stamp("issuanceDate"), numeric_date(document, "nbf")]
    ends = [stamp("validUntil"), stamp("expirationDate"), numeric_date(document, "exp")]
    start = max((s for s in starts if s is not None), default=None)
    end = min((e for e in ends if e is not None), default=None)
    return start, end
