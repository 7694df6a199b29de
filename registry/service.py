"""The registry's domain rules, over the database. The API and the CLI only call these.

Every change runs in one transaction together with its audit event, so the database and the
hash-chained audit log can never disagree, even if the process is killed mid-write. The
registry's key signs checkpoints of the chain and every published list carries the chain's
head, so a database writer without the key cannot rewrite what was signed unnoticed
(docs/security.md, "What the audit chain does and does not prove"). The two-person rule
counts persons (`person_name`), not tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from ancre.trust.clock import Clock
from ancre.trust.codec.json import dumps_compact
from ancre.trust.errors import AncreError, Code, ConfigurationError
from ancre.trust.jose.jws import parse_compact, sign_compact
from ancre.trust.keys.jwk import PublicKey, Signer
from ancre.trust.policy import DEFAULT_ALGORITHMS
from ancre.trust.trust_list.model import (
    ANCHOR_SERVICE,
    ClaimConstraint,
    EntryStatus,
    RegistryState,
    StatusPeriod,
    TrustedEntity,
    TrustedService,
    TrustListDocument,
)
from ancre.trust.trust_list.signed import MAX_TRUST_LIST_BYTES, sign_trust_list

from .crosscheck import Finding, Replay, Tables, cross_check
from .db import (
    AccessRow,
    AnchorRow,
    AuditRow,
    CheckpointRow,
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

__all__ = [
    "CHECKPOINT_TYP",
    "AuditReport",
    "Finding",
    "IssuerSpec",
    "PendingChange",
    "Registry",
    "RegistryError",
    "Role",
    "check_text",
    "person_name",
    "published_head",
]

_GENESIS: Final = "0" * 64
_ORDER: Final = {EntryStatus.ACTIVE: 0, EntryStatus.SUSPENDED: 1, EntryStatus.WITHDRAWN: 2}
#: The JWS `typ` of a signed audit checkpoint.
CHECKPOINT_TYP: Final = "audit-checkpoint+jwt"
#: C0 controls and DEL: no name, id or reason needs them, and PostgreSQL refuses NUL in text
#: (a 500 before issue 12 point 6). Line breaks and tabs are allowed only where text is
#: multi-line (PEM certificates).
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_MULTILINE: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: How many findings the JSON report lists (`findings_total` counts them all).
_FINDINGS_SHOWN: Final = 100
#: How often a writer retries when SQLite's write lock stays taken past the busy timeout.
_LOCK_ATTEMPTS: Final = 3


class RegistryError(AncreError):
    """A request the registry refuses (unknown entry, rule broken, not allowed)."""

    def __init__(self, message: str, *, code: Code, status: int = 409) -> None:
        super().__init__(code, message)
        self.http_status = status


def check_text(value: str, what: str, *, multiline: bool = False) -> str:
    """Refuse control characters (NUL first of all) in text the registry stores."""
    if (_CONTROL_MULTILINE if multiline else _CONTROL).search(value):
        raise RegistryError(
            f"{what} contains a control character", status=400, code=Code.INVALID_CHARACTERS
        )
    return value


def person_name(name: str) -> str:
    """The person a name designates: NFKC, case-folded, inner blanks collapsed, so that
    "Alice", "ALICE" and "Ａｌｉｃｅ" are one person for the two-person rule."""
    check_text(name, "a person's name")
    person = " ".join(unicodedata.normalize("NFKC", name).casefold().split())
    if not person:
        raise RegistryError("a person's name is empty", status=422, code=Code.INVALID_REQUEST)
    return person


def _is_locked(error: OperationalError) -> bool:
    text = str(error.orig).lower()
    return "database is locked" in text or "database is busy" in text


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
    """The outcome of `Registry.verify_audit`. `signed_events`: how many events a signed
    checkpoint or published list covers (the rest, the tail, is only hash-chained).
    `findings`: table rows the replayed events do not explain, or audited effects missing
    from the tables (the chain itself held); `not_cross_checked`: what events written
    before their payload carried a field could not vouch for."""

    ok: bool
    events: int
    first_broken: int | None = None
    reason: str = ""
    signed_events: int = 0
    findings: tuple[Finding, ...] = ()
    not_cross_checked: tuple[str, ...] = ()

    @property
    def code(self) -> Code | None:
        """None when intact; `audit_chain_broken` or `audit_state_mismatch`."""
        if self.ok:
            return None
        return Code.AUDIT_STATE_MISMATCH if self.findings else Code.AUDIT_CHAIN_BROKEN

    def to_json(self) -> dict[str, Any]:
        """The report as the API and `audit verify --json` give it."""
        return {
            "ok": self.ok,
            "code": None if self.code is None else self.code.value,
            "events": self.events,
            "signed_events": self.signed_events,
            "first_broken": self.first_broken,
            "reason": self.reason,
            # Bounded: an emptied log leaves every row unexplained, one finding each.
            "findings": [f.to_json() for f in self.findings[:_FINDINGS_SHOWN]],
            "findings_total": len(self.findings),
            "not_cross_checked": list(self.not_cross_checked),
        }


class _AuditBrokenError(Exception):
    """The audit log fails a check: `report` names the first event that does not hold."""

    def __init__(self, events: int, first: int | None, reason: str) -> None:
        super().__init__(reason)
        self.report = AuditReport(False, events, first, reason)


#: The source of a (count, head) pair the auditor brought from outside the database.
_HELD_HEAD: Final = "a head the auditor holds"


@dataclass(slots=True)
class _Chain:
    """The audit log as walked: how many events, the next sequence number and the last hash,
    and for each event its hash and the two-person rule the log had after it."""

    count: int = 0
    next_seq: int = 1
    last_hash: str = _GENESIS
    hashes: dict[int, str] = field(default_factory=dict)
    rules: dict[int, bool | None] = field(default_factory=lambda: {0: None})
    rule: bool | None = None


def _walk_chain(rows: Iterable[AuditRow], replay: Replay | None = None) -> _Chain:
    """Walk the hash chain in sequence order; a gap, a broken link or a changed event raises.
    With `replay`, each event is also replayed into the state it describes."""
    chain = _Chain()
    for row in rows:
        chain.count += 1
        if row.seq != chain.next_seq:
            raise _AuditBrokenError(
                chain.count, chain.next_seq, f"event {chain.next_seq} is missing"
            )
        if row.prev_hash != chain.last_hash:
            raise _AuditBrokenError(chain.count, row.seq, "link to the previous event is broken")
        if not hmac.compare_digest(_event_hash(chain.last_hash, row), row.hash):
            raise _AuditBrokenError(chain.count, row.seq, "event content does not match its hash")
        chain.rule = _replay_rule(chain.rule, row)
        if replay is not None:
            replay.apply(row)
        chain.hashes[row.seq], chain.rules[row.seq] = row.hash, chain.rule
        chain.last_hash, chain.next_seq = row.hash, row.seq + 1
    return chain


def _check_chain_end(chain: _Chain, head: MetaRow | None, rule_row: MetaRow | None) -> None:
    """The stored head and settings must agree with the walked chain."""
    if head is not None and head.value != f"{chain.next_seq - 1}:{chain.last_hash}":
        # The newest events were removed: the head still remembers them.
        raise _AuditBrokenError(chain.count, chain.next_seq, "events after this one were removed")
    if rule_row is not None and chain.count == 0:
        raise _AuditBrokenError(0, 1, "the registry is configured but its audit log is empty")
    if rule_row is not None and chain.rule is not None and (rule_row.value == "1") != chain.rule:
        raise _AuditBrokenError(
            chain.count, None, "the two-person rule setting differs from its audited value"
        )


def _checkpoint_claims(
    chain: _Chain, checkpoints: Iterable[CheckpointRow], key: PublicKey
) -> list[tuple[int, str, str]]:
    """The (count, head) each signed checkpoint claims; a bad signature raises."""
    claims: list[tuple[int, str, str]] = []
    for checkpoint in checkpoints:
        claim = _signed_claim(checkpoint.jws, key, CHECKPOINT_TYP)
        if claim is None or claim != (checkpoint.events, checkpoint.head):
            raise _AuditBrokenError(
                chain.count, checkpoint.events, "a checkpoint's signature is invalid"
            )
        claims.append((*claim, "a signed checkpoint"))
    return claims


def _publication_claims(
    chain: _Chain, published: Iterable[PublicationRow], key: PublicKey
) -> tuple[list[tuple[int, str, str]], list[tuple[int, bool, str]]]:
    """The (count, head) each published list claims, and the two-person rule each shows at
    that count; a bad signature raises."""
    claims: list[tuple[int, str, str]] = []
    shown: list[tuple[int, bool, str]] = []
    for publication in published:
        state = _published_state(publication.jws, key)
        if state is None:
            raise _AuditBrokenError(
                chain.count, None, f"trust list #{publication.sequence}'s signature is invalid"
            )
        listed = state.registry_state
        if listed is not None:
            source = f"trust list #{publication.sequence}"
            claims.append((listed.audit_events, listed.audit_head, source))
            shown.append((listed.audit_events, listed.two_person_rule, source))
    return claims, shown


def _check_claims(chain: _Chain, claims: Iterable[tuple[int, str, str]]) -> int:
    """Every claimed head must be the chain's at that count; returns how many events a
    signed claim covers (a head the auditor holds is checked but signs nothing)."""
    signed = 0
    for events, claimed, source in sorted(claims):
        if events == 0:
            continue
        found = chain.hashes.get(events)
        if found is None:
            raise _AuditBrokenError(
                chain.count,
                min(events, chain.count + 1),
                f"{source} covers event {events}, now gone",
            )
        if not hmac.compare_digest(found, claimed):
            raise _AuditBrokenError(chain.count, events, f"event {events} differs from {source}")
        signed = max(signed, events) if source != _HELD_HEAD else signed
    return signed


def _check_listed_rules(chain: _Chain, shown: Iterable[tuple[int, bool, str]]) -> None:
    """Heads match: each list's rule must be the one the log had at that head."""
    for events, listed_rule, source in sorted(shown):
        audited = chain.rules.get(events)
        if audited is not None and audited != listed_rule:
            raise _AuditBrokenError(
                chain.count, events, f"{source} shows a two-person rule the log did not have then"
            )


