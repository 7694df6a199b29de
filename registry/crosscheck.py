"""Replay the registry's audit events into the state they describe, and compare it with the
tables.

The hash chain and the signed checkpoints prove the *events* were not rewritten; they say
nothing about a row written straight into a table with no event (a token for oneself, an
issuer, a status). Replaying the events from the first one rebuilds every anchor, issuer,
credential-type grant, status history, admin token (by name and hash, never the secret),
pending change and setting; any row the events do not explain, and any event whose effect
is missing or different, is a :class:`Finding` naming the table and the row's key
(docs/security.md, "What the audit chain does and does not prove").

Events written before a field was added to their payload cannot vouch for it: the replay
leaves that field unchecked for them and says so (`not_cross_checked`), never silently.
The replay is linear in the number of events, the comparison linear in the rows.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from ancre.trust.errors import AncreError, Code

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
)

__all__ = ["Finding", "Replay", "Tables", "cross_check"]

#: The settings `configure` records; `audit_head` is the chain's own bookkeeping.
_SETTINGS: Final = (
    "registry_did",
    "kid",
    "operator_name",
    "scheme_name",
    "two_person_rule",
    "list_validity_seconds",
)
#: Payload fields added after the first release, per action: events without them are
#: replayed, but these fields of the rows they made are not compared.
_ADDED_FIELDS: Final[Mapping[str, tuple[str, ...]]] = {
    # Before migration 0002 a token had no holder (backfilled as its lowered name).
    "create_token": ("person", "token_sha256"),
    "add_anchor": ("x509_sha256", "effective_from"),
    "add_issuer": ("registration_number", "constraints", "effective_from"),
    "grant_type": ("constraints", "effective_from"),
    "withdraw_type": ("effective_from",),
}


#: Control characters: a database writer can put any in a row, and findings are printed.
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


def _printable(text: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


@dataclass(frozen=True, slots=True)
class Finding:
    """A table row the audited events do not explain, or an audited effect that is missing
    or different in the tables. `key` names the row (an id, a DID, a token's name…); both
    it and `message` come with control characters escaped (they quote the database)."""

    table: str
    key: str
    message: str
    code: Code = Code.AUDIT_STATE_MISMATCH

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", _printable(self.key))
        object.__setattr__(self, "message", _printable(self.message))

    def to_json(self) -> dict[str, str]:
        return {
            "code": self.code.value,
            "table": self.table,
            "key": self.key,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class Tables:
    """The rows the replay is compared with, all read in one snapshot."""

    meta: Sequence[MetaRow]
    anchors: Sequence[AnchorRow]
    issuers: Sequence[IssuerRow]
    grants: Sequence[GrantRow]
    statuses: Sequence[StatusRow]
    tokens: Sequence[TokenRow]
    pending: Sequence[PendingRow]
    publications: Sequence[PublicationRow]


@dataclass(slots=True)
class _Record:
    """One row as the events describe it: only the fields the events vouch for, and the
    event that made it (for messages)."""

    seq: int
    fields: dict[str, Any]


#: (status, reason, actor, effective_from or None when the event did not record it)
_Period = tuple[str, str, str, datetime | None]


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _stored_json(text: str) -> str:
    """A table's JSON text in canonical form; text that is not JSON is compared as is (and
    then differs from any audited value)."""
    try:
        return _canonical(json.loads(text))
    except (ValueError, RecursionError):  # RecursionError: nested past Python's stack
        return text


def _details(row: AuditRow) -> Mapping[str, Any]:
    details = json.loads(row.details_json)
    if not isinstance(details, dict):
        raise TypeError("details are not an object")
    return details


def _when(details: Mapping[str, Any]) -> datetime | None:
    text = details.get("effective_from")
    return datetime.fromisoformat(text) if isinstance(text, str) else None


def _same_person(name: str | None) -> str | None:
    """The person a name designates, as the registry compares them: releases before 0002
    stored a requester or approver as typed ("Alice"), later ones normalised ("alice")."""
    # Imported late: the service imports this module.
    from .service import person_name

    if name is None:
        return None
    try:
        return person_name(name)
    except AncreError:
        return name  # not a name the registry would accept: compared as stored


@dataclass(slots=True)
class Replay:
    """The state the audited events describe, built one event at a time."""

    meta: dict[str, _Record] = field(default_factory=dict)
    anchors: dict[str, _Record] = field(default_factory=dict)
    issuers: dict[str, _Record] = field(default_factory=dict)
    grants: dict[tuple[str, str], _Record] = field(default_factory=dict)
    statuses: dict[tuple[str, Any], list[_Period]] = field(default_factory=dict)
    tokens: dict[str, _Record] = field(default_factory=dict)
    pending: dict[int, _Record] = field(default_factory=dict)
    publications: dict[int, _Record] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    #: action -> (fields it could not vouch for, the last event written without them)
    unchecked: dict[str, tuple[set[str], int]] = field(default_factory=dict)
    #: (event, change kind) applied under the two-person rule: the next event must approve it
    awaiting: tuple[int, str] | None = None

    def apply(self, row: AuditRow) -> None:
        """Replay one event; one that cannot be replayed is a finding, not a crash."""
        self._check_approval(row)
        try:
            self._apply(row, _details(row))
        except (KeyError, TypeError, ValueError, RecursionError, AncreError) as error:
            self.findings.append(
                Finding(
                    "audit_log", str(row.seq), f"event {row.action!r} cannot be replayed: {error}"
                )
            )

    def _check_approval(self, row: AuditRow) -> None:
        """Under the two-person rule an anchor added or changed, or the rule turned off, takes
        effect only inside `approve` (the effect's event, then `approve:<kind>`, in one
        transaction): an effect with no approval after it was not made by the registry."""
        if self.awaiting is not None and row.action != f"approve:{self.awaiting[1]}":
            self._unapproved()
        self.awaiting = None
        if self.meta.get("two_person_rule", _Record(0, {})).fields.get("value") != "1":
            return
        if row.action == "add_anchor":
            self.awaiting = (row.seq, "add_anchor")
        elif row.action.startswith("anchor:"):
            self.awaiting = (row.seq, "anchor_status")
        elif row.action == "set_two_person_rule" and '"0"' in row.details_json:
            self.awaiting = (row.seq, "two_person_rule")

    def _unapproved(self) -> None:
        if self.awaiting is not None:
            seq, kind = self.awaiting
            self.findings.append(
                Finding(
                    "audit_log",
                    str(seq),
                    f"{kind} took effect under the two-person rule with no approval after it",
                )
            )

    def finish(self) -> None:
        """After the last event: an effect still waiting for its approval is a finding."""
        self._unapproved()
        self.awaiting = None

    def _note_old(self, row: AuditRow, details: Mapping[str, Any]) -> None:
        missing = {name for name in _ADDED_FIELDS.get(row.action, ()) if name not in details}
        if row.action == "grant_type" and "effective_from" in details:
            missing.discard("constraints")  # a grant given again keeps its constraints
        if missing:
            fields, _ = self.unchecked.get(row.action, (set(), 0))
            self.unchecked[row.action] = (fields | missing, row.seq)

    def _status(
        self,
        kind: str,
        subject: Any,
        status: str,
        reason: str,
        row: AuditRow,
        when: datetime | None,
    ) -> None:
        self.statuses.setdefault((kind, subject), []).append((status, reason, row.actor, when))

    def _apply(self, row: AuditRow, d: Mapping[str, Any]) -> None:
        action, subject = row.action, row.subject
        self._note_old(row, d)
        if action == "configure":
            for key in _SETTINGS:
                if key in d:
                    self.meta[key] = _Record(row.seq, {"value": str(d[key])})
        elif action == "set_two_person_rule":
            self.meta["two_person_rule"] = _Record(row.seq, {"value": str(d["two_person_rule"])})
        elif action == "create_token":
            fields = {"role": d["role"], "revoked": False}
            for name in ("person", "token_sha256"):
                if name in d:
                    fields[name] = d[name]
            self.tokens[subject] = _Record(row.seq, fields)
        elif action == "revoke_token":
            self._known(self.tokens, subject, "admin_tokens", row).fields["revoked"] = True
        elif action == "add_anchor":
            fields = {"name": d["name"]}
            if "x509_sha256" in d:
                fields["x509_sha256"] = d["x509_sha256"]
            self.anchors[subject] = _Record(row.seq, fields)
            self._status("anchor", subject, "active", "added", row, _when(d))
        elif action.startswith("anchor:"):
            self._known(self.anchors, subject, "trust_anchors", row)
            self._status("anchor", subject, action[7:], d["reason"], row, _when(d))
        elif action == "add_issuer":
            self._add_issuer(row, d)
        elif action == "grant_type":
            self._known(self.issuers, subject, "trusted_issuers", row)
            grant = (subject, str(d["type"]))
            reason = "granted again" if grant in self.grants else "granted"
            if grant not in self.grants:
                fields = {}
                if "constraints" in d:
                    fields["constraints"] = _canonical(d["constraints"])
                self.grants[grant] = _Record(row.seq, fields)
            self._status("grant", grant, "active", reason, row, _when(d))
        elif action == "withdraw_type":
            grant = (subject, str(d["type"]))
            self._known(self.grants, grant, "credential_type_grants", row)
            self._status("grant", grant, "withdrawn", d["reason"], row, _when(d))
        elif action.startswith("issuer:"):
            self._known(self.issuers, subject, "trusted_issuers", row)
            self._status("issuer", subject, action[7:], d["reason"], row, _when(d))
        elif action.startswith("request:"):
            payload = {k: v for k, v in d.items() if k != "change"}
            self.pending[int(d["change"])] = _Record(
                row.seq,
                {
                    "kind": action[8:],
                    "payload": _canonical(payload),
                    "requested_by": _same_person(row.actor),
                    "state": "pending",
                    "decided_by": None,
                },
            )
        elif action.startswith(("approve:", "reject:")):
            verdict, _, kind = action.partition(":")
            change = self._known(self.pending, int(subject), "pending_changes", row)
            if change.fields["state"] != "pending" or change.fields["kind"] != kind:
                raise ValueError(f"decides change {subject}, which is not a pending {kind}")
            change.fields["state"] = "approved" if verdict == "approve" else "rejected"
            change.fields["decided_by"] = _same_person(row.actor)
        elif action == "admin_read":
            pass  # releases before 0002 logged reads in the chain: no effect on state
        elif action == "publish":
            self.publications[int(subject)] = _Record(row.seq, {"state_sha256": d["state_sha256"]})
        else:
            raise ValueError("unknown action")

    def _add_issuer(self, row: AuditRow, d: Mapping[str, Any]) -> None:
        fields = {"legal_name": d["legal_name"], "accredited_by": d["accredited_by"]}
        if "registration_number" in d:
            fields["registration_number"] = d["registration_number"]
        self.issuers[row.subject] = _Record(row.seq, fields)
        when = _when(d)
        self._status("issuer", row.subject, "active", "added", row, when)
        constraints = d.get("constraints")
        for ctype in d["types"]:
            grant = {}
            if isinstance(constraints, dict):
                grant["constraints"] = _canonical(constraints[ctype])
            self.grants[(row.subject, str(ctype))] = _Record(row.seq, grant)
            self._status("grant", (row.subject, str(ctype)), "active", "granted", row, when)

    @staticmethod
    def _known(records: Mapping[Any, _Record], key: Any, table: str, row: AuditRow) -> _Record:
        found = records.get(key)
        if found is None:
            raise ValueError(f"no earlier event made {table} {key}")
        return found

    def not_cross_checked(self) -> tuple[str, ...]:
        """What older events could not vouch for, e.g. "add_issuer events up to 12:
        constraints, effective_from not cross-checked"."""
        return tuple(
            f"{action} events up to {last}: {', '.join(sorted(fields))} not cross-checked"
            for action, (fields, last) in sorted(self.unchecked.items())
        )


