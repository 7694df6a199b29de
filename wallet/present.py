"""Presenting held credentials: a `vp+jwt` enveloping `vc+jwt` credentials, or an SD-JWT VC
with a Key Binding JWT that discloses only the claims named — and sending either to a W3C
VC-API `/presentations/verify` endpoint.

Selective disclosure happens here, in the holder's process: the disclosures not chosen are
simply not in the token, so no verifier, log or proxy ever sees them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from ancre.trust.clock import Clock
from ancre.trust.errors import AncreError, Code, ConfigurationError, InvalidError
from ancre.trust.jose.vc_jose import issue_vp_jwt
from ancre.trust.sd_jwt.issue import SdJwt
from ancre.trust.sd_jwt.present import present as present_sd_jwt

from .credentials import SD_JWT, VC_JWT, HeldCredential, list_credentials, matches_type
from .http import Http
from .identities import Identity, list_identities
from .store import WalletStore

__all__ = ["Presentation", "build_presentation", "post_to_vc_api"]

VCDM2: Final = "https://www.w3.org/ns/credentials/v2"


@dataclass(frozen=True, slots=True)
class Presentation:
    """A presentation ready to send: its format and token, what it carries."""

    format: str
    token: str
    credentials: tuple[str, ...]
    holder: str
    disclosed: tuple[str, ...]

    def envelope(self) -> dict[str, Any]:
        """The VC-API form: an `EnvelopedVerifiablePresentation` with a data: URL."""
        media = "vp+jwt" if self.format == "vp+jwt" else SD_JWT
        return {
            "@context": [VCDM2],
            "type": "EnvelopedVerifiablePresentation",
            "id": f"data:application/{media},{self.token}",
        }


def _pointer(name: str) -> str:
    """A claim name (or a /-separated path) as a JSON Pointer."""
    name = name.strip()
    if not name:
        raise ConfigurationError("--disclose names an empty claim")
    return name if name.startswith("/") else "/" + name


def build_presentation(
    store: WalletStore,
    *,
    types: Sequence[str],
    audience: str,
    nonce: str,
    clock: Clock,
    disclose: Sequence[str] = (),
) -> Presentation:
    """Choose the valid credentials of `types` and present them bound to `audience` and
    `nonce`. SD-JWT VCs (or any `disclose`): one SD-JWT+KB disclosing exactly `disclose`;
    otherwise one `vp+jwt` enveloping every matching `vc+jwt` of one identity."""
    if not audience or not nonce:
        raise ConfigurationError("a presentation needs --audience and --nonce")
    held, _ = list_credentials(store)
    wanted = frozenset(types)
    matching = [c for c in held if c.status == "valid" and matches_type(c, wanted)]
    if not matching:
        raise InvalidError(
            Code.NO_MATCHING_CREDENTIAL,
            f"no valid credential of type {', '.join(types)} in the wallet",
        )
    identities = {i.id: i for i in list_identities(store)}
    sd = [c for c in matching if c.format == SD_JWT]
    vc = [c for c in matching if c.format == VC_JWT]
    if sd and (disclose or not vc):
        return _sd_jwt(sd[0], identities, audience, nonce, clock, disclose)
    if disclose:
        raise ConfigurationError("--disclose needs an SD-JWT VC; the matching ones are vc+jwt")
    holder = _identity(vc[0], identities)
    chosen = [c for c in vc if c.identity == holder.id]
    token = issue_vp_jwt(
        [c.token for c in chosen],
        holder.key,
        holder=holder.did,
        kid=holder.kid,
        audience=audience,
        nonce=nonce,
        clock=clock,
    )
    return Presentation("vp+jwt", token, tuple(c.id for c in chosen), holder.did, ())


def _identity(held: HeldCredential, identities: dict[str, Identity]) -> Identity:
    identity = identities.get(held.identity)
    if identity is None:
        raise InvalidError(
            Code.RECORD_NOT_FOUND, f"the identity holding {held.id} is missing or damaged"
        )
    return identity


def _sd_jwt(
    held: HeldCredential,
    identities: dict[str, Identity],
    audience: str,
    nonce: str,
    clock: Clock,
    disclose: Sequence[str],
) -> Presentation:
    holder = _identity(held, identities)
    pointers = [_pointer(n) for n in disclose]
    token = present_sd_jwt(
        SdJwt.parse(held.token),
        pointers,
        holder_key=holder.key,
        audience=audience,
        nonce=nonce,
        clock=clock,
    )
    return Presentation(SD_JWT, token, (held.id,), holder.did, tuple(pointers))


def post_to_vc_api(
    presentation: Presentation, url: str, *, http: Http, nonce: str
) -> tuple[int, Any]:
    """POST to a VC-API `/presentations/verify` (`url` is the endpoint, or a base URL to
    which the path is added); returns the HTTP status and the JSON answer."""
    endpoint = (
        url
        if url.rstrip("/").endswith("/presentations/verify")
        else (url.rstrip("/") + "/presentations/verify")
    )
    answer = http.post(
        endpoint,
        json_body={
            "verifiablePresentation": presentation.envelope(),
            # No `domain`: the verifier checks the audience against the names it is known by
            # (its public URL, --audience). Sending ours would make that check tautological.
            "options": {"challenge": nonce},
        },
    )
    try:
        body = answer.json("verifier answer")
    except AncreError:  # a non-JSON answer is reported by its status alone
        body = None
    return answer.status, body
