"""Receiving credentials over OpenID4VCI 1.0 (the wallet side).

Pre-authorized code flow (§3.5, §4.1.1, §6.1): the offer (by value or by reference) →
the credential issuer's metadata (§12.2) → its authorization server's metadata (RFC 8414)
→ the token endpoint with the pre-authorized code and the `tx_code` → the nonce endpoint
(§7) → a key proof `openid4vci-proof+jwt` (Appendix F.1) signed by the chosen identity →
the credential endpoint (§8). Everything taken from an offer or metadata is hostile: sizes
are bounded, JSON is parsed strictly and every URL goes through the SSRF guard.

The authorization-code grant (§5: browser, loopback redirect, PKCE) lives in
`ancre.wallet.authcode` and plugs in at :func:`_access_token` as an :data:`Authorizer`.
Batch issuance (§8.2): one key proof per holder identity, each credential bound to its own
key. Deferred issuance (§9): a ``transaction_id`` answer comes back as :class:`Deferred`,
which `ancre.wallet.deferred` stores and polls.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from ancre.trust.clock import Clock
from ancre.trust.codec.json import dumps_compact, loads_strict
from ancre.trust.errors import AncreError, Code, ConfigurationError, InvalidError, MalformedError
from ancre.trust.jose.jws import sign_compact

from .http import Http, HttpAnswer
from .identities import Identity

__all__ = [
    "Authorizer",
    "Deferred",
    "Issued",
    "Offer",
    "TxCodePrompt",
    "obtain",
    "parse_offer",
    "resolve_offer",
]

PRE_AUTHORIZED: Final = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
AUTHORIZATION_CODE: Final = "authorization_code"
PROOF_TYP: Final = "openid4vci-proof+jwt"
_OFFER_SCHEME: Final = "openid-credential-offer"
_MAX_OFFER_CHARS: Final = 64 * 1024
_MAX_CONFIGURATIONS: Final = 16
#: OpenID4VCI format identifiers → what the wallet stores.
FORMATS: Final = {"jwt_vc_json": "vc+jwt", "vc+jwt": "vc+jwt", "dc+sd-jwt": "dc+sd-jwt"}

#: Asked for the transaction code when the offer requires one and none was given: gets the
#: offer's `tx_code` object (`input_mode`, `length`, `description`), returns the code.
TxCodePrompt = Callable[[Mapping[str, Any]], str]

#: Runs the authorization-code grant: gets the offer, the authorization server's metadata
#: and the chosen configuration id, returns the access token.
Authorizer = Callable[["Offer", Mapping[str, Any], str], str]


def _bad(why: str) -> MalformedError:
    return MalformedError(Code.OFFER_INVALID, why)


@dataclass(frozen=True, slots=True)
class Offer:
    """A credential offer (§4.1.1), checked for shape; nothing fetched from it yet."""

    credential_issuer: str
    configuration_ids: tuple[str, ...]
    pre_authorized_code: str | None
    tx_code: Mapping[str, Any] | None
    authorization_server: str | None
    #: The authorization-code grant's parameters (`issuer_state`…), when offered.
    authorization_code: Mapping[str, Any] | None


def parse_offer(document: Any) -> Offer:
    """Check a credential offer object's shape."""
    if not isinstance(document, dict):
        raise _bad("the credential offer is not a JSON object")
    issuer = document.get("credential_issuer")
    if not isinstance(issuer, str) or not issuer.startswith(("https://", "http://")):
        raise _bad("the offer's credential_issuer is not an https URL")
    try:
        urlsplit(issuer)  # well_known() splits it later: refuse an unbalanced `[` here
    except ValueError:
        raise _bad("the offer's credential_issuer is not a valid URL") from None
    ids = document.get("credential_configuration_ids")
    if (
        not isinstance(ids, list)
        or not ids
        or len(ids) > _MAX_CONFIGURATIONS
        or not all(isinstance(i, str) and 0 < len(i) <= 200 for i in ids)
    ):
        raise _bad("credential_configuration_ids must be a non-empty list of names")
    grants = document.get("grants", {})
    if not isinstance(grants, dict):
        raise _bad("grants is not an object")
    pre = grants.get(PRE_AUTHORIZED)
    code = tx_code = server = None
    if pre is not None:
        if not isinstance(pre, dict) or not isinstance(pre.get("pre-authorized_code"), str):
            raise _bad("the pre-authorized grant has no pre-authorized_code")
        code = pre["pre-authorized_code"]
        tx_code = pre.get("tx_code")
        if tx_code is not None and not isinstance(tx_code, dict):
            raise _bad("tx_code is not an object")
        server = pre.get("authorization_server")
        if server is not None and not isinstance(server, str):
            raise _bad("authorization_server is not a string")
    auth = grants.get(AUTHORIZATION_CODE)
    if auth is not None:
        if not isinstance(auth, dict):
            raise _bad("the authorization_code grant is not an object")
        state = auth.get("issuer_state")
        if state is not None and (not isinstance(state, str) or not 0 < len(state) <= 2048):
            raise _bad("issuer_state is not a string")
        if server is None and auth.get("authorization_server") is not None:
            server = auth["authorization_server"]
            if not isinstance(server, str):
                raise _bad("authorization_server is not a string")
    return Offer(issuer.rstrip("/"), tuple(ids), code, tx_code, server, auth)