def _compare(
    table: str,
    audited: Mapping[Any, _Record],
    stored: Mapping[Any, Mapping[str, Any]],
    name: Any = str,
) -> Iterable[Finding]:
    for key, fields in stored.items():
        record = audited.get(key)
        if record is None:
            yield Finding(table, name(key), "row not explained by any audit event")
            continue
        differences = [
            f"{attribute} is {fields.get(attribute)!r}, the log says {expected!r}"
            for attribute, expected in record.fields.items()
            if fields.get(attribute) != expected
        ]
        if differences:
            yield Finding(table, name(key), f"{'; '.join(differences)} (audit event {record.seq})")
    for key, record in audited.items():
        if key not in stored:
            yield Finding(table, name(key), f"missing: audit event {record.seq} made it")


def _grant_name(key: tuple[str, str]) -> str:
    return f"{key[0]} {key[1]}"


def _status_name(key: tuple[str, Any]) -> str:
    kind, subject = key
    return f"{kind} {_grant_name(subject) if kind == 'grant' else subject}"


def _same_period(stored: _Period, audited: _Period) -> bool:
    return stored[:3] == audited[:3] and (audited[3] is None or stored[3] == audited[3])


def _compare_statuses(replay: Replay, tables: Tables) -> Iterable[Finding]:
    grant_keys = {str(g.id): (g.issuer_did, g.credential_type) for g in tables.grants}
    stored: dict[tuple[str, Any], list[_Period]] = {}
    for row in sorted(tables.statuses, key=lambda r: r.id):
        subject: Any = row.subject_id
        if row.subject_kind == "grant":
            subject = grant_keys.get(row.subject_id)
            if subject is None:
                yield Finding("status_history", str(row.id), "status of a grant that has no row")
                continue
        period = (row.status, row.reason, row.actor, row.effective_from)
        stored.setdefault((row.subject_kind, subject), []).append(period)
    for key, periods in stored.items():
        audited = replay.statuses.get(key)
        if audited is None:
            yield Finding(
                "status_history", _status_name(key), "rows not explained by any audit event"
            )
            continue
        for index in range(max(len(periods), len(audited))):
            here = periods[index] if index < len(periods) else None
            said = audited[index] if index < len(audited) else None
            if here is None or said is None or not _same_period(here, said):
                yield Finding(
                    "status_history",
                    _status_name(key),
                    f"entry {index + 1} is {_show(here)}, the audit log says {_show(said)}",
                )
                break
    for key in replay.statuses.keys() - stored.keys():
        yield Finding(
            "status_history", _status_name(key), "missing: the audit log records a status"
        )


