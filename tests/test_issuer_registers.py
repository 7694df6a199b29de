"""ancre.issuer.registers and register_match: register clients against a local replay server.

The server on 127.0.0.1 answers with the recorded (and hand-derived) register answers of
tests/data/registers/ (see its SOURCE.md), and misbehaves on demand: 429 with Retry-After,
5xx, slow answers, garbage. Retries and the rate limit run on a fake clock (an injected
`sleep` that only advances it), so no test waits for real except the timeout test.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from _http_server import free_port, loopback_client
from _support import NOW
from hypothesis import given
from hypothesis import strategies as st

from ancre.issuer.builders import local_registration_number_credential, vat_id_credential
from ancre.issuer.register_match import (
    Person,
    RegisteredPerson,
    family_names_match,
    given_name_units,
    given_names_match,
    match_director,
    normalize_name,
)
from ancre.issuer.registers import (
    DEFAULT_POLICY,
    EVIDENCE_TYPE,
    INSEE_KEY_HEADER,
    Consultation,
    Gleif,
    InseeSirene,
    LegalPersonDirector,
    Organization,
    OrganizationRecord,
    RechercheEntreprises,
    RetryPolicy,
    TokenBucket,
    TtlCache,
    Vies,
    check_director,
    check_establishment,
    check_lei,
    check_organization,
    check_public_body,
    check_vat,
    is_public_law_category,
    parse_lei,
)
from ancre.trust.clock import FixedClock
from ancre.trust.errors import (
    AncreError,
    Code,
    IndeterminateError,
    InvalidError,
    MalformedError,
    Outcome,
)
from ancre.trust.net.guard import NetworkPolicy
from ancre.trust.vcdm.model import check_credential

DATA = Path(__file__).parent / "data" / "registers"
POLICY = NetworkPolicy(
    allow_loopback=True, allow_http=True, max_bytes=64 * 1024, timeout=2.0, max_redirects=0,
    user_agent=DEFAULT_POLICY.user_agent,
)  # fmt: skip
POSTE_SEARCH = "/search?q=356000000&page=1&per_page=5"


def data(name: str) -> bytes:
    return (DATA / name).read_bytes()


def sri(raw: bytes) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(raw).digest()).decode()


# ---- the replay server ----------------------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class Replay:
    """Per path, a script of replies: each request takes the next; the last one repeats."""

    def __init__(self) -> None:
        self.scripts: dict[str, list[Reply]] = {}
        self.hits: Counter[str] = Counter()
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self.stop = threading.Event()

    def on(self, path: str, *replies: Reply) -> None:
        self.scripts[path] = list(replies)

    def json(self, path: str, name: str, status: int = 200) -> bytes:
        body = data(name)
        self.on(path, Reply(status, body, {"Content-Type": "application/json"}))
        return body

    def take(self, path: str, headers: dict[str, str]) -> Reply:
        with self._lock:
            self.hits[path] += 1
            self.headers.append(headers)
            script = self.scripts.get(path)
            if not script:
                return Reply(404, b'{"erreur":"not scripted"}')
            return script.pop(0) if len(script) > 1 else script[0]


def _handler(replay: Replay) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            reply = replay.take(self.path, {k.lower(): v for k, v in self.headers.items()})
            if reply.delay and replay.stop.wait(reply.delay):
                return
            try:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (its deadline), as intended

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64


@pytest.fixture
def replay() -> Iterator[tuple[Replay, str]]:
    replay = Replay()
    server = _Server(("127.0.0.1", 0), _handler(replay))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    try:
        yield replay, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        replay.stop.set()
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with loopback_client() as (http, _):
        yield http


class FakeTime:
    """Monotonic time that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


def recherche(
    client: httpx.Client, base: str, fake: FakeTime, clock: FixedClock, **kw: Any
) -> RechercheEntreprises:
    return RechercheEntreprises(
        client, base_url=base, policy=POLICY, clock=clock, sleep=fake.sleep,
        monotonic=fake.monotonic, **kw,
    )  # fmt: skip


def code_of(exc: pytest.ExceptionInfo[AncreError]) -> tuple[Code, Outcome]:
    return exc.value.code, exc.value.outcome


# ---- Recherche d'entreprises: the recorded answer --------------------------------------------


