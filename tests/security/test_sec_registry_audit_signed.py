"""Issue 12 point 3: the audit chain had no key. A database writer could edit a row and
recompute the SHA-256 chain, delete events and renumber, empty the log, or set
`two_person_rule` to 0, and `audit verify` still said intact. Now the registry signs a
checkpoint (count, head) at every publication, every list carries the head and the rule,
and `verify_audit(key=…)` checks the chain against them.

Every attack below is what a database-level attacker *without the registry's key* can do:
rewrite rows and recompute every hash (the algorithm is public)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from _sec_registry import T0, Setup, registry_for, with_anchor_and_agency
from sqlalchemy import text

from ancre.registry.db import AuditRow
from ancre.registry.service import _GENESIS, RegistryError, _event_hash, published_head
from ancre.trust.clock import FixedClock
from ancre.trust.errors import Code
from ancre.trust.jose.vc_jose import PinnedKeys
from ancre.trust.trust_list.model import RegistryState, TrustListDocument
from ancre.trust.trust_list.signed import sign_trust_list, verify_trust_list


def _recompute_chain(setup: Setup) -> None:
    """What the attacker runs after editing rows: a chain that hashes fine again."""
    engine = setup.registry.engine
    with engine.begin() as db:
        rows = db.execute(text("SELECT seq FROM audit_log ORDER BY seq")).scalars().all()
        prev, seq = _GENESIS, 0
        for seq in rows:
            data = db.execute(
                text("SELECT seq, at, actor, action, subject, details_json FROM audit_log "
                     "WHERE seq = :s"), {"s": seq}
            ).one()  # fmt: skip
            row = AuditRow(
                seq=data.seq, actor=data.actor, action=data.action, subject=data.subject,
                details_json=data.details_json,
            )  # fmt: skip
            from ancre.storage.sql import UtcMicros

            row.at = UtcMicros().process_result_value(data.at, engine.dialect)  # type: ignore[assignment]
            digest = _event_hash(prev, row)
            db.execute(
                text("UPDATE audit_log SET prev_hash = :p, hash = :h WHERE seq = :s"),
                {"p": prev, "h": digest, "s": seq},
            )
            prev = digest
        db.execute(
            text("UPDATE registry_meta SET value = :v WHERE key = 'audit_head'"),
            {"v": f"{seq}:{prev}"},
        )


def _published(setup: Setup) -> str:
    with_anchor_and_agency(setup)
    setup.clock.advance(timedelta(minutes=1))
    return setup.registry.publish(setup.key.key, "alice").jws


def test_an_honest_log_verifies_with_the_key(database_url: str) -> None:
    with registry_for(database_url) as setup:
        _published(setup)
        report = setup.registry.verify_audit(key=setup.key.key.public_key)
        assert report.ok, report
        assert report.signed_events == report.events  # publication signed up to its own event


def test_edit_and_recompute_is_detected(database_url: str) -> None:
    with registry_for(database_url) as setup:
        listed_events, _ = published_head(_published(setup), setup.key.key.public_key)
        with setup.registry.engine.begin() as db:
            # Hide who approved the anchor.
            db.execute(
                text("UPDATE audit_log SET actor = 'alice' WHERE action = 'approve:add_anchor'")
            )
        _recompute_chain(setup)
        # The unkeyed chain is fooled, as before; only the cross-check with the tables sees
        # that pending_changes still names bob (tests/test_registry_audit_crosscheck.py).
        unkeyed = setup.registry.verify_audit()
        assert unkeyed.first_broken is None
        assert [(f.table, f.code) for f in unkeyed.findings] == [
            ("pending_changes", Code.AUDIT_STATE_MISMATCH)
        ]
        report = setup.registry.verify_audit(key=setup.key.key.public_key)
        assert not report.ok
        # The first signed head that no longer matches: the one inside trust list #1.
        assert report.first_broken == listed_events
        assert report.reason == f"event {listed_events} differs from trust list #1"


def test_deletion_and_renumbering_is_detected(database_url: str) -> None:
    with registry_for(database_url) as setup:
        listed_events, _ = published_head(_published(setup), setup.key.key.public_key)
        with setup.registry.engine.begin() as db:
            gone = db.execute(
                text("SELECT seq FROM audit_log WHERE action = 'approve:add_anchor'")
            ).scalar_one()
            db.execute(text("DELETE FROM audit_log WHERE seq = :s"), {"s": gone})
            last = db.execute(text("SELECT max(seq) FROM audit_log")).scalar_one()
            for seq in range(gone + 1, last + 1):
                db.execute(
                    text("UPDATE audit_log SET seq = :n WHERE seq = :s"), {"n": seq - 1, "s": seq}
                )
        _recompute_chain(setup)
        unkeyed = setup.registry.verify_audit()
        assert unkeyed.first_broken is None  # the chain alone is fooled, not the cross-check
        # The approval is gone: the change is approved in pending_changes, and the anchor
        # took effect under the rule with no approval event after it.
        assert {f.table for f in unkeyed.findings} == {"pending_changes", "audit_log"}
        report = setup.registry.verify_audit(key=setup.key.key.public_key)
        assert not report.ok
        assert report.first_broken == listed_events
        assert report.reason == f"event {listed_events} differs from trust list #1"


def test_total_deletion_is_detected_against_a_list_the_auditor_kept(database_url: str) -> None:
    with registry_for(database_url) as setup:
        kept = _published(setup)
        with setup.registry.engine.begin() as db:
            for table in ("audit_log", "audit_checkpoints", "publications"):
                db.execute(text(f"DELETE FROM {table}"))
            db.execute(text("DELETE FROM registry_meta WHERE key = 'audit_head'"))
        # Without anything from outside, a configured registry with no events is refused...
        empty = setup.registry.verify_audit(key=setup.key.key.public_key)
        assert (empty.ok, empty.events) == (False, 0)
        assert "empty" in empty.reason
        # ... and even if the attacker also forged a fresh "configure" event, the list the
        # auditor kept names a head the log no longer has.
        setup.registry.configure(
            registry_did=setup.key.did,
            kid=setup.key.kid,
            operator_name="Loire",
            scheme_name="Issuers",
        )
        held = published_head(kept, setup.key.key.public_key)
        assert held[0] > 1
        alone = setup.registry.verify_audit(key=setup.key.key.public_key)
        # The chain and its (absent) signatures are fooled; the tables are not: tokens,
        # anchors, issuers with no event left to explain them.
        assert alone.first_broken is None
        assert alone.code is Code.AUDIT_STATE_MISMATCH
        assert {"admin_tokens", "trust_anchors", "trusted_issuers"} <= {
            f.table for f in alone.findings
        }
        report = setup.registry.verify_audit(key=setup.key.key.public_key, known_heads=[held])
        assert not report.ok
        assert "now gone" in report.reason


def test_flipping_the_two_person_rule_in_the_database_is_detected(database_url: str) -> None:
    with registry_for(database_url) as setup:
        _published(setup)
        with setup.registry.engine.begin() as db:
            db.execute(text("UPDATE registry_meta SET value = '0' WHERE key = 'two_person_rule'"))
        # The flip took effect (the attacker's goal: one person adds an anchor)...
        assert (
            setup.registry.add_anchor("mallory", anchor_id="did:web:rogue.example", name="R")
            is None
        )
        # ... and the audit verification names it, even without the key.
        report = setup.registry.verify_audit()
        assert not report.ok
        assert "two-person rule" in report.reason


def test_the_rule_is_only_turned_off_by_an_approved_change_and_shown_in_the_list(
    database_url: str,
) -> None:
    with registry_for(database_url) as setup:
        with pytest.raises(RegistryError) as refused:
            setup.registry.configure(
                registry_did=setup.key.did, kid=setup.key.kid, operator_name="Loire",
                scheme_name="Issuers", two_person_rule=False,
            )  # fmt: skip
        assert (refused.value.code, refused.value.http_status) == (Code.TWO_PERSON_REQUIRED, 403)
        change = setup.registry.set_two_person_rule("alice", False)
        assert change is not None
        with pytest.raises(RegistryError) as own:
            setup.registry.approve("alice", change.id)
        assert own.value.code is Code.SAME_PERSON
        assert setup.registry.two_person_rule is True
        setup.registry.approve("bob", change.id)
        assert setup.registry.two_person_rule is False
        jws = _published(setup)
        assert setup.registry.verify_audit(key=setup.key.key.public_key).ok
        keys = PinnedKeys(
            {setup.key.did: [dict(setup.key.key.public_key.to_jwk(), kid=setup.key.kid)]}
        )
        listed = verify_trust_list(jws, registry=setup.key.did, resolver=keys, clock=setup.clock)
        state = listed.document.registry_state
        assert state is not None
        assert state.two_person_rule is False
        assert (state.audit_events, state.audit_head) == published_head(
            jws, setup.key.key.public_key
        )


def test_a_forged_checkpoint_is_refused(database_url: str) -> None:
    with registry_for(database_url) as setup:
        _published(setup)
        with setup.registry.engine.begin() as db:
            db.execute(text("UPDATE audit_checkpoints SET jws = jws || 'A'"))
        report = setup.registry.verify_audit(key=setup.key.key.public_key)
        assert not report.ok
        assert "signature" in report.reason


def test_lists_from_before_the_registry_state_still_verify() -> None:
    from _support import Issuer

    key = Issuer.new("ed25519")
    keys = PinnedKeys({key.did: [dict(key.key.public_key.to_jwk(), kid=key.kid)]})
    old = TrustListDocument(
        sequence=1, issued_at=T0, next_update=T0 + timedelta(days=1),
        operator_name="o", scheme_name="s", entities=(),
    )  # fmt: skip
    assert "AncreRegistryState" not in old.to_json()["LoTE"]["ListAndSchemeInformation"]
    jws = sign_trust_list(old, key.key, kid=key.kid, issuer=key.did)
    listed = verify_trust_list(jws, registry=key.did, resolver=keys, clock=FixedClock(T0))
    assert listed.document.registry_state is None
    with pytest.raises(RegistryError) as no_head:
        published_head(jws, key.key.public_key)
    assert no_head.value.code is Code.TRUST_LIST_INVALID
    new = TrustListDocument(
        sequence=2, issued_at=T0, next_update=T0 + timedelta(days=1), operator_name="o",
        scheme_name="s", entities=(), registry_state=RegistryState(3, "ab" * 32, True),
    )  # fmt: skip
    assert TrustListDocument.from_json(new.to_json()).registry_state == RegistryState(
        3, "ab" * 32, True
    )
    bad = new.to_json()
    bad["LoTE"]["ListAndSchemeInformation"]["AncreRegistryState"]["AuditHead"] = "zz"
    with pytest.raises(Exception) as refused:
        TrustListDocument.from_json(bad)
    assert getattr(refused.value, "code", None) is Code.TRUST_LIST_INVALID


def test_the_rule_turned_off_then_on_again_verifies(database_url: str) -> None:
    with registry_for(database_url) as setup:
        change = setup.registry.set_two_person_rule("alice", False)
        assert change is not None
        setup.registry.approve("bob", change.id)
        off = _published(setup)
        assert published_head(off, setup.key.key.public_key)[0] > 0
        assert setup.registry.set_two_person_rule("alice", True) is None
        setup.clock.advance(timedelta(minutes=1))
        setup.registry.publish(setup.key.key, "alice")
        report = setup.registry.verify_audit(key=setup.key.key.public_key)
        assert report.ok, report
        assert report.signed_events == report.events


def test_a_forged_rule_event_in_the_unsigned_tail_shows_as_unsigned(database_url: str) -> None:
    # The limit docs/security.md states: after the last signed checkpoint, a writer without
    # the key can append well-chained events. A bare "rule off" event is caught (under the
    # rule it takes effect only with an approval: tests/test_registry_audit_crosscheck.py);
    # the whole approved change forged consistently, request, effect, approval and the
    # pending row, cannot be called forged, but is reported as not covered by a signature.
    with registry_for(database_url) as setup:
        _published(setup)
        signed = setup.registry.verify_audit(key=setup.key.key.public_key).signed_events
        insert = text(
            "INSERT INTO audit_log (seq, at, actor, action, subject, details_json, prev_hash, "
            "hash) VALUES (:seq, 0, :actor, :action, :subject, :details, '', '')"
        )
        with setup.registry.engine.begin() as db:
            change = 1 + db.execute(text("SELECT max(id) FROM pending_changes")).scalar_one()
            for offset, actor, action, subject, details in (
                (1, "bob", "request:two_person_rule", "two_person_rule",
                 f'{{"change":{change},"enabled":false,"id":"two_person_rule"}}'),
                (2, "bob", "set_two_person_rule", "two_person_rule", '{"two_person_rule":"0"}'),
                (3, "alice", "approve:two_person_rule", str(change), f'{{"change":{change}}}'),
            ):  # fmt: skip
                db.execute(
                    insert,
                    {"seq": signed + offset, "actor": actor, "action": action,
                     "subject": subject, "details": details},
                )  # fmt: skip
            db.execute(
                text(
                    "INSERT INTO pending_changes (id, kind, payload_json, requested_by, "
                    "requested_at, state, decided_by, decided_at) VALUES (:id, "
                    "'two_person_rule', :payload, 'bob', 0, 'approved', 'alice', 0)"
                ),
                {"id": change, "payload": '{"enabled":false,"id":"two_person_rule"}'},
            )
            db.execute(text("UPDATE registry_meta SET value = '0' WHERE key = 'two_person_rule'"))
        _recompute_chain(setup)
        report = setup.registry.verify_audit(key=setup.key.key.public_key)
        assert report.ok, report
        assert (report.events, report.signed_events) == (signed + 3, signed)
        # The next honest publication shows the rule off to every verifier.
        setup.clock.advance(timedelta(minutes=1))
        jws = setup.registry.publish(setup.key.key, "alice").jws
        keys = PinnedKeys(
            {setup.key.did: [dict(setup.key.key.public_key.to_jwk(), kid=setup.key.kid)]}
        )
        listed = verify_trust_list(jws, registry=setup.key.did, resolver=keys, clock=setup.clock)
        assert listed.document.registry_state is not None
        assert listed.document.registry_state.two_person_rule is False
