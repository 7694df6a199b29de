"""Trust lists: who may issue which credential type, and since when.

The published list is shaped after ETSI TS 119 602 "lists of trusted entities" (LoTE, JSON
binding): `{"LoTE": {"ListAndSchemeInformation": …, "TrustedEntitiesList": […]}}`. Each
trusted entity (a trust anchor or a credential issuer) has one *service* per credential type
it is trusted for, and each service carries its full dated status history, so a verifier can
answer "was this issuer trusted for this type at time T" offline, from a cached list.

The list travels as a compact JWS with `typ: trust-list+jwt`, signed by the registry's key.
Verifiers refuse a list that is not signed by the configured registry, that is past its
`NextUpdate` (indeterminate: stale, not proof of anything) or whose sequence number is lower
than one already seen (a rollback to an older list).

Field names follow TS 119 602 where it has one; what it does not model (claim constraints,
accreditation, registration numbers) sits in `…Extensions` members under `ancre:` names.
"""

from __future__ import annotations

import bisect
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

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
from ancre.trust.net.blocking import WouldBlock, may_block
from ancre.trust.policy import VerificationPolicy
from ancre.trust.steps import KeySource, media_type, parse_jws, resolve_key
from ancre.trust.vcdm.model import parse_datetime_stamp

__all__ = [
    "ANCHOR_SERVICE",
    "TRUST_LIST_TYP",
    "ClaimConstraint",
    "EntryStatus",
    "RefreshStatus",
    "RegistryState",
    "StatusPeriod",
    "TrustList",
    "TrustListClient",
    "TrustListDocument",
    "TrustedEntity",
    "TrustedService",
    "default_state_dir",
    "sign_trust_list",
    "verify_trust_list",
]

TRUST_LIST_TYP: Final = "trust-list+jwt"
LOTE_TYPE: Final = "urn:ancre:lote:trusted-credential-issuers"
#: The service type of a trust anchor (an entity that accredits issuers).
ANCHOR_SERVICE: Final = "urn:ancre:service:trust-anchor"
_STATUS_URI: Final = "urn:ancre:trust-list:status:"
#: The default size limit of a signed list: 32 MiB holds about 23,000 issuers (10,000 take
#: about 14 MB). `TrustListClient(max_bytes=…)` and `--trust-list-max-bytes` change it.
MAX_TRUST_LIST_BYTES: Final = 32 * 1024 * 1024
_CLAIM_PATH: Final = re.compile(r"[^.\s]+(\.[^.\s]+)*")


class EntryStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True, slots=True)
class StatusPeriod:
    """From `since` on (until the next period), the entry has `status`."""

    status: EntryStatus
    since: datetime
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ClaimConstraint:
    """A condition on the credential: the claim at `claim` (a dotted path from the credential
    root, e.g. `credentialSubject.gx:legalAddress.gx:countryCode`) must be one of `allowed`."""

    claim: str
    allowed: tuple[str, ...]

    def satisfied_by(self, credential: Mapping[str, Any]) -> bool:
        values: list[Any] = [credential]
        for part in self.claim.split("."):
            nxt: list[Any] = []
            for value in values:
                for item in value if isinstance(value, list) else [value]:
                    if isinstance(item, Mapping) and part in item:
                        nxt.append(item[part])
            values = nxt
        flat = [v for value in values for v in (value if isinstance(value, list) else [value])]
        # Every value found must be allowed, and there must be at least one.
        return bool(flat) and all(isinstance(v, str) and v in self.allowed for v in flat)


@dataclass(frozen=True, slots=True)
class TrustedService:
    """An entity's trust for one credential type (or as an anchor), with its history."""

    service_type: str
    history: tuple[StatusPeriod, ...]
    constraints: tuple[ClaimConstraint, ...] = ()
    #: Identifiers the service signs under (DIDs); empty means the entity's own id.
    digital_ids: tuple[str, ...] = ()
    #: Base64 DER certificates (anchors: roots for x5c chains).
    x509_certificates: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TrustedEntity:
    id: str
    name: str
    services: tuple[TrustedService, ...]
    registration_number: str | None = None
    accredited_by: str | None = None


