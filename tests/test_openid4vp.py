"""OpenID4VP 1.0 verifier endpoints over real HTTP on loopback, with a test wallet built from
ancre's trust core (`_oid4vp_holder`): the signed Request Object, dc+sd-jwt and jwt_vc_json
round trips in direct_post and direct_post.jwt, and every way a response can be wrong —
binding (nonce, aud, KB), state, replay, expiry, the JWE (tampered, other alg/enc/key,
plaintext), the DCQL query not met, hostile bodies — plus the caller's side (DCQL
validation, API token, the bounded store)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from _asgi_server import serve
from _oid4vp_holder import AuthorizationRequest, Wallet, WalletError, encrypt, routed_client
from _support import NOW, Issuer, credential

from ancre.trust.clock import FixedClock
from ancre.trust.codec.b64 import b64url_encode
from ancre.trust.did.jwk import did_jwk_from_public_key
from ancre.trust.errors import ConfigurationError, InvalidError
from ancre.trust.jose.jws import parse_compact, sign_compact
from ancre.trust.jose.vc_jose import envelope_credential, issue_vc_jwt
from ancre.trust.keys.jwk import PrivateKey
from ancre.trust.policy import VerificationPolicy
from ancre.trust.sd_jwt.issue import SdJwt
from ancre.trust.sd_jwt.vc import issue_sd_jwt_vc
from ancre.verifier.openid4vp import OpenID4VPSettings, parse_dcql, select_claims
from ancre.verifier.service import VerifierSettings, create_app

PUBLIC = "https://verifier.example"
TOKEN = "caller-api-token-0123456789"
VCT = "https://credentials.example/membership"
SD_QUERY: dict[str, Any] = {
    "id": "membership",
    "format": "dc+sd-jwt",
    "meta": {"vct_values": [VCT]},
    "claims": [{"path": ["given_name"]}, {"path": ["address", "locality"]}],
}
VC_QUERY: dict[str, Any] = {
    "id": "member_vc",
    "format": "jwt_vc_json",
    "meta": {"type_values": [["VerifiableCredential", "ExampleMembership"]]},
    "claims": [{"path": ["credentialSubject", "memberOf"]}],
}
CLAIMS = {
    "given_name": "Ada",
    "family_name": "Lovelace",
    "member_of": "Data space Loire",
    "address": {"locality": "Nantes", "postal_code": "44000"},
}
DISCLOSABLE = [
    "/given_name",
    "/family_name",
    "/member_of",
    "/address/locality",
    "/address/postal_code",
]


NO_CLAIMS = {k: v for k, v in SD_QUERY.items() if k != "claims"}


def dcql(*queries: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"credentials": list(queries), **extra}


@dataclass
class Env:
    """A running verifier, a caller client (the RP backend) and a wallet."""

    caller: httpx.Client
    wallet: Wallet
    clock: FixedClock
    settings: OpenID4VPSettings
    issuer: Issuer

    def create(
        self, query: dict[str, Any], mode: str = "direct_post.jwt", **extra: Any
    ) -> dict[str, Any]:
        response = self.caller.post(
            "/openid4vp/requests", json={"dcql_query": query, "response_mode": mode, **extra}
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def start(
        self, query: dict[str, Any], mode: str = "direct_post.jwt"
    ) -> tuple[dict[str, Any], AuthorizationRequest]:
        created = self.create(query, mode)
        return created, self.wallet.fetch(created["authorization_request"])

    def result(self, created: dict[str, Any]) -> httpx.Response:
        return self.caller.get(f"/openid4vp/requests/{created['transaction_id']}/result")

    def verdict(self, created: dict[str, Any]) -> dict[str, Any]:
        response = self.result(created)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def sd_jwt(self, *, holder: bool = True, vct: str = VCT, **claims: Any) -> SdJwt:
        return issue_sd_jwt_vc(
            {**CLAIMS, **claims},
            self.issuer.key,
            issuer=self.issuer.did,
            kid=self.issuer.kid,
            vct=vct,
            disclosable=DISCLOSABLE,
            holder_jwk=self.wallet.key.public_key if holder else None,
            issued_at=NOW - timedelta(days=1),
            valid_until=NOW + timedelta(days=365),
        )

    def vc_jwt(self, subject: str | None = None, issuer: Issuer | None = None) -> str:
        issuer = issuer or self.issuer
        doc = credential(
            issuer.did,
            credentialSubject={"id": subject or self.wallet.did, "memberOf": "Data space Loire"},
        )
        return issue_vc_jwt(doc, issuer.key, issuer.kid)


def _settings(**overrides: Any) -> OpenID4VPSettings:
    key = PrivateKey.generate("p256")
    did = did_jwk_from_public_key(key.public_key)
    return replace(
        OpenID4VPSettings(
            key=key,
            did=did,
            kid=f"{did}#0",
            base_url=PUBLIC,
            api_token=TOKEN,
            # Module-scoped apps create many transactions from one address; the per-client
            # limit has its own test (tests/security).
            create_burst=10_000,
        ),
        **overrides,
    )


@contextmanager
def running(policy: VerificationPolicy | None = None, **overrides: Any) -> Iterator[Env]:
    clock = FixedClock(NOW)
    settings = _settings(**overrides)
    app = create_app(
        VerifierSettings(
            clock=clock,
            openid4vp=settings,
            policy=policy or VerificationPolicy(),
            no_trust_check=policy is None or policy.trusted_issuers is None,
        )
    )
    headers = {"Authorization": f"Bearer {settings.api_token}"} if settings.api_token else {}
    with (
        serve(app) as base,
        httpx.Client(base_url=base, trust_env=False, headers=headers) as caller,
        routed_client(PUBLIC, base) as wallet_http,
    ):
        wallet = Wallet(wallet_http, clock)
        issuer = Issuer.new("p256")
        wallet.sd_jwts.append(
            issue_sd_jwt_vc(
                CLAIMS,
                issuer.key,
                issuer=issuer.did,
                kid=issuer.kid,
                vct=VCT,
                disclosable=DISCLOSABLE,
                holder_jwk=wallet.key.public_key,
                issued_at=NOW - timedelta(days=1),
                valid_until=NOW + timedelta(days=365),
            )
        )
        env = Env(caller, wallet, clock, settings, issuer)
        wallet.vc_jwts.append(env.vc_jwt())
        yield env


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    """One verifier for the tests that neither move its clock nor change its settings."""
    with running() as e:
        yield e


@pytest.fixture
def own_env() -> Iterator[Env]:
    with running() as e:
        yield e


def _codes(verdict: dict[str, Any]) -> list[str]:
    return [e["code"] for e in verdict["errors"]]


def _assert_pending(env: Env, created: dict[str, Any]) -> None:
    response = env.result(created)
    assert response.status_code == 202
    assert response.json()["status"] == "pending"


# ------------------------------------------------------------------------------------------
# the request


def test_request_object_is_signed_by_the_verifier_did_and_typed(env: Env) -> None:
    query = dcql(SD_QUERY)
    created = env.create(query)
    # The invocation URL: both parameters percent-encoded, and they round-trip exactly.
    invocation = created["authorization_request"]
    assert invocation.startswith("openid4vp://?client_id=decentralized_identifier%3Adid%3Ajwk%3A")
    params = dict(parse_qsl(urlsplit(invocation).query, strict_parsing=True))
    assert params == {"client_id": env.settings.client_id, "request_uri": created["request_uri"]}
    assert created["request_uri"].startswith(f"{PUBLIC}/openid4vp/request-objects/")
    assert created["expires_at"] == "2026-01-15T12:05:00Z"

    response = env.wallet.http.get(created["request_uri"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/oauth-authz-req+jwt"
    assert response.headers["cache-control"] == "no-store"
    request = env.wallet.check_request(response.text, env.settings.client_id)
    assert request.header["typ"] == "oauth-authz-req+jwt"
    assert request.header["kid"] == env.settings.kid
    assert request.header["alg"] == "ES256"
    claims = request.claims
    assert claims["client_id"] == f"decentralized_identifier:{env.settings.did}"
    assert claims["aud"] == "https://self-issued.me/v2"
    assert claims["response_type"] == "vp_token"
    assert claims["response_mode"] == "direct_post.jwt"
    assert claims["response_uri"].startswith(f"{PUBLIC}/openid4vp/responses/")
    assert claims["dcql_query"] == query
    assert (claims["iat"], claims["exp"]) == (int(NOW.timestamp()), int(NOW.timestamp()) + 300)
    assert len(claims["nonce"]) >= 22
    assert len(claims["state"]) >= 22
    assert claims["nonce"] != claims["state"]
    metadata = claims["client_metadata"]
    assert metadata["encrypted_response_enc_values_supported"] == ["A128GCM", "A256GCM"]
    assert set(metadata["vp_formats_supported"]) == {"dc+sd-jwt", "jwt_vc_json"}
    (jwk,) = metadata["jwks"]["keys"]
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == ("EC", "P-256", "ECDH-ES", "enc")
    assert "d" not in jwk
    assert jwk["kid"]
    # The transaction id (the key to the result) appears nowhere the wallet sees.
    assert created["transaction_id"] not in response.text + invocation

    # The signature covers the claims: change one and the verifier's key refuses it.
    head, _payload, signature = response.text.split(".")
    forged = dict(claims, response_uri="https://attacker.example/post")
    tampered = f"{head}.{b64url_encode(json.dumps(forged).encode())}.{signature}"
    with pytest.raises(InvalidError, match="signature does not verify"):
        env.wallet.check_request(tampered, env.settings.client_id)
    # Each transaction gets its own nonce, state and encryption key.
    other = env.wallet.fetch(env.create(query)["authorization_request"])
    assert other.nonce != request.nonce
    assert other.state != request.state
    assert other.encryption_jwk["x"] != jwk["x"]


def test_request_object_by_post_echoes_wallet_nonce(env: Env) -> None:
    created = env.create(dcql(SD_QUERY), request_uri_method="post")
    assert created["authorization_request"].endswith("&request_uri_method=post")
    request = env.wallet.fetch(created["authorization_request"], wallet_nonce="qPmxiNFCR3QTm19")
    assert request.claims["wallet_nonce"] == "qPmxiNFCR3QTm19"
    response = env.wallet.http.post(created["request_uri"], data={"wallet_metadata": "[1]"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_direct_post_mode_has_no_encryption_key(env: Env) -> None:
    _, request = env.start(dcql(SD_QUERY), "direct_post")
    assert request.response_mode == "direct_post"
    assert "jwks" not in request.claims["client_metadata"]


# ------------------------------------------------------------------------------------------
# round trips


@pytest.mark.parametrize("mode", ["direct_post", "direct_post.jwt"])
def test_sd_jwt_round_trip(env: Env, mode: str) -> None:
    created, request = env.start(dcql(SD_QUERY), mode)
    _assert_pending(env, created)
    response = env.wallet.respond(request, env.wallet.vp_token(request))
    assert response.status_code == 200, response.text
    assert response.json() == {}
    verdict = env.verdict(created)
    assert verdict["status"] == "valid"
    assert verdict["verified"] is True
    assert verdict["errors"] == []
    assert verdict["response_mode"] == mode
    (presentation,) = verdict["credentials"]["membership"]
    assert presentation["status"] == "valid"
    assert presentation["format"] == "dc+sd-jwt"
    assert presentation["issuer"] == env.issuer.did
    binding = next(c for c in presentation["checks"] if c["step"] == "holder_binding")
    assert "nonce matches" in binding["message"]
    assert env.settings.client_id in binding["message"]
    # Exactly what was asked is disclosed: given_name and the locality, not the rest.
    claims = presentation["claims"]
    assert claims["given_name"] == "Ada"
    assert claims["address"] == {"locality": "Nantes"}
    assert "family_name" not in claims
    assert "member_of" not in claims


def test_jwt_vc_json_round_trip(env: Env) -> None:
    created, request = env.start(dcql(VC_QUERY))
    response = env.wallet.respond(request, env.wallet.vp_token(request))
    assert response.status_code == 200, response.text
    verdict = env.verdict(created)
    assert verdict["status"] == "valid", verdict
    (presentation,) = verdict["credentials"]["member_vc"]
    assert presentation["format"] == "vp+jwt"
    assert presentation["holder"] == env.wallet.did
    assert presentation["credentials"][0]["issuer"] == env.issuer.did
    assert presentation["claims"]["credentialSubject"]["memberOf"] == "Data space Loire"


def test_two_credential_queries_in_one_request(env: Env) -> None:
    created, request = env.start(dcql(SD_QUERY, VC_QUERY), "direct_post")
    vp_token = env.wallet.vp_token(request)
    assert set(vp_token) == {"membership", "member_vc"}
    assert env.wallet.respond(request, vp_token).status_code == 200
    verdict = env.verdict(created)
    assert verdict["status"] == "valid"
    assert set(verdict["credentials"]) == {"membership", "member_vc"}


def test_trusted_issuers_policy_applies_to_every_presentation() -> None:
    trusted = Issuer.new("p256")
    with running(VerificationPolicy(trusted_issuers=frozenset({trusted.did}))) as env:
        created, request = env.start(dcql(SD_QUERY, VC_QUERY))
        # The SD-JWT VC comes from the fixture's (untrusted) issuer, the VC from `trusted`.
        env.wallet.vc_jwts[:] = [env.vc_jwt(issuer=trusted)]
        response = env.wallet.respond(request, env.wallet.vp_token(request))
        assert response.status_code == 400
        assert "issuer_not_trusted" in response.json()["error_description"]
        verdict = env.verdict(created)
        assert verdict["status"] == "invalid"
        assert [(e["credential_query"], e["code"]) for e in verdict["errors"]] == [
            ("membership", "issuer_not_trusted")
        ]
        assert verdict["credentials"]["member_vc"][0]["status"] == "valid"
        assert "claims" not in verdict["credentials"]["membership"][0]


# ------------------------------------------------------------------------------------------
# holder binding


@pytest.mark.parametrize(
    ("query", "field", "code"),
    [
        (SD_QUERY, "nonce", "nonce_mismatch"),
        (SD_QUERY, "audience", "audience_mismatch"),
        (VC_QUERY, "nonce", "nonce_mismatch"),
        (VC_QUERY, "audience", "audience_mismatch"),
    ],
)
def test_presentation_bound_to_another_transaction_or_verifier(
    env: Env, query: dict[str, Any], field: str, code: str
) -> None:
    created, request = env.start(dcql(query))
    # A presentation made for another request (nonce) or another verifier (aud): the
    # bare DID, without the Client Identifier Prefix, is another audience too (§14.7).
    nonce = "another-nonce" if field == "nonce" else None
    audience = env.settings.did if field == "audience" else None
    if query is SD_QUERY:
        presentation = env.wallet.present_sd_jwt(
            env.wallet.sd_jwts[0],
            ["/given_name", "/address/locality"],
            request,
            nonce=nonce,
            audience=audience,
        )
    else:
        presentation = env.wallet.present_vc_jwts(
            env.wallet.vc_jwts, request, nonce=nonce, audience=audience
        )
    response = env.wallet.respond(request, {query["id"]: [presentation]})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    verdict = env.verdict(created)
    assert verdict["status"] == "invalid"
    assert _codes(verdict) == [code]
    assert verdict["errors"][0]["step"] == "holder_binding"


def test_sd_jwt_without_key_binding_is_refused(env: Env) -> None:
    created, request = env.start(dcql(SD_QUERY))
    # A bearer SD-JWT (no `cnf`) presented without KB-JWT verifies as a credential, but is
    # no Verifiable Presentation: OpenID4VP requires holder binding by default.
    bearer = env.sd_jwt(holder=False)
    presentation = env.wallet.present_sd_jwt(
        bearer, ["/given_name", "/address/locality"], request, key_binding=False
    )
    assert presentation.endswith("~")
    assert env.wallet.respond(request, {"membership": [presentation]}).status_code == 400
    assert _codes(env.verdict(created)) == ["key_binding_missing"]

    # A holder-bound SD-JWT without its KB-JWT: the pipeline refuses it.
    created, request = env.start(dcql(SD_QUERY))
    unbound = env.wallet.present_sd_jwt(
        env.wallet.sd_jwts[0], ["/given_name", "/address/locality"], request, key_binding=False
    )
    assert env.wallet.respond(request, {"membership": [unbound]}).status_code == 400
    assert _codes(env.verdict(created)) == ["key_binding_missing"]


def test_jwt_vc_json_credential_of_someone_else(env: Env) -> None:
    created, request = env.start(dcql(VC_QUERY))
    # The wallet presents, under its own DID, a credential issued to another subject.
    stolen = env.vc_jwt(subject="did:example:victim")
    vp = env.wallet.present_vc_jwts([stolen], request)
    assert env.wallet.respond(request, {"member_vc": [vp]}).status_code == 400
    verdict = env.verdict(created)
    assert _codes(verdict) == ["holder_mismatch"]
    assert verdict["credentials"]["member_vc"][0]["status"] == "valid"  # the VP itself is fine


def _holder_less_vp(env: Env, token: str, request: AuthorizationRequest, key: PrivateKey) -> str:
    """A VP JWT that names no holder (VCDM 2.0: optional): only its `kid` says who signed."""
    did = did_jwk_from_public_key(key.public_key)
    payload = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiablePresentation"],
        "verifiableCredential": [envelope_credential(token)],
        "aud": request.client_id,
        "nonce": request.nonce,
        "iat": int(env.clock.now().timestamp()),
    }
    header = {"typ": "vp+jwt", "kid": f"{did}#0"}
    return sign_compact(header, json.dumps(payload).encode(), key)


def test_jwt_vc_json_without_holder_binds_its_signer(env: Env) -> None:
    """Holder binding stays fail-closed for a VP JWT without `holder`: the DID whose key
    signed it is the holder compared with the credential's subject."""
    created, request = env.start(dcql(VC_QUERY))
    vp = _holder_less_vp(env, env.vc_jwt(), request, env.wallet.key)
    assert env.wallet.respond(request, {"member_vc": [vp]}).status_code == 200
    assert env.verdict(created)["verified"] is True
    created, request = env.start(dcql(VC_QUERY))
    thief = _holder_less_vp(env, env.vc_jwt(), request, PrivateKey.generate("p256"))
    assert env.wallet.respond(request, {"member_vc": [thief]}).status_code == 400
    verdict = env.verdict(created)
    assert _codes(verdict) == ["holder_mismatch"]
    assert verdict["credentials"]["member_vc"][0]["status"] == "valid"


