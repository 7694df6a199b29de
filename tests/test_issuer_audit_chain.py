"""`ancre.storage.audit`: the hash chain the issuer's audit log is built on."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from ancre.storage.audit import GENESIS, AuditEvent, event_hash, verify_chain

T0 = datetime(2026, 1, 15, 12, 0, 0, 123456, tzinfo=UTC)


def _chain(n: int) -> list[AuditEvent]:
    events, prev = [], GENESIS
    for seq in range(1, n + 1):
        at = T0 + timedelta(seconds=seq)
        details = {"n": seq, "é": ["x"]}
        digest = event_hash(
            prev, seq=seq, at=at, actor="alice", action="issue", subject=f"s{seq}", details=details
        )
        events.append(AuditEvent(seq, at, "alice", "issue", f"s{seq}", details, prev, digest))
        prev = digest
    return events


def test_an_intact_chain_and_the_empty_one() -> None:
    events = _chain(3)
    assert verify_chain(events, (3, events[-1].hash)).ok
    assert verify_chain([], None).ok
    assert verify_chain([], (0, GENESIS)).ok


def test_the_hash_covers_every_field_to_the_microsecond() -> None:
    base = {"seq": 1, "at": T0, "actor": "a", "action": "b", "subject": "c", "details": {"k": 1}}
    digest = event_hash(GENESIS, **base)  # type: ignore[arg-type]
    for name, value in (
        ("seq", 2),
        ("at", T0 + timedelta(microseconds=1)),
        ("actor", "A"),
        ("action", "B"),
        ("subject", "C"),
        ("details", {"k": 2}),
    ):
        assert event_hash(GENESIS, **{**base, name: value}) != digest, name  # type: ignore[arg-type]
    assert event_hash("1" * 64, **base) != digest  # type: ignore[arg-type]


def test_tampering_is_located() -> None:
    events = _chain(4)
    head = (4, events[-1].hash)
    edited = [*events[:2], replace(events[2], actor="mallory"), events[3]]
    assert verify_chain(edited, head).first_broken == 3
    relinked = [*events[:2], replace(events[2], prev_hash="f" * 64), events[3]]
    assert verify_chain(relinked, head).reason == "link to the previous event is broken"
    gap = [events[0], events[2], events[3]]
    report = verify_chain(gap, head)
    assert (report.ok, report.first_broken, report.reason) == (False, 2, "event 2 is missing")
    truncated = verify_chain(events[:3], head)
    assert (truncated.ok, truncated.first_broken) == (False, 4)
    assert truncated.reason == "events after this one were removed"
    assert not verify_chain(events, None).ok  # events without a head: the head was removed
