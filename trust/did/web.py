"""did:web (W3C CCG "did:web Method Specification"), resolved through the network guard.

The DID ``did:web:example.com:user:alice`` names the document at
``https://example.com/user/alice/did.json``; ``did:web:example.com`` names
``https://example.com/.well-known/did.json`` (spec, "Read (Resolve)"). Trust in the
document comes from the web PKI alone, so the fetch is https-only and goes through
:mod:`ancre.trust.net.guard` (SSRF guard, size and time limits), and the document's ``id`` must be
exactly the DID that was resolved (DID Core §7.1.2), or a server could answer for a DID it
does not host.
"""

from __future__ import annotations

import re
import socket
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import httpx

from ancre.trust.clock import Clock
from ancre.trust.codec.json import loads_strict
from ancre.trust.did.document import DidDocument, parse_did
from ancre.trust.errors import Code, ConfigurationError, IndeterminateError, MalformedError
from ancre.trust.net.guard import AddressResolver, Freshness, NetworkPolicy, fetch, freshness

__all__ = ["DidWebResolver", "did_web_to_url"]

# Host part of the method-specific id: a DNS name or dotted-quad IPv4 address, then an
# optional port whose ":" the spec requires to be percent-encoded (%3A). Any other
# percent-encoding in the host is refused: `%2F`, `%40`, `%2E` … in an authority would let
# one DID string mean different hosts to different URL parsers.
_HOST_RE: Final = re.compile(r"([A-Za-z0-9.-]+)(?:%3[Aa]([1-9][0-9]{0,4}))?")
_LABEL_RE: Final = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_IPV4_RE: Final = re.compile(
    r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}"
)
_NUMERIC_LABEL_RE: Final = re.compile(r"[0-9]+|0x[0-9a-f]*")
# Path segments: DID idchars, plus percent-encoded octets that are safe inside one path
# segment. An encoded "/", "\\", ".", "%", "?", "#", ";" or control character would change
# which resource the server sees (`a%2Fb` vs `a:b`, `%2E%2E` → `..`), and an encoded
# unreserved character is just a second spelling of the same DID (RFC 3986 §6.2.2.2) —
# except "~", which DID syntax cannot carry unencoded (`%7Ealice` for `~alice`).
_SEGMENT_RE: Final = re.compile(r"(?:[A-Za-z0-9._-]|%[0-9A-Fa-f]{2})+")
_SAFE_ENCODED: Final = frozenset(b"~!$&'()*+,=@") | frozenset(range(0x80, 0x100))
_PCT_RE: Final = re.compile(r"%([0-9A-Fa-f]{2})")

_ACCEPT: Final = "application/did+json, application/did+ld+json;q=0.9, application/json;q=0.8"


@dataclass(frozen=True, slots=True)
class _Location:
    host: str  # lower-case
    port: int | None
    path: tuple[str, ...]

    def url(self, scheme: str = "https") -> str:
        authority = self.host if self.port is None else f"{self.host}:{self.port}"
        path = "/".join(self.path) + "/did.json" if self.path else ".well-known/did.json"
        return f"{scheme}://{authority}/{path}"

    @property
    def is_loopback(self) -> bool:
        return self.host == "localhost" or (
            _IPV4_RE.fullmatch(self.host) is not None and self.host.startswith("127.")
        )


def _invalid(did: str, why: str) -> MalformedError:
    return MalformedError(Code.INVALID_DID, f"{did[:200]!r} is not a valid did:web: {why}")


def _locate(did: str) -> _Location:
    method, msid = parse_did(did)
    if method != "web":
        raise _invalid(did, f"the method is {method!r}")
    segments = msid.split(":")
    if any(not s for s in segments):
        raise _invalid(did, "empty segment")
    m = _HOST_RE.fullmatch(segments[0])
    if m is None:
        if "%" in segments[0]:
            raise _invalid(did, "the only percent-encoding allowed in the host is a port (%3A)")
        raise _invalid(did, "bad host")
    host = m.group(1).lower()
    port = int(m.group(2)) if m.group(2) else None
    if port is not None and port > 65535:
        raise _invalid(did, f"port {port} is out of range")
    if _IPV4_RE.fullmatch(host) is None:
        labels = host.split(".")
        if len(host) > 253 or not all(_LABEL_RE.fullmatch(label) for label in labels):
            raise _invalid(did, f"{host!r} is not a DNS name")
        if _NUMERIC_LABEL_RE.fullmatch(labels[-1]):
            # `did:web:2130706433` or `did:web:127.1` would reach an IPv4 address spelled
            # to evade filters: only canonical dotted quads count as IP hosts.
            raise _invalid(did, f"{host!r} is a non-canonical IPv4 spelling")
    for segment in segments[1:]:
        if segment in (".", "..") or not _SEGMENT_RE.fullmatch(segment):
            raise _invalid(did, f"path segment {segment!r} is not allowed")
        for hexbyte in _PCT_RE.findall(segment):
            if int(hexbyte, 16) not in _SAFE_ENCODED:
                raise _invalid(did, f"percent-encoded %{hexbyte} is not allowed in a path")
    return _Location(host=host, port=port, path=tuple(segments[1:]))


def did_web_to_url(did: str) -> str:
    """The https URL of a did:web document (spec, "Read (Resolve)").

    ``did:web:example.com`` → ``https://example.com/.well-known/did.json``,
    ``did:web:example.com:user:alice`` → ``https://example.com/user/alice/did.json``,
    ``did:web:example.com%3A3000:user:alice`` → ``https://example.com:3000/user/alice/did.json``.

    IPv4 hosts are accepted here (the spec forbids them when *creating* a did:web; the
    network guard still refuses non-public addresses when resolving). Raises
    ``MalformedError(INVALID_DID)`` for anything else: other percent-encoding in the host,
    empty segments, ``.``/``..`` segments, encoded separators in the path.
    """
    return _locate(did).url()


