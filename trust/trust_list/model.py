"""The trust list's content: who may issue which credential type, and since when.

The published list is shaped after ETSI TS 119 602 "lists of trusted entities" (LoTE, JSON
binding): `{"LoTE": {"ListAndSchemeInformation": …, "TrustedEntitiesList": […]}}`. Each
trusted entity (a trust anchor or a credential issuer) has one *service* per credential type
it is trusted for, and each service carries its full dated status history, so a verifier can
answer "was this issuer trusted for this type at time T" offline, from a cached list.

`TrustListDocument.to_json` writes the LoTE document in a canonical order; `from_json`
parses one strictly (anything off is `trust_list_invalid`). Field names follow TS 119 602
where it has one; what it does not model (claim constraints, accreditation, registration
numbers) sits in `…Extensions` members under `ancre:` names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from ancre.trust.errors import Code, InvalidError
from ancre.trust.vcdm.model import parse_datetime_stamp

__all__ = [
    "ANCHOR_SERVICE",
    "ClaimConstraint",
    "EntryStatus",
    "RegistryState",
    "StatusPeriod",
    "TrustListDocument",
    "TrustedEntity",
    "TrustedService",
]

LOTE_TYPE: Final = "urn:ancre:lote:trusted-credential-issuers"
#: The service type of a trust anchor (an entity that accredits issuers).
ANCHOR_SERVICE: Final = "urn:ancre:service:trust-anchor"
_STATUS_URI: Final = "urn:ancre:trust-list:status:"
_CLAIM_PATH: Final = re.compile(r"[^.\s]+(\.[^.\s]+)*")
_HEX64: Final = re.compile(r"[0-9a-f]{64}")


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
