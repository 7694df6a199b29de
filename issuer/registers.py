"""Company registers: look organizations up, check what a login claims, record the evidence.

The login bridge gets a SIRET from the identity provider (ProConnect's ``siret`` claim). That
SIRET is only a hint — declared by the identity provider, sometimes replaced by a default
(``reference/proconnect.md`` §7) — so before any credential is issued it is re-checked here
against an official register:

- :class:`RechercheEntreprises` — the public "API Recherche d'entreprises" (no key; INSEE
  Sirene + the RNE's directors). Client-side token bucket (7 requests/s by default, the API's
  documented per-IP limit) and bounded retries on 429/5xx honouring ``Retry-After``.
- :class:`InseeSirene` — INSEE's Sirene API 3.11 (API key header). It has no list of
  directors except for an entrepreneur individuel (the person is the unit).
- :class:`Vies` — the EU VAT check (VIES REST API), keeping its consultation number.
- :class:`Gleif` — the GLEIF LEI records API.

Every client takes an injected ``httpx.Client`` and a base URL, goes through ancre's network
guard (:func:`ancre.trust.net.guard.fetch`: size limit, total deadline, explicit ``User-Agent``),
parses the answer strictly into frozen dataclasses and maps every failure to a stable code:

==========================  ==============  ===============================================
code                        outcome         when
==========================  ==============  ===============================================
``invalid_siren/siret``     invalid         bad check digits (before any request)
``invalid_vat_id/lei``      invalid         idem for a VAT number or an LEI
``register_not_found``      invalid         the register does not know the number
``register_unavailable``    indeterminate   unreachable, timeout, 5xx, 429 retries exhausted
``register_answer_invalid`` indeterminate   an answer ancre cannot read (never a guess)
==========================  ==============  ===============================================

Lookups return facts (active or not); the ``check_*`` functions turn facts into refusals
(``establishment_closed``, ``organization_closed``, ``register_not_diffusible``,
``vat_not_registered``, ``lei_not_issued``, ``not_public_body``, ``director_not_matched``,
``directors_unavailable``). Each answer carries a :class:`Consultation` whose
:meth:`~Consultation.evidence` is the VCDM 2.0 ``evidence`` entry the issuer embeds.

**Digest format.** ``ancre:digestSRI`` is ``sha256-`` followed by the standard base64 of the
SHA-256 of the register's raw answer bytes, the Subresource Integrity form VCDM 2.0 uses for
``relatedResource.digestSRI``: a verifier holding a copy of the answer can recompute it.

Answers are cached (successful lookups only) in a bounded LRU with a TTL on the injected
:class:`~ancre.trust.clock.Clock`; a cached answer keeps the evidence of the consultation
that produced it, so the evidence's date is always when the register actually answered.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import json
import re
import threading
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, Protocol, TypeVar, overload

import httpx

from ancre.issuer.fr_identifiers import parse_fr_vat, parse_siren, parse_siret
from ancre.trust.clock import Clock, SystemClock
from ancre.trust.errors import (
    Code,
    IndeterminateError,
    InvalidError,
    MalformedError,
)
from ancre.trust.net.guard import NetworkPolicy, fetch

from .register_match import DirectorMatch, Person, RegisteredPerson, match_director

__all__ = [
    "EVIDENCE_TYPE",
    "CompanyRegister",
    "Consultation",
    "Establishment",
    "EstablishmentRecord",
    "Gleif",
    "InseeSirene",
    "LegalPersonDirector",
    "LeiRecord",
    "Organization",
    "OrganizationRecord",
    "PostalAddress",
    "RechercheEntreprises",
    "RetryPolicy",
    "TokenBucket",
    "TtlCache",
    "VatRecord",
    "Vies",
    "check_director",
    "check_establishment",
    "check_lei",
    "check_organization",
    "check_public_body",
    "check_vat",
    "is_public_law_category",
    "parse_lei",
]

#: ``type`` of the evidence entries (ancre's vocabulary; the VCDM 2.0 base context's
#: ``@vocab`` covers the ``ancre:`` terms as issuer-dependent).
EVIDENCE_TYPE: Final = "ancre:RegisterCheck"
#: Identifiers of the registers, as written in evidence (``ancre:register``).
RECHERCHE_ENTREPRISES: Final = "recherche-entreprises"
INSEE_SIRENE: Final = "insee-sirene-3.11"
VIES: Final = "vies"
GLEIF: Final = "gleif"

DEFAULT_RECHERCHE_URL: Final = "https://recherche-entreprises.api.gouv.fr"
DEFAULT_INSEE_URL: Final = "https://api.insee.fr/api-sirene/3.11"
DEFAULT_VIES_URL: Final = "https://ec.europa.eu/taxation_customs/vies/rest-api"
DEFAULT_GLEIF_URL: Final = "https://api.gleif.org/api/v1"
#: Header carrying the INSEE API key (public "intégration" plan, reference §2).
INSEE_KEY_HEADER: Final = "X-INSEE-Api-Key-Integration"

#: Register answers are small (a few KiB); anything far bigger is not what was asked for.
DEFAULT_POLICY: Final = NetworkPolicy(
    max_bytes=512 * 1024,
    timeout=5.0,
    max_redirects=0,
    user_agent="ancre-issuer/0.1 (company register checks; +https://github.com/ancre)",
)
_JSON_DEPTH: Final = 32
#: Concurrent look-ups of one register (see ``_Transport.max_in_flight``).
MAX_IN_FLIGHT: Final = 8
_LEI_RE: Final = re.compile(r"[0-9A-Z]{18}[0-9]{2}")
_VAT_RE: Final = re.compile(r"([A-Z]{2})([0-9A-Za-z+*]{2,12})")
_T = TypeVar("_T")


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


def _unavailable(register: str, why: str) -> IndeterminateError:
    return IndeterminateError(
        Code.REGISTER_UNAVAILABLE, f"{register} could not be consulted: {why} (retry later)"
    )


def _bad_answer(register: str, why: str) -> IndeterminateError:
    # Indeterminate, not invalid: an unreadable answer proves nothing about the company.
    return IndeterminateError(
        Code.REGISTER_ANSWER_INVALID, f"{register} answered something ancre cannot read: {why}"
    )


def _not_found(register: str, what: str) -> InvalidError:
    return InvalidError(Code.REGISTER_NOT_FOUND, f"{register} does not know {what}")


# --------------------------------------------------------------------------------------
# Domain values
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Consultation:
    """One answer of a register: what was asked, when, and the digest of what came back."""

    register: str
    url: str
    query: str
    queried_at: datetime
    #: ``sha256-<base64>`` of the raw answer bytes (Subresource Integrity form).
    digest_sri: str
    #: VIES's consultation number (``requestIdentifier``) when it gave one.
    consultation_number: str | None = None

    def evidence(self, evidence_of: str | None = None) -> dict[str, Any]:
        """The VCDM 2.0 ``evidence`` entry for this consultation.

        ``gx:evidenceURL`` and ``gx:executionDate`` are the names Gaia-X notaries use;
        ``evidence_of`` (e.g. ``"gx:LocalRegistrationNumber"``) fills ``gx:evidenceOf``.
        """
        entry: dict[str, Any] = {
            "type": [EVIDENCE_TYPE],
            "ancre:register": self.register,
            "ancre:query": self.query,
            "gx:evidenceURL": self.url,
            "gx:executionDate": _stamp(self.queried_at),
            "ancre:digestSRI": self.digest_sri,
        }
        if evidence_of is not None:
            entry["gx:evidenceOf"] = evidence_of
        if self.consultation_number:
            entry["ancre:consultationNumber"] = self.consultation_number
        return entry


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _digest_sri(raw: bytes) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(raw).digest()).decode("ascii")


@dataclass(frozen=True, slots=True)
class PostalAddress:
    """An address as the register gives it (``full`` is its one-line form)."""

    full: str
    street: str | None = None
    postal_code: str | None = None
    city: str | None = None
    country_code: str = "FR"


@dataclass(frozen=True, slots=True)
class LegalPersonDirector:
    """A legal person among the directors (an auditor firm, a holding)."""

    siren: str | None
    name: str | None
    role: str | None


@dataclass(frozen=True, slots=True)
class Establishment:
    """An establishment (SIRET) of an organization."""

    siret: str
    active: bool
    headquarters: bool
    address: PostalAddress | None


@dataclass(frozen=True, slots=True)
class Organization:
    """A legal unit (SIREN) as a register describes it."""

    siren: str
    name: str
    #: INSEE legal category (``nature_juridique`` / ``categorieJuridiqueUniteLegale``).
    legal_form: str
    active: bool
    diffusible: bool
    headquarters: Establishment | None
    #: natural-person directors; ``None`` when the register keeps no list (Sirene).
    directors: tuple[RegisteredPerson, ...] | None
    legal_person_directors: tuple[LegalPersonDirector, ...] = ()
    #: active French VAT numbers the register lists (Recherche d'entreprises ``tva``).
    vat_numbers: tuple[str, ...] = ()
    #: ``complements.est_service_public`` when the register says it.
    public_service: bool | None = None


@dataclass(frozen=True, slots=True)
class OrganizationRecord:
    """A looked-up organization and the consultation that produced it."""

    organization: Organization
    consultation: Consultation


@dataclass(frozen=True, slots=True)
class EstablishmentRecord:
    """A looked-up establishment, its organization and the consultation."""

    establishment: Establishment
    organization: Organization
    consultation: Consultation


@dataclass(frozen=True, slots=True)
class VatRecord:
    """A VIES answer: whether the VAT number is valid, and what VIES says about it."""

    vat_number: str
    valid: bool
    name: str | None
    address: str | None
    consultation: Consultation


@dataclass(frozen=True, slots=True)
class LeiRecord:
    """A GLEIF LEI record (the parts the issuer uses)."""

    lei: str
    legal_name: str
    legal_form: str | None
    #: ``entity.status``: ``ACTIVE`` or ``INACTIVE``.
    entity_status: str
    #: ``registration.status``: ``ISSUED``, ``LAPSED``, ``RETIRED``…
    registration_status: str
    country_code: str | None
    registered_as: str | None
    legal_address: PostalAddress | None
    consultation: Consultation


class CompanyRegister(Protocol):
    """A French company register answering by SIREN and by SIRET."""

    name: str

    def lookup_siren(self, siren: str) -> OrganizationRecord:
        """The organization with this SIREN (check digits checked first)."""
        ...

    def lookup_siret(self, siret: str) -> EstablishmentRecord:
        """The establishment with this SIRET and its organization."""
        ...


# --------------------------------------------------------------------------------------
# Rate limit, retries, cache
# --------------------------------------------------------------------------------------


class TokenBucket:
    """A thread-safe token bucket: ``rate`` tokens per second, at most ``burst`` saved up.

    :meth:`acquire` waits (through the injected ``sleep``) until a token is free. Time comes
    from the injected ``monotonic`` so tests run without real waiting.
    """

    def __init__(
        self,
        rate: float = 7.0,
        burst: float | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not rate > 0:
            raise ValueError("TokenBucket needs rate > 0")
        self._rate = rate
        self._burst = burst if burst is not None else rate
        self._tokens = self._burst
        self._monotonic = monotonic
        self._sleep = sleep
        self._last = monotonic()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Take one token, waiting for it if none is left."""
        # Reservation style: the token is taken now (the balance may go negative) and the
        # caller sleeps outside the lock until it is due, so waiters queue in order without
        # holding the lock, and float rounding can never make a waiter spin.
        with self._lock:
            now = self._monotonic()
            self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
            self._last = now
            self._tokens -= 1
            wait = -self._tokens / self._rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded retries of 429 and 5xx answers (and of network failures).

    The wait before retry ``n`` (``n`` ≥ 1) is the answer's ``Retry-After`` when it sends one,
    else ``base_delay * 2 ** (n - 1)``, capped at ``max_delay``; a ``Retry-After`` beyond
    ``max_delay``, or a wait that would end past ``total_time`` after the first request, stops
    the retries at once (indeterminate): the login should not hang on a throttled register.
    """

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 10.0
    total_time: float = 20.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.base_delay < 0 or self.max_delay < 0 or self.total_time < 0:
            raise ValueError("RetryPolicy needs attempts >= 1 and non-negative delays")


def _retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (RFC 9110 §10.2.3: delay-seconds or an
    HTTP-date); ``None`` when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(int(value[:9]))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


class TtlCache:
    """A bounded LRU of successful answers, each kept ``ttl`` on the injected clock."""

    def __init__(self, clock: Clock, *, ttl: timedelta = timedelta(hours=1), size: int = 1024):
        if size < 0 or ttl < timedelta(0):
            raise ValueError("TtlCache needs size >= 0 and ttl >= 0")
        self._clock = clock
        self._ttl = ttl
        self._size = size
        self._items: OrderedDict[tuple[str, ...], tuple[datetime, object]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, ...]) -> object | None:
        """The cached value, or ``None`` when absent or expired (then dropped)."""
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            if self._clock.now() >= item[0]:
                del self._items[key]
                return None
            self._items.move_to_end(key)
            return item[1]

    def put(self, key: tuple[str, ...], value: object) -> None:
        """Store ``value``, evicting the least recently used entries beyond the size."""
        if self._size == 0 or self._ttl <= timedelta(0):
            return
        with self._lock:
            self._items[key] = (self._clock.now() + self._ttl, value)
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


# --------------------------------------------------------------------------------------
# The HTTP exchange shared by every client
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    body: bytes
    url: str
    at: datetime


@dataclass
class _Transport:
    """GET through the network guard with rate limit and retries; JSON decoding."""

    register: str
    client: httpx.Client
    policy: NetworkPolicy
    clock: Clock
    retry: RetryPolicy
    bucket: TokenBucket | None
    headers: Mapping[str, str] = field(default_factory=dict)
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    #: At most this many look-ups of this register at a time (issue 17): a slow or hanging
    #: register then holds that many of the service's threads, not all of them; one more
    #: is ``register_unavailable`` at once.
    max_in_flight: int = MAX_IN_FLIGHT
    _slots: threading.BoundedSemaphore = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._slots = threading.BoundedSemaphore(self.max_in_flight)

    def get(self, url: str) -> _Answer:
        """The first answer that is neither 429 nor 5xx, retrying within
        :class:`RetryPolicy`; raises ``register_unavailable`` when out of attempts, or at
        once when `max_in_flight` look-ups are already under way."""
        if not self._slots.acquire(blocking=False):
            raise _unavailable(
                self.register, f"{self.max_in_flight} look-ups already under way: try again"
            )
        try:
            return self._get(url)
        finally:
            self._slots.release()

    def _get(self, url: str) -> _Answer:
        started = self.monotonic()
        why = "no attempt made"
        for attempt in range(1, self.retry.attempts + 1):
            if self.bucket is not None:
                self.bucket.acquire()
            retry_after: float | None = None
            try:
                result = fetch(
                    url,
                    client=self.client,
                    policy=self.policy,
                    headers={"Accept": "application/json", **self.headers},
                    clock=self.clock,
                )
            except IndeterminateError as exc:  # timeout, connection refused, DNS
                why = exc.message
            except InvalidError as exc:
                if exc.code is Code.RESPONSE_TOO_LARGE:
                    raise _bad_answer(self.register, exc.message) from None
                # URL_NOT_ALLOWED: the configured base URL breaks the network policy.
                raise _unavailable(self.register, exc.message) from None
            else:
                status = result.status
                if status != 429 and status < 500:
                    at = result.fetched_at or self.clock.now()
                    return _Answer(status, result.body, url, at)
                why = f"HTTP {status}"
                retry_after = _retry_after(result.headers.get("retry-after"), self.clock.now())
            if attempt == self.retry.attempts:
                break
            delay = min(self.retry.base_delay * 2 ** (attempt - 1), self.retry.max_delay)
            if retry_after is not None:
                if retry_after > self.retry.max_delay:
                    why += f", Retry-After {retry_after:g} s is beyond {self.retry.max_delay:g} s"
                    break
                delay = retry_after
            if self.monotonic() - started + delay > self.retry.total_time:
                why += f", no time left to retry within {self.retry.total_time:g} s"
                break
            self.sleep(delay)
        raise _unavailable(self.register, f"{why} after {attempt} attempt(s)")

    def get_object(self, url: str, *, missing: str | None = None) -> tuple[_Answer, _Reader]:
        """:meth:`get`, then the 200 answer's JSON object; ``register_not_found`` naming
        `missing` on a 404 when given, ``register_unavailable`` on any other status."""
        answer = self.get(url)
        if missing is not None and answer.status == 404:
            raise _not_found(self.register, missing)
        if answer.status != 200:
            raise _unavailable(self.register, f"HTTP {answer.status}")
        return answer, _Reader(self.register, _loads(self.register, answer.body), "answer")


def _loads(register: str, body: bytes) -> Any:
    """Strict JSON: no duplicate keys, no NaN, bounded depth."""

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in pairs:
            if k in out:
                raise ValueError(f"duplicate member {k!r}")
            out[k] = v
        return out

    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        text = body.decode("utf-8")
        value = json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _bad_answer(register, f"not strict JSON ({exc})") from None
    _check_depth(register, value, 0)
    return value


def _check_depth(register: str, value: Any, depth: int) -> None:
    if depth > _JSON_DEPTH:
        raise _bad_answer(register, f"JSON nested deeper than {_JSON_DEPTH}")
    if isinstance(value, dict):
        for item in value.values():
            _check_depth(register, item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_depth(register, item, depth + 1)


class _Reader:
    """Typed access to a JSON object of a register's answer; a wrong type is an unreadable
    answer, never a silent default."""

    def __init__(self, register: str, value: Any, where: str) -> None:
        if not isinstance(value, dict):
            raise _bad_answer(register, f"{where} is not an object")
        self.register = register
        self.value: dict[str, Any] = value
        self.where = where

    @overload
    def _get(self, name: str, kind: type[_T], required: Literal[True]) -> _T: ...

    @overload
    def _get(self, name: str, kind: type[_T], required: Literal[False]) -> _T | None: ...

    def _get(self, name: str, kind: type[_T], required: bool) -> _T | None:
        if name not in self.value or self.value[name] is None:
            if required:
                raise _bad_answer(self.register, f"{self.where}.{name} is missing")
            return None
        item = self.value[name]
        # bool is an int in Python: refuse it where a number is expected.
        if not isinstance(item, kind) or (kind is not bool and isinstance(item, bool)):
            raise _bad_answer(
                self.register,
                f"{self.where}.{name} should be {kind.__name__}, found {type(item).__name__}",
            )
        return item

    def text(self, name: str) -> str:
        return self._get(name, str, True)

    def opt_text(self, name: str) -> str | None:
        return self._get(name, str, False)

    def opt_bool(self, name: str) -> bool | None:
        return self._get(name, bool, False)

    def obj(self, name: str) -> _Reader:
        return _Reader(self.register, self.value.get(name), f"{self.where}.{name}")

    def opt_obj(self, name: str) -> _Reader | None:
        if self.value.get(name) is None:
            return None
        return self.obj(name)

    def items(self, name: str) -> list[Any]:
        value = self._get(name, list, False)
        return [] if value is None else value

    def choice(self, name: str, allowed: Mapping[str, _T]) -> _T:
        value = self.text(name)
        if value not in allowed:
            raise _bad_answer(
                self.register, f"{self.where}.{name} is {value[:40]!r}, expected {sorted(allowed)}"
            )
        return allowed[value]


def _opt_year_month(register: str, year: str | None, month: str | None) -> tuple[int | None, ...]:
    """Birth year and month from ``"1964"`` and ``"1964-09"`` (Recherche d'entreprises)."""
    y = m = None
    if year is not None:
        if not (len(year) == 4 and year.isascii() and year.isdigit()):
            raise _bad_answer(register, f"birth year {year[:20]!r} is not YYYY")
        y = int(year)
    if month is not None:
        match = re.fullmatch(r"([0-9]{4})-([0-9]{2})", month)
        if match is None or not 1 <= int(match[2]) <= 12:
            raise _bad_answer(register, f"birth date {month[:20]!r} is not YYYY-MM")
        if y is not None and int(match[1]) != y:
            raise _bad_answer(register, f"birth date {month} contradicts birth year {y}")
        y, m = int(match[1]), int(match[2])
    return y, m


class _Cached:
    """Transport and cache plumbing shared by the clients."""

    name: str
    _base: str
    _clock: Clock
    _http: _Transport
    _cache: TtlCache | None

    def _connect(
        self,
        client: httpx.Client,
        base_url: str,
        *,
        policy: NetworkPolicy,
        clock: Clock | None,
        retry: RetryPolicy | None,
        rate: float | None,
        cache: TtlCache | None,
        sleep: Callable[[float], None],
        monotonic: Callable[[], float],
        burst: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """The transport every request goes through: `rate` requests per second at most
        (none: no limit), `headers` on each."""
        bucket = TokenBucket(rate, burst, monotonic=monotonic, sleep=sleep) if rate else None
        self._base = base_url.rstrip("/")
        self._clock = clock or SystemClock()
        self._http = _Transport(
            self.name, client, policy, self._clock, retry or RetryPolicy(), bucket,
            dict(headers or {}), sleep, monotonic,
        )  # fmt: skip
        self._cache = cache

    def _cached(self, key: tuple[str, ...], load: Callable[[], _T], kind: type[_T]) -> _T:
        if self._cache is not None:
            hit = self._cache.get((self.name, *key))
            if isinstance(hit, kind):
                return hit
        value = load()
        if self._cache is not None:
            self._cache.put((self.name, *key), value)
        return value


# --------------------------------------------------------------------------------------
# API Recherche d'entreprises
# --------------------------------------------------------------------------------------

_ACTIVE_UNIT: Final = {"A": True, "C": False}
_ACTIVE_ESTABLISHMENT: Final = {"A": True, "F": False}


class RechercheEntreprises(_Cached):
    """The public API Recherche d'entreprises (``GET /search?q=<SIREN or SIRET>``).

    No key; at most 7 requests/s per IP (``rate``), 429 with ``Retry-After`` beyond; the
    ``User-Agent`` is explicit (``policy.user_agent``). Only an exact SIREN match among the
    results counts (``q`` is a full-text search that may return neighbours); for a SIRET
    the establishment must be the head office or among ``matching_etablissements``.
    Non-diffusible companies are absent from this API: they are ``register_not_found``.
    """

    name = RECHERCHE_ENTREPRISES

    def __init__(
        self,
        client: httpx.Client,
        *,
        base_url: str = DEFAULT_RECHERCHE_URL,
        policy: NetworkPolicy = DEFAULT_POLICY,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        rate: float | None = 7.0,
        cache: TtlCache | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connect(
            client, base_url, policy=policy, clock=clock, retry=retry, rate=rate, cache=cache,
            sleep=sleep, monotonic=monotonic,
        )  # fmt: skip

    def _search(self, query: str) -> tuple[_Answer, _Reader]:
        params = urllib.parse.urlencode({"q": query, "page": "1", "per_page": "5"})
        answer, payload = self._http.get_object(f"{self._base}/search?{params}")
        siren = query[:9]
        for i, item in enumerate(payload.items("results")):
            result = _Reader(self.name, item, f"results[{i}]")
            if result.text("siren") == siren:
                return answer, result
        raise _not_found(self.name, f"{'SIRET' if len(query) == 14 else 'SIREN'} {query}")

    def _consultation(self, answer: _Answer, query: str) -> Consultation:
        return Consultation(self.name, answer.url, query, answer.at, _digest_sri(answer.body))

    def lookup_siren(self, siren: str) -> OrganizationRecord:
        """The organization with this SIREN. Raises ``invalid_siren`` (check digits),
        ``register_not_found``, ``register_unavailable`` or ``register_answer_invalid``."""
        siren = parse_siren(siren)

        def load() -> OrganizationRecord:
            answer, result = self._search(siren)
            return OrganizationRecord(self._organization(result), self._consultation(answer, siren))

        return self._cached(("siren", siren), load, OrganizationRecord)

    def lookup_siret(self, siret: str) -> EstablishmentRecord:
        """The establishment with this SIRET and its organization (same errors, with
        ``invalid_siret``)."""
        siret = parse_siret(siret)

        def load() -> EstablishmentRecord:
            answer, result = self._search(siret)
            organization = self._organization(result)
            found = None
            if organization.headquarters and organization.headquarters.siret == siret:
                found = organization.headquarters
            for i, item in enumerate(result.items("matching_etablissements")):
                place = self._establishment(_Reader(self.name, item, f"matching[{i}]"))
                if place.siret == siret:
                    found = place
            if found is None:
                raise _not_found(self.name, f"SIRET {siret}")
            return EstablishmentRecord(found, organization, self._consultation(answer, siret))

        return self._cached(("siret", siret), load, EstablishmentRecord)

    def _establishment(self, place: _Reader) -> Establishment:
        siret = place.text("siret")
        address = place.opt_text("adresse")
        return Establishment(
            siret=siret,
            active=place.choice("etat_administratif", _ACTIVE_ESTABLISHMENT),
            headquarters=place.opt_bool("est_siege") is True,
            address=PostalAddress(
                full=address,
                street=" ".join(
                    p
                    for p in (
                        place.opt_text("numero_voie"),
                        place.opt_text("type_voie"),
                        place.opt_text("libelle_voie"),
                    )
                    if p
                )
                or None,
                postal_code=place.opt_text("code_postal"),
                city=place.opt_text("libelle_commune"),
            )
            if address
            else None,
        )

    def _organization(self, result: _Reader) -> Organization:
        siege = result.opt_obj("siege")
        directors: list[RegisteredPerson] = []
        legal_persons: list[LegalPersonDirector] = []
        for i, item in enumerate(result.items("dirigeants")):
            d = _Reader(self.name, item, f"dirigeants[{i}]")
            kind = d.text("type_dirigeant")
            if kind == "personne physique":
                year, month = _opt_year_month(
                    self.name, d.opt_text("annee_de_naissance"), d.opt_text("date_de_naissance")
                )
                directors.append(
                    RegisteredPerson(
                        family_name=d.text("nom"),
                        given_names=d.opt_text("prenoms") or "",
                        birth_year=year,
                        birth_month=month,
                        role=d.opt_text("qualite"),
                    )
                )
            elif kind == "personne morale":
                legal_persons.append(
                    LegalPersonDirector(d.opt_text("siren"), d.opt_text("denomination"),
                                        d.opt_text("qualite"))
                )  # fmt: skip
            else:
                raise _bad_answer(self.name, f"dirigeants[{i}].type_dirigeant is {kind[:40]!r}")
        complements = result.opt_obj("complements")
        vat = result.items("tva")
        if not all(isinstance(v, str) for v in vat):
            raise _bad_answer(self.name, "tva is not a list of strings")
        return Organization(
            siren=result.text("siren"),
            name=result.opt_text("nom_raison_sociale") or result.text("nom_complet"),
            legal_form=result.text("nature_juridique"),
            active=result.choice("etat_administratif", _ACTIVE_UNIT),
            # The API leaves non-diffusible units out; "P" would be partial diffusion.
            diffusible=result.opt_text("statut_diffusion") in (None, "O"),
            headquarters=self._establishment(siege) if siege is not None else None,
            directors=tuple(directors),
            legal_person_directors=tuple(legal_persons),
            vat_numbers=tuple(vat),
            public_service=complements.opt_bool("est_service_public") if complements else None,
        )


# --------------------------------------------------------------------------------------
# INSEE Sirene 3.11
# --------------------------------------------------------------------------------------


class InseeSirene(_Cached):
    """INSEE's Sirene API 3.11: ``GET /siren/{siren}`` and ``GET /siret/{siret}``, the API
    key in the ``X-INSEE-Api-Key-Integration`` header (public plan).

    Sirene keeps no list of company directors: ``Organization.directors`` is ``None``, except
    for an entrepreneur individuel (legal category ``1000``), whose unit *is* the person.
    404 is ``register_not_found``; 401/403 (key refused, or a unit the plan may not read)
    are ``register_unavailable`` — INSEE's exact use of 403 is not verified against a
    recorded answer. The throttle of the free plan (commonly 30 requests/minute) is not
    confirmed: pass ``rate`` accordingly (default 0.5/s).
    """

    name = INSEE_SIRENE

    def __init__(
        self,
        client: httpx.Client,
        *,
        api_key: str,
        base_url: str = DEFAULT_INSEE_URL,
        policy: NetworkPolicy = DEFAULT_POLICY,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        rate: float | None = 0.5,
        cache: TtlCache | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not api_key or not api_key.isascii() or not api_key.isprintable():
            raise ValueError("InseeSirene needs a printable ASCII API key")
        self._connect(
            client, base_url, policy=policy, clock=clock, retry=retry, rate=rate, cache=cache,
            sleep=sleep, monotonic=monotonic, burst=1, headers={INSEE_KEY_HEADER: api_key},
        )  # fmt: skip

    def _get(self, kind: str, number: str) -> tuple[_Answer, _Reader]:
        url = f"{self._base}/{kind}/{number}"
        answer, payload = self._http.get_object(url, missing=f"{kind.upper()} {number}")
        header = payload.obj("header")
        status = header.value.get("statut")
        if status != 200 or isinstance(status, bool):
            raise _bad_answer(self.name, f"header.statut is {status!r}, expected 200")
        return answer, payload

    def _consultation(self, answer: _Answer, query: str) -> Consultation:
        return Consultation(self.name, answer.url, query, answer.at, _digest_sri(answer.body))

    def lookup_siren(self, siren: str) -> OrganizationRecord:
        """The legal unit with this SIREN (``uniteLegale`` and its current period)."""
        siren = parse_siren(siren)

        def load() -> OrganizationRecord:
            answer, payload = self._get("siren", siren)
            unit = payload.obj("uniteLegale")
            if unit.text("siren") != siren:
                raise _bad_answer(self.name, f"answered for SIREN {unit.text('siren')[:20]}")
            current = self._current(unit, "periodesUniteLegale", "uniteLegale")
            # The current values live in the open period; the unit's own fields hold the
            # rest (persons' names for an entrepreneur individuel are period values too).
            merged = _Reader(self.name, {**unit.value, **current.value}, "uniteLegale")
            organization = self._organization(merged, headquarters=None)
            return OrganizationRecord(organization, self._consultation(answer, siren))

        return self._cached(("siren", siren), load, OrganizationRecord)

    def lookup_siret(self, siret: str) -> EstablishmentRecord:
        """The establishment with this SIRET (``etablissement``, its current period and its
        ``uniteLegale`` summary). A SIRET that is not SIREN + NIC is an unreadable answer."""
        siret = parse_siret(siret)

        def load() -> EstablishmentRecord:
            answer, payload = self._get("siret", siret)
            place = payload.obj("etablissement")
            found = place.text("siret")
            if found != siret or place.text("siren") + place.text("nic") != siret:
                raise _bad_answer(
                    self.name,
                    f"asked for SIRET {siret}, the answer has siret {found[:20]!r}, siren "
                    f"{place.text('siren')[:20]!r} and nic {place.text('nic')[:20]!r}",
                )
            current = self._current(place, "periodesEtablissement", "etablissement")
            establishment = Establishment(
                siret=siret,
                active=current.choice("etatAdministratifEtablissement", _ACTIVE_ESTABLISHMENT),
                headquarters=place.opt_bool("etablissementSiege") is True,
                address=self._address(place.opt_obj("adresseEtablissement")),
            )
            organization = self._organization(
                place.obj("uniteLegale"),
                headquarters=establishment if establishment.headquarters else None,
                siren=place.text("siren"),
                diffusible_place=place.opt_text("statutDiffusionEtablissement"),
            )
            return EstablishmentRecord(
                establishment, organization, self._consultation(answer, siret)
            )

        return self._cached(("siret", siret), load, EstablishmentRecord)

    def _current(self, obj: _Reader, name: str, where: str) -> _Reader:
        periods = obj.items(name)
        open_ = [p for p in periods if isinstance(p, dict) and p.get("dateFin") is None]
        if len(open_) != 1:
            raise _bad_answer(
                self.name, f"{where}.{name} has {len(open_)} current periods, expected 1"
            )
        return _Reader(self.name, open_[0], f"{where}.{name}[current]")

    def _address(self, a: _Reader | None) -> PostalAddress | None:
        if a is None:
            return None
        street = " ".join(
            p
            for p in (
                a.opt_text("numeroVoieEtablissement"),
                a.opt_text("indiceRepetitionEtablissement"),
                a.opt_text("typeVoieEtablissement"),
                a.opt_text("libelleVoieEtablissement"),
            )
            if p
        )
        postal = a.opt_text("codePostalEtablissement")
        city = a.opt_text("libelleCommuneEtablissement")
        complement = a.opt_text("complementAdresseEtablissement")
        full = " ".join(p for p in (complement, street, postal, city) if p)
        country = "FR" if a.opt_text("codePaysEtrangerEtablissement") is None else ""
        return PostalAddress(full, street or None, postal, city, country)

    def _organization(
        self,
        unit: _Reader,
        *,
        headquarters: Establishment | None,
        siren: str | None = None,
        diffusible_place: str | None = "O",
    ) -> Organization:
        category = unit.text("categorieJuridiqueUniteLegale")
        directors: tuple[RegisteredPerson, ...] | None = None
        family = unit.opt_text("nomUniteLegale")
        name = unit.opt_text("denominationUniteLegale")
        if category == "1000" and family:
            # An entrepreneur individuel: the register's person is the one who may act.
            given = " ".join(
                g for g in (unit.opt_text(f"prenom{i}UniteLegale") for i in range(1, 5)) if g
            )
            year, month = self._birth(unit.opt_text("dateNaissanceUniteLegale"))
            directors = (
                RegisteredPerson(
                    family_name=family,
                    given_names=given,
                    usage_name=unit.opt_text("nomUsageUniteLegale"),
                    birth_year=year,
                    birth_month=month,
                    role="Entrepreneur individuel",
                ),
            )
            # Named as people know them: usual given name, usage name if any.
            usual = unit.opt_text("prenomUsuelUniteLegale") or unit.opt_text("prenom1UniteLegale")
            surname = unit.opt_text("nomUsageUniteLegale") or family
            name = name or " ".join(p for p in (usual, surname) if p)
        if not name:
            raise _bad_answer(self.name, "the legal unit has no name (denomination)")
        return Organization(
            siren=siren or unit.text("siren"),
            name=name,
            legal_form=category,
            active=unit.choice("etatAdministratifUniteLegale", _ACTIVE_UNIT),
            diffusible=unit.opt_text("statutDiffusionUniteLegale") == "O"
            and diffusible_place == "O",
            headquarters=headquarters,
            directors=directors,
        )

    def _birth(self, value: str | None) -> tuple[int | None, int | None]:
        # Seen as "YYYYMMDD" in ProConnect's fixture and "YYYY-MM-DD" in INSEE's schema.
        if value is None:
            return None, None
        match = re.fullmatch(r"([0-9]{4})-?([0-9]{2})-?([0-9]{2})", value)
        if match is None or not 1 <= int(match[2]) <= 12:
            raise _bad_answer(self.name, f"dateNaissanceUniteLegale {value[:20]!r} is not a date")
        return int(match[1]), int(match[2])


# --------------------------------------------------------------------------------------
# EU VIES
# --------------------------------------------------------------------------------------

# VIES userError values that mean "could not check now" (its documented error list).
_VIES_UNAVAILABLE: Final = frozenset(
    {
        "MS_UNAVAILABLE",
        "TIMEOUT",
        "SERVICE_UNAVAILABLE",
        "MS_MAX_CONCURRENT_REQ",
        "GLOBAL_MAX_CONCURRENT_REQ",
        "SERVER_BUSY",
        "IP_BLOCKED",
        "VAT_BLOCKED",
    }
)


class Vies(_Cached):
    """The EU VIES VAT check, REST flavour: ``GET /ms/{country}/vat/{number}``.

    The answer's ``isValid``, ``name``, ``address`` and ``requestIdentifier`` (the
    consultation number, given when the requester identifies itself with its own VAT
    number, ``requester_vat``) are read; ``"---"`` means "not disclosed". Modelled on the
    documented REST API and public clients: **not verified against a recorded answer**, in
    particular the requester query parameters on the GET form.
    """

    name = VIES

    def __init__(
        self,
        client: httpx.Client,
        *,
        base_url: str = DEFAULT_VIES_URL,
        requester_vat: str | None = None,
        policy: NetworkPolicy = DEFAULT_POLICY,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        rate: float | None = 1.0,
        cache: TtlCache | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._requester = _split_vat(requester_vat) if requester_vat else None
        self._connect(
            client, base_url, policy=policy, clock=clock, retry=retry, rate=rate, cache=cache,
            sleep=sleep, monotonic=monotonic,
        )  # fmt: skip

    def check(self, vat_number: str) -> VatRecord:
        """Ask VIES about ``vat_number`` (``FR…`` numbers are check-digit verified first).

        Returns the record whatever ``isValid`` says (see :func:`check_vat`); raises
        ``register_unavailable`` when VIES or the member state cannot answer now."""
        country, number = _split_vat(vat_number)
        vat = parse_fr_vat(country + number) if country == "FR" else country + number

        def load() -> VatRecord:
            url = f"{self._base}/ms/{country}/vat/{number}"
            if self._requester is not None:
                url += "?" + urllib.parse.urlencode(
                    {"requesterMemberStateCode": self._requester[0],
                     "requesterNumber": self._requester[1]}
                )  # fmt: skip
            answer, body = self._http.get_object(url)
            if body.items("errorWrappers"):
                raise _unavailable(self.name, "errorWrappers in the answer")
            user_error = body.opt_text("userError")
            if user_error in _VIES_UNAVAILABLE:
                raise _unavailable(self.name, f"userError {user_error}")
            valid = body.opt_bool("isValid")
            if valid is None:
                raise _bad_answer(self.name, "isValid is missing")
            reference = body.opt_text("requestIdentifier") or None
            consultation = Consultation(
                self.name, url, vat, answer.at, _digest_sri(answer.body), reference
            )
            return VatRecord(
                vat, valid, _disclosed(body.opt_text("name")),
                _disclosed(body.opt_text("address")), consultation,
            )  # fmt: skip

        return self._cached(("vat", vat), load, VatRecord)


def _disclosed(value: str | None) -> str | None:
    return None if value is None or value.strip() in ("", "---") else value.strip()


def _split_vat(vat_number: str) -> tuple[str, str]:
    value = vat_number.replace(" ", "").upper()
    match = _VAT_RE.fullmatch(value)
    if match is None:
        raise MalformedError(
            Code.INVALID_VAT_ID,
            f"expected an EU VAT number (2-letter country code and 2-12 characters), "
            f"found {vat_number[:40]!r}",
        )
    # VIES names Greece "EL", not its ISO code.
    return ("EL" if match[1] == "GR" else match[1]), match[2]


# --------------------------------------------------------------------------------------
# GLEIF
# --------------------------------------------------------------------------------------


def parse_lei(lei: str) -> str:
    """Check an LEI (ISO 17442: 18 alphanumerics and 2 check digits, ISO 7064 MOD 97-10) and
    return it upper-cased. Raises ``MalformedError`` (``invalid_lei``)."""
    value = lei.strip().upper()
    if _LEI_RE.fullmatch(value) is None:
        raise MalformedError(
            Code.INVALID_LEI, f"expected an LEI of 20 letters and digits, found {lei[:40]!r}"
        )
    if int("".join(str(int(c, 36)) for c in value)) % 97 != 1:
        raise MalformedError(Code.INVALID_LEI, f"LEI {value} fails its MOD 97-10 check digits")
    return value


class Gleif(_Cached):
    """The GLEIF API: ``GET /lei-records/{lei}`` (JSON:API, ``data.attributes``).

    Modelled on GLEIF's documented record shape (``entity.legalName.name``,
    ``entity.legalForm.id``, ``entity.status``, ``registration.status``,
    ``entity.legalAddress``): **not verified against a recorded answer**.
    """

    name = GLEIF

    def __init__(
        self,
        client: httpx.Client,
        *,
        base_url: str = DEFAULT_GLEIF_URL,
        policy: NetworkPolicy = DEFAULT_POLICY,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        rate: float | None = 5.0,
        cache: TtlCache | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connect(
            client, base_url, policy=policy, clock=clock, retry=retry, rate=rate, cache=cache,
            sleep=sleep, monotonic=monotonic,
        )  # fmt: skip

    def lookup(self, lei: str) -> LeiRecord:
        """The LEI record. Raises ``invalid_lei``, ``register_not_found`` (404),
        ``register_unavailable`` or ``register_answer_invalid``."""
        lei = parse_lei(lei)

        def load() -> LeiRecord:
            url = f"{self._base}/lei-records/{lei}"
            answer, payload = self._http.get_object(url, missing=f"LEI {lei}")
            data = payload.obj("data")
            attributes = data.obj("attributes")
            if attributes.text("lei") != lei:
                raise _bad_answer(self.name, f"answered for LEI {attributes.text('lei')[:20]!r}")
            entity = attributes.obj("entity")
            form = entity.opt_obj("legalForm")
            address = entity.opt_obj("legalAddress")
            return LeiRecord(
                lei=lei,
                legal_name=entity.obj("legalName").text("name"),
                legal_form=form.opt_text("id") if form else None,
                entity_status=entity.text("status"),
                registration_status=attributes.obj("registration").text("status"),
                country_code=address.opt_text("country") if address else None,
                registered_as=entity.opt_text("registeredAs"),
                legal_address=self._address(address),
                consultation=Consultation(self.name, url, lei, answer.at, _digest_sri(answer.body)),
            )

        return self._cached(("lei", lei), load, LeiRecord)

    def _address(self, a: _Reader | None) -> PostalAddress | None:
        if a is None:
            return None
        lines = a.items("addressLines")
        if not all(isinstance(line, str) for line in lines):
            raise _bad_answer(self.name, "addressLines is not a list of strings")
        street = " ".join(lines) or None
        postal, city = a.opt_text("postalCode"), a.opt_text("city")
        full = " ".join(p for p in (street, postal, city) if p)
        return PostalAddress(full, street, postal, city, a.opt_text("country") or "")


# --------------------------------------------------------------------------------------
# Checks: facts → refusals
# --------------------------------------------------------------------------------------


def check_organization(record: OrganizationRecord) -> Organization:
    """The organization, if it is active and diffusible. Raises ``InvalidError``
    ``organization_closed`` (ceased) or ``register_not_diffusible``."""
    organization = record.organization
    if not organization.active:
        raise InvalidError(
            Code.ORGANIZATION_CLOSED,
            f"SIREN {organization.siren} ({organization.name}) has ceased activity "
            f"per {record.consultation.register}",
        )
    if not organization.diffusible:
        raise InvalidError(
            Code.REGISTER_NOT_DIFFUSIBLE,
            f"SIREN {organization.siren} is not public in {record.consultation.register}: "
            "ancre does not certify what the register does not publish",
        )
    return organization


def check_establishment(record: EstablishmentRecord) -> Establishment:
    """The establishment, if it and its organization are active (and diffusible). Raises
    ``establishment_closed``, ``organization_closed`` or ``register_not_diffusible``."""
    check_organization(OrganizationRecord(record.organization, record.consultation))
    if not record.establishment.active:
        raise InvalidError(
            Code.ESTABLISHMENT_CLOSED,
            f"SIRET {record.establishment.siret} is a closed establishment "
            f"per {record.consultation.register}",
        )
    return record.establishment


def check_vat(record: VatRecord) -> VatRecord:
    """The record, if VIES says the number is valid; else ``vat_not_registered``."""
    if not record.valid:
        raise InvalidError(
            Code.VAT_NOT_REGISTERED, f"VIES says {record.vat_number} is not a valid VAT number"
        )
    return record


def check_lei(record: LeiRecord) -> LeiRecord:
    """The record, if the LEI is issued (not lapsed or retired) and the entity active; else
    ``lei_not_issued`` or ``organization_closed``."""
    if record.registration_status != "ISSUED":
        raise InvalidError(
            Code.LEI_NOT_ISSUED,
            f"LEI {record.lei} has registration status {record.registration_status[:40]!r}, "
            "expected 'ISSUED'",
        )
    if record.entity_status != "ACTIVE":
        raise InvalidError(
            Code.ORGANIZATION_CLOSED,
            f"the entity of LEI {record.lei} has status {record.entity_status[:40]!r}",
        )
    return record


def check_director(
    record: OrganizationRecord | EstablishmentRecord, person: Person
) -> DirectorMatch:
    """The register's director matching ``person`` (:mod:`ancre.issuer.register_match`).

    Raises ``IndeterminateError`` ``directors_unavailable`` when the register keeps no list
    of directors (Sirene for a company) or lists nobody — ask another register, never
    guess — and
    ``InvalidError`` ``director_not_matched`` when nobody on the list matches.
    """
    organization = record.organization
    # A unit always has a legal representative: an empty list means the register lacks the
    # data (not that nobody runs the company), unless legal persons are listed instead.
    if organization.directors is None or not (
        organization.directors or organization.legal_person_directors
    ):
        raise IndeterminateError(
            Code.DIRECTORS_UNAVAILABLE,
            f"{record.consultation.register} lists no directors for SIREN "
            f"{organization.siren}; consult Recherche d'entreprises (RNE)",
        )
    result = match_director(person, organization.directors)
    if not result.matched:
        raise InvalidError(
            Code.DIRECTOR_NOT_MATCHED,
            f"the person who logged in is not among the {len(organization.directors)} "
            f"natural-person director(s) of SIREN {organization.siren} "
            f"per {record.consultation.register}",
        )
    return result


def is_public_law_category(legal_form: str) -> bool:
    """Whether an INSEE legal category is a legal person under administrative law: the
    categories ``7xxx`` ("Personne morale et organisme soumis au droit administratif" in
    INSEE's nomenclature of legal categories, level I)."""
    return (
        len(legal_form) == 4
        and legal_form.isascii()
        and legal_form.isdigit()
        and (legal_form[0] == "7")
    )


def check_public_body(record: OrganizationRecord | EstablishmentRecord) -> Organization:
    """The organization, if it is an active public body by its legal category; else
    ``not_public_body`` (or the :func:`check_organization` refusals).

    Category ``7xxx`` (public-law legal persons: the State, local authorities, public
    administrative bodies) is a public body. Category ``4xxx`` (public-law legal persons
    under commercial law, e.g. an EPIC) is accepted only when the register also flags the
    unit a public service (``complements.est_service_public``). The flag alone never
    suffices: a private company running a public service is not a public body.
    """
    organization = check_organization(OrganizationRecord(record.organization, record.consultation))
    category = organization.legal_form
    if is_public_law_category(category):
        return organization
    if category[:1] == "4" and organization.public_service is True:
        return organization
    raise InvalidError(
        Code.NOT_PUBLIC_BODY,
        f"SIREN {organization.siren} ({organization.name}) has legal category {category[:8]!r}, "
        "not a public body (7xxx, or 4xxx flagged a public service)",
    )


# Both French registers implement the protocol: mypy checks this assignment structurally.
_FRENCH_REGISTERS: Final[tuple[type[CompanyRegister], ...]] = (RechercheEntreprises, InseeSirene)
