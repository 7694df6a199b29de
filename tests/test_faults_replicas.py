"""Issue 17: two replicas of the issuer on one PostgreSQL — every single-use value consumed
on one is refused on the other, every guess counted once whichever replica answers it.

Each replica is its own app with its own engine and connection pool (`open_issuer`), served
over HTTP on loopback. What other files already prove across replicas on PostgreSQL, and
is not repeated here:
- login state, login nonce/PKCE, pending authorization request, authorization code:
  `tests/test_bridge_replicas.py`;
- delegation decision and approval spent once: `tests/test_bridge_delegation.py`
  (`test_two_replicas_take_a_delegation_decision_and_spend_an_approval_once`, both backends);
- pre-authorized code replay, c_nonce and access token across two TLS replicas:
  `tests/test_issuer_store.py::test_two_replicas_on_one_postgresql_share_single_use_values`;
- deferred issuance (approval, delivery, and their races): `tests/test_issuer_deferred_replicas.py`;
- the verifier's OpenID4VP transactions (Request Object, a response accepted by one
  replica refused by the other, concurrent responses, claims): `tests/test_openid4vp_store.py`
  (every test on SQLite and PostgreSQL).
The OpenID4VCI attacks of `tests/security/test_sec_issuer_oid4vci.py` run on SQLite; the
ones below are their PostgreSQL counterparts, plus races between the replicas.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from _issuer_replicas import Replicas, served_replicas
from _issuer_support import proof_jwt

from ancre.trust.keys.jwk import PrivateKey

pytestmark = pytest.mark.skipif(
    os.environ.get("ANCRE_SKIP_POSTGRES") == "1",
    reason="ANCRE_SKIP_POSTGRES=1: replicas share one PostgreSQL",
)

PORT = 8443
AUDIENCE = f"https://localhost:{PORT}"


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory, postgres_server: str) -> Iterator[Replicas]:
    from _postgres import fresh_database

    directory = tmp_path_factory.mktemp("replicas") / "issuer"
    with served_replicas(directory, PORT, database=fresh_database(postgres_server)) as served:
        assert served.a.engine.dialect.name == served.b.engine.dialect.name == "postgresql"
        yield served


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.json()["error"] == code, response.text
    return str(response.json()["error_description"])


def _race(work: Callable[[int], Any], n: int) -> list[Any]:
    """Run `work(i)` for i in 0..n-1 at once (a barrier), half on each replica by parity."""
    barrier = threading.Barrier(n)

    def one(i: int) -> Any:
        barrier.wait(10)
        return work(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def test_a_pre_authorized_code_redeemed_on_one_replica_is_refused_on_the_other(
    replicas: Replicas,
) -> None:
    code, _ = replicas.offer()
    url_a, url_b = replicas.urls
    assert replicas.token(url_a, code).status_code == 200
    assert "already used" in _error(replicas.token(url_b, code), 400, "invalid_grant")


def test_a_pre_authorized_code_raced_on_both_replicas_is_redeemed_once(
    replicas: Replicas,
) -> None:
    code, _ = replicas.offer()
    answers = _race(lambda i: replicas.token(replicas.urls[i % 2], code), 6)
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 400, 400, 400, 400, 400], [a.text for a in answers]
    assert all(a.json()["error"] == "invalid_grant" for a in answers if a.status_code == 400)


def test_tx_code_guesses_spread_over_replicas_lock_the_offer(replicas: Replicas) -> None:
    code, pin = replicas.offer(tx_code=True)
    assert pin is not None
    limit = replicas.a.config.limits.tx_code_attempts
    wrong = "".join("2" if digit == "1" else "1" for digit in pin)
    for n in range(limit):
        _error(replicas.token(replicas.urls[n % 2], code, wrong), 400, "invalid_grant")
    # The right code now comes too late, on either replica.
    for url in replicas.urls:
        assert "locked" in _error(replicas.token(url, code, pin), 400, "invalid_grant")


def test_concurrent_tx_code_guesses_on_both_replicas_are_each_counted(
    replicas: Replicas,
) -> None:
    code, pin = replicas.offer(tx_code=True)
    assert pin is not None
    limit = replicas.a.config.limits.tx_code_attempts
    guesses = [f"{n:06d}" for n in range(3 * limit) if f"{n:06d}" != pin]
    answers = _race(lambda i: replicas.token(replicas.urls[i % 2], code, guesses[i]), 8)
    assert all(a.json()["error"] == "invalid_grant" for a in answers)
    # Exactly `limit` guesses were checked (and counted); the others found the offer locked.
    checked = [a for a in answers if a.json()["error_description"].startswith("wrong tx_code")]
    assert len(checked) == limit, [a.json()["error_description"] for a in answers]
    assert "locked" in _error(replicas.token(replicas.urls[1], code, pin), 400, "invalid_grant")
    refused = [e for e in replicas.a.audit_events(500) if e.action == "tx_code_refused"]
    mine = [e for e in refused if e.subject == refused[0].subject]
    assert len(mine) <= limit  # no more guesses checked than the limit, whatever the race


def test_a_c_nonce_consumed_on_one_replica_is_refused_on_the_other(replicas: Replicas) -> None:
    url_a, url_b = replicas.urls
    nonce = replicas.nonce(url_a)
    good = proof_jwt(PrivateKey.generate("p256"), audience=AUDIENCE, nonce=nonce)
    assert replicas.credential(url_b, replicas.access(url_b), good).status_code == 200
    # Another proof (another key) carrying the consumed nonce, at either replica.
    other = proof_jwt(
        PrivateKey.generate("p256"), audience=AUDIENCE, nonce=nonce, iat=int(time.time()) - 1
    )
    for url in replicas.urls:
        _error(replicas.credential(url, replicas.access(url), other), 400, "invalid_nonce")
    assert not replicas.a.consume_nonce(nonce)
    assert not replicas.b.consume_nonce(nonce)


def test_a_c_nonce_raced_on_both_replicas_is_consumed_once(replicas: Replicas) -> None:
    nonce = replicas.nonce(replicas.urls[0])
    outcomes = _race(lambda i: (replicas.a, replicas.b)[i % 2].consume_nonce(nonce), 6)
    assert sorted(outcomes) == [False, False, False, False, False, True]


def test_a_proof_replayed_on_the_other_replica_is_refused(replicas: Replicas) -> None:
    url_a, url_b = replicas.urls
    proof = proof_jwt(PrivateKey.generate("p256"), audience=AUDIENCE, nonce=replicas.nonce(url_b))
    assert replicas.credential(url_a, replicas.access(url_a), proof).status_code == 200
    _error(replicas.credential(url_b, replicas.access(url_b), proof), 400, "invalid_nonce")


def test_an_access_token_spent_on_one_replica_is_refused_on_the_other(
    replicas: Replicas,
) -> None:
    url_a, url_b = replicas.urls
    access = replicas.access(url_a)
    key = PrivateKey.generate("p256")
    proof = proof_jwt(key, audience=AUDIENCE, nonce=replicas.nonce(url_a))
    assert replicas.credential(url_b, access, proof).status_code == 200
    proof = proof_jwt(key, audience=AUDIENCE, nonce=replicas.nonce(url_b))
    _error(replicas.credential(url_a, access, proof), 401, "invalid_token")


def test_an_access_token_raced_on_both_replicas_issues_once(replicas: Replicas) -> None:
    access = replicas.access(replicas.urls[0])
    proofs = [
        proof_jwt(PrivateKey.generate("p256"), audience=AUDIENCE,
                  nonce=replicas.nonce(replicas.urls[i % 2]))
        for i in range(4)
    ]  # fmt: skip
    answers = _race(lambda i: replicas.credential(replicas.urls[i % 2], access, proofs[i]), 4)
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 401, 401, 401], [a.text for a in answers]
