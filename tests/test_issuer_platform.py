"""Several issuers in one deployment (`ancre.issuer.platform`) over loopback HTTPS: two
issuing organizations A and B on one platform, each under its own path with its own DID,
keys, database, status lists, VC-API clients and login binding. Whatever A hands out (a
pre-authorized or authorization code, an access token, a c_nonce, an API key, a credential
id) is refused at B with the spec's error, B cannot sign as A nor revoke what A issued, and
a platform whose issuers would share a path, DID or database does not start."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from _issuer_support import (
    LEGAL_PERSON_CLAIMS,
    PASSPHRASE,
    SCRYPT_N,
    Tls,
    Wallet,
    ancre_cli,
    bound_socket,
    make_issuer,
    make_tls,
    proof_jwt,
    serve_on,
)

from ancre.issuer.api import IssuerSettings
from ancre.issuer.authorize import StaticAuthentication, pkce_s256
from ancre.issuer.builders import CREDENTIAL_CONTEXT
from ancre.issuer.clients import ClientStore
from ancre.issuer.config import init_issuer, load_config
from ancre.issuer.platform import check_platform, create_platform_app, platform_members
from ancre.issuer.service import Issuer
from ancre.issuer.templates import Authorization
from ancre.issuer.vc_api import VcApiSettings
from ancre.trust.clock import SystemClock
from ancre.trust.codec.b64 import b64url_decode
from ancre.trust.did.resolvers import default_resolver
from ancre.trust.errors import ConfigurationError
from ancre.trust.net.guard import NetworkPolicy
from ancre.trust.result import Status
from ancre.trust.status.bitstring import decode_encoded_list
from ancre.trust.status.checker import StatusListChecker
from ancre.verifier.pipeline import verify

LOOPBACK = NetworkPolicy(allow_loopback=True, max_bytes=4 * 1024 * 1024)
OPERATOR = Authorization(method="operator", actor="alice", register_checked=True)
REDIRECT = "https://wallet.example/cb"


@dataclass
class Member:
    """One issuer of the platform: the library object, its URL and a VC-API key of its own."""

    issuer: Issuer
    url: str
    api_key: str

    def offer(self, wallet: Wallet) -> tuple[dict[str, Any], str]:
        """A fresh LegalPerson offer fetched by `wallet`: (the offer, its pre-authorized code)."""
        created = self.issuer.create_offer(
            "LegalPerson", LEGAL_PERSON_CLAIMS, authorization=OPERATOR
        )
        offer = wallet.fetch_offer(self.issuer.offer_uri(created))
        grant = offer["grants"]["urn:ietf:params:oauth:grant-type:pre-authorized_code"]
        return offer, grant["pre-authorized_code"]

    def access_token(self, wallet: Wallet) -> str:
        _offer, code = self.offer(wallet)
        response = wallet.token(self.url, code, None)
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token


@dataclass
class Platform:
    root: Path
    origin: str
    a: Member
    b: Member


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, tls: Tls) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("platform")
    sock, port = bound_socket()
    step = StaticAuthentication({"LegalPerson": LEGAL_PERSON_CLAIMS}, OPERATOR)
    members: list[tuple[Issuer, str]] = []
    settings = []
    for name in ("a", "b"):
        issuer = make_issuer(root / name, port, path=f"/issuers/{name}")
        key = (
            ClientStore(issuer.engine, issuer.clock)
            .add("erp", issuer_id=issuer.did, types=("LegalPerson",), actor="alice")
            .api_key
        )
        members.append((issuer, key))
        settings.append(IssuerSettings(issuer, vc_api=VcApiSettings(), authentication=step))
    with serve_on(sock, create_platform_app(settings), tls) as origin:
        a, b = (Member(i, f"{origin}{urlsplit(i.public_url).path}", k) for i, k in members)
        yield Platform(root, origin, a, b)


@pytest.fixture
def http(tls: Tls) -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=20, verify=tls.context()) as client:
        yield client


def _verify(token: str, client: httpx.Client) -> Any:
    clock = SystemClock()
    resolver = default_resolver(http_client=client, network=LOOPBACK, clock=clock)
    status = StatusListChecker(client=client, resolver=resolver, network=LOOPBACK)
    return verify(token, resolver=resolver, clock=clock, status=status)


def _payload(jwt: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(b64url_decode(jwt.split("~")[0].split(".")[1]))
    return result


def _refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body.get("error", body.get("code")) == code, body


def _vc_api(http: httpx.Client, url: str, key: str, body: Any) -> httpx.Response:
    return http.post(url, json=body, headers={"Authorization": f"Bearer {key}"})


def _legal_person(issuer: str) -> dict[str, Any]:
    return {
        "@context": list(CREDENTIAL_CONTEXT),
        "id": f"urn:uuid:{secrets.token_hex(4)}-0c55-4b8e-9a64-3f0e8f4e1a01",
        "type": ["VerifiableCredential", "gx:LegalPerson"],
        "issuer": issuer,
        "credentialSubject": {
            "id": "did:web:danone.example",
            "type": "gx:LegalPerson",
            **LEGAL_PERSON_CLAIMS,
        },
    }


def test_each_issuer_is_served_under_its_own_path(platform: Platform, http: httpx.Client) -> None:
    a, b, origin = platform.a, platform.b, platform.origin
    assert http.get(f"{origin}/health").json() == {"status": "ok"}
    keys: dict[str, set[str]] = {}
    for member in (a, b):
        document = http.get(f"{member.url}/did.json").json()
        assert document["id"] == member.issuer.did
        keys[member.issuer.did] = {m["publicKeyJwk"]["x"] for m in document["verificationMethod"]}
        assert all(
            m["id"].startswith(member.issuer.did + "#") for m in document["verificationMethod"]
        )
        # OpenID4VCI 1.0 §12.2.2 and RFC 8414 §3.1: the well-known segment goes between the
        # host and the issuer's path.
        path = urlsplit(member.url).path
        metadata = http.get(f"{origin}/.well-known/openid-credential-issuer{path}").json()
        assert metadata["credential_issuer"] == member.url
        assert metadata["credential_endpoint"] == f"{member.url}/credential"
        server = http.get(f"{origin}/.well-known/oauth-authorization-server{path}").json()
        assert server["issuer"] == member.url
        assert server["token_endpoint"] == f"{member.url}/token"
    assert not keys[a.issuer.did] & keys[b.issuer.did]  # B's document names none of A's keys
    for path in (
        "/.well-known/did.json",
        "/.well-known/openid-credential-issuer",
        "/.well-known/openid-credential-issuer/issuers/c",
        "/issuers/did.json",
        "/issuers/c/did.json",
        "/issuers/c/status/revocation-1",
        "/status/revocation-1",
        "/issuers/a/health",
    ):
        assert http.get(origin + path).status_code == 404, path
    for path in ("/token", "/issuers/c/token", "/nonce", "/credential", "/credentials/issue"):
        assert http.post(origin + path).status_code == 404, path


def test_a_credential_from_a_is_signed_and_verified_as_a(
    platform: Platform, http: httpx.Client
) -> None:
    a = platform.a
    created = a.issuer.create_offer("LegalPerson", LEGAL_PERSON_CLAIMS, authorization=OPERATOR)
    token = Wallet(http).obtain(a.issuer.offer_uri(created), None)
    result = _verify(token, http)
    assert result.status is Status.VALID, result.to_json()
    assert result.issuer == a.issuer.did
    header = json.loads(b64url_decode(token.split(".")[0]))
    assert header["kid"] == a.issuer.kid
    payload = _payload(token)
    assert payload["issuer"] == a.issuer.did
    for entry in payload["credentialStatus"]:
        assert entry["statusListCredential"].startswith(f"{a.url}/status/")
    assert platform.b.issuer.credential_info(payload["id"]) is None


def test_codes_tokens_and_nonces_of_a_are_refused_at_b(
    platform: Platform, http: httpx.Client
) -> None:
    a, b = platform.a, platform.b
    wallet = Wallet(http)

    # A's pre-authorized code at B's token endpoint: unknown there (RFC 6749 §5.2) …
    _offer, code = a.offer(wallet)
    _refused(wallet.token(b.url, code, None), 400, "invalid_grant")
    # … and not spent by the refusal: A still redeems it.
    granted = wallet.token(a.url, code, None)
    assert granted.status_code == 200, granted.text
    a_token = granted.json()["access_token"]

    # A's access token at B's credential endpoint, with an otherwise good proof for B.
    proof = proof_jwt(wallet.key, audience=b.url, nonce=wallet.nonce(b.url))
    _refused(wallet.request(b.url, a_token, "LegalPerson", proof), 401, "invalid_token")

    # A's c_nonce in a proof for B, with B's own access token.
    b_token = b.access_token(wallet)
    proof = proof_jwt(wallet.key, audience=b.url, nonce=wallet.nonce(a.url))
    _refused(wallet.request(b.url, b_token, "LegalPerson", proof), 400, "invalid_nonce")
    # A proof made for A (its `aud`), with a nonce of B's.
    proof = proof_jwt(wallet.key, audience=a.url, nonce=wallet.nonce(b.url))
    _refused(wallet.request(b.url, b_token, "LegalPerson", proof), 400, "invalid_proof")
    assert b.issuer.count_credentials() == 0

    # A's token is still good at A.
    proof = proof_jwt(wallet.key, audience=a.url, nonce=wallet.nonce(a.url))
    issued = wallet.request(a.url, a_token, "LegalPerson", proof)
    assert issued.status_code == 200, issued.text


def test_an_authorization_code_of_a_is_refused_at_b(platform: Platform, http: httpx.Client) -> None:
    a, b = platform.a, platform.b
    verifier = secrets.token_urlsafe(48)
    query = {
        "response_type": "code",
        "client_id": "test-wallet",
        "redirect_uri": REDIRECT,
        "code_challenge": pkce_s256(verifier),
        "code_challenge_method": "S256",
        "scope": "LegalPerson",
    }
    response = http.get(f"{a.url}/authorize?{urlencode(query)}")
    assert response.status_code == 303, response.text
    # Each issuer binds the browser with a cookie of its own name: logins under way at two
    # issuers of one host do not overwrite each other's.
    a_cookie = response.headers["set-cookie"].split("=")[0]
    b_cookie = http.get(f"{b.url}/authorize?{urlencode(query)}").headers["set-cookie"]
    assert a_cookie.startswith("__Host-ancre-browser-")
    assert b_cookie.split("=")[0] not in (a_cookie, "__Host-ancre-browser")
    back = parse_qs(urlsplit(response.headers["location"]).query)
    assert back["iss"] == [a.url]
    form = {
        "grant_type": "authorization_code",
        "code": back["code"][0],
        "code_verifier": verifier,
        "client_id": "test-wallet",
        "redirect_uri": REDIRECT,
    }
    _refused(http.post(f"{b.url}/token", data=form), 400, "invalid_grant")
    assert http.post(f"{a.url}/token", data=form).status_code == 200


def test_b_cannot_revoke_what_a_issued(platform: Platform, http: httpx.Client) -> None:
    a, b = platform.a, platform.b
    created = a.issuer.create_offer("LegalPerson", LEGAL_PERSON_CLAIMS, authorization=OPERATOR)
    token = Wallet(http).obtain(a.issuer.offer_uri(created), None)
    credential_id = _payload(token)["id"]

    # The operator's CLI, pointed at B: B never issued that id.
    refused = ancre_cli("issuer", "revoke", credential_id, "--dir", str(platform.root / "b"))
    assert refused.returncode == 1, refused.stderr
    assert "credential_not_found" in refused.stderr
    # Pointed at the platform rather than one of its issuers: told to name one.
    vague = ancre_cli("issuer", "revoke", credential_id, "--dir", str(platform.root))
    assert vague.returncode == 64
    assert "is a platform of 2 issuers (a, b)" in vague.stderr
    # B's VC-API, with B's own client: unknown there too.
    change = {
        "credentialId": credential_id,
        "credentialStatus": [{"type": "BitstringStatusListEntry", "status": "revoked"}],
    }
    _refused(
        _vc_api(http, f"{b.url}/credentials/status", b.api_key, change),
        404,
        "credential_not_found",
    )
    assert getattr(a.issuer.credential_info(credential_id), "state", None) == "valid"
    assert _verify(token, http).status is Status.VALID

    # Revoked at A, it is revoked; B's lists, signed by B, never carry A's statuses.
    assert a.issuer.set_status(credential_id, "revoke", actor="alice") == "revoked"
    assert [c.code for c in _verify(token, http).errors] == ["revoked"]
    for list_id in ("revocation-1", "suspension-1"):
        listed = _payload(http.get(f"{b.url}/status/{list_id}").text)
        assert listed["issuer"] == b.issuer.did
        assert listed["id"] == f"{b.url}/status/{list_id}"
        assert not any(decode_encoded_list(listed["credentialSubject"]["encodedList"]))
    assert all(e.subject != credential_id for e in b.issuer.audit_events(1000))
    assert b.issuer.verify_audit().ok


def test_vc_api_keys_and_issuer_ids_stay_with_their_issuer(
    platform: Platform, http: httpx.Client
) -> None:
    a, b = platform.a, platform.b
    # A's API key at B: not a client there, whatever the credential names.
    for named in (a.issuer.did, b.issuer.did):
        _refused(
            _vc_api(
                http, f"{b.url}/credentials/issue", a.api_key, {"credential": _legal_person(named)}
            ),
            401,
            "unauthorized",
        )
    issued = _vc_api(
        http, f"{a.url}/credentials/issue", a.api_key, {"credential": _legal_person(a.issuer.did)}
    )
    assert issued.status_code == 201, issued.text
    enveloped = issued.json()["verifiableCredential"]["id"]
    credential_id = _payload(enveloped.removeprefix("data:application/vc+jwt,"))["id"]
    change = {
        "credentialId": credential_id,
        "credentialStatus": [{"type": "BitstringStatusListEntry", "status": "revoked"}],
    }
    _refused(_vc_api(http, f"{b.url}/credentials/status", a.api_key, change), 401, "unauthorized")
    # B's own client may not sign as A, even one registered at B with A's DID.
    _refused(
        _vc_api(
            http,
            f"{b.url}/credentials/issue",
            b.api_key,
            {"credential": _legal_person(a.issuer.did)},
        ),
        403,
        "issuer_not_allowed",
    )
    impostor = ClientStore(b.issuer.engine, b.issuer.clock).add(
        f"as-a-{secrets.token_hex(2)}", issuer_id=a.issuer.did, types=("LegalPerson",), actor="eve"
    )
    _refused(
        _vc_api(
            http,
            f"{b.url}/credentials/issue",
            impostor.api_key,
            {"credential": _legal_person(a.issuer.did)},
        ),
        403,
        "issuer_not_allowed",
    )
    assert getattr(a.issuer.credential_info(credential_id), "state", None) == "valid"
    assert all(row.id != credential_id for row in b.issuer.credentials(1000))


# -- refused platforms, and the CLI ------------------------------------------------------


def _init(directory: Path, did: str, **options: Any) -> None:
    """An issuer folder, as `ancre issuer init` makes it (its library call, faster)."""
    init_issuer(
        directory,
        did=did,
        passphrase=PASSPHRASE,
        clock=SystemClock(),
        scrypt_n=SCRYPT_N,
        **options,
    )


def test_a_platform_whose_issuers_would_share_a_path_or_database_is_refused(
    tmp_path: Path,
) -> None:
    root = tmp_path / "platform"
    _init(root / "a", "did:web:agency.example:issuers:a")
    _init(
        root / "b", "did:web:other.example:issuers:a", public_url="https://agency.example/issuers/a"
    )
    served = ancre_cli("issuer", "serve", "--dir", str(root), "--no-accreditation-check")
    assert served.returncode == 64
    assert "a and b have the same path '/issuers/a'" in served.stderr
    # Their DIDs name different hosts, but one app serves both DID documents.
    assert "publish their DID documents at the same path '/issuers/a/did.json'" in served.stderr

    def refusal(*members: str) -> str:
        configs = [(name, load_config(root / name), None) for name in members]
        with pytest.raises(ConfigurationError) as caught:
            check_platform(configs)
        return caught.value.message

    _init(root / "c", "did:web:agency.example:issuers:a:c")
    assert "a and c have nested paths" in refusal("a", "c")
    _init(root / "d", "did:web:agency.example")
    assert "a and d have nested paths ('/issuers/a', '/')" in refusal("a", "d")
    shared = "sqlite:///" + str(root / "a" / "issuer.db")
    _init(root / "e", "did:web:agency.example:issuers:e", database=shared)
    assert "a and e share one database" in refusal("a", "e")
    # One issuer folder given twice (as a copy would be), at two URLs: one DID, one store.
    twin = load_config(root / "a")
    with pytest.raises(ConfigurationError) as caught:
        check_platform([("a", twin, None), ("f", twin, "https://agency.example/issuers/f")])
    assert "a and f have the same DID did:web:agency.example:issuers:a" in caught.value.message
    assert "share one key store" in caught.value.message
    assert "nested" not in caught.value.message

    # An issuer cannot be made inside another, nor a folder of issuers made an issuer.
    with pytest.raises(ConfigurationError, match="is an issuer: put this one beside it"):
        _init(root / "a" / "x", "did:web:x.example")
    with pytest.raises(ConfigurationError, match=r"holds issuers \(a platform\)"):
        _init(root, "did:web:x.example")
    assert platform_members(root) == tuple(root / n for n in "abcde")
    assert platform_members(root / "a") is None


@pytest.mark.slow
def test_serve_runs_a_platform_directory(tmp_path: Path, tls: Tls) -> None:
    """`ancre issuer serve --dir PLATFORM`: every issuer of the folder, each at its path."""
    import os
    import subprocess
    import sys
    import time

    from _issuer_support import CLI_ENV

    sock, port = bound_socket()
    sock.close()  # the subprocess binds it; a race with another process is unlikely here
    origin = f"https://localhost:{port}"
    root = tmp_path / "platform"
    for name in ("a", "b"):
        _init(root / name, f"did:web:localhost%3A{port}:issuers:{name}")
    with_url = ancre_cli("issuer", "serve", "--dir", str(root), "--public-url", origin)
    assert with_url.returncode == 64
    assert "is a platform of 2 issuers" in with_url.stderr
    command = [
        sys.executable, "-m", "ancre.cli.main", "issuer", "serve", "--dir", str(root),
        "--port", str(port), "--tls-cert", str(tls.cert), "--tls-key", str(tls.key),
        "--no-accreditation-check",
    ]  # fmt: skip
    log = tmp_path / "serve.log"
    with log.open("w") as sink:
        server = subprocess.Popen(
            command, env={**os.environ, **CLI_ENV}, stdout=subprocess.DEVNULL, stderr=sink
        )
    try:
        # A client of its own, closed before the server stops (uvicorn waits for open
        # keep-alive connections).
        with httpx.Client(trust_env=False, timeout=20, verify=tls.context()) as http:
            for _ in range(400):  # bounded wait for start-up
                try:
                    if http.get(f"{origin}/health").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.05)
            else:
                raise RuntimeError("ancre issuer serve did not start")
            for name in ("a", "b"):
                made = ancre_cli(
                    "issuer", "offer", "--dir", str(root / name), "--type", "LegalPerson",
                    "--claims", str(_claims_file(tmp_path)), "--json",
                )  # fmt: skip
                assert made.returncode == 0, made.stderr
                token = Wallet(http).obtain(json.loads(made.stdout)["offer_uri"], None)
                result = _verify(token, http)
                assert result.status is Status.VALID, result.to_json()
                assert result.issuer == f"did:web:localhost%3A{port}:issuers:{name}"
    finally:
        server.terminate()
        server.wait(10)
    err = log.read_text()
    assert f"issuer did:web:localhost%3A{port}:issuers:a at {origin}/issuers/a" in err
    assert f"issuer did:web:localhost%3A{port}:issuers:b at {origin}/issuers/b" in err


def _claims_file(directory: Path) -> Path:
    path = directory / "claims.json"
    path.write_text(json.dumps(LEGAL_PERSON_CLAIMS))
    return path