@dataclass(slots=True)
class _Entry:
    document: DidDocument
    fresh: Freshness
    cache_control: str | None  # kept so a 304 without Cache-Control keeps the old rules


class DidWebResolver:
    """Resolves did:web over HTTPS with a bounded, thread-safe LRU cache.

    Caching follows the server's ``Cache-Control`` (``max-age`` capped at ``max_ttl``,
    ``no-store``, ``no-cache``), ``default_ttl`` seconds when it says nothing. An expired
    entry with an ``ETag`` is revalidated with ``If-None-Match``; a ``304`` reuses the
    document and renews its lifetime. Stale documents are never served when the server
    cannot be reached: the result is indeterminate (fail closed — a stale key could be one
    that was rotated out after a compromise).

    With ``policy.allow_http`` and ``policy.allow_loopback`` a loopback host
    (``127.x.y.z``, ``localhost``) is fetched over plain http — for local tests and demos
    only; everything else is https.
    """

    def __init__(
        self,
        client: httpx.Client,
        policy: NetworkPolicy,
        clock: Clock,
        max_entries: int = 1024,
        default_ttl: int = 300,
        max_ttl: int = 86400,
        *,
        getaddrinfo: AddressResolver = socket.getaddrinfo,
    ) -> None:
        if max_entries < 0 or default_ttl < 0 or max_ttl < 0 or default_ttl > max_ttl:
            raise ConfigurationError(
                "DidWebResolver needs max_entries >= 0 and 0 <= default_ttl <= max_ttl"
            )
        self._client = client
        self._policy = policy
        self._clock = clock
        self._max_entries = max_entries
        self._default_ttl = default_ttl
        self._max_ttl = max_ttl
        self._getaddrinfo = getaddrinfo
        # The lock guards the dict only; it is never held across network I/O, so one slow
        # host cannot stall resolution of every other DID.
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, _Entry] = OrderedDict()

    def _url(self, location: _Location) -> str:
        policy = self._policy
        if policy.allow_http and policy.allow_loopback and location.is_loopback:
            return location.url("http")
        return location.url("https")

    def _freshness(self, headers: Mapping[str, str]) -> Freshness:
        return freshness(
            headers, clock=self._clock, default_ttl=self._default_ttl, max_ttl=self._max_ttl
        )

    def _store(self, did: str, entry: _Entry | None) -> None:
        with self._lock:
            if entry is None or not entry.fresh.store or self._max_entries == 0:
                self._cache.pop(did, None)
                return
            self._cache[did] = entry
            self._cache.move_to_end(did)
            while len(self._cache) > self._max_entries:
                self._cache.popitem(last=False)

    def _cached(self, did: str, now: datetime) -> tuple[DidDocument | None, _Entry | None]:
        with self._lock:
            entry = self._cache.get(did)
            if entry is None:
                return None, None
            self._cache.move_to_end(did)
            if entry.fresh.is_fresh(now):
                return entry.document, entry
            return None, entry

    def resolve(self, did: str) -> DidDocument:
        """Resolve ``did`` to its document.

        Raises ``MalformedError(INVALID_DID)`` for a malformed DID; ``InvalidError`` for a
        refused URL/address, an oversized response or a bad document (``id`` not the DID,
        private key material, …); ``IndeterminateError`` with ``DID_NOT_FOUND`` (404/410),
        ``DID_RESOLUTION_FAILED`` (other statuses) or a network code.
        """
        location = _locate(did)
        hit, stale = self._cached(did, self._clock.now())
        if hit is not None:
            return hit
        url = self._url(location)
        headers = {"Accept": _ACCEPT}
        if stale is not None and stale.fresh.etag is not None:
            headers["If-None-Match"] = stale.fresh.etag
        result = fetch(
            url,
            client=self._client,
            policy=self._policy,
            headers=headers,
            clock=self._clock,
            resolve=self._getaddrinfo,
        )
        if result.status == 304 and "If-None-Match" in headers and stale is not None:
            # RFC 9111 §4.3.4: the 304's header fields update the stored response's.
            cache_control = result.headers.get("cache-control", stale.cache_control)
            merged = {"etag": result.headers.get("etag", stale.fresh.etag or "")}
            if cache_control is not None:
                merged["cache-control"] = cache_control
            if "age" in result.headers:
                merged["age"] = result.headers["age"]
            entry = _Entry(stale.document, self._freshness(merged), cache_control)
            self._store(did, entry)
            return stale.document
        if result.status in (404, 410):
            self._store(did, None)
            raise IndeterminateError(Code.DID_NOT_FOUND, f"{did} has no document at {result.url}")
        if result.status != 200:
            raise IndeterminateError(
                Code.DID_RESOLUTION_FAILED, f"{result.url} answered HTTP {result.status} for {did}"
            )
        raw = loads_strict(result.body, what=f"DID document of {did}")
        document = DidDocument.from_json(raw, expected_id=did)
        self._store(
            did,
            _Entry(document, self._freshness(result.headers), result.headers.get("cache-control")),
        )
        return document

    def invalidate(self, did: str | None = None) -> None:
        """Drop one DID (or, with no argument, every DID) from the cache — e.g. after a
        known key rotation, to pick it up before the entry expires."""
        with self._lock:
            if did is None:
                self._cache.clear()
            else:
                self._cache.pop(did, None)
