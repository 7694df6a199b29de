"""Issue 12 point 1: one person could satisfy the two-person rule by minting themself a
second approver token, and on the CLI `--as` was free text. Tokens now belong to persons,
minting an admin token is itself a two-person change, and the CLI binds approvals to the
person's own token."""

from __future__ import annotations

import httpx
import pytest
from _sec_registry import ANCHOR, auth, registry_for, served

from ancre.registry.service import RegistryError, Role
from ancre.trust.errors import Code


def test_a_second_token_does_not_make_a_second_person(database_url: str) -> None:
    with (
        registry_for(database_url) as setup,
        served(setup) as base,
        httpx.Client(base_url=base, trust_env=False) as http,
    ):
        alice = auth(setup.tokens["alice"])
        # The attack: alice mints an approver token for herself under another name.
        minted = http.post(
            "/admin/tokens", json={"name": "alice2", "role": "approver"}, headers=alice
        )
        assert minted.status_code == 202  # was 201: usable at once
        body = minted.json()
        change, alice2 = body["pending_change"], body["token"]
        assert isinstance(change, int)
        # Not usable before a second person approves it...
        denied = http.get("/admin/anchors", headers=auth(alice2))
        assert (denied.status_code, denied.json()["code"]) == (401, "unauthorized")
        # ... and alice cannot approve her own minting.
        own = http.post(f"/admin/changes/{change}/approve", headers=alice)
        assert (own.status_code, own.json()["code"]) == (403, Code.SAME_PERSON.value)
        # She files a rogue anchor and tries every token she holds: none is another person.
        filed = http.post(
            "/admin/anchors", json={"id": "did:web:rogue.example", "name": "Rogue"}, headers=alice
        )
        assert filed.status_code == 202
        rogue = filed.json()["pending_change"]
        for token in (setup.tokens["alice"], alice2):
            refused = http.post(f"/admin/changes/{rogue}/approve", headers=auth(token))
            assert refused.status_code in (401, 403)
            assert refused.json()["code"] in (Code.SAME_PERSON.value, "unauthorized")
        assert [a.id for a in setup.registry.anchors()] == []


def test_the_holder_not_the_token_name_is_the_person(database_url: str) -> None:
    with (
        registry_for(database_url) as setup,
        served(setup) as base,
        httpx.Client(base_url=base, trust_env=False) as http,
    ):
        # Bob approves a second token *for alice* (person "Ａｌｉｃｅ": NFKC + casefold).
        minted = http.post(
            "/admin/tokens",
            json={"name": "alice-laptop", "role": "approver", "person": "Ａｌｉｃｅ"},
            headers=auth(setup.tokens["alice"]),
        )
        assert minted.status_code == 202
        approved = http.post(
            f"/admin/changes/{minted.json()['pending_change']}/approve",
            headers=auth(setup.tokens["bob"]),
        )
        assert approved.status_code == 200
        laptop = minted.json()["token"]
        filed = http.post(
            "/admin/anchors", json={"id": ANCHOR, "name": "Association"},
            headers=auth(setup.tokens["alice"]),
        )  # fmt: skip
        change = filed.json()["pending_change"]
        own = http.post(f"/admin/changes/{change}/approve", headers=auth(laptop))
        assert (own.status_code, own.json()["code"]) == (403, Code.SAME_PERSON.value)
        assert setup.registry.anchors() == []
        ok = http.post(f"/admin/changes/{change}/approve", headers=auth(setup.tokens["bob"]))
        assert ok.status_code == 200
        assert [a.id for a in setup.registry.anchors()] == [ANCHOR]
        # An approval through the API is signed into the log at once.
        report = setup.registry.verify_audit(key=setup.key.key.public_key)
        assert report.ok
        assert report.signed_events == report.events


def test_the_library_compares_normalised_persons(database_url: str) -> None:
    with registry_for(database_url) as setup:
        change = setup.registry.add_anchor("Alice", anchor_id=ANCHOR, name="Association")
        assert change is not None
        for same in ("alice", "ALICE", " alice ", "Ａｌｉｃｅ"):
            with pytest.raises(RegistryError) as refused:
                setup.registry.approve(same, change.id)
            assert refused.value.code is Code.SAME_PERSON
        setup.registry.approve("bob", change.id)


def test_viewer_tokens_need_no_second_person(database_url: str) -> None:
    with registry_for(database_url) as setup:
        token, change = setup.registry.mint_token("alice", "dash", Role.VIEWER)
        assert change is None
        assert setup.registry.authenticate(token) == ("dash", Role.VIEWER)