def test_recherche_siren_parses_the_recorded_answer(
    replay: tuple[Replay, str], client: httpx.Client, fake: FakeTime, clock: FixedClock
) -> None:
    server, base = replay
    body = server.json(POSTE_SEARCH, "recherche-entreprises.search.356000000.json")
    record = recherche(client, base, fake, clock).lookup_siren("356 000 000")
    org = record.organization
    assert (org.siren, org.name, org.legal_form, org.active, org.diffusible) == (
        "356000000", "LA POSTE", "5510", True, True,
    )  # fmt: skip
    assert org.headquarters is not None
    assert org.headquarters.siret == "35600000000048"
    assert org.headquarters.active
    assert org.headquarters.headquarters
    assert org.headquarters.address is not None
    assert org.headquarters.address.full == (
        "DIRECTION GENERALE DE LA POSTE 9 RUE DU COLONEL PIERRE AVIA 75015 PARIS"
    )
    assert org.headquarters.address.street == "9 RUE DU COLONEL PIERRE AVIA"
    assert org.headquarters.address.postal_code == "75015"
    assert org.directors == (
        RegisteredPerson("Dupont", "John", None, 1964, 9, "Directeur général"),
    )
    assert [(d.siren, d.role) for d in org.legal_person_directors] == [
        ("784824153", "Commissaire aux comptes titulaire")
    ]
    assert org.vat_numbers == ("FR39356000000",)
    assert org.public_service is False
    c = record.consultation
    assert (c.register, c.query, c.url, c.queried_at) == (
        "recherche-entreprises", "356000000", base + POSTE_SEARCH, NOW,
    )  # fmt: skip
    assert c.digest_sri == sri(body)
    assert check_organization(record) is org
    # The explicit User-Agent the API asks for.
    assert server.headers[0]["user-agent"] == DEFAULT_POLICY.user_agent
    assert server.headers[0]["user-agent"].startswith("ancre-issuer/")


def test_recherche_siret_head_office_and_evidence_in_a_credential(
    replay: tuple[Replay, str], client: httpx.Client, fake: FakeTime, clock: FixedClock
) -> None:
    server, base = replay
    body = server.json(
        "/search?q=35600000000048&page=1&per_page=5", "recherche-entreprises.search.356000000.json"
    )
    record = recherche(client, base, fake, clock).lookup_siret("35600000000048")
    place = check_establishment(record)
    assert (place.siret, place.active, place.headquarters) == ("35600000000048", True, True)
    evidence = record.consultation.evidence("gx:LocalRegistrationNumber")
    assert evidence == {
        "type": [EVIDENCE_TYPE],
        "ancre:register": "recherche-entreprises",
        "ancre:query": "35600000000048",
        "gx:evidenceURL": base + "/search?q=35600000000048&page=1&per_page=5",
        "gx:executionDate": "2026-01-15T12:00:00Z",
        "ancre:digestSRI": sri(body),
        "gx:evidenceOf": "gx:LocalRegistrationNumber",
    }
    credential = local_registration_number_credential(
        issuer="did:web:issuer.ancre.example",
        credential_id="https://issuer.ancre.example/credentials/lrn-1",
        subject_id="https://issuer.ancre.example/credentials/lrn-1#cs",
        siret_or_siren=place.siret,
        valid_from=NOW,
        evidence=[evidence],
    )
    # The verifier's data-model check accepts it, without any tolerance.
    assert check_credential(credential) == ()


def test_recherche_director_match_from_the_recorded_answer(
    replay: tuple[Replay, str], client: httpx.Client, fake: FakeTime, clock: FixedClock
) -> None:
    server, base = replay
    server.json(POSTE_SEARCH, "recherche-entreprises.search.356000000.json")
    record = recherche(client, base, fake, clock).lookup_siren("356000000")
    match = check_director(record, Person("DUPONT", "John Michel", birth_year=1964, birth_month=9))
    assert match.director is not None
    assert match.director.role == "Directeur général"
    assert match.birth_date_compared
    with pytest.raises(InvalidError) as wrong_month:
        check_director(record, Person("Dupont", "John", birth_year=1964, birth_month=10))
    assert wrong_month.value.code is Code.DIRECTOR_NOT_MATCHED
    with pytest.raises(InvalidError) as stranger:
        check_director(record, Person("Durand", "John"))
    assert stranger.value.code is Code.DIRECTOR_NOT_MATCHED


# ---- refusals -------------------------------------------------------------------------------


def test_closed_establishment_is_refused(
    replay: tuple[Replay, str], client: httpx.Client, fake: FakeTime, clock: FixedClock
) -> None:
    server, base = replay
    server.json(
        "/search?q=35600000049837&page=1&per_page=5",
        "recherche-entreprises.search.35600000049837.closed.json",
    )
    record = recherche(client, base, fake, clock).lookup_siret("35600000049837")
    assert record.establishment.active is False
    assert record.establishment.address is not None
    assert record.establishment.address.city == "LYON 2EME"
    with pytest.raises(InvalidError) as caught:
        check_establishment(record)
    assert code_of(caught) == (Code.ESTABLISHMENT_CLOSED, Outcome.INVALID)


