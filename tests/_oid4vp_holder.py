"""A test wallet for OpenID4VP 1.0, built from ancre's trust core (and joserfc for the JWE a
wallet encrypts): it fetches the Request Object, checks its signature against the
verifier's DID and its `typ`/`aud`/`client_id`, reads the DCQL query, builds the `vp_token`
(SD-JWT+KB, VP JWT) and posts it (`direct_post` or `direct_post.jwt`).

Every step is a separate method so tests can break exactly one thing (a nonce, a `state`, an
`enc`…) and see the verifier refuse it. Not a test module.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from joserfc import jwe
from joserfc.jwk import ECKey

from ancre.trust.clock import Clock
from ancre.trust.codec.b64 import b64url_decode
from ancre.trust.codec.json import loads_strict
from ancre.trust.did.document import DidResolver, did_of
from ancre.trust.did.jwk import did_jwk_from_public_key
from ancre.trust.did.resolvers import default_resolver
from ancre.trust.jose.jws import parse_compact
from ancre.trust.jose.vc_jose import issue_vp_jwt
from ancre.trust.keys.jwk import PrivateKey
from ancre.trust.policy import DEFAULT_ALGORITHMS
from ancre.trust.sd_jwt.issue import SdJwt
from ancre.trust.sd_jwt.present import present

REQUEST_TYP = "oauth-authz-req+jwt"
SELF_ISSUED = "https://self-issued.me/v2"


class WalletError(Exception):
    """The wallet refuses the request (what a real wallet would show its user)."""


class _Route(httpx.BaseTransport):
    """Sends requests for the verifier's public origin to the loopback server, as a reverse
    proxy would: the verifier signs https URLs, the test server listens on 127.0.0.1."""

    def __init__(self, public: str, actual: str) -> None:
        self._public, self._actual = public.rstrip("/"), actual.rstrip("/")
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        if url.startswith(self._public + "/"):
            request.url = httpx.URL(self._actual + url[len(self._public) :])
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def routed_client(public: str, actual: str) -> httpx.Client:
    return httpx.Client(transport=_Route(public, actual), trust_env=False)


@dataclass(frozen=True)
class AuthorizationRequest:
    """A Request Object whose signature, `typ`, `aud` and `client_id` the wallet checked."""

    client_id: str
    header: Mapping[str, Any]
    claims: Mapping[str, Any]
    token: str

    @property
    def nonce(self) -> str:
        value: str = self.claims["nonce"]
        return value

    @property
    def state(self) -> str:
        value: str = self.claims["state"]
        return value

    @property
    def response_uri(self) -> str:
        value: str = self.claims["response_uri"]
        return value

    @property
    def response_mode(self) -> str:
        value: str = self.claims["response_mode"]
        return value

    @property
    def dcql_query(self) -> Mapping[str, Any]:
        value: Mapping[str, Any] = self.claims["dcql_query"]
        return value

    @property
    def encryption_jwk(self) -> dict[str, Any]:
        keys = self.claims["client_metadata"]["jwks"]["keys"]
        assert len(keys) == 1
        return dict(keys[0])


def claims_path_pointer(path: Sequence[str | int | None]) -> str:
    """A DCQL claims path pointer as the JSON Pointer ancre's `present` takes (null: `*`)."""
    tokens = ["*" if p is None else str(p).replace("~", "~0").replace("/", "~1") for p in path]
    return "".join("/" + t for t in tokens)


def encrypt(
    payload: Mapping[str, Any] | bytes,
    jwk: Mapping[str, Any],
    *,
    enc: str = "A128GCM",
    alg: str = "ECDH-ES",
    kid: str | None = None,
) -> str:
    """§8.3: the Authorization Response as an unsigned JWT encrypted to `jwk` (joserfc)."""
    plaintext = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    public = {k: v for k, v in jwk.items() if k in ("kty", "crv", "x", "y", "n", "e")}
    key = ECKey.import_key(public) if public["kty"] == "EC" else _rsa(public)
    header = {"alg": alg, "enc": enc, "kid": kid if kid is not None else jwk.get("kid")}
    return jwe.encrypt_compact(header, plaintext, key, algorithms=[alg, enc])