def resolve_offer(text: str, http: Http) -> Offer:
    """An offer from an `openid-credential-offer://` URI (`credential_offer` by value or
    `credential_offer_uri` by reference) or an https URL (with either parameter, or
    serving the offer itself)."""
    text = text.strip()
    if len(text) > _MAX_OFFER_CHARS:
        raise _bad(f"the offer is longer than {_MAX_OFFER_CHARS} characters")
    try:
        parts = urlsplit(text)
    except ValueError:  # an unbalanced `[` (IPv6) in the netloc
        raise _bad("the offer URI is malformed") from None
    if parts.scheme not in (_OFFER_SCHEME, "https", "http"):
        raise _bad("expected an openid-credential-offer:// URI or an https URL")
    try:
        query = parse_qs(parts.query, strict_parsing=bool(parts.query), max_num_fields=8)
    except ValueError:
        raise _bad("the offer URI's query is malformed") from None
    by_value, by_reference = query.get("credential_offer"), query.get("credential_offer_uri")
    if by_value and by_reference:
        raise _bad("the offer has both credential_offer and credential_offer_uri")
    if by_value:
        if len(by_value) != 1:
            raise _bad("credential_offer appears more than once")
        return parse_offer(loads_strict(by_value[0], what="credential offer"))
    if by_reference:
        if len(by_reference) != 1:
            raise _bad("credential_offer_uri appears more than once")
        url = by_reference[0]
    elif parts.scheme == _OFFER_SCHEME:
        raise _bad("the offer URI has neither credential_offer nor credential_offer_uri")
    else:
        url = text
    return parse_offer(http.get_json(url, "credential offer"))


def well_known(base: str, name: str) -> str:
    """OpenID4VCI §12.2.2 / RFC 8414 §3.1: the well-known segment goes between the host and
    the path."""
    parts = urlsplit(base)
    return f"{parts.scheme}://{parts.netloc}/.well-known/{name}{parts.path.rstrip('/')}"


def _url(document: Mapping[str, Any], name: str, what: str) -> str:
    value = document.get(name)
    if not isinstance(value, str) or not value.startswith(("https://", "http://")):
        raise InvalidError(Code.OFFER_INVALID, f"{what} has no usable {name}")
    return value


def _oauth_error(answer_body: Any, status: int, where: str) -> InvalidError:
    if isinstance(answer_body, dict) and isinstance(answer_body.get("error"), str):
        detail = answer_body.get("error_description")
        text = f"{answer_body['error'][:80]}" + (
            f": {str(detail)[:300]}" if isinstance(detail, str) else ""
        )
    else:
        text = f"HTTP {status}"
    return InvalidError(Code.ISSUER_REFUSED, f"the issuer's {where} refused: {text}")