def test_jwt_vc_json_needs_a_presentation(env: Env) -> None:
    created, request = env.start(dcql(VC_QUERY))
    # A bare vc+jwt carries no proof of possession at all: the pipeline refuses to drop the
    # transaction's nonce/audience binding.
    assert env.wallet.respond(request, {"member_vc": env.wallet.vc_jwts}).status_code == 400
    assert _codes(env.verdict(created)) == ["policy_violation"]


# ------------------------------------------------------------------------------------------
# state, replay, expiry


@pytest.mark.parametrize("state", ["", "wrong-state-value"])
def test_wrong_or_missing_state_changes_nothing(env: Env, state: str) -> None:
    created, request = env.start(dcql(SD_QUERY), "direct_post")
    vp_token = env.wallet.vp_token(request)
    response = env.wallet.respond(request, vp_token, state=state)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert "state" in response.json()["error_description"]
    # The transaction is untouched: the real wallet can still answer.
    _assert_pending(env, created)
    assert env.wallet.respond(request, vp_token).status_code == 200
    assert env.verdict(created)["status"] == "valid"


def test_wrong_state_inside_the_jwe(env: Env) -> None:
    created, request = env.start(dcql(SD_QUERY))
    response = env.wallet.respond(request, env.wallet.vp_token(request), state="forged")
    assert response.status_code == 400
    _assert_pending(env, created)