@dataclass(frozen=True, slots=True)
class RegistryState:
    """What the registry vouches for about itself when it signs a list: how many audit
    events it had and the hash of the last one (an auditor holding this list detects a
    truncated or rewritten log), and whether the two-person rule was on. Optional: lists
    published before this member existed stay valid."""

    audit_events: int
    audit_head: str
    two_person_rule: bool


_HEX64: Final = re.compile(r"[0-9a-f]{64}")


def _registry_state_json(state: RegistryState) -> dict[str, Any]:
    return {
        "AuditEvents": state.audit_events,
        "AuditHead": state.audit_head,
        "TwoPersonRule": state.two_person_rule,
    }


def _registry_state_from(value: Any) -> RegistryState:
    obj = _obj(value, "AncreRegistryState")
    events, head, rule = obj["AuditEvents"], obj["AuditHead"], obj["TwoPersonRule"]
    if isinstance(events, bool) or not isinstance(events, int) or events < 0:
        raise _bad("AuditEvents must be a non-negative integer")
    if not isinstance(head, str) or not _HEX64.fullmatch(head):
        raise _bad("AuditHead must be 64 lowercase hex digits")
    if not isinstance(rule, bool):
        raise _bad("TwoPersonRule must be a boolean")
    return RegistryState(events, head, rule)


@dataclass(frozen=True, slots=True)
class TrustListDocument:
    """The content of a published trust list."""

    sequence: int
    issued_at: datetime
    next_update: datetime
    operator_name: str
    scheme_name: str
    entities: tuple[TrustedEntity, ...]
    territory: str = "EU"
    list_type: str = LOTE_TYPE
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)
    registry_state: RegistryState | None = None

    # ---- JSON (LoTE) ----------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The LoTE document, in a canonical order: the same state gives the same bytes."""
        info = {
            "LoTEVersionIdentifier": 1,
            "LoTESequenceNumber": self.sequence,
            "LoTEType": self.list_type,
            "SchemeOperatorName": [{"lang": "en", "value": self.operator_name}],
            "SchemeName": [{"lang": "en", "value": self.scheme_name}],
            "SchemeTerritory": self.territory,
            "ListIssueDateTime": _stamp(self.issued_at),
            "NextUpdate": _stamp(self.next_update),
        }
        if self.registry_state is not None:
            info["AncreRegistryState"] = _registry_state_json(self.registry_state)
        entities = [_entity_json(e) for e in sorted(self.entities, key=lambda e: e.id)]
        return {"LoTE": {"ListAndSchemeInformation": info, "TrustedEntitiesList": entities}}

    @classmethod
    def from_json(cls, document: Any) -> TrustListDocument:
        """Parse a LoTE document strictly; anything off is `trust_list_invalid`."""
        try:
            lote = _obj(_obj(document, "document")["LoTE"], "LoTE")
            info = _obj(lote["ListAndSchemeInformation"], "ListAndSchemeInformation")
            if info.get("LoTEVersionIdentifier") != 1:
                raise _bad("LoTEVersionIdentifier must be 1")
            sequence = info["LoTESequenceNumber"]
            if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 1:
                raise _bad("LoTESequenceNumber must be a positive integer")
            entities = tuple(
                _entity_from(e) for e in _arr(lote["TrustedEntitiesList"], "TrustedEntitiesList")
            )
            ids = [e.id for e in entities]
            if len(set(ids)) != len(ids):
                raise _bad("an entity is listed twice")
            return cls(
                sequence=sequence,
                issued_at=parse_datetime_stamp(info["ListIssueDateTime"], "ListIssueDateTime"),
                next_update=parse_datetime_stamp(info["NextUpdate"], "NextUpdate"),
                operator_name=_ml(info["SchemeOperatorName"], "SchemeOperatorName"),
                scheme_name=_ml(info["SchemeName"], "SchemeName"),
                territory=_str(info["SchemeTerritory"], "SchemeTerritory"),
                list_type=_str(info["LoTEType"], "LoTEType"),
                entities=entities,
                registry_state=(
                    _registry_state_from(info["AncreRegistryState"])
                    if "AncreRegistryState" in info
                    else None
                ),
            )
        except KeyError as missing:
            raise _bad(f"missing member {missing}") from None
        except InvalidError as error:
            if error.code is Code.TRUST_LIST_INVALID:
                raise
            raise _bad(error.message) from None


def _bad(message: str) -> InvalidError:
    return InvalidError(Code.TRUST_LIST_INVALID, f"trust list: {message}")