def test_ceased_organization_is_refused(
    replay: tuple[Replay, str], client: httpx.Client, fake: FakeTime, clock: FixedClock
) -> None:
    server, base = replay
    server.json(
        "/search?q=73282932000017&page=1&per_page=5",
        "recherche-entreprises.search.732829320.ceased.json",
    )
    record = recherche(client, base, fake, clock).lookup_siret("73282932000017")
    with pytest.raises(InvalidError) as caught:
        check_establishment(record)
    assert code_of(caught) == (Code.ORGANIZATION_CLOSED, Outcome.INVALID)


@pytest.mark.parametrize(
    ("number", "answer"),
    [
        ("73282932000025", "recherche-entreprises.search.empty.json"),
        # The full-text search answers a neighbour: only an exact SIREN match counts.
        ("73282932000025", "recherche-entreprises.search.356000000.json"),
        # Right SIREN, but the SIRET is neither the head office nor a matching establishment.
        ("35600000000055", "recherche-entreprises.search.356000000.json"),
    ],
)
def test_unknown_siret_is_register_not_found(
    replay: tuple[Replay, str],
    client: httpx.Client,
    fake: FakeTime,
    clock: FixedClock,
    number: str,
    answer: str,
) -> None:
    server, base = replay
    server.json(f"/search?q={number}&page=1&per_page=5", answer)
    with pytest.raises(InvalidError) as caught:
        recherche(client, base, fake, clock).lookup_siret(number)
    assert code_of(caught) == (Code.REGISTER_NOT_FOUND, Outcome.INVALID)


@pytest.mark.parametrize(
    ("call", "number", "code"),
    [
        ("siret", "35600000000049", Code.INVALID_SIRET),
        ("siret", "3560000000004", Code.INVALID_SIRET),
        ("siren", "356000001", Code.INVALID_SIREN),
        ("siren", "35600000A", Code.INVALID_SIREN),
    ],
)
def test_bad_check_digits_are_refused_without_a_request(
    replay: tuple[Replay, str],
    client: httpx.Client,
    fake: FakeTime,
    clock: FixedClock,
    call: str,
    number: str,
    code: Code,
) -> None:
    server, base = replay
    register = recherche(client, base, fake, clock)
    lookup = register.lookup_siret if call == "siret" else register.lookup_siren
    with pytest.raises(MalformedError) as caught:
        lookup(number)
    assert caught.value.code is code
    assert sum(server.hits.values()) == 0


# ---- retries, rate limit, time limits -------------------------------------------------------


def test_429_retry_after_is_honoured_then_success(
    replay: tuple[Replay, str], client: httpx.Client, fake: FakeTime, clock: FixedClock
) -> None:
    server, base = replay
    ok = data("recherche-entreprises.search.356000000.json")
    server.on(
        POSTE_SEARCH,
        Reply(429, b"{}", {"Retry-After": "3"}),
        Reply(503, b"busy"),
        Reply(200, ok),
    )
    record = recherche(client, base, fake, clock).lookup_siren("356000000")
    assert record.organization.name == "LA POSTE"
    assert server.hits[POSTE_SEARCH] == 3
    # Retry-After 3 s first, then the exponential backoff's second step (0.5 * 2).
    assert fake.sleeps == [3.0, 1.0]
    assert record.consultation.digest_sri == sri(ok)


def test_retry_after_as_http_date(
    replay: tuple[Replay, str], client: httpx.Client, fake: FakeTime, clock: FixedClock
) -> None:
    server, base = replay
    ok = data("recherche-entreprises.search.356000000.json")
    when = "Thu, 15 Jan 2026 12:00:02 GMT"  # the FixedClock is at 12:00:00Z
    server.on(POSTE_SEARCH, Reply(429, b"", {"Retry-After": when}), Reply(200, ok))
    recherche(client, base, fake, clock).lookup_siren("356000000")
    assert fake.sleeps == [2.0]


def test_429_exhausted_is_indeterminate(
    replay: tuple[Replay, str], client: httpx.Client, fake: FakeTime, clock: FixedClock
) -> None:
    server, base = replay
    server.on(POSTE_SEARCH, Reply(429, b"{}"))
    register = recherche(client, base, fake, clock, retry=RetryPolicy(attempts=4))
    with pytest.raises(IndeterminateError) as caught:
        register.lookup_siren("356000000")
    assert code_of(caught) == (Code.REGISTER_UNAVAILABLE, Outcome.INDETERMINATE)
    assert "HTTP 429 after 4 attempt(s)" in caught.value.message
    assert server.hits[POSTE_SEARCH] == 4
    assert fake.sleeps == [0.5, 1.0, 2.0]


