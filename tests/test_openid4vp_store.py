"""OpenID4VP transactions in a shared database (`SqlTransactionStore`), on SQLite (file, WAL)
and PostgreSQL: verifier replicas serving any step of one transaction, single use enforced
by the database across processes, expiry and purge, the bound, the ephemeral keys encrypted
at rest (and a wrong secret refused cleanly), and results that survive a restart."""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import httpx
import pytest
from _asgi_server import serve
from _oid4vp_holder import Wallet, routed_client
from _support import NOW, Issuer
from cryptography.hazmat.primitives import serialization
from sqlalchemy import func, select, update
from test_openid4vp import PUBLIC, SD_QUERY, VC_QUERY, Env, _settings, dcql

from ancre.trust.clock import FixedClock
from ancre.trust.errors import ConfigurationError
from ancre.trust.policy import VerificationPolicy
from ancre.verifier.openid4vp import OpenID4VPSettings, Phase
from ancre.verifier.openid4vp.store import TRANSACTIONS, SqlTransactionStore
from ancre.verifier.service import VerifierSettings, create_app

SECRET = secrets.token_urlsafe(32)


@dataclass
class Replicas:
    """Verifier replicas sharing one database, one clock, one verifier identity."""

    url: str
    clock: FixedClock
    settings: OpenID4VPSettings
    issuer: Issuer
    wallet_key: Any
    stack: ExitStack

    def replica(self, secret: str = SECRET) -> Env:
        """Another running replica (its own engine and store) on the same database."""
        store = SqlTransactionStore(self.url, secret)
        self.stack.callback(store.close)
        settings = replace(self.settings, store=store)
        app = create_app(
            VerifierSettings(
                clock=self.clock,
                openid4vp=settings,
                policy=VerificationPolicy(),
                no_trust_check=True,
            )
        )
        base = self.stack.enter_context(serve(app))
        headers = {"Authorization": f"Bearer {settings.api_token}"}
        caller = self.stack.enter_context(
            httpx.Client(base_url=base, trust_env=False, headers=headers)
        )
        wallet_http = self.stack.enter_context(routed_client(PUBLIC, base))
        wallet = Wallet(wallet_http, self.clock, key=self.wallet_key)
        env = Env(caller, wallet, self.clock, settings, self.issuer)
        wallet.sd_jwts.append(env.sd_jwt())
        wallet.vc_jwts.append(env.vc_jwt())
        return env


@contextmanager
def replicas(url: str, **overrides: Any) -> Iterator[Replicas]:
    from ancre.trust.keys.jwk import PrivateKey

    with ExitStack() as stack:
        yield Replicas(
            url,
            FixedClock(NOW),
            _settings(**overrides),
            Issuer.new("p256"),
            PrivateKey.generate("p256"),
            stack,
        )


@pytest.fixture
def two(database_url: str) -> Iterator[tuple[Env, Env]]:
    with replicas(database_url) as r:
        yield r.replica(), r.replica()


def _request_id(created: dict[str, Any]) -> str:
    rid: str = created["request_uri"].rsplit("/", 1)[1]
    return rid


def _rows(env: Env) -> int:
    store = env.settings.store
    assert isinstance(store, SqlTransactionStore)
    with store.engine.connect() as connection:
        count: int = connection.execute(select(func.count()).select_from(TRANSACTIONS)).scalar_one()
    return count


def _threads(target: Callable[[int], None], n: int) -> None:
    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads)


# ------------------------------------------------------------------------------------------
# any replica serves any step