def _obj(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(f"`{name}` must be an object")
    return value


def _arr(value: Any, name: str) -> list[Any]:
    if not isinstance(value, list):
        raise _bad(f"`{name}` must be an array")
    return value


def _str(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise _bad(f"`{name}` must be a non-empty string")
    return value


def _ml(value: Any, name: str) -> str:
    # A multilingual string list: ancre reads the first entry.
    items = _arr(value, name)
    if not items:
        raise _bad(f"`{name}` must not be empty")
    return _str(_obj(items[0], name).get("value"), name)


def _stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _period_json(period: StatusPeriod) -> dict[str, str]:
    out = {"ServiceStatus": _STATUS_URI + period.status.value}
    out["StatusStartingTime"] = _stamp(period.since)
    if period.reason:
        out["ancre:reason"] = period.reason
    return out


def _period_from(value: Any) -> StatusPeriod:
    obj = _obj(value, "ServiceHistory entry")
    uri = _str(obj.get("ServiceStatus"), "ServiceStatus")
    if not uri.startswith(_STATUS_URI):
        raise _bad(f"unknown ServiceStatus {uri!r}")
    try:
        status = EntryStatus(uri.removeprefix(_STATUS_URI))
    except ValueError:
        raise _bad(f"unknown ServiceStatus {uri!r}") from None
    reason = obj.get("ancre:reason", "")
    if not isinstance(reason, str):
        raise _bad("`ancre:reason` must be a string")
    return StatusPeriod(
        status, parse_datetime_stamp(obj.get("StatusStartingTime"), "StatusStartingTime"), reason
    )


def _service_json(service: TrustedService) -> dict[str, Any]:
    history = sorted(service.history, key=lambda p: p.since)
    info: dict[str, Any] = {
        "ServiceTypeIdentifier": service.service_type,
        "ServiceName": [{"lang": "en", "value": service.service_type}],
        **_period_json(history[-1]),
    }
    identity: dict[str, Any] = {}
    if service.digital_ids:
        identity["OtherIds"] = sorted(service.digital_ids)
    if service.x509_certificates:
        identity["X509Certificates"] = [{"val": c} for c in service.x509_certificates]
    if identity:
        info["ServiceDigitalIdentity"] = identity
    if service.constraints:
        info["ServiceInformationExtensions"] = {
            "ancre:constraints": [
                {"claim": c.claim, "in": list(c.allowed)} for c in service.constraints
            ]
        }
    # ServiceHistory: every period, oldest first (TS 119 612 lists newest first; ancre keeps
    # chronological order so the list reads as a timeline).
    return {"ServiceInformation": info, "ServiceHistory": [_period_json(p) for p in history]}


def _service_from(value: Any) -> TrustedService:
    obj = _obj(value, "TrustedEntityServices entry")
    info = _obj(obj.get("ServiceInformation"), "ServiceInformation")
    history = tuple(_period_from(p) for p in _arr(obj.get("ServiceHistory"), "ServiceHistory"))
    if not history:
        raise _bad("a service needs a ServiceHistory")
    if [p.since for p in history] != sorted(p.since for p in history):
        raise _bad("ServiceHistory must be in chronological order")
    current = _period_from(info)
    if current != history[-1]:
        raise _bad("ServiceStatus must be the last ServiceHistory entry")
    identity = _obj(info.get("ServiceDigitalIdentity", {}), "ServiceDigitalIdentity")
    ids = tuple(_str(i, "OtherIds") for i in _arr(identity.get("OtherIds", []), "OtherIds"))
    certs = tuple(
        _str(_obj(c, "X509Certificates").get("val"), "X509Certificates")
        for c in _arr(identity.get("X509Certificates", []), "X509Certificates")
    )
    ext = _obj(info.get("ServiceInformationExtensions", {}), "ServiceInformationExtensions")
    constraints = []
    for raw in _arr(ext.get("ancre:constraints", []), "ancre:constraints"):
        c = _obj(raw, "constraint")
        claim = _str(c.get("claim"), "claim")
        if not _CLAIM_PATH.fullmatch(claim):
            raise _bad(f"constraint claim path {claim!r} is malformed")
        allowed = tuple(_str(v, "in") for v in _arr(c.get("in"), "in"))
        constraints.append(ClaimConstraint(claim, allowed))
    return TrustedService(
        service_type=_str(info.get("ServiceTypeIdentifier"), "ServiceTypeIdentifier"),
        history=history,
        constraints=tuple(constraints),
        digital_ids=ids,
        x509_certificates=certs,
    )


def _entity_json(entity: TrustedEntity) -> dict[str, Any]:
    ext: dict[str, Any] = {"ancre:entityId": entity.id}
    if entity.registration_number:
        ext["ancre:registrationNumber"] = entity.registration_number
    if entity.accredited_by:
        ext["ancre:accreditedBy"] = entity.accredited_by
    services = sorted(entity.services, key=lambda s: s.service_type)
    return {
        "TrustedEntityInformation": {
            "TEName": [{"lang": "en", "value": entity.name}],
            "TEInformationExtensions": ext,
        },
        "TrustedEntityServices": [_service_json(s) for s in services],
    }


def _entity_from(value: Any) -> TrustedEntity:
    obj = _obj(value, "TrustedEntitiesList entry")
    info = _obj(obj.get("TrustedEntityInformation"), "TrustedEntityInformation")
    ext = _obj(info.get("TEInformationExtensions"), "TEInformationExtensions")
    reg, acc = ext.get("ancre:registrationNumber"), ext.get("ancre:accreditedBy")
    services = tuple(
        _service_from(s) for s in _arr(obj.get("TrustedEntityServices"), "TrustedEntityServices")
    )
    types = [s.service_type for s in services]
    if len(set(types)) != len(types):
        raise _bad("a service type is listed twice for one entity")
    return TrustedEntity(
        id=_str(ext.get("ancre:entityId"), "ancre:entityId"),
        name=_ml(info.get("TEName"), "TEName"),
        services=services,
        registration_number=None if reg is None else _str(reg, "ancre:registrationNumber"),
        accredited_by=None if acc is None else _str(acc, "ancre:accreditedBy"),
    )


# ------------------------------------------------------------------------------------------
# the query index


@dataclass(frozen=True, slots=True)
class _Timeline:
    times: tuple[float, ...]
    statuses: tuple[EntryStatus, ...]
    constraints: tuple[ClaimConstraint, ...]

    def at(self, when: float) -> EntryStatus | None:
        i = bisect.bisect_right(self.times, when) - 1
        return self.statuses[i] if i >= 0 else None


class TrustList:
    """A verified trust list, indexed for fast `is_trusted` lookups (a dict probe and a
    binary search over the entry's history)."""

    def __init__(self, document: TrustListDocument) -> None:
        self.document = document
        index: dict[tuple[str, str], _Timeline] = {}
        for entity in document.entities:
            for service in entity.services:
                history = sorted(service.history, key=lambda p: p.since)
                timeline = _Timeline(
                    tuple(p.since.timestamp() for p in history),
                    tuple(p.status for p in history),
                    service.constraints,
                )
                for ident in service.digital_ids or (entity.id,):
                    index[(ident, service.service_type)] = timeline
        self._index = index

    @property
    def sequence(self) -> int:
        return self.document.sequence

    def status_at(self, issuer: str, credential_type: str, at: datetime) -> EntryStatus | None:
        """The issuer's status for `credential_type` at `at`; None if it was not listed."""
        timeline = self._index.get((issuer, credential_type))
        return None if timeline is None else timeline.at(at.timestamp())

    def is_trusted(self, issuer: str, credential_type: str, at: datetime) -> bool:
        timeline = self._index.get((issuer, credential_type))
        return timeline is not None and timeline.at(at.timestamp()) is EntryStatus.ACTIVE

    def check(
        self,
        issuer: str,
        credential_types: Iterable[str],
        *,
        issued_at: datetime,
        now: datetime,
        credential: Mapping[str, Any] | None = None,
    ) -> str:
        """Raise `issuer_not_trusted` unless, for every type, the issuer was active at
        `issued_at`, is not withdrawn at `now`, and the credential meets the constraints."""
        checked = []
        for ctype in credential_types:
            timeline = self._index.get((issuer, ctype))
            then = timeline.at(issued_at.timestamp()) if timeline else None
            if timeline is None:
                raise InvalidError(Code.ISSUER_NOT_TRUSTED, f"{issuer} is not listed for {ctype}")
            if then is None:
                # Listed now but not yet then: say both, or the verdict reads as a bad list.
                first = datetime.fromtimestamp(timeline.times[0], UTC)
                raise InvalidError(
                    Code.ISSUER_NOT_TRUSTED,
                    f"{issuer} is not listed for {ctype} at issuance time {_stamp(issued_at)} "
                    f"(listed from {_stamp(first)})",
                )
            if then is not EntryStatus.ACTIVE:
                raise InvalidError(
                    Code.ISSUER_NOT_TRUSTED,
                    f"{issuer} was {then} for {ctype} at {_stamp(issued_at)}",
                )
            if timeline.at(now.timestamp()) is EntryStatus.WITHDRAWN:
                raise InvalidError(
                    Code.ISSUER_NOT_TRUSTED, f"{issuer} has since been withdrawn for {ctype}"
                )
            for constraint in timeline.constraints:
                if credential is None or not constraint.satisfied_by(credential):
                    raise InvalidError(
                        Code.ISSUER_NOT_TRUSTED,
                        f"{issuer} may issue {ctype} only with {constraint.claim} in "
                        f"{list(constraint.allowed)}",
                    )
            checked.append(ctype)
        if not checked:
            raise InvalidError(Code.ISSUER_NOT_TRUSTED, "the credential names no type to check")
        return f"{issuer} is trusted for {', '.join(checked)} (trust list #{self.sequence})"


# ------------------------------------------------------------------------------------------
# signed publication


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


# ------------------------------------------------------------------------------------------
# the client verifiers use


#: The environment variable naming ancre's state directory (rollback memory).
STATE_DIR_ENV: Final = "ANCRE_STATE_DIR"


def default_state_dir() -> str:
    """Where ancre keeps state that must survive a restart (the highest trust-list sequence
    seen per registry): `$ANCRE_STATE_DIR`, else `$XDG_STATE_HOME/ancre`, else
    `~/.local/state/ancre` (XDG Base Directory: "state data that should persist between
    (application) restarts")."""
    import os
    from pathlib import Path

    explicit = os.environ.get(STATE_DIR_ENV)
    if explicit:
        return explicit
    xdg = os.environ.get("XDG_STATE_HOME")
    if xdg and os.path.isabs(xdg):  # the spec: a relative path is invalid, ignore it
        return str(Path(xdg) / "ancre")
    return str(Path.home() / ".local" / "state" / "ancre")


def _registry_file(folder: str, registry: str, suffix: str) -> str:
    """A file in `folder` (created, owner-only) named after the registry, not after where
    its list comes from: the same registry's list fetched from a URL or read from a saved
    file shares one rollback memory (issue 12, point 12)."""
    import hashlib
    from pathlib import Path

    path = Path(folder)
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigurationError(f"state directory {folder}: {error.strerror}") from None
    name = "trust-list-" + hashlib.sha256(registry.encode("utf-8")).hexdigest()[:16]
    return str(path / f"{name}{suffix}")


def _raise_state(path: str, sequence: int) -> int:
    """Raise the sequence stored in `path` to `sequence` (never lower it) and return the
    stored value. Under an exclusive lock: two processes accepting #7 and #6 at once must
    leave 7, not whichever wrote last."""
    import fcntl
    import os
    from pathlib import Path

    from ancre.trust.keys.keystore import atomic_write

    try:
        lock = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as error:
        raise _unrecorded(path, error) from None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with open(path, encoding="utf-8") as handle:
                stored = int(handle.read(32).strip() or 0)
        except FileNotFoundError:
            stored = 0
        except (OSError, ValueError):
            raise ConfigurationError(f"trust-list state file {path} is unreadable") from None
        if sequence > stored:
            atomic_write(Path(path), f"{sequence}\n".encode(), mode=0o644)
            stored = sequence
    except OSError as error:
        raise _unrecorded(path, error) from None
    finally:
        os.close(lock)  # releases the lock
    return stored


def _unrecorded(path: str, error: OSError) -> IndeterminateError:
    # A list whose sequence cannot be recorded is not accepted: after a restart the memory
    # would not know it, and an older list would pass. The list held (if any) keeps serving.
    return IndeterminateError(
        Code.TRUST_LIST_UNAVAILABLE,
        f"cannot record the trust-list sequence in {path}: {error.strerror}",
    )


@dataclass(frozen=True, slots=True)
class RefreshStatus:
    """How the client's refreshes are going, for readiness probes, metrics and logs."""

    #: The sequence of the list served now (None: none).
    sequence: int | None
    #: When that list expires (its NextUpdate).
    next_update: datetime | None
    #: Failed refreshes since the client was made, and in a row since the last success.
    failures: int
    consecutive_failures: int
    #: The last failed refresh's code and message (None after a success).
    last_error_code: str | None
    last_error: str | None
    #: When the next refresh may be tried (backoff), if the last one failed.
    next_attempt_at: datetime | None


class TrustListClient:
    """Keeps a verified trust list current, for verifiers.

    `source` is the list's URL (fetched through `ancre.trust.net.guard.fetch`, so the SSRF guard
    and time limits apply; ETag revalidation after `max-age`) or, offline, a path to a saved
    `trust-list+jwt` file. The list may be up to `max_bytes` long — its own limit, not the
    network policy's (a list of 10,000 issuers is about 14 MB).

    Rollback: the highest sequence number ever accepted for `registry` is remembered — in a
    state file named after the registry (not the source: a URL and a saved file of the same
    registry share it) in `state_dir`, which defaults to `cache_dir` if given, else
    `default_state_dir()`; `state_file` names the file outright. An older list is refused
    as a rollback.

    A failed refresh (unreachable, too slow, garbage, a forged or an older list) never
    discards a good list: the last accepted list is served until its `NextUpdate`, the
    failure is counted and logged (`refresh_status()`), and the next attempt waits with
    exponential backoff and jitter (`retry_base` doubling up to `retry_max`) — one refresh
    at a time; while it runs, other callers get the cached list. Past `NextUpdate`, and
    with no list at all, `current()` raises — never a stale answer.

    `cache_file` keeps the last accepted signed list on disk (written atomically), so a
    restarted verifier answers as before even while the registry is down: the file is
    verified again (signature, registry, rollback, NextUpdate) when loaded, revalidated with
    the registry at first use, and ignored if it no longer verifies. `cache_dir` sets it
    (named after the registry) and, by default, `state_dir`.
    """

    def __init__(
        self,
        source: str,
        *,
        registry: str,
        resolver: DidResolver | KeySource,
        clock: Clock,
        http_client: Any = None,
        network: Any = None,
        state_file: str | None = None,
        cache_file: str | None = None,
        cache_dir: str | None = None,
        state_dir: str | None = None,
        default_ttl: timedelta = timedelta(minutes=5),
        max_bytes: int = MAX_TRUST_LIST_BYTES,
        retry_base: timedelta = timedelta(seconds=1),
        retry_max: timedelta = timedelta(minutes=5),
    ) -> None:
        if cache_dir is not None:
            if state_file is not None or cache_file is not None:
                raise ConfigurationError("give cache_dir, or state_file/cache_file, not both")
            cache_file = _registry_file(cache_dir, registry, ".jwt")
        if max_bytes < 1:
            raise ConfigurationError("the trust-list size limit must be positive")
        if state_file is not None and state_dir is not None:
            raise ConfigurationError("give state_file or state_dir, not both")
        if state_file is None:
            folder = state_dir or cache_dir or default_state_dir()
            state_file = _registry_file(folder, registry, ".sequence")
        self.source = source
        self._registry, self._resolver, self._clock = registry, resolver, clock
        self._client, self._network = http_client, network
        self._state_file: str = state_file
        self._ttl = default_ttl
        self._max_bytes = max_bytes
        self._retry_base, self._retry_max = retry_base, retry_max
        self._list: TrustList | None = None
        self._etag: str | None = None
        self._fresh_until: datetime | None = None
        self._lock = threading.Lock()
        self._failures = 0
        self._consecutive = 0
        self._last_error: AncreError | None = None
        self._retry_at: datetime | None = None
        self._highest = self._load_highest()
        self._cache_file = cache_file
        self._load_cache()

    @property
    def offline(self) -> bool:
        return not self.source.startswith(("https://", "http://"))

    @property
    def max_bytes(self) -> int:
        """The largest list this client accepts, in bytes."""
        return self._max_bytes

    def _load_highest(self) -> int:
        try:
            with open(self._state_file, encoding="utf-8") as handle:
                value = int(handle.read(32).strip() or 0)
        except FileNotFoundError:
            return 0
        except (OSError, ValueError):
            raise ConfigurationError(
                f"trust-list state file {self._state_file} is unreadable"
            ) from None
        return value

    def _load_cache(self) -> None:
        if self._cache_file is None:
            return
        try:
            with open(self._cache_file, "rb") as handle:
                body = handle.read(self._max_bytes + 1)
        except FileNotFoundError:
            return
        except OSError as error:
            raise ConfigurationError(
                f"trust-list cache {self._cache_file} is unreadable: {error.strerror}"
            ) from None
        try:
            # Fresh until now: the first use revalidates with the registry; if that fails,
            # this list serves until its NextUpdate, like any list fetched earlier.
            self._accept(body, fresh_until=self._clock.now(), save=False)
        except AncreError:
            # Tampered, rolled back, stale or signed by another registry: not a list to use.
            self._list = None

    def _remember(self, sequence: int) -> None:
        if sequence <= self._highest:
            return
        self._highest = _raise_state(self._state_file, sequence)

    def refresh_status(self) -> RefreshStatus:
        """The list served now and how refreshing it is going (no network)."""
        listed, error = self._list, self._last_error
        return RefreshStatus(
            sequence=None if listed is None else listed.sequence,
            next_update=None if listed is None else listed.document.next_update,
            failures=self._failures,
            consecutive_failures=self._consecutive,
            last_error_code=None if error is None else error.code.value,
            last_error=None if error is None else error.message,
            next_attempt_at=self._retry_at,
        )

    def _due(self, now: datetime) -> bool:
        """Whether a refresh should be tried now."""
        if self._retry_at is not None:
            return now >= self._retry_at  # backing off after a failure
        return self._list is None or self._fresh_until is None or now >= self._fresh_until

    def current(self) -> TrustList:
        """A verified, non-stale list (refreshing it if its cache time is over)."""
        now = self._clock.now()
        listed = self._list
        if listed is not None and not self._due(now):
            return self._answer(now)
        # Single flight: one refresh at a time. A caller arriving while another refreshes
        # gets the cached list if it still serves; only with nothing to serve does it wait.
        # The lock is held across a refresh (network): code that must not block (an event
        # loop, inside `net.no_network()`) does not wait for it.
        if not self._lock.acquire(blocking=False):
            if listed is not None and now < listed.document.next_update:
                return listed
            if not may_block():
                raise WouldBlock(self.source)
            self._lock.acquire()
        try:
            now = self._clock.now()
            if self._due(now):
                if not may_block():
                    raise WouldBlock(self.source)  # a fetch or a file read
                self._attempt(now)
            return self._answer(now)
        finally:
            self._lock.release()

    def _attempt(self, now: datetime) -> None:
        try:
            self._refresh(now)
        except (InvalidError, IndeterminateError, MalformedError) as error:
            self._failed(now, error)
            return
        self._consecutive, self._last_error, self._retry_at = 0, None, None

    def _failed(self, now: datetime, error: AncreError) -> None:
        """Count and log a failed refresh and back off before the next one. The list held
        (if any) stays: one bad answer from the registry — garbage, a forgery, an older list
        — must not turn every verdict invalid (issue 12, point 8), and a failing registry
        must not be asked again on every request (point 9)."""
        import logging
        import random

        self._failures += 1
        self._consecutive += 1
        self._last_error = error
        exponent = min(self._consecutive - 1, 30)
        delay = min(self._retry_max, self._retry_base * (2**exponent))
        # "Equal jitter": half the delay, plus up to as much again at random, so verifiers
        # restarted together do not hit a recovering registry in step.
        delay = delay / 2 + delay * (random.random() / 2)  # noqa: S311 - not a secret
        self._retry_at = now + delay
        listed = self._list
        serving = (
            f"serving #{listed.sequence} until {_stamp(listed.document.next_update)}"
            if listed is not None and now < listed.document.next_update
            else "no list to serve"
        )
        logging.getLogger("ancre.trust.trust_list.core").warning(
            "trust list refresh from %s failed (%s: %s); %s; next attempt at %s",
            self.source[:200],
            error.code.value,
            # The message may quote what the registry sent (a header's `iss`…): escaped, so
            # it cannot forge log lines.
            error.message[:500].encode("unicode_escape").decode("ascii"),
            serving,
            _stamp(self._retry_at),
        )

    def _answer(self, now: datetime) -> TrustList:
        listed, error = self._list, self._last_error
        if listed is not None:
            if now < listed.document.next_update:
                return listed
            why = "" if error is None else f" ({error.code.value}: {error.message})"
            raise IndeterminateError(
                Code.TRUST_LIST_STALE,
                f"trust list #{listed.sequence} expired at "
                f"{_stamp(listed.document.next_update)} and could not be refreshed{why}",
            )
        if error is not None:
            # While backing off, the last failure stands (same verdict and code), without
            # asking the registry again.
            raise type(error)(error.code, error.message)
        raise IndeterminateError(Code.TRUST_LIST_UNAVAILABLE, f"no trust list from {self.source}")

    def _refresh(self, now: datetime) -> None:
        if self.offline:
            try:
                with open(self.source, "rb") as handle:
                    body = handle.read(self._max_bytes + 1)
            except OSError as error:
                raise IndeterminateError(
                    Code.TRUST_LIST_UNAVAILABLE, f"cannot read {self.source}: {error.strerror}"
                ) from None
            self._accept(body, fresh_until=now + self._ttl)
            return
        from dataclasses import replace

        from ancre.trust.net.guard import NetworkPolicy, fetch, freshness

        if self._client is None:
            raise ConfigurationError("fetching a trust list needs an http_client")
        # The list has its own size limit: the network policy's (256 KiB by default, sized
        # for DID documents) would refuse a list of a few hundred issuers (point 11).
        network = replace(self._network or NetworkPolicy(), max_bytes=self._max_bytes)
        headers = {"Accept": "application/trust-list+jwt"}
        if self._etag and self._list is not None:
            headers["If-None-Match"] = self._etag
        try:
            result = fetch(self.source, client=self._client, policy=network, headers=headers)
        except (InvalidError, IndeterminateError) as error:
            # Refused by the guard, unreachable, too slow: in every case the list is simply
            # not available, which is what the verdict should say.
            raise IndeterminateError(
                Code.TRUST_LIST_UNAVAILABLE, f"{self.source}: {error.code}: {error.message}"
            ) from None
        fresh = freshness(
            result.headers,
            clock=self._clock,
            default_ttl=int(self._ttl.total_seconds()),
            max_ttl=86400,
        )
        if result.status == 304 and self._list is not None:
            self._fresh_until = fresh.expires_at
            return
        if result.status != 200:
            raise IndeterminateError(
                Code.TRUST_LIST_UNAVAILABLE, f"{self.source} answered HTTP {result.status}"
            )
        self._accept(result.body, fresh_until=fresh.expires_at)
        self._etag = fresh.etag

    def _accept(self, body: bytes, *, fresh_until: datetime, save: bool = True) -> None:
        # Another process (a CLI run, a replica) may have seen a newer list since.
        self._highest = max(self._highest, self._load_highest())
        token = body.strip()
        trust_list = verify_trust_list(
            token,
            registry=self._registry,
            resolver=self._resolver,
            clock=self._clock,
            min_sequence=self._highest or None,
            max_bytes=self._max_bytes,
        )
        self._remember(trust_list.sequence)
        if save and self._cache_file is not None:
            import logging
            from pathlib import Path

            from ancre.trust.keys.keystore import atomic_write

            try:
                atomic_write(Path(self._cache_file), token, mode=0o644)
            except OSError as error:  # a warm start is lost, not the list: keep going
                logging.getLogger("ancre.trust.trust_list.core").warning(
                    "cannot write the trust-list cache %s: %s", self._cache_file, error.strerror
                )
        self._list, self._fresh_until = trust_list, fresh_until

    def is_trusted(self, issuer: str, credential_type: str, at: datetime) -> bool:
        return self.current().is_trusted(issuer, credential_type, at)

    def check(
        self,
        issuer: str,
        credential_types: Iterable[str],
        *,
        issued_at: datetime,
        now: datetime,
        credential: Mapping[str, Any] | None = None,
    ) -> str:
        """`TrustList.check` on the current list (indeterminate if there is none)."""
        return self.current().check(
            issuer, credential_types, issued_at=issued_at, now=now, credential=credential
        )
