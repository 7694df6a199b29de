"""Answering an OpenID4VP 1.0 request (the wallet side).

`openid4vp://?client_id=…&request_uri=…` → the Request Object, fetched by reference through
the SSRF guard (GET, or POST with `wallet_nonce` when `request_uri_method=post`, §5.10) →
its signature checked against the verifier's DID (Client Identifier Prefix
`decentralized_identifier`, §5.9.3), with `typ`, `client_id`, `aud`, `response_type` and
`exp` → the DCQL query matched against the wallet's valid credentials (§6) → what would be
disclosed, and to whom, shown to the user (:func:`describe`) → the `vp_token` (an SD-JWT+KB
disclosing exactly the requested claims, or a `vp+jwt` with one `vc+jwt`; `aud` is the
Client Identifier and `nonce` the request's) → `direct_post` (form) or `direct_post.jwt`
(the response encrypted to the verifier's ephemeral key, ECDH-ES + AES-GCM, §8.3).

Gaia-X onboarding (the verifier's `gaia-x-onboarding` profile): a `jwt_vc_json` query for the
terms-and-conditions credential (``gx:Issuer``) that no held credential answers is answered
with one the wallet signs now, as `ancre wallet onboard` does — with the identity that holds
the other credentials chosen, so that every presentation has one holder (the user consents
to it with the rest, :func:`describe`). Queries are answered by one identity when it can.

Not supported yet: `credential_sets` and `claim_sets` alternatives (every query is answered
with its listed claims), `multiple`, other Client Identifier Prefixes (`x509_san_dns`,
`redirect_uri`…), the same-device flow.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import parse_qsl, unquote, urlsplit

from ancre.trust.clock import Clock, SystemClock
from ancre.trust.codec.json import loads_strict
from ancre.trust.did.document import did_of
from ancre.trust.did.resolvers import default_resolver
from ancre.trust.errors import AncreError, Code, InvalidError, MalformedError
from ancre.trust.jose.jws import parse_compact
from ancre.trust.jose.vc_jose import issue_vp_jwt
from ancre.trust.policy import DEFAULT_ALGORITHMS
from ancre.trust.sd_jwt.issue import SdJwt
from ancre.trust.sd_jwt.present import present as present_sd_jwt
from ancre.trust.vcdm.credentials import GX_ISSUER

from .credentials import SD_JWT, VC_JWT, HeldCredential, list_credentials
from .http import Http
from .identities import Identity, list_identities
from .onboard import terms_and_conditions_credential
from .store import WalletStore

__all__ = ["Answer", "Request", "build_answer", "describe", "fetch_request", "send_answer"]

REQUEST_TYP: Final = "oauth-authz-req+jwt"
SELF_ISSUED: Final = "https://self-issued.me/v2"
PREFIX: Final = "decentralized_identifier"
_MAX_INVOCATION: Final = 8 * 1024
_MODES: Final = ("direct_post", "direct_post.jwt")


#: 9999-12-31T23:59:59Z: the last second `datetime` can hold.
_MAX_NUMERIC_DATE: Final = 253_402_300_799


def _refused(why: str) -> InvalidError:
    return InvalidError(Code.OFFER_INVALID, f"OpenID4VP request refused: {why}")


@dataclass(frozen=True, slots=True)
class Request:
    """A Request Object whose signature, `typ`, `client_id`, `aud` and `exp` were checked."""

    client_id: str
    verifier: str
    claims: Mapping[str, Any]

    @property
    def nonce(self) -> str:
        return str(self.claims["nonce"])

    @property
    def state(self) -> str | None:
        state = self.claims.get("state")
        return state if isinstance(state, str) else None

    @property
    def response_uri(self) -> str:
        return str(self.claims["response_uri"])

    @property
    def response_mode(self) -> str:
        return str(self.claims["response_mode"])


def fetch_request(invocation: str, *, http: Http, clock: Clock) -> Request:
    """Follow an `openid4vp://` invocation and check the signed Request Object."""
    if len(invocation) > _MAX_INVOCATION:
        raise MalformedError(Code.OFFER_INVALID, "the openid4vp: URL is too long")
    try:
        parts = urlsplit(invocation.strip())
    except ValueError:  # an unbalanced `[` (IPv6) in the netloc
        raise MalformedError(Code.OFFER_INVALID, "the openid4vp: URL is malformed") from None
    if parts.scheme != "openid4vp":
        raise MalformedError(Code.OFFER_INVALID, "expected an openid4vp:// URL")
    try:
        params = dict(parse_qsl(parts.query, strict_parsing=True, max_num_fields=8))
    except ValueError:
        raise MalformedError(
            Code.OFFER_INVALID, "the openid4vp: URL's query is malformed"
        ) from None
    client_id, request_uri = params.get("client_id"), params.get("request_uri")
    if not client_id or not request_uri:
        raise _refused("the URL needs client_id and request_uri (request by reference)")
    prefix, _, did = client_id.partition(":")
    if prefix != PREFIX or not did.startswith("did:"):
        raise _refused(f"unsupported Client Identifier Prefix {prefix[:40]!r}")
    wallet_nonce = None
    if params.get("request_uri_method", "get") == "post":
        wallet_nonce = secrets.token_urlsafe(16)
        answer = http.post(
            request_uri,
            form={
                "wallet_metadata": json.dumps(
                    {"vp_formats_supported": {SD_JWT: {}, "jwt_vc_json": {}}}
                ),
                "wallet_nonce": wallet_nonce,
            },
            headers={"Accept": "application/oauth-authz-req+jwt"},
        )
    else:
        answer = http.get(request_uri, accept="application/oauth-authz-req+jwt")
    if answer.status != 200:
        raise _refused(f"request_uri answered HTTP {answer.status}")
    if answer.content_type != "application/oauth-authz-req+jwt":
        raise _refused(f"the Request Object's media type is {answer.content_type[:60]!r}")
    token = answer.body.decode("ascii", "replace").strip()
    parsed = parse_compact(token, allowed_algs=DEFAULT_ALGORITHMS)
    if parsed.header.get("typ") != REQUEST_TYP:
        raise _refused(f"Request Object typ {str(parsed.header.get('typ'))[:40]!r}")
    kid = parsed.header.get("kid")
    if not isinstance(kid, str) or did_of(kid) != did:
        raise _refused(f"kid {str(kid)[:80]!r} is not a key of {did[:80]}")
    # DID documents over https only, as for credentials (see credentials.Checker).
    network = replace(http.network, allow_http=False)
    resolver = default_resolver(http_client=http.client, network=network, clock=clock)
    parsed.verify_with(resolver.resolve(did).authentication_key(kid))
    claims = loads_strict(parsed.payload_bytes, what="Request Object")
    if not isinstance(claims, dict):
        raise _refused("the Request Object's payload is not an object")
    if claims.get("client_id") != client_id:
        raise _refused("the Request Object's client_id is not the URL's")
    if claims.get("aud") != SELF_ISSUED:
        raise _refused("the Request Object is not addressed to a wallet (aud)")
    if claims.get("response_type") != "vp_token":
        raise _refused("response_type is not vp_token")
    exp = claims.get("exp")
    # A NumericDate past year 9999 is no date (found by the fuzzer: OverflowError).
    if type(exp) is not int or not 0 < exp < _MAX_NUMERIC_DATE:
        raise _refused("the Request Object's exp is not a NumericDate")
    if datetime.fromtimestamp(exp, UTC) <= clock.now():
        raise _refused("the Request Object has expired")
    if wallet_nonce is not None and claims.get("wallet_nonce") != wallet_nonce:
        raise _refused("the Request Object does not echo the wallet_nonce")
    if claims.get("response_mode") not in _MODES:
        raise _refused(f"response_mode {str(claims.get('response_mode'))[:40]!r}")
    if not isinstance(claims.get("nonce"), str) or not isinstance(claims.get("response_uri"), str):
        raise _refused("nonce and response_uri are required")
    if not isinstance(claims.get("dcql_query"), dict):
        raise _refused("no dcql_query")
    check_response_uri(did, claims["response_uri"])
    return Request(client_id, did, claims)


def check_response_uri(did: str, response_uri: str) -> None:
    """Where the answer may go (issue 17). OpenID4VP 1.0 binds no origin to a
    ``decentralized_identifier`` Client Identifier, but a did:web names one: an answer for
    ``did:web:verifier.example`` posted to another host would reach someone the user was
    never shown. So a did:web verifier's ``response_uri`` must be on its DID's host (and
    port); for other DID methods it is shown to the user before consent. Never userinfo or a
    fragment (RFC 3986 tricks to make a URL read as another host)."""
    try:
        parts = urlsplit(response_uri)
        hostname = parts.hostname
    except ValueError:  # an unbalanced IPv6 bracket, found by the fuzzer
        raise _refused("response_uri is not a URL") from None
    if parts.scheme not in ("https", "http") or not hostname:
        raise _refused("response_uri is not an http(s) URL")
    if "@" in parts.netloc or parts.fragment:
        raise _refused("response_uri may carry neither userinfo nor a fragment")
    if did.startswith("did:web:"):
        host = unquote(did[len("did:web:") :].split(":", 1)[0]).lower()
        if parts.netloc.lower() != host:
            raise _refused(
                f"response_uri is on {parts.netloc[:80]!r}, not on {host[:80]!r} as {did[:80]} says"
            )


def _check_path(query_id: str, path: Any) -> None:
    """A DCQL claims path (§7): a non-empty array of claim names, indices or null. Anything
    else would become a JSON Pointer that discloses more than the user is shown (an empty
    path is the whole credential; a claim named ``*`` reads as every claim)."""
    if not isinstance(path, list) or not 1 <= len(path) <= 16:
        raise _refused(f"query {query_id[:40]!r}: a claims path has 1 to 16 elements")
    for part in path:
        if part is None or (type(part) is int and 0 <= part < 2**31):
            continue
        if type(part) is not str or not part or len(part) > 256 or part == "*":
            raise _refused(
                f"query {query_id[:40]!r}: a path element is a claim name, an index or null"
            )


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _pointer(path: Sequence[Any]) -> str:
    tokens = ["*" if p is None else str(p).replace("~", "~0").replace("/", "~1") for p in path]
    return "".join("/" + t for t in tokens)


@dataclass(frozen=True, slots=True)
class Choice:
    """One DCQL credential query answered by one held credential."""

    query_id: str
    credential: HeldCredential
    #: JSON Pointers of the disclosed claims (SD-JWT VC); empty for a vc+jwt (all of it).
    disclose: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Answer:
    """What the wallet would send: one choice per credential query."""

    request: Request
    choices: tuple[Choice, ...]


#: The id of the terms-and-conditions credential signed for an answer (not a stored one).
SIGNED_NOW: Final = "terms-and-conditions (signed now)"


def _asks_for_terms(options: Sequence[Sequence[str]]) -> bool:
    """A `type_values` that the Gaia-X T&C credential (``gx:Issuer``) answers."""
    return any(set(o) <= {"VerifiableCredential", GX_ISSUER} and GX_ISSUER in o for o in options)


def _terms(
    identity: Identity | None, identities: Sequence[Identity], clock: Clock
) -> HeldCredential:
    """The Gaia-X T&C credential, signed now by `identity` (else the wallet's only one)."""
    if identity is None:
        if len(identities) != 1:
            raise InvalidError(
                Code.NO_MATCHING_CREDENTIAL,
                "the verifier asks for the Gaia-X terms and conditions alone: choose which "
                "identity signs them by answering with its credentials",
            )
        identity = identities[0]
    token = terms_and_conditions_credential(identity, clock)
    return HeldCredential(
        id=SIGNED_NOW,
        format=VC_JWT,
        types=("VerifiableCredential", GX_ISSUER),
        issuer=identity.did,
        subject=None,
        valid_until=None,
        status="valid",
        status_checked_at=None,
        received_at="",
        identity=identity.id,
        token=token,
    )


def build_answer(store: WalletStore, request: Request, *, clock: Clock | None = None) -> Answer:
    """Match the DCQL query against the wallet's valid credentials (the first match per
    query, of the identity answering the first query when it holds one); the Gaia-X
    terms-and-conditions credential is signed when asked for and not held."""
    query = request.claims["dcql_query"]
    if "credential_sets" in query:
        raise _refused("credential_sets are not supported by this wallet yet")
    queries = query.get("credentials")
    if not isinstance(queries, list) or not queries or len(queries) > 16:
        raise _refused("dcql_query.credentials must list 1 to 16 queries")
    held = [c for c in list_credentials(store)[0] if c.status == "valid"]
    choices: list[Choice | None] = []
    terms_queries: list[str] = []
    answering: str | None = None  # the identity of the first credential chosen
    for q in queries:
        if not isinstance(q, dict) or not isinstance(q.get("id"), str):
            raise _refused("a credential query has no id")
        raw_meta = q.get("meta")
        meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
        claims = q.get("claims", [])
        if not isinstance(claims, list) or not all(
            isinstance(c, dict) and isinstance(c.get("path"), list) for c in claims
        ):
            raise _refused(f"query {q['id'][:40]!r}: claims must be objects with a path")
        for c in claims:
            _check_path(q["id"], c["path"])
        pointers = tuple(_pointer(c["path"]) for c in claims)
        match = None
        if q.get("format") == SD_JWT:
            vcts = meta.get("vct_values") or []
            if not _strings(vcts):  # a string would match by substring, a number crash
                raise _refused(f"query {q['id'][:40]!r}: vct_values must be a list of strings")
            match = _first(
                [c for c in held if c.format == SD_JWT and c.types[0] in vcts], answering
            )
        elif q.get("format") == "jwt_vc_json":
            options = meta.get("type_values") or []
            if not isinstance(options, list) or not all(_strings(o) for o in options):
                raise _refused(
                    f"query {q['id'][:40]!r}: type_values must be a list of lists of strings"
                )
            match = _first(
                [
                    c
                    for c in held
                    if c.format == VC_JWT and any(set(o) <= set(c.types) for o in options)
                ],
                answering,
            )
            if match is None and _asks_for_terms(options):
                terms_queries.append(q["id"])
                choices.append(None)  # signed below, by the identity answering the rest
                continue
        else:
            raise _refused(f"format {str(q.get('format'))[:40]!r} is not supported")
        if match is None:
            raise InvalidError(
                Code.NO_MATCHING_CREDENTIAL,
                f"no valid credential in the wallet matches the query {q['id'][:40]!r}",
            )
        answering = answering or match.identity
        choices.append(Choice(q["id"], match, pointers if match.format == SD_JWT else ()))
    if terms_queries:
        identities = list_identities(store)
        signer = next((i for i in identities if i.id == answering), None)
        terms = _terms(signer, identities, clock or SystemClock())
        pending = iter(terms_queries)
        choices = [c if c is not None else Choice(next(pending), terms, ()) for c in choices]
    return Answer(request, tuple(c for c in choices if c is not None))


def _first(candidates: Sequence[HeldCredential], identity: str | None) -> HeldCredential | None:
    """The first candidate of `identity`, else the first one."""
    return next((c for c in candidates if c.identity == identity), None) or next(
        iter(candidates), None
    )


def describe(answer: Answer) -> dict[str, Any]:
    """Exactly what would be disclosed and to whom (shown before asking for consent)."""
    out = []
    for choice in answer.choices:
        item: dict[str, Any] = {
            "query": choice.query_id,
            "credential": choice.credential.id,
            "types": list(choice.credential.types),
            "issuer": choice.credential.issuer,
        }
        if choice.credential.format == SD_JWT:
            item["disclosed_claims"] = list(choice.disclose)
        elif choice.credential.id == SIGNED_NOW:
            item["disclosed_claims"] = (
                "the Gaia-X terms and conditions, signed now by you: sending it accepts them"
            )
        else:
            item["disclosed_claims"] = "the whole credential (vc+jwt cannot disclose selectively)"
        out.append(item)
    return {
        "verifier": answer.request.verifier,
        "client_id": answer.request.client_id,
        "response_uri": answer.request.response_uri,
        "response_mode": answer.request.response_mode,
        "presentations": out,
    }


def _present(choice: Choice, request: Request, identity: Identity, clock: Clock) -> str:
    if choice.credential.format == SD_JWT:
        return present_sd_jwt(
            SdJwt.parse(choice.credential.token),
            choice.disclose,
            holder_key=identity.key,
            audience=request.client_id,
            nonce=request.nonce,
            clock=clock,
        )
    return issue_vp_jwt(
        [choice.credential.token],
        identity.key,
        holder=identity.did,
        kid=identity.kid,
        audience=request.client_id,
        nonce=request.nonce,
        clock=clock,
    )


def _encrypt(payload: Mapping[str, Any], request: Request) -> str:
    from joserfc import jwe
    from joserfc.jwk import ECKey

    raw = request.claims.get("client_metadata")
    metadata: dict[str, Any] = raw if isinstance(raw, dict) else {}
    jwks = metadata.get("jwks")
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or len(keys) != 1 or not isinstance(keys[0], dict):
        raise _refused("direct_post.jwt needs exactly one key in client_metadata.jwks")
    jwk = keys[0]
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise _refused("the response encryption key is not a P-256 key")
    supported = metadata.get("encrypted_response_enc_values_supported", ["A128GCM"])
    enc = next((e for e in supported if e in ("A128GCM", "A256GCM")), None)
    if enc is None:
        raise _refused("no supported content encryption (A128GCM, A256GCM)")
    public = {k: jwk[k] for k in ("kty", "crv", "x", "y")}
    header = {"alg": "ECDH-ES", "enc": enc, "kid": jwk.get("kid")}
    header = {k: v for k, v in header.items() if v is not None}
    try:
        key = ECKey.import_key(public)
        result: str = jwe.encrypt_compact(
            header, json.dumps(payload).encode(), key, algorithms=["ECDH-ES", enc]
        )
    except (ValueError, TypeError) as error:
        raise _refused(f"the response encryption key is unusable: {error}") from None
    return result


def send_answer(answer: Answer, store: WalletStore, *, http: Http, clock: Clock) -> Any:
    """Build the `vp_token`, post it to `response_uri`; return the verifier's JSON answer."""
    identities = {i.id: i for i in list_identities(store)}
    vp_token: dict[str, list[str]] = {}
    for choice in answer.choices:
        identity = identities.get(choice.credential.identity)
        if identity is None:
            raise InvalidError(Code.RECORD_NOT_FOUND, "the credential's identity is missing")
        vp_token[choice.query_id] = [_present(choice, answer.request, identity, clock)]
    request = answer.request
    payload: dict[str, Any] = {"vp_token": vp_token}
    if request.state is not None:
        payload["state"] = request.state
    if request.response_mode == "direct_post.jwt":
        form = {"response": _encrypt(payload, request)}
    else:
        form = {"vp_token": json.dumps(vp_token)}
        if request.state is not None:
            form["state"] = request.state
    reply = http.post(request.response_uri, form=form)
    try:
        body = reply.json("verifier answer")
    except AncreError:
        body = None
    if reply.status != 200:
        detail = body.get("error_description") if isinstance(body, dict) else None
        raise InvalidError(
            Code.VERIFIER_REFUSED,
            f"the verifier refused the response (HTTP {reply.status}): {str(detail)[:300]}",
        )
    return body