def test_retry_after_beyond_the_cap_stops_at_once(
    replay: tuple[Replay, str], client: httpx.Client, fake: FakeTime, clock: FixedClock
) -> None:
    server, base = replay
    server.on(POSTE_SEARCH, Reply(429, b"", {"Retry-After": "3600"}))
    with pytest.raises(IndeterminateError) as caught:
        recherche(client, base, fake, clock).lookup_siren("356000000")
    assert caught.value.code is Code.REGISTER_UNAVAILABLE
    assert server.hits[POSTE_SEARCH] == 1
    assert fake.sleeps == []


def test_total_retry_time_is_bounded(
    replay: tuple[Replay, str], client: httpx.Client, fake: FakeTime, clock: FixedClock
) -> None:
    server, base = replay
    server.on(POSTE_SEARCH, Reply(500, b"oops"))
    retry = RetryPolicy(attempts=10, base_delay=1.0, max_delay=8.0, total_time=5.0)
    with pytest.raises(IndeterminateError) as caught:
        recherche(client, base, fake, clock, retry=retry).lookup_siren("356000000")
    assert caught.value.code is Code.REGISTER_UNAVAILABLE
    assert "no time left" in caught.value.message
    # 1 + 2 = 3 s slept; the next 4 s would end past the 5 s budget.
    assert fake.sleeps == [1.0, 2.0]
    assert server.hits[POSTE_SEARCH] == 3


def test_slow_register_times_out_as_indeterminate(
    replay: tuple[Replay, str], client: httpx.Client, fake: FakeTime, clock: FixedClock
) -> None:
    server, base = replay
    server.on(POSTE_SEARCH, Reply(200, b"{}", delay=2.0))
    slow = NetworkPolicy(allow_loopback=True, allow_http=True, timeout=0.2, max_redirects=0)
    register = RechercheEntreprises(
        client, base_url=base, policy=slow, clock=clock, retry=RetryPolicy(attempts=1),
        sleep=fake.sleep, monotonic=fake.monotonic,
    )  # fmt: skip
    started = time.monotonic()
    with pytest.raises(IndeterminateError) as caught:
        register.lookup_siren("356000000")
    assert time.monotonic() - started < 1.5
    assert code_of(caught) == (Code.REGISTER_UNAVAILABLE, Outcome.INDETERMINATE)
    assert "longer than 0.2 s" in caught.value.message


def test_unreachable_register_is_indeterminate(
    client: httpx.Client, fake: FakeTime, clock: FixedClock
) -> None:
    base = f"http://127.0.0.1:{free_port()}"
    register = recherche(client, base, fake, clock, retry=RetryPolicy(attempts=2))
    with pytest.raises(IndeterminateError) as caught:
        register.lookup_siren("356000000")
    assert caught.value.code is Code.REGISTER_UNAVAILABLE
    assert fake.sleeps == [0.5]


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"<html>maintenance</html>", "not strict JSON"),
        (b'{"results": [], "results": []}', "duplicate member"),
        (b'{"results": [{"siren": 356000000}]}', "should be str"),
        (b'{"results": [{"siren": "356000000", "nom_complet": "x", "nature_juridique": "5510",'
         b' "etat_administratif": "Z"}]}', "etat_administratif"),
        (b'{"results": {"siren": "356000000"}}', "should be list"),
        (b"[" * 100 + b"]" * 100, "deeper"),
        (b'{"x": "' + b"a" * 70_000 + b'"}', "limit"),
    ],
)  # fmt: skip
def test_unreadable_answers_are_indeterminate(
    replay: tuple[Replay, str],
    client: httpx.Client,
    fake: FakeTime,
    clock: FixedClock,
    body: bytes,
    why: str,
) -> None:
    server, base = replay
    server.on(POSTE_SEARCH, Reply(200, body))
    with pytest.raises(IndeterminateError) as caught:
        recherche(client, base, fake, clock).lookup_siren("356000000")
    assert code_of(caught) == (Code.REGISTER_ANSWER_INVALID, Outcome.INDETERMINATE)
    assert why in caught.value.message
    assert server.hits[POSTE_SEARCH] == 1  # an unreadable answer is not retried


