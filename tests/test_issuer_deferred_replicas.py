"""OpenID4VCI 1.0 deferred issuance (§9) across two issuer replicas on one PostgreSQL: a
held request approved once is delivered once, whichever replica the wallet polls, and the
races between the replicas (approval against polling, the same transaction_id polled on
both at once, two operators deciding at once) end with one decision and one delivery.

The SQLite counterpart is `tests/test_issuer_batch_deferred.py`
(`test_one_delivery_and_one_decision_across_replicas`); the replica pattern is
`tests/test_faults_replicas.py`'s: each replica its own app, engine and pool
(`open_issuer`), served over HTTP on loopback, on one fresh PostgreSQL database.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from _issuer_replicas import OPERATOR, PRE_AUTHORIZED, Replicas, served_replicas
from _issuer_support import LEGAL_PERSON_CLAIMS, proof_jwt
from sqlalchemy import select

from ancre.issuer.db import DeferredRequestRow
from ancre.issuer.deferred import decide
from ancre.issuer.service import Issuer, IssuerError
from ancre.trust.errors import Code
from ancre.trust.keys.jwk import PrivateKey

pytestmark = pytest.mark.skipif(
    os.environ.get("ANCRE_SKIP_POSTGRES") == "1",
    reason="ANCRE_SKIP_POSTGRES=1: replicas share one PostgreSQL",
)

PORT = 8443
AUDIENCE = f"https://localhost:{PORT}"


@dataclass
class Held:
    """A credential request held for approval: the wallet's access token, the transaction
    id the issuer answered with, and the row's id the operator decides on."""

    token: str
    transaction_id: str
    request_id: str


class DeferredReplicas(Replicas):
    def replica(self, i: int) -> Issuer:
        return (self.a, self.b)[i % 2]

    def hold(self, url: str) -> Held:
        """A wallet's credential request on the replica at `url`, held for approval."""
        offer = self.a.create_offer(
            "LegalPerson", LEGAL_PERSON_CLAIMS, authorization=OPERATOR, approval=True
        )
        form = {"grant_type": PRE_AUTHORIZED, "pre-authorized_code": offer.pre_authorized_code}
        answer = self.http.post(f"{url}/token", data=form)
        assert answer.status_code == 200, answer.text
        token = str(answer.json()["access_token"])
        nonce = str(self.http.post(f"{url}/nonce").json()["c_nonce"])
        proof = proof_jwt(PrivateKey.generate("p256"), audience=AUDIENCE, nonce=nonce)
        body = {"credential_configuration_id": "LegalPerson", "proofs": {"jwt": [proof]}}
        held = self.http.post(
            f"{url}/credential", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert held.status_code == 202, held.text
        transaction_id = str(held.json()["transaction_id"])
        digest = hashlib.sha256(transaction_id.encode()).hexdigest()
        with self.b._read() as session:  # the other replica sees the held row
            row = session.execute(
                select(DeferredRequestRow).where(DeferredRequestRow.transaction_sha256 == digest)
            ).scalar_one()
        assert row.state == "pending"
        return Held(token, transaction_id, row.id)

    def poll(self, url: str, held: Held) -> httpx.Response:
        return self.http.post(
            f"{url}/deferred_credential",
            json={"transaction_id": held.transaction_id},
            headers={"Authorization": f"Bearer {held.token}"},
        )


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, postgres_server: str
) -> Iterator[DeferredReplicas]:
    from _postgres import fresh_database

    directory = tmp_path_factory.mktemp("deferred-replicas") / "issuer"
    database = fresh_database(postgres_server)
    with served_replicas(directory, PORT, database=database, kind=DeferredReplicas) as served:
        assert served.a.engine.dialect.name == served.b.engine.dialect.name == "postgresql"
        yield served


