"""`verify_audit` replays the audited events and compares the state they describe with the
tables (docs/security.md, "What the audit chain does and does not prove"). Before, a
database writer without the registry's key could insert a token row for themself, or write
anchors, issuers and statuses with no audit event, and verification still said intact: the
next honest publication then signed that state.

An honest registry with every kind of change verifies clean on SQLite and PostgreSQL; each
tampering below is done directly in SQL, as that attacker would, and is named with its code
and table. The attacker here never touches the audit log: a rewritten *signed* log is
`audit_chain_broken` (tests/security/test_sec_registry_audit_signed.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from _asgi_server import serve
from _support import Issuer
from sqlalchemy import text
from sqlalchemy.engine import Connection

from ancre.registry.api import create_app
from ancre.registry.db import AuditRow, make_engine, migrate
from ancre.registry.service import _GENESIS, IssuerSpec, Registry, Role, _event_hash
from ancre.storage.sql import UtcMicros
from ancre.trust.clock import FixedClock
from ancre.trust.errors import Code
from ancre.trust.trust_list.model import ClaimConstraint, EntryStatus

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
ANCHOR, SPARE = "did:web:association.example", "did:web:spare.example"
AGENCY, BULK = "did:web:agency.example", "did:web:bulk.example"
LP, CERT = "gx:LegalPerson", "ancre:Certification"
COUNTRY = "credentialSubject.gx:legalAddress.gx:countryCode"


@dataclass
class Honest:
    registry: Registry
    key: Issuer
    clock: FixedClock


def _tick(clock: FixedClock) -> None:
    clock.advance(timedelta(seconds=1))


def _pem() -> str:
    from _x509_pki import make_ca
    from cryptography.hazmat.primitives import serialization

    root = make_ca("Data space root")
    return root.certificate.public_bytes(serialization.Encoding.PEM).decode()


def _every_kind_of_change(registry: Registry, clock: FixedClock, key: Issuer) -> None:
    """Anchors, issuers, add-type, statuses, tokens, approvals, rejections, publications,
    the two-person rule off and on again, and a change left pending."""
    tokens = {
        name: registry.create_token("init", name, role)
        for name, role in (("alice", Role.APPROVER), ("bob", Role.APPROVER), ("ed", Role.EDITOR))
    }
    assert len(tokens) == 3
    for anchor, name, pem in ((ANCHOR, "Association", _pem()), (SPARE, "Spare", None)):
        change = registry.add_anchor("alice", anchor_id=anchor, name=name, x509_pem=pem)
        assert change is not None
        registry.approve("bob", change.id)
        _tick(clock)
    registry.add_issuer(
        "alice",
        did=AGENCY,
        legal_name="Agence",
        accredited_by=ANCHOR,
        credential_types={LP: [ClaimConstraint(COUNTRY, ("FR", "BE"))]},
        registration_number="FR123",
    )
    registry.add_issuers(
        "ed",
        [
            # Bulk import, with a start in the future.
            IssuerSpec(BULK, "Bulk", ANCHOR, {LP: [], CERT: []})
        ],
        effective_from=clock.now() + timedelta(days=1),
    )
    _tick(clock)
    registry.grant_type("alice", AGENCY, CERT, [ClaimConstraint("credentialSubject.level", ("A",))])
    registry.publish(key.key, "alice")
    _tick(clock)
    registry.withdraw_type("alice", AGENCY, CERT, reason="scope reduced")
    _tick(clock)
    registry.grant_type("alice", AGENCY, CERT)  # given again: keeps its constraints
    registry.set_issuer_status("alice", AGENCY, EntryStatus.SUSPENDED, reason="inquiry")
    _tick(clock)
    registry.set_issuer_status("alice", AGENCY, EntryStatus.WITHDRAWN, reason="closed")
    _tick(clock)
    reinstate = registry.set_issuer_status("alice", AGENCY, EntryStatus.ACTIVE, reason="reopened")
    assert reinstate is not None
    registry.approve("bob", reinstate.id)
    _tick(clock)
    suspend = registry.set_anchor_status(
        "bob", SPARE, EntryStatus.SUSPENDED, reason="review",
        effective_from=clock.now() + timedelta(hours=1),
    )  # fmt: skip
    assert suspend is not None
    registry.approve("alice", suspend.id)
    _, minted = registry.mint_token("alice", "carol", Role.EDITOR)
    assert minted is not None
    registry.approve("bob", minted.id)
    _, refused = registry.mint_token("alice", "dave", Role.APPROVER)
    assert refused is not None
    registry.reject("bob", refused.id)
    registry.mint_token("alice", "vi", Role.VIEWER)  # a viewer: at once
    registry.revoke_token("alice", "ed")
    off = registry.set_two_person_rule("alice", False)
    assert off is not None
    registry.approve("bob", off.id)
    assert registry.set_two_person_rule("alice", True) is None
    # A change still waiting for its second person is not yet state.
    waiting = registry.add_anchor("alice", anchor_id="did:web:waiting.example", name="W")
    assert waiting is not None
    _tick(clock)
    registry.publish(key.key, "bob")


@contextmanager
def honest_registry(database_url: str) -> Iterator[Honest]:
    clock = FixedClock(T0)
    key = Issuer.new("ed25519")
    engine = make_engine(database_url)
    migrate(engine)
    registry = Registry(engine, clock=clock)
    registry.configure(
        registry_did=key.did, kid=key.kid, operator_name="Loire", scheme_name="Issuers"
    )
    _every_kind_of_change(registry, clock, key)
    try:
        yield Honest(registry, key, clock)
    finally:
        engine.dispose()


def test_an_honest_registry_with_every_kind_of_change_verifies_clean(database_url: str) -> None:
    with honest_registry(database_url) as honest:
        report = honest.registry.verify_audit(key=honest.key.key.public_key)
        assert report.ok, report
        assert (report.findings, report.not_cross_checked, report.code) == ((), (), None)
        assert report.signed_events == report.events
        actions = {e.action for e in honest.registry.audit_events(limit=1000)}
        assert {
            "configure", "create_token", "revoke_token", "add_anchor", "anchor:suspended",
            "add_issuer", "grant_type", "withdraw_type", "issuer:suspended", "issuer:withdrawn",
            "issuer:active", "request:add_anchor", "approve:add_anchor", "reject:create_token",
            "approve:two_person_rule", "set_two_person_rule", "publish",
        } <= actions  # fmt: skip
        assert [c.kind for c in honest.registry.pending_changes()] == ["add_anchor"]


def _sql(statement: str, **values: object) -> Callable[[Connection], None]:
    def run(db: Connection) -> None:
        db.execute(text(statement), values)

    return run


def _grant_id(db: Connection, did: str, ctype: str) -> int:
    found: int = db.execute(
        text(
            "SELECT id FROM credential_type_grants WHERE issuer_did = :d AND credential_type = :t"
        ),
        {"d": did, "t": ctype},
    ).scalar_one()
    return found


def _add_a_type(db: Connection) -> None:
    db.execute(
        text(
            "INSERT INTO credential_type_grants (issuer_did, credential_type, constraints_json, "
            "created_at) VALUES (:d, 'gx:ServiceOffering', '[]', 0)"
        ),
        {"d": AGENCY},
    )
    grant = _grant_id(db, AGENCY, "gx:ServiceOffering")
    db.execute(
        text(
            "INSERT INTO status_history (subject_kind, subject_id, status, effective_from, "
            "reason, actor, recorded_at) VALUES ('grant', :g, 'active', 0, 'granted', 'alice', 0)"
        ),
        {"g": str(grant)},
    )


def _delete_an_anchor(db: Connection) -> None:
    # The attacker removes its history too: the row is still missing against its event.
    db.execute(text("DELETE FROM status_history WHERE subject_kind = 'anchor' AND subject_id = :a"),
               {"a": SPARE})  # fmt: skip
    db.execute(text("DELETE FROM trust_anchors WHERE id = :a"), {"a": SPARE})


def _reactivate(db: Connection) -> None:
    # Erase the withdrawal from the issuer's history: it reads "active" all along.
    db.execute(
        text(
            "UPDATE status_history SET status = 'active' WHERE subject_kind = 'issuer' "
            "AND subject_id = :d AND status = 'withdrawn'"
        ),
        {"d": AGENCY},
    )


TAMPERINGS: dict[str, tuple[Callable[[Connection], None], set[tuple[str, str]]]] = {
    "insert a token row": (
        _sql(
            "INSERT INTO admin_tokens (name, person, role, token_sha256, created_at) "
            "VALUES ('mallory', 'mallory', 'approver', :h, 0)",
            h="ab" * 32,
        ),
        {("admin_tokens", "mallory")},
    ),
    "un-revoke a token": (
        _sql("UPDATE admin_tokens SET revoked_at = NULL WHERE name = 'ed'"),
        {("admin_tokens", "ed")},
    ),
    "swap a token's hash": (
        _sql("UPDATE admin_tokens SET token_sha256 = :h WHERE name = 'alice'", h="cd" * 32),
        {("admin_tokens", "alice")},
    ),
    "insert an issuer": (
        _sql(
            "INSERT INTO trusted_issuers (did, legal_name, accredited_by, created_at) "
            "VALUES ('did:web:rogue.example', 'Rogue', :a, 0)",
            a=ANCHOR,
        ),
        {("trusted_issuers", "did:web:rogue.example")},
    ),
    "change an issuer's status": (_reactivate, {("status_history", f"issuer {AGENCY}")}),
    "append an issuer status": (
        _sql(
            "INSERT INTO status_history (subject_kind, subject_id, status, effective_from, "
            "reason, actor, recorded_at) VALUES ('issuer', :d, 'active', 0, 'x', 'alice', 0)",
            d=BULK,
        ),
        {("status_history", f"issuer {BULK}")},
    ),
    "add a credential type": (
        _add_a_type,
        {
            ("credential_type_grants", f"{AGENCY} gx:ServiceOffering"),
            ("status_history", f"grant {AGENCY} gx:ServiceOffering"),
        },
    ),
    "delete an anchor": (
        _delete_an_anchor,
        {("trust_anchors", SPARE), ("status_history", f"anchor {SPARE}")},
    ),
    "edit a constraint": (
        _sql(
            "UPDATE credential_type_grants SET constraints_json = :c "
            "WHERE issuer_did = :d AND credential_type = :t",
            c=json.dumps([{"claim": COUNTRY, "in": ["FR", "BE", "XX"]}]),
            d=AGENCY,
            t=LP,
        ),
        {("credential_type_grants", f"{AGENCY} {LP}")},
    ),
    "change a registration number": (
        _sql("UPDATE trusted_issuers SET registration_number = 'XX9' WHERE did = :d", d=AGENCY),
        {("trusted_issuers", AGENCY)},
    ),
    "swap an anchor's certificate": (
        _sql("UPDATE trust_anchors SET x509_pem = NULL WHERE id = :a", a=ANCHOR),
        {("trust_anchors", ANCHOR)},
    ),
    "approve a pending change in the table": (
        _sql(
            "UPDATE pending_changes SET state = 'approved', decided_by = 'bob' "
            "WHERE state = 'pending'"
        ),
        {("pending_changes", "0")},  # the id is filled in below
    ),
    "rename the operator": (
        _sql("UPDATE registry_meta SET value = 'Mallory' WHERE key = 'operator_name'"),
        {("registry_meta", "operator_name")},
    ),
    "delete a publication": (
        _sql("DELETE FROM publications WHERE sequence = 1"),
        {("publications", "1")},
    ),
}


@pytest.mark.parametrize("tampering", list(TAMPERINGS))
def test_each_tampering_in_the_tables_is_found_with_its_code_and_table(
    database_url: str, tampering: str
) -> None:
    attack, expected = TAMPERINGS[tampering]
    with honest_registry(database_url) as honest:
        if tampering.startswith("approve a pending"):
            expected = {("pending_changes", str(honest.registry.pending_changes()[0].id))}
        with honest.registry.engine.begin() as db:
            attack(db)
        report = honest.registry.verify_audit(key=honest.key.key.public_key)
        assert not report.ok
        assert report.first_broken is None  # the chain and its signatures still hold
        assert report.code is Code.AUDIT_STATE_MISMATCH
        assert {f.code for f in report.findings} == {Code.AUDIT_STATE_MISMATCH}
        assert {(f.table, f.key) for f in report.findings} == expected, report.findings
        assert report.reason.startswith(f"{len(expected)} difference(s)")


def test_an_approved_change_the_table_forgot_is_found(database_url: str) -> None:
    # The other direction: an audited effect missing from the tables.
    with honest_registry(database_url) as honest:
        with honest.registry.engine.begin() as db:
            db.execute(text("DELETE FROM admin_tokens WHERE name = 'carol'"))
        report = honest.registry.verify_audit()
        assert [(f.table, f.key) for f in report.findings] == [("admin_tokens", "carol")]
        assert "missing: audit event" in report.findings[0].message


def _as_an_older_release_wrote_them(registry: Registry, action: str, drop: set[str]) -> None:
    """Rewrite the `action` events without the fields in `drop` and recompute the chain: the
    log as a release from before those fields were recorded left it."""
    engine = registry.engine
    with engine.begin() as db:
        rows = db.execute(
            text("SELECT seq, at, actor, action, subject, details_json FROM audit_log ORDER BY seq")
        ).all()
        prev = _GENESIS
        for data in rows:
            details = json.loads(data.details_json)
            if data.action == action:
                details = {k: v for k, v in details.items() if k not in drop}
            row = AuditRow(
                seq=data.seq, actor=data.actor, action=data.action, subject=data.subject,
                details_json=json.dumps(details, sort_keys=True, separators=(",", ":"),
                                        ensure_ascii=False),
                prev_hash=prev,
            )  # fmt: skip
            row.at = UtcMicros().process_result_value(data.at, engine.dialect)  # type: ignore[assignment]
            row.hash = _event_hash(prev, row)
            db.execute(
                text("UPDATE audit_log SET details_json = :j, prev_hash = :p, hash = :h "
                     "WHERE seq = :s"),
                {"j": row.details_json, "p": prev, "h": row.hash, "s": data.seq},
            )  # fmt: skip
            prev = row.hash
        db.execute(
            text("UPDATE registry_meta SET value = :v WHERE key = 'audit_head'"),
            {"v": f"{rows[-1].seq}:{prev}"},
        )


def test_older_events_say_what_they_cannot_vouch_for(database_url: str) -> None:
    clock = FixedClock(T0)
    engine = make_engine(database_url)
    migrate(engine)
    registry = Registry(engine, clock=clock)
    try:
        registry.configure(
            registry_did="did:web:r.example", kid="did:web:r.example#k", operator_name="o",
            scheme_name="s", two_person_rule=False,
        )  # fmt: skip
        registry.create_token("init", "alice", Role.APPROVER)
        registry.add_anchor("alice", anchor_id=ANCHOR, name="Association")
        registry.add_issuer(
            "alice", did=AGENCY, legal_name="Agence", accredited_by=ANCHOR,
            credential_types={LP: [ClaimConstraint(COUNTRY, ("FR",))]}, registration_number="1",
        )  # fmt: skip
        registry.add_issuer(
            "alice", did=BULK, legal_name="Bulk", accredited_by=ANCHOR, credential_types={LP: []}
        )
        assert registry.set_two_person_rule("alice", True) is None
        change = registry.add_anchor("Alice", anchor_id=SPARE, name="Spare")
        assert change is not None
        registry.approve("Bob", change.id)
        _as_an_older_release_wrote_them(
            registry, "add_issuer", {"registration_number", "constraints", "effective_from"}
        )
        # A release before migration 0002: tokens had no holder in their event, reads were
        # logged in the chain, a requester was stored as typed.
        with engine.begin() as db:
            db.execute(
                text("INSERT INTO audit_log (seq, at, actor, action, subject, details_json, "
                     "prev_hash, hash) VALUES (:s, 0, 'alice', 'admin_read', '/admin/issuers', "
                     "'{\"method\":\"GET\"}', '', '')"),
                {"s": registry.verify_audit().events + 1},
            )  # fmt: skip
            db.execute(
                text("UPDATE pending_changes SET requested_by = 'Alice', decided_by = 'Bob'")
            )
        _as_an_older_release_wrote_them(registry, "create_token", {"person", "token_sha256"})
        last_issuer = max(e.seq for e in registry.audit_events() if e.action == "add_issuer")
        token_event = next(e.seq for e in registry.audit_events() if e.action == "create_token")
        report = registry.verify_audit()
        # Replayed, still clean, and not silent about what those events could not vouch for.
        assert report.ok, report
        assert report.not_cross_checked == (
            f"add_issuer events up to {last_issuer}: constraints, effective_from, "
            "registration_number not cross-checked",
            f"create_token events up to {token_event}: person, token_sha256 not cross-checked",
        )
        # What the old events do carry is still compared...
        with engine.begin() as db:
            db.execute(text("UPDATE trusted_issuers SET legal_name = 'Rogue' WHERE did = :d"),
                       {"d": AGENCY})  # fmt: skip
        named = registry.verify_audit()
        assert [(f.table, f.key) for f in named.findings] == [("trusted_issuers", AGENCY)]
        # ... what they do not is the stated limit: an edited constraint goes unseen.
        with engine.begin() as db:
            db.execute(text("UPDATE trusted_issuers SET legal_name = 'Agence' WHERE did = :d"),
                       {"d": AGENCY})  # fmt: skip
            db.execute(text("UPDATE credential_type_grants SET constraints_json = '[]'"))
        assert registry.verify_audit().ok
        # New events are checked in full again.
        registry.grant_type("alice", AGENCY, CERT, [ClaimConstraint("a.b", ("1",))])
        with engine.begin() as db:
            db.execute(
                text("UPDATE credential_type_grants SET constraints_json = '[]' "
                     "WHERE credential_type = :t"), {"t": CERT},
            )  # fmt: skip
        assert [(f.table, f.key) for f in registry.verify_audit().findings] == [
            ("credential_type_grants", f"{AGENCY} {CERT}")
        ]
    finally:
        engine.dispose()


def test_the_api_and_the_cli_report_the_findings(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    with honest_registry(url) as honest:
        registry = honest.registry
        viewer = registry.create_token("init", "viewer", Role.VIEWER)
        with registry.engine.begin() as db:
            db.execute(
                text("INSERT INTO admin_tokens (name, person, role, token_sha256, created_at) "
                     "VALUES ('mallory', 'mallory', 'approver', :h, 0)"), {"h": "ab" * 32},
            )  # fmt: skip
        app = create_app(registry, signer=honest.key.key)
        with serve(app) as base, httpx.Client(base_url=base, trust_env=False) as http:
            answer = http.get(
                "/admin/audit/verify", headers={"Authorization": f"Bearer {viewer}"}
            ).json()
        assert (answer["ok"], answer["code"], answer["first_broken"]) == (
            False, "audit_state_mismatch", None,
        )  # fmt: skip
        assert answer["findings"] == [
            {
                "code": "audit_state_mismatch",
                "table": "admin_tokens",
                "key": "mallory",
                "message": "row not explained by any audit event",
            }
        ]


def test_cli_audit_verify_exits_non_zero_and_names_the_table(tmp_path: Path) -> None:
    env = {**os.environ, "ANCRE_KEYSTORE_PASSPHRASE": "registry passphrase"}
    env.pop("ANCRE_REGISTRY_TOKEN", None)
    folder = tmp_path / "reg"

    def ancre(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ancre.cli.main", "registry", *args, "--dir", str(folder)],
            capture_output=True, text=True, env=env, check=False, timeout=60,
        )  # fmt: skip

    init = ancre("init", "--did", "did:web:registry.example", "--admin", "alice")
    assert init.returncode == 0, init.stderr
    clean = ancre("audit", "verify")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "the tables match the events" in clean.stdout
    import sqlite3

    with sqlite3.connect(folder / "registry.db") as db:
        db.execute(
            "INSERT INTO admin_tokens (name, person, role, token_sha256, created_at) "
            "VALUES ('mallory', 'mallory', 'approver', ?, 0)",
            ("ab" * 32,),
        )
    text_out = ancre("audit", "verify")
    assert text_out.returncode == 1
    assert "admin_tokens mallory: row not explained by any audit event" in text_out.stdout
    json_out = ancre("audit", "verify", "--json")
    assert json_out.returncode == 1
    report = json.loads(json_out.stdout)
    assert (report["ok"], report["code"]) == (False, "audit_state_mismatch")
    assert [(f["table"], f["key"]) for f in report["findings"]] == [("admin_tokens", "mallory")]


def test_a_registry_with_a_list_past_256_kib_verifies(tmp_path: Path) -> None:
    # Found measuring 10,000 events: the stored lists were parsed with the JWS token limit
    # (256 KiB), so a registry past ~180 issuers failed its own audit.
    clock = FixedClock(T0)
    key = Issuer.new("ed25519")
    engine = make_engine(f"sqlite:///{tmp_path / 'registry.db'}")
    migrate(engine)
    registry = Registry(engine, clock=clock)
    try:
        registry.configure(
            registry_did=key.did, kid=key.kid, operator_name="o", scheme_name="s",
            two_person_rule=False,
        )  # fmt: skip
        registry.add_anchor("init", anchor_id=ANCHOR, name="Association")
        specs = [IssuerSpec(f"did:web:i{i}.example", f"I{i}", ANCHOR, {LP: []}) for i in range(400)]
        registry.add_issuers("init", specs)
        assert len(registry.publish(key.key).jws) > 256 * 1024
        report = registry.verify_audit(key=key.key.public_key)
        assert report.ok, report
        assert report.signed_events == report.events
    finally:
        engine.dispose()


def test_hostile_rows_are_findings_not_crashes(tmp_path: Path) -> None:
    # A database writer chooses every byte of a row: control characters in a key, JSON
    # nested past Python's stack, thousands of rows. Findings, escaped and bounded.
    with honest_registry(f"sqlite:///{tmp_path / 'registry.db'}") as honest:
        registry = honest.registry
        with registry.engine.begin() as db:
            db.execute(
                text("INSERT INTO admin_tokens (name, person, role, token_sha256, created_at) "
                     "VALUES (:n, 'm', 'approver', :h, 0)"),
                {"n": "evil\x1b[2J\nname", "h": "ef" * 32},
            )  # fmt: skip
            db.execute(
                text("UPDATE credential_type_grants SET constraints_json = :c "
                     "WHERE issuer_did = :d AND credential_type = :t"),
                {"c": "[" * 100_000 + "]" * 100_000, "d": AGENCY, "t": LP},
            )  # fmt: skip
            for i in range(150):
                db.execute(
                    text("INSERT INTO trust_anchors (id, name, created_at) VALUES (:i, 'x', 0)"),
                    {"i": f"did:web:forged{i}.example"},
                )
        report = registry.verify_audit()
        keys = {(f.table, f.key) for f in report.findings}
        assert ("admin_tokens", "evil\\x1b[2J\\x0aname") in keys
        assert ("credential_type_grants", f"{AGENCY} {LP}") in keys
        assert len(report.findings) == 152
        assert all(not any(ord(c) < 32 for c in f.key + f.message) for f in report.findings)
        shown = report.to_json()
        assert (len(shown["findings"]), shown["findings_total"]) == (100, 152)


def test_an_anchor_forged_with_its_event_in_the_unsigned_tail_lacks_its_approval(
    database_url: str,
) -> None:
    # A writer who also appends a matching, well-chained event after the last checkpoint
    # explains the row; but under the two-person rule an anchor takes effect only inside an
    # approval, and no `approve:add_anchor` follows the forged event.
    rogue = "did:web:rogue.example"
    with honest_registry(database_url) as honest:
        registry = honest.registry
        assert registry.two_person_rule
        seq = registry.verify_audit().events + 1
        micros = int(T0.timestamp()) * 1_000_000
        details = {"effective_from": T0.isoformat(), "name": "Rogue", "x509_sha256": None}
        with registry.engine.begin() as db:
            db.execute(
                text("INSERT INTO trust_anchors (id, name, created_at) VALUES (:a, 'Rogue', 0)"),
                {"a": rogue},
            )
            db.execute(
                text("INSERT INTO status_history (subject_kind, subject_id, status, "
                     "effective_from, reason, actor, recorded_at) "
                     "VALUES ('anchor', :a, 'active', :t, 'added', 'mallory', 0)"),
                {"a": rogue, "t": micros},
            )  # fmt: skip
            db.execute(
                text("INSERT INTO audit_log (seq, at, actor, action, subject, details_json, "
                     "prev_hash, hash) VALUES (:s, :t, 'mallory', 'add_anchor', :a, :d, '', '')"),
                {"s": seq, "t": micros, "a": rogue, "d": json.dumps(details)},
            )  # fmt: skip
        _as_an_older_release_wrote_them(registry, "none", set())  # only re-chains
        report = registry.verify_audit(key=honest.key.key.public_key)
        assert report.signed_events == seq - 1  # the forged event is in the unsigned tail
        assert [(f.table, f.key, f.message) for f in report.findings] == [
            (
                "audit_log",
                str(seq),
                "add_anchor took effect under the two-person rule with no approval after it",
            )
        ]