def test_token_bucket_spaces_requests_at_the_rate(fake: FakeTime) -> None:
    bucket = TokenBucket(7.0, monotonic=fake.monotonic, sleep=fake.sleep)
    for _ in range(7):
        bucket.acquire()
    assert fake.sleeps == []  # the burst
    bucket.acquire()
    bucket.acquire()
    assert fake.sleeps == [round(1 / 7, 6), round(1 / 7, 6)]
    fake.now += 10  # idle: the bucket refills up to its burst, not beyond
    for _ in range(7):
        bucket.acquire()
    assert len(fake.sleeps) == 2
    bucket.acquire()
    assert len(fake.sleeps) == 3


def test_rate_limit_applies_to_lookups(
    replay: tuple[Replay, str], client: httpx.Client, fake: FakeTime, clock: FixedClock
) -> None:
    server, base = replay
    server.json(POSTE_SEARCH, "recherche-entreprises.search.356000000.json")
    register = recherche(client, base, fake, clock, rate=2.0)  # no cache: every call asks
    for _ in range(4):
        register.lookup_siren("356000000")
    assert server.hits[POSTE_SEARCH] == 4
    assert fake.sleeps == [0.5, 0.5]


def test_answers_are_cached_with_a_ttl_and_a_size_bound(
    replay: tuple[Replay, str], client: httpx.Client, fake: FakeTime, clock: FixedClock
) -> None:
    server, base = replay
    server.json(POSTE_SEARCH, "recherche-entreprises.search.356000000.json")
    server.json(
        "/search?q=732829320&page=1&per_page=5",
        "recherche-entreprises.search.732829320.ceased.json",
    )
    cache = TtlCache(clock, ttl=timedelta(minutes=10), size=1)
    register = recherche(client, base, fake, clock, cache=cache)
    first = register.lookup_siren("356000000")
    assert register.lookup_siren("356000000") is first
    assert server.hits[POSTE_SEARCH] == 1
    clock.advance(timedelta(minutes=10))
    again = register.lookup_siren("356000000")
    assert server.hits[POSTE_SEARCH] == 2
    # The evidence says when the register really answered, not when the cache did.
    assert again.consultation.queried_at == NOW + timedelta(minutes=10)
    register.lookup_siren("732829320")  # evicts La Poste (size 1)
    assert len(cache) == 1
    register.lookup_siren("356000000")
    assert server.hits[POSTE_SEARCH] == 3


def test_failures_are_not_cached(
    replay: tuple[Replay, str], client: httpx.Client, fake: FakeTime, clock: FixedClock
) -> None:
    server, base = replay
    ok = data("recherche-entreprises.search.356000000.json")
    server.on(POSTE_SEARCH, Reply(500, b""), Reply(200, ok))
    register = recherche(client, base, fake, clock, retry=RetryPolicy(attempts=1),
                         cache=TtlCache(clock))  # fmt: skip
    with pytest.raises(IndeterminateError):
        register.lookup_siren("356000000")
    assert register.lookup_siren("356000000").organization.name == "LA POSTE"


# ---- public bodies --------------------------------------------------------------------------


def test_public_body_check(
    replay: tuple[Replay, str], client: httpx.Client, fake: FakeTime, clock: FixedClock
) -> None:
    server, base = replay
    server.json(
        "/search?q=213500010&page=1&per_page=5",
        "recherche-entreprises.search.213500010.public-body.json",
    )
    server.json(POSTE_SEARCH, "recherche-entreprises.search.356000000.json")
    register = recherche(client, base, fake, clock)
    commune = register.lookup_siren("213500010")
    assert check_public_body(commune).legal_form == "7210"
    # The mayor, written with accents and a hyphen, found from ASCII capitals.
    assert check_director(commune, Person("SAINT EXUPERY", "ELODIE")).matched
    with pytest.raises(InvalidError) as caught:
        check_public_body(register.lookup_siren("356000000"))  # La Poste: SA, 5510
    assert code_of(caught) == (Code.NOT_PUBLIC_BODY, Outcome.INVALID)


@pytest.mark.parametrize(
    ("category", "public_service", "public"),
    [
        ("7210", None, True),  # commune
        ("7389", False, True),  # an établissement public administratif: the category decides
        ("4110", True, True),  # EPIC flagged a public service
        ("4110", None, False),
        ("5510", True, False),  # a company running a public service is not a public body
        ("9220", True, False),
        ("7", None, False),
    ],
)
def test_public_body_rule(category: str, public_service: bool | None, public: bool) -> None:
    org = Organization(
        "213500010", "X", category, True, True, None, None, public_service=public_service
    )
    record = OrganizationRecord(org, Consultation("r", "https://r.example", "q", NOW, "sha256-"))
    if public:
        assert check_public_body(record) is org
    else:
        with pytest.raises(InvalidError) as caught:
            check_public_body(record)
        assert caught.value.code is Code.NOT_PUBLIC_BODY
    assert is_public_law_category(category) is (category.startswith("7") and len(category) == 4)