def test_replayed_response_is_refused_and_the_first_result_stays(env: Env) -> None:
    created, request = env.start(dcql(SD_QUERY), "direct_post")
    vp_token = env.wallet.vp_token(request)
    assert env.wallet.respond(request, vp_token).status_code == 200
    first = env.verdict(created)
    replay = env.wallet.respond(request, vp_token)
    assert replay.status_code == 400
    assert replay.json()["error_description"] == "this request has already been answered"
    # An invalid response after the fact does not overwrite the verdict either.
    assert env.wallet.respond(request, {"membership": ["x~"]}).status_code == 400
    assert env.verdict(created) == first
    # Nor is the Request Object served again.
    assert env.wallet.http.get(created["request_uri"]).status_code == 410


def test_concurrent_responses_only_one_is_accepted(env: Env) -> None:
    created, request = env.start(dcql(SD_QUERY), "direct_post")
    vp_token = env.wallet.vp_token(request)
    codes: list[int] = []
    barrier = threading.Barrier(4)

    def post() -> None:
        barrier.wait()
        codes.append(env.wallet.respond(request, vp_token).status_code)

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(codes) == [200, 400, 400, 400]
    assert env.verdict(created)["status"] == "valid"


def test_expired_transaction(own_env: Env) -> None:
    env = own_env
    created, request = env.start(dcql(SD_QUERY), "direct_post")
    vp_token = env.wallet.vp_token(request)
    env.clock.advance(timedelta(minutes=5))
    response = env.wallet.respond(request, vp_token)
    assert response.status_code == 400
    assert response.json()["error_description"] == "this request has expired"
    assert env.wallet.http.get(created["request_uri"]).status_code == 410
    gone = env.result(created)
    assert gone.status_code == 410
    assert gone.headers["content-type"] == "application/problem+json"
    assert gone.json()["code"] == "transaction_expired"
    # After the retention period the transaction is forgotten altogether.
    env.clock.advance(timedelta(minutes=10))
    assert env.result(created).json()["code"] == "transaction_not_found"
    assert env.result(created).status_code == 404
    assert env.wallet.http.get(created["request_uri"]).status_code == 404


