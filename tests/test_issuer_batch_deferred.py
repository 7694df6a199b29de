"""OpenID4VCI 1.0 batch issuance (§8.2), deferred issuance (§9) and the notification
endpoint (§11) over loopback HTTPS: each happy path, each refusal with the spec's error
code, and the operator's side of deferred issuance through `ancre issuer pending / approve /
reject`."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from _issuer_support import (
    DIRECTOR_CLAIMS,
    LEGAL_PERSON_CLAIMS,
    Tls,
    Wallet,
    ancre_cli,
    make_tls,
    open_issuer,
    proof_jwt,
    running_issuer,
)
from sqlalchemy import func, select

from ancre.issuer.db import DeferredRequestRow, OfferRow, StatusEntryRow
from ancre.issuer.deferred import collect, decide
from ancre.issuer.oid4vci import parse_credential_request, parse_notification_request
from ancre.issuer.service import IssuedBatch, Issuer, IssuerError
from ancre.issuer.templates import Authorization
from ancre.trust.clock import FixedClock, SystemClock
from ancre.trust.did.jwk import did_jwk_from_public_key
from ancre.trust.did.key import did_key_from_public_key
from ancre.trust.errors import Code
from ancre.trust.jose.jws import parse_compact
from ancre.trust.keys.jwk import PrivateKey

OPERATOR = Authorization(method="operator", actor="alice", register_checked=True)
DIRECTOR_LOGIN = Authorization(
    "login",
    "proconnect:antoine",
    acr="https://proconnect.gouv.fr/assurance/certification-dirigeant",
    register_checked=True,
)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(SystemClock().now())


@pytest.fixture
def served(tmp_path: Path, tls: Tls, clock: FixedClock) -> Iterator[tuple[Issuer, str]]:
    with running_issuer(tmp_path / "issuer", tls, clock=clock) as pair:
        yield pair


@pytest.fixture
def http(tls: Tls) -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=10, verify=tls.context()) as client:
        yield client


def _refused(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == error, response.text
    assert response.headers["cache-control"] == "no-store"


def _token(
    issuer: Issuer,
    http: httpx.Client,
    url: str,
    *,
    configuration: str = "LegalPerson",
    claims: dict[str, Any] = LEGAL_PERSON_CLAIMS,
    authorization: Authorization = OPERATOR,
    approval: bool = False,
) -> str:
    offer = issuer.create_offer(
        configuration, claims, authorization=authorization, approval=approval
    )
    response = Wallet(http).token(url, offer.pre_authorized_code, None)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def _nonce(http: httpx.Client, url: str) -> str:
    nonce: str = http.post(f"{url}/nonce").json()["c_nonce"]
    return nonce


def _post(http: httpx.Client, url: str, path: str, token: str | None, body: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return http.post(f"{url}/{path}", json=body, headers=headers)


def _request(
    http: httpx.Client, url: str, token: str, proofs: list[str], configuration: str = "LegalPerson"
) -> httpx.Response:
    body = {"credential_configuration_id": configuration, "proofs": {"jwt": proofs}}
    return _post(http, url, "credential", token, body)


def _payload(credential: str) -> dict[str, Any]:
    payload: dict[str, Any] = parse_compact(
        credential.split("~")[0], allowed_algs=("EdDSA",)
    ).payload_json()
    return payload


def _count(issuer: Issuer, model: Any) -> int:
    with issuer._read() as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


# -- metadata and parsing ------------------------------------------------------------------


def test_metadata_names_the_batch_size_and_the_new_endpoints(
    served: tuple[Issuer, str], http: httpx.Client
) -> None:
    _issuer, url = served
    meta = Wallet(http).metadata(url)
    assert meta["batch_credential_issuance"] == {"batch_size": 10}
    assert meta["deferred_credential_endpoint"] == f"{url}/deferred_credential"
    assert meta["notification_endpoint"] == f"{url}/notification"


def test_no_batch_metadata_below_two(tmp_path: Path, tls: Tls) -> None:
    limits = {"batch_size": 1}
    with (
        running_issuer(tmp_path / "one", tls, limits=limits) as (_issuer, url),
        httpx.Client(trust_env=False, timeout=10, verify=tls.context()) as http,
    ):
        assert "batch_credential_issuance" not in Wallet(http).metadata(url)


def test_request_parsing_refusals() -> None:
    def code(body: Any, batch_size: int = 3) -> str:
        with pytest.raises(IssuerError) as refused:
            parse_credential_request(body, batch_size=batch_size)
        return str(refused.value.code)

    base = {"credential_configuration_id": "LegalPerson"}
    assert code({**base, "proofs": {"jwt": ["a", "b", "c", "d"]}}) == "invalid_credential_request"
    assert code({**base, "proof": {"jwt": "a"}, "proofs": {"jwt": ["a"]}}) == (
        "invalid_credential_request"
    )
    assert code({**base, "proofs": {"jwt": ["a", 1]}}) == "invalid_proof"
    assert code({**base, "proofs": {"jwt": []}}) == "invalid_proof"
    assert parse_credential_request({**base, "proofs": {"jwt": ["a", "b"]}}, batch_size=2).proofs
    for bad in (
        {"event": "credential_accepted"},
        {"notification_id": "n", "event": "credential_lost"},
        {"notification_id": "n", "event": "credential_failure", "event_description": 'a "b"'},
        {"notification_id": "n", "event": "credential_failure", "event_description": "é"},
        [],
    ):
        with pytest.raises(IssuerError) as refused:
            parse_notification_request(bad)
        assert refused.value.code == Code.INVALID_NOTIFICATION_REQUEST, bad
    parsed = parse_notification_request(
        {"notification_id": "n", "event": "credential_failure", "event_description": "full", "x": 1}
    )
    assert (parsed.event, parsed.description) == ("credential_failure", "full")


# -- batch issuance --------------------------------------------------------------------------


def test_batch_binds_each_credential_to_its_key_with_its_own_status_index(
    served: tuple[Issuer, str], http: httpx.Client
) -> None:
    issuer, url = served
    token = _token(issuer, http, url)
    nonce = _nonce(http, url)  # one c_nonce for every proof of the request
    p256, ed25519, p384 = (PrivateKey.generate(t) for t in ("p256", "ed25519", "p384"))
    did_key = did_key_from_public_key(ed25519.public_key)
    kid = f"{did_key}#{did_key.removeprefix('did:key:')}"
    proofs = [
        proof_jwt(p256, audience=url, nonce=nonce),
        proof_jwt(ed25519, audience=url, nonce=nonce, header={"kid": kid, "jwk": None}),
        proof_jwt(p384, audience=url, nonce=nonce),
    ]
    response = _request(http, url, token, proofs)
    assert response.status_code == 200, response.text
    body = response.json()
    assert sorted(body) == ["credentials", "notification_id"]
    payloads = [_payload(c["credential"]) for c in body["credentials"]]
    assert [p["credentialSubject"]["id"] for p in payloads] == [
        did_jwk_from_public_key(p256.public_key),
        did_key,
        did_jwk_from_public_key(p384.public_key),
    ]
    indexes = {p["credentialStatus"][0]["statusListIndex"] for p in payloads}
    assert len(indexes) == 3
    assert len({p["id"] for p in payloads}) == 3
    rows = issuer.credentials()
    assert {r.notification_id for r in rows} == {body["notification_id"]}
    assert len({r.status_index for r in rows}) == 3
    assert len({r.offer_id for r in rows}) == 1
    # One request, one set of claims: the offer forgets them once all three are signed.
    with issuer._read() as session:
        offer = session.get(OfferRow, rows[0].offer_id)
    assert offer is not None
    assert offer.claims_json is None


def test_sd_jwt_batch_carries_each_key_as_cnf(
    served: tuple[Issuer, str], http: httpx.Client
) -> None:
    issuer, url = served
    director = {"claims": DIRECTOR_CLAIMS, "authorization": DIRECTOR_LOGIN}
    token = _token(issuer, http, url, configuration="DirectorCertification", **director)
    keys = [PrivateKey.generate("p256") for _ in range(2)]
    proofs = [proof_jwt(k, audience=url, nonce=_nonce(http, url)) for k in keys]
    response = _request(http, url, token, proofs, "DirectorCertification")
    assert response.status_code == 200, response.text
    payloads = [_payload(c["credential"]) for c in response.json()["credentials"]]
    assert [p["cnf"]["jwk"] for p in payloads] == [k.public_key.to_jwk() for k in keys]
    assert len({p["status"]["status_list"]["idx"] for p in payloads}) == 2


def test_batch_refusals_spare_the_nonce_and_the_token(
    served: tuple[Issuer, str], http: httpx.Client
) -> None:
    issuer, url = served
    token = _token(issuer, http, url)
    nonce = _nonce(http, url)
    keys = [PrivateKey.generate("p256") for _ in range(11)]
    good = [proof_jwt(k, audience=url, nonce=nonce) for k in keys]

    _refused(_request(http, url, token, good), 400, "invalid_credential_request")  # 11 > 10
    same_key = [good[0], proof_jwt(keys[0], audience=url, nonce=nonce)]
    _refused(_request(http, url, token, same_key), 400, "invalid_credential_request")
    wrong_aud = [good[0], proof_jwt(keys[1], audience="https://other.example", nonce=nonce)]
    _refused(_request(http, url, token, wrong_aud), 400, "invalid_proof")
    no_nonce = [good[0], proof_jwt(keys[1], audience=url, nonce=None)]
    _refused(_request(http, url, token, no_nonce), 400, "invalid_proof")
    both = {
        "credential_configuration_id": "LegalPerson",
        "proof": {"proof_type": "jwt", "jwt": good[0]},
        "proofs": {"jwt": good[:1]},
    }
    _refused(_post(http, url, "credential", token, both), 400, "invalid_credential_request")
    # A second, unknown nonce: refused, and the first one is not consumed either.
    unknown = [good[0], proof_jwt(keys[1], audience=url, nonce="never-issued")]
    _refused(_request(http, url, token, unknown), 400, "invalid_nonce")

    response = _request(http, url, token, good[:10])
    assert response.status_code == 200, response.text
    assert len(response.json()["credentials"]) == 10
    # The nonce is spent now, for every proof.
    again = _token(issuer, http, url)
    _refused(_request(http, url, again, good[:1]), 400, "invalid_nonce")


def test_a_batch_is_all_or_nothing(tmp_path: Path, tls: Tls) -> None:
    # Two status indexes for three credentials: the third allocation fails, and with it the
    # whole request — no credential, no index, the token still usable.
    with (
        running_issuer(tmp_path / "small", tls, limits={"status_list_entries": 2}) as pair,
        httpx.Client(trust_env=False, timeout=10, verify=tls.context()) as http,
    ):
        issuer, url = pair
        token = _token(issuer, http, url)
        keys = [PrivateKey.generate("p256") for _ in range(3)]
        nonce = _nonce(http, url)
        proofs = [proof_jwt(k, audience=url, nonce=nonce) for k in keys]
        _refused(_request(http, url, token, proofs), 503, "status_list_full")
        assert issuer.count_credentials() == 0
        assert _count(issuer, StatusEntryRow) == 0
        retry = [proof_jwt(k, audience=url, nonce=_nonce(http, url)) for k in keys[:2]]
        response = _request(http, url, token, retry)
        assert response.status_code == 200, response.text
        assert issuer.count_credentials() == 2


# -- deferred issuance -----------------------------------------------------------------------


def _defer(
    issuer: Issuer, http: httpx.Client, url: str, keys: int = 2
) -> tuple[str, str, list[PrivateKey]]:
    """A request held for approval: (access token, transaction id, holder keys)."""
    token = _token(issuer, http, url, approval=True)
    holders = [PrivateKey.generate("p256") for _ in range(keys)]
    nonce = _nonce(http, url)
    response = _request(
        http, url, token, [proof_jwt(k, audience=url, nonce=nonce) for k in holders]
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert sorted(body) == ["interval", "transaction_id"]
    assert body["interval"] == issuer.config.limits.deferred_interval
    assert issuer.count_credentials() == 0
    return token, body["transaction_id"], holders


def _poll(http: httpx.Client, url: str, token: str | None, transaction_id: Any) -> httpx.Response:
    return _post(http, url, "deferred_credential", token, {"transaction_id": transaction_id})


def test_deferred_approval_through_the_cli(served: tuple[Issuer, str], http: httpx.Client) -> None:
    issuer, url = served
    d = ["--dir", str(issuer.config.directory)]
    token, transaction_id, holders = _defer(issuer, http, url)

    waiting = _poll(http, url, token, transaction_id)
    assert waiting.status_code == 202, waiting.text
    assert waiting.json() == {"transaction_id": transaction_id, "interval": 60}

    listed = ancre_cli("issuer", "pending", *d, "--json")
    assert listed.returncode == 0, listed.stderr
    [held] = json.loads(listed.stdout)
    assert (held["configuration"], held["state"], held["keys"]) == ("LegalPerson", "pending", 2)
    assert held["claims"] == LEGAL_PERSON_CLAIMS  # what the operator approves
    assert held["offered_by"] == "alice"
    text = ancre_cli("issuer", "pending", *d)
    assert text.stdout.startswith(f"{held['id']}  LegalPerson"), text.stdout

    approved = ancre_cli("issuer", "approve", held["id"], *d, "--as", "bob")
    assert approved.stdout == f"{held['id']}: approved\n", approved.stderr
    again = ancre_cli("issuer", "approve", held["id"], *d)
    assert again.returncode == 1
    assert "approved already" in again.stderr

    delivered = _poll(http, url, token, transaction_id)
    assert delivered.status_code == 200, delivered.text
    body = delivered.json()
    assert sorted(body) == ["credentials"]
    subjects = [_payload(c["credential"])["credentialSubject"]["id"] for c in body["credentials"]]
    assert subjects == [did_jwk_from_public_key(k.public_key) for k in holders]
    assert len({r.status_index for r in issuer.credentials()}) == 2
    # Spent: the transaction id is good for one delivery.
    _refused(_poll(http, url, token, transaction_id), 400, "invalid_transaction_id")

    assert json.loads(ancre_cli("issuer", "pending", *d, "--json").stdout) == []
    [done] = json.loads(ancre_cli("issuer", "pending", *d, "--all", "--json").stdout)
    assert (done["state"], done["decided_by"], done["claims"]) == ("issued", "bob", None)
    events = [(e.action, e.actor) for e in reversed(issuer.audit_events())]
    issued = [("issue", "alice")] * 2  # the offer's operator issues, as for any offer
    assert events[-4:] == [("defer", "wallet"), ("approve", "bob"), *issued]
    assert issuer.verify_audit().ok


def test_deferred_rejection_through_the_cli(served: tuple[Issuer, str], http: httpx.Client) -> None:
    issuer, url = served
    d = ["--dir", str(issuer.config.directory)]
    token, transaction_id, _holders = _defer(issuer, http, url, keys=1)
    [held] = json.loads(ancre_cli("issuer", "pending", *d, "--json").stdout)
    rejected = ancre_cli("issuer", "reject", held["id"], *d, "--as", "carol", "--json")
    assert json.loads(rejected.stdout) == {"id": held["id"], "state": "rejected"}
    _refused(_poll(http, url, token, transaction_id), 400, "credential_request_denied")
    assert issuer.count_credentials() == 0
    # The claims are forgotten at once, and the decision is final.
    [gone] = json.loads(ancre_cli("issuer", "pending", *d, "--all", "--json").stdout)
    assert (gone["state"], gone["claims"]) == ("rejected", None)
    late = ancre_cli("issuer", "approve", held["id"], *d)
    assert late.returncode == 1
    assert "rejected already" in late.stderr
    unknown = ancre_cli("issuer", "reject", "no-such-request", *d)
    assert unknown.returncode == 1
    assert "credential_not_found" in unknown.stderr
    assert ("reject", "carol") in [(e.action, e.actor) for e in issuer.audit_events()]


def test_deferred_refusals(
    served: tuple[Issuer, str], http: httpx.Client, clock: FixedClock
) -> None:
    issuer, url = served
    token, transaction_id, _holders = _defer(issuer, http, url, keys=1)
    other = _token(issuer, http, url)

    _refused(_poll(http, url, None, transaction_id), 401, "invalid_token")
    _refused(_poll(http, url, "made-up", transaction_id), 401, "invalid_token")
    # Another wallet's (valid) token does not reach this transaction.
    _refused(_poll(http, url, other, transaction_id), 400, "invalid_transaction_id")
    _refused(_poll(http, url, token, "never-issued"), 400, "invalid_transaction_id")
    _refused(_poll(http, url, token, 42), 400, "invalid_credential_request")
    _refused(_post(http, url, "deferred_credential", token, {}), 400, "invalid_credential_request")
    # The held request (and the token bound to it) outlive the access token's 5 minutes…
    clock.advance(timedelta(seconds=issuer.config.limits.access_token_lifetime + 1))
    assert _poll(http, url, token, transaction_id).status_code == 202
    # …but not their own lifetime: then nothing can be decided or delivered.
    [held] = [r.id for r in _held_rows(issuer)]
    clock.advance(timedelta(seconds=issuer.config.limits.deferred_lifetime))
    with pytest.raises(IssuerError) as late:
        decide(issuer, held, "approve", actor="bob")
    assert late.value.status == 409
    _refused(_poll(http, url, token, transaction_id), 400, "credential_request_denied")
    # The purge then forgets the offer's claims, as for any expired offer.
    clock.advance(timedelta(seconds=issuer.config.limits.access_token_lifetime + 1))
    issuer.purge_expired()
    with issuer._read() as session:
        offer = session.get(OfferRow, _held_rows(issuer)[0].offer_id)
    assert offer is not None
    assert offer.claims_json is None


def _held_rows(issuer: Issuer) -> list[DeferredRequestRow]:
    with issuer._read() as session:
        return list(session.execute(select(DeferredRequestRow)).scalars())


def test_one_delivery_and_one_decision_across_replicas(
    served: tuple[Issuer, str], http: httpx.Client
) -> None:
    issuer, url = served
    replicas = [open_issuer(issuer.config.directory, public_url=url) for _ in range(2)]
    token, transaction_id, _holders = _defer(issuer, http, url, keys=1)
    [held] = [r.id for r in _held_rows(issuer)]

    def race(work: Any) -> list[Any]:
        barrier = threading.Barrier(len(replicas))
        outcomes: list[Any] = [None] * len(replicas)

        def one(n: int) -> None:
            barrier.wait(timeout=30)
            try:
                outcomes[n] = work(replicas[n], n)
            except IssuerError as error:
                outcomes[n] = error.code

        threads = [threading.Thread(target=one, args=(n,)) for n in range(len(replicas))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        return outcomes

    decisions = race(lambda r, n: decide(r, held, "approve", actor=f"op{n}"))
    assert sorted(map(str, decisions)) == ["approved", "conflict"]
    deliveries = race(lambda r, n: collect(r, token, transaction_id))
    batches = [d for d in deliveries if isinstance(d, IssuedBatch)]
    assert len(batches) == 1, deliveries
    assert [d for d in deliveries if not isinstance(d, IssuedBatch)] == [
        Code.INVALID_TRANSACTION_ID
    ]
    assert issuer.count_credentials() == 1


# -- notification ------------------------------------------------------------------------------


def _notify(
    http: httpx.Client, url: str, token: str | None, notification_id: Any, event: str, **extra: Any
) -> httpx.Response:
    body = {"notification_id": notification_id, "event": event, **extra}
    return _post(http, url, "notification", token, body)


def test_notifications_are_recorded_on_the_credentials_and_audited(
    served: tuple[Issuer, str], http: httpx.Client
) -> None:
    issuer, url = served
    token = _token(issuer, http, url)
    nonce = _nonce(http, url)
    proofs = [proof_jwt(PrivateKey.generate("p256"), audience=url, nonce=nonce) for _ in range(2)]
    notification_id = _request(http, url, token, proofs).json()["notification_id"]

    accepted = _notify(http, url, token, notification_id, "credential_accepted")
    assert accepted.status_code == 204, accepted.text
    assert accepted.content == b""
    assert {r.wallet_event for r in issuer.credentials()} == {"credential_accepted"}
    # Idempotent: the same notification again succeeds and adds no audit event.
    assert _notify(http, url, token, notification_id, "credential_accepted").status_code == 204
    deleted = _notify(
        http, url, token, notification_id, "credential_deleted", event_description="by the user"
    )
    assert deleted.status_code == 204, deleted.text
    assert {r.wallet_event for r in issuer.credentials()} == {"credential_deleted"}
    notified = [e for e in issuer.audit_events() if e.action == "notification"]
    assert [json.loads(e.details_json)["event"] for e in notified] == [
        "credential_deleted",
        "credential_accepted",
    ]
    assert json.loads(notified[0].details_json)["description"] == "by the user"
    assert sorted(json.loads(notified[0].details_json)["credentials"]) == sorted(
        r.id for r in issuer.credentials()
    )
    listed = ancre_cli("issuer", "list", "--dir", str(issuer.config.directory), "--json")
    assert {r["wallet_event"] for r in json.loads(listed.stdout)} == {"credential_deleted"}


def test_notification_refusals(
    served: tuple[Issuer, str], http: httpx.Client, clock: FixedClock
) -> None:
    issuer, url = served
    token = _token(issuer, http, url)
    proof = proof_jwt(PrivateKey.generate("p256"), audience=url, nonce=_nonce(http, url))
    notification_id = _request(http, url, token, [proof]).json()["notification_id"]
    other = _token(issuer, http, url)

    _refused(_notify(http, url, None, notification_id, "credential_accepted"), 401, "invalid_token")
    _refused(
        _notify(http, url, "made-up", notification_id, "credential_accepted"), 401, "invalid_token"
    )
    for refused_id, with_token in (("never-issued", token), (notification_id, other)):
        _refused(
            _notify(http, url, with_token, refused_id, "credential_accepted"),
            400,
            "invalid_notification_id",
        )
    invalid = "invalid_notification_request"
    _refused(_notify(http, url, token, notification_id, "credential_lost"), 400, invalid)
    _refused(_notify(http, url, token, None, "credential_accepted"), 400, invalid)
    quoted = _notify(
        http, url, token, notification_id, "credential_failure", event_description='a "quote"'
    )
    _refused(quoted, 400, invalid)
    headers = {"Authorization": f"Bearer {token}", "content-type": "application/json"}
    _refused(http.post(f"{url}/notification", content=b"{", headers=headers), 400, invalid)
    assert {r.wallet_event for r in issuer.credentials()} == {None}
    clock.advance(timedelta(seconds=issuer.config.limits.notification_lifetime + 1))
    late = _notify(http, url, token, notification_id, "credential_accepted")
    _refused(late, 400, "invalid_notification_id")