def json_or_none(body: bytes) -> Any:
    try:
        return loads_strict(body, what="issuer answer", max_bytes=len(body) + 1)
    except AncreError:
        return None


@dataclass(frozen=True, slots=True)
class Issued:
    """The credentials the issuer returned (not verified yet), one per key proof, in the
    order of the identities they were asked for."""

    configuration_id: str
    format: str
    tokens: tuple[str, ...]

    @property
    def token(self) -> str:
        return self.tokens[0]


@dataclass(frozen=True, slots=True)
class Deferred:
    """The issuer deferred the credential(s) (§9): poll `endpoint` with `transaction_id`
    and the same access token, no sooner than every `interval` seconds."""

    configuration_id: str
    format: str
    credential_issuer: str
    endpoint: str
    transaction_id: str
    interval: int
    access_token: str


def _access_token(
    offer: Offer,
    as_metadata: Mapping[str, Any],
    http: Http,
    tx_code: str | None,
    ask: TxCodePrompt | None,
    *,
    chosen: str,
    grant: str | None,
    authorize: Authorizer | None,
) -> str:
    """The access token for the offer: the pre-authorized grant when offered (unless
    `grant` says otherwise), else the authorization-code grant through `authorize`."""
    if grant not in (None, PRE_AUTHORIZED, AUTHORIZATION_CODE):
        raise ConfigurationError(f"--grant must be {PRE_AUTHORIZED} or {AUTHORIZATION_CODE}")
    use_code = grant == AUTHORIZATION_CODE or (grant is None and offer.pre_authorized_code is None)
    if use_code:
        grants = as_metadata.get("grant_types_supported")
        if isinstance(grants, list) and AUTHORIZATION_CODE not in grants:
            raise InvalidError(
                Code.OFFER_INVALID, "the authorization server does not support authorization_code"
            )
        if authorize is None:
            raise InvalidError(
                Code.OFFER_INVALID, "this offer needs the authorization-code grant (a browser)"
            )
        return authorize(offer, as_metadata, chosen)
    if offer.pre_authorized_code is None:
        raise InvalidError(Code.OFFER_INVALID, "the offer carries no pre-authorized code")
    form = {"grant_type": PRE_AUTHORIZED, "pre-authorized_code": offer.pre_authorized_code}
    if offer.tx_code is not None:
        if tx_code is None:
            if ask is None:
                raise InvalidError(
                    Code.OFFER_INVALID, "the offer needs a transaction code: give --tx-code"
                )
            tx_code = ask(offer.tx_code)
        form["tx_code"] = tx_code
    endpoint = _url(as_metadata, "token_endpoint", "the authorization server's metadata")
    answer = http.post(endpoint, form=form)
    return token_from(answer)


def token_from(answer: HttpAnswer) -> str:
    """The Bearer access token of a token response (RFC 6749 §5.1)."""
    body = json_or_none(answer.body)
    if answer.status != 200:
        raise _oauth_error(body, answer.status, "token endpoint")
    if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        raise InvalidError(Code.ISSUER_REFUSED, "the token response has no access_token")
    if str(body.get("token_type", "")).lower() != "bearer":
        raise InvalidError(Code.ISSUER_REFUSED, "the token is not a Bearer token (DPoP?)")
    token: str = body["access_token"]
    if not 0 < len(token) <= 4096:
        raise InvalidError(Code.ISSUER_REFUSED, "the access token is empty or too long")
    return token


def proof_jwt(identity: Identity, *, audience: str, nonce: str | None, clock: Clock) -> str:
    """The key proof (Appendix F.1): `typ`, `kid` (the identity's DID URL), `aud`, `iat`,
    `nonce`."""
    payload: dict[str, Any] = {"aud": audience, "iat": int(clock.now().timestamp())}
    if nonce is not None:
        payload["nonce"] = nonce
    header = {"typ": PROOF_TYP, "kid": identity.kid}
    return sign_compact(header, dumps_compact(payload).encode("utf-8"), identity.key)