def test_result_is_not_readable_with_the_public_request_id(env: Env) -> None:
    created, request = env.start(dcql(SD_QUERY))
    env.wallet.respond(request, env.wallet.vp_token(request))
    request_id = created["request_uri"].rsplit("/", 1)[1]
    response = env.caller.get(f"/openid4vp/requests/{request_id}/result")
    assert response.status_code == 404
    assert env.result(created).status_code == 200


# ------------------------------------------------------------------------------------------
# the encrypted response (direct_post.jwt)


def test_tampered_jwe(env: Env) -> None:
    created, request = env.start(dcql(SD_QUERY))
    payload = {"vp_token": env.wallet.vp_token(request), "state": request.state}
    token = encrypt(payload, request.encryption_jwk)
    head, key, iv, ciphertext, tag = token.split(".")
    flipped = ciphertext[:10] + ("A" if ciphertext[10] != "A" else "B") + ciphertext[11:]
    tampered = ".".join((head, key, iv, flipped, tag))
    response = env.wallet.http.post(request.response_uri, data={"response": tampered})
    assert response.status_code == 400
    assert "does not decrypt" in response.json()["error_description"]
    _assert_pending(env, created)
    ok = env.wallet.http.post(request.response_uri, data={"response": token})
    assert ok.status_code == 200