def test_an_empty_director_list_decides_nothing() -> None:
    consultation = Consultation("r", "https://r.example", "q", NOW, "sha256-")
    nobody = Organization("732829320", "X", "5710", True, True, None, directors=())
    with pytest.raises(IndeterminateError) as caught:
        check_director(OrganizationRecord(nobody, consultation), Person("Dupont", "John"))
    assert caught.value.code is Code.DIRECTORS_UNAVAILABLE
    # Only a holding company presides: the person is not a director.
    holding = replace(
        nobody, legal_person_directors=(LegalPersonDirector("552032534", "H", "Président"),)
    )
    with pytest.raises(InvalidError) as refused:
        check_director(OrganizationRecord(holding, consultation), Person("Dupont", "John"))
    assert refused.value.code is Code.DIRECTOR_NOT_MATCHED


# ---- INSEE Sirene 3.11 -----------------------------------------------------------------------


def insee(client: httpx.Client, base: str, fake: FakeTime, clock: FixedClock) -> InseeSirene:
    return InseeSirene(
        client, api_key="test-key-123", base_url=base, policy=POLICY, clock=clock,
        sleep=fake.sleep, monotonic=fake.monotonic,
    )  # fmt: skip


def test_insee_siren_recorded_answer(
    replay: tuple[Replay, str], client: httpx.Client, fake: FakeTime, clock: FixedClock
) -> None:
    server, base = replay
    body = server.json("/siren/552032534", "insee-sirene-3.11.siren-552032534.json")
    record = insee(client, base, fake, clock).lookup_siren("552032534")
    org = check_organization(record)
    assert (org.name, org.legal_form, org.active, org.diffusible, org.directors) == (
        "DANONE", "5599", True, True, None,
    )  # fmt: skip
    assert server.headers[0][INSEE_KEY_HEADER.lower()] == "test-key-123"
    assert record.consultation.digest_sri == sri(body)
    # Sirene keeps no list of a company's directors: never guess.
    with pytest.raises(IndeterminateError) as caught:
        check_director(record, Person("Dupont", "John"))
    assert code_of(caught) == (Code.DIRECTORS_UNAVAILABLE, Outcome.INDETERMINATE)


def test_insee_trimmed_siret_fixture_is_refused(
    replay: tuple[Replay, str], client: httpx.Client, fake: FakeTime, clock: FixedClock
) -> None:
    # The recorded fixture says nic 00011 for SIRET …00051 and has no current period:
    # ancre cannot tell whether the establishment is open, so it decides nothing.
    server, base = replay
    server.json("/siret/80761229600051", "insee-sirene-3.11.siret-80761229600051.trimmed.json")
    with pytest.raises(IndeterminateError) as caught:
        insee(client, base, fake, clock).lookup_siret("80761229600051")
    assert caught.value.code is Code.REGISTER_ANSWER_INVALID
    assert "nic '00011'" in caught.value.message


def test_insee_siret_entrepreneur_individuel(
    replay: tuple[Replay, str], client: httpx.Client, fake: FakeTime, clock: FixedClock
) -> None:
    server, base = replay
    server.json("/siret/80761229600051", "insee-sirene-3.11.siret-80761229600051.json")
    record = insee(client, base, fake, clock).lookup_siret("80761229600051")
    place = check_establishment(record)
    assert (place.siret, place.headquarters) == ("80761229600051", True)
    assert place.address is not None
    assert place.address.full == "20 AV DE SEGUR 75007 PARIS 7"
    org = record.organization
    assert (org.name, org.legal_form) == ("ANGELA DUBOIS", "1000")
    # The ProConnect certification-dirigeant test person (reference/proconnect.md §5).
    angela = Person("Dubois", "Angela Claire Louise", birth_year=1962, birth_month=8)
    match = check_director(record, angela)
    assert match.director is not None
    assert match.birth_date_compared
    with pytest.raises(InvalidError) as caught:
        check_director(record, Person("Dubois", "Angela", birth_year=1963))
    assert caught.value.code is Code.DIRECTOR_NOT_MATCHED


