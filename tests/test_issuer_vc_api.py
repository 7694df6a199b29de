"""The issuer's VC-API (`ancre.issuer.vc_api`) over loopback HTTPS: machine clients with API
keys issue VCDM 2.0 credentials (enveloped `vc+jwt` or an embedded `DataIntegrityProof`),
every refusal answers its RFC 9457 problem with a stable code, and `/credentials/status`
revocations reach ancre's verifier at its next status-list refresh."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from _issuer_support import (
    LEGAL_PERSON_CLAIMS,
    Tls,
    bound_socket,
    make_issuer,
    make_tls,
    serve_on,
)

from ancre.issuer.api import IssuerSettings, create_app
from ancre.issuer.builders import CREDENTIAL_CONTEXT
from ancre.issuer.clients import ClientStore
from ancre.issuer.service import Issuer
from ancre.issuer.vc_api import ProofFormat, VcApiSettings
from ancre.trust.clock import SystemClock
from ancre.trust.did.resolvers import default_resolver
from ancre.trust.errors import Code, IndeterminateError
from ancre.trust.net.guard import NetworkPolicy
from ancre.trust.result import Status
from ancre.trust.status.checker import StatusListChecker
from ancre.verifier.pipeline import verify

LOOPBACK = NetworkPolicy(allow_loopback=True, max_bytes=4 * 1024 * 1024)


@dataclass
class Served:
    issuer: Issuer
    url: str
    key: str  # a client allowed LegalPerson and Certification
    clients: ClientStore

    @property
    def issue_url(self) -> str:
        return f"{self.url}/credentials/issue"

    @property
    def status_url(self) -> str:
        return f"{self.url}/credentials/status"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def client(tls: Tls) -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=20, verify=tls.context()) as http:
        yield http


def _serve(directory: Path, tls: Tls, proof: ProofFormat) -> Iterator[Served]:
    sock, port = bound_socket()
    issuer = make_issuer(directory, port)
    clients = ClientStore(issuer.engine, issuer.clock)
    added = clients.add(
        "erp", issuer_id=issuer.did, types=("LegalPerson", "Certification"), actor="alice"
    )
    settings = IssuerSettings(issuer, vc_api=VcApiSettings(proof=proof))
    with serve_on(sock, create_app(settings), tls) as url:
        yield Served(issuer, url, added.api_key, clients)


@pytest.fixture
def served(tmp_path: Path, tls: Tls) -> Iterator[Served]:
    yield from _serve(tmp_path / "issuer", tls, "vc+jwt")


@pytest.fixture
def served_di(tmp_path: Path, tls: Tls) -> Iterator[Served]:
    yield from _serve(tmp_path / "issuer-di", tls, "DataIntegrityProof")


def legal_person(issuer: str, /, **changes: Any) -> dict[str, Any]:
    credential: dict[str, Any] = {
        "@context": list(CREDENTIAL_CONTEXT),
        "id": "urn:uuid:6f1c1f9e-0c55-4b8e-9a64-3f0e8f4e1a01",
        "type": ["VerifiableCredential", "gx:LegalPerson"],
        "issuer": issuer,
        "validFrom": "2026-01-01T00:00:00Z",
        "validUntil": "2036-01-01T00:00:00Z",
        "credentialSubject": {
            "id": "did:web:danone.example",
            "type": "gx:LegalPerson",
            **LEGAL_PERSON_CLAIMS,
        },
    }
    for name, value in changes.items():
        if value is None:
            credential.pop("@context" if name == "_context" else name, None)
        else:
            credential["@context" if name == "_context" else name] = value
    return credential


def _post(client: httpx.Client, url: str, key: str | None, body: Any) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(url, content=raw, headers=headers)


def _verify(data: Any, client: httpx.Client) -> Any:
    clock = SystemClock()
    resolver = default_resolver(http_client=client, network=LOOPBACK, clock=clock)
    status = StatusListChecker(client=client, resolver=resolver, network=LOOPBACK)
    return verify(data, resolver=resolver, clock=clock, status=status)


def _problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert body["status"] == status
    assert body["type"] == f"urn:ancre:error:{code}"
    return body


# -- issuance that verifies ---------------------------------------------------------------


def test_issue_vc_jwt_keeps_the_callers_id_and_dates_and_verifies(
    served: Served, client: httpx.Client
) -> None:
    request = {"credential": legal_person(served.issuer.did), "options": {}}
    response = _post(client, served.issue_url, served.key, request)
    assert response.status_code == 201, response.text
    enveloped = response.json()["verifiableCredential"]
    assert enveloped["type"] == "EnvelopedVerifiableCredential"
    assert enveloped["@context"] == ["https://www.w3.org/ns/credentials/v2"]
    assert enveloped["id"].startswith("data:application/vc+jwt,")
    result = _verify(enveloped, client)
    assert result.status is Status.VALID, result.to_json()
    assert result.issuer == served.issuer.did
    assert result.types == ("VerifiableCredential", "gx:LegalPerson")
    payload = result.credential
    assert payload["id"] == "urn:uuid:6f1c1f9e-0c55-4b8e-9a64-3f0e8f4e1a01"
    assert payload["validFrom"] == "2026-01-01T00:00:00Z"
    assert payload["validUntil"] == "2036-01-01T00:00:00Z"
    assert [s["statusPurpose"] for s in payload["credentialStatus"]] == [
        "revocation",
        "suspension",
    ]
    row = served.issuer.credential_info(payload["id"])
    assert row is not None
    assert (row.configuration_id, row.format, row.state) == ("LegalPerson", "vc+jwt", "valid")
    assert served.issuer.verify_audit().ok


def test_issue_data_integrity_proof_verifies(served_di: Served, client: httpx.Client) -> None:
    credential = legal_person(served_di.issuer.did, validFrom=None, validUntil=None, id=None)
    response = _post(client, served_di.issue_url, served_di.key, {"credential": credential})
    assert response.status_code == 201, response.text
    secured = response.json()["verifiableCredential"]
    proof = secured["proof"]
    assert proof["type"] == "DataIntegrityProof"
    assert proof["cryptosuite"] == "eddsa-rdfc-2022"
    assert proof["verificationMethod"] == served_di.issuer.kid
    # Absent dates and id are filled in (never a given one replaced).
    assert secured["id"].startswith("urn:uuid:")
    assert "validFrom" in secured
    assert "validUntil" in secured
    result = _verify(secured, client)
    assert result.status is Status.VALID, result.to_json()
    assert result.issuer == served_di.issuer.did
    did_document = client.get(f"{served_di.url}/.well-known/did.json").json()
    assert _pyld_eddsa_rdfc_2022_check(secured, did_document)
    row = served_di.issuer.credential_info(secured["id"])
    assert row is not None
    assert row.format == "ldp_vc"
    # A changed claim breaks the proof.
    tampered = json.loads(json.dumps(secured))
    tampered["credentialSubject"]["schema:name"] = "NOT DANONE"
    assert _verify(tampered, client).status is Status.INVALID


def test_data_integrity_needs_an_ed25519_key(tmp_path: Path) -> None:
    from _issuer_support import PASSPHRASE, SCRYPT_N, open_issuer

    from ancre.issuer.config import init_issuer
    from ancre.issuer.vc_api import VcApi
    from ancre.trust.errors import ConfigurationError

    init_issuer(
        tmp_path / "p256",
        did="did:web:localhost%3A9",
        passphrase=PASSPHRASE,
        clock=SystemClock(),
        key_type="p256",
        public_url="https://localhost:9",
        scrypt_n=SCRYPT_N,
    )
    issuer = open_issuer(tmp_path / "p256")
    with pytest.raises(ConfigurationError, match="Ed25519"):
        VcApi(issuer, VcApiSettings(proof="DataIntegrityProof"))


# -- refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "codes"),
    [
        ({"_context": None}, ["invalid_context"]),
        ({"type": None}, ["invalid_type"]),
        ({"issuer": None}, ["invalid_issuer"]),
        ({"validFrom": "1 January 2026"}, ["invalid_datetime"]),
        ({"validFrom": "2026-01-01T00:00:00"}, ["invalid_datetime"]),  # no time zone
        ({"credentialSubject": {}}, ["invalid_credential_subject"]),
        ({"id": "not a url"}, ["invalid_id"]),
        ({"credentialStatus": {"type": "BitstringStatusListEntry"}}, ["invalid_property"]),
        # Every reason at once, not only the first.
        (
            {"_context": None, "type": None, "issuer": None, "validFrom": "yesterday"},
            ["invalid_context", "invalid_type", "invalid_issuer", "invalid_datetime"],
        ),
    ],
)
def test_a_credential_breaking_the_data_model_is_refused_with_every_reason(
    served: Served, client: httpx.Client, changes: dict[str, Any], codes: list[str]
) -> None:
    credential = legal_person(served.issuer.did, **changes)
    response = _post(client, served.issue_url, served.key, {"credential": credential})
    body = _problem(response, 422, codes[0])
    assert [e["code"] for e in body["errors"]][: len(codes)] == codes
    assert served.issuer.count_credentials() == 0


def test_a_schema_violation_is_refused(served: Served, client: httpx.Client) -> None:
    credential = legal_person(served.issuer.did)
    del credential["credentialSubject"]["gx:legalAddress"]
    response = _post(client, served.issue_url, served.key, {"credential": credential})
    body = _problem(response, 422, "schema_violation")
    assert any("legalAddress" in e["detail"] for e in body["errors"]), body


def test_an_issuer_the_client_may_not_use_is_refused_not_replaced(
    served: Served, client: httpx.Client
) -> None:
    credential = legal_person("did:web:someone-else.example")
    response = _post(client, served.issue_url, served.key, {"credential": credential})
    body = _problem(response, 403, "issuer_not_allowed")
    assert "never replaced" in body["detail"]
    # A client registered for another issuer id may not issue as this issuer either.
    other = served.clients.add(
        "other", issuer_id="did:web:someone-else.example", types=("LegalPerson",), actor="a"
    )
    response = _post(
        client, served.issue_url, other.api_key, {"credential": legal_person(served.issuer.did)}
    )
    _problem(response, 403, "issuer_not_allowed")
    assert served.issuer.count_credentials() == 0


def test_a_type_the_client_may_not_issue_is_refused(served: Served, client: httpx.Client) -> None:
    certifier = served.clients.add(
        "certifier", issuer_id=served.issuer.did, types=("Certification",), actor="alice"
    )
    credential = legal_person(served.issuer.did)
    response = _post(client, served.issue_url, certifier.api_key, {"credential": credential})
    _problem(response, 403, "type_not_allowed")
    assert certifier.client.types == ("Certification",)
    assert served.issuer.count_credentials() == 0


@pytest.mark.parametrize("key", [None, "", "Basic abc", "wrong"])
def test_no_or_a_wrong_api_key_is_401(
    served: Served, client: httpx.Client, key: str | None
) -> None:
    headers = {"Content-Type": "application/json"}
    if key == "wrong":
        # Well formed, right key id, wrong secret.
        key_id = served.key.split(".")[0]
        headers["Authorization"] = f"Bearer {key_id}.{'A' * 43}"
    elif key is not None:
        headers["Authorization"] = key
    body = {"credential": legal_person(served.issuer.did)}
    response = client.post(served.issue_url, content=json.dumps(body), headers=headers)
    _problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_revoked_api_key_is_401(served: Served, client: httpx.Client) -> None:
    body = {"credential": legal_person(served.issuer.did)}
    served.clients.revoke("erp")
    _problem(_post(client, served.issue_url, served.key, body), 401, "unauthorized")
    assert [c.revoked_at is not None for c in served.clients.list()] == [True]


def test_body_limits_and_strict_json(served: Served, client: httpx.Client) -> None:
    large = b'{"credential": {"x": "' + b"a" * (300 * 1024) + b'"}}'
    _problem(_post(client, served.issue_url, served.key, large), 413, "input_too_large")
    _problem(_post(client, served.issue_url, served.key, b"{not json"), 400, "malformed_json")
    duplicate = b'{"credential": {}, "credential": {}}'
    _problem(_post(client, served.issue_url, served.key, duplicate), 400, "duplicate_json_key")
    _problem(_post(client, served.issue_url, served.key, [1, 2]), 400, "invalid_request")
    unknown = {"credential": legal_person(served.issuer.did), "options": {"proofFormat": "x"}}
    _problem(_post(client, served.issue_url, served.key, unknown), 400, "unknown_option")
    response = client.post(
        served.issue_url,
        content=b"credential=1",
        headers={
            "Authorization": f"Bearer {served.key}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    _problem(response, 415, "invalid_request")


def test_the_same_id_is_not_issued_twice(served: Served, client: httpx.Client) -> None:
    body = {"credential": legal_person(served.issuer.did)}
    assert _post(client, served.issue_url, served.key, body).status_code == 201
    _problem(_post(client, served.issue_url, served.key, body), 409, "conflict")
    assert served.issuer.count_credentials() == 1


# -- status -------------------------------------------------------------------------------


def _status_body(credential_id: str, status: str) -> dict[str, Any]:
    return {
        "credentialId": credential_id,
        "credentialStatus": [{"type": "BitstringStatusListEntry", "status": status}],
    }


@pytest.mark.parametrize("fixture", ["served", "served_di"])
def test_revocation_through_the_vc_api_is_seen_by_the_verifier(
    request: pytest.FixtureRequest, client: httpx.Client, fixture: str
) -> None:
    served: Served = request.getfixturevalue(fixture)
    response = _post(
        client, served.issue_url, served.key, {"credential": legal_person(served.issuer.did)}
    )
    assert response.status_code == 201, response.text
    secured = response.json()["verifiableCredential"]
    credential_id = "urn:uuid:6f1c1f9e-0c55-4b8e-9a64-3f0e8f4e1a01"
    assert _verify(secured, client).status is Status.VALID

    suspended = _post(
        client, served.status_url, served.key, _status_body(credential_id, "suspended")
    )
    assert suspended.status_code == 200, suspended.text
    assert suspended.json() == {"credentialId": credential_id, "status": "suspended"}
    assert [e.code for e in _verify(secured, client).errors] == ["suspended"]

    reinstated = _post(client, served.status_url, served.key, _status_body(credential_id, "valid"))
    assert reinstated.json()["status"] == "valid"
    assert _verify(secured, client).status is Status.VALID

    revoked = _post(client, served.status_url, served.key, _status_body(credential_id, "revoked"))
    assert revoked.json()["status"] == "revoked"
    assert [e.code for e in _verify(secured, client).errors] == ["revoked"]
    # Revocation is final.
    again = _post(client, served.status_url, served.key, _status_body(credential_id, "valid"))
    _problem(again, 409, "already_in_state")
    twice = _post(client, served.status_url, served.key, _status_body(credential_id, "revoked"))
    _problem(twice, 409, "already_in_state")
    assert served.issuer.verify_audit().ok


def test_a_client_changes_only_the_status_of_its_own_credentials(
    served: Served, client: httpx.Client
) -> None:
    body = {"credential": legal_person(served.issuer.did)}
    assert _post(client, served.issue_url, served.key, body).status_code == 201
    credential_id = body["credential"]["id"]
    other = served.clients.add(
        "other", issuer_id=served.issuer.did, types=("LegalPerson",), actor="alice"
    )
    refused = _post(
        client, served.status_url, other.api_key, _status_body(credential_id, "revoked")
    )
    _problem(refused, 404, "credential_not_found")
    unknown = _post(client, served.status_url, served.key, _status_body("urn:uuid:x", "revoked"))
    _problem(unknown, 404, "credential_not_found")
    bad = _post(client, served.status_url, served.key, _status_body(credential_id, "deleted"))
    _problem(bad, 400, "invalid_request")
    no_key = _post(client, served.status_url, None, _status_body(credential_id, "revoked"))
    _problem(no_key, 401, "unauthorized")
    row = served.issuer.credential_info(credential_id)
    assert row is not None
    assert row.state == "valid"


def test_the_vc_api_is_off_unless_configured(
    tmp_path: Path, tls: Tls, client: httpx.Client
) -> None:
    sock, port = bound_socket()
    issuer = make_issuer(tmp_path / "plain", port)
    with serve_on(sock, create_app(IssuerSettings(issuer)), tls) as url:
        response = client.post(f"{url}/credentials/issue", json={"credential": {}})
    assert response.status_code == 404


def _pyld_eddsa_rdfc_2022_check(secured: dict[str, Any], did_document: dict[str, Any]) -> bool:
    """An independent check of the proof (W3C vc-di-eddsa §3.2): pyld canonicalizes (its
    own URDNA2015 over ancre's context files, frozen), `cryptography` verifies Ed25519."""
    import hashlib

    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from pyld import jsonld
    from pyld.documentloader.frozen import FrozenDocumentLoader

    from ancre.trust.codec.b64 import b64url_decode
    from ancre.trust.vcdm.jsonld import ContextStore

    store = ContextStore()
    documents = {url: store.document(url) for url in store.urls}
    # The Gaia-X development context is named with a trailing '#' in credentials.
    documents.update({url: store.document(url) for url in secured["@context"]})
    loader = FrozenDocumentLoader(documents)

    def canon(document: dict[str, Any]) -> bytes:
        options = {"algorithm": "URDNA2015", "format": "application/n-quads"}
        text: str = jsonld.normalize(document, {**options, "documentLoader": loader})
        return text.encode()

    proof = dict(secured["proof"])
    value = proof.pop("proofValue")
    unsecured = {k: v for k, v in secured.items() if k != "proof"}
    config = {"@context": secured["@context"], **proof}
    digest = hashlib.sha256(canon(config)).digest() + hashlib.sha256(canon(unsecured)).digest()
    method = next(
        m for m in did_document["verificationMethod"] if m["id"] == proof["verificationMethod"]
    )
    key = Ed25519PublicKey.from_public_bytes(b64url_decode(method["publicKeyJwk"]["x"]))
    assert value.startswith("z")
    try:
        key.verify(_base58btc(value[1:]), digest)
    except InvalidSignature:
        return False
    return True


def _base58btc(text: str) -> bytes:
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    number = 0
    for char in text:
        number = number * 58 + alphabet.index(char)
    body = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return b"\x00" * (len(text) - len(text.lstrip("1"))) + body


class _BusySigner:
    """Fault injection: the JSON-LD work runs out of its time budget, as on a loaded machine
    (`canonicalization_timeout` is an `IndeterminateError`)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def sign(self, data: bytes) -> bytes:
        raise IndeterminateError(Code.CANONICALIZATION_TIMEOUT, "out of time (injected)")


def test_an_undecided_signing_is_a_503_to_retry_not_the_credentials_fault(
    served_di: Served, client: httpx.Client
) -> None:
    issuer = served_di.issuer
    real = issuer._signer
    issuer._signer = _BusySigner(real)  # type: ignore[assignment]
    credential = {"credential": legal_person(issuer.did)}
    try:
        busy = _post(client, served_di.issue_url, served_di.key, credential)
    finally:
        issuer._signer = real
    assert busy.status_code == 503, busy.text
    assert busy.headers["Retry-After"] == "1"
    assert busy.json()["code"] == "canonicalization_timeout"
    # Nothing was recorded: the same credential id is issued on the retry.
    again = _post(client, served_di.issue_url, served_di.key, credential)
    assert again.status_code == 201, again.text