@pytest.mark.parametrize(
    ("alg", "enc", "message"),
    [
        ("ECDH-ES", "A128CBC-HS256", "enc 'A128CBC-HS256' is not allowed"),
        ("ECDH-ES", "A192GCM", "enc 'A192GCM' is not allowed"),  # supported, not offered
        ("ECDH-ES+A128KW", "A128GCM", "alg 'ECDH-ES+A128KW' is not allowed"),
        ("RSA-OAEP-256", "A128GCM", "alg 'RSA-OAEP-256' is not allowed"),
    ],
)
def test_jwe_algorithms_outside_the_allow_list(env: Env, alg: str, enc: str, message: str) -> None:
    created, request = env.start(dcql(SD_QUERY))
    vp_token = env.wallet.vp_token(request)
    if alg.startswith("RSA"):
        from joserfc.jwk import RSAKey  # ancre has no RSA encryption keys: joserfc makes one

        target: dict[str, Any] = {**RSAKey.generate_key(2048).as_dict(private=False), "kid": "r"}
    else:
        target = request.encryption_jwk
    response = env.wallet.respond(request, vp_token, encrypt_to=target, alg=alg, enc=enc)
    assert response.status_code == 400
    assert message in response.json()["error_description"]
    _assert_pending(env, created)


def test_jwe_to_another_key_or_kid(env: Env) -> None:
    created, request = env.start(dcql(SD_QUERY))
    vp_token = env.wallet.vp_token(request)
    from joserfc.jwk import ECKey

    other = {**ECKey.generate_key("P-256").as_dict(private=False), "kid": "x"}
    # Same kid, another key: the ECDH secret differs and AES-GCM refuses.
    response = env.wallet.respond(
        request, vp_token, encrypt_to=other, kid=request.encryption_jwk["kid"]
    )
    assert response.status_code == 400
    assert "does not decrypt" in response.json()["error_description"]
    # The right key under another kid.
    response = env.wallet.respond(request, vp_token, kid="another-kid")
    assert response.status_code == 400
    assert "kid" in response.json()["error_description"]
    _assert_pending(env, created)


def test_plaintext_response_when_encryption_was_requested(env: Env) -> None:
    created, request = env.start(dcql(SD_QUERY))
    vp_token = env.wallet.vp_token(request)
    response = env.wallet.respond(request, vp_token, plaintext=True)
    assert response.status_code == 400
    assert "direct_post.jwt" in response.json()["error_description"]
    _assert_pending(env, created)
    # Both at once is refused too: the plaintext could differ from what was encrypted.
    both = {
        "response": encrypt({"vp_token": vp_token, "state": request.state}, request.encryption_jwk),
        "vp_token": json.dumps(vp_token),
        "state": request.state,
    }
    assert env.wallet.http.post(request.response_uri, data=both).status_code == 400
    _assert_pending(env, created)


def test_encrypted_response_when_plaintext_was_requested(env: Env) -> None:
    created, request = env.start(dcql(SD_QUERY), "direct_post")
    jwk = env.wallet.fetch(env.create(dcql(SD_QUERY))["authorization_request"]).encryption_jwk
    response = env.wallet.respond(
        request, env.wallet.vp_token(request), encrypt_to=jwk, kid=jwk["kid"], plaintext=False
    )
    assert response.status_code == 400
    assert "not requested" in response.json()["error_description"]
    _assert_pending(env, created)


@pytest.mark.parametrize(
    "payload",
    [b"not json", b"[1, 2]", b'{"state": "a", "state": "b"}'],
    ids=["not-json", "array", "duplicate-key"],
)
def test_jwe_with_a_malformed_payload(env: Env, payload: bytes) -> None:
    created, request = env.start(dcql(SD_QUERY))
    token = encrypt(payload, request.encryption_jwk)
    response = env.wallet.http.post(request.response_uri, data={"response": token})
    assert response.status_code == 400
    _assert_pending(env, created)


# ------------------------------------------------------------------------------------------
# the DCQL query, checked by the verifier (§14.9: never trust the wallet to apply it)


def test_missing_requested_claim(env: Env) -> None:
    created, request = env.start(dcql(SD_QUERY))
    partial = env.wallet.present_sd_jwt(env.wallet.sd_jwts[0], ["/given_name"], request)
    assert env.wallet.respond(request, {"membership": [partial]}).status_code == 400
    verdict = env.verdict(created)
    assert _codes(verdict) == ["dcql_not_satisfied"]
    assert "['address', 'locality']" in verdict["errors"][0]["message"]
    assert verdict["credentials"]["membership"][0]["status"] == "valid"


def test_wrong_vct(env: Env) -> None:
    created, request = env.start(dcql(SD_QUERY))
    other = env.sd_jwt(vct="https://credentials.example/other")
    presentation = env.wallet.present_sd_jwt(other, ["/given_name", "/address/locality"], request)
    assert env.wallet.respond(request, {"membership": [presentation]}).status_code == 400
    verdict = env.verdict(created)
    assert _codes(verdict) == ["dcql_not_satisfied"]
    assert "https://credentials.example/other" in verdict["errors"][0]["message"]


def test_wrong_format_for_the_query(env: Env) -> None:
    created, request = env.start(dcql(SD_QUERY))
    vp = env.wallet.present_vc_jwts(env.wallet.vc_jwts, request)
    assert env.wallet.respond(request, {"membership": [vp]}).status_code == 400
    assert _codes(env.verdict(created)) == ["dcql_not_satisfied"]


def test_jwt_vc_json_type_values_not_met(env: Env) -> None:
    query = {**VC_QUERY, "meta": {"type_values": [["VerifiableCredential", "gx:LegalPerson"]]}}
    created, request = env.start(dcql(query))
    vp = env.wallet.present_vc_jwts(env.wallet.vc_jwts, request)
    assert env.wallet.respond(request, {"member_vc": [vp]}).status_code == 400
    assert _codes(env.verdict(created)) == ["dcql_not_satisfied"]