def obtain(
    offer: Offer,
    *,
    http: Http,
    identity: Identity,
    clock: Clock,
    tx_code: str | None = None,
    ask_tx_code: TxCodePrompt | None = None,
    configuration_id: str | None = None,
    batch: Sequence[Identity] = (),
    grant: str | None = None,
    authorize: Authorizer | None = None,
) -> Issued | Deferred:
    """Run the flow for one credential configuration of `offer` (the first by default):
    one key proof by `identity`, plus one by each identity of `batch` (batch issuance,
    §8.2, when the issuer advertises it). The credentials, or the issuer's deferral."""
    chosen = configuration_id or offer.configuration_ids[0]
    if chosen not in offer.configuration_ids:
        raise InvalidError(Code.OFFER_INVALID, f"the offer does not include {chosen!r}")
    holders = (identity, *batch)
    metadata = _issuer_metadata(offer, http)
    if len(holders) > 1:
        _check_batch(metadata, len(holders))
    kinds = {_format_of(metadata, chosen, holder) for holder in holders}
    (kind,) = kinds
    as_metadata = _authorization_server_metadata(offer, metadata, http)
    access = _access_token(
        offer, as_metadata, http, tx_code, ask_tx_code,
        chosen=chosen, grant=grant, authorize=authorize,
    )  # fmt: skip
    nonce = _nonce(metadata, http) if "nonce_endpoint" in metadata else None
    proofs = [
        proof_jwt(holder, audience=offer.credential_issuer, nonce=nonce, clock=clock)
        for holder in holders
    ]
    answer = http.post(
        _url(metadata, "credential_endpoint", "the issuer metadata"),
        json_body={"credential_configuration_id": chosen, "proofs": {"jwt": proofs}},
        headers={"Authorization": f"Bearer {access}"},
    )
    body = json_or_none(answer.body)
    if answer.status == 202 or (
        answer.status == 200 and isinstance(body, dict) and "transaction_id" in body
    ):
        transaction_id, interval = transaction_of(body)
        return Deferred(
            chosen, kind, offer.credential_issuer,
            _url(metadata, "deferred_credential_endpoint", "the issuer metadata"),
            transaction_id, interval, access,
        )  # fmt: skip
    if answer.status != 200:
        raise _oauth_error(body, answer.status, "credential endpoint")
    return Issued(chosen, kind, credentials_of(body, len(holders)))


#: The most credentials one request may ask for (`--count`).
MAX_BATCH: Final = 16
_MAX_INTERVAL: Final = 24 * 3600


def _check_batch(metadata: Mapping[str, Any], count: int) -> None:
    batch = metadata.get("batch_credential_issuance")
    size = batch.get("batch_size") if isinstance(batch, dict) else None
    if not isinstance(size, int) or isinstance(size, bool) or size < 2:
        raise InvalidError(
            Code.OFFER_INVALID, "the issuer does not offer batch issuance: use --count 1"
        )
    if count > size:
        raise InvalidError(
            Code.OFFER_INVALID, f"the issuer issues at most {size} credentials per request"
        )


def transaction_of(body: Any) -> tuple[str, int]:
    """A deferred answer's ``transaction_id`` and ``interval`` (§8.3: required with it)."""
    if not isinstance(body, dict):
        raise InvalidError(Code.ISSUER_REFUSED, "the deferred answer is not a JSON object")
    transaction_id = body.get("transaction_id")
    if not isinstance(transaction_id, str) or not 0 < len(transaction_id) <= 512:
        raise InvalidError(Code.ISSUER_REFUSED, "the deferred answer has no transaction_id")
    interval = body.get("interval", 5)
    if not isinstance(interval, int) or isinstance(interval, bool) or interval < 0:
        raise InvalidError(Code.ISSUER_REFUSED, "the deferred answer's interval is not seconds")
    return transaction_id, min(interval, _MAX_INTERVAL)