def _rsa(public: Mapping[str, Any]) -> Any:
    from joserfc.jwk import RSAKey

    return RSAKey.import_key(dict(public))


@dataclass
class Wallet:
    """One holder key (a did:jwk), the credentials issued to it, an HTTP client."""

    http: httpx.Client
    clock: Clock
    key: PrivateKey = field(default_factory=lambda: PrivateKey.generate("p256"))
    resolver: DidResolver = field(default_factory=default_resolver)
    sd_jwts: list[SdJwt] = field(default_factory=list)
    vc_jwts: list[str] = field(default_factory=list)

    @property
    def did(self) -> str:
        return did_jwk_from_public_key(self.key.public_key)

    @property
    def kid(self) -> str:
        return f"{self.did}#0"

    # ---- the request -----------------------------------------------------------------

    def fetch(self, invocation: str, *, wallet_nonce: str | None = None) -> AuthorizationRequest:
        """Follow `openid4vp://?client_id=…&request_uri=…` and check the Request Object."""
        parts = urlsplit(invocation)
        if parts.scheme != "openid4vp":
            raise WalletError(f"not an openid4vp: URL: {invocation}")
        params = dict(parse_qsl(parts.query, strict_parsing=True))
        client_id, request_uri = params["client_id"], params["request_uri"]
        if params.get("request_uri_method", "get") == "post":
            form = {"wallet_metadata": json.dumps({"vp_formats_supported": {"dc+sd-jwt": {}}})}
            if wallet_nonce is not None:
                form["wallet_nonce"] = wallet_nonce
            response = self.http.post(
                request_uri, data=form, headers={"Accept": "application/oauth-authz-req+jwt"}
            )
        else:
            response = self.http.get(request_uri)
        if response.status_code != 200:
            raise WalletError(f"request_uri answered {response.status_code}: {response.text}")
        if response.headers["content-type"] != "application/oauth-authz-req+jwt":
            raise WalletError(f"Request Object media type {response.headers['content-type']}")
        return self.check_request(response.text, client_id, wallet_nonce=wallet_nonce)

    def check_request(
        self, token: str, client_id: str, *, wallet_nonce: str | None = None
    ) -> AuthorizationRequest:
        """OpenID4VP §5 and §5.9.3: `typ`, the signature by the key `kid` names in the
        verifier's DID document, `client_id` equal to the invocation's, `aud`, `exp`."""
        parsed = parse_compact(token, allowed_algs=DEFAULT_ALGORITHMS)
        if parsed.header.get("typ") != REQUEST_TYP:
            raise WalletError(f"Request Object typ {parsed.header.get('typ')!r}")
        prefix, _, did = client_id.partition(":")
        if prefix != "decentralized_identifier":
            raise WalletError(f"unsupported Client Identifier Prefix {prefix!r}")
        kid = parsed.header.get("kid")
        if not isinstance(kid, str) or did_of(kid) != did:
            raise WalletError(f"kid {kid!r} is not a key of {did}")
        key = self.resolver.resolve(did).authentication_key(kid)
        parsed.verify_with(key)
        claims = loads_strict(parsed.payload_bytes)
        if claims.get("client_id") != client_id:
            raise WalletError("the Request Object's client_id is not the invocation's")
        if claims.get("aud") != SELF_ISSUED:
            raise WalletError(f"Request Object aud {claims.get('aud')!r}")
        if claims.get("response_type") != "vp_token":
            raise WalletError("response_type is not vp_token")
        if datetime.fromtimestamp(claims["exp"], UTC) <= self.clock.now():
            raise WalletError("the Request Object has expired")
        if wallet_nonce is not None and claims.get("wallet_nonce") != wallet_nonce:
            raise WalletError("the Request Object does not echo our wallet_nonce")
        return AuthorizationRequest(client_id, parsed.header, claims, token)

    # ---- presentations ---------------------------------------------------------------

    def present_sd_jwt(
        self,
        credential: SdJwt,
        disclose: Sequence[str],
        request: AuthorizationRequest,
        *,
        audience: str | None = None,
        nonce: str | None = None,
        key_binding: bool = True,
    ) -> str:
        """An SD-JWT+KB: `aud` the Client Identifier, `nonce` the request's (§B.3.6)."""
        if not key_binding:
            return present(credential, disclose)
        return present(
            credential,
            disclose,
            holder_key=self.key,
            audience=audience if audience is not None else request.client_id,
            nonce=nonce if nonce is not None else request.nonce,
            clock=self.clock,
        )

    def present_vc_jwts(
        self,
        tokens: Sequence[str],
        request: AuthorizationRequest,
        *,
        audience: str | None = None,
        nonce: str | None = None,
        key: PrivateKey | None = None,
        holder: str | None = None,
    ) -> str:
        """A VP JWT (`aud` the Client Identifier, `nonce` the request's, §B.1.3.6)."""
        signer = key or self.key
        did = holder or did_jwk_from_public_key(signer.public_key)
        return issue_vp_jwt(
            tokens,
            signer,
            holder=did,
            kid=f"{did}#0",
            audience=audience if audience is not None else request.client_id,
            nonce=nonce if nonce is not None else request.nonce,
            clock=self.clock,
        )

    def answer(self, query: Mapping[str, Any], request: AuthorizationRequest) -> str:
        """The presentation a well-behaved wallet sends for one DCQL Credential Query:
        the first matching credential, with exactly the requested claims disclosed."""
        paths = [c["path"] for c in query.get("claims", [])]
        if query["format"] == "dc+sd-jwt":
            for credential in self.sd_jwts:
                claims = credential.unverified_claims()
                if claims["vct"] in query["meta"]["vct_values"]:
                    pointers = [claims_path_pointer(p) for p in paths]
                    return self.present_sd_jwt(credential, pointers, request)
        elif query["format"] == "jwt_vc_json":
            for token in self.vc_jwts:
                payload = json.loads(b64url_decode(token.split(".")[1]))
                types = set(payload.get("type", []))
                if any(set(option) <= types for option in query["meta"]["type_values"]):
                    return self.present_vc_jwts([token], request)
        raise WalletError(f"no credential matches {query['id']}")

    def vp_token(self, request: AuthorizationRequest) -> dict[str, list[str]]:
        """§8.1: one presentation per Credential Query, keyed by the query's id."""
        return {q["id"]: [self.answer(q, request)] for q in request.dcql_query["credentials"]}

    # ---- the response ----------------------------------------------------------------

    def respond(
        self,
        request: AuthorizationRequest,
        vp_token: Mapping[str, Any] | None = None,
        *,
        state: str | None = None,
        extra: Mapping[str, Any] | None = None,
        encrypt_to: Mapping[str, Any] | None = None,
        enc: str | None = None,
        alg: str = "ECDH-ES",
        kid: str | None = None,
        plaintext: bool | None = None,
    ) -> httpx.Response:
        """Post the Authorization Response to `response_uri`: `vp_token` + `state` in a form
        (direct_post) or encrypted in `response` (direct_post.jwt). `state=""` leaves it out;
        `plaintext=True` sends a form even when encryption was requested."""
        payload: dict[str, Any] = {}
        if vp_token is not None:
            payload["vp_token"] = dict(vp_token)
        chosen = request.state if state is None else state
        if chosen:
            payload["state"] = chosen
        payload.update(extra or {})
        encrypted = (
            request.response_mode == "direct_post.jwt" if plaintext is None else not plaintext
        )
        if encrypted:
            jwk = encrypt_to if encrypt_to is not None else request.encryption_jwk
            supported = request.claims["client_metadata"].get(
                "encrypted_response_enc_values_supported", ["A128GCM"]
            )
            form = {
                "response": encrypt(
                    payload,
                    jwk,
                    enc=enc or supported[0],
                    alg=alg,
                    kid=kid if kid is not None else request.encryption_jwk["kid"],
                )
            }
        else:
            form = {k: json.dumps(v) if k == "vp_token" else str(v) for k, v in payload.items()}
        return self.http.post(request.response_uri, data=form)
