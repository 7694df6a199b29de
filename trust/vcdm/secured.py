"""Steps shared by the adapters of VCDM 2.0 documents secured as a whole (VC-JOSE-COSE:
`vc+jwt`/`vp+jwt`, `vc+sd-jwt`/`vp+sd-jwt`, `vc+cose`/`vp+cose`): the payload *is* the
credential or presentation, so the data-model, time, issuer and holder checks read the same
members whatever secures them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ancre.trust.did.document import did_of
from ancre.trust.errors import Code, InvalidError
from ancre.trust.policy import VerificationPolicy
from ancre.trust.steps import Run, check_window, numeric_date
from ancre.trust.vcdm.model import (
    VCDM2_CONTEXT,
    check_credential,
    parse_datetime_stamp,
    subject_ids,
    types_of,
)

__all__ = [
    "check_credential_time",
    "check_iss_is_issuer",
    "check_presentation_binding",
    "check_vcdm2_credential",
    "presentation_entries",
    "presentation_holder",
    "record_types_and_subject",
    "stamp",
    "time_window",
]


def record_types_and_subject(run: Run, document: Mapping[str, Any]) -> None:
    """The credential's types and first subject id, for the result."""
    run.types = types_of(document)
    ids = (
        subject_ids(document) if isinstance(document.get("credentialSubject"), dict | list) else ()
    )
    run.subject = ids[0] if ids else None


def check_vcdm2_credential(
    document: Mapping[str, Any], run: Run, policy: VerificationPolicy, fmt: str
) -> tuple[str, ...]:
    """The VCDM 2.0 data model (only 2.0: `fmt` secures nothing older); returns what was
    tolerated."""
    tolerated = check_credential(document, allow_untyped_evidence=policy.accept_untyped_evidence)
    if document["@context"][0] != VCDM2_CONTEXT:
        raise InvalidError(Code.INVALID_CONTEXT, f"{fmt} secures VCDM 2.0 only")
    record_types_and_subject(run, document)
    return tolerated


def stamp(claims: Mapping[str, Any], name: str) -> datetime | None:
    return parse_datetime_stamp(claims[name], name) if name in claims else None


def time_window(
    claims: Mapping[str, Any], now: datetime, policy: VerificationPolicy
) -> tuple[str, datetime | None]:
    """The validity window of a document whose JWT claims (if any) stand beside its VCDM
    members; returns the step's message and when the document took effect."""
    valid_from, iat = stamp(claims, "validFrom"), numeric_date(claims, "iat")
    message = check_window(
        now=now,
        skew=policy.clock_skew,
        not_before=[
            ("validFrom", valid_from),
            ("nbf", numeric_date(claims, "nbf")),
            ("iat", iat),
        ],
        not_after=[
            ("validUntil", stamp(claims, "validUntil")),
            ("exp", numeric_date(claims, "exp")),
        ],
    )
    return message, valid_from or numeric_date(claims, "nbf") or iat


def check_credential_time(
    claims: Mapping[str, Any], now: datetime, policy: VerificationPolicy
) -> str:
    """`time_window`, and the policy's maximum credential age."""
    message, issued = time_window(claims, now, policy)
    too_old = policy.max_credential_age
    if too_old is not None and issued is not None and now - issued > too_old:
        raise InvalidError(
            Code.CREDENTIAL_TOO_OLD, f"issued longer ago than the policy's {too_old}"
        )
    return message


def check_iss_is_issuer(header: Mapping[str, Any], payload: Mapping[str, Any], issuer: str) -> None:
    """`iss`, in the header or the payload, when present, names the credential's issuer."""
    for where, value in (("header", header.get("iss")), ("payload", payload.get("iss"))):
        if value is not None and value != issuer:
            raise InvalidError(
                Code.ISSUER_MISMATCH, f"`iss` in the {where} is not the issuer {issuer}"
            )


def presentation_holder(
    holder: Any, *, named: bool, header: Mapping[str, Any], unnamed: str = ""
) -> str:
    """Who presents: the named `holder` (a URL or an object's `id`), else — when the
    presentation names none — the DID of the `kid` that signed it. `unnamed` says, in the
    refusal, which members would have named the holder."""
    if isinstance(holder, dict):
        holder = holder.get("id")
    if not named:
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid.startswith("did:"):
            raise InvalidError(
                Code.INVALID_PRESENTATION,
                f"the presentation names no holder{unnamed} and its `kid` is not a DID URL: "
                "nothing says whose key signed it",
            )
        holder = did_of(kid)
    if not isinstance(holder, str):
        raise InvalidError(Code.INVALID_PRESENTATION, "the presentation's holder is not a URL")
    return holder


def check_presentation_binding(claims: Mapping[str, Any], policy: VerificationPolicy) -> str:
    """A presentation's `aud` and `nonce` members (or JWT claims) against the policy's."""
    parts = []
    if policy.accepted_audiences:
        aud = claims.get("aud")
        if not policy.audience_ok(aud):
            raise InvalidError(
                Code.AUDIENCE_MISMATCH,
                f"presentation is for {aud!r}, not one of {sorted(policy.accepted_audiences)}",
            )
        parts.append(f"aud {aud}")
    if policy.nonce is not None:
        if claims.get("nonce") != policy.nonce:
            raise InvalidError(Code.NONCE_MISMATCH, "presentation nonce is not the expected nonce")
        parts.append("nonce matches")
    if not parts:
        return "no audience or nonce required by policy (replayable presentation)"
    return ", ".join(parts)


def presentation_entries(presentation: Mapping[str, Any]) -> list[Any]:
    """The presentation's `verifiableCredential` entries, as a list."""
    entries = presentation.get("verifiableCredential", [])
    return entries if isinstance(entries, list) else [entries]
