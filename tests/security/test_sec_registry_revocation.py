"""Issue 12 point 2: there was no way back: no token revocation, no anchor withdrawal or
suspension, `withdraw_type` unreachable. All three now exist in the API (and the CLI, see
test_sec_registry_cli.py), audited; anchor status changes are two-person."""

from __future__ import annotations

from datetime import timedelta

import httpx
from _sec_registry import AGENCY, ANCHOR, LP, auth, registry_for, served, with_anchor_and_agency

from ancre.trust.errors import Code
from ancre.trust.trust_list.index import TrustList
from ancre.trust.trust_list.model import ANCHOR_SERVICE, EntryStatus, TrustListDocument


def test_a_revoked_token_is_refused_at_once(database_url: str) -> None:
    with (
        registry_for(database_url) as setup,
        served(setup) as base,
        httpx.Client(base_url=base, trust_env=False) as http,
    ):
        ed = auth(setup.tokens["ed"])
        assert http.get("/admin/anchors", headers=ed).status_code == 200
        revoked = http.delete("/admin/tokens/ed", headers=auth(setup.tokens["alice"]))
        assert revoked.status_code == 200
        after = http.get("/admin/anchors", headers=ed)
        assert (after.status_code, after.json()["code"]) == (401, "unauthorized")
        again = http.delete("/admin/tokens/ed", headers=auth(setup.tokens["alice"]))
        assert (again.status_code, again.json()["code"]) == (409, Code.ALREADY_IN_STATE.value)
        unknown = http.delete("/admin/tokens/nobody", headers=auth(setup.tokens["alice"]))
        assert (unknown.status_code, unknown.json()["code"]) == (404, Code.NOT_FOUND.value)
        # Only approvers revoke.
        too_low = http.delete("/admin/tokens/vi", headers=auth(setup.tokens["vi"]))
        assert (too_low.status_code, too_low.json()["code"]) == (403, Code.FORBIDDEN.value)
        listed = {t["name"]: t["revoked"] for t in http.get(
            "/admin/tokens", headers=auth(setup.tokens["bob"])).json()}  # fmt: skip
        assert listed["ed"] is True
        assert listed["vi"] is False
    events = [(e.actor, e.action, e.subject) for e in setup.registry.audit_events()]
    assert ("alice", "revoke_token", "ed") in events


def test_anchor_withdrawal_is_two_person_and_reaches_the_list(database_url: str) -> None:
    with (
        registry_for(database_url) as setup,
        served(setup) as base,
        httpx.Client(base_url=base, trust_env=False) as http,
    ):
        with_anchor_and_agency(setup)
        setup.clock.advance(timedelta(minutes=1))
        filed = http.post(
            f"/admin/anchors/{ANCHOR}/status",
            json={"status": "withdrawn", "reason": "accreditation lost"},
            headers=auth(setup.tokens["ed"]),
        )
        assert filed.status_code == 202
        assert filed.json()["applied"] is False
        change = filed.json()["pending_change"]
        # Nothing changes before a second person approves.
        assert setup.registry.status_at(AGENCY, LP, setup.clock.now()) is EntryStatus.ACTIVE
        own = http.post(f"/admin/changes/{change}/approve", headers=auth(setup.tokens["alice"]))
        assert own.status_code == 200  # alice is not ed: another person
        assert setup.registry.status_at(AGENCY, LP, setup.clock.now()) is EntryStatus.WITHDRAWN
        published = http.post("/admin/publish", headers=auth(setup.tokens["ed"]))
        assert published.status_code == 201
        listed = TrustList(TrustListDocument.from_json(http.get("/trust-list.json").json()))
        assert listed.status_at(AGENCY, LP, setup.clock.now()) is EntryStatus.WITHDRAWN
        assert listed.status_at(ANCHOR, ANCHOR_SERVICE, setup.clock.now()) is EntryStatus.WITHDRAWN
        suspended = http.post(
            "/admin/anchors/did:web:nowhere.example/status",
            json={"status": "suspended", "reason": "x"},
            headers=auth(setup.tokens["ed"]),
        )
        assert (suspended.status_code, suspended.json()["code"]) == (404, Code.NOT_FOUND.value)
    actions = [e.action for e in setup.registry.audit_events()]
    assert "request:anchor_status" in actions
    assert "anchor:withdrawn" in actions


def test_anchor_suspension_without_the_rule_applies_at_once(database_url: str) -> None:
    with registry_for(database_url, two_person_rule=False) as setup:
        with_anchor_and_agency(setup)
        setup.clock.advance(timedelta(minutes=1))
        change = setup.registry.set_anchor_status(
            "alice", ANCHOR, EntryStatus.SUSPENDED, reason="audit"
        )
        assert change is None
        assert setup.registry.status_at(AGENCY, LP, setup.clock.now()) is EntryStatus.SUSPENDED


def test_withdraw_type_is_reachable_from_the_api(database_url: str) -> None:
    with (
        registry_for(database_url) as setup,
        served(setup) as base,
        httpx.Client(base_url=base, trust_env=False) as http,
    ):
        with_anchor_and_agency(setup)
        setup.clock.advance(timedelta(minutes=1))
        withdrawn = http.post(
            f"/admin/issuers/{AGENCY}/types/withdraw",
            json={"credential_type": LP, "reason": "scope reduced"},
            headers=auth(setup.tokens["ed"]),
        )
        assert withdrawn.status_code == 200
        assert withdrawn.json()["types"][LP]["status"][-1]["status"] == "withdrawn"
        assert setup.registry.status_at(AGENCY, LP, setup.clock.now()) is EntryStatus.WITHDRAWN
        twice = http.post(
            f"/admin/issuers/{AGENCY}/types/withdraw",
            json={"credential_type": LP, "reason": "again"},
            headers=auth(setup.tokens["ed"]),
        )
        assert (twice.status_code, twice.json()["code"]) == (409, Code.ALREADY_IN_STATE.value)
        none = http.post(
            f"/admin/issuers/{AGENCY}/types/withdraw",
            json={"credential_type": "gx:VatID", "reason": "x"},
            headers=auth(setup.tokens["ed"]),
        )
        assert (none.status_code, none.json()["code"]) == (404, Code.NOT_FOUND.value)
    assert ("ed", "withdraw_type", AGENCY) in [
        (e.actor, e.action, e.subject) for e in setup.registry.audit_events()
    ]
