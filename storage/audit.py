"""A hash-chained, append-only audit trail: the hashing and checking rules, without storage.

Each event's hash covers its content and the previous event's hash, so editing or removing
an event breaks every hash after it; a separately stored *head* (sequence and hash of the
newest event) also reveals the removal of the newest events. Services keep the events in
their own tables and call :func:`event_hash` when appending and :func:`verify_chain` to
check; storage, locking and who may append stay theirs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

__all__ = ["GENESIS", "AuditEvent", "AuditReport", "canonical", "event_hash", "verify_chain"]

#: The "previous hash" of the first event.
GENESIS: Final = "0" * 64


def canonical(value: Any) -> str:
    """Sorted-key, compact JSON: the same bytes for the same content, on every platform."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One stored event, with the hashes it was stored with."""

    seq: int
    at: datetime
    actor: str
    action: str
    subject: str
    details: Mapping[str, Any]
    prev_hash: str
    hash: str


def event_hash(
    prev: str,
    *,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    subject: str,
    details: Mapping[str, Any],
) -> str:
    """SHA-256 (hex) of the previous hash and the event's canonical content. Times count in
    integer microseconds since the epoch, so a round trip through any database keeps it."""
    micros = int(at.timestamp()) * 1_000_000 + at.microsecond
    body = canonical(
        {
            "seq": seq,
            "at": micros,
            "actor": actor,
            "action": action,
            "subject": subject,
            "details": dict(details),
        }
    )
    return hashlib.sha256(f"{prev}\n{body}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class AuditReport:
    """The outcome of :func:`verify_chain`: `first_broken` names the first bad event."""

    ok: bool
    events: int
    first_broken: int | None = None
    reason: str = ""


def verify_chain(events: Iterable[AuditEvent], head: tuple[int, str] | None) -> AuditReport:
    """Walk `events` in sequence order; `head` is the stored (seq, hash) of the newest event
    (None when nothing was ever appended)."""
    prev, expected, count = GENESIS, 1, 0
    for event in events:
        count += 1
        if event.seq != expected:
            return AuditReport(False, count, expected, f"event {expected} is missing")
        if event.prev_hash != prev:
            return AuditReport(False, count, event.seq, "link to the previous event is broken")
        computed = event_hash(
            prev,
            seq=event.seq,
            at=event.at,
            actor=event.actor,
            action=event.action,
            subject=event.subject,
            details=event.details,
        )
        if not hmac.compare_digest(computed, event.hash):
            return AuditReport(False, count, event.seq, "event content does not match its hash")
        prev, expected = event.hash, event.seq + 1
    if (head or (0, GENESIS)) != (expected - 1, prev):
        # The newest events were removed (or the head was tampered with).
        return AuditReport(False, count, expected, "events after this one were removed")
    return AuditReport(True, count)