def _race(work: Callable[[int], Any], n: int) -> list[Any]:
    """Run `work(i)` for i in 0..n-1 at once (a barrier)."""
    barrier = threading.Barrier(n)

    def one(i: int) -> Any:
        barrier.wait(10)
        return work(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def _decide(replica: Issuer, held: Held, actor: str) -> str:
    try:
        return decide(replica, held.request_id, "approve", actor=actor)
    except IssuerError as error:
        return str(error.code)


def _delivered(response: httpx.Response) -> bool:
    assert response.status_code == 200, response.text
    (credential,) = response.json()["credentials"]
    return isinstance(credential["credential"], str)


def _refused_as_delivered(response: httpx.Response) -> None:
    """§9.3: a transaction id whose credentials were delivered is no longer valid."""
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_transaction_id", response.text
    assert response.headers["cache-control"] == "no-store"


def test_a_request_approved_on_one_replica_is_delivered_once(replicas: DeferredReplicas) -> None:
    url_a, url_b = replicas.urls
    before = replicas.a.count_credentials()
    held = replicas.hold(url_a)
    # Held: either replica answers the same transaction id and interval.
    for url in replicas.urls:
        waiting = replicas.poll(url, held)
        assert waiting.status_code == 202, waiting.text
        assert waiting.json()["transaction_id"] == held.transaction_id
    assert decide(replicas.b, held.request_id, "approve", actor="bob") == "approved"
    # Decided once: the other replica's operator finds it decided.
    with pytest.raises(IssuerError) as again:
        decide(replicas.a, held.request_id, "approve", actor="carol")
    assert (again.value.code, again.value.status) == (Code.CONFLICT, 409)
    assert _delivered(replicas.poll(url_b, held))
    _refused_as_delivered(replicas.poll(url_a, held))
    _refused_as_delivered(replicas.poll(url_b, held))
    assert replicas.a.count_credentials() == replicas.b.count_credentials() == before + 1


def test_two_operators_deciding_on_both_replicas_at_once_decide_once(
    replicas: DeferredReplicas,
) -> None:
    held = replicas.hold(replicas.urls[1])
    decisions = _race(lambda i: _decide(replicas.replica(i), held, f"op{i}"), 4)
    assert sorted(decisions) == ["approved", "conflict", "conflict", "conflict"], decisions


def test_approval_racing_with_polls_on_both_replicas_delivers_once(
    replicas: DeferredReplicas,
) -> None:
    """The operator approves on one replica while the wallet polls both: a poll before the
    approval waits (202), one poll after it gets the credential, any other is refused."""
    for _round in range(3):
        before = replicas.a.count_credentials()
        held = replicas.hold(replicas.urls[0])

        def work(i: int, held: Held = held) -> Any:
            if i == 0:
                return _decide(replicas.a, held, "alice")
            return replicas.poll(replicas.urls[i % 2], held)

        decision, *polls = _race(work, 5)
        assert decision == "approved"
        statuses = [p.status_code for p in polls]
        assert set(statuses) <= {200, 202, 400}, [p.text for p in polls]
        # Polled again on both replicas after the race: the delivery the race left, if any.
        after = [replicas.poll(url, held) for url in replicas.urls]
        delivered = [r for r in (*polls, *after) if r.status_code == 200]
        assert len(delivered) == 1, [r.text for r in (*polls, *after)]
        assert _delivered(delivered[0])
        for response in (*polls, *after):
            if response.status_code == 400:
                _refused_as_delivered(response)
        assert replicas.a.count_credentials() == before + 1


def test_a_transaction_id_polled_on_both_replicas_at_once_is_delivered_once(
    replicas: DeferredReplicas,
) -> None:
    before = replicas.a.count_credentials()
    held = replicas.hold(replicas.urls[1])
    # While it is held, concurrent polls on both replicas all wait; nothing is spent.
    waiting = _race(lambda i: replicas.poll(replicas.urls[i % 2], held), 4)
    assert [w.status_code for w in waiting] == [202] * 4, [w.text for w in waiting]
    assert decide(replicas.a, held.request_id, "approve", actor="alice") == "approved"
    answers = _race(lambda i: replicas.poll(replicas.urls[i % 2], held), 6)
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 400, 400, 400, 400, 400], [a.text for a in answers]
    for answer in answers:
        if answer.status_code == 200:
            assert _delivered(answer)
        else:
            _refused_as_delivered(answer)
    assert replicas.a.count_credentials() == before + 1