@pytest.mark.parametrize("mode", ["direct_post.jwt", "direct_post"])
def test_created_on_a_answered_on_b_read_on_a(two: tuple[Env, Env], mode: str) -> None:
    a, b = two
    created = a.create(dcql(SD_QUERY, VC_QUERY), mode)
    assert b.result(created).status_code == 202
    # The wallet reaches replica B only: Request Object, then the response.
    request = b.wallet.fetch(created["authorization_request"])
    assert request.response_mode == mode
    response = b.wallet.respond(request, b.wallet.vp_token(request))
    assert response.status_code == 200, response.text
    verdict = a.verdict(created)
    assert verdict["status"] == "valid", verdict
    assert verdict["response_mode"] == mode
    assert verdict["credentials"]["membership"][0]["claims"]["given_name"] == "Ada"
    assert verdict["credentials"]["member_vc"][0]["status"] == "valid"
    assert b.verdict(created) == verdict
    # Answered, on either replica: no Request Object, no second response.
    assert a.wallet.http.get(created["request_uri"]).status_code == 410
    replay = a.wallet.respond(request, a.wallet.vp_token(request))
    assert replay.status_code == 400
    assert replay.json()["error_description"] == "this request has already been answered"
    assert a.verdict(created) == verdict


def test_request_object_by_post_on_the_other_replica(two: tuple[Env, Env]) -> None:
    a, b = two
    created = a.create(dcql(SD_QUERY), request_uri_method="post")
    request = b.wallet.fetch(created["authorization_request"], wallet_nonce="n-0123")
    assert request.claims["wallet_nonce"] == "n-0123"
    assert b.wallet.respond(request, b.wallet.vp_token(request)).status_code == 200
    assert a.verdict(created)["status"] == "valid"


def test_wrong_state_on_one_replica_changes_nothing(two: tuple[Env, Env]) -> None:
    a, b = two
    created = a.create(dcql(SD_QUERY))
    request = a.wallet.fetch(created["authorization_request"])
    assert b.wallet.respond(request, b.wallet.vp_token(request), state="forged").status_code == 400
    assert a.result(created).status_code == 202
    assert a.wallet.respond(request, a.wallet.vp_token(request)).status_code == 200
    assert b.verdict(created)["status"] == "valid"


# ------------------------------------------------------------------------------------------
# exactly once


def test_concurrent_responses_to_both_replicas_only_one_accepted(two: tuple[Env, Env]) -> None:
    a, b = two
    created = a.create(dcql(SD_QUERY))
    request = a.wallet.fetch(created["authorization_request"])
    vp_token = a.wallet.vp_token(request)
    codes: list[int] = []
    barrier = threading.Barrier(6)

    def post(i: int) -> None:
        wallet = (a, b)[i % 2].wallet
        barrier.wait()
        codes.append(wallet.respond(request, vp_token).status_code)

    _threads(post, 6)
    assert sorted(codes) == [200, 400, 400, 400, 400, 400]
    assert a.verdict(created)["status"] == "valid"


def test_claim_succeeds_once_across_store_instances(two: tuple[Env, Env]) -> None:
    a, b = two
    created = a.create(dcql(SD_QUERY), "direct_post")
    stores = [env.settings.store for env in (a, b)]
    assert all(isinstance(s, SqlTransactionStore) for s in stores)
    outcomes: list[str | None] = []
    barrier = threading.Barrier(8)

    def claim(i: int) -> None:
        store = stores[i % 2]
        assert store is not None
        tx = store.by_request(_request_id(created), a.clock.now())
        assert tx is not None
        barrier.wait()
        outcomes.append(store.claim(tx, a.clock.now()))

    _threads(claim, 8)
    assert outcomes.count(None) == 1
    assert outcomes.count("this request has already been answered") == 7


def test_the_profile_is_stored_with_the_transaction(two: tuple[Env, Env]) -> None:
    """A replica that did not create the transaction checks its answer under the profile the
    caller chose: the profile is in the row (migration 0002), NULL without one."""
    a, b = two
    store = b.settings.store
    assert store is not None
    for profile in ("gaia-x-onboarding", None):
        terms = {"id": "terms", "format": "jwt_vc_json",
                 "meta": {"type_values": [["VerifiableCredential", "gx:Issuer"]]}}  # fmt: skip
        query = dcql(
            *({**VC_QUERY, "id": i, "meta": {"type_values": [["VerifiableCredential", t]]}}
              for i, t in (("legal", "gx:LegalPerson"), ("vat", "gx:VatID"))),
            terms,
        )  # fmt: skip
        created = a.create(query, "direct_post", **({"profile": profile} if profile else {}))
        tx = store.by_request(_request_id(created), a.clock.now())
        assert tx is not None
        assert tx.profile == profile