def _show(period: _Period | None) -> str:
    if period is None:
        return "absent"
    status, reason, actor, when = period
    at = "" if when is None else f" from {when.isoformat()}"
    return f"{status} ({reason!r}, by {actor!r}{at})"


def cross_check(replay: Replay, tables: Tables) -> list[Finding]:
    """Every difference between the replayed state and the tables, sorted by table and key."""
    replay.finish()
    findings = list(replay.findings)
    meta = {m.key: {"value": m.value} for m in tables.meta if m.key != "audit_head"}
    findings += _compare("registry_meta", replay.meta, meta)
    anchors = {
        a.id: {
            "name": a.name,
            "x509_sha256": hashlib.sha256(a.x509_pem.encode()).hexdigest() if a.x509_pem else None,
        }
        for a in tables.anchors
    }
    findings += _compare("trust_anchors", replay.anchors, anchors)
    issuers = {
        i.did: {
            "legal_name": i.legal_name,
            "accredited_by": i.accredited_by,
            "registration_number": i.registration_number,
        }
        for i in tables.issuers
    }
    findings += _compare("trusted_issuers", replay.issuers, issuers)
    grants = {
        (g.issuer_did, g.credential_type): {"constraints": _stored_json(g.constraints_json)}
        for g in tables.grants
    }
    findings += _compare("credential_type_grants", replay.grants, grants, _grant_name)
    findings += _compare_statuses(replay, tables)
    tokens = {
        t.name: {
            "role": t.role,
            "person": t.person,
            "token_sha256": t.token_sha256,
            "revoked": t.revoked_at is not None,
        }
        for t in tables.tokens
    }
    findings += _compare("admin_tokens", replay.tokens, tokens)
    pending = {
        p.id: {
            "kind": p.kind,
            "payload": _stored_json(p.payload_json),
            "requested_by": _same_person(p.requested_by),
            "state": p.state,
            "decided_by": _same_person(p.decided_by),
        }
        for p in tables.pending
    }
    findings += _compare("pending_changes", replay.pending, pending)
    publications = {p.sequence: {"state_sha256": p.state_sha256} for p in tables.publications}
    findings += _compare("publications", replay.publications, publications)
    return sorted(findings, key=lambda f: (f.table, f.key, f.message))