def test_type_values_accept_the_vcdm_iri(env: Env) -> None:
    iri = "https://www.w3.org/2018/credentials#VerifiableCredential"
    query = {**VC_QUERY, "meta": {"type_values": [["gx:Nope"], [iri, "ExampleMembership"]]}}
    created, request = env.start(dcql(query))
    vp = env.wallet.present_vc_jwts(env.wallet.vc_jwts, request)
    assert env.wallet.respond(request, {"member_vc": [vp]}).status_code == 200
    assert env.verdict(created)["status"] == "valid"


@pytest.mark.parametrize(
    ("values", "accepted"),
    [(["Nantes", "Lyon"], True), (["Lyon"], False), ([44000], False)],
)
def test_claim_values(env: Env, values: list[Any], accepted: bool) -> None:
    query = {**SD_QUERY, "claims": [{"path": ["address", "locality"], "values": values}]}
    created, request = env.start(dcql(query))
    response = env.wallet.respond(request, env.wallet.vp_token(request))
    assert (response.status_code == 200) is accepted
    assert env.verdict(created)["verified"] is accepted


@pytest.mark.parametrize(("disclose", "accepted"), [(["/member_of"], True), ([], False)])
def test_claim_sets(env: Env, disclose: list[str], accepted: bool) -> None:
    query = {
        **SD_QUERY,
        "claims": [
            {"id": "name", "path": ["family_name"]},
            {"id": "first", "path": ["given_name"]},
            {"id": "member", "path": ["member_of"]},
        ],
        "claim_sets": [["name", "first"], ["member"]],
    }
    created, request = env.start(dcql(query))
    presentation = env.wallet.present_sd_jwt(env.wallet.sd_jwts[0], disclose, request)
    response = env.wallet.respond(request, {"membership": [presentation]})
    assert (response.status_code == 200) is accepted
    verdict = env.verdict(created)
    assert verdict["verified"] is accepted
    if not accepted:
        assert verdict["errors"][0]["message"] == "no option of claim_sets is satisfied"


def test_credential_sets_optional_query_may_be_left_out(env: Env) -> None:
    query = dcql(
        SD_QUERY,
        VC_QUERY,
        credential_sets=[
            {"options": [["membership"]]},
            {"options": [["member_vc"]], "required": False},
        ],
    )
    created, request = env.start(query)
    vp_token = {"membership": env.wallet.vp_token(request)["membership"]}
    assert env.wallet.respond(request, vp_token).status_code == 200
    assert env.verdict(created)["status"] == "valid"
    # Without the required one, the response is refused.
    created, request = env.start(query)
    vp_token = {"member_vc": env.wallet.vp_token(request)["member_vc"]}
    assert env.wallet.respond(request, vp_token).status_code == 400
    assert _codes(env.verdict(created)) == ["dcql_not_satisfied"]


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda t: {**t, "unknown_query": t["membership"]}, "invalid_vp_token"),
        (lambda t: {}, "invalid_vp_token"),
        (lambda t: {"membership": t["membership"] * 2}, "invalid_vp_token"),
        (lambda t: {"membership": []}, "invalid_vp_token"),
        (lambda t: {"membership": [{"not": "a string"}]}, "invalid_vp_token"),
        (lambda t: {"membership": "not an array"}, "invalid_vp_token"),
        (lambda t: {"member_vc": t["member_vc"]}, "dcql_not_satisfied"),
    ],
    ids=[
        "unknown-id",
        "empty",
        "two-without-multiple",
        "no-presentation",
        "object",
        "string",
        "query-left-out",
    ],
)
def test_vp_token_shape(env: Env, mutate: Any, code: str) -> None:
    created, request = env.start(dcql(SD_QUERY, VC_QUERY))
    vp_token = mutate(env.wallet.vp_token(request))
    assert env.wallet.respond(request, vp_token).status_code == 400
    verdict = env.verdict(created)
    assert verdict["status"] == "invalid"
    assert code in _codes(verdict)


def test_multiple_presentations_when_allowed(env: Env) -> None:
    created, request = env.start(dcql({**SD_QUERY, "multiple": True}))
    one = env.wallet.vp_token(request)["membership"][0]
    two = env.wallet.present_sd_jwt(env.sd_jwt(), ["/given_name", "/address/locality"], request)
    assert env.wallet.respond(request, {"membership": [one, two]}).status_code == 200
    assert len(env.verdict(created)["credentials"]["membership"]) == 2


def test_malformed_vp_token_with_the_right_state_consumes_the_transaction(env: Env) -> None:
    created, request = env.start(dcql(SD_QUERY), "direct_post")
    form = {"vp_token": '{"membership": ["a", ', "state": request.state}
    assert env.wallet.http.post(request.response_uri, data=form).status_code == 400
    verdict = env.verdict(created)
    assert (verdict["status"], _codes(verdict)) == ("invalid", ["malformed_json"])


def test_wallet_error_response_is_recorded(env: Env) -> None:
    # §8.3.1: a wallet that cannot encrypt may send an error in the clear.
    created, request = env.start(dcql(SD_QUERY))
    form = {"error": "access_denied", "error_description": "user declined", "state": request.state}
    response = env.wallet.http.post(request.response_uri, data=form)
    assert response.status_code == 200
    assert response.json() == {}
    verdict = env.verdict(created)
    assert verdict["status"] == "invalid"
    assert verdict["verified"] is False
    assert verdict["wallet_error"] == {
        "error": "access_denied",
        "error_description": "user declined",
    }
    assert _codes(verdict) == ["wallet_error"]
    # ... but not without the state, nor with characters OAuth forbids.
    created, request = env.start(dcql(SD_QUERY))
    assert env.wallet.http.post(request.response_uri, data={"error": "x"}).status_code == 400
    bad = {"error": 'a"b', "state": request.state}
    assert env.wallet.http.post(request.response_uri, data=bad).status_code == 400
    _assert_pending(env, created)


