"""OpenID for Verifiable Credential Issuance 1.0 (final): metadata documents, the
credential request and its ``jwt`` key proofs. Section numbers are the spec's.

Key proofs (§8.2.1.1, Appendix F.1) are checked, in order: compact JWS with an allow-listed
asymmetric ``alg`` (never ``none`` or a MAC); ``typ`` ``openid4vci-proof+jwt``; exactly one
of ``jwk`` (a public key) or ``kid`` (a DID URL, Appendix F.1); the signature by that key;
``aud`` the credential issuer identifier; ``iat`` recent (and not in the future beyond the
skew); and ``nonce`` a live c_nonce from the nonce endpoint, consumed
once — the last step, so that an invalid proof cannot burn a wallet's nonce.

Batch issuance (§8.2, §12.2.4 ``batch_credential_issuance``): a request may carry up to
``batch_size`` proofs, each checked as above, each by a distinct key (one credential per
key); their nonces are consumed together, all or none, only once every proof passed — the
proofs of one request may share one c_nonce.

A ``kid`` names a did:key or did:jwk key (resolved locally) or a did:web one: an organization
holding its credentials under its own domain. did:web documents are fetched over https
through the network guard (:class:`HolderDids`: SSRF guard, loopback only when the issuer
runs with ``--insecure-loopback``, a size cap and a total deadline, an LRU cache following
``Cache-Control``). The key must be listed under the document's ``authentication``: a key
proof proves possession of the key the credential will be bound to, which is what
``authentication`` means (DID Core §5.3.1) — a key only under ``assertionMethod`` signs
credentials, it does not authenticate its controller. A did:web that cannot be resolved, or
whose document does not hold the proof's key under ``authentication``, is refused with
``invalid_proof`` (the underlying code in ``error_description``), nothing issued and the
nonce left unused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from ancre.issuer.service import PRE_AUTHORIZED_GRANT, IssuerError
from ancre.issuer.templates import TEMPLATES, Holder
from ancre.trust.clock import Clock
from ancre.trust.errors import AncreError, Code
from ancre.trust.jose.jws import parse_compact
from ancre.trust.keys.jwk import PublicKey
from ancre.trust.net.guard import NetworkPolicy

__all__ = [
    "NOTIFICATION_EVENTS",
    "PRE_AUTHORIZED_GRANT",
    "PROOF_ALGS",
    "PROOF_TYP",
    "CredentialRequest",
    "HolderDids",
    "Notification",
    "authorization_server_metadata",
    "check_proof",
    "check_proofs",
    "credential_issuer_metadata",
    "parse_credential_request",
    "parse_deferred_request",
    "parse_notification_request",
]

PROOF_TYP: Final = "openid4vci-proof+jwt"
#: Asymmetric algorithms only (§F.1: "MUST NOT be none or an identifier for a symmetric
#: algorithm (MAC)"); `parse_compact` refuses anything outside ancre's key types too.
PROOF_ALGS: Final = ("EdDSA", "Ed25519", "ES256", "ES384")
_SIGNING_ALGS: Final = {"ed25519": "EdDSA", "p256": "ES256", "p384": "ES384"}
_MAX_PROOF_BYTES: Final = 16 * 1024


def _binding_methods(format_: str) -> list[str]:
    return ["jwk"] if format_ == "dc+sd-jwt" else ["did:jwk", "did:key", "did:web"]


#: did:web documents of holders: at most this big, fetched within this many seconds (all
#: redirects included), and this many cached.
HOLDER_DID_MAX_BYTES: Final = 64 * 1024
HOLDER_DID_TIMEOUT: Final = 5.0
HOLDER_DID_CACHE: Final = 1024


class HolderDids:
    """Resolves the did:web of key proofs (module docstring) through the network guard
    with `policy` (https only: ``allow_http`` is turned off whatever it says — a holder's
    key is trusted on the web PKI alone), bounded in size and time, with an LRU cache."""

    def __init__(self, policy: NetworkPolicy, clock: Clock) -> None:
        import httpx

        from ancre.trust.did.web import DidWebResolver

        self.policy = replace(
            policy,
            allow_http=False,
            max_bytes=min(policy.max_bytes, HOLDER_DID_MAX_BYTES),
            timeout=min(policy.timeout, HOLDER_DID_TIMEOUT),
        )
        self._client = httpx.Client(trust_env=False, follow_redirects=False)
        self.resolver = DidWebResolver(
            self._client, self.policy, clock, max_entries=HOLDER_DID_CACHE
        )

    def authentication_key(self, kid: str) -> PublicKey:
        from ancre.trust.did.document import did_of

        return self.resolver.resolve(did_of(kid)).authentication_key(kid)

    def close(self) -> None:
        self._client.close()


def credential_issuer_metadata(
    public_url: str, key_type: str, *, batch_size: int = 1
) -> dict[str, Any]:
    """Credential issuer metadata (§12.2), display names in French and English; with a
    `batch_size` of 2 or more, ``batch_credential_issuance``.

    ``vc+jwt`` templates are offered as ``jwt_vc_json`` (Appendix A.1.1, the W3C VC secured
    as a JWT) carrying ``credential_definition.type``; ``dc+sd-jwt`` ones with their
    ``vct``."""
    alg = _SIGNING_ALGS[key_type]
    configurations: dict[str, Any] = {}
    for template in TEMPLATES.values():
        display = [{"name": name, "locale": locale} for locale, name in template.display.items()]
        entry: dict[str, Any] = {
            "scope": template.configuration_id,
            "cryptographic_binding_methods_supported": _binding_methods(template.format),
            "credential_signing_alg_values_supported": [alg],
            "proof_types_supported": {
                "jwt": {"proof_signing_alg_values_supported": list(PROOF_ALGS)}
            },
            "credential_metadata": {"display": display},
        }
        if template.format == "dc+sd-jwt":
            entry = {"format": "dc+sd-jwt", "vct": template.credential_type, **entry}
        else:
            entry = {
                "format": "jwt_vc_json",
                "credential_definition": {
                    "type": ["VerifiableCredential", template.credential_type]
                },
                **entry,
            }
        configurations[template.configuration_id] = entry
    metadata: dict[str, Any] = {
        "credential_issuer": public_url,
        "credential_endpoint": f"{public_url}/credential",
        "nonce_endpoint": f"{public_url}/nonce",
        "deferred_credential_endpoint": f"{public_url}/deferred_credential",
        "notification_endpoint": f"{public_url}/notification",
        "display": [
            {"name": "Émetteur ancre", "locale": "fr"},
            {"name": "ancre issuer", "locale": "en"},
        ],
        "credential_configurations_supported": configurations,
    }
    if batch_size >= 2:  # §12.2.4: "It MUST be 2 or greater."
        metadata["batch_credential_issuance"] = {"batch_size": batch_size}
    return metadata


def authorization_server_metadata(
    public_url: str, *, authorization_code: bool = False
) -> dict[str, Any]:
    """OAuth 2.0 authorization server metadata (RFC 8414): the issuer is its own AS. With
    `authorization_code`, the authorization code grant (PKCE S256 only, RFC 9207 `iss` on
    the response) is offered too."""
    metadata: dict[str, Any] = {
        "issuer": public_url,
        "token_endpoint": f"{public_url}/token",
        "grant_types_supported": [PRE_AUTHORIZED_GRANT],
        "pre-authorized_grant_anonymous_access_supported": True,
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": ["none"],
    }
    if authorization_code:
        metadata["grant_types_supported"] = ["authorization_code", PRE_AUTHORIZED_GRANT]
        metadata["authorization_endpoint"] = f"{public_url}/authorize"
        metadata["response_types_supported"] = ["code"]
        metadata["code_challenge_methods_supported"] = ["S256"]
        metadata["authorization_response_iss_parameter_supported"] = True
        metadata["authorization_details_types_supported"] = ["openid_credential"]
    return metadata


@dataclass(frozen=True, slots=True)
class CredentialRequest:
    """A parsed credential request (§8.2): one configuration, 1..batch_size ``jwt``
    proofs (one credential each)."""

    configuration_id: str
    proofs: tuple[str, ...]


def _request_error(message: str) -> IssuerError:
    return IssuerError(Code.INVALID_CREDENTIAL_REQUEST, message)


def parse_credential_request(body: Any, *, batch_size: int = 1) -> CredentialRequest:
    """Check the request's shape (§8.2). Errors: ``invalid_credential_request``,
    ``unknown_credential_configuration``, ``invalid_proof`` (no usable proof)."""
    if not isinstance(body, dict):
        raise _request_error("the credential request must be a JSON object")
    known = {"credential_configuration_id", "credential_identifier", "proofs", "proof"}
    unknown = sorted(set(body) - known)
    if unknown:
        raise _request_error(f"unknown members {unknown}")
    if "credential_identifier" in body:
        raise _request_error("this issuer does not use credential identifiers")
    configuration = body.get("credential_configuration_id")
    if not isinstance(configuration, str):
        raise _request_error("`credential_configuration_id` (a string) is required")
    if configuration not in TEMPLATES:
        raise IssuerError(
            Code.UNKNOWN_CREDENTIAL_CONFIGURATION,
            f"no credential configuration {configuration!r}",
        )
    if "proof" in body:
        if "proofs" in body:
            raise _request_error("send `proofs` only, not both `proof` and `proofs`")
        # Drafts before 1.0 sent a single `proof`; 1.0 (§8.2) has only `proofs`.
        raise _request_error("`proof` is not a 1.0 parameter: send `proofs`")
    proofs = body.get("proofs")
    if proofs is None:
        raise IssuerError(Code.INVALID_PROOF, "the request has no key proof (`proofs`)")
    if not isinstance(proofs, dict) or len(proofs) != 1:
        raise _request_error("`proofs` must hold exactly one proof type")
    jwts = proofs.get("jwt")
    if not isinstance(jwts, list) or not jwts:
        raise IssuerError(Code.INVALID_PROOF, "`proofs.jwt` must be a non-empty array")
    if len(jwts) > batch_size:
        raise _request_error(
            f"{len(jwts)} proofs: this issuer issues at most {batch_size} credential(s) "
            "per request (`batch_credential_issuance.batch_size`)"
        )
    if not all(isinstance(jwt, str) for jwt in jwts):
        raise IssuerError(Code.INVALID_PROOF, "a jwt proof must be a string")
    return CredentialRequest(configuration, tuple(jwts))


def parse_deferred_request(body: Any) -> str:
    """The ``transaction_id`` of a deferred credential request (§9.1); other members are
    ignored, as the spec asks. Error: ``invalid_credential_request``."""
    if not isinstance(body, dict):
        raise _request_error("the deferred credential request must be a JSON object")
    transaction_id = body.get("transaction_id")
    if not isinstance(transaction_id, str) or not 0 < len(transaction_id) <= 256:
        raise _request_error("`transaction_id` (a string) is required")
    return transaction_id


@dataclass(frozen=True, slots=True)
class Notification:
    """A parsed notification request (§11.1)."""

    notification_id: str
    event: str
    description: str | None


#: §11.1 ``event`` values.
NOTIFICATION_EVENTS: Final = ("credential_accepted", "credential_failure", "credential_deleted")
#: §11.1: `event_description` is ASCII %x20-21 / %x23-5B / %x5D-7E (no `"` nor `\`).
_DESCRIPTION_CHARS: Final = frozenset(chr(c) for c in range(0x20, 0x7F)) - {'"', "\\"}


def parse_notification_request(body: Any) -> Notification:
    """Check a notification request (§11.1); other members are ignored, as the spec asks.
    Error: ``invalid_notification_request``."""

    def refused(message: str) -> IssuerError:
        return IssuerError(Code.INVALID_NOTIFICATION_REQUEST, message)

    if not isinstance(body, dict):
        raise refused("the notification request must be a JSON object")
    notification_id, event = body.get("notification_id"), body.get("event")
    if not isinstance(notification_id, str) or not 0 < len(notification_id) <= 64:
        raise refused("`notification_id` (a string) is required")
    if event not in NOTIFICATION_EVENTS:
        raise refused(f"`event` must be one of {', '.join(NOTIFICATION_EVENTS)}")
    description = body.get("event_description")
    if description is not None and (
        not isinstance(description, str)
        or len(description) > 512
        or not set(description) <= _DESCRIPTION_CHARS
    ):
        raise refused('`event_description` must be printable ASCII without `"` or `\\`')
    return Notification(notification_id, event, description)


def _proof_error(message: str) -> IssuerError:
    return IssuerError(Code.INVALID_PROOF, message)


def _holder_from_kid(kid: str, holder_dids: HolderDids | None) -> Holder:
    from ancre.trust.did.document import DidResolver, did_of
    from ancre.trust.did.jwk import DidJwkResolver
    from ancre.trust.did.key import DidKeyResolver

    resolvers: dict[str, DidResolver] = {
        "did:jwk:": DidJwkResolver(),
        "did:key:": DidKeyResolver(),
    }
    for prefix, resolver in resolvers.items():
        if kid.startswith(prefix):
            did = did_of(kid)
            key = resolver.resolve(did).authentication_key(kid)
            return Holder(key, did)
    if kid.startswith("did:web:"):
        if holder_dids is None:
            raise _proof_error("this issuer does not resolve did:web holder keys")
        if "#" not in kid:
            raise _proof_error("a did:web proof `kid` must name a verification method (#…)")
        return Holder(holder_dids.authentication_key(kid), did_of(kid))
    raise _proof_error("a proof `kid` must be a did:jwk, did:key or did:web DID URL")


def check_proof(
    proof: str,
    *,
    audience: str,
    clock: Clock,
    max_age: int,
    max_skew: int,
    consume_nonce: Callable[[str], bool],
    holder_dids: HolderDids | None = None,
) -> Holder:
    """Verify a ``jwt`` key proof and return the holder key it proves (module docstring;
    a did:web `kid` only with `holder_dids`)."""
    holder, nonce = _verified(proof, audience, clock, max_age, max_skew, holder_dids)
    if not consume_nonce(nonce):
        raise _nonce_refused()
    return holder


def check_proofs(
    proofs: Sequence[str],
    *,
    audience: str,
    clock: Clock,
    max_age: int,
    max_skew: int,
    consume_nonces: Callable[[Sequence[str]], bool],
    holder_dids: HolderDids | None = None,
) -> tuple[Holder, ...]:
    """Verify every proof of a (batch) request and return their holder keys, in order:
    all proofs valid, by distinct keys (``invalid_credential_request`` otherwise), then
    their nonces consumed together (module docstring)."""
    verified = [
        _verified(proof, audience, clock, max_age, max_skew, holder_dids) for proof in proofs
    ]
    thumbprints = {holder.key.thumbprint() for holder, _ in verified}
    if len(thumbprints) != len(verified):
        raise IssuerError(
            Code.INVALID_CREDENTIAL_REQUEST,
            "two proofs are by the same key: each credential of a batch needs its own key",
        )
    if not consume_nonces(list(dict.fromkeys(nonce for _, nonce in verified))):
        raise _nonce_refused()
    return tuple(holder for holder, _ in verified)


def _nonce_refused() -> IssuerError:
    return IssuerError(Code.INVALID_NONCE, "the proof's nonce is unknown, used or expired")


def _verified(
    proof: str,
    audience: str,
    clock: Clock,
    max_age: int,
    max_skew: int,
    holder_dids: HolderDids | None = None,
) -> tuple[Holder, str]:
    """Every check of a key proof but its nonce's consumption: the holder and the nonce."""
    from ancre.trust.did.jwk import did_jwk_from_public_key

    try:
        parsed = parse_compact(proof, allowed_algs=PROOF_ALGS, max_bytes=_MAX_PROOF_BYTES)
        header = parsed.header
        if header.get("typ") != PROOF_TYP:
            raise _proof_error(f"proof `typ` must be {PROOF_TYP}, not {header.get('typ')!r}")
        jwk, kid = header.get("jwk"), header.get("kid")
        if (jwk is None) == (kid is None) or "x5c" in header:
            raise _proof_error("a proof names its key by exactly one of `jwk` or `kid`")
        if jwk is not None:
            if not isinstance(jwk, Mapping) or "d" in jwk:
                raise _proof_error("the proof `jwk` must be a public key")
            key = PublicKey.from_jwk(jwk)
            holder = Holder(key, did_jwk_from_public_key(key))
        else:
            if not isinstance(kid, str):
                raise _proof_error("the proof `kid` must be a string")
            holder = _holder_from_kid(kid, holder_dids)
        holder.key.check_alg(parsed.alg)
        parsed.verify_with(holder.key)
        payload = parsed.payload_json()
    except IssuerError:
        raise
    except AncreError as error:
        raise _proof_error(f"{error.code}: {error.message}") from None
    if not isinstance(payload, dict):
        raise _proof_error("the proof payload must be a JSON object")
    aud = payload.get("aud")
    if aud != audience and not (isinstance(aud, list) and aud == [audience]):
        raise _proof_error(f"proof `aud` must be the credential issuer {audience}, not {aud!r}")
    iat = payload.get("iat")
    if isinstance(iat, bool) or not isinstance(iat, int | float):
        raise _proof_error("the proof needs a numeric `iat`")
    now = clock.now().timestamp()
    if iat > now + max_skew:
        raise _proof_error("the proof `iat` is in the future")
    if iat < now - max_age:
        raise _proof_error(f"the proof is older than {max_age} s")
    nonce = payload.get("nonce")
    if nonce is None:
        raise _proof_error("the proof has no `nonce`: fetch one from the nonce endpoint")
    if not isinstance(nonce, str) or len(nonce) > 256:
        raise _nonce_refused()
    return holder, nonce
