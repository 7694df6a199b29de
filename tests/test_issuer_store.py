"""The issuer's storage on SQLite and PostgreSQL: migrations match the models, status
indexes stay unique under concurrency, single-use values are single-use across replicas,
the audit chain reveals tampering, and key rotation keeps old credentials verifiable."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from _issuer_support import (
    LEGAL_PERSON_CLAIMS,
    Tls,
    Wallet,
    bound_socket,
    make_issuer,
    make_tls,
    open_issuer,
    proof_jwt,
    serve_on,
)
from sqlalchemy import select, update

from ancre.issuer.api import IssuerSettings, create_app
from ancre.issuer.config import load_config, rotate_key
from ancre.issuer.db import AuditRow, Base, make_engine, migrate
from ancre.issuer.service import Issuer, holder_from_key
from ancre.issuer.templates import Authorization
from ancre.trust.clock import SystemClock
from ancre.trust.did.resolvers import default_resolver
from ancre.trust.errors import Code, InvalidError
from ancre.trust.keys.jwk import PrivateKey
from ancre.trust.net.guard import NetworkPolicy
from ancre.trust.result import Status
from ancre.trust.status.checker import StatusListChecker
from ancre.verifier.pipeline import verify

OPERATOR = Authorization(method="operator", actor="alice", register_checked=True)
LOOPBACK = NetworkPolicy(allow_loopback=True, max_bytes=4 * 1024 * 1024)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


def test_migrations_match_the_models(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = make_engine(database_url)
    migrate(engine)
    migrate(engine)  # idempotent
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"version_table": "issuer_alembic_version"}
        )
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()


def test_fifty_concurrent_issuances_never_share_a_status_index(
    tmp_path: Path, database_url: str
) -> None:
    # A small list (128 entries for 100 allocations) makes random draws collide often: the
    # uniqueness constraint and the retry are what keep the indexes apart.
    issuer = make_issuer(
        tmp_path / "issuer",
        4430,
        database=database_url,
        limits={"status_list_entries": 128},
    )
    barrier = threading.Barrier(10)

    def one(n: int) -> tuple[str, int]:
        if n < 10:
            barrier.wait(timeout=30)
        holder = holder_from_key(PrivateKey.generate("ed25519").public_key)
        if n % 2:
            issued = issuer.issue(
                "LegalPerson", LEGAL_PERSON_CLAIMS, holder=holder, authorization=OPERATOR
            )
        else:
            from _issuer_support import DIRECTOR_CLAIMS

            login = Authorization(
                "login",
                "proconnect",
                acr="https://proconnect.gouv.fr/assurance/certification-dirigeant",
                register_checked=True,
            )
            issued = issuer.issue(
                "DirectorCertification", DIRECTOR_CLAIMS, holder=holder, authorization=login
            )
        return issued.status_list, issued.status_index

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(one, range(50)))
    for list_id in {r[0] for r in results}:
        indexes = [index for name, index in results if name == list_id]
        assert len(indexes) == len(set(indexes)) == 25
        assert all(0 <= i < 128 for i in indexes)
    assert issuer.count_credentials() == 50
    report = issuer.verify_audit()
    assert report.ok
    assert report.events == 50
    issuer.engine.dispose()


def test_a_full_status_list_refuses_to_issue(tmp_path: Path) -> None:
    issuer = make_issuer(tmp_path / "issuer", 4431, limits={"status_list_entries": 2})
    holder = holder_from_key(PrivateKey.generate("ed25519").public_key)
    for _ in range(2):
        issuer.issue("LegalPerson", LEGAL_PERSON_CLAIMS, holder=holder, authorization=OPERATOR)
    from ancre.issuer.service import IssuerError

    with pytest.raises(IssuerError) as refused:
        issuer.issue("LegalPerson", LEGAL_PERSON_CLAIMS, holder=holder, authorization=OPERATOR)
    assert refused.value.code is Code.STATUS_LIST_FULL


def test_templates_check_the_authorization_and_the_claims(tmp_path: Path) -> None:
    issuer = make_issuer(tmp_path / "issuer", 4432)
    holder = holder_from_key(PrivateKey.generate("ed25519").public_key)
    unchecked = Authorization("operator", "alice")
    with pytest.raises(InvalidError) as refused:
        issuer.create_offer("VatID", {"gx:vatID": "FR40303265045"}, authorization=unchecked)
    assert refused.value.code is Code.AUTHORIZATION_INSUFFICIENT
    weak_login = Authorization("login", "proconnect", acr="eidas1", register_checked=True)
    with pytest.raises(InvalidError) as refused:
        issuer.issue(
            "DirectorCertification", {"siren": "552032534"}, holder=holder, authorization=weak_login
        )
    assert refused.value.code is Code.AUTHORIZATION_INSUFFICIENT
    for claims, code in (
        ([], Code.INVALID_CLAIMS),
        ({"id": "https://x.example", **LEGAL_PERSON_CLAIMS}, Code.INVALID_CLAIMS),
        ({"schema:name": "X"}, Code.INVALID_CLAIMS),
        ({**LEGAL_PERSON_CLAIMS, "gx:legalAddress": {"gx:countryCode": "ZZ"}}, None),
    ):
        if code is None:
            # Caught when the offer is made (a dry run of issuance), and at issuance.
            with pytest.raises(InvalidError) as schema:
                issuer.create_offer("LegalPerson", claims, authorization=OPERATOR)
            assert schema.value.code is Code.SCHEMA_VIOLATION
            with pytest.raises(InvalidError) as schema:
                issuer.issue("LegalPerson", claims, holder=holder, authorization=OPERATOR)
            assert schema.value.code is Code.SCHEMA_VIOLATION
            continue
        with pytest.raises(InvalidError) as refused:
            issuer.create_offer("LegalPerson", claims, authorization=OPERATOR)
        assert refused.value.code is code
    # A personal claim the template does not make disclosable is refused at offer time.
    from ancre.trust.errors import ConfigurationError

    director = {"siren": "552032534", "legal_name": "DANONE", "given_name": "A",
                "family_name": "B", "role": "Gérant", "birthdate": "1970-01-01"}  # fmt: skip
    with pytest.raises(ConfigurationError, match="personal data must be selectively"):
        issuer.create_offer("DirectorCertification", director, authorization=OPERATOR)
    with pytest.raises(InvalidError) as unknown:
        issuer.create_offer("Nope", {"a": 1}, authorization=OPERATOR)
    assert unknown.value.code is Code.UNKNOWN_CREDENTIAL_CONFIGURATION


def test_audit_chain_reveals_an_edited_or_removed_event(tmp_path: Path) -> None:
    issuer = make_issuer(tmp_path / "issuer", 4433)
    holder = holder_from_key(PrivateKey.generate("ed25519").public_key)
    issued = issuer.issue("LegalPerson", LEGAL_PERSON_CLAIMS, holder=holder, authorization=OPERATOR)
    issuer.set_status(issued.id, "revoke", actor="bob")
    assert issuer.verify_audit().ok
    with issuer.engine.begin() as connection:
        connection.execute(update(AuditRow).where(AuditRow.seq == 2).values(actor="mallory"))
    report = issuer.verify_audit()
    assert (report.ok, report.first_broken, report.reason) == (
        False,
        2,
        "event content does not match its hash",
    )
    with issuer.engine.begin() as connection:
        connection.execute(update(AuditRow).where(AuditRow.seq == 2).values(actor="bob"))
        connection.execute(AuditRow.__table__.delete().where(AuditRow.seq == 2))
    report = issuer.verify_audit()
    assert (report.ok, report.reason) == (False, "events after this one were removed")


def test_revocation_is_final(tmp_path: Path) -> None:
    from ancre.issuer.service import IssuerError

    issuer = make_issuer(tmp_path / "issuer", 4434)
    holder = holder_from_key(PrivateKey.generate("ed25519").public_key)
    issued = issuer.issue("LegalPerson", LEGAL_PERSON_CLAIMS, holder=holder, authorization=OPERATOR)
    assert issuer.set_status(issued.id, "suspend", actor="bob") == "suspended"
    with pytest.raises(IssuerError) as again:
        issuer.set_status(issued.id, "suspend", actor="bob")
    assert (again.value.code, again.value.status) == (Code.ALREADY_IN_STATE, 409)
    assert "already suspended" in again.value.message
    issuer.set_status(issued.id, "revoke", actor="bob")
    for action in ("reinstate", "suspend", "revoke"):
        with pytest.raises(IssuerError) as refused:
            issuer.set_status(issued.id, action, actor="bob")  # type: ignore[arg-type]
        assert (refused.value.code, refused.value.status) == (Code.ALREADY_IN_STATE, 409)
        assert "revocation is final" in refused.value.message
    # Refusals change nothing: issue, suspend, revoke.
    assert [e.action for e in issuer.audit_events()] == ["revoke", "suspend", "issue"]
    with pytest.raises(IssuerError) as missing:
        issuer.set_status("urn:uuid:nope", "revoke", actor="bob")
    assert missing.value.code is Code.CREDENTIAL_NOT_FOUND


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    from _postgres import fresh_database

    return fresh_database(postgres_server)


def test_two_replicas_on_one_postgresql_share_single_use_values(
    tmp_path: Path, tls: Tls, postgres_url: str
) -> None:
    sock_a, port = bound_socket()
    first = make_issuer(tmp_path / "issuer", port, database=postgres_url)
    second = open_issuer(tmp_path / "issuer")  # its own engine, connections and caches
    sock_b, _ = bound_socket()
    offer = first.create_offer("LegalPerson", LEGAL_PERSON_CLAIMS, authorization=OPERATOR)
    with (
        serve_on(sock_a, create_app(IssuerSettings(first)), tls) as url_a,
        serve_on(sock_b, create_app(IssuerSettings(second)), tls) as url_b,
        httpx.Client(trust_env=False, timeout=10, verify=tls.context()) as http,
    ):
        wallet = Wallet(http)
        code = offer.pre_authorized_code
        token = wallet.token(url_a, code, None)
        assert token.status_code == 200
        replay = wallet.token(url_b, code, None)
        assert (replay.status_code, replay.json()["error"]) == (400, "invalid_grant")
        access = token.json()["access_token"]

        # A nonce handed out by one replica and consumed through the other is gone on both.
        nonce = http.post(f"{url_a}/nonce").json()["c_nonce"]
        proof = proof_jwt(wallet.key, audience=first.public_url, nonce=nonce)
        http_b = {"Authorization": f"Bearer {access}"}
        body = {"credential_configuration_id": "LegalPerson", "proofs": {"jwt": [proof]}}
        issued = http.post(f"{url_b}/credential", json=body, headers=http_b)
        assert issued.status_code == 200, issued.text
        second_offer = first.create_offer(
            "LegalPerson", LEGAL_PERSON_CLAIMS, authorization=OPERATOR
        )
        other_access = wallet.token(url_b, second_offer.pre_authorized_code, None).json()[
            "access_token"
        ]
        replayed = proof_jwt(wallet.key, audience=first.public_url, nonce=nonce)
        refused = http.post(
            f"{url_a}/credential",
            json={"credential_configuration_id": "LegalPerson", "proofs": {"jwt": [replayed]}},
            headers={"Authorization": f"Bearer {other_access}"},
        )
        assert (refused.status_code, refused.json()["error"]) == (400, "invalid_nonce")
        # The access token used on b is used on a too.
        fresh = proof_jwt(wallet.key, audience=first.public_url, nonce=wallet.nonce(url_a))
        again = http.post(
            f"{url_a}/credential",
            json={"credential_configuration_id": "LegalPerson", "proofs": {"jwt": [fresh]}},
            headers=http_b,
        )
        assert (again.status_code, again.json()["error"]) == (401, "invalid_token")
    first.engine.dispose()
    second.engine.dispose()


@pytest.fixture
def verifier_client(tls: Tls) -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=10, verify=tls.context()) as http:
        yield http


def test_key_rotation_keeps_old_credentials_verifiable(
    tmp_path: Path, tls: Tls, verifier_client: httpx.Client
) -> None:
    from ancre.issuer.config import KEYSTORE_FILE
    from ancre.trust.jose.jws import unverified_header
    from ancre.trust.keys.keystore import FileKeyStore

    sock, port = bound_socket()
    directory = tmp_path / "issuer"
    before = make_issuer(directory, port)
    holder = holder_from_key(PrivateKey.generate("ed25519").public_key)
    old = before.issue("LegalPerson", LEGAL_PERSON_CLAIMS, holder=holder, authorization=OPERATOR)
    from _issuer_support import PASSPHRASE

    rotate_key(
        load_config(directory), FileKeyStore(directory / KEYSTORE_FILE, PASSPHRASE), SystemClock()
    )
    after = open_issuer(directory)
    assert after.kid.endswith("#signing-2")
    new = after.issue("LegalPerson", LEGAL_PERSON_CLAIMS, holder=holder, authorization=OPERATOR)
    assert unverified_header(old.credential)["kid"].endswith("#signing-1")
    assert unverified_header(new.credential)["kid"].endswith("#signing-2")

    clock = SystemClock()
    resolver = default_resolver(http_client=verifier_client, network=LOOPBACK, clock=clock)
    status = StatusListChecker(client=verifier_client, resolver=resolver, network=LOOPBACK)
    with serve_on(sock, create_app(IssuerSettings(after)), tls) as url:
        document = verifier_client.get(f"{url}/.well-known/did.json").json()
        assert [m["id"].split("#")[1] for m in document["verificationMethod"]] == [
            "signing-1",
            "signing-2",
        ]
        for issued in (old, new):
            result = verify(issued.credential, resolver=resolver, clock=clock, status=status)
            assert result.status is Status.VALID, result.to_json()
    assert isinstance(after, Issuer)


def test_purge_forgets_abandoned_offers_and_expired_nonces(tmp_path: Path) -> None:
    from ancre.issuer.db import NonceRow, OfferRow
    from ancre.trust.clock import FixedClock

    clock = FixedClock(SystemClock().now())
    issuer = make_issuer(tmp_path / "issuer", 4435, clock=clock)
    abandoned = issuer.create_offer("LegalPerson", LEGAL_PERSON_CLAIMS, authorization=OPERATOR)
    issuer.new_nonce()
    assert issuer.purge_expired() == 0
    limits = issuer.config.limits
    clock.advance(timedelta(seconds=limits.offer_lifetime + limits.access_token_lifetime + 1))
    live = issuer.create_offer("LegalPerson", LEGAL_PERSON_CLAIMS, authorization=OPERATOR)
    assert issuer.purge_expired() == 2  # the old nonce, the abandoned offer's claims
    with issuer.engine.connect() as connection:
        rows = dict(connection.execute(select(OfferRow.id, OfferRow.claims_json)).all())
        assert rows[abandoned.id] is None
        assert rows[live.id] is not None
        assert connection.execute(select(NonceRow)).all() == []


def test_init_leaves_nothing_behind_when_the_database_is_unreachable(tmp_path: Path) -> None:
    from ancre.issuer.config import init_issuer
    from ancre.trust.errors import ConfigurationError

    target = tmp_path / "issuer"
    with pytest.raises(ConfigurationError, match="cannot set up the database"):
        init_issuer(
            target,
            did="did:web:agency.example",
            passphrase="pw",
            clock=SystemClock(),
            database="postgresql+psycopg://postgres@127.0.0.1:1/none",
        )
    assert list(target.iterdir()) == []


def test_racing_consumers_of_one_value_yield_one_winner(tmp_path: Path, database_url: str) -> None:
    """Twenty threads present the same nonce, then the same pre-authorized code: each is
    consumed exactly once (the conditional UPDATE), the rest are refused."""
    from ancre.issuer.service import IssuerError

    issuer = make_issuer(tmp_path / "issuer", 4436, database=database_url)
    nonce = issuer.new_nonce()
    offer = issuer.create_offer("LegalPerson", LEGAL_PERSON_CLAIMS, authorization=OPERATOR)
    barrier = threading.Barrier(20)

    def use_nonce(_: int) -> bool:
        barrier.wait(timeout=30)
        return issuer.consume_nonce(nonce)

    def redeem(_: int) -> str:
        barrier.wait(timeout=30)
        try:
            issuer.redeem(offer.pre_authorized_code, None)
        except IssuerError as error:
            return str(error.code)
        return "granted"

    with ThreadPoolExecutor(max_workers=20) as pool:
        assert sorted(pool.map(use_nonce, range(20))) == [False] * 19 + [True]
        barrier.reset()
        outcomes = sorted(pool.map(redeem, range(20)))
    assert outcomes == ["granted"] + ["invalid_grant"] * 19
    issuer.engine.dispose()