def credentials_of(body: Any, count: int) -> tuple[str, ...]:
    """The compact credentials of a credential response (§8.3): exactly `count` of them."""
    credentials = body.get("credentials") if isinstance(body, dict) else None
    if not isinstance(credentials, list) or len(credentials) != count:
        raise InvalidError(
            Code.ISSUER_REFUSED,
            f"the credential response must carry exactly {count} credential(s)",
        )
    tokens = []
    for item in credentials:
        token = item.get("credential") if isinstance(item, dict) else None
        if not isinstance(token, str) or not token:
            raise InvalidError(Code.ISSUER_REFUSED, "a credential is not a compact token")
        tokens.append(token)
    return tuple(tokens)


def _issuer_metadata(offer: Offer, http: Http) -> Mapping[str, Any]:
    """The credential issuer's metadata (§12.2), which must name the issuer it was fetched
    for (§12.2.4: no impersonation)."""
    metadata = http.get_json(
        well_known(offer.credential_issuer, "openid-credential-issuer"), "issuer metadata"
    )
    if str(metadata.get("credential_issuer", "")).rstrip("/") != offer.credential_issuer:
        raise InvalidError(
            Code.OFFER_INVALID, "the issuer metadata names another credential_issuer"
        )
    return metadata


def _format_of(metadata: Mapping[str, Any], chosen: str, identity: Identity) -> str:
    """What the wallet stores for configuration `chosen`, once sure the issuer takes a jwt
    key proof signed with the identity's algorithm."""
    configurations = metadata.get("credential_configurations_supported")
    config = configurations.get(chosen) if isinstance(configurations, dict) else None
    if not isinstance(config, dict):
        raise InvalidError(Code.OFFER_INVALID, f"the issuer does not describe {chosen!r}")
    kind = FORMATS.get(str(config.get("format")))
    if kind is None:
        raise InvalidError(
            Code.OFFER_INVALID, f"unsupported credential format {str(config.get('format'))[:60]!r}"
        )
    proof_types = config.get("proof_types_supported")
    if isinstance(proof_types, dict):
        jwt_proof = proof_types.get("jwt")
        algs = jwt_proof.get("proof_signing_alg_values_supported") if jwt_proof else None
        if jwt_proof is None or (isinstance(algs, list) and identity.key.alg not in algs):
            raise InvalidError(
                Code.OFFER_INVALID,
                f"the issuer accepts no jwt key proof signed with {identity.key.alg}",
            )
    return kind


def _authorization_server_metadata(
    offer: Offer, metadata: Mapping[str, Any], http: Http
) -> Mapping[str, Any]:
    """The metadata (RFC 8414) of the offer's authorization server, else the issuer's
    first, else the issuer itself."""
    servers = metadata.get("authorization_servers")
    server = offer.authorization_server or (
        servers[0] if isinstance(servers, list) and servers else offer.credential_issuer
    )
    if not isinstance(server, str):
        raise InvalidError(Code.OFFER_INVALID, "authorization_servers is malformed")
    as_metadata = http.get_json(
        well_known(server, "oauth-authorization-server"), "authorization server metadata"
    )
    if str(as_metadata.get("issuer", "")).rstrip("/") != server.rstrip("/"):
        raise InvalidError(
            Code.OFFER_INVALID, "the authorization server metadata names another issuer"
        )
    return as_metadata


def _nonce(metadata: Mapping[str, Any], http: Http) -> str:
    """A fresh ``c_nonce`` from the nonce endpoint (§7)."""
    answer = http.post(_url(metadata, "nonce_endpoint", "the issuer metadata"))
    body = json_or_none(answer.body)
    if answer.status != 200 or not isinstance(body, dict):
        raise _oauth_error(body, answer.status, "nonce endpoint")
    nonce = body.get("c_nonce")
    if not isinstance(nonce, str):
        raise InvalidError(Code.ISSUER_REFUSED, "the nonce response has no c_nonce")
    return nonce


def offer_summary(offer: Offer) -> dict[str, Any]:
    """What the offer asks, for display (never the pre-authorized code)."""
    return {
        "credential_issuer": offer.credential_issuer,
        "credential_configuration_ids": list(offer.configuration_ids),
        "tx_code": json.loads(dumps_compact(offer.tx_code)) if offer.tx_code else None,
    }