def _replay_rule(rule: bool | None, row: AuditRow) -> bool | None:
    """The two-person rule as the audited events set it (configure, then approved changes)."""
    if row.action == "configure" or row.action == "set_two_person_rule":
        details = json.loads(row.details_json)
        value = details.get("two_person_rule")
        if value in ("1", "0", True, False):
            return value in ("1", True)
    return rule


def _signed_claim(jws: str, key: PublicKey, typ: str) -> tuple[int, str] | None:
    try:
        parsed = parse_compact(jws, allowed_algs=DEFAULT_ALGORITHMS)
        if parsed.header.get("typ") != typ:
            return None
        parsed.verify_with(key)
        body = parsed.payload_json()
    except AncreError:
        return None
    if not isinstance(body, dict):
        return None
    events, head = body.get("events"), body.get("head")
    if isinstance(events, int) and not isinstance(events, bool) and isinstance(head, str):
        return events, head
    return None


def published_head(jws: str, key: PublicKey) -> tuple[int, str]:
    """The (events, head) a list signed by `key` vouches for: what an auditor who kept an
    earlier list passes to `verify_audit(known_heads=…)`."""
    document = _published_state(jws.strip(), key)
    if document is None:
        raise RegistryError(
            "the trust list is not signed by this registry's key",
            status=422,
            code=Code.TRUST_LIST_INVALID,
        )
    if document.registry_state is None:
        raise RegistryError(
            f"trust list #{document.sequence} predates published audit heads",
            status=422,
            code=Code.TRUST_LIST_INVALID,
        )
    return document.registry_state.audit_events, document.registry_state.audit_head


