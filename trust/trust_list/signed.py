"""The signed trust list: a compact JWS with `typ: trust-list+jwt` over the LoTE document,
signed by the registry's key (:func:`sign_trust_list`, a deterministic payload).

:func:`verify_trust_list` refuses a list that is not signed by the configured registry, that
is past its `NextUpdate` (indeterminate: stale, not proof of anything) or whose sequence
number is lower than one already seen (a rollback to an older list); it returns the list's
`TrustList` index.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from ancre.trust.clock import Clock
from ancre.trust.codec.json import dumps_compact
from ancre.trust.did.document import DidResolver
from ancre.trust.errors import (
    AncreError,
    Code,
    ConfigurationError,
    IndeterminateError,
    InvalidError,
    MalformedError,
)
from ancre.trust.jose.jws import sign_compact
from ancre.trust.keys.jwk import Signer
from ancre.trust.policy import VerificationPolicy
from ancre.trust.steps import KeySource, media_type, parse_jws, resolve_key
from ancre.trust.trust_list.index import TrustList
from ancre.trust.trust_list.model import TrustListDocument, _bad, _stamp

__all__ = ["TRUST_LIST_TYP", "sign_trust_list", "verify_trust_list"]

TRUST_LIST_TYP: Final = "trust-list+jwt"
#: The default size limit of a signed list: 32 MiB holds about 23,000 issuers (10,000 take
#: about 14 MB). `TrustListClient(max_bytes=…)` and `--trust-list-max-bytes` change it.
MAX_TRUST_LIST_BYTES: Final = 32 * 1024 * 1024


def sign_trust_list(document: TrustListDocument, signer: Signer, *, kid: str, issuer: str) -> str:
    """Sign the list as a compact JWS `trust-list+jwt` (deterministic payload)."""
    if document.next_update <= document.issued_at:
        raise ConfigurationError("NextUpdate must be after ListIssueDateTime")
    header = {"kid": kid, "typ": TRUST_LIST_TYP, "iss": issuer}
    return sign_compact(header, dumps_compact(document.to_json()).encode("utf-8"), signer)


def verify_trust_list(
    token: str | bytes,
    *,
    registry: str,
    resolver: DidResolver | KeySource,
    clock: Clock,
    min_sequence: int | None = None,
    algorithms: Sequence[str] | None = None,
    max_bytes: int = MAX_TRUST_LIST_BYTES,
) -> TrustList:
    """Verify a `trust-list+jwt` signed by `registry` (a DID, or a controller a `KeySource`
    knows) and return its index.

    Raises `trust_list_invalid` (bad signature, wrong signer, malformed), `trust_list_rollback`
    (sequence lower than `min_sequence`) and, indeterminate, `trust_list_stale` (past
    `NextUpdate`). A token over `max_bytes` is `trust_list_invalid`."""
    policy = VerificationPolicy(max_token_bytes=max_bytes)
    if algorithms is not None:
        policy = VerificationPolicy(max_token_bytes=max_bytes, algorithms=frozenset(algorithms))
    try:
        parsed, payload = parse_jws(token, policy)
        if media_type(parsed.header.get("typ")) != TRUST_LIST_TYP:
            raise _bad(f"`typ` must be {TRUST_LIST_TYP}")
        iss = parsed.header.get("iss", registry)
        if iss != registry:
            raise _bad(f"signed by {iss}, not by the registry {registry}")
        key = resolve_key(parsed.header, registry, resolver)
        parsed.verify_with(key)
    except IndeterminateError:
        raise
    except (InvalidError, MalformedError) as error:
        if error.code is Code.TRUST_LIST_INVALID:
            raise
        raise InvalidError(Code.TRUST_LIST_INVALID, f"trust list: {error.message}") from None
    except AncreError as error:  # pragma: no cover - every AncreError is one of the above
        raise InvalidError(Code.TRUST_LIST_INVALID, error.message) from None
    document = TrustListDocument.from_json(payload)
    if min_sequence is not None and document.sequence < min_sequence:
        raise InvalidError(
            Code.TRUST_LIST_ROLLBACK,
            f"trust list #{document.sequence} is older than #{min_sequence} already seen",
        )
    now = clock.now()
    if now >= document.next_update:
        raise IndeterminateError(
            Code.TRUST_LIST_STALE,
            f"trust list #{document.sequence} expired at {_stamp(document.next_update)}",
        )
    return TrustList(document)