# ------------------------------------------------------------------------------------------
# expiry, purge, bound


def test_expiry_and_purge(two: tuple[Env, Env]) -> None:
    a, b = two
    created = a.create(dcql(SD_QUERY), "direct_post")
    request = a.wallet.fetch(created["authorization_request"])
    vp_token = a.wallet.vp_token(request)
    a.clock.advance(timedelta(minutes=5))
    late = b.wallet.respond(request, vp_token)
    assert late.status_code == 400
    assert late.json()["error_description"] == "this request has expired"
    assert b.wallet.http.get(created["request_uri"]).status_code == 410
    assert b.result(created).json()["code"] == "transaction_expired"
    assert a.result(created).status_code == 410
    # After retention: gone from every replica, and the row is deleted on the next add.
    a.clock.advance(timedelta(minutes=10))
    assert b.result(created).status_code == 404
    assert a.wallet.http.get(created["request_uri"]).status_code == 404
    assert _rows(a) == 1
    b.create(dcql(SD_QUERY))
    assert _rows(a) == 1
    store = a.settings.store
    assert store is not None
    assert store.purge(a.clock.now()) == 0
    assert store.purge(a.clock.now() + timedelta(minutes=15)) == 1
    assert _rows(a) == 0


def test_a_claim_at_the_expiry_instant_is_refused(two: tuple[Env, Env]) -> None:
    a, _ = two
    created = a.create(dcql(SD_QUERY), "direct_post")
    store = a.settings.store
    assert store is not None
    tx = store.by_request(_request_id(created), a.clock.now())
    assert tx is not None
    assert store.claim(tx, tx.expires_at) == "this request has expired"
    assert store.claim(tx, tx.expires_at - timedelta(microseconds=1)) is None
    assert store.snapshot(tx) == (Phase.PROCESSING, None)


def test_bound_is_shared_by_the_replicas(database_url: str) -> None:
    with replicas(database_url, max_transactions=2) as r:
        a, b = r.replica(), r.replica()
        first = a.create(dcql(SD_QUERY))
        b.create(dcql(SD_QUERY))
        for env in (a, b):
            refused = env.caller.post("/openid4vp/requests", json={"dcql_query": dcql(SD_QUERY)})
            assert refused.status_code == 503
            assert refused.json()["code"] == "too_many_transactions"
        assert b.result(first).status_code == 202  # nothing evicted
        r.clock.advance(timedelta(minutes=15))
        assert b.create(dcql(SD_QUERY))["transaction_id"]


def test_bound_holds_under_concurrent_creation(database_url: str) -> None:
    with replicas(database_url, max_transactions=4) as r:
        envs = (r.replica(), r.replica())
        codes: list[int] = []
        barrier = threading.Barrier(10)

        def create(i: int) -> None:
            barrier.wait()
            response = envs[i % 2].caller.post(
                "/openid4vp/requests", json={"dcql_query": dcql(SD_QUERY)}
            )
            codes.append(response.status_code)

        _threads(create, 10)
        assert sorted(codes) == [201] * 4 + [503] * 6
        assert _rows(envs[0]) == 4


# ------------------------------------------------------------------------------------------
# the ephemeral key at rest


def test_encryption_key_is_encrypted_at_rest(two: tuple[Env, Env]) -> None:
    a, _ = two
    created = a.create(dcql(SD_QUERY))
    other = a.create(dcql(SD_QUERY))
    store = a.settings.store
    assert isinstance(store, SqlTransactionStore)
    tx = store.by_request(_request_id(created), a.clock.now())
    assert tx is not None
    assert tx.enc_key is not None
    der = tx.enc_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    scalar = tx.enc_key.private_numbers().private_value.to_bytes(32, "big")
    with store.engine.connect() as connection:
        rows = connection.execute(select(TRANSACTIONS)).mappings().all()
    row = next(r for r in rows if r["request_id"] == _request_id(created))
    sealed = bytes(row["enc_key"])
    assert der not in sealed
    assert scalar not in sealed
    assert all(scalar not in str(value).encode() for value in row.values())
    # The published key is the stored one.
    request = a.wallet.fetch(created["authorization_request"])
    assert request.encryption_jwk["kid"] == tx.enc_kid == row["enc_kid"]
    # Bound to its row: moved to another transaction, it does not decrypt.
    with store.engine.begin() as connection:
        connection.execute(
            update(TRANSACTIONS)
            .where(TRANSACTIONS.c.request_id == _request_id(other))
            .values(enc_key=sealed)
        )
    with pytest.raises(ConfigurationError, match="does not decrypt"):
        store.by_request(_request_id(other), a.clock.now())


