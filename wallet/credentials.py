"""Held credentials: checking one (on receipt and for `status`), summarising it, storing it.

A credential is checked with ancre's one verification engine (`ancre.verifier.engine`):
signature, data model, time, schema, status and — when the wallet is given trusted issuers
or a trust list — trust. Only a `valid` credential bound to one of the wallet's identities
is stored.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final

from ancre.trust.clock import Clock
from ancre.trust.errors import Code, InvalidError
from ancre.trust.jose.vc_jose import TrustChecker
from ancre.trust.policy import VerificationPolicy
from ancre.trust.result import Status, VerificationResult
from ancre.trust.sd_jwt.issue import SdJwt
from ancre.verifier.engine import Verifier
from ancre.verifier.factory import build_context

from .http import Http
from .identities import Identity
from .store import Entry, WalletStore, new_record_id

__all__ = [
    "Checker",
    "HeldCredential",
    "check_binding",
    "credential_state",
    "list_credentials",
    "matches_type",
    "refresh_status",
    "store_credential",
]

KIND: Final = "cred"
SD_JWT: Final = "dc+sd-jwt"
VC_JWT: Final = "vc+jwt"


@dataclass(frozen=True, slots=True)
class Checker:
    """How the wallet checks credentials: its HTTP client and network policy, the clock, and
    the optional trust source (trusted issuer DIDs and/or a trust-list checker)."""

    http: Http
    clock: Clock
    trusted_issuers: frozenset[str] | None = None
    trust: TrustChecker | None = None

    def verify(self, token: str) -> VerificationResult:
        """Verify a credential as held (an SD-JWT VC without key binding: the holder's copy)."""
        # did:web and status lists over https only, even on loopback: with plain http
        # allowed, the did:web resolver would look for loopback DID documents over http.
        network = replace(self.http.network, allow_http=False)
        policy = VerificationPolicy(trusted_issuers=self.trusted_issuers, require_key_binding=False)
        context = build_context(
            clock=self.clock, policy=policy, http=self.http.client, network=network
        )
        return Verifier(context._replace(trust=self.trust)).verify(token, expect="credential")


def credential_state(result: VerificationResult) -> str:
    """One word for a verification outcome: valid, revoked, suspended, expired, invalid, or
    unknown (could not decide: a status list or DID document unreachable)."""
    if result.status is Status.VALID:
        return "valid"
    codes = {c.code for c in result.errors}
    for word in (Code.REVOKED, Code.SUSPENDED, Code.EXPIRED):
        if word.value in codes:
            return word.value
    return "unknown" if result.status is Status.INDETERMINATE else "invalid"


def _format_of(token: str) -> str:
    return SD_JWT if "~" in token else VC_JWT


def _valid_until(result: VerificationResult) -> str | None:
    credential = result.credential or {}
    value = credential.get("validUntil")
    if isinstance(value, str):
        return value
    exp = credential.get("exp")
    if isinstance(exp, int | float) and not isinstance(exp, bool):
        return datetime.fromtimestamp(exp, UTC).isoformat(timespec="seconds")
    return None


def check_binding(token: str, result: VerificationResult, identity: Identity) -> None:
    """The credential must be issued to `identity`: `credentialSubject.id` is its DID
    (vc+jwt), or `cnf.jwk` is its key (SD-JWT VC). Call only on a verified credential."""
    if _format_of(token) == SD_JWT:
        cnf = SdJwt.parse(token).unverified_payload().get("cnf")
        jwk = cnf.get("jwk") if isinstance(cnf, dict) else None
        from ancre.trust.keys.jwk import PublicKey

        if not isinstance(jwk, dict) or (
            PublicKey.from_jwk(jwk).thumbprint() != identity.key.public_key.thumbprint()
        ):
            raise InvalidError(
                Code.CREDENTIAL_REFUSED,
                f"the credential is not bound to the key of {identity.name} (cnf.jwk differs)",
            )
        return
    if result.subject != identity.did:
        raise InvalidError(
            Code.CREDENTIAL_REFUSED,
            f"the credential's subject is {result.subject!r}, not {identity.did}",
        )


@dataclass(frozen=True, slots=True)
class HeldCredential:
    """A credential in the wallet, as listed. `token` is the credential itself (with every
    disclosure, for an SD-JWT VC): shown only by `show`."""

    id: str
    format: str
    types: tuple[str, ...]
    issuer: str | None
    subject: str | None
    valid_until: str | None
    status: str
    status_checked_at: str | None
    received_at: str
    identity: str
    token: str

    def to_json(self) -> dict[str, Any]:
        """Listing fields (stable names); never the token."""
        return {
            "id": self.id,
            "format": self.format,
            "types": list(self.types),
            "issuer": self.issuer,
            "subject": self.subject,
            "valid_until": self.valid_until,
            "status": self.status,
            "status_checked_at": self.status_checked_at,
            "received_at": self.received_at,
            "identity": self.identity,
        }

    def record(self) -> dict[str, Any]:
        return {**self.to_json(), "token": self.token}

    @classmethod
    def from_record(cls, record_id: str, data: dict[str, Any]) -> HeldCredential:
        try:
            return cls(
                id=record_id,
                format=str(data["format"]),
                types=tuple(str(t) for t in data["types"]),
                issuer=data["issuer"],
                subject=data["subject"],
                valid_until=data["valid_until"],
                status=str(data["status"]),
                status_checked_at=data["status_checked_at"],
                received_at=str(data["received_at"]),
                identity=str(data["identity"]),
                token=str(data["token"]),
            )
        except (KeyError, TypeError):
            raise InvalidError(
                Code.RECORD_TAMPERED, f"record {record_id} is not a credential"
            ) from None


def store_credential(
    store: WalletStore, token: str, result: VerificationResult, identity: Identity, now: datetime
) -> HeldCredential:
    """Store a credential that verified (`result`) and is bound to `identity`."""
    if result.status is not Status.VALID:
        raise InvalidError(Code.CREDENTIAL_REFUSED, "only a valid credential is stored")
    stamp = now.isoformat(timespec="seconds")
    held = HeldCredential(
        id=new_record_id(KIND),
        format=_format_of(token),
        types=tuple(result.types),
        issuer=result.issuer,
        subject=result.subject,
        valid_until=_valid_until(result),
        status="valid",
        status_checked_at=stamp,
        received_at=stamp,
        identity=identity.id,
        token=token,
    )
    with store.writing():
        store.put(held.id, held.record())
    return held


def list_credentials(store: WalletStore) -> tuple[list[HeldCredential], list[Entry]]:
    """The wallet's credentials (by receipt time) and the records that failed their check."""
    held: list[HeldCredential] = []
    bad: list[Entry] = []
    for entry in store.entries(KIND):
        if entry.data is None:
            bad.append(entry)
            continue
        try:
            held.append(HeldCredential.from_record(entry.id, entry.data))
        except InvalidError as error:
            bad.append(Entry(entry.id, None, error.message))
    held.sort(key=lambda c: (c.received_at, c.id))
    return held, bad


def matches_type(held: HeldCredential, wanted: Collection[str]) -> bool:
    """Whether one of the credential's types (or its `vct`) is wanted; a bare name also
    matches a prefixed type (`LegalPerson` matches `gx:LegalPerson`)."""
    for name in held.types:
        short = name.rsplit(":", 1)[-1].rsplit("/", 1)[-1].rsplit("#", 1)[-1]
        if name in wanted or short in wanted:
            return True
    return False


def refresh_status(store: WalletStore, checker: Checker) -> list[dict[str, Any]]:
    """Check every held credential again (revocation, suspension, expiry) and record the new
    state; returns one entry per credential: id, types, before, after, changed."""
    held, _ = list_credentials(store)
    report: list[dict[str, Any]] = []
    for credential in held:
        after = credential_state(checker.verify(credential.token))
        stamp = checker.clock.now().isoformat(timespec="seconds")
        with store.writing():
            try:
                current = HeldCredential.from_record(credential.id, store.get(credential.id))
            except InvalidError:
                continue  # deleted or damaged meanwhile: `list` reports it
            updated = {**current.record(), "status": after, "status_checked_at": stamp}
            store.put(credential.id, updated)
        report.append(
            {
                "id": credential.id,
                "types": list(credential.types),
                "before": credential.status,
                "after": after,
                "changed": after != credential.status,
            }
        )
    return report