def _published_state(jws: str, key: PublicKey) -> TrustListDocument | None:
    try:
        # A list is far bigger than a token (about 1.4 KB per issuer): with the JWS default
        # of 256 KiB, any registry past ~180 issuers failed its own audit ("signature is
        # invalid"). The limit is the one verifiers apply to lists.
        parsed = parse_compact(jws, allowed_algs=DEFAULT_ALGORITHMS, max_bytes=MAX_TRUST_LIST_BYTES)
        parsed.verify_with(key)
        return TrustListDocument.from_json(parsed.payload_json())
    except AncreError:
        return None


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
            current = s.get(MetaRow, "two_person_rule")
            if current is not None and current.value == "1" and not two_person_rule:
                # Weakening the rules is a two-person change (`set_two_person_rule`), never a
                # side effect of re-configuring.
                raise RegistryError(
                    "the two-person rule is turned off only by an approved change",
                    status=403,
                    code=Code.TWO_PERSON_REQUIRED,
                )
            for key, value in settings.items():
                s.merge(MetaRow(key=key, value=value))
            self._audit(s, "system", "configure", registry_did, settings)

    def setting(self, key: str) -> str:
        with self._sessions() as s:
            return self._setting(s, key)

    @staticmethod
    def _setting(s: Session, key: str) -> str:
        # Read in the caller's session: a writer holding the lock must never need a second
        # connection (with 16 concurrent writers the pool ran dry, issue 12 point 7).
        row = s.get(MetaRow, key)
        if row is None:
            raise ConfigurationError(f"registry is not initialised (no {key!r})")
        return row.value

    @property
    def two_person_rule(self) -> bool:
        return self.setting("two_person_rule") == "1"

    def _rule(self, s: Session) -> bool:
        return self._setting(s, "two_person_rule") == "1"

    # ---- transactions and audit -----------------------------------------------------------
    @contextmanager
    def _tx(self) -> Iterator[Session]:
        session = self._locked_session()
        try:
            session.info.pop("audit_head", None)
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def _locked_session(self) -> Session:
        # On SQLite the first statement runs BEGIN IMMEDIATE, which waits up to the busy
        # timeout; nothing is written yet, so trying again is safe. Still locked after that:
        # 503 with Retry-After, never a bare 500 (issue 12 point 7).
        for attempt in range(_LOCK_ATTEMPTS):
            session = self._write_sessions()
            try:
                session.begin()
                session.connection()
            except OperationalError as error:
                session.close()
                if not _is_locked(error):
                    raise
                if attempt + 1 < _LOCK_ATTEMPTS:
                    time.sleep(0.05 * (attempt + 1))
            else:
                return session
        raise RegistryError(
            "the registry database is busy; try again shortly",
            status=503,
            code=Code.REGISTRY_BUSY,
        )

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
        """Log an admin read in the access log. Reads never enter the audit chain: they
        change nothing, and a viewer must not be able to grow the signed history."""
        with self._tx() as s:
            # The path is the caller's bytes: control characters (NUL: PostgreSQL refuses
            # it) are masked, not stored, so the read is still logged.
            shown = _CONTROL.sub("\ufffd", path[:2048])
            s.add(AccessRow(at=self.clock.now(), actor=actor, method=method[:16], path=shown))

    def access_log(self, limit: int = 100) -> list[AccessRow]:
        with self._sessions() as s:
            rows = s.execute(select(AccessRow).order_by(AccessRow.id.desc()).limit(limit))
            return list(rows.scalars())

    @staticmethod
    def _head(s: Session) -> tuple[int, str]:
        row = s.get(MetaRow, "audit_head")
        seq_text, _, head = (row.value if row else f"0:{_GENESIS}").partition(":")
        return int(seq_text), head

    def _checkpoint(self, s: Session, signer: Signer, events: int, head: str) -> CheckpointRow:
        now = self.clock.now()
        payload = {
            "iss": self._setting(s, "registry_did"),
            "events": events,
            "head": head,
            "iat": _micros(now) // 1_000_000,
        }
        header = {"typ": CHECKPOINT_TYP, "kid": self._setting(s, "kid")}
        jws = sign_compact(header, dumps_compact(payload).encode("utf-8"), signer)
        row = CheckpointRow(events=events, head=head, at=now, jws=jws)
        s.merge(row)
        return row

    def checkpoint(self, signer: Signer) -> CheckpointRow:
        """Sign the audit log's current (count, head) with the registry's key. Publication
        does this too; an operator may do it more often to shorten the unsigned tail."""
        with self._tx() as s:
            events, head = self._head(s)
            return self._checkpoint(s, signer, events, head)

    def verify_audit(
        self,
        *,
        key: PublicKey | None = None,
        known_heads: Sequence[tuple[int, str]] = (),
    ) -> AuditReport:
        """Check the audit log and name the first event that does not hold.

        Without `key`, only the hash chain is walked: that catches careless edits, not a
        writer who recomputes the hashes. With the registry's public `key`, every signed
        checkpoint and every published list's audit head must match the chain. `known_heads`
        are (count, head) pairs the auditor holds from outside the database (a list they
        fetched earlier): the only defence against the database being emptied entirely.

        When all that holds, the events are replayed from the first and the state they
        describe is compared with the tables (`ancre.registry.crosscheck`): a row no event
        explains, or an audited effect missing or different, is a finding and the report is
        not `ok` (code `audit_state_mismatch`)."""
        # The checks run in this order, and the first that fails is the one reported; when
        # the chain and its signatures hold, the tables are compared with the replayed events.
        replay = Replay()
        try:
            with self._sessions() as s:
                if self.engine.dialect.name == "postgresql":
                    # One snapshot for the log and every table: a change committed between
                    # two reads would otherwise look like a row no event explains.
                    s.connection(execution_options={"isolation_level": "REPEATABLE READ"})
                head = s.get(MetaRow, "audit_head")
                rule_row = s.get(MetaRow, "two_person_rule")
                checkpoints = list(s.execute(select(CheckpointRow)).scalars())
                published = list(s.execute(select(PublicationRow)).scalars())
                chain = _walk_chain(
                    s.execute(select(AuditRow).order_by(AuditRow.seq)).scalars(), replay
                )
                tables = Tables(
                    meta=list(s.execute(select(MetaRow)).scalars()),
                    anchors=list(s.execute(select(AnchorRow)).scalars()),
                    issuers=list(s.execute(select(IssuerRow)).scalars()),
                    grants=list(s.execute(select(GrantRow)).scalars()),
                    statuses=list(s.execute(select(StatusRow)).scalars()),
                    tokens=list(s.execute(select(TokenRow)).scalars()),
                    pending=list(s.execute(select(PendingRow)).scalars()),
                    publications=published,
                )
            _check_chain_end(chain, head, rule_row)
            claims = [(n, h, _HELD_HEAD) for n, h in known_heads]
            shown: list[tuple[int, bool, str]] = []
            if key is not None:
                claims += _checkpoint_claims(chain, checkpoints, key)
                listed, shown = _publication_claims(chain, published, key)
                claims += listed
            signed = _check_claims(chain, claims)
            _check_listed_rules(chain, shown)
        except _AuditBrokenError as broken:
            return broken.report
        findings = tuple(cross_check(replay, tables))
        reason = ""
        if findings:
            first = findings[0]
            reason = (
                f"{len(findings)} difference(s) between the tables and the audit log, first: "
                f"{first.table} {first.key}: {first.message}"
            )
        return AuditReport(
            not findings,
            chain.count,
            reason=reason,
            signed_events=signed,
            findings=findings,
            not_cross_checked=replay.not_cross_checked(),
        )

    def audit_events(self, limit: int = 100) -> list[AuditRow]:
        with self._sessions() as s:
            rows = s.execute(select(AuditRow).order_by(AuditRow.seq.desc()).limit(limit)).scalars()
            return list(rows)

    def audit_page(self, *, since: int = 0, limit: int = 100) -> list[AuditRow]:
        """Audit events after sequence number `since`, oldest first, at most `limit` (for
        reading the log page by page: the next page starts after the last `seq` seen)."""
        if since < 0 or limit < 1:
            raise RegistryError(
                "since is 0 or more and limit 1 or more", status=422, code=Code.INVALID_REQUEST
            )
        with self._sessions() as s:
            rows = s.execute(
                select(AuditRow).where(AuditRow.seq > since).order_by(AuditRow.seq).limit(limit)
            ).scalars()
            return list(rows)

    def audit_event(self, seq: int) -> AuditRow:
        """One audit event by its sequence number."""
        with self._sessions() as s:
            row = s.get(AuditRow, seq)
        if row is None:
            raise RegistryError(f"no audit event {seq}", status=404, code=Code.NOT_FOUND)
        return row

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
            raise RegistryError(
                "a status change cannot take effect in the past",
                status=422,
                code=Code.BACKDATED_CHANGE,
            )
        last = s.execute(
            select(StatusRow)
            .where(StatusRow.subject_kind == kind, StatusRow.subject_id == subject)
            .order_by(StatusRow.effective_from.desc(), StatusRow.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        if last is not None and when < last.effective_from:
            raise RegistryError(
                "a status change cannot precede the previous one",
                status=422,
                code=Code.BACKDATED_CHANGE,
            )
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
            requested_by=person_name(actor),
            requested_at=self.clock.now(),
            state="pending",
        )
        s.add(row)
        s.flush()
        self._audit(
            s,
            actor,
            f"request:{kind}",
            str(payload.get("id", payload.get("did", payload.get("name")))),
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
        """A second administrator approves a pending change, which then takes effect.

        `actor` is a person (the API passes the token holder's, never the token's name):
        a second token held by the requester is still the requester (issue 12 point 1)."""
        approver = person_name(actor)
        with self._tx() as s:
            row = s.get(PendingRow, change_id, with_for_update=True)
            if row is None or row.state != "pending":
                raise RegistryError(
                    f"no pending change {change_id}", status=404, code=Code.NOT_FOUND
                )
            if person_name(row.requested_by) == approver:
                raise RegistryError(
                    "the requester cannot approve their own change",
                    status=403,
                    code=Code.SAME_PERSON,
                )
            payload = json.loads(row.payload_json)
            if row.kind == "add_anchor":
                self._apply_add_anchor(s, row.requested_by, payload)
            elif row.kind == "reinstate_issuer":
                self._apply_status(s, row.requested_by, payload["did"], EntryStatus.ACTIVE, payload)
            elif row.kind == "anchor_status":
                self._apply_anchor_status(s, row.requested_by, payload)
            elif row.kind == "create_token":
                self._apply_token(s, row.requested_by, payload)
            elif row.kind == "two_person_rule":
                self._apply_rule(s, row.requested_by, bool(payload["enabled"]))
            else:  # pragma: no cover - kinds are created by this class only
                raise RegistryError(f"unknown change kind {row.kind}", code=Code.INVALID_STATE)
            row.state, row.decided_by, row.decided_at = "approved", approver, self.clock.now()
            self._audit(s, approver, f"approve:{row.kind}", str(change_id), {"change": change_id})
            return self._change(row)

    def reject(self, actor: str, change_id: int) -> PendingChange:
        """Refuse a pending change (the requester may withdraw their own)."""
        who = person_name(actor)
        with self._tx() as s:
            row = s.get(PendingRow, change_id, with_for_update=True)
            if row is None or row.state != "pending":
                raise RegistryError(
                    f"no pending change {change_id}", status=404, code=Code.NOT_FOUND
                )
            row.state, row.decided_by, row.decided_at = "rejected", who, self.clock.now()
            self._audit(s, who, f"reject:{row.kind}", str(change_id), {"change": change_id})
            return self._change(row)

    # ---- the two-person rule itself ------------------------------------------------------
    def set_two_person_rule(self, actor: str, enabled: bool) -> PendingChange | None:
        """Turn the two-person rule on (at once) or off (a pending change a second person
        approves). Either way audited, and shown in the next published list."""
        with self._tx() as s:
            current = self._rule(s)
            if current == enabled:
                raise RegistryError(
                    f"the two-person rule is already {'on' if enabled else 'off'}",
                    code=Code.ALREADY_IN_STATE,
                )
            if current and not enabled:
                return self._pending(
                    s, actor, "two_person_rule", {"id": "two_person_rule", "enabled": False}
                )
            self._apply_rule(s, actor, enabled)
            return None

    def _apply_rule(self, s: Session, actor: str, enabled: bool) -> None:
        value = "1" if enabled else "0"
        s.merge(MetaRow(key="two_person_rule", value=value))
        self._audit(s, actor, "set_two_person_rule", "two_person_rule", {"two_person_rule": value})

    # ---- anchors ------------------------------------------------------------------------
    def add_anchor(
        self, actor: str, *, anchor_id: str, name: str, x509_pem: str | None = None
    ) -> PendingChange | None:
        """Add a trust anchor; under the two-person rule this only files a pending change."""
        check_text(anchor_id, "an anchor id")
        check_text(name, "an anchor name")
        if x509_pem is not None:
            check_text(x509_pem, "a certificate", multiline=True)
        payload = {"id": anchor_id, "name": name, "x509_pem": x509_pem}
        with self._tx() as s:
            if s.get(AnchorRow, anchor_id) is not None:
                raise RegistryError(f"anchor {anchor_id} exists", code=Code.CONFLICT)
            if self._rule(s):
                return self._pending(s, actor, "add_anchor", payload)
            self._apply_add_anchor(s, actor, payload)
            return None

    def _apply_add_anchor(self, s: Session, actor: str, payload: Mapping[str, Any]) -> None:
        if s.get(AnchorRow, payload["id"]) is not None:
            raise RegistryError(f"anchor {payload['id']} exists", code=Code.CONFLICT)
        s.add(
            AnchorRow(
                id=payload["id"],
                name=payload["name"],
                x509_pem=payload.get("x509_pem"),
                created_at=self.clock.now(),
            )
        )
        effective = self._add_status(
            s,
            "anchor",
            payload["id"],
            EntryStatus.ACTIVE,
            actor=actor,
            effective_from=None,
            reason="added",
        )
        # Everything the row and its first status hold, so `verify_audit` can rebuild them.
        pem = payload.get("x509_pem")
        details = {
            "name": payload["name"],
            "x509_sha256": hashlib.sha256(pem.encode()).hexdigest() if pem else None,
            "effective_from": effective.isoformat(),
        }
        self._audit(s, actor, "add_anchor", payload["id"], details)

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

    def set_anchor_status(
        self,
        actor: str,
        anchor_id: str,
        status: EntryStatus,
        *,
        reason: str,
        effective_from: datetime | None = None,
    ) -> PendingChange | None:
        """Suspend, withdraw or reinstate a trust anchor (and with it every issuer it
        accredits). Under the two-person rule any anchor status change waits for a second
        person: one administrator can neither root a rogue issuer nor cut a whole branch."""
        check_text(anchor_id, "an anchor id")
        check_text(reason, "a reason")
        payload = {
            "id": anchor_id,
            "status": status.value,
            "reason": reason,
            "effective_from": effective_from.isoformat() if effective_from else None,
        }
        with self._tx() as s:
            if s.get(AnchorRow, anchor_id) is None:
                raise RegistryError(f"no trust anchor {anchor_id}", status=404, code=Code.NOT_FOUND)
            if self._current_status(s, "anchor", anchor_id) is status:
                raise RegistryError(f"{anchor_id} is already {status}", code=Code.ALREADY_IN_STATE)
            if self._rule(s):
                return self._pending(s, actor, "anchor_status", payload)
            self._apply_anchor_status(s, actor, payload)
            return None

    def _apply_anchor_status(self, s: Session, actor: str, payload: Mapping[str, Any]) -> None:
        when = payload.get("effective_from")
        status = EntryStatus(payload["status"])
        effective = self._add_status(
            s,
            "anchor",
            payload["id"],
            status,
            actor=actor,
            effective_from=datetime.fromisoformat(when) if when else None,
            reason=payload["reason"],
        )
        self._audit(
            s,
            actor,
            f"anchor:{status.value}",
            payload["id"],
            {"reason": payload["reason"], "effective_from": effective.isoformat()},
        )

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
        for text, what in (
            (spec.did, "a DID"),
            (spec.legal_name, "a legal name"),
            (spec.accredited_by, "an anchor id"),
            (spec.registration_number or "", "a registration number"),
            *((t, "a credential type") for t in spec.credential_types),
        ):
            check_text(text, what)
        if not spec.did.startswith("did:"):
            raise RegistryError(
                "an issuer is identified by a DID", status=422, code=Code.INVALID_DID
            )
        if not spec.credential_types:
            raise RegistryError(
                "an issuer needs at least one credential type",
                status=422,
                code=Code.INVALID_REQUEST,
            )
        if s.get(IssuerRow, spec.did) is not None:
            raise RegistryError(f"issuer {spec.did} exists", code=Code.CONFLICT)
        if spec.accredited_by not in known_anchors:
            if s.get(AnchorRow, spec.accredited_by) is None:
                raise RegistryError(
                    f"no trust anchor {spec.accredited_by}",
                    status=422,
                    code=Code.UNKNOWN_ANCHOR,
                )
            known_anchors.add(spec.accredited_by)
        # One start for the issuer and all its grants, recorded in the event.
        start = effective_from or self.clock.now()
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
            effective_from=start,
            reason="added",
        )
        for ctype, constraints in sorted(spec.credential_types.items()):
            self._add_grant(s, actor, spec.did, ctype, constraints, start)
        details = {
            "legal_name": spec.legal_name,
            "accredited_by": spec.accredited_by,
            "registration_number": spec.registration_number,
            "types": sorted(spec.credential_types),
            "constraints": {
                ctype: json.loads(_constraints_json(constraints))
                for ctype, constraints in spec.credential_types.items()
            },
            "effective_from": start.isoformat(),
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
    ) -> datetime:
        grant = GrantRow(
            issuer_did=did,
            credential_type=ctype,
            constraints_json=_constraints_json(constraints),
            created_at=self.clock.now(),
        )
        s.add(grant)
        s.flush()
        return self._add_status(
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
        """Allow an issuer one more credential type (or again, after a withdrawal)."""
        check_text(did, "a DID")
        check_text(credential_type, "a credential type")
        with self._tx() as s:
            self._issuer(s, did)
            grant = s.execute(
                select(GrantRow).where(
                    GrantRow.issuer_did == did, GrantRow.credential_type == credential_type
                )
            ).scalar_one_or_none()
            details: dict[str, Any] = {"type": credential_type}
            if grant is None:
                effective = self._add_grant(
                    s, actor, did, credential_type, constraints, effective_from
                )
                details["constraints"] = json.loads(_constraints_json(constraints))
            elif self._current_status(s, "grant", str(grant.id)) is EntryStatus.ACTIVE:
                raise RegistryError(
                    f"{did} is already trusted for {credential_type}",
                    code=Code.ALREADY_IN_STATE,
                )
            else:
                effective = self._add_status(
                    s,
                    "grant",
                    str(grant.id),
                    EntryStatus.ACTIVE,
                    actor=actor,
                    effective_from=effective_from,
                    reason="granted again",
                )
            details["effective_from"] = effective.isoformat()
            self._audit(s, actor, "grant_type", did, details)

    def withdraw_type(
        self,
        actor: str,
        did: str,
        credential_type: str,
        *,
        reason: str,
        effective_from: datetime | None = None,
    ) -> None:
        """Withdraw one credential type from an issuer (its other types stay)."""
        check_text(did, "a DID")
        check_text(credential_type, "a credential type")
        check_text(reason, "a reason")
        with self._tx() as s:
            grant = s.execute(
                select(GrantRow).where(
                    GrantRow.issuer_did == did, GrantRow.credential_type == credential_type
                )
            ).scalar_one_or_none()
            if grant is None:
                raise RegistryError(
                    f"{did} has no grant for {credential_type}", status=404, code=Code.NOT_FOUND
                )
            if self._current_status(s, "grant", str(grant.id)) is EntryStatus.WITHDRAWN:
                raise RegistryError(
                    f"{did} is already withdrawn for {credential_type}",
                    code=Code.ALREADY_IN_STATE,
                )
            effective = self._add_status(
                s,
                "grant",
                str(grant.id),
                EntryStatus.WITHDRAWN,
                actor=actor,
                effective_from=effective_from,
                reason=reason,
            )
            details = {
                "type": credential_type,
                "reason": reason,
                "effective_from": effective.isoformat(),
            }
            self._audit(s, actor, "withdraw_type", did, details)

    def _issuer(self, s: Session, did: str) -> IssuerRow:
        check_text(did, "a DID")
        row = s.get(IssuerRow, did)
        if row is None:
            raise RegistryError(f"no issuer {did}", status=404, code=Code.NOT_FOUND)
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
        check_text(reason, "a reason")
        payload = {
            "did": did,
            "reason": reason,
            "effective_from": effective_from.isoformat() if effective_from else None,
        }
        with self._tx() as s:
            self._issuer(s, did)
            current = self._current_status(s, "issuer", did)
            if current is status:
                raise RegistryError(f"{did} is already {status}", code=Code.ALREADY_IN_STATE)
            if status is EntryStatus.ACTIVE and current is EntryStatus.WITHDRAWN and self._rule(s):
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

    def issuer_view(self, did: str, *, operators: bool = True) -> dict[str, Any]:
        """An issuer with its grants and full histories (for `show`/`history`).
        `operators=False` leaves out who recorded each change: public views must not expose
        administrators' identities (issue 12 point 20)."""
        with self._sessions() as s:
            row = self._issuer(s, did)
            grants = s.execute(select(GrantRow).where(GrantRow.issuer_did == did)).scalars().all()
            return {
                "did": row.did,
                "legal_name": row.legal_name,
                "registration_number": row.registration_number,
                "accredited_by": row.accredited_by,
                "status": self._history(s, "issuer", did, operators),
                "types": {
                    g.credential_type: {
                        "constraints": json.loads(g.constraints_json),
                        "status": self._history(s, "grant", str(g.id), operators),
                    }
                    for g in grants
                },
            }

    def _history(
        self, s: Session, kind: str, subject: str, operators: bool = True
    ) -> list[dict[str, str]]:
        rows = s.execute(
            select(StatusRow)
            .where(StatusRow.subject_kind == kind, StatusRow.subject_id == subject)
            .order_by(StatusRow.effective_from, StatusRow.id)
        ).scalars()
        out = []
        for r in rows:
            entry = {
                "status": r.status,
                "effective_from": r.effective_from.isoformat(),
                "reason": r.reason,
            }
            if operators:
                entry["actor"] = r.actor
            out.append(entry)
        return out

    def issuers(self) -> list[IssuerRow]:
        with self._sessions() as s:
            return list(s.execute(select(IssuerRow).order_by(IssuerRow.did)).scalars())

    def issuer(self, did: str) -> IssuerRow:
        """One issuer (not_found if the registry has none with this DID)."""
        with self._sessions() as s:
            return self._issuer(s, did)

    def current_status(self, kind: str, subject: str) -> EntryStatus | None:
        """The status in force now of an anchor (`kind` "anchor", its id) or an issuer
        ("issuer", its DID): None before its first status takes effect."""
        with self._sessions() as s:
            return self._current_status(s, kind, subject)

    def issuer_types(self, did: str) -> dict[str, EntryStatus | None]:
        """An issuer's credential types, each with the status of its grant now."""
        with self._sessions() as s:
            grants = s.execute(
                select(GrantRow).where(GrantRow.issuer_did == did).order_by(GrantRow.id)
            ).scalars()
            return {g.credential_type: self._current_status(s, "grant", str(g.id)) for g in grants}

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
            return self._build_document(
                s, sequence=sequence, issued_at=issued_at, next_update=next_update
            )

    def _build_document(
        self,
        s: Session,
        *,
        sequence: int,
        issued_at: datetime,
        next_update: datetime,
        state: RegistryState | None = None,
    ) -> TrustListDocument:
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
            operator_name=self._setting(s, "operator_name"),
            scheme_name=self._setting(s, "scheme_name"),
            entities=tuple(entities),
            registry_state=state,
        )

    def publish(
        self, signer: Signer, actor: str = "system", *, request_key: str | None = None
    ) -> PublicationRow:
        """Sign and store the next list, with the audit log's (count, head) and the
        two-person rule inside it, and sign an audit checkpoint.

        Publications are serialised: the audit head row is locked first (SELECT … FOR UPDATE
        on PostgreSQL; SQLite's BEGIN IMMEDIATE already holds the write lock), and only then
        are the last sequence and time read, so concurrent calls each get the next sequence
        instead of a 409 (issue 12 point 5). `issued_at` strictly increases with the sequence
        even if the clock stands still or steps back. A `request_key` makes a retry
        idempotent: the same key returns the list it published, whatever ran in between."""
        if request_key is not None:
            check_text(request_key, "an idempotency key")
        with self._tx() as s:
            s.execute(select(MetaRow).where(MetaRow.key == "audit_head").with_for_update()).first()
            if request_key is not None:
                done = s.execute(
                    select(PublicationRow).where(PublicationRow.request_key == request_key)
                ).scalar_one_or_none()
                if done is not None:
                    return done
            last = s.execute(
                select(PublicationRow).order_by(PublicationRow.sequence.desc()).limit(1)
            ).scalar_one_or_none()
            now = self.clock.now()
            if last is not None and now <= last.issued_at:
                now = last.issued_at + timedelta(microseconds=1)
            sequence = 1 if last is None else last.sequence + 1
            validity = timedelta(seconds=int(self._setting(s, "list_validity_seconds")))
            events, head = self._head(s)
            state = RegistryState(events, head, self._rule(s))
            document = self._build_document(
                s, sequence=sequence, issued_at=now, next_update=now + validity, state=state
            )
            jws = sign_trust_list(
                document,
                signer,
                kid=self._setting(s, "kid"),
                issuer=self._setting(s, "registry_did"),
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
                request_key=request_key,
            )
            s.add(row)
            self._audit(s, actor, "publish", str(sequence), {"state_sha256": digest})
            seq, new_head = s.info["audit_head"]
            self._checkpoint(s, signer, seq, new_head)
            return row

    def latest_publication(self) -> PublicationRow | None:
        with self._sessions() as s:
            return s.execute(
                select(PublicationRow).order_by(PublicationRow.sequence.desc()).limit(1)
            ).scalar_one_or_none()

    # ---- admin tokens ------------------------------------------------------------------
    def create_token(self, actor: str, name: str, role: Role, *, person: str | None = None) -> str:
        """Create an API token at once (bootstrap: `registry init`, the first tokens, trusted
        code); the clear value is returned once and only its hash stored. `person` is who
        holds it (default: the token's name). The API goes through `mint_token`."""
        token = _new_token()
        with self._tx() as s:
            self._apply_token(s, actor, self._token_payload(s, name, role, person, token))
        return token

    def mint_token(
        self, actor: str, name: str, role: Role, *, person: str | None = None
    ) -> tuple[str, PendingChange | None]:
        """Create a token on an administrator's request. Under the two-person rule an editor
        or approver token is a pending change: a second person approves it, so nobody mints
        themself a second identity (issue 12 point 1). The value is returned now (once);
        it works only after the approval."""
        token = _new_token()
        with self._tx() as s:
            payload = self._token_payload(s, name, role, person, token)
            if role is not Role.VIEWER and self._rule(s) and self._has_admins(s):
                return token, self._pending(s, actor, "create_token", payload)
            self._apply_token(s, actor, payload)
            return token, None

    def _token_payload(
        self, s: Session, name: str, role: Role, person: str | None, token: str
    ) -> dict[str, str]:
        check_text(name, "a token name")
        holder = person_name(person if person is not None else name)
        if s.execute(select(TokenRow).where(TokenRow.name == name)).first() is not None:
            raise RegistryError(f"a token named {name!r} exists", code=Code.CONFLICT)
        return {
            "name": name,
            "role": role.value,
            "person": holder,
            "token_sha256": hashlib.sha256(token.encode()).hexdigest(),
        }

    def _apply_token(self, s: Session, actor: str, payload: Mapping[str, str]) -> None:
        if s.execute(select(TokenRow).where(TokenRow.name == payload["name"])).first():
            raise RegistryError(f"a token named {payload['name']!r} exists", code=Code.CONFLICT)
        s.add(
            TokenRow(
                name=payload["name"],
                role=payload["role"],
                person=payload["person"],
                token_sha256=payload["token_sha256"],
                created_at=self.clock.now(),
            )
        )
        # The hash (never the token) lets `verify_audit` tie the row to its event.
        details = {
            "role": payload["role"],
            "person": payload["person"],
            "token_sha256": payload["token_sha256"],
        }
        self._audit(s, actor, "create_token", payload["name"], details)

    @staticmethod
    def _has_admins(s: Session) -> bool:
        found = s.execute(
            select(TokenRow.id).where(
                TokenRow.role.in_([Role.EDITOR.value, Role.APPROVER.value]),
                TokenRow.revoked_at.is_(None),
            )
        ).first()
        return found is not None

    def has_admins(self) -> bool:
        """Whether any unrevoked editor or approver token exists (past the bootstrap)."""
        with self._sessions() as s:
            return self._has_admins(s)

    def revoke_token(self, actor: str, name: str) -> None:
        """Revoke a token at once (no second person needed to *remove* a power); audited."""
        check_text(name, "a token name")
        with self._tx() as s:
            row = s.execute(select(TokenRow).where(TokenRow.name == name)).scalar_one_or_none()
            if row is None:
                raise RegistryError(f"no token named {name!r}", status=404, code=Code.NOT_FOUND)
            if row.revoked_at is not None:
                raise RegistryError(
                    f"token {name!r} is already revoked", code=Code.ALREADY_IN_STATE
                )
            row.revoked_at = self.clock.now()
            self._audit(s, actor, "revoke_token", name, {"person": row.person})

    def tokens(self) -> list[TokenRow]:
        with self._sessions() as s:
            return list(s.execute(select(TokenRow).order_by(TokenRow.id)).scalars())

    def authenticate(self, token: str) -> tuple[str, Role] | None:
        """The (person, role) a token stands for, or None (unknown or revoked)."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        with self._sessions() as s:
            row = s.execute(
                select(TokenRow).where(TokenRow.token_sha256 == digest)
            ).scalar_one_or_none()
        if row is None or row.revoked_at is not None:
            return None
        return row.person, Role(row.role)


def _new_token() -> str:
    return "ancre_" + secrets.token_urlsafe(32)


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