def test_insee_closed_establishment(
    replay: tuple[Replay, str], client: httpx.Client, fake: FakeTime, clock: FixedClock
) -> None:
    server, base = replay
    server.json("/siret/80761229600051", "insee-sirene-3.11.siret-80761229600051.closed.json")
    with pytest.raises(InvalidError) as caught:
        check_establishment(insee(client, base, fake, clock).lookup_siret("80761229600051"))
    assert caught.value.code is Code.ESTABLISHMENT_CLOSED


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (404, Code.REGISTER_NOT_FOUND),
        (401, Code.REGISTER_UNAVAILABLE),
        (403, Code.REGISTER_UNAVAILABLE),
        (503, Code.REGISTER_UNAVAILABLE),
    ],
)
def test_insee_error_statuses(
    replay: tuple[Replay, str],
    client: httpx.Client,
    fake: FakeTime,
    clock: FixedClock,
    status: int,
    code: Code,
) -> None:
    server, base = replay
    server.json("/siren/732829320", "insee-sirene-3.11.not-found.json", status=status)
    with pytest.raises(AncreError) as caught:
        insee(client, base, fake, clock).lookup_siren("732829320")
    assert caught.value.code is code


# ---- VIES -----------------------------------------------------------------------------------


def vies(client: httpx.Client, base: str, fake: FakeTime, clock: FixedClock, **kw: Any) -> Vies:
    return Vies(client, base_url=base, policy=POLICY, clock=clock, sleep=fake.sleep,
                monotonic=fake.monotonic, **kw)  # fmt: skip


def test_vies_valid_number_keeps_the_consultation_number(
    replay: tuple[Replay, str], client: httpx.Client, fake: FakeTime, clock: FixedClock
) -> None:
    server, base = replay
    path = "/ms/FR/vat/39356000000?requesterMemberStateCode=FR&requesterNumber=27552032534"
    body = server.json(path, "vies.FR39356000000.valid.json")
    record = check_vat(
        vies(client, base, fake, clock, requester_vat="FR27552032534").check("fr 39356000000")
    )
    assert (record.vat_number, record.valid, record.name) == ("FR39356000000", True, "LA POSTE")
    evidence = record.consultation.evidence("gx:VatID")
    assert evidence["ancre:consultationNumber"] == "WAPIAAAAZ1a2b3c4"
    assert evidence["ancre:digestSRI"] == sri(body)
    assert evidence["gx:evidenceURL"] == base + path
    credential = vat_id_credential(
        issuer="did:web:issuer.ancre.example",
        credential_id="https://issuer.ancre.example/credentials/vat-1",
        subject_id="https://issuer.ancre.example/credentials/vat-1#cs",
        siren_or_vat=record.vat_number,
        valid_from=NOW,
        evidence=[evidence],
    )
    assert check_credential(credential) == ()


def test_vies_invalid_and_unavailable(
    replay: tuple[Replay, str], client: httpx.Client, fake: FakeTime, clock: FixedClock
) -> None:
    server, base = replay
    server.json("/ms/FR/vat/27552032534", "vies.FR27552032534.invalid.json")
    server.json("/ms/FR/vat/03552081317", "vies.ms-unavailable.json")
    register = vies(client, base, fake, clock, retry=RetryPolicy(attempts=1))
    record = register.check("FR27552032534")
    assert record.valid is False
    assert record.name is None
    assert "ancre:consultationNumber" not in record.consultation.evidence()
    with pytest.raises(InvalidError) as invalid:
        check_vat(record)
    assert invalid.value.code is Code.VAT_NOT_REGISTERED
    with pytest.raises(IndeterminateError) as down:
        register.check("FR03552081317")
    assert down.value.code is Code.REGISTER_UNAVAILABLE
    with pytest.raises(MalformedError) as bad:
        register.check("FR28552032534")  # wrong key for the SIREN
    assert bad.value.code is Code.INVALID_VAT_ID
    assert server.hits["/ms/FR/vat/28552032534"] == 0


# ---- GLEIF ----------------------------------------------------------------------------------


def test_gleif_record_and_refusals(
    replay: tuple[Replay, str], client: httpx.Client, fake: FakeTime, clock: FixedClock
) -> None:
    server, base = replay
    lei = "9695007586GCAKPYJ703"
    body = server.json(f"/lei-records/{lei}", f"gleif.lei-records.{lei}.json")
    register = Gleif(client, base_url=base, policy=POLICY, clock=clock, sleep=fake.sleep,
                     monotonic=fake.monotonic)  # fmt: skip
    record = check_lei(register.lookup(lei.lower()))
    assert (record.legal_name, record.legal_form, record.registered_as) == (
        "EXEMPLE SAS", "6CHY", "552032534",
    )  # fmt: skip
    assert record.legal_address is not None
    assert record.legal_address.full == "1 RUE DE L'EXEMPLE 75001 PARIS"
    assert record.consultation.digest_sri == sri(body)
    with pytest.raises(InvalidError) as lapsed:
        check_lei(replace(record, registration_status="LAPSED"))
    assert lapsed.value.code is Code.LEI_NOT_ISSUED
    with pytest.raises(InvalidError) as inactive:
        check_lei(replace(record, entity_status="INACTIVE"))
    assert inactive.value.code is Code.ORGANIZATION_CLOSED
    with pytest.raises(InvalidError) as unknown:
        register.lookup("969500Q2MA9VBQ8BG884")  # valid check digits, not scripted: 404
    assert unknown.value.code is Code.REGISTER_NOT_FOUND


