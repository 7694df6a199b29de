"""OpenID4VCI attacks on the issuer (issue 17), over HTTP against two replicas of one issuer
(two apps, one database): every single-use value consumed on one is refused on the other,
every guess counted once whichever replica answers it. Each test asserts the spec's error
code (OpenID4VCI 1.0 §6.3, §8.3.1.2; RFC 6749 §5.2)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from _issuer_replicas import OPERATOR, Replicas, served_replicas
from _issuer_support import LEGAL_PERSON_CLAIMS, make_issuer, proof_jwt
from _sec_issuer import PUBLIC_PORT

from ancre.issuer.service import IssuerError
from ancre.issuer.templates import TEMPLATES
from ancre.trust.errors import Code
from ancre.trust.keys.jwk import PrivateKey

AUDIENCE = f"https://localhost:{PUBLIC_PORT}"


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    directory = tmp_path_factory.mktemp("replicas") / "issuer"
    with served_replicas(directory, PUBLIC_PORT, timeout=20) as served:
        yield served


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.json()["error"] == code, response.text
    return str(response.json()["error_description"])


def test_tx_code_brute_force_spread_over_replicas_locks_the_offer(replicas: Replicas) -> None:
    code, pin = replicas.offer(tx_code=True)
    assert pin is not None
    wrong = "".join("2" if digit == "1" else "1" for digit in pin)
    for url in (replicas.url_a, replicas.url_b, replicas.url_a, replicas.url_b, replicas.url_a):
        _error(replicas.token(url, code, wrong), 400, "invalid_grant")
    for url in (replicas.url_a, replicas.url_b):
        assert "locked" in _error(replicas.token(url, code, pin), 400, "invalid_grant")


def test_concurrent_tx_code_guesses_are_each_counted(replicas: Replicas) -> None:
    """Twenty guesses at once on both replicas: the attempt counter is one conditional
    UPDATE, so no more than the limit are ever checked, and the right code comes too late."""
    code, pin = replicas.offer(tx_code=True)
    assert pin is not None
    limit = replicas.a.config.limits.tx_code_attempts
    guesses = [f"{n:06d}" for n in range(20) if f"{n:06d}" != pin]
    urls = [replicas.url_a, replicas.url_b]
    with ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(lambda i: replicas.token(urls[i % 2], code, guesses[i]), range(len(guesses)))
        )
    assert all(a.json()["error"] == "invalid_grant" for a in answers)
    assert "locked" in _error(replicas.token(replicas.url_b, code, pin), 400, "invalid_grant")
    refused = [e for e in replicas.a.audit_events(200) if e.action == "tx_code_refused"]
    assert len([e for e in refused if e.subject == refused[0].subject]) <= limit


def test_pre_authorized_codes_are_not_guessable(replicas: Replicas) -> None:
    code, _ = replicas.offer()
    assert len(code) >= 43  # 256 bits, url-safe base64
    for guess in (code[:-1] + ("A" if code[-1] != "A" else "B"), "0" * 43, ""):
        answer = replicas.token(replicas.url_a, guess)
        assert answer.json()["error"] in ("invalid_grant", "invalid_request")
    # The real one still works once, on either replica, then on neither.
    assert replicas.token(replicas.url_b, code).status_code == 200
    for url in (replicas.url_a, replicas.url_b):
        assert "already used" in _error(replicas.token(url, code), 400, "invalid_grant")


def test_a_proof_replayed_on_the_other_replica_is_refused(replicas: Replicas) -> None:
    key = PrivateKey.generate("p256")
    nonce = replicas.nonce(replicas.url_a)
    proof = proof_jwt(key, audience=AUDIENCE, nonce=nonce)
    first = replicas.credential(replicas.url_a, replicas.access(replicas.url_a), proof)
    assert first.status_code == 200, first.text
    # The same proof JWT, with a fresh access token, at the other replica.
    again = replicas.credential(replicas.url_b, replicas.access(replicas.url_b), proof)
    _error(again, 400, "invalid_nonce")


def test_a_c_nonce_is_single_use_across_replicas_and_proofs(replicas: Replicas) -> None:
    key = PrivateKey.generate("p256")
    nonce = replicas.nonce(replicas.url_b)
    good = proof_jwt(key, audience=AUDIENCE, nonce=nonce)
    assert (
        replicas.credential(replicas.url_b, replicas.access(replicas.url_b), good).status_code
        == 200
    )
    # A new proof (another key, another iat) carrying the consumed nonce.
    other = proof_jwt(PrivateKey.generate("p256"), audience=AUDIENCE, nonce=nonce,
                      iat=int(time.time()) - 1)  # fmt: skip
    for url in (replicas.url_a, replicas.url_b):
        _error(replicas.credential(url, replicas.access(url), other), 400, "invalid_nonce")
    # The library says the same, on both replicas.
    assert not replicas.a.consume_nonce(nonce)
    assert not replicas.b.consume_nonce(nonce)


def test_a_configuration_the_offer_did_not_grant_is_refused(replicas: Replicas) -> None:
    other = next(c for c in TEMPLATES if c != "LegalPerson")
    access = replicas.access(replicas.url_a)
    proof = proof_jwt(PrivateKey.generate("p256"), audience=AUDIENCE,
                      nonce=replicas.nonce(replicas.url_a))  # fmt: skip
    refused = replicas.credential(replicas.url_b, access, proof, configuration=other)
    assert "LegalPerson" in _error(refused, 400, "invalid_credential_request")
    # Nothing was issued and the token was not spent: the right configuration still works.
    proof = proof_jwt(PrivateKey.generate("p256"), audience=AUDIENCE,
                      nonce=replicas.nonce(replicas.url_a))  # fmt: skip
    assert replicas.credential(replicas.url_a, access, proof).status_code == 200


def test_an_access_token_is_single_use_across_replicas(replicas: Replicas) -> None:
    access = replicas.access(replicas.url_a)
    key = PrivateKey.generate("p256")
    proof = proof_jwt(key, audience=AUDIENCE, nonce=replicas.nonce(replicas.url_a))
    assert replicas.credential(replicas.url_a, access, proof).status_code == 200
    proof = proof_jwt(key, audience=AUDIENCE, nonce=replicas.nonce(replicas.url_b))
    _error(replicas.credential(replicas.url_b, access, proof), 401, "invalid_token")


def test_a_proof_for_another_audience_is_refused(replicas: Replicas) -> None:
    proof = proof_jwt(PrivateKey.generate("p256"), audience="https://other-issuer.example",
                      nonce=replicas.nonce(replicas.url_a))  # fmt: skip
    refused = replicas.credential(replicas.url_a, replicas.access(replicas.url_a), proof)
    _error(refused, 400, "invalid_proof")


def test_status_index_exhaustion_is_a_clear_code_and_no_index_is_reused(
    tmp_path: Path,
) -> None:
    issuer = make_issuer(tmp_path / "small", PUBLIC_PORT, limits={"status_list_entries": 8})
    key = PrivateKey.generate("p256")
    from ancre.issuer.service import holder_from_key

    holder = holder_from_key(key.public_key)
    indexes: list[int] = []
    refusal: IssuerError | None = None
    for _ in range(200):
        try:
            issued = issuer.issue("LegalPerson", LEGAL_PERSON_CLAIMS, holder=holder,
                                  authorization=OPERATOR)  # fmt: skip
        except IssuerError as error:
            refusal = error
            break
        indexes.append(issued.status_index)
    assert refusal is not None
    assert refusal.code == Code.STATUS_LIST_FULL
    assert refusal.status == 503
    assert len(indexes) == len(set(indexes)) <= 8
    # Revocation of a credential at the end does not free its index.
    issuer.set_status(issuer.credentials(1)[0].id, "revoke", actor="alice")
    with pytest.raises(IssuerError) as still:
        issuer.issue("LegalPerson", LEGAL_PERSON_CLAIMS, holder=holder, authorization=OPERATOR)
    assert still.value.code == Code.STATUS_LIST_FULL


def test_revocations_racing_issuances_keep_every_index_and_status(tmp_path: Path) -> None:
    """Revoking credentials while others are issued into the same small list: every revoked
    credential is revoked in the published list, every new one is valid, no index is shared,
    and the audit chain verifies."""
    from ancre.issuer.service import holder_from_key

    issuer = make_issuer(tmp_path / "race", PUBLIC_PORT, limits={"status_list_entries": 64})
    holder = holder_from_key(PrivateKey.generate("p256").public_key)

    def issue() -> tuple[str, int]:
        issued = issuer.issue("LegalPerson", LEGAL_PERSON_CLAIMS, holder=holder,
                              authorization=OPERATOR)  # fmt: skip
        return issued.id, issued.status_index

    first = [issue() for _ in range(12)]
    with ThreadPoolExecutor(6) as pool:
        revoked = [pool.submit(issuer.set_status, cid, "revoke", actor="alice") for cid, _ in first]
        fresh = [pool.submit(issue) for _ in range(12)]
        assert {f.result(timeout=60) for f in revoked} == {"revoked"}
        new = [f.result(timeout=60) for f in fresh]
    indexes = [index for _, index in first + new]
    assert len(indexes) == len(set(indexes))
    for cid, _ in first:
        row = issuer.credential_info(cid)
        assert row is not None
        assert row.state == "revoked"
    for cid, _ in new:
        row = issuer.credential_info(cid)
        assert row is not None
        assert row.state == "valid"
    # The published list says the same (bit set for the revoked, clear for the new).
    from ancre.issuer.db import StatusEntryRow
    from ancre.issuer.service import REVOCATION_LIST

    with issuer._read() as session:
        values = {(r.list_id, r.idx): r.value for r in session.query(StatusEntryRow)}
    assert all(values[(REVOCATION_LIST, i)] == 1 for _, i in first)
    assert all(values[(REVOCATION_LIST, i)] == 0 for _, i in new)
    assert issuer.verify_audit().ok