# ------------------------------------------------------------------------------------------
# hostile input on the wallet-facing endpoints


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"vp_token=a&vp_token=b&state=s", "application/x-www-form-urlencoded"),
        (b"state=%FF%FE", "application/x-www-form-urlencoded"),
        (b"state==&&", "application/x-www-form-urlencoded"),
        (b'{"vp_token": {}}', "application/json"),
        (b"", "application/x-www-form-urlencoded"),
        (b"response=a.b.c.d.e", "application/x-www-form-urlencoded"),
        (b"response=e30.." + b"A" * 20 + b"..", "application/x-www-form-urlencoded"),
    ],
    ids=["repeated", "bad-utf8", "bad-form", "json", "empty", "jwe-garbage", "jwe-parts"],
)
def test_hostile_response_bodies(env: Env, content: bytes, content_type: str) -> None:
    created, request = env.start(dcql(SD_QUERY))
    response = env.wallet.http.post(
        request.response_uri, content=content, headers={"Content-Type": content_type}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert response.headers["cache-control"] == "no-store"
    _assert_pending(env, created)


def test_oversized_bodies_are_refused_unread(env: Env) -> None:
    created, request = env.start(dcql(SD_QUERY))
    big = b"vp_token=" + b"A" * (1024 * 1024)
    response = env.wallet.http.post(
        request.response_uri,
        content=big,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
    assert response.json()["error"] == "invalid_request"
    _assert_pending(env, created)
    response = env.caller.post("/openid4vp/requests", content=b"{" + b" " * (1024 * 1024) + b"}")
    assert response.status_code == 413
    assert response.json()["code"] == "input_too_large"


def test_unknown_request_ids(env: Env) -> None:
    response = env.wallet.http.post(f"{PUBLIC}/openid4vp/responses/nope", data={"state": "x"})
    assert response.status_code == 400
    assert env.wallet.http.get(f"{PUBLIC}/openid4vp/request-objects/nope").status_code == 404
    assert env.caller.get("/openid4vp/requests/nope/result").status_code == 404


# ------------------------------------------------------------------------------------------
# the caller's side


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ({}, "credentials must be a non-empty array"),
        ({"credentials": []}, "credentials must be a non-empty array"),
        ([SD_QUERY], "dcql_query must be a JSON object"),
        (dcql(SD_QUERY, SD_QUERY), "ids must be unique"),
        (dcql({**SD_QUERY, "id": "a b"}), "A-Z a-z 0-9"),
        (dcql({**SD_QUERY, "format": "mso_mdoc"}), "format 'mso_mdoc' is not supported"),
        (dcql({**SD_QUERY, "format": "ldp_vc"}), "not supported"),
        (dcql({k: v for k, v in SD_QUERY.items() if k != "meta"}), "meta must be a JSON object"),
        (dcql({**SD_QUERY, "meta": {}}), "vct_values must be a non-empty array"),
        (dcql({**SD_QUERY, "meta": {"doctype_value": "x"}}), "unsupported member"),
        (dcql({**VC_QUERY, "meta": {"type_values": ["VerifiableCredential"]}}), "non-empty array"),
        (dcql({**SD_QUERY, "claims": []}), "claims must be a non-empty array"),
        (dcql({**SD_QUERY, "claims": [{"path": []}]}), "path must be a non-empty array"),
        (dcql({**SD_QUERY, "claims": [{"path": [-1]}]}), "non-negative integers"),
        (dcql({**SD_QUERY, "claims": [{"path": [True]}]}), "non-negative integers"),
        (dcql({**SD_QUERY, "claims": [{"path": [1.5]}]}), "non-negative integers"),
        (dcql({**SD_QUERY, "claims": [{"path": ["a"]}, {"path": ["a"]}]}), "requested twice"),
        (dcql({**SD_QUERY, "claims": [{"path": ["a"], "values": [1.5]}]}), "values holds"),
        (dcql({**SD_QUERY, "claims": [{"path": ["a"], "intent_to_retain": True}]}), "member"),
        (dcql({**VC_QUERY, "claims": None}), "claims must be a non-empty array"),
        (dcql({**SD_QUERY, "claim_sets": [["a"]]}), "id is required when claim_sets"),
        (dcql({**NO_CLAIMS, "claim_sets": [["a"]]}), "claim_sets needs claims"),
        (
            dcql({**SD_QUERY, "claims": [{"id": "a", "path": ["a"]}], "claim_sets": [["zz"]]}),
            "unknown claim ids ['zz']",
        ),
        (
            dcql({**SD_QUERY, "claims": [{"id": "a", "path": ["a"]}, {"id": "a", "path": ["b"]}]}),
            "claim ids must be unique",
        ),
        (dcql({**SD_QUERY, "trusted_authorities": [{"type": "aki", "values": ["x"]}]}), "trust"),
        (dcql({**SD_QUERY, "require_cryptographic_holder_binding": False}), "holder binding"),
        (dcql({**SD_QUERY, "multiple": "yes"}), "must be a boolean"),
        (dcql(SD_QUERY, credential_sets=[{"options": [["nope"]]}]), "unknown credential query"),
        (dcql(SD_QUERY, credential_sets=[{"options": [["membership"]], "purpose": "x"}]), "member"),
        ({**dcql(SD_QUERY), "extension": 1}, "unsupported member"),
        (dcql(*({**SD_QUERY, "id": f"q{i}"} for i in range(17))), "the limit is 16"),
    ],
)
def test_malformed_dcql_is_refused_at_creation(env: Env, query: Any, fragment: str) -> None:
    response = env.caller.post("/openid4vp/requests", json={"dcql_query": query})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "invalid_dcql_query"
    assert fragment in body["detail"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"not json", "malformed_json"),
        (b'{"dcql_query": {}, "dcql_query": {}}', "duplicate_json_key"),
        (b"[]", "invalid_request"),
        (
            json.dumps({"dcql_query": dcql(SD_QUERY), "response_mode": "fragment"}).encode(),
            "invalid_request",
        ),
        (
            json.dumps({"dcql_query": dcql(SD_QUERY), "request_uri_method": "put"}).encode(),
            "invalid_request",
        ),
        (json.dumps({"dcql_query": dcql(SD_QUERY), "nonce": "mine"}).encode(), "invalid_request"),
    ],
)
def test_malformed_creation_bodies(env: Env, body: bytes, code: str) -> None:
    response = env.caller.post("/openid4vp/requests", content=body)
    assert response.status_code == 400
    assert response.json()["code"] == code


