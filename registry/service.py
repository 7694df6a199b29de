"""The registry's domain rules, over the database. The API and the CLI only call these.

Every change runs in one transaction together with its audit event, so the database and the
hash-chained audit log can never disagree, even if the process is killed mid-write.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ancre.trust.clock import Clock
from ancre.trust.errors import AncreError, Code, ConfigurationError
from ancre.trust.keys import Signer
from ancre.trust.trust_list import (
    ANCHOR_SERVICE,
    ClaimConstraint,
    EntryStatus,
    StatusPeriod,
    TrustedEntity,
    TrustedService,
    TrustListDocument,
    sign_trust_list,
)

from .db import (
    AnchorRow,
    AuditRow,
    GrantRow,
    IssuerRow,
    MetaRow,
    PendingRow,
    PublicationRow,
    StatusRow,
    TokenRow,
    session_factory,
    write_engine,
)

__all__ = ["AuditReport", "IssuerSpec", "PendingChange", "Registry", "RegistryError", "Role"]

_GENESIS: Final = "0" * 64
_ORDER: Final = {EntryStatus.ACTIVE: 0, EntryStatus.SUSPENDED: 1, EntryStatus.WITHDRAWN: 2}


class RegistryError(AncreError):
    """A request the registry refuses (unknown entry, rule broken, not allowed)."""

    def __init__(self, message: str, *, status: int = 409) -> None:
        super().__init__(Code.POLICY_VIOLATION, message)
        self.http_status = status


class Role(StrEnum):
    VIEWER = "viewer"
    EDITOR = "editor"
    APPROVER = "approver"


@dataclass(frozen=True, slots=True)
class PendingChange:
    id: int
    kind: str
    payload: Mapping[str, Any]
    requested_by: str
    requested_at: datetime
    state: str


@dataclass(frozen=True, slots=True)
class IssuerSpec:
    """An issuer to add: its DID, name, accrediting anchor and allowed credential types."""

    did: str
    legal_name: str
    accredited_by: str
    credential_types: Mapping[str, Sequence[ClaimConstraint]]
    registration_number: str | None = None


@dataclass(frozen=True, slots=True)
class AuditReport:
    ok: bool
    events: int
    first_broken: int | None = None
    reason: str = ""


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _micros(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def _event_hash(prev: str, row: AuditRow) -> str:
    body = _canonical(
        {
            "seq": row.seq,
            "at": _micros(row.at),
            "actor": row.actor,
            "action": row.action,
            "subject": row.subject,
            "details": json.loads(row.details_json),
        }
    )
    return hashlib.sha256(f"{prev}\n{body}".encode()).hexdigest()


def _constraints_json(constraints: Sequence[ClaimConstraint]) -> str:
    return _canonical([{"claim": c.claim, "in": list(c.allowed)} for c in constraints])


def _constraints(text: str) -> tuple[ClaimConstraint, ...]:
    return tuple(ClaimConstraint(c["claim"], tuple(c["in"])) for c in json.loads(text))


class Registry:
    """Trust anchors, trusted issuers, their dated histories, audit and publication."""

    def __init__(self, engine: Engine, *, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock
        self._sessions = session_factory(engine)
        self._write_sessions = session_factory(write_engine(engine))

    # ---- set-up ---------------------------------------------------------------------
    def configure(
        self,
        *,
        registry_did: str,
        kid: str,
        operator_name: str,
        scheme_name: str,
        two_person_rule: bool = True,
        list_validity: timedelta = timedelta(days=1),
    ) -> None:
        """Record the registry's identity and rules (done once, by `ancre registry init`)."""
        settings = {
            "registry_did": registry_did,
            "kid": kid,
            "operator_name": operator_name,
            "scheme_name": scheme_name,
            "two_person_rule": "1" if two_person_rule else "0",
            "list_validity_seconds": str(int(list_validity.total_seconds())),
        }
        with self._tx() as s:
            for key, value in settings.items():
                s.merge(MetaRow(key=key, value=value))
            self._audit(s, "system", "configure", registry_did, settings)

    def setting(self, key: str) -> str:
        with self._sessions() as s:
            row = s.get(MetaRow, key)
        if row is None:
            raise ConfigurationError(f"registry is not initialised (no {key!r})")
        return row.value

    @property
    def two_person_rule(self) -> bool:
        return self.setting("two_person_rule") == "1"

    # ---- transactions and audit -----------------------------------------------------------
    @contextmanager
    def _tx(self) -> Iterator[Session]:
        with self._write_sessions() as session, session.begin():
            session.info.pop("audit_head", None)
            yield session

    def _audit(
        self, s: Session, actor: str, action: str, subject: str, details: Mapping[str, Any]
    ) -> None:
        # The chain head lives in a meta row locked for update, so concurrent writers on
        # PostgreSQL serialize here (SQLite already serializes them at BEGIN IMMEDIATE).
        # Within one transaction the head is read (and locked) once, then carried along.
        cached: tuple[int, str] | None = s.info.get("audit_head")
        if cached is None:
            head = s.execute(
                select(MetaRow).where(MetaRow.key == "audit_head").with_for_update()
            ).scalar_one_or_none()
            seq_text, _, prev_hash = (head.value if head else f"0:{_GENESIS}").partition(":")
            cached = (int(seq_text), prev_hash)
        seq, prev = cached
        row = AuditRow(
            seq=seq + 1,
            at=self.clock.now(),
            actor=actor,
            action=action,
            subject=subject,
            details_json=_canonical(dict(details)),
            prev_hash=prev,
            hash="",
        )
        row.hash = _event_hash(prev, row)
        s.add(row)
        s.merge(MetaRow(key="audit_head", value=f"{row.seq}:{row.hash}"))
        s.info["audit_head"] = (row.seq, row.hash)

    def record_access(self, actor: str, method: str, path: str) -> None:
        """Audit an admin call that changes nothing (changes audit themselves)."""
        with self._tx() as s:
            self._audit(s, actor, "admin_read", path[:2048], {"method": method})

    def verify_audit(self) -> AuditReport:
        """Walk the chain; name the first event whose hash or link does not hold."""
        prev, expected_seq, count = _GENESIS, 1, 0
        with self._sessions() as s:
            head = s.get(MetaRow, "audit_head")
            for row in s.execute(select(AuditRow).order_by(AuditRow.seq)).scalars():
                count += 1
                if row.seq != expected_seq:
                    return AuditReport(
                        False, count, expected_seq, f"event {expected_seq} is missing"
                    )
                if row.prev_hash != prev:
                    return AuditReport(
                        False, count, row.seq, "link to the previous event is broken"
                    )
                if not hmac.compare_digest(_event_hash(prev, row), row.hash):
                    return AuditReport(
                        False, count, row.seq, "event content does not match its hash"
                    )
                prev, expected_seq = row.hash, row.seq + 1
        if head is not None and head.value != f"{expected_seq - 1}:{prev}":
            # The newest events were removed: the head still remembers them.
            return AuditReport(False, count, expected_seq, "events after this one were removed")
        return AuditReport(True, count)

    def audit_events(self, limit: int = 100) -> list[AuditRow]:
        with self._sessions() as s:
            rows = s.execute(select(AuditRow).order_by(AuditRow.seq.desc()).limit(limit)).scalars()
            return list(rows)

    # ---- status helpers -------------------------------------------------------------------
    def _add_status(
        self,
        s: Session,
        kind: str,
        subject: str,
        status: EntryStatus,
        *,
        actor: str,
        effective_from: datetime | None,
        reason: str,
    ) -> datetime:
        now = self.clock.now()
        when = effective_from or now
        if when < now - timedelta(seconds=1):
            # History is evidence: a change may be scheduled, never backdated.
            raise RegistryError("a status change cannot take effect in the past", status=422)
        last = s.execute(
            select(StatusRow)
            .where(StatusRow.subject_kind == kind, StatusRow.subject_id == subject)
            .order_by(StatusRow.effective_from.desc(), StatusRow.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        if last is not None and when < last.effective_from:
            raise RegistryError("a status change cannot precede the previous one", status=422)
        s.add(
            StatusRow(
                subject_kind=kind,
                subject_id=subject,
                status=status.value,
                effective_from=when,
                reason=reason,
                actor=actor,
                recorded_at=now,
            )
        )
        return when

    def _current_status(self, s: Session, kind: str, subject: str) -> EntryStatus | None:
        now = self.clock.now()
        row = s.execute(
            select(StatusRow)
            .where(
                StatusRow.subject_kind == kind,
                StatusRow.subject_id == subject,
                StatusRow.effective_from <= now,
            )
            .order_by(StatusRow.effective_from.desc(), StatusRow.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        return None if row is None else EntryStatus(row.status)

    # ---- two-person rule --------------------------------------------------------------------
    def _pending(
        self, s: Session, actor: str, kind: str, payload: Mapping[str, Any]
    ) -> PendingChange:
        row = PendingRow(
            kind=kind,
            payload_json=_canonical(dict(payload)),
            requested_by=actor,
            requested_at=self.clock.now(),
            state="pending",
        )
        s.add(row)
        s.flush()
        self._audit(
            s,
            actor,
            f"request:{kind}",
            str(payload.get("id", payload.get("did"))),
            {"change": row.id, **payload},
        )
        return self._change(row)

    @staticmethod
    def _change(row: PendingRow) -> PendingChange:
        return PendingChange(
            row.id,
            row.kind,
            json.loads(row.payload_json),
            row.requested_by,
            row.requested_at,
            row.state,
        )

    def pending_changes(self) -> list[PendingChange]:
        with self._sessions() as s:
            rows = s.execute(select(PendingRow).where(PendingRow.state == "pending")).scalars()
            return [self._change(r) for r in rows]

    def approve(self, actor: str, change_id: int) -> PendingChange:
        """A second administrator approves a pending change, which then takes effect."""
        with self._tx() as s:
            row = s.get(PendingRow, change_id, with_for_update=True)
            if row is None or row.state != "pending":
                raise RegistryError(f"no pending change {change_id}", status=404)
            if row.requested_by == actor:
                raise RegistryError("the requester cannot approve their own change", status=403)
            payload = json.loads(row.payload_json)
            if row.kind == "add_anchor":
                self._apply_add_anchor(s, row.requested_by, payload)
            elif row.kind == "reinstate_issuer":
                self._apply_status(s, row.requested_by, payload["did"], EntryStatus.ACTIVE, payload)
            else:  # pragma: no cover - kinds are created by this class only
                raise RegistryError(f"unknown change kind {row.kind}")
            row.state, row.decided_by, row.decided_at = "approved", actor, self.clock.now()
            self._audit(s, actor, f"approve:{row.kind}", str(change_id), {"change": change_id})
            return self._change(row)

    def reject(self, actor: str, change_id: int) -> PendingChange:
        with self._tx() as s:
            row = s.get(PendingRow, change_id, with_for_update=True)
            if row is None or row.state != "pending":
                raise RegistryError(f"no pending change {change_id}", status=404)
            row.state, row.decided_by, row.decided_at = "rejected", actor, self.clock.now()
            self._audit(s, actor, f"reject:{row.kind}", str(change_id), {"change": change_id})
            return self._change(row)

    # ---- anchors ------------------------------------------------------------------------
    def add_anchor(
        self, actor: str, *, anchor_id: str, name: str, x509_pem: str | None = None
    ) -> PendingChange | None:
        """Add a trust anchor; under the two-person rule this only files a pending change."""
        payload = {"id": anchor_id, "name": name, "x509_pem": x509_pem}
        with self._tx() as s:
            if s.get(AnchorRow, anchor_id) is not None:
                raise RegistryError(f"anchor {anchor_id} exists")
            if self.two_person_rule:
                return self._pending(s, actor, "add_anchor", payload)
            self._apply_add_anchor(s, actor, payload)
            return None

    def _apply_add_anchor(self, s: Session, actor: str, payload: Mapping[str, Any]) -> None:
        if s.get(AnchorRow, payload["id"]) is not None:
            raise RegistryError(f"anchor {payload['id']} exists")
        s.add(
            AnchorRow(
                id=payload["id"],
                name=payload["name"],
                x509_pem=payload.get("x509_pem"),
                created_at=self.clock.now(),
            )
        )
        self._add_status(
            s,
            "anchor",
            payload["id"],
            EntryStatus.ACTIVE,
            actor=actor,
            effective_from=None,
            reason="added",
        )
        self._audit(s, actor, "add_anchor", payload["id"], {"name": payload["name"]})

    def active_anchors(self) -> list[AnchorRow]:
        """Anchors whose status is active now (withdrawn anchors root nothing)."""
        with self._sessions() as s:
            rows = list(s.execute(select(AnchorRow).order_by(AnchorRow.id)).scalars())
            return [
                a for a in rows if self._current_status(s, "anchor", a.id) is EntryStatus.ACTIVE
            ]

    def anchors(self) -> list[AnchorRow]:
        with self._sessions() as s:
            return list(s.execute(select(AnchorRow).order_by(AnchorRow.id)).scalars())

    # ---- issuers ----------------------------------------------------------------------
    def add_issuer(
        self,
        actor: str,
        *,
        did: str,
        legal_name: str,
        accredited_by: str,
        credential_types: Mapping[str, Sequence[ClaimConstraint]],
        registration_number: str | None = None,
        effective_from: datetime | None = None,
    ) -> None:
        """Add a trusted issuer allowed for `credential_types` (with claim constraints)."""
        spec = IssuerSpec(did, legal_name, accredited_by, credential_types, registration_number)
        self.add_issuers(actor, [spec], effective_from=effective_from)

    def add_issuers(
        self, actor: str, issuers: Iterable[IssuerSpec], *, effective_from: datetime | None = None
    ) -> int:
        """Add many issuers in one transaction (bulk import): all or none, one audit event
        per issuer. Returns how many were added."""
        added = 0
        with self._tx() as s:
            anchors: set[str] = set()
            for spec in issuers:
                self._add_issuer(s, actor, spec, effective_from, anchors)
                added += 1
        return added

    def _add_issuer(
        self,
        s: Session,
        actor: str,
        spec: IssuerSpec,
        effective_from: datetime | None,
        known_anchors: set[str],
    ) -> None:
        if not spec.did.startswith("did:"):
            raise RegistryError("an issuer is identified by a DID", status=422)
        if not spec.credential_types:
            raise RegistryError("an issuer needs at least one credential type", status=422)
        if s.get(IssuerRow, spec.did) is not None:
            raise RegistryError(f"issuer {spec.did} exists")
        if spec.accredited_by not in known_anchors:
            if s.get(AnchorRow, spec.accredited_by) is None:
                raise RegistryError(f"no trust anchor {spec.accredited_by}", status=422)
            known_anchors.add(spec.accredited_by)
        s.add(
            IssuerRow(
                did=spec.did,
                legal_name=spec.legal_name,
                registration_number=spec.registration_number,
                accredited_by=spec.accredited_by,
                created_at=self.clock.now(),
            )
        )
        self._add_status(
            s,
            "issuer",
            spec.did,
            EntryStatus.ACTIVE,
            actor=actor,
            effective_from=effective_from,
            reason="added",
        )
        for ctype, constraints in sorted(spec.credential_types.items()):
            self._add_grant(s, actor, spec.did, ctype, constraints, effective_from)
        details = {
            "legal_name": spec.legal_name,
            "accredited_by": spec.accredited_by,
            "types": sorted(spec.credential_types),
        }
        self._audit(s, actor, "add_issuer", spec.did, details)

    def _add_grant(
        self,
        s: Session,
        actor: str,
        did: str,
        ctype: str,
        constraints: Sequence[ClaimConstraint],
        effective_from: datetime | None,
    ) -> None:
        grant = GrantRow(
            issuer_did=did,
            credential_type=ctype,
            constraints_json=_constraints_json(constraints),
            created_at=self.clock.now(),
        )
        s.add(grant)
        s.flush()
        self._add_status(
            s,
            "grant",
            str(grant.id),
            EntryStatus.ACTIVE,
            actor=actor,
            effective_from=effective_from,
            reason="granted",
        )

    def grant_type(
        self,
        actor: str,
        did: str,
        credential_type: str,
        constraints: Sequence[ClaimConstraint] = (),
        *,
        effective_from: datetime | None = None,
    ) -> None:
        with self._tx() as s:
            self._issuer(s, did)
            grant = s.execute(
                select(GrantRow).where(
                    GrantRow.issuer_did == did, GrantRow.credential_type == credential_type
                )
            ).scalar_one_or_none()
            if grant is None:
                self._add_grant(s, actor, did, credential_type, constraints, effective_from)
            elif self._current_status(s, "grant", str(grant.id)) is EntryStatus.ACTIVE:
                raise RegistryError(f"{did} is already trusted for {credential_type}")
            else:
                self._add_status(
                    s,
                    "grant",
                    str(grant.id),
                    EntryStatus.ACTIVE,
                    actor=actor,
                    effective_from=effective_from,
                    reason="granted again",
                )
            self._audit(s, actor, "grant_type", did, {"type": credential_type})

    def withdraw_type(
        self,
        actor: str,
        did: str,
        credential_type: str,
        *,
        reason: str,
        effective_from: datetime | None = None,
    ) -> None:
        with self._tx() as s:
            grant = s.execute(
                select(GrantRow).where(
                    GrantRow.issuer_did == did, GrantRow.credential_type == credential_type
                )
            ).scalar_one_or_none()
            if grant is None:
                raise RegistryError(f"{did} has no grant for {credential_type}", status=404)
            self._add_status(
                s,
                "grant",
                str(grant.id),
                EntryStatus.WITHDRAWN,
                actor=actor,
                effective_from=effective_from,
                reason=reason,
            )
            self._audit(s, actor, "withdraw_type", did, {"type": credential_type, "reason": reason})

    def _issuer(self, s: Session, did: str) -> IssuerRow:
        row = s.get(IssuerRow, did)
        if row is None:
            raise RegistryError(f"no issuer {did}", status=404)
        return row

    def set_issuer_status(
        self,
        actor: str,
        did: str,
        status: EntryStatus,
        *,
        reason: str,
        effective_from: datetime | None = None,
    ) -> PendingChange | None:
        """Suspend, withdraw or reinstate an issuer. Reinstating a *withdrawn* issuer is a
        sensitive change: under the two-person rule it waits for a second approver."""
        payload = {
            "did": did,
            "reason": reason,
            "effective_from": effective_from.isoformat() if effective_from else None,
        }
        with self._tx() as s:
            self._issuer(s, did)
            current = self._current_status(s, "issuer", did)
            if current is status:
                raise RegistryError(f"{did} is already {status}")
            if (
                status is EntryStatus.ACTIVE
                and current is EntryStatus.WITHDRAWN
                and self.two_person_rule
            ):
                return self._pending(s, actor, "reinstate_issuer", payload)
            self._apply_status(s, actor, did, status, payload)
            return None

    def _apply_status(
        self, s: Session, actor: str, did: str, status: EntryStatus, payload: Mapping[str, Any]
    ) -> None:
        when = (
            datetime.fromisoformat(payload["effective_from"])
            if payload.get("effective_from")
            else None
        )
        effective = self._add_status(
            s, "issuer", did, status, actor=actor, effective_from=when, reason=payload["reason"]
        )
        self._audit(
            s,
            actor,
            f"issuer:{status.value}",
            did,
            {"reason": payload["reason"], "effective_from": effective.isoformat()},
        )

    def issuer_view(self, did: str) -> dict[str, Any]:
        """An issuer with its grants and full histories (for `show`/`history`)."""
        with self._sessions() as s:
            row = self._issuer(s, did)
            grants = s.execute(select(GrantRow).where(GrantRow.issuer_did == did)).scalars().all()
            return {
                "did": row.did,
                "legal_name": row.legal_name,
                "registration_number": row.registration_number,
                "accredited_by": row.accredited_by,
                "status": self._history(s, "issuer", did),
                "types": {
                    g.credential_type: {
                        "constraints": json.loads(g.constraints_json),
                        "status": self._history(s, "grant", str(g.id)),
                    }
                    for g in grants
                },
            }

    def _history(self, s: Session, kind: str, subject: str) -> list[dict[str, str]]:
        rows = s.execute(
            select(StatusRow)
            .where(StatusRow.subject_kind == kind, StatusRow.subject_id == subject)
            .order_by(StatusRow.effective_from, StatusRow.id)
        ).scalars()
        return [
            {
                "status": r.status,
                "effective_from": r.effective_from.isoformat(),
                "reason": r.reason,
                "actor": r.actor,
            }
            for r in rows
        ]

    def issuers(self) -> list[IssuerRow]:
        with self._sessions() as s:
            return list(s.execute(select(IssuerRow).order_by(IssuerRow.did)).scalars())

    # ---- publication --------------------------------------------------------------------
    def _periods(self, s: Session, kind: str, subject: str) -> list[StatusPeriod]:
        rows = s.execute(
            select(StatusRow)
            .where(StatusRow.subject_kind == kind, StatusRow.subject_id == subject)
            .order_by(StatusRow.effective_from, StatusRow.id)
        ).scalars()
        return [StatusPeriod(EntryStatus(r.status), r.effective_from, r.reason) for r in rows]

    def _services(
        self,
        issuer: IssuerRow,
        grants: Sequence[GrantRow],
        periods: Callable[[str, str], list[StatusPeriod]],
    ) -> list[TrustedService]:
        """An issuer's services: per granted type, the worst of the issuer's own status, the
        grant's and its accrediting anchor's, over time."""
        issuer_history = periods("issuer", issuer.did)
        anchor_history = periods("anchor", issuer.accredited_by)
        services = []
        for grant in grants:
            timeline = _combine(issuer_history, periods("grant", str(grant.id)), anchor_history)
            if timeline:
                constraints = _constraints(grant.constraints_json)
                services.append(TrustedService(grant.credential_type, timeline, constraints))
        return services

    def status_at(self, did: str, credential_type: str, at: datetime) -> EntryStatus | None:
        """The issuer's status for a type at `at`, from the current state (not a list)."""
        with self._sessions() as s:
            issuer = self._issuer(s, did)
            grants = s.execute(select(GrantRow).where(GrantRow.issuer_did == did)).scalars().all()
            for service in self._services(issuer, grants, lambda k, i: self._periods(s, k, i)):
                if service.service_type == credential_type:
                    current = [p for p in service.history if p.since <= at]
                    return current[-1].status if current else None
        return None

    def build_document(
        self, *, sequence: int, issued_at: datetime, next_update: datetime
    ) -> TrustListDocument:
        """The list for the current state (deterministic: the same state, the same list)."""
        with self._sessions() as s:
            # Three queries for the whole registry, not a few per issuer.
            history_of: dict[tuple[str, str], list[StatusPeriod]] = {}
            ordered = select(StatusRow).order_by(StatusRow.effective_from, StatusRow.id)
            for r in s.execute(ordered).scalars():
                period = StatusPeriod(EntryStatus(r.status), r.effective_from, r.reason)
                history_of.setdefault((r.subject_kind, r.subject_id), []).append(period)
            grants_of: dict[str, list[GrantRow]] = {}
            for grant in s.execute(select(GrantRow).order_by(GrantRow.id)).scalars():
                grants_of.setdefault(grant.issuer_did, []).append(grant)

            def periods(kind: str, subject: str) -> list[StatusPeriod]:
                return history_of.get((kind, subject), [])

            entities: list[TrustedEntity] = []
            for anchor in s.execute(select(AnchorRow)).scalars():
                history = tuple(periods("anchor", anchor.id))
                certs = (_pem_to_b64(anchor.x509_pem),) if anchor.x509_pem else ()
                service = TrustedService(ANCHOR_SERVICE, history, x509_certificates=certs)
                entities.append(TrustedEntity(anchor.id, anchor.name, (service,)))
            for issuer in s.execute(select(IssuerRow)).scalars():
                services = self._services(issuer, grants_of.get(issuer.did, []), periods)
                if services:
                    entities.append(
                        TrustedEntity(
                            issuer.did,
                            issuer.legal_name,
                            tuple(services),
                            issuer.registration_number,
                            issuer.accredited_by,
                        )
                    )
        return TrustListDocument(
            sequence=sequence,
            issued_at=issued_at,
            next_update=next_update,
            operator_name=self.setting("operator_name"),
            scheme_name=self.setting("scheme_name"),
            entities=tuple(entities),
        )

    def publish(self, signer: Signer, actor: str = "system") -> PublicationRow:
        """Sign and store the next list. The sequence number strictly increases."""
        now = self.clock.now()
        validity = timedelta(seconds=int(self.setting("list_validity_seconds")))
        with self._tx() as s:
            last = s.execute(
                select(PublicationRow)
                .order_by(PublicationRow.sequence.desc())
                .limit(1)
                .with_for_update()
            ).scalar_one_or_none()
            sequence = 1 if last is None else last.sequence + 1
            document = self.build_document(
                sequence=sequence, issued_at=now, next_update=now + validity
            )
            jws = sign_trust_list(
                document, signer, kid=self.setting("kid"), issuer=self.setting("registry_did")
            )
            digest = hashlib.sha256(
                _canonical(document.to_json()["LoTE"]["TrustedEntitiesList"]).encode()
            ).hexdigest()
            row = PublicationRow(
                sequence=sequence,
                issued_at=now,
                next_update=now + validity,
                state_sha256=digest,
                jws=jws,
            )
            s.add(row)
            self._audit(s, actor, "publish", str(sequence), {"state_sha256": digest})
            return row

    def latest_publication(self) -> PublicationRow | None:
        with self._sessions() as s:
            return s.execute(
                select(PublicationRow).order_by(PublicationRow.sequence.desc()).limit(1)
            ).scalar_one_or_none()

    # ---- admin tokens ------------------------------------------------------------------
    def create_token(self, actor: str, name: str, role: Role) -> str:
        """Create an API token; the clear value is returned once and only its hash stored."""
        token = "ancre_" + secrets.token_urlsafe(32)
        with self._tx() as s:
            if s.execute(select(TokenRow).where(TokenRow.name == name)).first() is not None:
                raise RegistryError(f"a token named {name!r} exists")
            s.add(
                TokenRow(
                    name=name,
                    role=role.value,
                    token_sha256=hashlib.sha256(token.encode()).hexdigest(),
                    created_at=self.clock.now(),
                )
            )
            self._audit(s, actor, "create_token", name, {"role": role.value})
        return token

    def authenticate(self, token: str) -> tuple[str, Role] | None:
        digest = hashlib.sha256(token.encode()).hexdigest()
        with self._sessions() as s:
            row = s.execute(
                select(TokenRow).where(TokenRow.token_sha256 == digest)
            ).scalar_one_or_none()
        if row is None or row.revoked_at is not None:
            return None
        return row.name, Role(row.role)


def _combine(*histories: Sequence[StatusPeriod]) -> tuple[StatusPeriod, ...]:
    """The timeline of several conditions that must all hold: at each change, the worst of
    the current statuses (withdrawn > suspended > active); nothing before all have begun."""
    if any(not h for h in histories):
        return ()
    changes = sorted({p.since for h in histories for p in h})
    start = max(h[0].since for h in histories)
    out: list[StatusPeriod] = []
    for moment in changes:
        if moment < start:
            continue
        current = []
        for history in histories:
            active = [p for p in history if p.since <= moment]
            current.append(active[-1])
        worst = max(current, key=lambda p: _ORDER[p.status])
        reason = next((p.reason for p in current if p.since == moment and p.reason), worst.reason)
        if not out or out[-1].status is not worst.status:
            out.append(StatusPeriod(worst.status, moment, reason))
    return tuple(out)


def _pem_to_b64(pem: str) -> str:
    lines = [line.strip() for line in pem.strip().splitlines() if line and "-----" not in line]
    return "".join(lines)