def test_a_wrong_secret_cannot_decrypt_and_answers_cleanly(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with replicas(database_url) as r:
        good = r.replica()
        bad = r.replica(secret=secrets.token_urlsafe(32))
        created = good.create(dcql(SD_QUERY))
        store = bad.settings.store
        assert store is not None
        with pytest.raises(ConfigurationError, match="does not decrypt with this store's secret"):
            store.by_request(_request_id(created), r.clock.now())
        with caplog.at_level(logging.ERROR, logger="ancre.verifier.openid4vp"):
            fetched = bad.wallet.http.get(created["request_uri"])
            assert fetched.status_code == 500
            assert fetched.json()["error"] == "server_error"
            result = bad.result(created)
            assert result.status_code == 500
            assert result.headers["content-type"] == "application/problem+json"
            assert result.json()["code"] == "configuration_error"
        assert any("does not decrypt" in rec.getMessage() for rec in caplog.records)
        # Nothing was consumed: a correctly configured replica completes the transaction.
        request = good.wallet.fetch(created["authorization_request"])
        assert bad.wallet.respond(request, bad.wallet.vp_token(request)).status_code == 500
        assert good.wallet.respond(request, good.wallet.vp_token(request)).status_code == 200
        assert good.verdict(created)["status"] == "valid"


def test_the_store_needs_a_secret_and_a_shared_database(database_url: str) -> None:
    with pytest.raises(ConfigurationError, match="needs a secret"):
        SqlTransactionStore(database_url, None)
    with pytest.raises(ConfigurationError, match="at least 32 bytes"):
        SqlTransactionStore(database_url, "short")
    with pytest.raises(ConfigurationError, match="in-memory SQLite"):
        SqlTransactionStore("sqlite://", SECRET)
    store = SqlTransactionStore(database_url, SECRET.encode())
    try:
        assert SECRET not in repr(store)
        assert SECRET not in repr(replace(_settings(), store=store))
    finally:
        store.close()


@pytest.mark.parametrize(
    "path",
    ["/openid4vp/request-objects/%00", "/openid4vp/request-objects/" + "a" * 5000],
)
def test_hostile_ids_are_unknown(two: tuple[Env, Env], path: str) -> None:
    a, _ = two
    assert a.wallet.http.get(PUBLIC + path).status_code == 404
    assert a.caller.get(path.replace("request-objects", "requests") + "/result").status_code == 404
    response = a.wallet.http.post(
        PUBLIC + path.replace("request-objects", "responses"), data={"state": "x"}
    )
    assert response.status_code == 400


# ------------------------------------------------------------------------------------------
# restart


def test_results_and_pending_transactions_survive_a_restart(database_url: str) -> None:
    with replicas(database_url) as first:
        before = first.replica()
        answered = before.create(dcql(SD_QUERY))
        request = before.wallet.fetch(answered["authorization_request"])
        assert before.wallet.respond(request, before.wallet.vp_token(request)).status_code == 200
        verdict = before.verdict(answered)
        pending = before.create(dcql(SD_QUERY))
    # Every replica stopped, its engine disposed; a new process on the same database.
    with ExitStack() as stack:
        after = replace(first, stack=stack).replica()
        assert after.verdict(answered) == verdict
        request = after.wallet.fetch(pending["authorization_request"])
        assert after.wallet.respond(request, after.wallet.vp_token(request)).status_code == 200
        assert after.verdict(pending)["status"] == "valid"