def test_dcql_parsing_keeps_what_it_checks() -> None:
    parsed = parse_dcql(dcql({**SD_QUERY, "multiple": True}, VC_QUERY))
    sd, vc = parsed.credentials
    assert (sd.id, sd.format, sd.multiple, sd.vct_values) == (
        "membership",
        "dc+sd-jwt",
        True,
        (VCT,),
    )
    assert [c.path for c in sd.claims] == [("given_name",), ("address", "locality")]
    assert vc.type_values == (("VerifiableCredential", "ExampleMembership"),)
    assert parsed.credential_sets is None


def test_claims_path_pointer_semantics() -> None:
    # OpenID4VP §7.4's own example.
    doc = {
        "name": "Arthur Dent",
        "address": {"street_address": "42 Market Street", "postal_code": "12345"},
        "degrees": [
            {"type": "Bachelor of Science", "university": "University of Betelgeuse"},
            {"type": "Master of Science", "university": "University of Betelgeuse"},
        ],
        "nationalities": ["British", "Betelgeusian"],
    }
    assert select_claims(doc, ["name"]) == ["Arthur Dent"]
    assert select_claims(doc, ["address", "street_address"]) == ["42 Market Street"]
    assert select_claims(doc, ["degrees", None, "type"]) == [
        "Bachelor of Science",
        "Master of Science",
    ]
    assert select_claims(doc, ["nationalities", 1]) == ["Betelgeusian"]
    bad_paths: list[list[str | int | None]] = [
        ["missing"],
        ["name", "x"],
        ["nationalities", 5],
        ["address", None],
    ]
    for bad in bad_paths:
        with pytest.raises(Exception, match=r"no such claim|non-"):
            select_claims(doc, bad)


def test_api_token_is_required_when_configured(env: Env) -> None:
    anonymous = httpx.Client(base_url=str(env.caller.base_url), trust_env=False)
    with anonymous:
        body = {"dcql_query": dcql(SD_QUERY)}
        for headers in (
            {},
            {"Authorization": "Bearer wrong-token-000000000"},
            {"Authorization": TOKEN},
        ):
            response = anonymous.post("/openid4vp/requests", json=body, headers=headers)
            assert response.status_code == 401
            assert response.json()["code"] == "unauthorized"
            assert response.headers["www-authenticate"].startswith("Bearer")
        created = env.create(dcql(SD_QUERY))
        result = anonymous.get(f"/openid4vp/requests/{created['transaction_id']}/result")
        assert result.status_code == 401
        # The wallet-facing endpoints never need it.
        assert env.wallet.fetch(created["authorization_request"]).nonce


def test_open_backend_lets_anyone_create() -> None:
    # Issue 12, point 19: no token is an explicit choice now (open_backend), not the default.
    with pytest.raises(ConfigurationError, match="api_token"):
        _settings(api_token=None)
    with running(api_token=None, open_backend=True) as env:
        env.caller.headers.pop("Authorization", None)
        created = env.create(dcql(SD_QUERY), "direct_post")
        assert env.result(created).status_code == 202


def test_store_is_bounded() -> None:
    with running(max_transactions=2) as env:
        first = env.create(dcql(SD_QUERY))
        env.create(dcql(SD_QUERY))
        response = env.caller.post("/openid4vp/requests", json={"dcql_query": dcql(SD_QUERY)})
        assert response.status_code == 503
        assert response.json()["code"] == "too_many_transactions"
        assert response.headers["retry-after"] == "300"
        # Existing transactions are untouched (none was evicted to make room).
        assert env.result(first).status_code == 202
        env.clock.advance(timedelta(minutes=15))
        assert (
            env.caller.post("/openid4vp/requests", json={"dcql_query": dcql(SD_QUERY)}).status_code
            == 201
        )


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="https"):
        _settings(base_url="http://verifier.example")
    with pytest.raises(ConfigurationError, match="DID URL"):
        _settings(kid="did:jwk:other#0")
    with pytest.raises(ConfigurationError, match="enc_values"):
        _settings(enc_values=("A128CBC-HS256",))
    assert _settings(base_url="http://127.0.0.1:8080/").base_url == "http://127.0.0.1:8080"
    settings = _settings()
    assert settings.client_id == f"decentralized_identifier:{settings.did}"
    assert TOKEN not in repr(settings)


def test_wallet_checks_catch_a_request_from_someone_else(env: Env) -> None:
    created = env.create(dcql(SD_QUERY))
    token = env.wallet.http.get(created["request_uri"]).text
    # Claimed to come from another verifier DID: the signature does not match its key.
    impostor = did_jwk_from_public_key(PrivateKey.generate("p256").public_key)
    with pytest.raises(WalletError, match="not a key of"):
        env.wallet.check_request(token, f"decentralized_identifier:{impostor}")
    assert parse_compact(token, allowed_algs={"ES256"}).header["typ"] == "oauth-authz-req+jwt"


def test_dcql_error_is_an_ancre_error_with_a_stable_code() -> None:
    from ancre.trust.errors import AncreError, Code, MalformedError
    from ancre.verifier.openid4vp import DcqlError

    with pytest.raises(DcqlError) as caught:
        parse_dcql({"credentials": []})
    assert isinstance(caught.value, MalformedError)
    assert isinstance(caught.value, AncreError)
    assert caught.value.code is Code.INVALID_DCQL_QUERY