@pytest.mark.parametrize(
    "lei", ["9695007586GCAKPYJ704", "9695007586GCAKPYJ7", "9695007586GCAKPYJ7O3"]
)
def test_lei_check_digits(lei: str) -> None:
    with pytest.raises(MalformedError) as caught:
        parse_lei(lei)
    assert caught.value.code is Code.INVALID_LEI


# ---- director matching ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("person", "register", "same"),
    [
        ("Élodie", "ELODIE", True),
        ("Saint-Exupéry", "saint exupery", True),
        ("O'Brien", "OBRIEN", True),
        ("O’Brien", "O BRIEN", True),  # typographic apostrophe
        ("Łukasz", "LUKASZ", True),  # stroke letters folded by the explicit table
        ("Strauß", "STRAUSS", True),  # ß → ss by Unicode case folding
        ("Cœur", "COEUR", True),
        ("Ｄｕｐｏｎｔ", "DUPONT", True),  # full-width (NFKD)
        ("Müller", "MULLER", True),
        ("Müller", "Mueller", False),  # no language-specific transliteration (docstring)
        ("Dupont", "Dupond", False),
        ("Martin", "Martins", False),
        ("", "", False),
        ("---", "", False),
    ],
)
def test_family_name_table(person: str, register: str, same: bool) -> None:
    assert family_names_match([person], [register]) is same


@pytest.mark.parametrize(
    ("person", "register", "same"),
    [
        ("Jean-Pierre", "JEAN PIERRE", True),
        ("Jean Pierre", "Jean-Pierre", True),
        ("Jean-Pierre Marc", "MARC", True),  # any of the given names
        ("Angela Claire Louise", "ANGELA", True),
        ("Élodie", "Elodie, Marie", True),
        ("Pierre", "Jean-Pierre", False),  # a compound is a name of its own
        ("Marie", "Marie-Claire", False),
        ("Jean", "Jeanne", False),
        ("", "Jean", False),
    ],
)
def test_given_name_table(person: str, register: str, same: bool) -> None:
    assert given_names_match(person, register) is same


def test_given_name_units() -> None:
    assert given_name_units("Jean-Pierre, Marc  Élodie") == ["jeanpierre", "marc", "elodie"]
    assert given_name_units(["Jean", "Marie-Claire"]) == ["jean", "marieclaire"]


def test_match_uses_usage_and_birth_names_and_birth_dates() -> None:
    married = RegisteredPerson("DURAND", "CLAIRE", usage_name="MARTIN", birth_year=1980)
    assert match_director(Person("Martin", "Claire"), [married]).matched
    assert match_director(Person("Martin-Leroy", "Claire", birth_family_name="Durand"),
                          [married]).matched  # fmt: skip
    assert not match_director(Person("Martin", "Claire", birth_year=1981), [married]).matched
    # Birth month compared only when both sides have it.
    result = match_director(Person("Martin", "Claire", birth_year=1980, birth_month=2), [married])
    assert result.matched
    assert result.birth_date_compared
    assert not match_director(Person("Martin", "Claire"), []).matched


@given(st.text(max_size=60))
def test_normalization_is_idempotent(name: str) -> None:
    once = normalize_name(name)
    assert normalize_name(once) == once
    assert once == once.strip()
    assert "  " not in once


# Latin-script letters (Basic Latin, Latin-1, Latin Extended-A) and separators.
_LATIN = st.text(
    alphabet=st.characters(min_codepoint=0x41, max_codepoint=0x17F, categories=("Lu", "Ll"))
    | st.sampled_from(" -'’"),
    max_size=40,
)


@given(_LATIN)
def test_normalization_ignores_case(name: str) -> None:
    assert normalize_name(name.upper()) == normalize_name(name)
    assert normalize_name(name.lower()) == normalize_name(name)


@given(_LATIN, st.lists(st.characters(min_codepoint=0x300, max_codepoint=0x36F), max_size=3))
def test_normalization_ignores_accents(name: str, marks: list[str]) -> None:
    accented = "".join(c + "".join(marks) for c in name)
    assert normalize_name(accented) == normalize_name(name)
    assert normalize_name(unicodedata.normalize("NFC", accented)) == normalize_name(name)
